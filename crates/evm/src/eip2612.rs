//! The `eip2612GasSponsoring` extension: a payer without a Permit2 allowance signs an EIP-2612
//! `permit(owner, PERMIT2, amount)`, and the facilitator submits it inside `settleWithPermit`,
//! so the payer spends no gas. Parsing and checks for the facilitator, signing for the payer.

use alloy::primitives::{Address, B256, Signature, U256};
use alloy::signers::{Signer, SignerSync};
use alloy::sol_types::{Eip712Domain, SolStruct};
use serde::Deserialize;
use serde_json::json;
use tollgate_proto::v2::Object;
use tollgate_proto::{Rejection, parse_atomic, reason};

use crate::contracts::IX402ExactPermit2Proxy::EIP2612Permit;
use crate::contracts::{PERMIT2, typed};
use crate::wire::{VALID_BEFORE_BUFFER_SECS, object, parse_address, parse_hex};

/// Name of the extension that lets a payer's EIP-2612 permit stand in for a Permit2 approval.
pub const EIP2612_GAS_SPONSORING: &str = "eip2612GasSponsoring";

/// A signed EIP-2612 permit as the extension carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eip2612Permit {
    pub from: Address,
    pub asset: Address,
    pub spender: Address,
    /// Allowance granted; the x402 proxy demands exactly the payment amount.
    pub amount: U256,
    /// The owner's current EIP-2612 nonce on the token.
    pub nonce: U256,
    pub deadline: U256,
    /// 65-byte r‖s‖v.
    pub signature: Vec<u8>,
}

impl Eip2612Permit {
    /// The extension's `info` object.
    pub fn info(&self) -> Object {
        object(json!({
            "from": self.from.to_checksum(None),
            "asset": self.asset.to_checksum(None),
            "spender": self.spender.to_checksum(None),
            "amount": self.amount.to_string(),
            "nonce": self.nonce.to_string(),
            "deadline": self.deadline.to_string(),
            "signature": format!("0x{}", alloy::hex::encode(&self.signature)),
            "version": "1",
        }))
    }

    /// A payment payload's `extensions` object carrying this permit.
    pub fn to_extensions(&self) -> Object {
        object(json!({ EIP2612_GAS_SPONSORING: { "info": self.info() } }))
    }

    /// Checks it fits the Permit2 payment it rides with (reference order, then the amount).
    pub(crate) fn check(
        &self,
        payer: Address,
        token: Address,
        amount: U256,
        now: u64,
    ) -> Result<(), Rejection> {
        let why = if self.from != payer {
            reason::EIP2612_FROM_MISMATCH
        } else if self.asset != token {
            reason::EIP2612_ASSET_MISMATCH
        } else if self.spender != PERMIT2 {
            reason::EIP2612_SPENDER_NOT_PERMIT2
        } else if self.deadline < U256::from(now + VALID_BEFORE_BUFFER_SECS) {
            reason::EIP2612_DEADLINE_EXPIRED
        } else if self.amount != amount {
            reason::PERMIT2_2612_AMOUNT_MISMATCH
        } else {
            return Ok(());
        };
        Err(Rejection::new(why))
    }

    /// The proxy's `EIP2612Permit` argument (v as 27/28).
    pub(crate) fn proxy_arg(&self) -> EIP2612Permit {
        let sig = Signature::try_from(self.signature.as_slice()).expect("checked as 65 bytes");
        EIP2612Permit {
            value: self.amount,
            deadline: self.deadline,
            r: B256::from(sig.r()),
            s: B256::from(sig.s()),
            v: 27 + sig.v() as u8,
        }
    }
}

/// Signs an EIP-2612 permit over the token's own domain, as the payer.
pub fn sign_eip2612_permit(
    signer: &(impl SignerSync + Signer),
    token_domain: &Eip712Domain,
    spender: Address,
    amount: U256,
    nonce: U256,
    deadline: U256,
) -> Result<Eip2612Permit, alloy::signers::Error> {
    let owner = signer.address();
    let msg = typed::Permit {
        owner,
        spender,
        value: amount,
        nonce,
        deadline,
    };
    let sig = signer.sign_hash_sync(&msg.eip712_signing_hash(token_domain))?;
    Ok(Eip2612Permit {
        from: owner,
        asset: token_domain.verifying_contract.unwrap_or(Address::ZERO),
        spender,
        amount,
        nonce,
        deadline,
        signature: sig.as_bytes().to_vec(),
    })
}

#[derive(Deserialize)]
struct WireInfo {
    from: String,
    asset: String,
    spender: String,
    amount: String,
    nonce: String,
    deadline: String,
    signature: String,
}

/// Reads the extension from a payload's `extensions`; `None` when absent.
pub(crate) fn from_extensions(ext: Option<&Object>) -> Result<Option<Eip2612Permit>, Rejection> {
    let Some(ext) = ext.and_then(|e| e.get(EIP2612_GAS_SPONSORING)) else {
        return Ok(None);
    };
    let bad = |m: String| Rejection::new(reason::EIP2612_EXTENSION_FORMAT).with_message(m);
    let info = ext
        .get("info")
        .cloned()
        .ok_or_else(|| bad("missing info".into()))?;
    let w: WireInfo = serde_json::from_value::<WireInfo>(info).map_err(|e| bad(e.to_string()))?;
    let num = |s: &str, what: &str| parse_atomic(s).map_err(|e| bad(format!("{what}: {e}")));
    let signature = parse_hex(&w.signature, "signature", 65).map_err(bad)?;
    if signature.len() != 65 || Signature::try_from(signature.as_slice()).is_err() {
        return Err(bad("signature: must be 65 bytes r||s||v".into()));
    }
    Ok(Some(Eip2612Permit {
        from: parse_address(&w.from, "from").map_err(bad)?,
        asset: parse_address(&w.asset, "asset").map_err(bad)?,
        spender: parse_address(&w.spender, "spender").map_err(bad)?,
        amount: num(&w.amount, "amount")?,
        nonce: num(&w.nonce, "nonce")?,
        deadline: num(&w.deadline, "deadline")?,
        signature,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_info_is_a_format_error() {
        for info in [
            json!("nope"),
            json!({"from": "0x1"}),
            json!({"from": "0x0000000000000000000000000000000000000001", "asset": "0x0000000000000000000000000000000000000002",
                "spender": "0x000000000022D473030F116dDEE9F6B43aC78BA3", "amount": "1", "nonce": "0", "deadline": "9",
                "signature": "0x1234"}),
        ] {
            let ext = object(json!({ EIP2612_GAS_SPONSORING: { "info": info } }));
            let err = from_extensions(Some(&ext)).unwrap_err();
            assert_eq!(err.reason, reason::EIP2612_EXTENSION_FORMAT);
        }
        assert_eq!(from_extensions(None), Ok(None));
    }
}
