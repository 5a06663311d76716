//! `exact` on EVM through EIP-3009 `transferWithAuthorization` (USDC): the EIP-712 message and
//! domain a payer signs. The authorization and its strict reading live in `tollgate-payload`;
//! verification is the `verify` pipeline's `Eip3009` method.

use alloy::primitives::{Address, B256, Bytes, Signature, U256};
use alloy::signers::SignerSync;
use alloy::sol_types::{Eip712Domain, SolCall, SolStruct, SolValue};

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
    // Both overloads open with the authorization's six static words; ABI-encoded as one
    // static tuple they are laid out exactly as six leading parameters.
    let words = (
        auth.from,
        auth.to,
        auth.value,
        auth.valid_after,
        auth.valid_before,
        auth.nonce,
    );
    let ecdsa = (signature.len() == 65)
        .then(|| Signature::try_from(signature).ok())
        .flatten();
    let (selector, params) = match ecdsa {
        Some(sig) => (
            IEip3009::transferWithAuthorization_0Call::SELECTOR,
            (
                words,
                // uint8 `v` takes one word, as a uint256 of the same value does.
                U256::from(27 + sig.v() as u8),
                B256::from(sig.r()),
                B256::from(sig.s()),
            )
                .abi_encode_params(),
        ),
        None => (
            IEip3009::transferWithAuthorization_1Call::SELECTOR,
            (words, Bytes::copy_from_slice(signature)).abi_encode_params(),
        ),
    };
    [selector.as_slice(), &params].concat().into()
}

#[cfg(test)]
mod tests {
    use alloy::signers::local::PrivateKeySigner;

    use super::*;

    fn auth() -> Eip3009Authorization {
        Eip3009Authorization {
            from: Address::repeat_byte(1),
            to: Address::repeat_byte(2),
            value: U256::from(17_000u64),
            valid_after: U256::from(10u64),
            valid_before: U256::from(20u64),
            nonce: B256::repeat_byte(3),
        }
    }

    #[test]
    fn calldata_decodes_as_the_overload_the_signature_picks() {
        let auth = auth();
        let domain = token_domain("USD Coin", "2", 8453, Address::repeat_byte(4));
        let ecdsa = sign_eip3009(&PrivateKeySigner::random(), &domain, &auth).unwrap();
        let vrs = transfer_calldata(&auth, &ecdsa);
        let c = IEip3009::transferWithAuthorization_0Call::abi_decode(&vrs).unwrap();
        assert_eq!(
            (c.from, c.validBefore, c.nonce),
            (auth.from, auth.valid_before, auth.nonce)
        );
        let sig = Signature::try_from(ecdsa.as_slice()).unwrap();
        assert_eq!(
            (c.v, c.r, c.s),
            (27 + sig.v() as u8, B256::from(sig.r()), B256::from(sig.s()))
        );
        assert_eq!(Bytes::from(c.abi_encode()), vrs, "nothing trails the call");

        let wallet_sig = vec![7u8; 100];
        let bytes = transfer_calldata(&auth, &wallet_sig);
        let c = IEip3009::transferWithAuthorization_1Call::abi_decode(&bytes).unwrap();
        assert_eq!(
            (c.to, c.value, c.validAfter),
            (auth.to, auth.value, auth.valid_after)
        );
        assert_eq!(c.signature.to_vec(), wallet_sig);
        assert_eq!(
            Bytes::from(c.abi_encode()),
            bytes,
            "nothing trails the call"
        );
    }
}
