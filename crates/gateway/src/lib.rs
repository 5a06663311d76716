//! The x402 402-challenge gateway: a tower Layer for axum apps and a reverse proxy driven by a
//! TOML file, with exact USD pricing per asset and signed receipts for metered bundles.

pub mod answers;
mod body;
mod bundle;
mod call;
pub mod canon;
pub mod challenge;
pub mod charge;
pub mod config;
pub mod facilitator;
mod gate;
mod handler;
pub mod headers;
pub mod keys;
pub mod layer;
mod leases;
mod limits;
pub mod meter;
pub mod metrics;
mod offer;
mod paid;
pub mod pattern;
pub mod payment;
pub mod pending;
pub mod pricing;
pub mod proxy;
pub mod receipt;
mod receipted;
pub mod reload;
mod replies;
pub mod routes;
pub mod setup;
mod unsettled;
pub mod upstream;

pub use charge::Charge;
pub use config::{ConfigError, GatewayConfig};
#[cfg(feature = "in-process")]
pub use facilitator::InProcess;
pub use facilitator::{FacilitatorClient, FacilitatorError, Remote};
pub use gate::{Gateway, Receipts};
pub use handler::Next;
pub use keys::{ReceiptKeys, Rotation};
pub use layer::{Paywall, PaywallLayer};
pub use meter::Meter;
pub use pending::CheckSummary;
pub use proxy::{admin_app, proxy_app, serve_proxy, serve_proxy_until};
pub use receipt::{Claims, KeyRing};
pub use reload::KeyWatch;
pub use upstream::{Upstream, UpstreamError};
