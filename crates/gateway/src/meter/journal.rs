//! The one writer of this instance's holds: takes and served calls go through it in order, so
//! what it learns from each write (the hold after it) sets the calls held here exactly. Served
//! calls that arrive while one write is under way go into the next write together (group
//! commit): a busy receipt costs one store write per batch, not per call.

use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};
use tollgate_proto::clock::unix_now;
use tollgate_store::{Grant, ReceiptStore};

use super::hot::Hot;

/// Most jobs handled by one round of writes.
const MAX_BATCH: usize = 4096;

/// What became of one call sent to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// On the store: the answer may go out.
    Yes,
    /// Neither the hold nor the receipt had a call for it.
    Refused,
    /// The store failed; nothing was recorded (the call is held here again).
    Failed(String),
}

enum Job {
    /// A served call to record.
    Spend(Arc<Hot>, oneshot::Sender<Recorded>),
    /// Every hold of this instance back to the store, after the jobs queued before it.
    Release(oneshot::Sender<Result<u64, String>>),
    /// A take of `want` calls; the answer, when someone waits for it.
    Take(
        Arc<Hot>,
        u64,
        Option<oneshot::Sender<Result<Grant, String>>>,
    ),
}

/// The writer's mailbox; the writer starts on first use, inside the runtime that uses it.
pub(crate) struct Journal {
    store: ReceiptStore,
    holder: Arc<str>,
    hold_secs: u64,
    tx: OnceLock<mpsc::UnboundedSender<Job>>,
}

impl Journal {
    pub(crate) fn new(store: ReceiptStore, holder: Arc<str>, hold_secs: u64) -> Self {
        Self {
            store,
            holder,
            hold_secs,
            tx: OnceLock::new(),
        }
    }

    fn send(&self, job: Job) -> bool {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let w = Writer {
                store: self.store.clone(),
                holder: self.holder.clone(),
                hold_secs: self.hold_secs,
            };
            tokio::spawn(w.run(rx));
            tx
        });
        tx.send(job).is_ok()
    }

    /// Records one served call (reserved from `hot`'s held calls), in the next batch.
    pub(crate) async fn record(&self, hot: Arc<Hot>) -> Recorded {
        let (done, answer) = oneshot::channel();
        if !self.send(Job::Spend(hot.clone(), done)) {
            hot.counts().refund(1);
            return Recorded::Failed("receipt journal stopped".into());
        }
        answer
            .await
            .unwrap_or_else(|_| Recorded::Failed("receipt journal stopped".into()))
    }

    /// Takes up to `want` calls into this instance's hold and waits for the answer.
    pub(crate) async fn take(&self, hot: Arc<Hot>, want: u64) -> Result<Grant, String> {
        let (done, answer) = oneshot::channel();
        if !self.send(Job::Take(hot, want, Some(done))) {
            return Err("receipt journal stopped".into());
        }
        answer
            .await
            .unwrap_or_else(|_| Err("receipt journal stopped".into()))
    }

    /// Gives every hold back once the jobs queued before have run; how many calls went back.
    pub(crate) async fn release(&self) -> Result<u64, String> {
        let (done, answer) = oneshot::channel();
        if !self.send(Job::Release(done)) {
            return Err("receipt journal stopped".into());
        }
        answer
            .await
            .unwrap_or_else(|_| Err("receipt journal stopped".into()))
    }

    /// Starts a take without waiting for it; `false` when the writer is gone.
    pub(crate) fn take_later(&self, hot: Arc<Hot>, want: u64) -> bool {
        self.send(Job::Take(hot, want, None))
    }
}

struct Writer {
    store: ReceiptStore,
    holder: Arc<str>,
    hold_secs: u64,
}

impl Writer {
    /// Runs until every sender is gone: takes what has queued, writes it, answers each.
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Job>) {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let mut spends: Vec<(Arc<Hot>, Vec<oneshot::Sender<Recorded>>)> = Vec::new();
            for job in batch.drain(..) {
                match job {
                    Job::Take(hot, want, done) => self.take(&hot, want, done).await,
                    Job::Release(done) => {
                        let back = self.store.release_holds(&self.holder).await;
                        let _ = done.send(back.map_err(|e| e.to_string()));
                    }
                    Job::Spend(hot, done) => {
                        match spends.iter_mut().find(|(h, _)| Arc::ptr_eq(h, &hot)) {
                            Some((_, waiting)) => waiting.push(done),
                            None => spends.push((hot, vec![done])),
                        }
                    }
                }
            }
            if !spends.is_empty() {
                self.spend(spends).await;
            }
        }
    }

    async fn take(
        &self,
        hot: &Hot,
        want: u64,
        done: Option<oneshot::Sender<Result<Grant, String>>>,
    ) {
        let now = unix_now();
        let got = self
            .store
            .take_held(&hot.rid, &self.holder, want, now, self.hold_secs)
            .await;
        let answer = match got {
            Ok(g) => {
                hot.took(&g, now);
                Ok(g)
            }
            Err(e) => {
                tracing::warn!(error = %e, "receipt take failed");
                Err(e.to_string())
            }
        };
        hot.taking
            .store(false, std::sync::atomic::Ordering::Release);
        if let Some(done) = done {
            let _ = done.send(answer);
        }
    }

    async fn spend(&self, spends: Vec<(Arc<Hot>, Vec<oneshot::Sender<Recorded>>)>) {
        let now = unix_now();
        let list: Vec<(&str, u64)> = spends
            .iter()
            .map(|(h, w)| (&*h.rid, w.len() as u64))
            .collect();
        match self
            .store
            .spend_held(&self.holder, &list, now, self.hold_secs)
            .await
        {
            Ok(done) => {
                for ((hot, waiting), spent) in spends.into_iter().zip(done) {
                    hot.spent(waiting.len() as u64, spent, now);
                    for (i, w) in waiting.into_iter().enumerate() {
                        let ok = (i as u64) < spent.recorded;
                        // A caller that went away leaves its call recorded and unanswered.
                        let _ = w.send(if ok { Recorded::Yes } else { Recorded::Refused });
                    }
                }
            }
            Err(e) => {
                let why = e.to_string();
                for (hot, waiting) in spends {
                    hot.counts().refund(waiting.len() as u64);
                    for w in waiting {
                        let _ = w.send(Recorded::Failed(why.clone()));
                    }
                }
            }
        }
    }
}
