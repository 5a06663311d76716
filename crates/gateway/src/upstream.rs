//! The upstream a reverse proxy forwards to: one pooled keep-alive HTTP/1.1 client (hyper's, with
//! rustls and the webpki roots for an https upstream), bodies streamed both ways. Each request is rewritten once, in place: its URI gets the
//! upstream's authority, and hop-by-hop headers are dropped from the map it came with. A request
//! body is cut off (413) past `max_body`, whatever its transfer encoding; the whole exchange,
//! answer body included, is bounded by the upstream timeout (504 before the answer starts).

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::uri::{Authority, PathAndQuery, Scheme};
use axum::http::{HeaderMap, StatusCode, Uri, Version, header};
use axum::response::Response;
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body::Frame;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::{Instant, Sleep};
use tower::Service;

use crate::config::UpstreamTimeouts;
use crate::replies::json_error;

/// Headers that describe one hop and are never forwarded, in either direction.
const HOP_BY_HOP: [header::HeaderName; 10] = [
    header::CONNECTION,
    header::HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    // Names this hop's target: the client sets the upstream's own.
    header::HOST,
];

/// Idle keep-alive connections kept per upstream: enough for every connection a busy proxy
/// has open at once, so a burst never pays for new TCP handshakes.
const IDLE_PER_HOST: usize = 256;

type BoxError = Box<dyn StdError + Send + Sync>;

/// A route's own bound on the upstream exchange, set on the request by the gate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteTimeout(pub(crate) Duration);

/// Why an upstream base URL cannot be used; never echoes the URL, which may carry a key.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream must be an http:// or https:// URL with a host and no query")]
    NotHttp,
    #[error(
        "the upstream URL carries credentials, which the proxy would not send: let the upstream \
         trust the gateway's network instead"
    )]
    Credentials,
    #[error("TLS to the upstream cannot be set up: {0}")]
    Tls(String),
}

/// Forwards each request to the upstream base URL + path and query.
#[derive(Clone)]
pub struct Upstream {
    scheme: Scheme,
    authority: Authority,
    /// The base URL's path, without its trailing `/` (empty for most upstreams).
    prefix: std::sync::Arc<str>,
    http: Client<HttpsConnector<HttpConnector>, Body>,
    max_body: usize,
    total: Duration,
}

impl Upstream {
    /// A forwarder to `base` (e.g. `http://127.0.0.1:9000`) that gives up (504) past `limits`.
    pub fn new(
        base: &str,
        max_body: usize,
        limits: &UpstreamTimeouts,
    ) -> Result<Self, UpstreamError> {
        let uri: Uri = base.parse().map_err(|_| UpstreamError::NotHttp)?;
        let scheme = uri.scheme().cloned().ok_or(UpstreamError::NotHttp)?;
        if ![Scheme::HTTP, Scheme::HTTPS].contains(&scheme) || uri.query().is_some() {
            return Err(UpstreamError::NotHttp);
        }
        let authority = uri.authority().cloned().ok_or(UpstreamError::NotHttp)?;
        if authority.as_str().contains('@') {
            return Err(UpstreamError::Credentials);
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_millis(limits.connect_ms)));
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let tls = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls_provider())
            .map_err(|e| UpstreamError::Tls(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(IDLE_PER_HOST)
            .build(tls);
        Ok(Self {
            scheme,
            authority,
            prefix: uri.path().trim_end_matches('/').into(),
            http,
            max_body,
            total: Duration::from_secs(limits.total_seconds),
        })
    }

    async fn forward(self, req: Request) -> Response {
        let (mut parts, body) = req.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body as u64) {
            return json_error(StatusCode::PAYLOAD_TOO_LARGE, "request_body_too_large");
        }
        let Some(uri) = self.target(parts.uri.path_and_query()) else {
            return json_error(StatusCode::BAD_REQUEST, "request_target_invalid");
        };
        let total = match parts.extensions.get::<RouteTimeout>() {
            Some(RouteTimeout(t)) => *t,
            None => self.total,
        };
        let deadline = Instant::now() + total;
        parts.uri = uri;
        parts.version = Version::HTTP_11;
        strip(&mut parts.headers);
        let body = if body.size_hint().exact() == Some(0) {
            Body::empty()
        } else {
            Body::new(Capped {
                inner: body,
                left: self.max_body,
            })
        };
        let sent = self.http.request(Request::from_parts(parts, body));
        let resp = match tokio::time::timeout_at(deadline, sent).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return refused(&e),
            Err(_) => {
                tracing::warn!("upstream timed out");
                return json_error(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout");
            }
        };
        let (mut parts, body) = resp.into_parts();
        strip(&mut parts.headers);
        let body = Body::new(Deadline {
            inner: body,
            sleep: tokio::time::sleep_until(deadline),
        });
        Response::from_parts(parts, body)
    }

    /// The upstream URI of a request's path and query: rewritten once, from the parts the
    /// request already holds (no string is parsed when the base has no path).
    fn target(&self, pq: Option<&PathAndQuery>) -> Option<Uri> {
        let root = PathAndQuery::from_static("/");
        let pq = pq.unwrap_or(&root);
        let pq = if self.prefix.is_empty() {
            pq.clone()
        } else {
            format!("{}{}", self.prefix, pq.as_str()).parse().ok()?
        };
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
            .ok()
    }
}

/// The answer to a request the upstream did not take: 413 when the body ran over the cap,
/// 504 when connecting timed out, else 502.
fn refused(e: &hyper_util::client::legacy::Error) -> Response {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<OverCap>() {
            return json_error(StatusCode::PAYLOAD_TOO_LARGE, "request_body_too_large");
        }
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            tracing::warn!("upstream connect timed out");
            return json_error(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout");
        }
        cause = c.source();
    }
    // The chain names no URL: only the operator's log sees it.
    tracing::warn!(error = %chain(e), "upstream unreachable");
    json_error(StatusCode::BAD_GATEWAY, "upstream_unreachable")
}

/// An error and its causes, for a log line: hyper's own text names only the failing step.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// The TLS library's crypto, named rather than left to a process-wide default (the build holds
/// more than one).
fn rustls_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// Drops the hop-by-hop headers of `h` and those its `Connection` header names, in place.
fn strip(h: &mut HeaderMap) {
    if h.contains_key(header::CONNECTION) {
        for name in crate::headers::connection_named(h) {
            h.remove(name.as_str());
        }
    }
    for name in &HOP_BY_HOP {
        h.remove(name);
    }
}

/// A request body past the proxy's cap.
#[derive(Debug, thiserror::Error)]
#[error("request body over max_body_bytes")]
struct OverCap;

/// A request body that fails with [`OverCap`] once more than its cap went by.
struct Capped {
    inner: Body,
    left: usize,
}

impl HttpBody for Capped {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        let Some(frame) = frame.transpose().map_err(BoxError::from)? else {
            return Poll::Ready(None);
        };
        if let Some(data) = frame.data_ref() {
            match self.left.checked_sub(data.len()) {
                Some(left) => self.left = left,
                None => return Poll::Ready(Some(Err(OverCap.into()))),
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

pin_project_lite::pin_project! {
    /// An answer body that fails once the exchange's deadline passes: an upstream that sends
    /// its headers and then stalls holds the connection no longer than one that never answers.
    struct Deadline<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: Sleep,
    }
}

impl<B> HttpBody for Deadline<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        // The clock first: an upstream that always has a chunk ready must not outrun it.
        if this.sleep.poll(cx).is_ready() {
            tracing::warn!("upstream answer timed out partway");
            return Poll::Ready(Some(Err("upstream answer timed out".into())));
        }
        this.inner
            .poll_frame(cx)
            .map(|frame| frame.map(|f| f.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
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
        strip(&mut h);
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(h.contains_key("x-kept") && h.contains_key("content-length"));
    }

    fn upstream(base: &str) -> Result<Upstream, UpstreamError> {
        Upstream::new(base, 1024, &UpstreamTimeouts::default())
    }

    #[tokio::test]
    async fn the_target_keeps_the_path_and_query_under_the_base() {
        let pq = PathAndQuery::from_static("/v2/x?a=1");
        let bare = upstream("http://127.0.0.1:9000").expect("bare");
        let t = bare.target(Some(&pq)).expect("target");
        assert_eq!(t.to_string(), "http://127.0.0.1:9000/v2/x?a=1");
        let under = upstream("http://127.0.0.1:9000/api/").expect("with a path");
        let t = under.target(Some(&pq)).expect("target");
        assert_eq!(t.to_string(), "http://127.0.0.1:9000/api/v2/x?a=1");
    }

    /// A body that always has a chunk ready: an upstream faster than its reader.
    struct Endless;

    impl HttpBody for Endless {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_holds_while_the_upstream_keeps_sending() {
        use http_body_util::BodyExt;
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut body = Box::pin(Deadline {
            inner: Endless,
            sleep: tokio::time::sleep_until(deadline),
        });
        assert!(body.frame().await.expect("a frame").is_ok());
        tokio::time::advance(Duration::from_secs(2)).await;
        let late = body.frame().await.expect("an answer");
        assert!(late.is_err(), "a frame was passed on past the deadline");
    }

    #[tokio::test]
    async fn an_http_or_https_base_without_credentials_is_taken() {
        for bad in ["ftp://x", "127.0.0.1:9000", "http://h/?key=1"] {
            let e = upstream(bad).err().expect(bad).to_string();
            assert!(!e.contains("key") && !e.contains("ftp://"), "{e}");
        }
        let e = upstream("https://user:sekrit@api.example")
            .err()
            .expect("credentials");
        assert!(matches!(e, UpstreamError::Credentials), "{e}");
        assert!(!e.to_string().contains("sekrit"));
        assert!(upstream("https://api.example/v1").is_ok(), "https is taken");
    }
}
