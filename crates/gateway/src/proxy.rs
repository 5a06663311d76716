//! The reverse proxy: forwards requests to an upstream base URL, behind the Paywall layer.
//! Bodies stream both ways; a request body is cut off (413) past `max_body`, whatever its
//! transfer encoding, and a paid call's answer is buffered (and capped) by the gate alone.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use tokio::net::TcpListener;
use tower::{Layer, Service};

use crate::config::UpstreamTimeouts;
use crate::gate::{Gateway, json_error};
use crate::layer::PaywallLayer;

/// Headers that describe one hop and are never forwarded, in either direction.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A route's own bound on the upstream exchange, set on the request by the gate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteTimeout(pub(crate) Duration);

/// Forwards each request to `base` + path and query, with request bodies capped at `max_body`.
#[derive(Clone)]
pub struct Upstream {
    base: Arc<str>,
    http: reqwest::Client,
    max_body: usize,
}

impl Upstream {
    /// A forwarder to `base` (e.g. `http://127.0.0.1:9000`) that gives up (504) past `limits`.
    pub fn new(
        base: &str,
        max_body: usize,
        limits: &UpstreamTimeouts,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(limits.connect_ms))
            .timeout(Duration::from_secs(limits.total_seconds))
            .pool_max_idle_per_host(256)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').into(),
            http,
            max_body,
        })
    }

    async fn forward(self, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body as u64) {
            return json_error(StatusCode::PAYLOAD_TOO_LARGE, "request_body_too_large");
        }
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let mut rb = self
            .http
            .request(parts.method, format!("{}{path}", self.base))
            .headers(strip(&parts.headers));
        if let Some(RouteTimeout(t)) = parts.extensions.get::<RouteTimeout>() {
            rb = rb.timeout(*t);
        }
        let over = Arc::new(AtomicBool::new(false));
        if body.size_hint().exact() != Some(0) {
            let capped = capped(body, self.max_body, over.clone());
            rb = rb.body(reqwest::Body::wrap_stream(capped));
        }
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(_) if over.load(Ordering::Acquire) => {
                return json_error(StatusCode::PAYLOAD_TOO_LARGE, "request_body_too_large");
            }
            Err(e) if e.is_timeout() => {
                tracing::warn!(error = %e.without_url(), "upstream timed out");
                return json_error(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout");
            }
            Err(e) => {
                tracing::warn!(error = %e.without_url(), "upstream unreachable");
                return json_error(StatusCode::BAD_GATEWAY, "upstream_unreachable");
            }
        };
        let status = resp.status();
        let headers = strip(resp.headers());
        let mut out = Response::new(Body::from_stream(resp.bytes_stream()));
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        out
    }
}

/// The body as a stream that fails (and raises `over`) once more than `max` bytes went by.
fn capped(
    body: Body,
    max: usize,
    over: Arc<AtomicBool>,
) -> impl Stream<Item = Result<Bytes, BoxError>> + Send + 'static {
    let mut seen = 0usize;
    body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(BoxError::from)?;
        seen = seen.saturating_add(chunk.len());
        if seen > max {
            over.store(true, Ordering::Release);
            return Err(BoxError::from("request body over max_body_bytes"));
        }
        Ok(chunk)
    })
}

/// The end-to-end headers of `h`: hop-by-hop ones and those named in `Connection` dropped.
fn strip(h: &HeaderMap) -> HeaderMap {
    let named = crate::headers::connection_named(h);
    let mut out = HeaderMap::with_capacity(h.len());
    for (k, v) in h {
        let name = k.as_str();
        if !HOP_BY_HOP.contains(&name) && !named.iter().any(|n| n == name) {
            out.append(HeaderName::clone(k), v.clone());
        }
    }
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

/// The admin app: `GET /metrics` (Prometheus text), for a listener of its own.
pub fn admin_app(gw: Arc<Gateway>) -> Router {
    Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let gw = gw.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    gw.metrics().render(),
                )
            }
        }),
    )
}

/// Serves the proxy on `listener` until the future is dropped.
pub async fn serve_proxy(
    gw: Arc<Gateway>,
    upstream: Upstream,
    listener: TcpListener,
) -> std::io::Result<()> {
    axum::serve(listener, proxy_app(gw, upstream)).await
}

/// Serves the proxy until `stop` completes, then stops taking connections, lets the calls under
/// way finish (at most `drain` for the connections, and as long again for paid calls whose
/// callers hung up, so no settlement is cut off), and gives the receipt calls this instance
/// holds back to the store, so no paid call waits for a hold to expire.
pub async fn serve_proxy_until(
    gw: Arc<Gateway>,
    upstream: Upstream,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    drain: std::time::Duration,
) -> std::io::Result<()> {
    let (stopping_tx, stopping) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        stop.await;
        let _ = stopping_tx.send(());
    };
    let serve =
        axum::serve(listener, proxy_app(gw.clone(), upstream)).with_graceful_shutdown(signal);
    let mut serve = std::pin::pin!(std::future::IntoFuture::into_future(serve));
    tokio::select! {
        r = &mut serve => r?,
        _ = stopping => {
            if tokio::time::timeout(drain, &mut serve).await.is_err() {
                tracing::warn!(seconds = drain.as_secs(), "calls still under way after the drain bound; stopping anyway");
            }
        }
    }
    // Paid calls whose callers hung up are not connections any more, and still settle.
    if !gw.finish_paid_calls(drain).await {
        tracing::warn!(
            seconds = drain.as_secs(),
            "paid calls still settling after the drain bound; stopping anyway"
        );
    }
    if let Some(meter) = gw.meter() {
        match meter.release().await {
            Ok(calls) => tracing::info!(calls, "receipt calls held here given back"),
            Err(e) => {
                tracing::warn!(error = %e, "receipt holds not given back; they return when they expire")
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn strips_hop_by_hop_and_connection_named_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("close, X-Secret-Hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        h.insert("content-length", HeaderValue::from_static("3"));
        let out = strip(&h);
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(out.contains_key("x-kept") && out.contains_key("content-length"));
    }
}
