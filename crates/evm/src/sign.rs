//! The payer's side of EVM payments in one call: read a requirement, take the scheme and transfer
//! method the seller asked for and sign it, so a wallet never builds an authorization itself and
//! signs exactly what the facilitator's verification reads.

use alloy::primitives::{Address, B256, U256};
use alloy::signers::{Signer, SignerSync};
use tollgate_proto::RequirementsView;
use tollgate_proto::v2::Object;

use crate::contracts::{EXACT_PERMIT2_PROXY, UPTO_PERMIT2_PROXY};
use crate::eip3009::{Eip3009Authorization, sign_eip3009, token_domain};
use crate::permit2::{Permit2Authorization, sign_permit2};
use crate::upto::{UptoAuthorization, sign_upto};
use crate::wire::{TransferMethod, parse_address};

/// The unix seconds a payment may settle in; the payer picks them (clock skew, timeout caps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Earliest second it settles (EIP-3009 and Permit2-witness `validAfter`).
    pub valid_after: u64,
    /// Second from which it no longer settles (EIP-3009 `validBefore`, Permit2 `deadline`).
    pub valid_before: u64,
}

/// What was signed, by transfer method: its nonce is what the chain marks used on settlement.
/// An `upto` payment is a Permit2 authorization of its maximum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    Eip3009(Eip3009Authorization),
    Permit2(Permit2Authorization),
}

/// An `exact` EVM payment signed by the payer, with what it needs to ask the chain about it.
#[derive(Debug, Clone)]
pub struct SignedPayment {
    /// The scheme `payload` object the server forwards to its facilitator.
    pub payload: Object,
    /// The chain the signature binds to.
    pub chain_id: u64,
    /// The token paid in.
    pub token: Address,
    /// The signed authorization.
    pub authorization: Authorization,
}

/// Why a requirement could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{0} is not EVM")]
    NotEvm(String),
    #[error("{what} {value:?} is not an address")]
    Address { what: &'static str, value: String },
    #[error("EIP-3009 offer lacks extra.name / extra.version")]
    MissingDomain,
    #[error("assetTransferMethod {0:?} is not one this payer signs")]
    Method(String),
    #[error("scheme {0:?} is not one this payer signs")]
    Scheme(String),
    #[error("signing failed: {0}")]
    Signer(#[from] alloy::signers::Error),
}

/// Signs the payment `requirements` ask for, valid over `validity`, with a fresh random nonce:
/// `exact` through Permit2 when `extra.assetTransferMethod` says so and EIP-3009 otherwise;
/// `upto` through Permit2 for the maximum, pinned to `extra.facilitatorAddress`.
pub fn sign_payment(
    signer: &(impl SignerSync + Signer),
    requirements: &RequirementsView<'_>,
    validity: Validity,
) -> Result<SignedPayment, SignError> {
    let network = &requirements.network;
    let chain_id = network
        .chain_id()
        .ok_or_else(|| SignError::NotEvm(network.to_string()))?;
    let address = |value: &str, what| {
        parse_address(value, what).map_err(|_| SignError::Address {
            what,
            value: value.into(),
        })
    };
    let token = address(requirements.asset, "asset")?;
    let pay_to = address(requirements.pay_to, "payTo")?;
    let valid_after = U256::from(validity.valid_after);
    let valid_before = U256::from(validity.valid_before);
    let permit = |spender| Permit2Authorization {
        from: signer.address(),
        token,
        amount: requirements.amount,
        spender,
        nonce: U256::from_be_bytes(B256::random().0),
        deadline: valid_before,
        to: pay_to,
        valid_after,
    };
    match requirements.scheme {
        "exact" => {}
        "upto" => {
            let facilitator = requirements
                .extra_str("facilitatorAddress")
                .ok_or_else(|| SignError::Address {
                    what: "extra.facilitatorAddress",
                    value: String::new(),
                })
                .and_then(|f| address(f, "extra.facilitatorAddress"))?;
            let auth = UptoAuthorization {
                permit: permit(UPTO_PERMIT2_PROXY),
                facilitator,
            };
            let sig = sign_upto(signer, chain_id, &auth)?;
            return Ok(SignedPayment {
                payload: auth.to_payload(&sig),
                chain_id,
                token,
                authorization: Authorization::Permit2(auth.permit),
            });
        }
        other => return Err(SignError::Scheme(other.into())),
    }
    let method = TransferMethod::asked(requirements).map_err(|m| SignError::Method(m.into()))?;
    let (payload, authorization) = match method {
        TransferMethod::Permit2 => {
            let auth = permit(EXACT_PERMIT2_PROXY);
            let sig = sign_permit2(signer, chain_id, &auth)?;
            (auth.to_payload(&sig), Authorization::Permit2(auth))
        }
        TransferMethod::Eip3009 => {
            let (Some(name), Some(version)) = (
                requirements.extra_str("name"),
                requirements.extra_str("version"),
            ) else {
                return Err(SignError::MissingDomain);
            };
            let auth = Eip3009Authorization {
                from: signer.address(),
                to: pay_to,
                value: requirements.amount,
                valid_after,
                valid_before,
                nonce: B256::random(),
            };
            let domain = token_domain(name, version, chain_id, token);
            let sig = sign_eip3009(signer, &domain, &auth)?;
            (auth.to_payload(&sig), Authorization::Eip3009(auth))
        }
    };
    Ok(SignedPayment {
        payload,
        chain_id,
        token,
        authorization,
    })
}

#[cfg(test)]
mod tests {
    use alloy::signers::local::PrivateKeySigner;
    use alloy::sol_types::SolStruct;
    use serde_json::json;
    use tollgate_proto::{Network, PaymentView};

    use super::*;
    use crate::contracts::Typed;
    use crate::payments::payment_identity;
    use crate::permit2::permit2_domain;
    use crate::wire::ecdsa_matches;

    const WINDOW: Validity = Validity {
        valid_after: 1_000,
        valid_before: 2_000_000_000,
    };

    fn requirements(extra: &Object) -> RequirementsView<'_> {
        RequirementsView {
            scheme: "exact",
            network: Network::evm(8453),
            amount: U256::from(17_000u64),
            asset: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
            pay_to: "0x00000000000000000000000000000000000000bb",
            max_timeout_seconds: 60,
            extra: Some(extra),
        }
    }

    /// The facilitator reads the payload it was given as the payment it was signed as.
    fn identity_of(req: &RequirementsView<'_>, payload: &Object) -> String {
        let view = PaymentView {
            version: 2,
            scheme: "exact",
            network: Some(req.network.clone()),
            payload,
            extensions: None,
            requirements: req.clone(),
        };
        payment_identity(&view).expect("the payload parses as the method asked for")
    }

    #[test]
    fn an_offer_without_a_method_is_paid_with_eip3009() {
        let signer = PrivateKeySigner::random();
        let extra = crate::wire::object(json!({"name": "USD Coin", "version": "2"}));
        let req = requirements(&extra);
        let signed = sign_payment(&signer, &req, WINDOW).unwrap();
        let Authorization::Eip3009(auth) = &signed.authorization else {
            panic!("{:?}", signed.authorization);
        };
        assert_eq!((auth.from, auth.value), (signer.address(), req.amount));
        assert_eq!(auth.valid_before, U256::from(WINDOW.valid_before));
        let parsed = crate::eip3009::parse_payload(&signed.payload).unwrap();
        assert_eq!(&parsed.auth, auth);
        let domain = token_domain("USD Coin", "2", 8453, signed.token);
        let digest = auth.typed().eip712_signing_hash(&domain);
        assert!(ecdsa_matches(&parsed.signature, &digest, signer.address()));
        assert!(identity_of(&req, &signed.payload).starts_with("eip155:8453/"));
    }

    #[test]
    fn a_permit2_offer_is_paid_through_the_x402_proxy() {
        let signer = PrivateKeySigner::random();
        let extra = crate::wire::object(json!({"assetTransferMethod": "permit2"}));
        let req = requirements(&extra);
        let signed = sign_payment(&signer, &req, WINDOW).unwrap();
        let Authorization::Permit2(auth) = &signed.authorization else {
            panic!("{:?}", signed.authorization);
        };
        assert_eq!(
            (auth.spender, auth.token),
            (EXACT_PERMIT2_PROXY, signed.token)
        );
        assert_eq!(auth.deadline, U256::from(WINDOW.valid_before));
        let parsed = crate::permit2::parse_payload(&signed.payload).unwrap();
        assert_eq!(&parsed.auth, auth);
        let digest = auth.typed().eip712_signing_hash(&permit2_domain(8453));
        assert!(ecdsa_matches(&parsed.signature, &digest, signer.address()));
        assert!(identity_of(&req, &signed.payload).starts_with("permit2:eip155:8453/"));
    }

    #[test]
    fn an_upto_offer_authorizes_its_maximum_to_the_named_facilitator() {
        let signer = PrivateKeySigner::random();
        let facilitator = "0x00000000000000000000000000000000000000fa";
        let extra = crate::wire::object(
            json!({"assetTransferMethod": "permit2", "facilitatorAddress": facilitator}),
        );
        let mut req = requirements(&extra);
        req.scheme = "upto";
        let signed = sign_payment(&signer, &req, WINDOW).unwrap();
        let parsed = tollgate_payload::upto::parse_payload(&signed.payload).unwrap();
        let auth = &parsed.auth;
        assert_eq!(auth.facilitator, parse_address(facilitator, "f").unwrap());
        assert_eq!(auth.permit.spender, UPTO_PERMIT2_PROXY);
        assert_eq!(auth.permit.amount, req.amount);
        assert_eq!(
            signed.authorization,
            Authorization::Permit2(auth.permit.clone())
        );
        let digest = crate::upto::upto_digest(auth, 8453);
        assert!(ecdsa_matches(&parsed.signature, &digest, signer.address()));
        // Without the facilitator to pin, nothing is signed.
        let bare = crate::wire::object(json!({"assetTransferMethod": "permit2"}));
        let mut req = requirements(&bare);
        req.scheme = "upto";
        let err = sign_payment(&signer, &req, WINDOW).unwrap_err();
        assert!(err.to_string().contains("facilitatorAddress"), "{err}");
        req.scheme = "deferred";
        let err = sign_payment(&signer, &req, WINDOW).unwrap_err();
        assert!(matches!(err, SignError::Scheme(_)), "{err}");
    }

    #[test]
    fn what_cannot_be_signed_is_named() {
        let signer = PrivateKeySigner::random();
        let unknown = crate::wire::object(json!({"assetTransferMethod": "teleport"}));
        let err = sign_payment(&signer, &requirements(&unknown), WINDOW).unwrap_err();
        assert!(
            matches!(err, SignError::Method(ref m) if m == "teleport"),
            "{err}"
        );
        let no_domain = Object::new();
        let err = sign_payment(&signer, &requirements(&no_domain), WINDOW).unwrap_err();
        assert!(matches!(err, SignError::MissingDomain), "{err}");
        let mut solana = requirements(&no_domain);
        solana.network = Network::from_caip2("solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1").unwrap();
        let err = sign_payment(&signer, &solana, WINDOW).unwrap_err();
        assert!(matches!(err, SignError::NotEvm(_)), "{err}");
    }
}
