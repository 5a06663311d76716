//! The EIP-3009 `transferWithAuthorization` payload (USDC): the authorization a payer signs,
//! its x402 JSON form, and its strict reading.

use alloy_primitives::{Address, B256, U256};
use serde::Deserialize;
use serde_json::json;
use tollgate_proto::v2::Object;
use tollgate_proto::{Rejection, parse_atomic};

use crate::read::{Signed, bad_payload, object, parse_address, parse_hex, signature, wire};

/// An EIP-3009 authorization, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eip3009Authorization {
    pub from: Address,
    pub to: Address,
    pub value: U256,
    pub valid_after: U256,
    pub valid_before: U256,
    pub nonce: B256,
}

impl Eip3009Authorization {
    /// The x402 `payload` object for this authorization and its signature.
    pub fn to_payload(&self, signature: &[u8]) -> Object {
        object(json!({
            "signature": format!("0x{}", alloy_primitives::hex::encode(signature)),
            "authorization": {
                "from": self.from.to_checksum(None),
                "to": self.to.to_checksum(None),
                "value": self.value.to_string(),
                "validAfter": self.valid_after.to_string(),
                "validBefore": self.valid_before.to_string(),
                "nonce": self.nonce.to_string(),
            }
        }))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WirePayload {
    signature: String,
    authorization: WireAuthorization,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WireAuthorization {
    from: String,
    to: String,
    value: String,
    valid_after: String,
    valid_before: String,
    nonce: String,
}

/// Reads an EIP-3009 payload strictly: no unknown field, every number and hex checked.
pub fn parse_payload(payload: &Object) -> Result<Signed<Eip3009Authorization>, Rejection> {
    let wire: WirePayload = wire(payload)?;
    let a = &wire.authorization;
    let num = |s: &str, what: &str| {
        parse_atomic(s).map_err(|e| bad_payload(format!("authorization.{what}: {e}")))
    };
    let addr = |s: &str, what: &str| {
        parse_address(s, &format!("authorization.{what}")).map_err(bad_payload)
    };
    let nonce = parse_hex(&a.nonce, "authorization.nonce", 32).map_err(bad_payload)?;
    if nonce.len() != 32 {
        return Err(bad_payload("authorization.nonce: must be 32 bytes"));
    }
    Ok(Signed {
        signature: signature(&wire.signature)?,
        auth: Eip3009Authorization {
            from: addr(&a.from, "from")?,
            to: addr(&a.to, "to")?,
            value: num(&a.value, "value")?,
            valid_after: num(&a.valid_after, "validAfter")?,
            valid_before: num(&a.valid_before, "validBefore")?,
            nonce: B256::from_slice(&nonce),
        },
    })
}

/// The ledger identity of an EIP-3009 payment: chain, token, payer, nonce.
pub fn identity(network: &str, token: Address, auth: &Eip3009Authorization) -> String {
    format!("{network}/{token:#x}/{:#x}/{:#x}", auth.from, auth.nonce)
}
