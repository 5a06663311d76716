//! Signed payments that left the client without a proven outcome, and how the chain can prove
//! one unspent: each keeps its budget reservation until then, so a server that takes a payment
//! and still answers 402 (or 5xx) cannot make the client pay past its budget.

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use tollgate_proto::U256;
use tollgate_proto::v2::Object;

/// A signed payment still counted against the budget until the chain shows what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Outstanding {
    /// Unique per payment: the EVM nonce or the payer's Solana signature.
    pub id: String,
    /// The spending key of the asset (`<caip2>/<asset>`) the amount is reserved in.
    pub asset: String,
    /// Atomic units reserved.
    #[serde(with = "decimal")]
    pub amount: U256,
    /// Unix seconds after which the payment can no longer land (a hint; the chain decides).
    pub expires: u64,
    /// What to ask the chain.
    pub proof: Proof,
}

/// The on-chain fact that tells whether a payment was used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Proof {
    /// EIP-3009: `authorizationState(authorizer, nonce)` on the token; usable while
    /// `block.timestamp < validBefore`.
    Eip3009 {
        chain_id: u64,
        token: Address,
        authorizer: Address,
        nonce: B256,
        valid_before: u64,
    },
    /// Permit2: bit `nonce & 255` of `nonceBitmap(owner, nonce >> 8)`; usable while
    /// `block.timestamp <= deadline`.
    Permit2 {
        chain_id: u64,
        owner: Address,
        #[serde(with = "decimal")]
        nonce: U256,
        deadline: u64,
    },
    /// Solana: the payer's signature in a landed transaction; unusable once the chain's block
    /// height passes the blockhash's `lastValidBlockHeight`.
    Solana {
        network: String,
        payer: String,
        signature: String,
        /// Slot at which the blockhash was read: the transaction cannot land before it.
        slot: u64,
        last_valid_block_height: u64,
    },
}

/// What the chain says about an outstanding payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Used on chain: the amount stays spent, the entry is dropped.
    Spent,
    /// Expired and never used: the reservation is given back.
    Unspent,
    /// Not provable yet (still usable, no RPC, or the RPC failed): it stays reserved.
    Pending,
}

/// A signed scheme payload with what is needed to prove it unspent later.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The scheme `payload` object sent to the server.
    pub payload: Object,
    /// How the chain shows whether it was used.
    pub proof: Proof,
    /// Unix seconds after which it can no longer land (estimated for Solana).
    pub expires: u64,
}

impl Proof {
    /// The unique id of the payment this proof tracks.
    pub fn id(&self) -> String {
        match self {
            Proof::Eip3009 { nonce, .. } => format!("eip3009:{nonce}"),
            Proof::Permit2 { owner, nonce, .. } => format!("permit2:{owner}:{nonce}"),
            Proof::Solana { signature, .. } => format!("solana:{signature}"),
        }
    }
}

/// U256 as a decimal string, parsed strictly (the spending file's amounts).
mod decimal {
    use serde::{Deserialize, Deserializer, Serializer};
    use tollgate_proto::{U256, parse_atomic};

    pub fn serialize<S: Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        let s = String::deserialize(d)?;
        parse_atomic(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_unknown_fields_are_refused() {
        let e = Outstanding {
            id: "permit2:x:1".into(),
            asset: "eip155:1/0xaa".into(),
            amount: U256::MAX,
            expires: 7,
            proof: Proof::Permit2 {
                chain_id: 1,
                owner: Address::ZERO,
                nonce: U256::MAX,
                deadline: 7,
            },
        };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<Outstanding>(&text).unwrap(), e);
        let extra = text.replacen("\"deadline\"", "\"evil\":1,\"deadline\"", 1);
        assert!(
            serde_json::from_str::<Outstanding>(&extra).is_err(),
            "{extra}"
        );
    }
}
