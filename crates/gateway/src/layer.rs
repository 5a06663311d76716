//! The tower Layer: put x402 in front of any axum app with `router.layer(PaywallLayer::new(gw))`.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use futures::future::BoxFuture;
use tower::{Layer, Service};

use crate::gate::Gateway;
use crate::handler::Next;

/// Wraps services so priced routes are challenged, paid or unlocked by receipts.
#[derive(Clone)]
pub struct PaywallLayer {
    gw: Arc<Gateway>,
}

impl PaywallLayer {
    /// A layer over one shared gateway.
    pub fn new(gw: Arc<Gateway>) -> Self {
        Self { gw }
    }
}

impl<S> Layer<S> for PaywallLayer {
    type Service = Paywall<S>;
    fn layer(&self, inner: S) -> Paywall<S> {
        Paywall {
            gw: self.gw.clone(),
            inner,
        }
    }
}

/// The service a [`PaywallLayer`] produces.
#[derive(Clone)]
pub struct Paywall<S> {
    gw: Arc<Gateway>,
    inner: S,
}

impl<S> Service<Request> for Paywall<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The ready service handles this request; a fresh clone waits for the next one.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let gw = self.gw.clone();
        Box::pin(async move {
            let next: Next = Box::new(move |req| {
                Box::pin(async move {
                    match ready.call(req).await {
                        Ok(r) => r,
                        Err(never) => match never {},
                    }
                })
            });
            Ok(gw.handle(req, next).await)
        })
    }
}
