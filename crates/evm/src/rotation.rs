//! Keys that rotate without a restart: the signer set of a connected chain is replaced while
//! settlements run, and signers short of gas money leave the rotation until refilled.

use std::collections::HashSet;
use std::sync::Arc;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;

use crate::chain::{EvmChain, EvmError};
use crate::rpc::error_text;
use crate::signers::SignerSlot;

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

/// `signers` without repeats of an address, in order: one key, one nonce manager.
pub(crate) fn distinct(signers: Vec<PrivateKeySigner>) -> Vec<PrivateKeySigner> {
    let mut seen = HashSet::new();
    signers
        .into_iter()
        .filter(|s| seen.insert(s.address()))
        .collect()
}

/// Re-reads signer balances every `signer_check_every` for as long as the chain lives.
pub(crate) fn spawn_balance_checks(chain: &Arc<EvmChain>) {
    let every = chain.cfg.signer_check_every;
    let chain = Arc::downgrade(chain);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(chain) = chain.upgrade() else { return };
            chain.check_balances().await;
        }
    });
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
                .map_err(|e| EvmError::Rpc(error_text(&e)))?;
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

    /// Reads every signer's gas balance and updates the rotation: a signer below
    /// `min_signer_balance_wei` leaves it, a refilled one comes back. A failed read keeps the
    /// signer as it was.
    pub async fn check_balances(&self) {
        let slots = self.signers.configured();
        futures::future::join_all(slots.iter().map(|s| self.read_balance(s))).await;
        self.rerank(slots.len());
    }

    /// Re-reads one signer's balance (after the node refused its transaction for want of gas).
    pub(crate) async fn check_balance_of(&self, slot: &Arc<SignerSlot>) {
        self.read_balance(slot).await;
        self.rerank(self.signers.configured().len());
    }

    async fn read_balance(&self, slot: &SignerSlot) {
        let address = slot.address();
        let min = self.cfg.min_signer_balance_wei;
        match self.provider.get_balance(address).await {
            Ok(wei) => match slot.record_balance(wei, min) {
                Some(true) => {
                    tracing::warn!(network = %self.network(), signer = %address, balance_wei = %wei, min_wei = %min, "signer below the minimum gas balance: out of rotation")
                }
                Some(false) => {
                    tracing::info!(network = %self.network(), signer = %address, balance_wei = %wei, "signer refilled: back in rotation")
                }
                None => {}
            },
            Err(e) => {
                tracing::warn!(network = %self.network(), signer = %address, error = %error_text(&e), "could not read a signer's balance")
            }
        }
    }

    fn rerank(&self, configured: usize) {
        if self.signers.rerank() == 0 && configured > 0 {
            tracing::error!(network = %self.network(), "every settlement signer is below the minimum gas balance: settling with them anyway; refill them");
        }
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
