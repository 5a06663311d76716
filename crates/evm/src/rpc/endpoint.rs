//! One RPC endpoint as a tower service over alloy's HTTP transport: every call is bounded by
//! the chain's timeout, every failure becomes text without the URL, named by the endpoint's
//! index, and each outcome is recorded for `/health`.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use alloy::rpc::json_rpc::{RequestPacket, ResponsePacket};
use alloy::transports::http::Http;
use alloy::transports::http::reqwest::{self, Url};
use alloy::transports::{RpcError, TransportError, TransportErrorKind, TransportFut};
use tollgate_proto::rpc::{EndpointHealth, EndpointState, endpoint_name, scrub_urls};
use tower::Service;

/// Longest failure text kept (a 502 can carry a whole HTML page).
const MAX_ERROR_CHARS: usize = 300;

#[derive(Default)]
struct Outcomes {
    answered_last: Option<bool>,
    latency: Option<Duration>,
    failures_in_a_row: u32,
    error: Option<String>,
}

/// What an endpoint's calls came to, shared by all clones of it.
#[derive(Default)]
pub(crate) struct Record(Mutex<Outcomes>);

impl Record {
    fn answered(&self, latency: Duration) {
        let mut o = self.0.lock().expect("endpoint record lock");
        *o = Outcomes {
            answered_last: Some(true),
            latency: Some(latency),
            ..Outcomes::default()
        };
    }

    fn failed(&self, error: String) {
        let mut o = self.0.lock().expect("endpoint record lock");
        o.answered_last = Some(false);
        o.failures_in_a_row = o.failures_in_a_row.saturating_add(1);
        o.error = Some(error);
    }

    /// The endpoint's state for `/health`.
    pub(crate) fn health(&self, index: usize) -> EndpointHealth {
        let o = self.0.lock().expect("endpoint record lock");
        EndpointHealth {
            endpoint: index,
            state: match o.answered_last {
                Some(true) => EndpointState::Ok,
                Some(false) => EndpointState::Failing,
                None => EndpointState::Unknown,
            },
            latency_ms: o
                .latency
                .map(|d| d.as_millis().try_into().unwrap_or(u64::MAX)),
            failures_in_a_row: o.failures_in_a_row,
            error: o.error.clone(),
        }
    }
}

/// One endpoint; its URL stays inside the HTTP transport and is never printed.
#[derive(Clone)]
pub(crate) struct Endpoint {
    index: usize,
    timeout: Duration,
    http: Http<reqwest::Client>,
    record: Arc<Record>,
}

impl Endpoint {
    /// Endpoint `index` of a chain, reached at `url`.
    pub(crate) fn new(index: usize, url: Url, timeout: Duration) -> Self {
        Self {
            index,
            timeout,
            http: Http::new(url),
            record: Arc::default(),
        }
    }

    /// Where its outcomes are recorded.
    pub(crate) fn record(&self) -> Arc<Record> {
        self.record.clone()
    }

    /// Whether it points at this host (alloy then polls faster).
    pub(crate) fn is_local(&self) -> bool {
        self.http.guess_local()
    }
}

impl Service<RequestPacket> for Endpoint {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        // alloy's HTTP transport is always ready, and the fallback layer calls without asking.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: RequestPacket) -> Self::Future {
        let call = self.http.call(req);
        let (index, timeout, record) = (self.index, self.timeout, self.record.clone());
        Box::pin(async move {
            let start = Instant::now();
            let why = match tokio::time::timeout(timeout, call).await {
                Ok(Ok(answer)) => {
                    record.answered(start.elapsed());
                    return Ok(answer);
                }
                Ok(Err(e)) => describe(e),
                Err(_) => format!("no answer within {} ms", timeout.as_millis()),
            };
            let text = format!("{}: {why}", endpoint_name(index));
            record.failed(text.clone());
            Err(TransportErrorKind::custom_str(&text))
        })
    }
}

/// A transport failure as text without any URL: reqwest's own errors lose theirs through
/// `without_url`, and whatever else is scrubbed.
fn describe(e: TransportError) -> String {
    let text = match e {
        RpcError::Transport(TransportErrorKind::Custom(inner)) => {
            match inner.downcast::<reqwest::Error>() {
                Ok(re) => error_chain(&(*re).without_url()),
                Err(other) => error_chain(other.as_ref()),
            }
        }
        other => other.to_string(),
    };
    scrub_urls(&text).chars().take(MAX_ERROR_CHARS).collect()
}

/// An error and its sources, `: `-joined (reqwest's own text names only its kind).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::rpc::json_rpc::{Id, Request};

    fn block_number() -> RequestPacket {
        Request::new("eth_blockNumber", Id::Number(1), ())
            .serialize()
            .unwrap()
            .into()
    }

    #[tokio::test]
    async fn a_silent_endpoint_times_out() {
        // The kernel completes the handshake; nobody ever reads or answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url: Url = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let mut ep = Endpoint::new(0, url, Duration::from_millis(200));
        let err = ep.call(block_number()).await.unwrap_err().to_string();
        assert!(err.contains("rpc #0: no answer within 200 ms"), "{err}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_named_by_index_without_its_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let url: Url = format!("http://{addr}/v2/SECRETKEY123").parse().unwrap();
        let mut ep = Endpoint::new(2, url, Duration::from_secs(5));
        let err = ep.call(block_number()).await.unwrap_err().to_string();
        assert!(err.contains("rpc #2: "), "{err}");
        assert!(!err.contains("SECRETKEY123"), "{err}");
        let h = ep.record().health(2);
        assert_eq!(h.state, EndpointState::Failing);
        assert!(!h.error.unwrap().contains("SECRETKEY123"));
    }
}
