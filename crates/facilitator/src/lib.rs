//! The x402 facilitator: verifies payments, settles each at most once through the ledger, and
//! serves the HTTP API (`/verify`, `/settle`, `/supported`, `/health`, `/metrics`). [`setup`]
//! builds one from configuration, for the `tollgate facilitator` command and for apps that embed
//! a facilitator in process.

mod allow;
mod doors;
mod evm;
mod failpoint;
mod metrics;
mod options;
mod reconcile;
mod reply;
mod routes;
mod scheme;
mod service;
pub mod setup;
mod signers;
mod svm;
#[cfg(test)]
mod tests;

pub use allow::Allowlist;
pub use doors::Doors;
pub use evm::EvmScheme;
pub use failpoint::{Failpoint, Step};
pub use metrics::Metrics;
pub use options::{FacilitatorOptions, ReconcileOptions};
pub use reconcile::{RECONCILER_LEASE, hold_recorded_nonces, reconcile_once, spawn_reconciler};
pub use routes::{router, serve};
pub use scheme::{PaymentScheme, SchemeError, payment_identity};
pub use service::{Facilitator, Reply};
pub use signers::{SignerHealth, SignerPoolHealth};
pub use svm::SvmExactScheme;
