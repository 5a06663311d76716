//! `exact` on EVM through Permit2 and the x402 exact Permit2 proxy, for ERC-20s without
//! EIP-3009 (TMAI): payload parsing, the reference's verification order, and payer signing.

use alloy::primitives::{Address, Bytes, Signature, U256, address};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::SignerSync;
use alloy::sol_types::{Eip712Domain, SolCall, SolStruct};
use alloy::transports::RpcError;
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_proto::v2::Object;
use tollgate_proto::{PaymentView, Rejection, Verified, parse_atomic, reason};

use crate::contracts::IX402ExactPermit2Proxy as Proxy;
use crate::contracts::{IErc20, typed};
use crate::eip2612::{self, Eip2612Permit};
use crate::exact::{
    ExactEvm, MAX_SIGNATURE_BYTES, VALID_BEFORE_BUFFER_SECS, bad_payload, object, parse_address,
    parse_hex, requirement_address, unix_now,
};
use crate::rpc::error_text;

/// The canonical Permit2 (same address on every chain).
pub const PERMIT2: Address = address!("000000000022D473030F116dDEE9F6B43aC78BA3");

/// The x402 exact Permit2 proxy: the only spender a payer's Permit2 signature may name.
pub const EXACT_PERMIT2_PROXY: Address = address!("402085c248EeA27D92E8b30b2C58ed07f9E20001");

alloy::sol! {
    /// Permit2's unordered nonce bitmap, read when a simulation fails.
    interface IPermit2Nonces {
        function nonceBitmap(address owner, uint256 wordPos) external view returns (uint256);
    }
}

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

struct Parsed {
    auth: Permit2Authorization,
    signature: Vec<u8>,
}

fn parse_payload(payload: &Object) -> Result<Parsed, Rejection> {
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
fn identity(network: &str, token: Address, auth: &Permit2Authorization) -> String {
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

/// Verifies a Permit2 payment in the reference order; a valid one costs one RPC round trip.
pub(crate) async fn verify(
    exact: &ExactEvm,
    view: &PaymentView<'_>,
) -> Result<Verified, Rejection> {
    let chain = exact.chain();
    let req = &view.requirements;
    if view.scheme != "exact" || req.scheme != "exact" {
        return Err(Rejection::new(reason::UNSUPPORTED_PAYLOAD_TYPE));
    }
    if view.network.as_ref() != Some(&req.network) || &req.network != chain.network() {
        return Err(Rejection::new(reason::EVM_NETWORK_MISMATCH));
    }
    let token = requirement_address(req.asset, "asset")?;
    let pay_to = requirement_address(req.pay_to, "payTo")?;
    let Parsed { auth, signature } = parse_payload(view.payload)?;
    let payer = auth.from.to_checksum(None);
    let reject = |r: &'static str| Rejection::new(r).with_payer(payer.clone());
    if !exact.permit2_enabled() {
        return Err(reject(reason::PERMIT2_PROXY_NOT_DEPLOYED));
    }

    if auth.spender != EXACT_PERMIT2_PROXY {
        return Err(reject(reason::PERMIT2_SPENDER));
    }
    if auth.to != pay_to {
        return Err(reject(reason::PERMIT2_RECIPIENT_MISMATCH));
    }
    let now = unix_now();
    if auth.deadline < U256::from(now + VALID_BEFORE_BUFFER_SECS) {
        return Err(reject(reason::PERMIT2_DEADLINE_EXPIRED));
    }
    if auth.valid_after > U256::from(now) {
        return Err(reject(reason::PERMIT2_NOT_YET_VALID));
    }
    if auth.amount != req.amount {
        return Err(reject(reason::PERMIT2_AMOUNT_MISMATCH));
    }
    if auth.token != token {
        return Err(reject(reason::PERMIT2_TOKEN_MISMATCH));
    }

    // A valid payment skips local recovery: Permit2 checks the signature in the simulation, and
    // the transaction sent is the very call simulated. Every refusal below still names a bad
    // signature first, as the reference order does.
    let digest = auth
        .typed()
        .eip712_signing_hash(&permit2_domain(chain.chain_id()));
    let bad_signature = || async {
        let vouched = exact
            .signature_vouched(&signature, &digest, auth.from)
            .await;
        vouched
            .map(|ok| !ok)
            .map_err(|r| r.with_payer(payer.clone()))
    };
    let permit2612 = if chain.eip2612_gas_sponsoring() {
        let checked = eip2612::from_extensions(view.extensions).and_then(|p| {
            p.map(|p| p.check(auth.from, token, auth.amount, now).map(|_| p))
                .transpose()
        });
        match checked {
            Ok(p) => p,
            Err(_) if bad_signature().await? => return Err(reject(reason::PERMIT2_SIGNATURE)),
            Err(r) => return Err(r.with_payer(payer.clone())),
        }
    } else {
        None
    };
    if let Err(r) = exact.ensure_deployed(token).await {
        if bad_signature().await? {
            return Err(reject(reason::PERMIT2_SIGNATURE));
        }
        return Err(r.with_payer(payer.clone()));
    }
    let calldata = settle_calldata(&auth, &signature, permit2612.as_ref());
    let sim = TransactionRequest::default()
        .from(chain.simulation_sender())
        .to(EXACT_PERMIT2_PROXY)
        .input(calldata.clone().into());
    match chain.provider().call(sim).await {
        Ok(_) => Ok(Verified {
            identity: identity(chain.network().caip2(), token, &auth),
            payer,
            amount: auth.amount,
            target: format!("{EXACT_PERMIT2_PROXY:#x}"),
            data: calldata.to_vec(),
        }),
        Err(RpcError::ErrorResp(resp)) => {
            let cause = if bad_signature().await? {
                reason::PERMIT2_SIGNATURE
            } else {
                diagnose(exact, token, &auth).await
            };
            Err(reject(cause).with_message(resp.message.to_string()))
        }
        Err(e) => Err(reject(reason::UNEXPECTED_VERIFY_ERROR)
            .with_message(format!("rpc: {}", error_text(&e)))),
    }
}

/// Names why a simulation failed, with one batched round trip of reads.
async fn diagnose(exact: &ExactEvm, token: Address, auth: &Permit2Authorization) -> &'static str {
    let calls = vec![
        (
            token,
            IErc20::balanceOfCall { account: auth.from }
                .abi_encode()
                .into(),
        ),
        (
            token,
            IErc20::allowanceCall {
                owner: auth.from,
                spender: PERMIT2,
            }
            .abi_encode()
            .into(),
        ),
        (
            PERMIT2,
            IPermit2Nonces::nonceBitmapCall {
                owner: auth.from,
                wordPos: auth.nonce >> 8,
            }
            .abi_encode()
            .into(),
        ),
    ];
    let Some((code, out)) = exact.batch_code_and_calls(EXACT_PERMIT2_PROXY, calls).await else {
        return reason::PERMIT2_SIMULATION_FAILED;
    };
    if code.is_some_and(|c| c.is_empty()) {
        return reason::PERMIT2_PROXY_NOT_DEPLOYED;
    }
    let word = |i: usize| {
        out[i]
            .as_ref()
            .and_then(|b| IErc20::balanceOfCall::abi_decode_returns(b).ok())
    };
    if word(0).is_some_and(|b| b < auth.amount) {
        return reason::PERMIT2_INSUFFICIENT_BALANCE;
    }
    if word(1).is_some_and(|a| a < auth.amount) {
        return reason::PERMIT2_ALLOWANCE_REQUIRED;
    }
    let bit = U256::from(1u8) << (auth.nonce & U256::from(0xffu8)).to::<usize>();
    if word(2).is_some_and(|w| w & bit != U256::ZERO) {
        return reason::PERMIT2_INVALID_NONCE;
    }
    reason::PERMIT2_SIMULATION_FAILED
}

/// Calldata of the proxy call: `settleWithPermit` with an EIP-2612 permit, else `settle`.
fn settle_calldata(
    auth: &Permit2Authorization,
    signature: &[u8],
    permit2612: Option<&Eip2612Permit>,
) -> Bytes {
    // Permit2 runs ecrecover on a 65-byte signature, which wants v as 27/28; a 0/1 `v` is
    // rewritten, anything else passes through untouched for the wallet to judge.
    let normalized = (signature.len() == 65 && signature[64] < 2)
        .then(|| Signature::try_from(signature).ok())
        .flatten();
    let signature: Bytes = match normalized {
        Some(sig) => sig.as_bytes().to_vec().into(),
        None => signature.to_vec().into(),
    };
    let permit = Proxy::PermitTransferFrom {
        permitted: Proxy::TokenPermissions {
            token: auth.token,
            amount: auth.amount,
        },
        nonce: auth.nonce,
        deadline: auth.deadline,
    };
    let witness = Proxy::Witness {
        to: auth.to,
        validAfter: auth.valid_after,
    };
    match permit2612 {
        None => Proxy::settleCall {
            permit,
            owner: auth.from,
            witness,
            signature,
        }
        .abi_encode()
        .into(),
        Some(p) => Proxy::settleWithPermitCall {
            permit2612: p.proxy_arg(),
            permit,
            owner: auth.from,
            witness,
            signature,
        }
        .abi_encode()
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::ecdsa_matches;
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
