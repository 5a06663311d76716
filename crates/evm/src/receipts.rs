//! One background poller for every settlement awaiting its receipt: each tick asks the node for
//! all outstanding hashes in a single JSON-RPC batch instead of one poll loop per settlement.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use alloy::primitives::B256;
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::client::BatchRequest;
use alloy::rpc::types::TransactionReceipt;
use tokio::sync::{Mutex, Notify, oneshot};

/// Largest number of receipts asked for in one batch.
const BATCH: usize = 256;

type Waiters = HashMap<B256, Vec<oneshot::Sender<bool>>>;

/// Delivers `status` (true = success) of mined transactions to whoever waits on them.
pub(crate) struct ReceiptWatcher {
    waiting: Mutex<Waiters>,
    wake: Notify,
}

impl ReceiptWatcher {
    /// Starts the poller; it stops when the last handle is dropped.
    pub(crate) fn spawn(provider: RootProvider, every: Duration) -> Arc<Self> {
        let me = Arc::new(Self {
            waiting: Mutex::new(HashMap::new()),
            wake: Notify::new(),
        });
        tokio::spawn(poll_loop(Arc::downgrade(&me), provider, every));
        me
    }

    /// A receiver that yields the receipt status once the transaction is mined.
    pub(crate) async fn watch(&self, hash: B256) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().await.entry(hash).or_default().push(tx);
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

async fn poll_loop(me: Weak<ReceiptWatcher>, provider: RootProvider, every: Duration) {
    loop {
        let Some(watcher) = me.upgrade() else { return };
        let hashes = watcher.outstanding().await;
        if hashes.is_empty() {
            // Re-check liveness every few seconds so a dropped chain stops this task.
            let _ = tokio::time::timeout(Duration::from_secs(5), watcher.wake.notified()).await;
            continue;
        }
        tokio::time::sleep(every).await;
        for chunk in hashes.chunks(BATCH) {
            match fetch(&provider, chunk).await {
                Ok(found) => {
                    for (hash, status) in found {
                        watcher.deliver(hash, status).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "receipt poll failed; retrying next tick"),
            }
        }
    }
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
