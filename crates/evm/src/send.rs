//! Sending settlements: a broadcast that gives a refused transaction's nonce back (or spends it
//! when its key was retired), and the retirement of a signed transaction never sent, whose nonce
//! must still be used so later settlements of its signer are not stalled behind a gap: each
//! such filler is kept until it is seen mined, and sent again while a settlement sits unmined.

use std::sync::Arc;

use alloy::primitives::{B256, Bytes};
use alloy::providers::Provider;
use alloy::transports::RpcError;
use tollgate_proto::{Broadcast, SignedTx};

use crate::chain::EvmChain;
use crate::error::{EvmError, error_text};
use crate::signers::SignerSlot;

impl EvmChain {
    /// Retires a signed transaction that will never be sent. Its nonce may sit below
    /// settlements already broadcast, so it is spent on a 0-value self-transfer: a gap would
    /// stall every later settlement of that signer.
    pub async fn abandon(&self, tx: &SignedTx) {
        let Ok(hash) = tx.hash.parse::<B256>() else {
            return;
        };
        let Some((slot, nonce)) = self.in_flight.lock().expect("in-flight lock").remove(&hash)
        else {
            return;
        };
        let filler = self.sign_filler(&slot, nonce).await;
        match filler {
            Ok(filler) => match self.broadcast(&filler).await {
                Broadcast::Accepted => self.fillers.keep(&slot, nonce, &filler),
                Broadcast::Unknown(e) => {
                    self.fillers.keep(&slot, nonce, &filler);
                    tracing::warn!(nonce, error = %e, "nonce gap filler outcome unknown");
                }
                // The refusal handed the nonce back to the signer (or found it used): a later
                // settlement takes it, so the filler must never be sent again.
                Broadcast::Rejected(e) => {
                    tracing::warn!(nonce, error = %e, "nonce gap filler not accepted")
                }
            },
            Err(e) => tracing::warn!(nonce, error = %e, "could not sign a nonce gap filler"),
        }
    }

    /// Sends signed bytes; a refused fresh transaction gives its nonce back for reuse.
    pub async fn broadcast(&self, tx: &SignedTx) -> Broadcast {
        let hash: Option<B256> = tx.hash.parse().ok();
        let local = match hash {
            Some(h) => self.in_flight.lock().expect("in-flight lock").remove(&h),
            None => None,
        };
        let outcome = match self.provider.send_raw_transaction(&tx.raw).await {
            Ok(_) => Broadcast::Accepted,
            Err(RpcError::ErrorResp(resp)) => {
                let msg = resp.message.to_lowercase();
                if node_has_it(&msg) {
                    Broadcast::Accepted
                } else if msg.contains("nonce too low") {
                    self.mined_already(hash, resp.message.to_string()).await
                } else {
                    Broadcast::Rejected(resp.message.to_string())
                }
            }
            Err(e) => Broadcast::Unknown(error_text(&e)),
        };
        if let (Broadcast::Rejected(msg), Some((slot, nonce))) = (&outcome, local) {
            let msg = msg.to_lowercase();
            if msg.contains("nonce too low") {
                if let Ok(n) = self
                    .provider
                    .get_transaction_count(slot.address())
                    .pending()
                    .await
                {
                    slot.nonces.resync(n);
                }
            } else if !self.signers.is_configured(&slot) {
                self.fill_retired_gap(&slot, nonce).await;
            } else {
                slot.nonces.give_back(nonce);
                if msg.contains("insufficient funds") {
                    // Out of gas money sooner than the last check saw: re-read it now.
                    self.check_balance_of(&slot).await;
                }
            }
        }
        outcome
    }

    /// "nonce too low" also answers a send of a transaction already mined: one that an endpoint
    /// took before its answer was lost, sent again to the next endpoint. Only the chain's record
    /// of this hash tells that apart from a nonce another transaction used; a refusal would
    /// release a payment already paid on chain.
    async fn mined_already(&self, hash: Option<B256>, refusal: String) -> Broadcast {
        let Some(h) = hash else {
            return Broadcast::Rejected(refusal);
        };
        match self.provider.get_transaction_by_hash(h).await {
            Ok(Some(_)) => Broadcast::Accepted,
            Ok(None) => Broadcast::Rejected(refusal),
            Err(e) => Broadcast::Unknown(format!(
                "{refusal}, and the lookup of the transaction failed: {}",
                error_text(&e)
            )),
        }
    }

    /// A 0-value self-transfer at `nonce` and today's fee: what spends a nonce no settlement
    /// will use.
    pub(crate) async fn sign_filler(
        &self,
        slot: &Arc<SignerSlot>,
        nonce: u64,
    ) -> Result<SignedTx, EvmError> {
        let fees = self.fees().await?;
        self.sign_at(slot, nonce, fees, slot.address(), Bytes::new(), 21_000)
    }

    /// A retired key signs nothing new, so a nonce handed back to it would stay a gap that
    /// stalls the transactions it signed after that nonce: it is spent at once on a 0-value
    /// self-transfer, sent straight to the node.
    async fn fill_retired_gap(&self, slot: &Arc<SignerSlot>, nonce: u64) {
        let me = slot.address();
        let filler = self.sign_filler(slot, nonce).await;
        let sent = match filler {
            Ok(filler) => {
                if let Ok(h) = filler.hash.parse::<B256>() {
                    self.in_flight.lock().expect("in-flight lock").remove(&h);
                }
                self.fillers.keep(slot, nonce, &filler);
                self.provider
                    .send_raw_transaction(&filler.raw)
                    .await
                    .map(|_| ())
                    .map_err(|e| error_text(&e))
            }
            Err(e) => Err(error_text(&e)),
        };
        if let Err(e) = sent {
            tracing::warn!(signer = %me, nonce, error = %e, "retired signer's nonce gap not filled");
        }
    }
}

/// Whether a node's refusal of a send only says it holds that very transaction already (geth
/// "already known", anvil "transaction already imported", besu "known transaction", erigon
/// "already exists"): the send did what it was for.
pub(crate) fn node_has_it(refusal: &str) -> bool {
    let m = refusal.to_lowercase();
    [
        "already known",
        "already imported",
        "known transaction",
        "already exists",
        "alreadyknown",
    ]
    .iter()
    .any(|k| m.contains(k))
}

#[cfg(test)]
mod tests {
    use super::node_has_it;

    #[test]
    fn a_node_that_holds_the_transaction_already_is_not_a_refusal() {
        for m in [
            "already known",
            "transaction already imported",
            "Known transaction: 0xab",
            "ALREADY_EXISTS: already exists",
        ] {
            assert!(node_has_it(m), "{m}");
        }
        assert!(!node_has_it("nonce too low"));
        assert!(!node_has_it("max fee per gas less than block base fee"));
    }
}
