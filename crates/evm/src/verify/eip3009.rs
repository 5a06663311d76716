//! Verifies an EIP-3009 payment in the x402 reference's order: cheap checks first, then one
//! simulation of the very call a settlement sends; a refusal is named with one batched read.

use alloy::primitives::{Address, B256, Bytes, Signature, U256};
use alloy::sol_types::{SolCall, SolStruct};
use alloy::transports::RpcError;
use tollgate_proto::{PaymentView, Rejection, Verified, reason};

use super::ChainReads;
use crate::contracts::IEip3009;
use crate::eip3009::{Eip3009Authorization, Parsed, identity, parse_payload, token_domain};
use crate::error::error_text;
use crate::wire::{VALID_BEFORE_BUFFER_SECS, unix_now};

/// Verifies an EIP-3009 payment in the reference order; a valid one costs one RPC round trip.
pub(crate) async fn verify(
    reads: &ChainReads,
    view: &PaymentView<'_>,
) -> Result<Verified, Rejection> {
    let chain = reads.chain();
    let req = &view.requirements;
    if view.scheme != "exact" || req.scheme != "exact" {
        return Err(Rejection::new(reason::EVM_SCHEME));
    }
    let (Some(name), Some(version)) = (req.extra_str("name"), req.extra_str("version")) else {
        return Err(Rejection::new(reason::EVM_MISSING_EIP712_DOMAIN));
    };
    let (token, pay_to) = reads.token_and_payee(view)?;
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
        let sig_fault = signature_fault(reads, &auth, &signature, &digest).await;
        return Err(reject(
            sig_fault
                .map_err(|r| r.with_payer(payer.clone()))?
                .unwrap_or(cheap),
        ));
    }

    if let Err(r) = reads.ensure_deployed(token).await {
        let sig_fault = signature_fault(reads, &auth, &signature, &digest).await;
        return Err(match sig_fault.map_err(|r| r.with_payer(payer.clone()))? {
            Some(fault) => reject(fault),
            None => r.with_payer(payer.clone()),
        });
    }
    let calldata = transfer_calldata(&auth, &signature);
    match reads.simulate(token, calldata.clone()).await {
        Ok(_) => Ok(Verified {
            identity: identity(chain.network().caip2(), token, &auth),
            payer,
            amount: auth.value,
            target: format!("{token:#x}"),
            data: calldata.to_vec(),
        }),
        Err(RpcError::ErrorResp(resp)) => {
            let sig_fault = signature_fault(reads, &auth, &signature, &digest).await;
            let cause = match sig_fault.map_err(|r| r.with_payer(payer.clone()))? {
                Some(fault) => fault,
                None => diagnose(reads, token, &auth, name, version).await,
            };
            Err(reject(cause).with_message(resp.message.to_string()))
        }
        Err(e) => Err(reject(reason::UNEXPECTED_VERIFY_ERROR)
            .with_message(format!("rpc: {}", error_text(&e)))),
    }
}

/// The signature's fault, if any, in EIP-3009's reason strings.
async fn signature_fault(
    reads: &ChainReads,
    auth: &Eip3009Authorization,
    signature: &[u8],
    digest: &B256,
) -> Result<Option<&'static str>, Rejection> {
    if reads
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
    reads: &ChainReads,
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
    let Some((_, out)) = reads.batch(None, calls).await else {
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
