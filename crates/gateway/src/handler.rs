//! The protected handler as the gateway sees it, whatever serves it (an axum app's inner service
//! or the reverse proxy's upstream).

use axum::extract::Request;
use axum::response::Response;
use futures::future::BoxFuture;

/// The wrapped handler: called at most once per request.
pub type Next = Box<dyn FnOnce(Request) -> BoxFuture<'static, Response> + Send>;
