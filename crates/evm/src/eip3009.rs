//! `exact` on EVM through EIP-3009 `transferWithAuthorization` (USDC): payload parsing, the
//! verification order of the x402 reference, and the payer-side signing that shares its types.

use alloy::primitives::{Address, B256, Bytes, Signature, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::SignerSync;
use alloy::sol_types::{Eip712Domain, SolCall, SolStruct};
use alloy::transports::RpcError;
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_proto::v2::Object;
use tollgate_proto::{PaymentView, Rejection, Verified, parse_atomic, reason};

use crate::contracts::{IEip3009, TransferWithAuthorization};
pub use crate::exact::VALID_BEFORE_BUFFER_SECS;
use crate::exact::{
    ExactEvm, MAX_SIGNATURE_BYTES, bad_payload, object, parse_address, parse_hex,
    requirement_address, unix_now,
};
use crate::rpc::error_text;

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
struct Parsed {
    auth: Eip3009Authorization,
    signature: Vec<u8>,
}

fn parse_payload(payload: &Object) -> Result<Parsed, Rejection> {
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
fn identity(network: &str, token: Address, auth: &Eip3009Authorization) -> String {
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

/// Verifies an EIP-3009 payment in the reference order; a valid one costs one RPC round trip.
pub(crate) async fn verify(
    exact: &ExactEvm,
    view: &PaymentView<'_>,
) -> Result<Verified, Rejection> {
    let chain = exact.chain();
    let req = &view.requirements;
    if view.scheme != "exact" || req.scheme != "exact" {
        return Err(Rejection::new(reason::EVM_SCHEME));
    }
    let (Some(name), Some(version)) = (req.extra_str("name"), req.extra_str("version")) else {
        return Err(Rejection::new(reason::EVM_MISSING_EIP712_DOMAIN));
    };
    if view.network.as_ref() != Some(&req.network) || &req.network != chain.network() {
        return Err(Rejection::new(reason::EVM_NETWORK_MISMATCH));
    }
    let token = requirement_address(req.asset, "asset")?;
    let pay_to = requirement_address(req.pay_to, "payTo")?;
    let Parsed { auth, signature } = parse_payload(view.payload)?;
    let payer = auth.from.to_checksum(None);
    let reject = |r: &'static str| Rejection::new(r).with_payer(payer.clone());

    let domain = token_domain(name, version, chain.chain_id(), token);
    let digest = auth.typed().eip712_signing_hash(&domain);
    // The cheap checks run first; a signature fault still wins, as in the reference order.
    // A valid payment skips local recovery entirely: the token checks the signature in the
    // simulation, and the transaction sent is the very call simulated.
    let now = U256::from(unix_now());
    let cheap = if auth.to != pay_to {
        Some(reason::EVM_RECIPIENT_MISMATCH)
    } else if auth.valid_before < now + U256::from(VALID_BEFORE_BUFFER_SECS) {
        Some(reason::EVM_VALID_BEFORE)
    } else if auth.valid_after > now {
        Some(reason::EVM_VALID_AFTER)
    } else if auth.value != req.amount {
        Some(reason::EVM_AUTHORIZATION_VALUE)
    } else {
        None
    };
    if let Some(cheap) = cheap {
        let sig_fault = signature_fault(exact, &auth, &signature, &digest).await;
        return Err(reject(
            sig_fault
                .map_err(|r| r.with_payer(payer.clone()))?
                .unwrap_or(cheap),
        ));
    }

    if let Err(r) = exact.ensure_deployed(token).await {
        let sig_fault = signature_fault(exact, &auth, &signature, &digest).await;
        return Err(match sig_fault.map_err(|r| r.with_payer(payer.clone()))? {
            Some(fault) => reject(fault),
            None => r.with_payer(payer.clone()),
        });
    }
    let calldata = transfer_calldata(&auth, &signature);
    let sim = TransactionRequest::default()
        .from(chain.simulation_sender())
        .to(token)
        .input(calldata.clone().into());
    match chain.provider().call(sim).await {
        Ok(_) => Ok(Verified {
            identity: identity(chain.network().caip2(), token, &auth),
            payer,
            amount: auth.value,
            target: format!("{token:#x}"),
            data: calldata.to_vec(),
        }),
        Err(RpcError::ErrorResp(resp)) => {
            let sig_fault = signature_fault(exact, &auth, &signature, &digest).await;
            let cause = match sig_fault.map_err(|r| r.with_payer(payer.clone()))? {
                Some(fault) => fault,
                None => diagnose(exact, token, &auth, name, version).await,
            };
            Err(reject(cause).with_message(resp.message.to_string()))
        }
        Err(e) => Err(reject(reason::UNEXPECTED_VERIFY_ERROR)
            .with_message(format!("rpc: {}", error_text(&e)))),
    }
}

/// The signature's fault, if any, in EIP-3009's reason strings.
async fn signature_fault(
    exact: &ExactEvm,
    auth: &Eip3009Authorization,
    signature: &[u8],
    digest: &B256,
) -> Result<Option<&'static str>, Rejection> {
    if exact
        .signature_vouched(signature, digest, auth.from)
        .await?
    {
        return Ok(None);
    }
    Ok(Some(if signature.len() == 65 {
        reason::EVM_SIGNATURE
    } else {
        reason::EVM_UNDEPLOYED_SMART_WALLET
    }))
}

/// Names why a simulation failed, with one batched round trip of reads.
async fn diagnose(
    exact: &ExactEvm,
    token: Address,
    auth: &Eip3009Authorization,
    name: &str,
    version: &str,
) -> &'static str {
    let calls = [
        IEip3009::authorizationStateCall {
            authorizer: auth.from,
            nonce: auth.nonce,
        }
        .abi_encode(),
        IEip3009::nameCall {}.abi_encode(),
        IEip3009::versionCall {}.abi_encode(),
        IEip3009::balanceOfCall { account: auth.from }.abi_encode(),
    ];
    let calls = calls.into_iter().map(|c| (token, Bytes::from(c))).collect();
    let Some(out) = exact.batch_calls(calls).await else {
        return reason::EVM_SIMULATION_FAILED;
    };
    let used = out[0]
        .as_ref()
        .map(|b| IEip3009::authorizationStateCall::abi_decode_returns(b));
    match used {
        None | Some(Err(_)) => return reason::EVM_EIP3009_NOT_SUPPORTED,
        Some(Ok(true)) => return reason::EVM_NONCE_ALREADY_USED,
        Some(Ok(false)) => {}
    }
    let text = |b: &Option<Bytes>, f: fn(&[u8]) -> Option<String>| b.as_ref().and_then(|b| f(b));
    if text(&out[1], |b| IEip3009::nameCall::abi_decode_returns(b).ok()).is_some_and(|n| n != name)
    {
        return reason::EVM_TOKEN_NAME_MISMATCH;
    }
    if text(&out[2], |b| {
        IEip3009::versionCall::abi_decode_returns(b).ok()
    })
    .is_some_and(|v| v != version)
    {
        return reason::EVM_TOKEN_VERSION_MISMATCH;
    }
    let balance = out[3]
        .as_ref()
        .and_then(|b| IEip3009::balanceOfCall::abi_decode_returns(b).ok());
    if balance.is_some_and(|b| b < auth.value) {
        return reason::EVM_INSUFFICIENT_BALANCE;
    }
    reason::EVM_SIMULATION_FAILED
}

/// Calldata of the transfer: the (v, r, s) form for a 65-byte signature, as the reference picks;
/// the bytes form otherwise (ERC-1271 / ERC-6492 wallets).
fn transfer_calldata(auth: &Eip3009Authorization, signature: &[u8]) -> Bytes {
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
