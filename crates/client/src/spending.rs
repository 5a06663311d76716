//! What has been spent, per asset: reserved before signing so concurrent calls can never
//! overrun a budget together, and optionally kept in a file so a budget spans processes.
//!
//! A signed payment that left the client is held as [`Outstanding`] until its outcome is
//! proven: a paid answer (2xx, or a settlement header saying it landed) makes it spent (an `upto`
//! payment only what its settlement charged); any
//! other answer (402, 5xx, a refusal reason such as `invalid_exact_evm_payload_signature`, a
//! lost connection) leaves it reserved, because a dishonest server can settle a payment and
//! still answer 402, and the client cannot tell an honest refusal from that lie. Only the
//! chain can give it back: [`Spending::resolve`] with [`Verdict::Unspent`] once the payment
//! expired unused.

use std::path::PathBuf;
use std::sync::Mutex;

use tollgate_proto::U256;

use crate::outstanding::{Outstanding, Verdict};
use crate::policy::AssetKey;
use crate::spending_file::{self, State};

/// Spent amounts per asset, in memory or in a locked file shared by processes.
#[derive(Debug, Default)]
pub struct Spending {
    memory: Mutex<State>,
    file: Option<PathBuf>,
}

/// Why spending could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum SpendingError {
    #[error("spending file {0}: {1}")]
    File(String, String),
    #[error("would spend {wanted} on top of {spent}, over the budget of {budget}")]
    OverBudget {
        wanted: U256,
        spent: U256,
        budget: U256,
    },
}

impl Spending {
    /// Spending kept for this process only.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Spending kept in `path` (JSON), locked (`<path>.lock`) on every change so processes
    /// share one budget, and replaced atomically so it is never seen half-written.
    pub fn in_file(path: impl Into<PathBuf>) -> Self {
        Self {
            memory: Mutex::default(),
            file: Some(path.into()),
        }
    }

    /// What has been spent (or reserved) in `key`.
    pub fn spent(&self, key: &AssetKey) -> Result<U256, SpendingError> {
        self.with_state(|s| Ok(s.totals.get(&key.to_string()).copied().unwrap_or_default()))
    }

    /// Adds `amount` to `key` only if the total stays within `budget`; all or nothing.
    pub fn reserve(
        &self,
        key: &AssetKey,
        amount: U256,
        budget: Option<U256>,
    ) -> Result<(), SpendingError> {
        self.with_state(|s| {
            let spent = s.totals.get(&key.to_string()).copied().unwrap_or_default();
            let total = spent.checked_add(amount);
            match (total, budget) {
                (Some(total), Some(b)) if total <= b => {}
                (Some(_), None) => {}
                _ => {
                    return Err(SpendingError::OverBudget {
                        wanted: amount,
                        spent,
                        budget: budget.unwrap_or(U256::MAX),
                    });
                }
            }
            s.totals
                .insert(key.to_string(), total.expect("checked above"));
            Ok(())
        })
    }

    /// Returns a reservation whose payment certainly never left the client (signing failed).
    pub fn release(&self, key: &AssetKey, amount: U256) -> Result<(), SpendingError> {
        self.with_state(|s| {
            let e = s.totals.entry(key.to_string()).or_default();
            *e = e.saturating_sub(amount);
            Ok(())
        })
    }

    /// Records a reserved payment that is about to leave the client, before it is sent.
    pub fn hold(&self, entry: Outstanding) -> Result<(), SpendingError> {
        self.with_state(|s| {
            s.outstanding.retain(|o| o.id != entry.id);
            s.outstanding.push(entry);
            Ok(())
        })
    }

    /// Payment `id` landed charging `charged`, which may be less than was reserved for it (an
    /// `upto` payment reserves its maximum): the rest is given back, in one step with the
    /// payment leaving the outstanding list.
    pub fn settled(&self, id: &str, charged: U256) -> Result<(), SpendingError> {
        self.with_state(|s| {
            let Some(i) = s.outstanding.iter().position(|o| o.id == id) else {
                return Ok(());
            };
            let entry = s.outstanding.remove(i);
            let unspent = entry.amount.saturating_sub(charged);
            let e = s.totals.entry(entry.asset).or_default();
            *e = e.saturating_sub(unspent);
            Ok(())
        })
    }

    /// Payments still reserved without a proven outcome, oldest first.
    pub fn outstanding(&self) -> Result<Vec<Outstanding>, SpendingError> {
        self.with_state(|s| Ok(s.outstanding.clone()))
    }

    /// Applies the chain's verdict on payment `id`; true when its reservation was given back.
    /// An id already resolved (by another process sharing the file) changes nothing.
    pub fn resolve(&self, id: &str, verdict: Verdict) -> Result<bool, SpendingError> {
        if verdict == Verdict::Pending {
            return Ok(false);
        }
        self.with_state(|s| {
            let Some(i) = s.outstanding.iter().position(|o| o.id == id) else {
                return Ok(false);
            };
            let entry = s.outstanding.remove(i);
            if verdict == Verdict::Unspent {
                let e = s.totals.entry(entry.asset).or_default();
                *e = e.saturating_sub(entry.amount);
                return Ok(true);
            }
            Ok(false)
        })
    }

    fn with_state<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T, SpendingError>,
    ) -> Result<T, SpendingError> {
        let mut mem = self.memory.lock().expect("spending lock poisoned");
        let Some(path) = &self.file else {
            return f(&mut mem);
        };
        let shown = path.display().to_string();
        spending_file::update(path, |e| SpendingError::File(shown.clone(), e), f)
    }
}

#[cfg(test)]
#[path = "spending_tests.rs"]
mod tests;
