//! Metering of receipts, exact across instances and crashes and fast by default.
//!
//! - A moka hot cache keeps what this instance knows of each receipt.
//! - Calls move from the store into this instance's **hold** by atomic takes. The size of a take
//!   follows how fast the receipt is used: one call for a receipt used now and then, doubling
//!   while calls keep coming within a second, up to `lease`; the next take starts in the
//!   background once half of the last one is spent.
//! - A call is reserved here before the upstream runs ([`Meter::consume`]) and recorded on the
//!   store before its answer leaves ([`Meter::record`]), in group commits (`journal`). So what
//!   an instance holds but has not served is known to the store: it goes back on SIGTERM
//!   ([`Meter::release`]), and when an instance dies, after `hold_seconds`.
//! - Revocations of other instances arrive through a list read every [`RECHECK_SECS`];
//!   time-window receipts are checked from the token and that list, with no per-call write.

mod hot;
mod journal;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use moka::future::Cache;
use tollgate_proto::clock::unix_now;
use tollgate_proto::reason;
use tollgate_store::{NewReceipt, ReceiptStore, StoreError};

use crate::receipt::Claims;
use hot::Hot;
use journal::{Journal, Recorded};

/// Seconds between reads of the revocation list (and sweeps of expired holds), bounding how
/// long another instance's revocation takes to reach this one.
pub const RECHECK_SECS: u64 = 5;

/// A take's size doubles while the last one was used up within this many milliseconds.
const RAMP_MS: u64 = 1000;

/// After a take found every call left held, milliseconds before this instance asks the store
/// again.
const HELD_RETRY_MS: u64 = 200;

/// Seconds each read of the revocation list reaches back before the last one.
const REVOKED_OVERLAP_SECS: u64 = 60;

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
    #[error(
        "{code}: the calls left are held by calls under way or by another gateway instance (for up to {0} s)",
        code = reason::RECEIPT_CALLS_HELD
    )]
    HeldElsewhere(u64),
    #[error("receipt store unavailable: {0}")]
    Store(#[from] StoreError),
    #[error("receipt store unavailable: {0}")]
    Unavailable(String),
}

impl MeterError {
    /// Whether the store failed (503), rather than the receipt being refused.
    pub fn store_failed(&self) -> bool {
        matches!(self, Self::Store(_) | Self::Unavailable(_))
    }

    /// The reason string for the answer.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unknown => reason::RECEIPT_UNKNOWN,
            Self::Mismatch => reason::RECEIPT_MISMATCH,
            Self::Exhausted => reason::RECEIPT_EXHAUSTED,
            Self::Revoked => reason::RECEIPT_REVOKED,
            Self::HeldElsewhere(_) => reason::RECEIPT_CALLS_HELD,
            Self::Store(_) | Self::Unavailable(_) => reason::RECEIPT_STORE_UNAVAILABLE,
        }
    }
}

/// A call reserved before the upstream runs. Given back if dropped before [`Meter::record`]:
/// an upstream that failed, or a caller that hung up, costs the payer nothing.
pub struct Reserved {
    hot: Arc<Hot>,
    sent: bool,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if !self.sent && !self.hot.unlimited {
            self.hot.counts().refund(1);
        }
    }
}

/// The hot cache over the receipt store; clones share the cache, the store and the holds.
#[derive(Clone)]
pub struct Meter {
    store: ReceiptStore,
    cache: Cache<String, Option<Arc<Hot>>>,
    lease: u64,
    hold_secs: u64,
    journal: Arc<Journal>,
    store_reads: Arc<AtomicU64>,
    /// Unix seconds of the last revocation-list read, and whether one is under way.
    polled_at: Arc<AtomicU64>,
    polling: Arc<AtomicBool>,
}

impl Meter {
    /// A meter over `store` that takes at most `lease` calls at a time, caches `capacity`
    /// receipts, and holds calls for `hold_secs` without use before others may take them back.
    pub fn new(store: ReceiptStore, lease: u32, capacity: u64, hold_secs: u64) -> Self {
        let holder: Arc<str> = format!("{:016x}", rand::random::<u64>()).into();
        let hold_secs = hold_secs.max(2);
        Self {
            journal: Arc::new(Journal::new(store.clone(), holder, hold_secs)),
            store,
            cache: Cache::new(capacity),
            lease: u64::from(lease.max(1)),
            hold_secs,
            store_reads: Arc::default(),
            polled_at: Arc::new(AtomicU64::new(unix_now())),
            polling: Arc::default(),
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
        // A cached receipt costs no key copy and no loader.
        if let Some(hot) = self.cache.get(rid).await {
            return Ok(hot);
        }
        let (store, reads) = (&self.store, &self.store_reads);
        self.cache
            .try_get_with(rid.to_string(), async move {
                reads.fetch_add(1, Ordering::Relaxed);
                let row = store.get(rid).await?;
                Ok::<_, StoreError>(row.map(|r| Arc::new(Hot::new(rid, r))))
            })
            .await
            .map_err(|e| MeterError::Unavailable(e.to_string()))
    }

    /// Reserves one call of a verified token's receipt (expiry and route were checked already)
    /// before the upstream runs; [`Meter::record`] makes it count.
    pub async fn consume(&self, c: &Claims, now: u64) -> Result<Reserved, MeterError> {
        self.poll_revocations(now);
        let hot = self.load(&c.rid).await?.ok_or(MeterError::Unknown)?;
        if hot.payer != c.payer {
            return Err(MeterError::Mismatch);
        }
        if hot.revoked.load(Ordering::Acquire) {
            return Err(MeterError::Revoked);
        }
        if hot.unlimited {
            return Ok(Reserved { hot, sent: false });
        }
        loop {
            if let Some(held) = hot.reserve(now, self.hold_secs) {
                hot.since_take.fetch_add(1, Ordering::Relaxed);
                let last = hot.last_grant.load(Ordering::Relaxed);
                if last >= 2 && held <= last / 2 {
                    self.prefetch(&hot);
                }
                return Ok(Reserved { hot, sent: false });
            }
            if hot.exhausted.load(Ordering::Acquire) {
                return Err(MeterError::Exhausted);
            }
            if mono_ms() < hot.held_retry_at.load(Ordering::Acquire) {
                return Err(MeterError::HeldElsewhere(
                    hot.held_secs.load(Ordering::Relaxed),
                ));
            }
            let _g = hot.refill.lock().await;
            if hot.usable(now, self.hold_secs) {
                continue;
            }
            self.store_reads.fetch_add(1, Ordering::Relaxed);
            let want = self.next_size(&hot, mono_ms());
            let grant = self
                .journal
                .take(hot.clone(), want)
                .await
                .map_err(MeterError::Unavailable)?;
            if hot.counts().local > 0 {
                continue;
            }
            if grant.left == 0 {
                // Used up, or revoked by another instance: the row tells which.
                if self.revoked_row(&hot).await? {
                    return Err(MeterError::Revoked);
                }
                return Err(MeterError::Exhausted);
            }
            // Every call left is held: by another instance, or by calls under way here.
            let secs = grant
                .held_elsewhere_until
                .map_or(1, |until| until.saturating_sub(now).max(1));
            hot.held_secs.store(secs, Ordering::Relaxed);
            hot.held_retry_at
                .store(mono_ms() + HELD_RETRY_MS, Ordering::Release);
            return Err(MeterError::HeldElsewhere(secs));
        }
    }

    /// Records a reserved call on the store before its answer is sent; the calls left after it
    /// (`None` for a time-window receipt). An error means the answer must not be sent.
    pub async fn record(&self, mut r: Reserved) -> Result<Option<u64>, MeterError> {
        if r.hot.unlimited {
            return Ok(None);
        }
        // From here the writer accounts for the call, whatever becomes of this future.
        r.sent = true;
        match self.journal.record(r.hot.clone()).await {
            Recorded::Yes => Ok(Some(self.calls_left(&r.hot).await)),
            Recorded::Refused => {
                // What this instance held is gone (revoked, or its hold lapsed and was used).
                if self.revoked_row(&r.hot).await? {
                    return Err(MeterError::Revoked);
                }
                Err(MeterError::Exhausted)
            }
            Recorded::Failed(why) => Err(MeterError::Unavailable(why)),
        }
    }

    /// Gives every call this instance holds back to the store, for a gateway that stops in good
    /// order (after its last answer); returns how many went back.
    pub async fn release(&self) -> Result<u64, MeterError> {
        for (_, hot) in self.cache.iter() {
            if let Some(hot) = hot {
                hot.counts().local = 0;
            }
        }
        self.journal
            .release()
            .await
            .map_err(MeterError::Unavailable)
    }

    /// Revokes a receipt whose payment failed, in the store and in this instance's cache (calls
    /// held here included); `false` when there is no such receipt.
    pub async fn revoke(&self, rid: &str, now: u64) -> Result<bool, StoreError> {
        let found = self.store.revoke(rid, now).await?;
        if let Some(Some(hot)) = self.cache.get(rid).await {
            mark_revoked(&hot);
        }
        self.cache.invalidate(rid).await;
        Ok(found)
    }
}

impl Meter {
    /// Twice the calls reserved since the last take when it was used up within [`RAMP_MS`],
    /// else the calls a [`RAMP_MS`] at the rate seen; between 1 and `lease`.
    fn next_size(&self, hot: &Hot, now_ms: u64) -> u64 {
        let spent = hot.since_take.swap(0, Ordering::Relaxed);
        let elapsed = now_ms.saturating_sub(hot.took_at_ms.swap(now_ms, Ordering::Relaxed));
        let size = if elapsed <= RAMP_MS {
            spent.saturating_mul(2)
        } else {
            spent.saturating_mul(RAMP_MS) / elapsed
        };
        size.clamp(1, self.lease)
    }

    /// Queues the next take while calls are still held here, unless one is queued already.
    fn prefetch(&self, hot: &Arc<Hot>) {
        if hot.taking.swap(true, Ordering::AcqRel) {
            return;
        }
        self.store_reads.fetch_add(1, Ordering::Relaxed);
        let want = self.next_size(hot, mono_ms());
        if !self.journal.take_later(hot.clone(), want) {
            hot.taking.store(false, Ordering::Release);
        }
    }

    /// Calls left after a served one, counted down here; a count that reaches 0 is read from the
    /// store first (other instances' takes and this one's overlap), since 0 makes a client drop
    /// the receipt.
    async fn calls_left(&self, hot: &Hot) -> u64 {
        let left = count_down(&hot.left);
        if left > 0 {
            return left;
        }
        self.store_reads.fetch_add(1, Ordering::Relaxed);
        match self.store.unserved(&hot.rid).await {
            Ok(n) => {
                hot.left.store(n, Ordering::Relaxed);
                n
            }
            // Unknown: say one, so no client drops a receipt that may still serve.
            Err(_) => 1,
        }
    }

    /// Reads the row again; marks the cached receipt revoked when the row is revoked or gone.
    async fn revoked_row(&self, hot: &Hot) -> Result<bool, StoreError> {
        self.store_reads.fetch_add(1, Ordering::Relaxed);
        let live = self
            .store
            .get(&hot.rid)
            .await?
            .is_some_and(|r| r.revoked_at.is_none());
        if !live {
            mark_revoked(hot);
        }
        Ok(!live)
    }

    /// Every [`RECHECK_SECS`], in the background: marks cached receipts that another instance
    /// revoked, and puts back the calls of holds that expired (of instances that died).
    fn poll_revocations(&self, now: u64) {
        let since = self.polled_at.load(Ordering::Acquire);
        if now < since.saturating_add(RECHECK_SECS) || self.polling.swap(true, Ordering::AcqRel) {
            return;
        }
        let meter = self.clone();
        tokio::spawn(async move {
            meter.poll_once(since, now).await;
            meter.polling.store(false, Ordering::Release);
        });
    }

    async fn poll_once(&self, since: u64, now: u64) {
        self.store_reads.fetch_add(1, Ordering::Relaxed);
        // Overlap: a revocation stamped by a slow clock, or committed late, is not missed.
        match self
            .store
            .revoked_since(since.saturating_sub(REVOKED_OVERLAP_SECS))
            .await
        {
            Ok(ids) => {
                for id in ids {
                    if let Some(Some(hot)) = self.cache.get(&id).await {
                        mark_revoked(&hot);
                    }
                }
                self.polled_at.store(now, Ordering::Release);
            }
            Err(e) => tracing::warn!(error = %e, "revocation list not read"),
        }
        if let Err(e) = self.store.sweep_holds(now).await {
            tracing::warn!(error = %e, "expired receipt holds not swept");
        }
    }
}

fn mark_revoked(hot: &Hot) {
    hot.revoked.store(true, Ordering::Release);
    hot.counts().local = 0;
}

/// Counts one served call off the estimate of calls left; the estimate after it.
fn count_down(left: &AtomicU64) -> u64 {
    let before = left
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            Some(n.saturating_sub(1))
        })
        .unwrap_or(0);
    before.saturating_sub(1)
}

/// Milliseconds on a monotonic clock (since this process first asked), for take rates.
fn mono_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let ms = START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
