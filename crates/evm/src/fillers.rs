//! Nonce gap fillers: 0-value self-transfers that spend a nonce no settlement will use (one
//! signed and never sent). A node may drop a filler from its pool, and the gap it leaves holds
//! back every later transaction of its signer, so each is kept until it is seen mined and sent
//! again while a settlement sits unmined. A kept filler holds its signer's slot, so the slot's
//! nonces live on even if its key is retired and added back: its nonce is never handed out again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use tollgate_proto::SignedTx;

use crate::signers::SignerSlot;

/// Shortest pause between two passes over the fillers, however many settlements are stuck.
const PASS_EVERY: Duration = Duration::from_secs(10);

/// A filler sent and not yet seen mined.
#[derive(Clone)]
pub(crate) struct Filler {
    pub slot: Arc<SignerSlot>,
    pub nonce: u64,
    pub raw: Vec<u8>,
}

impl Filler {
    /// The address whose nonce it spends.
    pub fn from(&self) -> Address {
        self.slot.address()
    }
}

/// The fillers a chain has sent and not yet seen mined. Never locked across an await.
#[derive(Default)]
pub(crate) struct Fillers {
    kept: Mutex<Vec<Filler>>,
    last_pass: Mutex<Option<Instant>>,
}

impl Fillers {
    /// Keeps (or, for a nonce already kept, updates) a filler until it is seen mined.
    pub(crate) fn keep(&self, slot: &Arc<SignerSlot>, nonce: u64, tx: &SignedTx) {
        let mut kept = self.kept.lock().expect("fillers lock");
        kept.retain(|f| !(Arc::ptr_eq(&f.slot, slot) && f.nonce == nonce));
        kept.push(Filler {
            slot: slot.clone(),
            nonce,
            raw: tx.raw.clone(),
        });
    }

    /// Every filler kept, when a pass over them is due (none is under way or recent).
    pub(crate) fn due(&self) -> Option<Vec<Filler>> {
        let mut last = self.last_pass.lock().expect("fillers lock");
        if last.is_some_and(|t| t.elapsed() < PASS_EVERY) {
            return None;
        }
        let kept = self.kept.lock().expect("fillers lock").clone();
        if !kept.is_empty() {
            *last = Some(Instant::now());
        }
        Some(kept)
    }

    /// Drops a filler whose nonce is spent, by it or by any other transaction.
    pub(crate) fn forget(&self, f: &Filler) {
        self.kept
            .lock()
            .expect("fillers lock")
            .retain(|k| !(Arc::ptr_eq(&k.slot, &f.slot) && k.nonce == f.nonce));
    }
}
