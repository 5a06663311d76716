//! The x402 facilitator: verifies payments, settles each at most once through the ledger, and
//! serves the HTTP API (`/verify`, `/settle`, `/supported`, `/health`, `/metrics`).

mod evm;
mod metrics;
mod reconcile;
mod reply;
mod routes;
mod scheme;
mod service;
mod svm;

pub use evm::EvmExactScheme;
pub use metrics::Metrics;
pub use reconcile::reconcile_once;
pub use routes::{router, serve};
pub use scheme::{PaymentScheme, payment_identity};
pub use service::{Facilitator, FacilitatorOptions, Failpoint, Reply};
pub use svm::SvmExactScheme;
