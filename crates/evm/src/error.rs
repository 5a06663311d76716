//! The failures of a chain itself (as opposed to verdicts on a payment), and how any RPC error
//! is shown: every layer above reports through these, so no URL or key leaks into an answer.

use std::fmt::Display;

use tollgate_proto::rpc::scrub_urls;

/// A chain-level failure (RPC down, misconfiguration); never a verdict on a payment.
#[derive(Debug, thiserror::Error)]
pub enum EvmError {
    #[error("rpc: {0}")]
    Rpc(String),
    #[error("config: {0}")]
    Config(String),
}

impl EvmError {
    /// An RPC failure, its text scrubbed of URLs.
    pub(crate) fn rpc(e: impl Display) -> Self {
        Self::Rpc(error_text(&e))
    }
}

/// Any RPC error as text fit for an answer, a log line or a metric: without a URL.
pub fn error_text(e: &dyn Display) -> String {
    scrub_urls(&e.to_string())
}
