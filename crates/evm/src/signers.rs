//! The settlement signers of one chain: a set that can be replaced while settlements run, each
//! key with its own nonce manager and last known gas balance, and the rotation (the signers with
//! enough gas money) that the next settlement is signed from.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;

use crate::nonce::NonceManager;

/// One settlement key with its nonces and last known balance. Shared by `Arc`: a transaction
/// signed in flight holds its slot, so retiring the key never strands that transaction.
pub(crate) struct SignerSlot {
    pub(crate) signer: PrivateKeySigner,
    pub(crate) nonces: NonceManager,
    /// Wei at the last balance read; `None` until one succeeded.
    balance: Mutex<Option<U256>>,
    /// Whether that balance was below the chain's minimum.
    low: AtomicBool,
}

/// Never prints the key: the address only.
impl std::fmt::Debug for SignerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerSlot")
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

impl SignerSlot {
    /// A slot whose next nonce is `next` (the chain's pending count for the key).
    pub(crate) fn new(signer: PrivateKeySigner, next: u64) -> Arc<Self> {
        Arc::new(Self {
            signer,
            nonces: NonceManager::new(next),
            balance: Mutex::new(None),
            low: AtomicBool::new(false),
        })
    }

    /// The key's public address.
    pub(crate) fn address(&self) -> Address {
        self.signer.address()
    }

    /// Records a balance read against `min`; returns whether the slot is now low, when that
    /// changed.
    pub(crate) fn record_balance(&self, wei: U256, min: U256) -> Option<bool> {
        *self.balance.lock().expect("balance lock") = Some(wei);
        let low = wei < min;
        (self.low.swap(low, Ordering::SeqCst) != low).then_some(low)
    }

    /// Wei at the last balance read.
    pub(crate) fn balance(&self) -> Option<U256> {
        *self.balance.lock().expect("balance lock")
    }

    /// Whether the slot may sign: its balance was not below the minimum at the last read.
    pub(crate) fn in_rotation(&self) -> bool {
        !self.low.load(Ordering::SeqCst)
    }
}

/// `signers` without repeats of an address, in order: one key, one nonce manager.
pub(crate) fn distinct(signers: Vec<PrivateKeySigner>) -> Vec<PrivateKeySigner> {
    let mut seen = HashSet::new();
    signers
        .into_iter()
        .filter(|s| seen.insert(s.address()))
        .collect()
}

/// The configured signers and, of those, the ones in rotation; replaced as a whole.
struct Sets {
    configured: Arc<[Arc<SignerSlot>]>,
    rotation: Arc<[Arc<SignerSlot>]>,
}

impl Sets {
    fn of(configured: Arc<[Arc<SignerSlot>]>) -> Self {
        let rotation = configured
            .iter()
            .filter(|s| s.in_rotation())
            .cloned()
            .collect();
        Self {
            configured,
            rotation,
        }
    }
}

/// The signer set of one chain, replaceable at runtime. Its locks are never held across an
/// await: each call takes a snapshot or swaps one in.
pub(crate) struct SignerPool {
    sets: RwLock<Sets>,
    next: AtomicUsize,
    /// Every slot still alive, by address: a key retired while its transactions are in flight
    /// and added again resumes with the nonces it handed out.
    known: Mutex<HashMap<Address, Weak<SignerSlot>>>,
}

impl SignerPool {
    /// A pool of `slots` (at least one).
    pub(crate) fn new(slots: Vec<Arc<SignerSlot>>) -> Self {
        let pool = Self {
            sets: RwLock::new(Sets::of(Vec::new().into())),
            next: AtomicUsize::new(0),
            known: Mutex::new(HashMap::new()),
        };
        pool.replace(slots);
        pool
    }

    /// The signer of the next settlement, round-robin over the rotation. When every signer is
    /// below the minimum balance they all sign on: the node refuses a transaction its signer
    /// cannot pay for, and refusing every payment up front would only be worse.
    pub(crate) fn next(&self) -> Arc<SignerSlot> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let sets = self.sets.read().expect("signer set lock");
        let from = if sets.rotation.is_empty() {
            &sets.configured
        } else {
            &sets.rotation
        };
        from[n % from.len()].clone()
    }

    /// Every configured signer, in order.
    pub(crate) fn configured(&self) -> Arc<[Arc<SignerSlot>]> {
        self.sets
            .read()
            .expect("signer set lock")
            .configured
            .clone()
    }

    /// Whether `slot` is one of the configured signers (not retired).
    pub(crate) fn is_configured(&self, slot: &Arc<SignerSlot>) -> bool {
        self.configured().iter().any(|s| Arc::ptr_eq(s, slot))
    }

    /// The live slot of `address`, configured or retired but still held by work in flight.
    pub(crate) fn find(&self, address: Address) -> Option<Arc<SignerSlot>> {
        self.known
            .lock()
            .expect("known signers lock")
            .get(&address)
            .and_then(Weak::upgrade)
    }

    /// Makes `slots` the configured set; the slots left out sign nothing new.
    pub(crate) fn replace(&self, slots: Vec<Arc<SignerSlot>>) {
        {
            let mut known = self.known.lock().expect("known signers lock");
            known.retain(|_, w| w.strong_count() > 0);
            for s in &slots {
                known.insert(s.address(), Arc::downgrade(s));
            }
        }
        *self.sets.write().expect("signer set lock") = Sets::of(slots.into());
    }

    /// Recomputes the rotation from each slot's last balance read; returns its size.
    pub(crate) fn rerank(&self) -> usize {
        let mut sets = self.sets.write().expect("signer set lock");
        *sets = Sets::of(sets.configured.clone());
        sets.rotation.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> Arc<SignerSlot> {
        SignerSlot::new(PrivateKeySigner::random(), 0)
    }

    #[test]
    fn low_signers_leave_rotation_until_every_one_is_low() {
        let (a, b) = (slot(), slot());
        let pool = SignerPool::new(vec![a.clone(), b.clone()]);
        let min = U256::from(100u64);
        assert_eq!(a.record_balance(U256::from(5u64), min), Some(true));
        assert_eq!(a.record_balance(U256::from(6u64), min), None, "no change");
        assert_eq!(pool.rerank(), 1);
        for _ in 0..4 {
            assert_eq!(pool.next().address(), b.address());
        }
        b.record_balance(U256::ZERO, min);
        assert_eq!(pool.rerank(), 0);
        let both: std::collections::HashSet<_> = (0..4).map(|_| pool.next().address()).collect();
        assert_eq!(both.len(), 2, "all low: every signer signs on");
    }

    #[test]
    fn a_retired_slot_stays_findable_while_held() {
        let (a, b) = (slot(), slot());
        let pool = SignerPool::new(vec![a.clone(), b.clone()]);
        let addr_a = a.address();
        pool.replace(vec![b.clone()]);
        assert!(pool.find(addr_a).is_some(), "held by in-flight work");
        assert!((0..4).all(|_| pool.next().address() == b.address()));
        drop(a);
        pool.replace(vec![b]);
        assert!(pool.find(addr_a).is_none(), "dropped once nothing holds it");
    }
}
