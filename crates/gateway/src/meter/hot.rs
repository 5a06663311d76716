//! What this instance knows of one receipt: the calls it holds, reserved and left, and when it
//! last took or renewed its hold. Shared by the meter and its store writer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tollgate_store::{Grant, Spent};

/// Calls held here: `local` not yet reserved, `inflight` reserved by requests and not yet
/// recorded or given back. The hold in the store holds `local + inflight`; the writer sets
/// `local` from the hold after each of its writes.
#[derive(Default)]
pub(super) struct Counts {
    pub(super) local: u64,
    pub(super) inflight: u64,
}

impl Counts {
    /// Gives back `n` reserved calls that were not recorded.
    pub(super) fn refund(&mut self, n: u64) {
        self.local += n;
        self.inflight = self.inflight.saturating_sub(n);
    }
}

/// One receipt as this instance knows it.
pub(super) struct Hot {
    pub(super) rid: Arc<str>,
    pub(super) payer: String,
    /// Unlimited calls until expiry (a time-window bundle).
    pub(super) unlimited: bool,
    pub(super) counts: Mutex<Counts>,
    /// Calls left anywhere, as last read and counted down since (for the client).
    pub(super) left: AtomicU64,
    /// Nothing is left anywhere.
    pub(super) exhausted: AtomicBool,
    /// The payment behind the receipt failed; nothing is served.
    pub(super) revoked: AtomicBool,
    /// When the hold was last renewed (unix seconds): an older one may have expired and gone.
    pub(super) renewed_at: AtomicU64,
    /// Size of the last take, when it was made (`mono_ms`), and calls reserved since.
    pub(super) last_grant: AtomicU64,
    pub(super) took_at_ms: AtomicU64,
    pub(super) since_take: AtomicU64,
    /// Until when (`mono_ms`) a take that found every call held is not tried again, and that
    /// answer's seconds, so refused callers do not hammer the store.
    pub(super) held_retry_at: AtomicU64,
    pub(super) held_secs: AtomicU64,
    /// A background take is queued.
    pub(super) taking: AtomicBool,
    /// Serialises waiting takes so concurrent callers take once, not many times.
    pub(super) refill: tokio::sync::Mutex<()>,
}

impl Hot {
    pub(super) fn new(rid: &str, r: tollgate_store::ReceiptRow) -> Self {
        Self {
            rid: rid.into(),
            payer: r.payer,
            unlimited: r.calls_left.is_none(),
            counts: Mutex::default(),
            left: AtomicU64::new(r.calls_left.unwrap_or(0)),
            exhausted: AtomicBool::new(false),
            revoked: AtomicBool::new(r.revoked_at.is_some()),
            renewed_at: AtomicU64::new(0),
            last_grant: AtomicU64::new(0),
            took_at_ms: AtomicU64::new(0),
            since_take: AtomicU64::new(0),
            held_retry_at: AtomicU64::new(0),
            held_secs: AtomicU64::new(0),
            taking: AtomicBool::new(false),
            refill: tokio::sync::Mutex::new(()),
        }
    }

    pub(super) fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a take: the hold as the store has it now.
    pub(super) fn took(&self, g: &Grant, now: u64) {
        let mut c = self.counts();
        c.local = g.own.saturating_sub(c.inflight);
        drop(c);
        self.renewed_at.store(now, Ordering::Release);
        self.last_grant.store(g.granted, Ordering::Relaxed);
        self.left.store(g.left, Ordering::Relaxed);
        if g.left == 0 {
            self.exhausted.store(true, Ordering::Release);
        }
    }

    /// After `n` reserved calls were sent to the store: the hold as it has it now.
    pub(super) fn spent(&self, n: u64, s: Spent, now: u64) {
        let mut c = self.counts();
        c.inflight = c.inflight.saturating_sub(n);
        c.local = s.own.saturating_sub(c.inflight);
        drop(c);
        if s.recorded == n {
            self.renewed_at.store(now, Ordering::Release);
        }
    }

    /// Whether the hold may have lapsed (and been taken back by another instance): its calls
    /// are then not trusted until a take renews it.
    pub(super) fn stale(&self, now: u64, hold_secs: u64) -> bool {
        now >= self.renewed_at.load(Ordering::Acquire) + hold_secs / 2
    }

    /// Whether a call can be reserved without a take.
    pub(super) fn usable(&self, now: u64, hold_secs: u64) -> bool {
        !self.stale(now, hold_secs) && self.counts().local > 0
    }

    /// Reserves a held call unless the hold may have lapsed; the calls still held after it.
    pub(super) fn reserve(&self, now: u64, hold_secs: u64) -> Option<u64> {
        if self.stale(now, hold_secs) {
            return None;
        }
        let mut c = self.counts();
        if c.local == 0 {
            return None;
        }
        c.local -= 1;
        c.inflight += 1;
        Some(c.local)
    }
}
