//! `upto` on EVM: a Permit2 witness transfer of at most a maximum to the x402 upto proxy, whose
//! witness names the one facilitator that may settle it, for any amount up to that maximum.
//! Here: the EIP-712 message a payer signs and the proxy call a settlement sends. The
//! authorization and its strict reading live in `tollgate-payload`.

use alloy::primitives::{Bytes, U256};
use alloy::signers::SignerSync;
use alloy::sol_types::{SolCall, SolStruct};

use crate::contracts::IX402UptoPermit2Proxy as Proxy;
use crate::contracts::{Typed, typed_upto};
use crate::eip2612::Eip2612Permit;
use crate::permit2::{permit_transfer, permit2_domain, permit2_signature};

pub use crate::contracts::UPTO_PERMIT2_PROXY;
pub use tollgate_payload::upto::UptoAuthorization;

impl Typed for UptoAuthorization {
    type Message = typed_upto::PermitWitnessTransferFrom;

    /// The EIP-712 message signed.
    fn typed(&self) -> typed_upto::PermitWitnessTransferFrom {
        let p = &self.permit;
        typed_upto::PermitWitnessTransferFrom {
            permitted: typed_upto::TokenPermissions {
                token: p.token,
                amount: p.amount,
            },
            spender: p.spender,
            nonce: p.nonce,
            deadline: p.deadline,
            witness: typed_upto::Witness {
                to: p.to,
                facilitator: self.facilitator,
                validAfter: p.valid_after,
            },
        }
    }
}

/// Signs an `upto` authorization as the payer; returns the 65-byte r‖s‖v signature.
pub fn sign_upto(
    signer: &impl SignerSync,
    chain_id: u64,
    auth: &UptoAuthorization,
) -> Result<Vec<u8>, alloy::signers::Error> {
    let hash = auth.typed().eip712_signing_hash(&permit2_domain(chain_id));
    Ok(signer.sign_hash_sync(&hash)?.as_bytes().to_vec())
}

/// Calldata of the proxy call moving `amount` (at most the maximum): `settleWithPermit` with
/// an EIP-2612 permit for the maximum, else `settle`.
pub fn settle_calldata(
    auth: &UptoAuthorization,
    amount: U256,
    signature: &[u8],
    permit2612: Option<&Eip2612Permit>,
) -> Bytes {
    let p = &auth.permit;
    let witness = Proxy::Witness {
        to: p.to,
        facilitator: auth.facilitator,
        validAfter: p.valid_after,
    };
    let (permit, owner, signature) = (permit_transfer(p), p.from, permit2_signature(signature));
    let data = match permit2612 {
        None => Proxy::settleCall::new((permit, amount, owner, witness, signature)).abi_encode(),
        Some(e) => Proxy::settleWithPermitCall::new((
            e.proxy_arg(),
            permit,
            amount,
            owner,
            witness,
            signature,
        ))
        .abi_encode(),
    };
    data.into()
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, address, b256, hex};
    use alloy::signers::local::PrivateKeySigner;

    use super::*;
    use crate::permit2::Permit2Authorization;

    /// The official SDK's own vector: anvil's first (public) test key paying on Base Sepolia,
    /// signed with viem and encoded by its upto client.
    fn sdk_vector() -> (PrivateKeySigner, UptoAuthorization) {
        let signer: PrivateKeySigner =
            "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
                .parse()
                .unwrap();
        let auth = UptoAuthorization {
            permit: Permit2Authorization {
                from: signer.address(),
                token: address!("036CbD53842c5426634e7929541eC2318f3dCF7e"),
                amount: U256::from(5_000_000u64),
                spender: UPTO_PERMIT2_PROXY,
                nonce: U256::from(123_456_789u64),
                deadline: U256::from(1_740_672_154u64),
                to: address!("209693Bc6afc0C5328bA36FaF03C514EF312287C"),
                valid_after: U256::ZERO,
            },
            facilitator: address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
        };
        (signer, auth)
    }

    #[test]
    fn type_string_is_permit2_stub_plus_the_upto_witness() {
        assert_eq!(
            typed_upto::PermitWitnessTransferFrom::eip712_encode_type(),
            "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)"
        );
    }

    #[test]
    fn signature_and_calldata_match_the_official_sdk() {
        let (signer, auth) = sdk_vector();
        let digest = auth.typed().eip712_signing_hash(&permit2_domain(84532));
        assert_eq!(
            digest,
            b256!("f24974d2973b777cd990455cd23e1ef415b0d746b1b2642fc1b4bbbda65dcccd")
        );
        let sig = sign_upto(&signer, 84532, &auth).unwrap();
        assert_eq!(
            hex::encode(&sig),
            "a79d2599c92bde06738c03a8e518dbf68d5549979639c0698ae332bd043cd2cb6c1f8c16d2fc8276f17eaa2b73b0e9f1a0271c4cfb72b2ffd296d6ea01500e591c"
        );
        let data = settle_calldata(&auth, U256::from(1_500_000u64), &sig, None);
        assert_eq!(&data[..4], &hex!("ff11e7b4"), "settle's selector");
        let call = Proxy::settleCall::abi_decode(&data).unwrap();
        assert_eq!(call.amount, U256::from(1_500_000u64));
        assert_eq!(call.permit.permitted.amount, U256::from(5_000_000u64));
        assert_eq!(call.witness.facilitator, auth.facilitator);
        assert_eq!(call.signature.to_vec(), sig);
        assert_eq!(
            Proxy::settleWithPermitCall::SELECTOR,
            hex!("016c1748"),
            "settleWithPermit's selector"
        );
        let payload = auth.to_payload(&sig);
        let read = tollgate_payload::upto::parse_payload(&payload).unwrap();
        assert_eq!(read.auth, auth);
        assert_ne!(auth.facilitator, Address::ZERO);
    }
}
