//! One background poller for every settlement awaiting its receipt. While any settlement waits,
//! each tick asks only for the chain head (one cheap call); receipts are fetched, all outstanding
//! hashes in one JSON-RPC batch, when the head moves or a new hash starts waiting. So a landing
//! is seen within one tick of its block, without a fixed receipt poll per settlement.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use alloy::primitives::B256;
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::client::BatchRequest;
use alloy::rpc::types::TransactionReceipt;
use tokio::sync::{Mutex, Notify, oneshot};

/// Largest number of receipts asked for in one batch.
const BATCH: usize = 256;

type Waiters = HashMap<B256, Vec<oneshot::Sender<bool>>>;

/// Delivers `status` (true = success) of mined transactions to whoever waits on them.
pub(crate) struct LandingWatcher {
    waiting: Mutex<Waiters>,
    /// Hashes that started waiting since the last receipt fetch.
    fresh: AtomicBool,
    wake: Notify,
}

impl LandingWatcher {
    /// Starts the poller; it stops when the last handle is dropped.
    pub(crate) fn spawn(provider: RootProvider, every: Duration) -> Arc<Self> {
        let me = Arc::new(Self {
            waiting: Mutex::new(HashMap::new()),
            fresh: AtomicBool::new(false),
            wake: Notify::new(),
        });
        tokio::spawn(poll_loop(Arc::downgrade(&me), provider, every));
        me
    }

    /// A receiver that yields the receipt status once the transaction is mined.
    pub(crate) async fn watch(&self, hash: B256) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().await.entry(hash).or_default().push(tx);
        self.fresh.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        rx
    }

    /// Hashes someone still waits for; forgets those whose waiters all gave up.
    async fn outstanding(&self) -> Vec<B256> {
        let mut w = self.waiting.lock().await;
        w.retain(|_, senders| {
            senders.retain(|s| !s.is_closed());
            !senders.is_empty()
        });
        w.keys().copied().collect()
    }

    async fn deliver(&self, hash: B256, status: bool) {
        if let Some(senders) = self.waiting.lock().await.remove(&hash) {
            for s in senders {
                let _ = s.send(status);
            }
        }
    }
}

async fn poll_loop(me: Weak<LandingWatcher>, provider: RootProvider, every: Duration) {
    let mut head = None;
    let mut pace = Pace::new(every);
    loop {
        let Some(watcher) = me.upgrade() else { return };
        if watcher.outstanding().await.is_empty() {
            // Re-check liveness every few seconds so a dropped chain stops this task.
            let _ = tokio::time::timeout(Duration::from_secs(5), watcher.wake.notified()).await;
            continue;
        }
        let now = match provider.get_block_number().await {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(error = %e, "chain head poll failed; retrying next tick");
                None
            }
        };
        let moved = now.is_some() && now != head;
        if moved {
            pace.head_moved(Instant::now());
        }
        if moved || watcher.fresh.swap(false, Ordering::SeqCst) {
            if fetch_all(&watcher, &provider).await {
                head = now.or(head);
            } else {
                watcher.fresh.store(true, Ordering::SeqCst);
            }
        }
        drop(watcher);
        tokio::time::sleep(pace.tick()).await;
    }
}

/// How long to wait between head checks: an eighth of the observed block interval, never
/// shorter than the configured tick nor longer than half a second. A 2-second chain is asked
/// four times a second; a local chain that mines on demand, at the tick.
struct Pace {
    floor: Duration,
    last_move: Option<Instant>,
    block_interval: Duration,
}

impl Pace {
    fn new(floor: Duration) -> Self {
        Self {
            floor,
            last_move: None,
            block_interval: floor,
        }
    }

    fn head_moved(&mut self, now: Instant) {
        if let Some(prev) = self.last_move {
            // A moving average: one slow block does not slow every later check.
            self.block_interval = (self.block_interval * 3 + now.duration_since(prev)) / 4;
        }
        self.last_move = Some(now);
    }

    fn tick(&self) -> Duration {
        (self.block_interval / 8).clamp(self.floor, Duration::from_millis(500).max(self.floor))
    }
}

/// Fetches the receipts of every outstanding hash; `false` if any batch failed.
async fn fetch_all(watcher: &LandingWatcher, provider: &RootProvider) -> bool {
    let hashes = watcher.outstanding().await;
    let mut ok = true;
    for chunk in hashes.chunks(BATCH) {
        match fetch(provider, chunk).await {
            Ok(found) => {
                for (hash, status) in found {
                    watcher.deliver(hash, status).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "receipt poll failed; retrying next tick");
                ok = false;
            }
        }
    }
    ok
}

async fn fetch(provider: &RootProvider, hashes: &[B256]) -> Result<Vec<(B256, bool)>, String> {
    let mut batch = BatchRequest::new(provider.client());
    let mut pending = Vec::with_capacity(hashes.len());
    for h in hashes {
        let waiter = batch
            .add_call::<_, Option<TransactionReceipt>>("eth_getTransactionReceipt", &(h,))
            .map_err(|e| e.to_string())?;
        pending.push((*h, waiter));
    }
    batch.send().await.map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    for (h, waiter) in pending {
        if let Some(r) = waiter.await.map_err(|e| e.to_string())? {
            found.push((h, r.status()));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_follows_the_block_interval_within_bounds() {
        let floor = Duration::from_millis(25);
        let mut p = Pace::new(floor);
        assert_eq!(p.tick(), floor, "nothing seen yet: the tick");
        let t0 = Instant::now();
        for i in 0..40 {
            p.head_moved(t0 + Duration::from_millis(2_000) * i);
        }
        let t = p.tick();
        assert!(
            t > Duration::from_millis(200) && t <= Duration::from_millis(500),
            "{t:?}"
        );
        for i in 0..40 {
            p.head_moved(t0 + Duration::from_secs(80) + Duration::from_millis(10) * i);
        }
        assert_eq!(
            p.tick(),
            floor,
            "a chain mining on demand is checked at the tick"
        );
    }
}
