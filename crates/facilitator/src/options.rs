//! The facilitator's tunables, read by the service and by the background reconciler alike.

use std::time::Duration;

use tollgate_proto::Networks;

use crate::allow::Allowlist;
use crate::failpoint::Failpoint;

/// Tunables of the facilitator service.
#[derive(Debug, Clone)]
pub struct FacilitatorOptions {
    /// Longest a `/settle` waits for the receipt before answering `settlement_pending`.
    pub receipt_timeout: Duration,
    /// Extra v1 names for networks (e.g. a local chain).
    pub networks: Networks,
    /// Crash-test hook; `None` in production.
    pub failpoint: Option<Failpoint>,
    /// Assets and payees settled; `None` settles the well-known USDC of each served network.
    pub allow: Option<Allowlist>,
    /// Pace of the background reconciler.
    pub reconcile: ReconcileOptions,
}

impl Default for FacilitatorOptions {
    fn default() -> Self {
        Self {
            receipt_timeout: Duration::from_secs(30),
            networks: Networks::default(),
            failpoint: None,
            allow: None,
            reconcile: ReconcileOptions::default(),
        }
    }
}

/// How the background reconciler paces itself.
#[derive(Debug, Clone)]
pub struct ReconcileOptions {
    /// Pause between passes.
    pub every: Duration,
    /// Age a settlement must reach before a pass takes it over from the call that made it
    /// (that call may still be waiting for its receipt).
    pub min_age: Duration,
    /// Longest one settlement's receipt is waited for within a pass.
    pub wait: Duration,
    /// How long a settlement's transaction may sit unmined before it is re-signed at a higher
    /// fee (same nonce and call; up to the chain's fee ceiling).
    pub bump_after: Duration,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(10),
            min_age: Duration::from_secs(30),
            wait: Duration::from_secs(5),
            bump_after: Duration::from_secs(60),
        }
    }
}
