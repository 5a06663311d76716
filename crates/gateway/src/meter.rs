//! Metering of receipts: a moka hot cache of receipts over the store. Calls come from the store
//! by atomic takes of `lease` calls at a time; the cache spends a lease locally, remembers
//! exhausted receipts, and never lets an instance serve a call the store did not grant.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use moka::future::Cache;
use tollgate_store::{NewReceipt, ReceiptStore, StoreError};

use crate::receipt::Claims;

/// Why a valid token still did not unlock a call.
#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    #[error("receipt_unknown: no such receipt")]
    Unknown,
    #[error("receipt_mismatch: receipt belongs to another payer")]
    Mismatch,
    #[error("receipt_exhausted: every paid call has been used")]
    Exhausted,
    #[error("receipt store unavailable: {0}")]
    Store(#[from] StoreError),
}

impl MeterError {
    /// The reason string for the 402 answer.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unknown => "receipt_unknown",
            Self::Mismatch => "receipt_mismatch",
            Self::Exhausted => "receipt_exhausted",
            Self::Store(_) => "receipt_store_unavailable",
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
    /// Serialises refills so concurrent callers take one lease, not many.
    refill: tokio::sync::Mutex<()>,
}

/// The hot cache over the receipt store.
pub struct Meter {
    store: ReceiptStore,
    cache: Cache<String, Option<Arc<Hot>>>,
    lease: u64,
    store_reads: AtomicU64,
}

impl Meter {
    /// A meter over `store`, taking `lease` calls per refill and caching `capacity` receipts.
    pub fn new(store: ReceiptStore, lease: u32, capacity: u64) -> Self {
        Self {
            store,
            cache: Cache::new(capacity),
            lease: u64::from(lease.max(1)),
            store_reads: AtomicU64::new(0),
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

    async fn load(&self, rid: &str) -> Result<Option<Arc<Hot>>, MeterError> {
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
                        refill: tokio::sync::Mutex::new(()),
                    })
                }))
            })
            .await
            .map_err(|e| MeterError::Store(clone_err(&e)))?;
        Ok(got)
    }

    /// Spends one call of a verified token's receipt (expiry and route were checked already).
    pub async fn consume(&self, c: &Claims, now: u64) -> Result<(), MeterError> {
        let hot = self.load(&c.rid).await?.ok_or(MeterError::Unknown)?;
        if hot.payer != c.payer {
            return Err(MeterError::Mismatch);
        }
        if hot.unlimited {
            return Ok(());
        }
        loop {
            if spend_one(&hot.local) {
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
                hot.exhausted.store(true, Ordering::Release);
            } else {
                hot.local.fetch_add(granted, Ordering::AcqRel);
            }
        }
    }
}

impl Meter {
    /// Gives back a call that was taken but not served (the upstream failed or did not answer);
    /// it returns to this instance's grant, so the store's count stays exact.
    pub async fn refund(&self, c: &Claims) {
        if let Ok(Some(hot)) = self.load(&c.rid).await
            && !hot.unlimited
        {
            hot.local.fetch_add(1, Ordering::AcqRel);
        }
    }
}

fn spend_one(local: &AtomicU64) -> bool {
    local
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

fn clone_err(e: &StoreError) -> StoreError {
    StoreError::Corrupt("receipt".into(), e.to_string())
}
