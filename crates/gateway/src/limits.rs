//! Caps that protect the upstream: requests it may have under way at once (all routes, and per
//! route), each over-cap request waiting briefly for a slot before a 503 `upstream_busy`; and
//! caps on a request's header count and size (431).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::GatewayConfig;
use crate::handler::Next;
use crate::replies::json_error;

/// The slots of this gateway; route slots by the route's place in the configuration.
pub(crate) struct Slots {
    total: Option<Arc<Semaphore>>,
    routes: Vec<Option<Arc<Semaphore>>>,
    queue: Duration,
    max_header_bytes: usize,
    max_headers: usize,
}

impl Slots {
    pub(crate) fn new(cfg: &GatewayConfig) -> Self {
        let sem = |n: usize| Arc::new(Semaphore::new(n));
        Self {
            total: cfg.limits.max_concurrent.map(sem),
            routes: cfg
                .routes
                .iter()
                .map(|r| r.max_concurrent.map(sem))
                .collect(),
            queue: Duration::from_millis(cfg.limits.queue_ms),
            max_header_bytes: cfg.limits.max_header_bytes,
            max_headers: cfg.limits.max_headers,
        }
    }

    /// 431 for a request whose headers are over the caps.
    pub(crate) fn oversized(&self, h: &HeaderMap) -> Option<Response> {
        let bytes: usize = h.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
        (h.len() > self.max_headers || bytes > self.max_header_bytes).then(|| {
            json_error(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request_headers_too_large",
            )
        })
    }

    /// `next`, run only once a slot of route `route` and one of all routes are free (waiting
    /// `queue` at most for both); the slots are held until the answer's body has gone out.
    pub(crate) fn guard(&self, route: Option<usize>, next: Next) -> Next {
        let own = route.and_then(|i| self.routes.get(i).cloned().flatten());
        if self.total.is_none() && own.is_none() {
            return next;
        }
        let (total, queue) = (self.total.clone(), self.queue);
        Box::new(move |req| {
            Box::pin(async move {
                // The route's own slot first: a burst on one route does not sit on slots the
                // others could use.
                let deadline = tokio::time::Instant::now() + queue;
                let Some(own) = slot(own, deadline).await else {
                    return busy();
                };
                let Some(total) = slot(total, deadline).await else {
                    return busy();
                };
                let (parts, body) = next(req).await.into_parts();
                let held = (own, total);
                let body = Body::from_stream(body.into_data_stream().map(move |chunk| {
                    let _ = &held;
                    chunk
                }));
                Response::from_parts(parts, body)
            })
        })
    }
}

/// A permit of `sem` by `deadline`; `Some(None)` when there is no cap, `None` when none came.
async fn slot(
    sem: Option<Arc<Semaphore>>,
    deadline: tokio::time::Instant,
) -> Option<Option<OwnedSemaphorePermit>> {
    let Some(sem) = sem else {
        return Some(None);
    };
    match tokio::time::timeout_at(deadline, sem.acquire_owned()).await {
        Ok(Ok(permit)) => Some(Some(permit)),
        _ => None,
    }
}

/// Marks an answer given without running the upstream, so a paid or receipt call refused for
/// want of a slot is counted as a refusal, not as a handler run.
#[derive(Clone, Copy)]
struct NotRun;

/// Why an answer marked [`NotRun`] was given.
pub(crate) const BUSY: &str = "upstream_busy";

/// Whether `resp` is a refusal for want of a slot, given without running the upstream.
pub(crate) fn not_run(resp: &Response) -> bool {
    resp.extensions().get::<NotRun>().is_some()
}

/// 503 for a request the upstream has no slot for; it may try again at once.
fn busy() -> Response {
    let mut r = json_error(StatusCode::SERVICE_UNAVAILABLE, BUSY);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r.extensions_mut().insert(NotRun);
    r
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::extract::Request;

    use super::*;

    /// Route 0 (`a`) may have one call under way; route 1 (`b`) has no cap of its own.
    fn slots(extra: &str) -> Slots {
        let route = |name: &str, cap: &str| {
            format!("[[routes]]\nname = \"{name}\"\npath = \"/{name}\"\nprice = \"0.01\"\n{cap}\n")
        };
        let cfg = GatewayConfig::parse(&format!(
            "pay_to = {{}}\nassets = []\n{}{}{extra}",
            route("a", "max_concurrent = 1"),
            route("b", ""),
        ))
        .expect("config");
        Slots::new(&cfg)
    }

    fn req() -> Request {
        Request::new(Body::empty())
    }

    /// A handler that counts its runs.
    fn counted(runs: &Arc<AtomicUsize>) -> Next {
        let runs = runs.clone();
        Box::new(move |_| {
            Box::pin(async move {
                runs.fetch_add(1, Ordering::AcqRel);
                Response::new(Body::empty())
            })
        })
    }

    /// A handler that says it started, then answers when released; the answer's body holds the
    /// slot until it is dropped.
    fn held() -> (
        Next,
        tokio::sync::oneshot::Receiver<()>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let (release, hold) = tokio::sync::oneshot::channel::<()>();
        let next: Next = Box::new(move |_| {
            Box::pin(async move {
                let _ = started.send(());
                let _ = hold.await;
                Response::new(Body::empty())
            })
        });
        (next, running, release)
    }

    #[test]
    fn headers_over_the_caps_are_refused() {
        let s = slots("[limits]\nmax_headers = 8\nmax_header_bytes = 1024");
        let mut h = HeaderMap::new();
        h.insert("a", HeaderValue::from_static("1"));
        assert!(s.oversized(&h).is_none());
        h.insert("b", HeaderValue::from_str(&"x".repeat(1023)).unwrap());
        assert_eq!(
            s.oversized(&h).map(|r| r.status()),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        let mut h = HeaderMap::new();
        for i in 0..9 {
            h.insert(
                axum::http::HeaderName::from_bytes(format!("h{i}").as_bytes()).unwrap(),
                HeaderValue::from_static("1"),
            );
        }
        assert!(s.oversized(&h).is_some(), "nine fields over a cap of eight");
    }

    /// A route at its cap: the next call waits `queue_ms`, then gets 503 without running; a
    /// route without a cap of its own still runs; once the first answer is done, calls run again.
    #[tokio::test]
    async fn a_route_at_its_cap_answers_busy_until_its_call_is_done() {
        let s = slots("[limits]\nqueue_ms = 50");
        let (first, running, release) = held();
        let first = tokio::spawn(s.guard(Some(0), first)(req()));
        running.await.expect("the first call runs");
        let runs = Arc::new(AtomicUsize::new(0));
        let second = s.guard(Some(0), counted(&runs))(req()).await;
        assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(second.headers()[header::RETRY_AFTER], "1");
        assert_eq!(runs.load(Ordering::Acquire), 0, "refused before running");
        let other = s.guard(Some(1), counted(&runs))(req()).await;
        assert_eq!(other.status(), StatusCode::OK);
        assert_eq!(runs.load(Ordering::Acquire), 1);

        release.send(()).expect("first waits");
        let answer = first.await.expect("first");
        assert_eq!(answer.status(), StatusCode::OK);
        let still = s.guard(Some(0), counted(&runs))(req()).await;
        assert_eq!(
            still.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "its body is not done"
        );
        drop(answer);
        let third = s.guard(Some(0), counted(&runs))(req()).await;
        assert_eq!(third.status(), StatusCode::OK);
        assert_eq!(runs.load(Ordering::Acquire), 2);
    }

    /// The cap over all routes holds calls of every route, priced or not.
    #[tokio::test]
    async fn the_total_cap_spans_routes() {
        let s = slots("[limits]\nmax_concurrent = 1\nqueue_ms = 50");
        let (first, running, release) = held();
        let first = tokio::spawn(s.guard(Some(1), first)(req()));
        running.await.expect("the first call runs");
        let runs = Arc::new(AtomicUsize::new(0));
        for route in [None, Some(0), Some(1)] {
            let r = s.guard(route, counted(&runs))(req()).await;
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{route:?}");
        }
        assert_eq!(runs.load(Ordering::Acquire), 0);
        release.send(()).expect("first waits");
        drop(first.await.expect("first"));
        let r = s.guard(None, counted(&runs))(req()).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
}
