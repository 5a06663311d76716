//! `upto` on EVM: a Permit2 witness transfer of at most a maximum to the x402 upto proxy, whose
//! witness names the one facilitator that may settle it, for any amount up to that maximum.
//! Here: the EIP-712 message a payer signs and the proxy call a settlement sends. The
//! authorization and its strict reading live in `tollgate-payload`.

use alloy::primitives::{B256, Bytes, U256, keccak256};
use alloy::signers::SignerSync;
use alloy::sol_types::{SolCall, SolValue};

use crate::contracts::IX402UptoPermit2Proxy as Proxy;
use crate::eip2612::Eip2612Permit;
use crate::permit2::{permit_transfer, permit2_domain, permit2_signature};

pub use crate::contracts::UPTO_PERMIT2_PROXY;
pub use tollgate_payload::upto::UptoAuthorization;

/// The EIP-712 types of an `upto` payment: Permit2's witness transfer, whose witness also
/// names the facilitator. (`exact` Permit2 uses the same type names with another witness.)
const TOKEN_PERMISSIONS: &str = "TokenPermissions(address token,uint256 amount)";
const WITNESS: &str = "Witness(address to,address facilitator,uint256 validAfter)";
const PERMIT_WITNESS_TRANSFER_FROM: &str = "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,Witness witness)";

/// The EIP-712 digest an `upto` payer signs on `chain_id` (Permit2's domain).
pub fn upto_digest(auth: &UptoAuthorization, chain_id: u64) -> B256 {
    let p = &auth.permit;
    let permitted = keccak256((keccak256(TOKEN_PERMISSIONS), p.token, p.amount).abi_encode());
    let witness =
        keccak256((keccak256(WITNESS), p.to, auth.facilitator, p.valid_after).abi_encode());
    let typehash = keccak256(format!(
        "{PERMIT_WITNESS_TRANSFER_FROM}{TOKEN_PERMISSIONS}{WITNESS}"
    ));
    let message =
        keccak256((typehash, permitted, p.spender, p.nonce, p.deadline, witness).abi_encode());
    let separator = permit2_domain(chain_id).separator();
    keccak256([&[0x19, 0x01], separator.as_slice(), message.as_slice()].concat())
}

/// Signs an `upto` authorization as the payer; returns the 65-byte r‖s‖v signature.
pub fn sign_upto(
    signer: &impl SignerSync,
    chain_id: u64,
    auth: &UptoAuthorization,
) -> Result<Vec<u8>, alloy::signers::Error> {
    Ok(signer
        .sign_hash_sync(&upto_digest(auth, chain_id))?
        .as_bytes()
        .to_vec())
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
    fn signature_and_calldata_match_the_official_sdk() {
        let (signer, auth) = sdk_vector();
        let digest = upto_digest(&auth, 84532);
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
