//! `exact` on EVM through EIP-3009 `transferWithAuthorization` (USDC): the authorization a
//! payer signs, its EIP-712 domain, and the strict payload parsing the facilitator shares
//! (verification is in `verify::eip3009`).

use alloy::primitives::{Address, B256, U256};
use alloy::signers::SignerSync;
use alloy::sol_types::{Eip712Domain, SolStruct};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_proto::v2::Object;
use tollgate_proto::{Rejection, parse_atomic};

use crate::contracts::TransferWithAuthorization;
pub use crate::wire::VALID_BEFORE_BUFFER_SECS;
use crate::wire::{MAX_SIGNATURE_BYTES, bad_payload, object, parse_address, parse_hex};

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
        let v = json!({
            "signature": format!("0x{}", alloy::hex::encode(signature)),
            "authorization": {
                "from": self.from.to_checksum(None),
                "to": self.to.to_checksum(None),
                "value": self.value.to_string(),
                "validAfter": self.valid_after.to_string(),
                "validBefore": self.valid_before.to_string(),
                "nonce": self.nonce.to_string(),
            }
        });
        object(v)
    }

    /// The EIP-712 message signed.
    pub(crate) fn typed(&self) -> TransferWithAuthorization {
        TransferWithAuthorization {
            from: self.from,
            to: self.to,
            value: self.value,
            validAfter: self.valid_after,
            validBefore: self.valid_before,
            nonce: self.nonce,
        }
    }
}

/// The EIP-712 domain of an EIP-3009 token.
pub fn token_domain(name: &str, version: &str, chain_id: u64, token: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(name.to_string().into()),
        Some(version.to_string().into()),
        Some(U256::from(chain_id)),
        Some(token),
        None,
    )
}

/// Signs an authorization as the payer; returns the 65-byte r‖s‖v signature.
pub fn sign_eip3009(
    signer: &impl SignerSync,
    domain: &Eip712Domain,
    auth: &Eip3009Authorization,
) -> Result<Vec<u8>, alloy::signers::Error> {
    let hash = auth.typed().eip712_signing_hash(domain);
    Ok(signer.sign_hash_sync(&hash)?.as_bytes().to_vec())
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

/// A parsed EIP-3009 payment.
pub(crate) struct Parsed {
    pub(crate) auth: Eip3009Authorization,
    pub(crate) signature: Vec<u8>,
}

/// Reads an EIP-3009 payload strictly: no unknown field, every number and hex checked.
pub(crate) fn parse_payload(payload: &Object) -> Result<Parsed, Rejection> {
    let wire: WirePayload = serde_json::from_value(Value::Object(payload.clone()))
        .map_err(|e| bad_payload(e.to_string()))?;
    let a = &wire.authorization;
    let num = |s: &str, what: &str| {
        parse_atomic(s).map_err(|e| bad_payload(format!("authorization.{what}: {e}")))
    };
    let nonce = parse_hex(&a.nonce, "authorization.nonce", 32).map_err(bad_payload)?;
    if nonce.len() != 32 {
        return Err(bad_payload("authorization.nonce: must be 32 bytes"));
    }
    let signature =
        parse_hex(&wire.signature, "signature", MAX_SIGNATURE_BYTES).map_err(bad_payload)?;
    Ok(Parsed {
        auth: Eip3009Authorization {
            from: parse_address(&a.from, "authorization.from").map_err(bad_payload)?,
            to: parse_address(&a.to, "authorization.to").map_err(bad_payload)?,
            value: num(&a.value, "value")?,
            valid_after: num(&a.valid_after, "validAfter")?,
            valid_before: num(&a.valid_before, "validBefore")?,
            nonce: B256::from_slice(&nonce),
        },
        signature,
    })
}

/// The ledger identity of an EIP-3009 payment: chain, token, payer, nonce.
pub(crate) fn identity(network: &str, token: Address, auth: &Eip3009Authorization) -> String {
    format!("{network}/{token:#x}/{:#x}/{:#x}", auth.from, auth.nonce)
}

/// The ledger identity of the EIP-3009 payment in `payload`, without any RPC.
pub(crate) fn identity_of(
    network: &str,
    token: Address,
    payload: &Object,
) -> Result<String, Rejection> {
    Ok(identity(network, token, &parse_payload(payload)?.auth))
}
