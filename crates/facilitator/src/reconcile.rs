//! Finishes settlements that were signed but never got a recorded result (a crash between
//! broadcast and record, or a receipt wait that timed out): rebroadcast the very same bytes,
//! which can never pay twice, then record what the chain says.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tollgate_proto::clock::{unix_now, unix_now_i64 as now_secs};
use tollgate_proto::{Broadcast, SignedTx, reason};
use tollgate_store::{ReplacedTx, SettlementRecord};

use crate::scheme::PaymentScheme;
use crate::service::{Facilitator, Internal, internal};

/// The ledger lease that lets one instance at a time run reconciler passes.
pub const RECONCILER_LEASE: &str = "facilitator:reconciler";

/// Runs the reconciler in the background for as long as the handle is kept and not aborted:
/// a first pass at once over everything a previous run left (serving does not wait for it),
/// then a pass every `every` over settlements older than `min_age`. Instances sharing a ledger
/// take turns through a lease in it: a pass runs only while its instance holds the lease, and a
/// holder that died frees it when it runs out.
pub fn spawn_reconciler(f: Arc<Facilitator>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let o = f.reconcile_options().clone();
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let holder = format!("{}-{started}", std::process::id());
        match reconcile_leased(&f, &holder, Duration::ZERO).await {
            Ok(0) => {}
            Ok(done) => tracing::info!(done, "finished settlements left over from the last run"),
            Err(e) => tracing::warn!(error = %e, "start-up reconcile failed"),
        }
        let mut tick = tokio::time::interval(o.every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = reconcile_leased(&f, &holder, o.min_age).await {
                tracing::warn!(error = %e, "periodic reconcile failed");
            }
        }
    })
}

/// Keeps the nonces of settlements recorded but perhaps never sent from being handed out to new
/// settlements; run before serving, since the reconciler sends them only beside it. Returns how
/// many were held.
pub async fn hold_recorded_nonces(f: &Facilitator) -> Result<usize, Internal> {
    let open = f.ledger().unfinished().await.map_err(internal)?;
    let mut held = 0;
    for rec in open {
        let (Some(hash), Some(raw), Some(scheme)) =
            (rec.tx_hash, rec.raw_tx, f.scheme_for(&rec.network))
        else {
            continue;
        };
        scheme.hold_nonce(&SignedTx { hash, raw });
        held += 1;
    }
    Ok(held)
}

/// One pass as `holder`, if there is work and no other instance holds the lease; the lease is
/// renewed before each settlement and given back at the end.
async fn reconcile_leased(
    f: &Facilitator,
    holder: &str,
    min_age: Duration,
) -> Result<usize, Internal> {
    let o = f.reconcile_options();
    let due = due(f, min_age).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let ledger = f.ledger();
    // Long enough to cover one settlement's broadcast, receipt wait and record.
    let ttl = (o.every.as_secs() * 3).max(o.wait.as_secs() * 4).max(30);
    let mut finished = 0;
    for rec in due {
        let held = ledger
            .hold_lease(RECONCILER_LEASE, holder, unix_now(), ttl)
            .await
            .map_err(internal)?;
        if !held {
            tracing::debug!("another instance is reconciling");
            return Ok(finished);
        }
        finished += usize::from(reconcile_one(f, &rec, o.wait).await?);
    }
    ledger
        .release_lease(RECONCILER_LEASE, holder)
        .await
        .map_err(internal)?;
    Ok(finished)
}

/// One pass over unfinished settlements older than `min_age`, whatever other instances do;
/// returns how many were finished.
pub async fn reconcile_once(
    f: &Facilitator,
    min_age: Duration,
    wait: Duration,
) -> Result<usize, Internal> {
    let mut finished = 0;
    for rec in due(f, min_age).await? {
        finished += usize::from(reconcile_one(f, &rec, wait).await?);
    }
    Ok(finished)
}

/// Unfinished settlements older than `min_age`, oldest first.
async fn due(f: &Facilitator, min_age: Duration) -> Result<Vec<SettlementRecord>, Internal> {
    let cutoff = now_secs() - min_age.as_secs() as i64;
    let all = f.ledger().unfinished().await.map_err(internal)?;
    Ok(all.into_iter().filter(|r| r.created_at <= cutoff).collect())
}

/// Rebroadcasts one settlement's bytes, records what the chain says of any of its
/// transactions, and bumps its fee when it has sat unmined for `bump_after`; `true` once final.
async fn reconcile_one(
    f: &Facilitator,
    rec: &SettlementRecord,
    wait: Duration,
) -> Result<bool, Internal> {
    let (Some(hash), Some(raw)) = (rec.tx_hash.clone(), rec.raw_tx.clone()) else {
        return Ok(false);
    };
    let Some(scheme) = f.scheme_for(&rec.network) else {
        tracing::warn!(id = %rec.id, network = %rec.network, "unfinished settlement on a network not served here");
        return Ok(false);
    };
    let current = SignedTx { hash, raw };
    let sent = scheme.broadcast(&current).await;
    let earlier = f.ledger().replaced_txs(&rec.id).await.map_err(internal)?;
    let seen = match mined(scheme.as_ref(), &current.hash, &earlier, wait).await {
        Lookup::Mined(hash, status) => {
            let why = (!status).then(|| scheme.failed_reason(&rec.scheme));
            record(f, &rec.id, &hash, status, why).await?;
            return Ok(true);
        }
        Lookup::NotMined => true,
        Lookup::Unknown => false,
    };
    // A refusal is final only when the node could also say none of them was mined.
    if let Broadcast::Rejected(msg) = &sent
        && seen
        && earlier.is_empty()
        && !scheme.may_land_later(msg)
    {
        tracing::warn!(tx = %current.hash, error = %msg, "settlement can no longer land");
        let why = Some(reason::INVALID_TRANSACTION_STATE);
        record(f, &rec.id, &current.hash, false, why).await?;
        return Ok(true);
    }
    let idle = now_secs().saturating_sub(rec.updated_at);
    if idle >= f.reconcile_options().bump_after.as_secs() as i64 {
        bump(f, scheme.as_ref(), &rec.id, &current).await?;
    }
    Ok(false)
}

/// What the chain says of a settlement's transactions.
enum Lookup {
    /// This one was mined, with this status.
    Mined(String, bool),
    /// The node answered for each: none is mined.
    NotMined,
    /// Some lookup failed: nothing can be concluded.
    Unknown,
}

/// The first of a settlement's transactions found mined: the current one (waited for up to
/// `wait`), then those a bump replaced.
async fn mined(
    scheme: &dyn PaymentScheme,
    current: &str,
    earlier: &[ReplacedTx],
    wait: Duration,
) -> Lookup {
    let mut answered = true;
    let others = earlier.iter().map(|t| t.tx_hash.as_str());
    for (i, hash) in std::iter::once(current).chain(others).enumerate() {
        let bound = if i == 0 { wait } else { wait.min(EARLIER_WAIT) };
        match scheme.confirm(hash, bound).await {
            Ok(Some(status)) => return Lookup::Mined(hash.to_string(), status),
            Ok(None) => {}
            Err(e) => {
                answered = false;
                tracing::warn!(tx = %hash, error = %e, "reconcile: receipt lookup failed");
            }
        }
    }
    if answered {
        Lookup::NotMined
    } else {
        Lookup::Unknown
    }
}

/// Longest a replaced transaction's receipt is waited for in a pass.
const EARLIER_WAIT: Duration = Duration::from_millis(500);

/// Replaces a stuck transaction with the same one at a higher fee and sends it; the ledger
/// keeps both, and only one instance's replacement wins.
async fn bump(
    f: &Facilitator,
    scheme: &dyn PaymentScheme,
    id: &str,
    current: &SignedTx,
) -> Result<(), Internal> {
    let next = match scheme.replace(current).await {
        Ok(Some(next)) => next,
        Ok(None) => return Ok(()),
        Err(e) => {
            tracing::warn!(tx = %current.hash, error = %e, "fee bump failed");
            return Ok(());
        }
    };
    let swapped = f
        .ledger()
        .replace_tx(id, &current.hash, &next.hash, &next.raw)
        .await
        .map_err(internal)?;
    if swapped {
        tracing::info!(old = %current.hash, new = %next.hash, "stuck settlement re-sent at a higher fee");
        if let Broadcast::Rejected(e) | Broadcast::Unknown(e) = scheme.broadcast(&next).await {
            tracing::warn!(tx = %next.hash, error = %e, "fee bump not accepted yet");
        }
    }
    Ok(())
}

async fn record(
    f: &Facilitator,
    id: &str,
    hash: &str,
    success: bool,
    why: Option<&str>,
) -> Result<(), Internal> {
    f.ledger()
        .record_mined(id, hash, success, why)
        .await
        .map_err(internal)?;
    tracing::info!(tx = %hash, success, "reconciled settlement");
    Ok(())
}
