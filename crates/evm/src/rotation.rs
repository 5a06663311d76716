//! Keys that rotate without a restart: the signer set of a connected chain is replaced while
//! settlements run, and each signer's balance and place in the rotation is shown by address.

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;

use crate::chain::EvmChain;
use crate::error::EvmError;
use crate::signers::{SignerSlot, distinct};

/// One settlement signer as `/health` and `/metrics` show it: its address, never its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerStatus {
    pub address: Address,
    /// Wei at the last balance read; `None` until one succeeded.
    pub balance_wei: Option<U256>,
    /// Whether it signs new settlements (its balance is not below the minimum).
    pub in_rotation: bool,
}

/// What a signer-set change did, by address, for the operator's log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignerChange {
    pub added: Vec<Address>,
    pub retired: Vec<Address>,
    pub kept: usize,
}

impl SignerChange {
    /// Whether the set is the same as before.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.retired.is_empty()
    }
}

impl EvmChain {
    /// Makes `signers` the settlement keys. Kept keys keep their nonces; a new key (or one
    /// added again) starts from the chain's pending count, or resumes its own nonces while
    /// transactions it signed are still in flight; a retired key signs nothing new, and what
    /// it signed still finishes. New keys' balances are read first, so a new key below the
    /// minimum balance never signs. On an error (an empty set, an RPC failure) the current set
    /// stays.
    pub async fn set_signers(
        &self,
        signers: Vec<PrivateKeySigner>,
    ) -> Result<SignerChange, EvmError> {
        let _one_at_a_time = self.reload.lock().await;
        let signers = distinct(signers);
        if signers.is_empty() {
            return Err(EvmError::Config(
                "no settlement key given; the current keys stay".into(),
            ));
        }
        let current = self.signers.configured();
        let mut slots = Vec::with_capacity(signers.len());
        let mut fresh = Vec::new();
        for signer in signers {
            let address = signer.address();
            if let Some(kept) = current.iter().find(|s| s.address() == address) {
                slots.push(kept.clone());
                continue;
            }
            let pending = self
                .provider
                .get_transaction_count(address)
                .pending()
                .await
                .map_err(EvmError::rpc)?;
            let slot = match self.signers.find(address) {
                Some(held) => {
                    held.nonces.resync(pending);
                    held
                }
                None => SignerSlot::new(signer, pending),
            };
            fresh.push(slot.clone());
            slots.push(slot);
        }
        futures::future::join_all(fresh.iter().map(|s| self.check_balance_of(s))).await;
        let change = SignerChange {
            added: fresh.iter().map(|s| s.address()).collect(),
            retired: current
                .iter()
                .map(|s| s.address())
                .filter(|a| !slots.iter().any(|s| s.address() == *a))
                .collect(),
            kept: slots.len() - fresh.len(),
        };
        self.signers.replace(slots);
        Ok(change)
    }

    /// Every configured signer's address, last balance and whether it is in rotation.
    pub fn signer_status(&self) -> Vec<SignerStatus> {
        self.signers
            .configured()
            .iter()
            .map(|s| SignerStatus {
                address: s.address(),
                balance_wei: s.balance(),
                in_rotation: s.in_rotation(),
            })
            .collect()
    }

    /// The gas balance below which a signer leaves the rotation (zero: never).
    pub fn min_signer_balance(&self) -> U256 {
        self.cfg.min_signer_balance_wei
    }
}
