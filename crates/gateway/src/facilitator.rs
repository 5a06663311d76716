//! How the gateway reaches a facilitator: one trait, two implementations (in this process, or a
//! remote `/verify` `/settle` `/supported` over HTTP).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use tollgate_facilitator::Facilitator;
use tollgate_proto::v2::{SettleResponse, SupportedResponse, VerifyResponse};

/// Largest facilitator answer read.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// The facilitator could not give a verdict (unreachable, 5xx, unreadable answer).
#[derive(Debug, Clone, thiserror::Error)]
#[error("facilitator unavailable: {0}")]
pub struct FacilitatorError(pub String);

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
pub struct InProcess(pub Arc<Facilitator>);

impl FacilitatorClient for InProcess {
    fn verify(&self, body: Vec<u8>) -> BoxFuture<'_, Result<VerifyResponse, FacilitatorError>> {
        Box::pin(async move {
            self.0
                .verify(&body)
                .await
                .map(|r| r.body)
                .map_err(|e| FacilitatorError(e.to_string()))
        })
    }

    fn settle(&self, body: Vec<u8>) -> BoxFuture<'_, Result<SettleResponse, FacilitatorError>> {
        Box::pin(async move {
            self.0
                .settle(&body)
                .await
                .map(|r| r.body)
                .map_err(|e| FacilitatorError(e.to_string()))
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
}

impl Remote {
    /// Talks to the facilitator at `base` (e.g. `http://127.0.0.1:4022`); settle may wait long.
    pub fn new(base: &str) -> Result<Self, FacilitatorError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| FacilitatorError(e.to_string()))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            http,
            bearer: None,
        })
    }

    /// Sends `Authorization: Bearer <token>` on `/verify` and `/settle`, for a facilitator
    /// that requires one. The header is marked sensitive, so no dump prints it.
    pub fn with_token(mut self, token: &str) -> Result<Self, FacilitatorError> {
        let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .map_err(|_| {
                FacilitatorError("the facilitator token is not a valid header value".into())
            })?;
        v.set_sensitive(true);
        self.bearer = Some(v);
        Ok(self)
    }

    async fn read<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, FacilitatorError> {
        let status = resp.status();
        if status.is_server_error() {
            return Err(FacilitatorError(format!("answered {status}")));
        }
        if matches!(status.as_u16(), 401 | 403 | 415) {
            return Err(FacilitatorError(format!(
                "refused this gateway ({status}): check facilitator.token_env"
            )));
        }
        let bytes = resp.bytes().await.map_err(transport)?;
        if bytes.len() > MAX_REPLY_BYTES {
            return Err(FacilitatorError("answer too large".into()));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| FacilitatorError(format!("unreadable answer ({status}): {e}")))
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> Result<T, FacilitatorError> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
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
                .send()
                .await
                .map_err(transport)?;
            Self::read(resp).await
        })
    }
}

/// A transport failure, without the URL (it may carry credentials).
fn transport(e: reqwest::Error) -> FacilitatorError {
    FacilitatorError(e.without_url().to_string())
}
