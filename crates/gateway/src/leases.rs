//! In-flight leases on payments, held in the store every gateway instance shares: while one
//! instance verifies, serves and settles a payment, its copies (respelled or not, sent to any
//! instance) are refused instead of running the handler again. A crashed holder's lease expires.

use std::sync::atomic::{AtomicU64, Ordering};

use tollgate_proto::clock::unix_now;
use tollgate_store::{GatewayStore, StoreError};

use crate::config::{ConfigError, GatewayConfig};

/// The shared store and this instance's name in it.
pub struct Leases {
    pub(crate) store: GatewayStore,
    instance: String,
    held: AtomicU64,
    ttl: u64,
}

/// A lease on one payment; given back by [`Hold::release`], or in the background when dropped.
pub struct Hold {
    store: GatewayStore,
    holder: String,
    id: String,
    released: bool,
}

impl Hold {
    /// Gives the lease back before the answer leaves, so the payer's retry of this payment
    /// (after a lost answer, say) is never told that it is still in flight.
    pub async fn release(mut self) {
        self.released = true;
        if let Err(e) = self.store.release(&self.id, &self.holder).await {
            tracing::warn!(error = %e, "in-flight lease not released; it expires by itself");
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (store, holder, id) = (self.store.clone(), self.holder.clone(), self.id.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = store.release(&id, &holder).await {
                    tracing::warn!(error = %e, "in-flight lease not released; it expires by itself");
                }
            });
        }
    }
}

impl Leases {
    /// Opens `store.database_url`, else the receipts' database, else a SQLite file in the temp
    /// directory that only this instance sees (said in the log: several instances need a shared one).
    pub async fn open(cfg: &GatewayConfig) -> Result<Self, ConfigError> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let url = cfg
            .store
            .database_url
            .clone()
            .or_else(|| cfg.receipts.as_ref().map(|r| r.database_url.clone()));
        let url = url.unwrap_or_else(|| {
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let file = std::env::temp_dir().join(format!(
                "tollgate-gateway-{}-{n}.db",
                std::process::id()
            ));
            tracing::info!(file = %file.display(), "no [store] database_url: in-flight leases and answers hold within this instance only");
            format!("sqlite://{}", file.display())
        });
        let store = GatewayStore::connect(&url)
            .await
            .map_err(|e| ConfigError::Invalid(format!("gateway store: {e}")))?;
        Ok(Self {
            store,
            instance: format!("{:016x}", rand::random::<u64>()),
            held: AtomicU64::new(0),
            ttl: cfg.store.inflight_seconds.max(1),
        })
    }

    /// Takes the lease on a payment identity, or `None` while another request holds it.
    pub async fn hold(&self, id: &str) -> Result<Option<Hold>, StoreError> {
        // Each hold has its own name, so a request whose lease expired and was taken over can
        // never give back its successor's.
        let n = self.held.fetch_add(1, Ordering::Relaxed);
        let holder = format!("{}-{n}", self.instance);
        let won = self
            .store
            .try_hold(id, &holder, unix_now(), self.ttl)
            .await?;
        Ok(won.then(|| Hold {
            store: self.store.clone(),
            holder,
            id: id.to_string(),
            released: false,
        }))
    }
}
