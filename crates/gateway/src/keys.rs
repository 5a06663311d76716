//! The receipt key ring in force, swapped whole at runtime so keys rotate without a restart: each
//! request signs or verifies under one consistent ring, and a rotation never waits on a request.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::receipt::{Claims, KeyRing, TokenError};

/// A shared, swappable [`KeyRing`]; clones share the ring, so a rotation reaches them all.
#[derive(Clone)]
pub struct ReceiptKeys(Arc<RwLock<Arc<KeyRing>>>);

/// What a rotation changed, by key id only (never secret material), for logs and callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Key ids that now verify and did not before.
    pub added: Vec<String>,
    /// Key ids retired: receipts they signed are now refused as `receipt_unknown_key`.
    pub removed: Vec<String>,
    /// Key ids kept whose secret changed: receipts signed before no longer verify.
    pub replaced: Vec<String>,
    /// Key id that signs new receipts from now on.
    pub signing: String,
    /// Key id that signed new receipts before.
    pub previous_signing: String,
}

impl Rotation {
    /// Whether the new ring differs from the old one at all.
    pub fn changed(&self) -> bool {
        !(self.added.is_empty() && self.removed.is_empty() && self.replaced.is_empty())
            || self.signing != self.previous_signing
    }
}

impl ReceiptKeys {
    /// Puts `ring` in force.
    pub fn new(ring: KeyRing) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(ring))))
    }

    /// The ring in force now; a later rotation leaves this snapshot as it is.
    pub fn current(&self) -> Arc<KeyRing> {
        // The lock only guards a pointer swap, so a panic elsewhere cannot leave it half-written.
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `ring` in force for every request that starts after this returns; requests under
    /// way finish with the ring they started with.
    pub fn rotate(&self, ring: KeyRing) -> Rotation {
        let next = Arc::new(ring);
        let previous = {
            let mut slot = self.0.write().unwrap_or_else(PoisonError::into_inner);
            std::mem::replace(&mut *slot, next.clone())
        };
        diff(&previous, &next)
    }

    /// Signs claims with the signing key in force.
    pub fn sign(&self, claims: &Claims) -> String {
        self.with(|ring| ring.sign(claims))
    }

    /// Verifies a token under the ring in force (see [`KeyRing::verify`]).
    pub fn verify(&self, token: &str, route: &str, now: u64) -> Result<Claims, TokenError> {
        self.with(|ring| ring.verify(token, route, now))
    }

    /// Runs `f` on the ring in force under the read lock: the hot path pays no reference count,
    /// and `f` is synchronous, so the lock is never held across an await.
    fn with<R>(&self, f: impl FnOnce(&KeyRing) -> R) -> R {
        let ring = self.0.read().unwrap_or_else(PoisonError::into_inner);
        f(&ring)
    }
}

impl From<KeyRing> for ReceiptKeys {
    fn from(ring: KeyRing) -> Self {
        Self::new(ring)
    }
}

impl fmt::Debug for ReceiptKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // KeyRing's Debug names key ids only.
        f.debug_tuple("ReceiptKeys").field(&self.current()).finish()
    }
}

/// What changed from `old` to `new`.
fn diff(old: &KeyRing, new: &KeyRing) -> Rotation {
    let in_old = |k: &str| old.kids().any(|o| o == k);
    let in_new = |k: &str| new.kids().any(|n| n == k);
    Rotation {
        added: new
            .kids()
            .filter(|k| !in_old(k))
            .map(String::from)
            .collect(),
        removed: old
            .kids()
            .filter(|k| !in_new(k))
            .map(String::from)
            .collect(),
        replaced: new
            .kids()
            .filter(|k| old.secret_differs(new, k))
            .map(String::from)
            .collect(),
        signing: new.signing_kid().to_string(),
        previous_signing: old.signing_kid().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipt::tests::ring;

    fn claims() -> Claims {
        Claims {
            rid: "r1".into(),
            payer: "0xabc".into(),
            routes: vec!["signals".into()],
            exp: 100,
        }
    }

    #[test]
    fn rotation_reaches_every_clone_and_keeps_kept_keys() {
        let keys = ReceiptKeys::new(ring(&[("k1", 1)], "k1"));
        let other = keys.clone();
        let old = keys.sign(&claims());
        let r = keys.rotate(ring(&[("k1", 1), ("k2", 2)], "k2"));
        assert_eq!(r.added, ["k2"]);
        assert!(r.removed.is_empty() && r.replaced.is_empty());
        assert_eq!(r.signing, "k2");
        assert!(r.changed());
        assert!(other.verify(&old, "signals", 1).is_ok());
        assert!(other.sign(&claims()).starts_with("tg1.k2."));
        let r = other.rotate(ring(&[("k2", 2)], "k2"));
        assert_eq!(r.removed, ["k1"]);
        assert_eq!(keys.verify(&old, "signals", 1), Err(TokenError::UnknownKey));
    }

    #[test]
    fn a_snapshot_outlives_a_rotation() {
        let keys = ReceiptKeys::new(ring(&[("k1", 1)], "k1"));
        let snapshot = keys.current();
        keys.rotate(ring(&[("k2", 2)], "k2"));
        assert_eq!(snapshot.signing_kid(), "k1");
        assert_eq!(keys.current().signing_kid(), "k2");
    }

    #[test]
    fn a_new_secret_under_an_old_id_is_reported() {
        let keys = ReceiptKeys::new(ring(&[("k1", 1)], "k1"));
        let r = keys.rotate(ring(&[("k1", 9)], "k1"));
        assert_eq!(r.replaced, ["k1"]);
        assert!(r.changed());
        let same = keys.rotate(ring(&[("k1", 9)], "k1"));
        assert!(!same.changed());
    }

    #[test]
    fn debug_names_ids_only() {
        let keys = ReceiptKeys::new(ring(&[("k1", 0xab)], "k1"));
        let text = format!("{keys:?}");
        assert!(text.contains("k1"), "{text}");
        assert!(!text.to_lowercase().contains(&"ab".repeat(8)), "{text}");
        assert!(!text.contains("171"), "{text}");
    }
}
