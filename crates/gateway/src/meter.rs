//! Metering of receipts: a moka hot cache of receipts over the store. Calls come from the store
//! by atomic takes of `lease` calls at a time; the cache spends a lease locally, remembers
//! exhausted receipts, and never lets an instance serve a call the store did not grant. With a
//! lease of 2 or more, the next lease is taken in the background once half of the current one is
//! spent, so a busy receipt's callers do not queue behind the store's committed write. A
//! receipt revoked because its payment failed is refused at once by the instance that revoked it
//! and, by every other instance, once its cached copy is older than [`RECHECK_SECS`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use moka::future::Cache;
use tollgate_proto::reason;
use tollgate_store::{NewReceipt, ReceiptStore, StoreError};

use crate::receipt::Claims;

/// Seconds a cached receipt is trusted before its row is read again, bounding how long another
/// instance's revocation takes to reach this one (one store read per receipt per period).
pub const RECHECK_SECS: u64 = 5;

/// Why a valid token still did not unlock a call.
#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    #[error("{}: no such receipt", reason::RECEIPT_UNKNOWN)]
    Unknown,
    #[error("{}: receipt belongs to another payer", reason::RECEIPT_MISMATCH)]
    Mismatch,
    #[error("{}: every paid call has been used", reason::RECEIPT_EXHAUSTED)]
    Exhausted,
    #[error(
        "{}: the payment for this receipt failed on chain",
        reason::RECEIPT_REVOKED
    )]
    Revoked,
    #[error("receipt store unavailable: {0}")]
    Store(#[from] StoreError),
}

impl MeterError {
    /// The reason string for the 402 answer.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unknown => reason::RECEIPT_UNKNOWN,
            Self::Mismatch => reason::RECEIPT_MISMATCH,
            Self::Exhausted => reason::RECEIPT_EXHAUSTED,
            Self::Revoked => reason::RECEIPT_REVOKED,
            Self::Store(_) => reason::RECEIPT_STORE_UNAVAILABLE,
        }
    }
}

/// One receipt as this instance knows it.
struct Hot {
    payer: String,
    /// Unlimited calls until expiry (a time-window bundle).
    unlimited: bool,
    /// Calls granted to this instance and not yet served.
    local: AtomicU64,
    /// The store has nothing more to grant.
    exhausted: AtomicBool,
    /// The payment behind the receipt failed; nothing is served.
    revoked: AtomicBool,
    /// When the row was last read (unix seconds).
    checked_at: AtomicU64,
    /// A background take came back empty: the next take waits for the store, and says why.
    drained: AtomicBool,
    /// Serialises refills so concurrent callers take one lease, not many.
    refill: Arc<tokio::sync::Mutex<()>>,
}

/// The hot cache over the receipt store; clones share the cache and the store.
#[derive(Clone)]
pub struct Meter {
    store: ReceiptStore,
    cache: Cache<String, Option<Arc<Hot>>>,
    lease: u64,
    store_reads: Arc<AtomicU64>,
}

impl Meter {
    /// A meter over `store`, taking `lease` calls per refill and caching `capacity` receipts.
    pub fn new(store: ReceiptStore, lease: u32, capacity: u64) -> Self {
        Self {
            store,
            cache: Cache::new(capacity),
            lease: u64::from(lease.max(1)),
            store_reads: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Store round trips made so far (reads and takes); lets tests prove a refusal touched nothing.
    pub fn store_reads(&self) -> u64 {
        self.store_reads.load(Ordering::Relaxed)
    }

    /// Records a freshly paid bundle.
    pub async fn create(&self, r: &NewReceipt) -> Result<(), StoreError> {
        self.store.create(r).await.map(|_| ())
    }

    async fn load(&self, rid: &str, now: u64) -> Result<Option<Arc<Hot>>, MeterError> {
        // A cached receipt costs no key copy and no loader.
        if let Some(hot) = self.cache.get(rid).await {
            return Ok(hot);
        }
        let store = &self.store;
        let reads = &self.store_reads;
        let got = self
            .cache
            .try_get_with(rid.to_string(), async move {
                reads.fetch_add(1, Ordering::Relaxed);
                let row = store.get(rid).await?;
                Ok::<_, StoreError>(row.map(|r| {
                    Arc::new(Hot {
                        payer: r.payer,
                        unlimited: r.calls_left.is_none(),
                        local: AtomicU64::new(0),
                        exhausted: AtomicBool::new(r.calls_left == Some(0)),
                        revoked: AtomicBool::new(r.revoked_at.is_some()),
                        checked_at: AtomicU64::new(now),
                        drained: AtomicBool::new(false),
                        refill: Arc::default(),
                    })
                }))
            })
            .await
            .map_err(|e| MeterError::Store(clone_err(&e)))?;
        Ok(got)
    }

    /// Spends one call of a verified token's receipt (expiry and route were checked already).
    pub async fn consume(&self, c: &Claims, now: u64) -> Result<(), MeterError> {
        let hot = self.load(&c.rid, now).await?.ok_or(MeterError::Unknown)?;
        if hot.payer != c.payer {
            return Err(MeterError::Mismatch);
        }
        if now
            >= hot
                .checked_at
                .load(Ordering::Acquire)
                .saturating_add(RECHECK_SECS)
        {
            self.recheck(&c.rid, &hot, now).await?;
        }
        if hot.revoked.load(Ordering::Acquire) {
            return Err(MeterError::Revoked);
        }
        if hot.unlimited {
            return Ok(());
        }
        loop {
            if let Some(left) = spend_one(&hot.local) {
                if left <= self.lease / 2 {
                    self.prefetch(&c.rid, &hot, now);
                }
                return Ok(());
            }
            if hot.exhausted.load(Ordering::Acquire) {
                return Err(MeterError::Exhausted);
            }
            let _g = hot.refill.lock().await;
            if hot.local.load(Ordering::Acquire) > 0 || hot.exhausted.load(Ordering::Acquire) {
                continue;
            }
            self.store_reads.fetch_add(1, Ordering::Relaxed);
            let granted = self.store.take(&c.rid, self.lease, now).await?;
            if granted == 0 {
                // Used up, or revoked by another instance: the row tells which.
                self.recheck(&c.rid, &hot, now).await?;
                if hot.revoked.load(Ordering::Acquire) {
                    return Err(MeterError::Revoked);
                }
                hot.exhausted.store(true, Ordering::Release);
            } else {
                hot.local.fetch_add(granted, Ordering::AcqRel);
            }
        }
    }
}

impl Meter {
    /// Takes the next lease in a task of its own while calls are still held here, unless a
    /// refill is under way. Lease 1 never prefetches: it is one committed write per call.
    fn prefetch(&self, rid: &str, hot: &Arc<Hot>, now: u64) {
        if self.lease < 2 || hot.drained.load(Ordering::Acquire) {
            return;
        }
        let Ok(guard) = hot.refill.clone().try_lock_owned() else {
            return;
        };
        let (meter, hot, rid) = (self.clone(), hot.clone(), rid.to_string());
        tokio::spawn(async move {
            let _guard = guard;
            meter.store_reads.fetch_add(1, Ordering::Relaxed);
            match meter.store.take(&rid, meter.lease, now).await {
                Ok(0) => hot.drained.store(true, Ordering::Release),
                Ok(granted) if !hot.revoked.load(Ordering::Acquire) => {
                    hot.local.fetch_add(granted, Ordering::AcqRel);
                }
                Ok(_) => {}
                // The next take that must wait for the store meets the failure and reports it.
                Err(e) => tracing::warn!(error = %e, "receipt prefetch failed"),
            }
        });
    }

    /// Reads the row again and marks the cached receipt revoked (dropping its local calls) when
    /// the row is revoked or gone.
    async fn recheck(&self, rid: &str, hot: &Hot, now: u64) -> Result<(), StoreError> {
        hot.checked_at.store(now, Ordering::Release);
        self.store_reads.fetch_add(1, Ordering::Relaxed);
        let live = self
            .store
            .get(rid)
            .await?
            .is_some_and(|r| r.revoked_at.is_none());
        if !live {
            mark_revoked(hot);
        }
        Ok(())
    }

    /// Revokes a receipt whose payment failed, in the store and in this instance's cache (calls
    /// already granted here included); `false` when there is no such receipt.
    pub async fn revoke(&self, rid: &str, now: u64) -> Result<bool, StoreError> {
        let found = self.store.revoke(rid, now).await?;
        if let Some(Some(hot)) = self.cache.get(rid).await {
            mark_revoked(&hot);
        }
        self.cache.invalidate(rid).await;
        Ok(found)
    }

    /// Gives back a call that was taken but not served (the upstream failed or did not answer);
    /// it returns to this instance's grant, so the store's count stays exact.
    pub async fn refund(&self, c: &Claims) {
        if let Ok(Some(hot)) = self.load(&c.rid, tollgate_proto::clock::unix_now()).await
            && !hot.unlimited
        {
            hot.local.fetch_add(1, Ordering::AcqRel);
        }
    }
}

fn mark_revoked(hot: &Hot) {
    hot.revoked.store(true, Ordering::Release);
    hot.local.store(0, Ordering::Release);
}

/// Spends one held call; the calls still held after it, or `None` when none was held.
fn spend_one(local: &AtomicU64) -> Option<u64> {
    local
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .ok()
        .map(|before| before - 1)
}

fn clone_err(e: &StoreError) -> StoreError {
    StoreError::Corrupt("receipt".into(), e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store(name: &str) -> ReceiptStore {
        let file = std::env::temp_dir().join(format!(
            "tollgate-meter-{}-{name}-{}.db",
            std::process::id(),
            rand::random::<u64>()
        ));
        ReceiptStore::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap()
    }

    const NOW: u64 = 1_000_000;

    /// Records receipt `id` with `calls` calls on `meter`; the claims of its token.
    async fn bought(meter: &Meter, id: &str, calls: u64) -> Claims {
        meter
            .create(&NewReceipt {
                id: id.into(),
                payer: "0xpayer".into(),
                routes: vec!["prediction".into()],
                calls_left: Some(calls),
                expires_at: NOW + 3600,
                payment_tx: None,
            })
            .await
            .unwrap();
        Claims {
            rid: id.into(),
            payer: "0xpayer".into(),
            routes: vec!["prediction".into()],
            exp: NOW + 3600,
        }
    }

    /// A revocation made by one instance reaches another instance that holds leased calls of
    /// the same receipt within RECHECK_SECS, and its leased calls are dropped.
    #[tokio::test]
    async fn revocation_reaches_another_instance_within_the_recheck_period() {
        let shared = store("revoke").await;
        let (a, b) = (
            Meter::new(shared.clone(), 5, 100),
            Meter::new(shared, 5, 100),
        );
        let now = NOW;
        let c = bought(&a, "r1", 20).await;
        b.consume(&c, now).await.expect("b takes a lease of 5");
        assert!(a.revoke("r1", now).await.unwrap());
        assert!(matches!(a.consume(&c, now).await, Err(MeterError::Revoked)));
        let later = now + RECHECK_SECS;
        assert!(
            matches!(b.consume(&c, later).await, Err(MeterError::Revoked)),
            "b's leased calls die with the receipt"
        );
        assert!(matches!(
            b.consume(&c, later + 1).await,
            Err(MeterError::Revoked)
        ));
    }

    /// Half a lease spent takes the next one in the background, and the calls served still
    /// equal the calls bought, not one more.
    #[tokio::test]
    async fn the_next_lease_is_taken_early_and_the_count_stays_exact() {
        let shared = store("prefetch").await;
        let meter = Meter::new(shared.clone(), 4, 100);
        let now = NOW;
        let c = bought(&meter, "r2", 10).await;
        for _ in 0..2 {
            meter.consume(&c, now).await.unwrap();
        }
        // Two of four spent: the prefetch holds the refill lock until its take is recorded.
        let hot = meter.cache.get("r2").await.flatten().expect("cached");
        drop(hot.refill.lock().await);
        let row = shared.get("r2").await.unwrap().expect("row");
        assert_eq!(
            row.calls_left,
            Some(2),
            "a second lease of 4 was taken early"
        );
        assert_eq!(hot.local.load(Ordering::Acquire), 6);
        let mut served = 2;
        while meter.consume(&c, now).await.is_ok() {
            served += 1;
        }
        assert_eq!(served, 10);
        assert!(matches!(
            meter.consume(&c, now).await,
            Err(MeterError::Exhausted)
        ));
    }
}
