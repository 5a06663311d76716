//! Finishes settlements that were signed but never got a recorded result (a crash between
//! broadcast and record, or a receipt wait that timed out): rebroadcast the very same bytes,
//! which can never pay twice, then record what the chain says.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tollgate_proto::{Broadcast, SignedTx, reason};

use crate::service::{Facilitator, Internal};

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
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(10),
            min_age: Duration::from_secs(30),
            wait: Duration::from_secs(5),
        }
    }
}

/// Runs the reconciler in the background for as long as the handle is kept and not aborted:
/// a first pass at once over everything a previous run left (serving does not wait for it),
/// then a pass every `every` over settlements older than `min_age`.
pub fn spawn_reconciler(f: Arc<Facilitator>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let o = f.reconcile_options().clone();
        match reconcile_once(&f, Duration::ZERO, o.wait).await {
            Ok(0) => {}
            Ok(done) => tracing::info!(done, "finished settlements left over from the last run"),
            Err(e) => tracing::warn!(error = %e, "start-up reconcile failed"),
        }
        let mut tick = tokio::time::interval(o.every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = reconcile_once(&f, o.min_age, o.wait).await {
                tracing::warn!(error = %e, "periodic reconcile failed");
            }
        }
    })
}

/// One pass over unfinished settlements older than `min_age`; returns how many were finished.
pub async fn reconcile_once(
    f: &Facilitator,
    min_age: Duration,
    wait: Duration,
) -> Result<usize, Internal> {
    let ledger = f.ledger();
    let cutoff = now_secs() - min_age.as_secs() as i64;
    let mut finished = 0;
    for rec in ledger
        .unfinished()
        .await
        .map_err(|e| Internal(e.to_string()))?
    {
        if rec.created_at > cutoff {
            continue;
        }
        let (Some(hash), Some(raw)) = (rec.tx_hash.clone(), rec.raw_tx.clone()) else {
            continue;
        };
        let Some(scheme) = f.scheme_for(&rec.network) else {
            tracing::warn!(id = %rec.id, network = %rec.network, "unfinished settlement on a network not served here");
            continue;
        };
        let sent = scheme
            .broadcast(&SignedTx {
                hash: hash.clone(),
                raw,
            })
            .await;
        let outcome = match scheme.confirm(&hash, wait).await {
            Ok(Some(true)) => Some((true, None)),
            Ok(Some(false)) => Some((false, Some(scheme.failed_reason()))),
            Ok(None) => match sent {
                Broadcast::Rejected(msg) => {
                    tracing::warn!(tx = %hash, error = %msg, "settlement can no longer land");
                    Some((false, Some(reason::INVALID_TRANSACTION_STATE)))
                }
                _ => None,
            },
            Err(e) => {
                tracing::warn!(tx = %hash, error = %e, "reconcile: receipt lookup failed");
                None
            }
        };
        if let Some((success, why)) = outcome {
            ledger
                .record_outcome(&rec.id, success, why)
                .await
                .map_err(|e| Internal(e.to_string()))?;
            tracing::info!(tx = %hash, success, "reconciled settlement");
            finished += 1;
        }
    }
    Ok(finished)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
