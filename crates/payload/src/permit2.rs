//! The Permit2 witness-transfer payload, for ERC-20s without EIP-3009 (TMAI): the authorization
//! a payer signs for the x402 exact Permit2 proxy, its x402 JSON form, and its strict reading.

use alloy_primitives::{Address, U256};
use serde::Deserialize;
use serde_json::json;
use tollgate_proto::v2::Object;
use tollgate_proto::{Rejection, parse_atomic};

use crate::read::{Signed, bad_payload, object, parse_address, signature, wire};

/// A Permit2 witness transfer authorization, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit2Authorization {
    pub from: Address,
    pub token: Address,
    pub amount: U256,
    pub spender: Address,
    /// Unordered Permit2 nonce; a random 256-bit value is fine.
    pub nonce: U256,
    pub deadline: U256,
    /// Witness: who receives the payment.
    pub to: Address,
    /// Witness: earliest time the proxy will settle.
    pub valid_after: U256,
}

impl Permit2Authorization {
    /// The x402 `payload` object for this authorization and its signature.
    pub fn to_payload(&self, signature: &[u8]) -> Object {
        object(json!({
            "signature": format!("0x{}", alloy_primitives::hex::encode(signature)),
            "permit2Authorization": {
                "from": self.from.to_checksum(None),
                "permitted": {"token": self.token.to_checksum(None), "amount": self.amount.to_string()},
                "spender": self.spender.to_checksum(None),
                "nonce": self.nonce.to_string(),
                "deadline": self.deadline.to_string(),
                "witness": {"to": self.to.to_checksum(None), "validAfter": self.valid_after.to_string()},
            }
        }))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WirePayload {
    signature: String,
    permit2_authorization: WireAuthorization,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WireAuthorization {
    from: String,
    permitted: WirePermitted,
    spender: String,
    nonce: String,
    deadline: String,
    witness: WireWitness,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WirePermitted {
    token: String,
    amount: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WireWitness {
    to: String,
    /// Only in `upto` payloads: the one facilitator that may settle.
    facilitator: Option<String>,
    valid_after: String,
}

/// Reads an `exact` Permit2 payload strictly: no unknown field, every number, address and hex
/// checked, and no `witness.facilitator` (that witness is `upto`'s).
pub fn parse_payload(payload: &Object) -> Result<Signed<Permit2Authorization>, Rejection> {
    match parse_witnessed(payload)? {
        (signed, None) => Ok(signed),
        (_, Some(_)) => Err(bad_payload(
            "permit2Authorization.witness.facilitator: only an upto payment names a facilitator",
        )),
    }
}

/// Reads a Permit2 payload strictly, with the facilitator its witness names if it names one.
pub(crate) fn parse_witnessed(
    payload: &Object,
) -> Result<(Signed<Permit2Authorization>, Option<Address>), Rejection> {
    let wire: WirePayload = wire(payload)?;
    let a = &wire.permit2_authorization;
    let num = |s: &str, what: &str| {
        parse_atomic(s).map_err(|e| bad_payload(format!("permit2Authorization.{what}: {e}")))
    };
    let addr = |s: &str, what: &str| {
        parse_address(s, &format!("permit2Authorization.{what}")).map_err(bad_payload)
    };
    let facilitator = match &a.witness.facilitator {
        Some(f) => Some(addr(f, "witness.facilitator")?),
        None => None,
    };
    let signed = Signed {
        signature: signature(&wire.signature)?,
        auth: Permit2Authorization {
            from: addr(&a.from, "from")?,
            token: addr(&a.permitted.token, "permitted.token")?,
            amount: num(&a.permitted.amount, "permitted.amount")?,
            spender: addr(&a.spender, "spender")?,
            nonce: num(&a.nonce, "nonce")?,
            deadline: num(&a.deadline, "deadline")?,
            to: addr(&a.witness.to, "witness.to")?,
            valid_after: num(&a.witness.valid_after, "witness.validAfter")?,
        },
    };
    Ok((signed, facilitator))
}

/// The ledger identity of a Permit2 payment: chain, token, payer, Permit2 nonce.
pub fn identity(network: &str, token: Address, auth: &Permit2Authorization) -> String {
    format!(
        "permit2:{network}/{token:#x}/{:#x}/{:#x}",
        auth.from, auth.nonce
    )
}
