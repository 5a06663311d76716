//! Finishes settlements that were signed but never got a recorded result (a crash between
//! broadcast and record, or a receipt wait that timed out): rebroadcast the very same bytes,
//! which can never pay twice, then record what the chain says.

use std::time::Duration;

use tollgate_proto::{Broadcast, SignedTx, reason};

use crate::service::{Facilitator, Internal};

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
