//! In-flight locks keyed by payment identity: a replayed header arriving while its twin is being
//! verified, served or settled is refused instead of running the handler a second time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The set of payment identities currently being processed by this instance.
#[derive(Clone, Default)]
pub struct InFlight {
    held: Arc<Mutex<HashSet<String>>>,
}

/// Holds one identity; releases it when dropped.
pub struct Held {
    set: InFlight,
    id: String,
}

impl InFlight {
    /// Takes the lock on `id`, or `None` when another request holds it.
    pub fn try_hold(&self, id: &str) -> Option<Held> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.insert(id.to_string()).then(|| Held {
            set: self.clone(),
            id: id.to_string(),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.set.held.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let f = InFlight::default();
        let a = f.try_hold("x").unwrap();
        assert!(f.try_hold("x").is_none());
        assert!(f.try_hold("y").is_some());
        drop(a);
        assert!(f.try_hold("x").is_some());
    }
}
