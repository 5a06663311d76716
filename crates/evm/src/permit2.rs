//! `exact` on EVM through Permit2 and the x402 exact Permit2 proxy, for ERC-20s without
//! EIP-3009 (TMAI): the witness transfer's EIP-712 message and Permit2's domain. The
//! authorization and its strict reading live in `tollgate-payload`; verification is the
//! `verify` pipeline's `Permit2` method.

use alloy::primitives::{Bytes, Signature, U256};
use alloy::signers::SignerSync;
use alloy::sol_types::{Eip712Domain, SolStruct};

use crate::contracts::IX402ExactPermit2Proxy::{PermitTransferFrom, TokenPermissions};
pub use crate::contracts::{EXACT_PERMIT2_PROXY, PERMIT2};
use crate::contracts::{Typed, typed};

pub use tollgate_payload::permit2::Permit2Authorization;
pub(crate) use tollgate_payload::permit2::{identity, parse_payload};

impl Typed for Permit2Authorization {
    type Message = typed::PermitWitnessTransferFrom;

    /// The EIP-712 message signed.
    fn typed(&self) -> typed::PermitWitnessTransferFrom {
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

/// The proxies' `permit` argument: what Permit2 transfers, at most.
pub(crate) fn permit_transfer(auth: &Permit2Authorization) -> PermitTransferFrom {
    PermitTransferFrom {
        permitted: TokenPermissions {
            token: auth.token,
            amount: auth.amount,
        },
        nonce: auth.nonce,
        deadline: auth.deadline,
    }
}

/// The payer's signature as Permit2 takes it: it runs ecrecover on a 65-byte signature, which
/// wants v as 27/28, so a 0/1 `v` is rewritten; anything else passes through untouched for the
/// wallet to judge.
pub(crate) fn permit2_signature(signature: &[u8]) -> Bytes {
    let normalized = (signature.len() == 65 && signature[64] < 2)
        .then(|| Signature::try_from(signature).ok())
        .flatten();
    match normalized {
        Some(sig) => sig.as_bytes().to_vec().into(),
        None => signature.to_vec().into(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ecdsa_matches;
    use alloy::primitives::Address;
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
