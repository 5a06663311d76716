//! The reverse proxy: forwards requests to an upstream base URL, behind the Paywall layer.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::Response;
use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tower::{Layer, Service};

use crate::gate::{Gateway, buffer, json_error};
use crate::layer::PaywallLayer;

/// Headers that describe one hop and are never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "host",
];

/// Forwards each request to `base` + path and query, with bodies capped at `max_body`.
#[derive(Clone)]
pub struct Upstream {
    base: Arc<str>,
    http: reqwest::Client,
    max_body: usize,
}

impl Upstream {
    /// A forwarder to `base` (e.g. `http://127.0.0.1:9000`).
    pub fn new(base: &str, max_body: usize) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').into(),
            http,
            max_body,
        })
    }

    async fn forward(self, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let Some(bytes) = buffer(body, self.max_body).await else {
            return json_error(StatusCode::PAYLOAD_TOO_LARGE, "request_body_too_large");
        };
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let resp = self
            .http
            .request(parts.method, format!("{}{path}", self.base))
            .headers(strip(&parts.headers))
            .body(bytes)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "upstream unreachable");
                return json_error(StatusCode::BAD_GATEWAY, "upstream_unreachable");
            }
        };
        let status = resp.status();
        let headers = strip(resp.headers());
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_body as u64)
        {
            return json_error(StatusCode::BAD_GATEWAY, "upstream_response_too_large");
        }
        let Ok(body) = resp.bytes().await else {
            return json_error(StatusCode::BAD_GATEWAY, "upstream_body_failed");
        };
        let mut out = Response::new(Body::from(body));
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        out
    }
}

fn strip(h: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(h.len());
    for (k, v) in h {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            out.append(HeaderName::clone(k), v.clone());
        }
    }
    out.remove(header::CONNECTION);
    out
}

impl Service<Request> for Upstream {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.forward(req).await) })
    }
}

/// The proxy app: every request goes through the gateway to the upstream.
pub fn proxy_app(gw: Arc<Gateway>, upstream: Upstream) -> Router {
    Router::new().fallback_service(PaywallLayer::new(gw).layer(upstream))
}

/// Serves the proxy on `listener` until the future is dropped.
pub async fn serve_proxy(
    gw: Arc<Gateway>,
    upstream: Upstream,
    listener: TcpListener,
) -> std::io::Result<()> {
    axum::serve(listener, proxy_app(gw, upstream)).await
}
