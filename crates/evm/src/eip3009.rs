//! `exact` on EVM through EIP-3009 `transferWithAuthorization` (USDC): the EIP-712 message and
//! domain a payer signs. The authorization and its strict reading live in `tollgate-payload`;
//! verification is the `verify` pipeline's `Eip3009` method.

use alloy::primitives::{Address, Bytes, Signature, U256};
use alloy::signers::SignerSync;
use alloy::sol_types::{Eip712Domain, SolCall, SolStruct};

use crate::contracts::{IEip3009, TransferWithAuthorization, Typed};
pub use crate::wire::VALID_BEFORE_BUFFER_SECS;

pub use tollgate_payload::eip3009::Eip3009Authorization;
pub(crate) use tollgate_payload::eip3009::{identity, parse_payload};

impl Typed for Eip3009Authorization {
    type Message = TransferWithAuthorization;

    /// The EIP-712 message signed.
    fn typed(&self) -> TransferWithAuthorization {
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

/// Calldata of the transfer: the (v, r, s) form for a 65-byte signature, as the reference picks;
/// the bytes form otherwise (ERC-1271 / ERC-6492 wallets).
pub fn transfer_calldata(auth: &Eip3009Authorization, signature: &[u8]) -> Bytes {
    let ecdsa = (signature.len() == 65)
        .then(|| Signature::try_from(signature).ok())
        .flatten();
    if let Some(sig) = ecdsa {
        IEip3009::transferWithAuthorization_0Call {
            from: auth.from,
            to: auth.to,
            value: auth.value,
            validAfter: auth.valid_after,
            validBefore: auth.valid_before,
            nonce: auth.nonce,
            v: 27 + sig.v() as u8,
            r: sig.r().into(),
            s: sig.s().into(),
        }
        .abi_encode()
        .into()
    } else {
        IEip3009::transferWithAuthorization_1Call {
            from: auth.from,
            to: auth.to,
            value: auth.value,
            validAfter: auth.valid_after,
            validBefore: auth.valid_before,
            nonce: auth.nonce,
            signature: signature.to_vec().into(),
        }
        .abi_encode()
        .into()
    }
}
