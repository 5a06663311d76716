//! Fee bumps: a settlement transaction that sat unmined (a fee spike, a node that dropped it)
//! is signed again with the same nonce, call and gas limit at a higher fee, up to a ceiling, so
//! it cannot strand its payment or every later transaction of its signer queued behind it.

use alloy::consensus::{SignableTransaction, Signed, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::{Decodable2718, Encodable2718};
use alloy::network::TxSignerSync;
use alloy::primitives::Address;
use tollgate_proto::SignedTx;

use crate::chain::EvmChain;
use crate::error::EvmError;

/// A replacement's fees are this percentage of the old ones at least; nodes refuse a
/// replacement that raises either fee by less than 10%.
const BUMP_PERCENT: u128 = 125;
/// The smallest raise a node accepts, in percent.
const NODE_MIN_PERCENT: u128 = 110;

fn raised(old: u128, percent: u128) -> u128 {
    old.saturating_mul(percent) / 100 + 1
}

/// Whether a node refused a transaction only for its fee (below the base fee, or underpriced):
/// the same transaction at a higher fee can still land.
pub fn fee_too_low(refusal: &str) -> bool {
    let m = refusal.to_lowercase();
    m.contains("base fee") || m.contains("underpriced") || m.contains("fee cap")
}

/// A stored EIP-1559 transaction and the address that signed it.
fn decode(raw: &[u8]) -> Result<(Signed<TxEip1559>, Address), EvmError> {
    let bad = |what: &str| EvmError::Config(format!("stored transaction {what}"));
    let envelope = TxEnvelope::decode_2718(&mut &raw[..]).map_err(|_| bad("does not decode"))?;
    let TxEnvelope::Eip1559(signed) = envelope else {
        return Err(bad("is not EIP-1559"));
    };
    let from = signed
        .signature()
        .recover_address_from_prehash(&signed.signature_hash())
        .map_err(|_| bad("has no valid signature"))?;
    Ok((signed, from))
}

impl EvmChain {
    /// Keeps the nonce of a recorded transaction that may never have been sent (a crash between
    /// the ledger claim and the broadcast) from being handed out again: after a restart the
    /// node's pending count does not include it, and a second transaction at that nonce would
    /// make the recorded one unable to land.
    pub fn hold_nonce_of(&self, raw: &[u8]) {
        if let Ok((signed, from)) = decode(raw)
            && let Some(slot) = self.signers.find(from)
        {
            slot.nonces.resync(signed.tx().nonce.saturating_add(1));
        }
    }

    /// The transaction in `raw` signed again at a higher fee (after sending again any gap filler
    /// not yet mined): the larger of today's fee and
    /// 1.25x the old one, capped at the chain's `max_fee_ceiling_wei`. `None` when no raise a
    /// node would accept fits under the ceiling, or the key that signed it is no longer
    /// configured.
    pub async fn replacement(&self, raw: &[u8]) -> Result<Option<SignedTx>, EvmError> {
        // A dropped gap filler below it would keep even the raised transaction unmined.
        self.resend_fillers().await;
        let ceiling = self.cfg.max_fee_ceiling_wei;
        let (signed, from) = decode(raw)?;
        let Some(slot) = self.signers.find(from) else {
            tracing::warn!(signer = %from, "cannot bump a transaction of a retired key");
            return Ok(None);
        };
        let old = signed.tx().clone();
        let (market_fee, market_tip) = self.fees().await?;
        let max_fee = raised(old.max_fee_per_gas, BUMP_PERCENT)
            .max(market_fee)
            .min(ceiling);
        let tip = raised(old.max_priority_fee_per_gas, BUMP_PERCENT)
            .max(market_tip)
            .min(max_fee);
        if max_fee < raised(old.max_fee_per_gas, NODE_MIN_PERCENT)
            || tip < raised(old.max_priority_fee_per_gas, NODE_MIN_PERCENT)
        {
            tracing::warn!(
                nonce = old.nonce,
                max_fee,
                "fee ceiling reached; not bumped"
            );
            return Ok(None);
        }
        let mut tx = old;
        tx.max_fee_per_gas = max_fee;
        tx.max_priority_fee_per_gas = tip;
        let sig = slot
            .signer
            .sign_transaction_sync(&mut tx)
            .map_err(|e| EvmError::Config(format!("signing failed: {e}")))?;
        let envelope = TxEnvelope::Eip1559(tx.into_signed(sig));
        Ok(Some(SignedTx {
            hash: format!("{:#x}", envelope.tx_hash()),
            raw: envelope.encoded_2718(),
        }))
    }
}
