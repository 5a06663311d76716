//! Asks Solana what became of payments this wallet signed. The transaction id is the fee
//! payer's signature, which the client never sees, so the payer's own signature is looked for
//! among the payer's transactions since the blockhash was read. A payment is proven unspent
//! only when the chain's block height is past the blockhash's last valid height (it can never
//! land now) and no transaction carrying the payer's signature landed.

use serde_json::{Value, json};
use solana_client::rpc_request::RpcRequest;
use solana_commitment_config::CommitmentConfig;

use crate::outstanding::{Outstanding, Proof, Verdict};
use crate::svm_wallet::SvmWallet;

/// Most of the payer's transactions read per check; more than that since the payment leaves
/// it pending rather than guessing.
const HISTORY_LIMIT: usize = 1000;

impl SvmWallet {
    /// The verdict on each Solana entry paid by this wallet's key; others are left out, and an
    /// RPC failure leaves an entry pending.
    pub(crate) async fn verdicts(&self, entries: &[Outstanding]) -> Vec<(String, Verdict)> {
        let me = self.address().to_string();
        let mut out = Vec::new();
        for e in entries {
            if let Proof::Solana {
                payer,
                signature,
                slot,
                last_valid_block_height,
                ..
            } = &e.proof
                && *payer == me
            {
                let v = self
                    .verdict(signature, *slot, *last_valid_block_height)
                    .await
                    .unwrap_or(Verdict::Pending);
                out.push((e.id.clone(), v));
            }
        }
        out
    }

    async fn verdict(&self, signature: &str, slot: u64, last_valid: u64) -> Option<Verdict> {
        let confirmed = CommitmentConfig::confirmed();
        // Height first: once past, nothing can land, so the history read next is complete.
        let height = self
            .rpc
            .get_block_height_with_commitment(confirmed)
            .await
            .ok()?;
        let expired = height > last_valid;
        let history: Vec<Value> = self
            .rpc
            .send(
                RpcRequest::GetSignaturesForAddress,
                json!([self.address().to_string(), {"limit": HISTORY_LIMIT, "commitment": "confirmed"}]),
            )
            .await
            .ok()?;
        let mut complete = history.len() < HISTORY_LIMIT;
        for h in &history {
            if h["slot"].as_u64()? < slot {
                complete = true;
                break;
            }
            let id = h["signature"].as_str()?;
            let tx: Value = self
                .rpc
                .send(
                    RpcRequest::GetTransaction,
                    json!([id, {"encoding": "json", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}]),
                )
                .await
                .ok()?;
            let sigs = tx["transaction"]["signatures"].as_array()?;
            if sigs.iter().any(|s| s.as_str() == Some(signature)) {
                // Landed (even a failed transfer is counted: never under-count a budget).
                return Some(Verdict::Spent);
            }
        }
        Some(match (complete, expired) {
            (true, true) => Verdict::Unspent,
            _ => Verdict::Pending,
        })
    }
}
