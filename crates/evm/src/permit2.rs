//! `exact` on EVM through Permit2 and the x402 exact Permit2 proxy, for ERC-20s without
//! EIP-3009 (TMAI): the witness transfer a payer signs, Permit2's EIP-712 domain, and the strict
//! payload parsing the facilitator shares (verification is in `verify::permit2`).

use alloy::primitives::{Address, U256};
use alloy::signers::SignerSync;
use alloy::sol_types::{Eip712Domain, SolStruct};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_proto::v2::Object;
use tollgate_proto::{Rejection, parse_atomic};

use crate::contracts::typed;
pub use crate::contracts::{EXACT_PERMIT2_PROXY, PERMIT2};
use crate::wire::{MAX_SIGNATURE_BYTES, bad_payload, object, parse_address, parse_hex};

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
            "signature": format!("0x{}", alloy::hex::encode(signature)),
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

    /// The EIP-712 message signed.
    pub(crate) fn typed(&self) -> typed::PermitWitnessTransferFrom {
        typed::PermitWitnessTransferFrom {
            permitted: typed::TokenPermissions {
                token: self.token,
                amount: self.amount,
            },
            spender: self.spender,
            nonce: self.nonce,
            deadline: self.deadline,
            witness: typed::Witness {
                to: self.to,
                validAfter: self.valid_after,
            },
        }
    }
}

/// Permit2's EIP-712 domain on `chain_id` (name "Permit2", no version).
pub fn permit2_domain(chain_id: u64) -> Eip712Domain {
    Eip712Domain::new(
        Some("Permit2".into()),
        None,
        Some(U256::from(chain_id)),
        Some(PERMIT2),
        None,
    )
}

/// Signs a Permit2 witness transfer as the payer; returns the 65-byte r‖s‖v signature.
pub fn sign_permit2(
    signer: &impl SignerSync,
    chain_id: u64,
    auth: &Permit2Authorization,
) -> Result<Vec<u8>, alloy::signers::Error> {
    let hash = auth.typed().eip712_signing_hash(&permit2_domain(chain_id));
    Ok(signer.sign_hash_sync(&hash)?.as_bytes().to_vec())
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
    valid_after: String,
}

/// A parsed Permit2 payment.
pub(crate) struct Parsed {
    pub(crate) auth: Permit2Authorization,
    pub(crate) signature: Vec<u8>,
}

/// Reads a Permit2 payload strictly: no unknown field, every number, address and hex checked.
pub(crate) fn parse_payload(payload: &Object) -> Result<Parsed, Rejection> {
    let wire: WirePayload = serde_json::from_value(Value::Object(payload.clone()))
        .map_err(|e| bad_payload(e.to_string()))?;
    let a = &wire.permit2_authorization;
    let num = |s: &str, what: &str| {
        parse_atomic(s).map_err(|e| bad_payload(format!("permit2Authorization.{what}: {e}")))
    };
    let addr = |s: &str, what: &str| {
        parse_address(s, &format!("permit2Authorization.{what}")).map_err(bad_payload)
    };
    let signature =
        parse_hex(&wire.signature, "signature", MAX_SIGNATURE_BYTES).map_err(bad_payload)?;
    Ok(Parsed {
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
        signature,
    })
}

/// The ledger identity of a Permit2 payment: chain, token, payer, Permit2 nonce.
pub(crate) fn identity(network: &str, token: Address, auth: &Permit2Authorization) -> String {
    format!(
        "permit2:{network}/{token:#x}/{:#x}/{:#x}",
        auth.from, auth.nonce
    )
}

/// The ledger identity of the Permit2 payment in `payload`, without any RPC.
pub(crate) fn identity_of(
    network: &str,
    token: Address,
    payload: &Object,
) -> Result<String, Rejection> {
    Ok(identity(network, token, &parse_payload(payload)?.auth))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ecdsa_matches;
    use alloy::signers::local::PrivateKeySigner;

    #[test]
    fn type_string_is_permit2_stub_plus_the_proxy_witness() {
        let stub = "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,";
        let witness = "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)";
        assert_eq!(
            typed::PermitWitnessTransferFrom::eip712_encode_type(),
            format!("{stub}{witness}")
        );
    }

    #[test]
    fn signature_recovers_to_the_payer_and_round_trips_the_payload() {
        let signer = PrivateKeySigner::random();
        let auth = Permit2Authorization {
            from: signer.address(),
            token: Address::repeat_byte(1),
            amount: U256::from(200u64) * U256::from(10u64).pow(U256::from(18u8)),
            spender: EXACT_PERMIT2_PROXY,
            nonce: U256::MAX - U256::from(7u8),
            deadline: U256::from(2_000_000_000u64),
            to: Address::repeat_byte(2),
            valid_after: U256::from(1u8),
        };
        let sig = sign_permit2(&signer, 84532, &auth).unwrap();
        let digest = auth.typed().eip712_signing_hash(&permit2_domain(84532));
        assert!(ecdsa_matches(&sig, &digest, auth.from));
        let other_chain = auth.typed().eip712_signing_hash(&permit2_domain(8453));
        assert!(!ecdsa_matches(&sig, &other_chain, auth.from));
        let parsed = parse_payload(&auth.to_payload(&sig)).unwrap();
        assert_eq!((parsed.auth, parsed.signature), (auth, sig));
    }
}
