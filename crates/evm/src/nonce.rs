//! Per-signer transaction nonces handed out locally so settlements pipeline within a block.

use std::collections::BTreeSet;

use std::sync::Mutex;

/// Hands out nonces for one signer; a nonce whose send was refused is handed out again first,
/// so one failed send never leaves a gap that stalls every later settlement. Synchronous: no
/// await can fall between taking a nonce and recording what it was taken for.
#[derive(Debug)]
pub(crate) struct NonceManager {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    next: u64,
    returned: BTreeSet<u64>,
}

impl NonceManager {
    pub(crate) fn new(next: u64) -> Self {
        Self {
            state: Mutex::new(State {
                next,
                returned: BTreeSet::new(),
            }),
        }
    }

    /// The lowest free nonce.
    pub(crate) fn acquire(&self) -> u64 {
        let mut s = self.state.lock().expect("nonce lock");
        if let Some(n) = s.returned.pop_first() {
            return n;
        }
        s.next += 1;
        s.next - 1
    }

    /// Gives back a nonce whose transaction the node refused.
    pub(crate) fn give_back(&self, nonce: u64) {
        let mut s = self.state.lock().expect("nonce lock");
        if nonce < s.next {
            s.returned.insert(nonce);
        }
    }

    /// Re-aligns with the chain's pending count after the node said our nonce was stale.
    pub(crate) fn resync(&self, chain_next: u64) {
        let mut s = self.state.lock().expect("nonce lock");
        s.returned.retain(|n| *n >= chain_next);
        s.next = s.next.max(chain_next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_nonce_is_reused_first() {
        let m = NonceManager::new(5);
        assert_eq!(m.acquire(), 5);
        assert_eq!(m.acquire(), 6);
        m.give_back(5);
        assert_eq!(m.acquire(), 5);
        assert_eq!(m.acquire(), 7);
        m.give_back(6);
        m.resync(9);
        assert_eq!(m.acquire(), 9);
    }

    #[test]
    fn resync_never_moves_below_nonces_still_unsent() {
        // A key added back while its nonce 3 is signed but unsent: the chain counts only 3.
        let m = NonceManager::new(3);
        assert_eq!(m.acquire(), 3);
        m.resync(3);
        assert_eq!(m.acquire(), 4, "3 stays with its transaction");
    }
}
