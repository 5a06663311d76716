//! Bundles sold on a settlement that was still pending: the gateway keeps the exact `/settle`
//! body, asks the facilitator again with capped backoff until the settlement is final, and
//! revokes the bundle if the payment failed on chain, so a failed payment buys nothing more.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tollgate_proto::Standing;
use tollgate_proto::clock::unix_now;
use tollgate_store::{GatewayStore, PendingBundle, StoreError};

use crate::facilitator::FacilitatorClient;
use crate::meter::Meter;
use crate::metrics::Metrics;

/// Seconds before the first check, doubled on each check after it...
pub const FIRST_CHECK_SECS: u64 = 5;
/// ...up to this many.
pub const MAX_BACKOFF_SECS: u64 = 300;
/// How long a claimed row stays out of other instances' sight while it is being checked
/// (longer than a `/settle` call may take).
const CLAIM_SECS: u64 = 180;
/// How often the background task looks for due rows.
const TICK: Duration = Duration::from_secs(2);
/// Rows claimed per pass of the background task.
const BATCH: u32 = 32;
/// Rows one check of every pending bundle (`Gateway::check_pending_now`) claims at most.
const NOW_LIMIT: u32 = 10_000;

/// What one pass over pending bundles did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CheckSummary {
    /// Settlements found final and paid: their bundles stay, their rows go.
    pub settled: u32,
    /// Settlements found failed: their bundles were revoked.
    pub revoked: u32,
    /// Settlements still not final: checked again later.
    pub pending: u32,
    /// Still not final after the configured max age: logged, no longer checked, receipt kept.
    pub given_up: u32,
}

/// Seconds to wait after the `attempts`-th check: 5, 10, 20, … capped at five minutes.
pub fn backoff(attempts: u64) -> u64 {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_CHECK_SECS
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF_SECS)
}

/// Checks pending bundles against the facilitator; shared by the background task and tests.
pub(crate) struct Checker {
    pub(crate) store: GatewayStore,
    pub(crate) meter: Meter,
    pub(crate) facilitator: Arc<dyn FacilitatorClient>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) max_age: u64,
}

/// A checker and its background task, owned by one gateway.
pub(crate) struct Pending {
    pub(crate) checker: Arc<Checker>,
    task: JoinHandle<()>,
}

impl Pending {
    /// Starts the background task (one per gateway): every [`TICK`], the rows that are due.
    pub(crate) fn start(checker: Checker) -> Self {
        let checker = Arc::new(checker);
        let me = checker.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = me.due_now().await {
                    tracing::warn!(error = %e, "pending bundle check failed; retrying");
                }
            }
        });
        Self { checker, task }
    }
}

/// The task stops with the gateway that owns it.
impl Drop for Pending {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Pending {
    /// Checks every bundle sold on a pending settlement at once, due or not.
    pub(crate) async fn check_all(&self) -> Result<CheckSummary, StoreError> {
        self.checker.pass(u64::MAX, NOW_LIMIT).await.map(|(_, s)| s)
    }
}

impl Checker {
    /// Records a bundle sold on a pending settlement, first checked [`FIRST_CHECK_SECS`] on.
    pub(crate) async fn record(&self, receipt_id: &str, body: &[u8]) -> Result<(), StoreError> {
        let now = unix_now();
        let first = now.saturating_add(FIRST_CHECK_SECS);
        self.store.add_pending(receipt_id, body, now, first).await
    }

    /// Checks every row due now, a batch at a time (a checked row is never due again at once).
    async fn due_now(&self) -> Result<CheckSummary, StoreError> {
        let mut total = CheckSummary::default();
        loop {
            let now = unix_now();
            let (seen, s) = self.pass(now, BATCH).await?;
            add(&mut total, s);
            if seen < BATCH as usize {
                return Ok(total);
            }
        }
    }

    /// Claims up to `limit` rows due by `due_by` and checks them; returns how many were claimed.
    pub(crate) async fn pass(
        &self,
        due_by: u64,
        limit: u32,
    ) -> Result<(usize, CheckSummary), StoreError> {
        let lease = unix_now().saturating_add(CLAIM_SECS);
        let rows = self.store.claim_pending(due_by, lease, limit).await?;
        let mut s = CheckSummary::default();
        for row in &rows {
            self.check(row).await?.count(&mut s);
        }
        Ok((rows.len(), s))
    }

    /// Asks the facilitator about one claimed row and acts on the answer.
    async fn check(&self, row: &PendingBundle) -> Result<Step, StoreError> {
        let rid = row.receipt_id.as_str();
        let answer = self.facilitator.settle(row.settle_body.clone()).await;
        let standing = match &answer {
            Ok(r) => r.standing(),
            Err(e) => {
                tracing::warn!(receipt = %rid, error = %e, "pending bundle: facilitator unreachable; checking later");
                Standing::Open
            }
        };
        let now = unix_now();
        match standing {
            Standing::Settled => {
                self.store.drop_pending(rid).await?;
                Ok(Step::Settled)
            }
            Standing::Refused => {
                let why = answer.ok().and_then(|r| r.error_reason).unwrap_or_default();
                self.meter.revoke(rid, now).await?;
                self.metrics.receipt_revoked();
                tracing::warn!(receipt = %rid, reason = %why, "bundle revoked: the settlement that paid for it failed");
                self.store.drop_pending(rid).await?;
                Ok(Step::Revoked)
            }
            Standing::OnItsWay | Standing::Open
                if now >= row.created_at.saturating_add(self.max_age) =>
            {
                tracing::error!(receipt = %rid, attempts = row.attempts, "settlement behind a bundle still not final after pending_max_age_seconds: no longer checked, receipt left valid");
                self.store.drop_pending(rid).await?;
                Ok(Step::GivenUp)
            }
            Standing::OnItsWay | Standing::Open => {
                let at = now.saturating_add(backoff(row.attempts));
                self.store.reschedule_pending(rid, at).await?;
                Ok(Step::Pending)
            }
        }
    }
}

/// What was done with one row.
enum Step {
    Settled,
    Revoked,
    Pending,
    GivenUp,
}

impl Step {
    fn count(self, s: &mut CheckSummary) {
        match self {
            Self::Settled => s.settled += 1,
            Self::Revoked => s.revoked += 1,
            Self::Pending => s.pending += 1,
            Self::GivenUp => s.given_up += 1,
        }
    }
}

fn add(total: &mut CheckSummary, s: CheckSummary) {
    total.settled += s.settled;
    total.revoked += s.revoked;
    total.pending += s.pending;
    total.given_up += s.given_up;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let waits: Vec<u64> = (1..=9).map(backoff).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff(0), 5);
        assert_eq!(backoff(u64::MAX), 300);
    }
}
