//! How the gateway reaches a facilitator: one trait, two implementations (in this process, or a
//! remote `/verify` `/settle` `/supported` over HTTP).

use std::time::Duration;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use tollgate_proto::v2::{SettleResponse, SupportedResponse, VerifyResponse};

/// Largest facilitator answer read.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// Why the facilitator gave no verdict, so a caller can tell a fault worth retrying (transport,
/// timeout, a 5xx) from one an operator must fix (refused credentials, a bad setting). Texts
/// carry no URL: a facilitator URL may hold credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FacilitatorError {
    /// The connection failed or broke before an answer arrived.
    #[error("facilitator unreachable: {0}")]
    Transport(String),
    /// No answer within the client's timeout (or a proxy's 504); a settle may still have gone
    /// through.
    #[error("facilitator did not answer in time")]
    Timeout,
    /// It answered with a server error.
    #[error("facilitator answered {0}")]
    Status(u16),
    /// It refused this gateway's credentials (401, 403) or request format (415).
    #[error("facilitator refused this gateway ({0}): check facilitator.token_env")]
    Refused(u16),
    /// Its answer was too large or not the JSON the protocol says.
    #[error("facilitator answer unreadable: {0}")]
    Unreadable(String),
    /// The facilitator in this process failed internally (its store, a task).
    #[error("facilitator failed: {0}")]
    Internal(String),
    /// This gateway's facilitator settings cannot be used (a token that is no header value).
    #[error("facilitator settings: {0}")]
    Config(String),
}

/// Verify and settle standard x402 `/verify` `/settle` JSON bodies.
pub trait FacilitatorClient: Send + Sync {
    /// Runs `/verify` on a `{x402Version, paymentPayload, paymentRequirements}` body.
    fn verify(&self, body: Vec<u8>) -> BoxFuture<'_, Result<VerifyResponse, FacilitatorError>>;
    /// Runs `/settle` on the same body.
    fn settle(&self, body: Vec<u8>) -> BoxFuture<'_, Result<SettleResponse, FacilitatorError>>;
    /// The kinds the facilitator handles, to offer only payable `accepts`.
    fn supported(&self) -> BoxFuture<'_, Result<SupportedResponse, FacilitatorError>>;
}

/// A facilitator running in this process.
#[cfg(feature = "in-process")]
pub struct InProcess(pub std::sync::Arc<tollgate_facilitator::Facilitator>);

#[cfg(feature = "in-process")]
impl FacilitatorClient for InProcess {
    fn verify(&self, body: Vec<u8>) -> BoxFuture<'_, Result<VerifyResponse, FacilitatorError>> {
        Box::pin(async move {
            self.0
                .verify(&body)
                .await
                .map(|r| r.body)
                .map_err(|e| FacilitatorError::Internal(e.to_string()))
        })
    }

    fn settle(&self, body: Vec<u8>) -> BoxFuture<'_, Result<SettleResponse, FacilitatorError>> {
        Box::pin(async move {
            self.0
                .settle(&body)
                .await
                .map(|r| r.body)
                .map_err(|e| FacilitatorError::Internal(e.to_string()))
        })
    }

    fn supported(&self) -> BoxFuture<'_, Result<SupportedResponse, FacilitatorError>> {
        Box::pin(async move { Ok(self.0.supported()) })
    }
}

/// A facilitator reached over HTTP.
pub struct Remote {
    base: String,
    http: reqwest::Client,
    bearer: Option<reqwest::header::HeaderValue>,
    timeout: Duration,
}

/// Longest wait for an answer unless told otherwise: a settle waits for its block.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

impl Remote {
    /// Talks to the facilitator at `base` (e.g. `http://127.0.0.1:4022`); settle may wait long.
    pub fn new(base: &str) -> Result<Self, FacilitatorError> {
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| FacilitatorError::Config(e.to_string()))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            http,
            bearer: None,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Gives up on an answer after `timeout` ([`FacilitatorError::Timeout`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends `Authorization: Bearer <token>` on `/verify` and `/settle`, for a facilitator
    /// that requires one. The header is marked sensitive, so no dump prints it.
    pub fn with_token(mut self, token: &str) -> Result<Self, FacilitatorError> {
        let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .map_err(|_| {
                FacilitatorError::Config("the token is not a valid header value".into())
            })?;
        v.set_sensitive(true);
        self.bearer = Some(v);
        Ok(self)
    }

    async fn read<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, FacilitatorError> {
        let status = resp.status();
        if status == reqwest::StatusCode::GATEWAY_TIMEOUT {
            // A proxy in front of the facilitator gave up waiting: as good as our own timeout.
            return Err(FacilitatorError::Timeout);
        }
        if status.is_server_error() {
            return Err(FacilitatorError::Status(status.as_u16()));
        }
        if matches!(status.as_u16(), 401 | 403 | 415) {
            return Err(FacilitatorError::Refused(status.as_u16()));
        }
        let bytes = resp.bytes().await.map_err(transport)?;
        if bytes.len() > MAX_REPLY_BYTES {
            return Err(FacilitatorError::Unreadable("answer too large".into()));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| FacilitatorError::Unreadable(format!("{status}: {e}")))
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> Result<T, FacilitatorError> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .timeout(self.timeout)
            .header("content-type", "application/json")
            .body(body);
        if let Some(b) = &self.bearer {
            req = req.header(reqwest::header::AUTHORIZATION, b.clone());
        }
        let resp = req.send().await.map_err(transport)?;
        Self::read(resp).await
    }
}

impl FacilitatorClient for Remote {
    fn verify(&self, body: Vec<u8>) -> BoxFuture<'_, Result<VerifyResponse, FacilitatorError>> {
        Box::pin(self.post("/verify", body))
    }

    fn settle(&self, body: Vec<u8>) -> BoxFuture<'_, Result<SettleResponse, FacilitatorError>> {
        Box::pin(self.post("/settle", body))
    }

    fn supported(&self) -> BoxFuture<'_, Result<SupportedResponse, FacilitatorError>> {
        Box::pin(async move {
            let resp = self
                .http
                .get(format!("{}/supported", self.base))
                .timeout(self.timeout)
                .send()
                .await
                .map_err(transport)?;
            Self::read(resp).await
        })
    }
}

/// A transport failure, without the URL (it may carry credentials).
fn transport(e: reqwest::Error) -> FacilitatorError {
    if e.is_timeout() {
        FacilitatorError::Timeout
    } else {
        FacilitatorError::Transport(e.without_url().to_string())
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::{get, post};

    use super::*;

    /// Serves `app` on a free port of this host; the URL.
    async fn serve(app: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn each_failure_says_what_failed() {
        let app = Router::new()
            .route("/verify", post(|| async { StatusCode::BAD_GATEWAY }))
            .route("/settle", post(std::future::pending::<()>))
            .route("/supported", get(|| async { "{\"kinds\": 7}" }));
        let remote = Remote::new(&serve(app).await)
            .unwrap()
            .with_timeout(Duration::from_millis(300));
        let verify = remote.verify(b"{}".to_vec()).await;
        assert_eq!(verify.err(), Some(FacilitatorError::Status(502)));
        let settle = remote.settle(b"{}".to_vec()).await;
        assert_eq!(settle.err(), Some(FacilitatorError::Timeout));
        let supported = remote.supported().await;
        assert!(
            matches!(supported, Err(FacilitatorError::Unreadable(_))),
            "{supported:?}"
        );

        let refusing = Router::new().route("/verify", post(|| async { StatusCode::FORBIDDEN }));
        let remote = Remote::new(&serve(refusing).await).unwrap();
        let verify = remote.verify(b"{}".to_vec()).await;
        assert_eq!(verify.err(), Some(FacilitatorError::Refused(403)));
    }

    #[tokio::test]
    async fn an_unreachable_facilitator_is_a_transport_fault_without_its_url() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://user:secret@{}/?key=secret",
            closed.local_addr().unwrap()
        );
        drop(closed);
        let got = Remote::new(&url).unwrap().verify(b"{}".to_vec()).await;
        let Err(e @ FacilitatorError::Transport(_)) = got else {
            panic!("{got:?}");
        };
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
