//! EIP-3009 in the verify pipeline: the authorization's fields are checked before the asset's
//! code and the simulation, a bad signature named first; a refusal is diagnosed with one
//! batched read.

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::{SolCall, SolStruct};
use tollgate_payload::read::Signed;
use tollgate_proto::{PaymentView, Rejection, reason};

use super::ChainReads;
use super::pipeline::{At, Method, Read};
use crate::contracts::IEip3009;
use crate::contracts::Typed;
use crate::eip3009::{
    Eip3009Authorization, identity, parse_payload, token_domain, transfer_calldata,
};
use crate::wire::{VALID_BEFORE_BUFFER_SECS, unix_now};

/// EIP-3009 `transferWithAuthorization` (USDC), as the verify pipeline runs it.
pub(crate) struct Eip3009;

impl Method for Eip3009 {
    type Auth = Eip3009Authorization;
    type Extra = ();

    fn read(&self, at: &At<'_>) -> Result<Read<Eip3009Authorization>, Rejection> {
        let At { reads, view } = *at;
        let chain = reads.chain();
        let req = &view.requirements;
        if view.scheme != "exact" || req.scheme != "exact" {
            return Err(Rejection::new(reason::EVM_SCHEME));
        }
        let Some((name, version)) = domain_of(view) else {
            return Err(Rejection::new(reason::EVM_MISSING_EIP712_DOMAIN));
        };
        let (token, pay_to) = reads.token_and_payee(view)?;
        let Signed { auth, signature } = parse_payload(view.payload)?;
        let domain = token_domain(name, version, chain.chain_id(), token);
        Ok(Read {
            from: auth.from,
            payer: auth.from.to_checksum(None),
            token,
            pay_to,
            digest: auth.typed().eip712_signing_hash(&domain),
            amount: auth.value,
            identity: identity(chain.network().caip2(), token, &auth),
            auth,
            signature,
        })
    }

    fn check(&self, at: &At<'_>, read: &Read<Eip3009Authorization>) -> Result<(), Rejection> {
        let auth = &read.auth;
        let now = U256::from(unix_now());
        let cheap = if auth.to != read.pay_to {
            reason::EVM_RECIPIENT_MISMATCH
        } else if auth.valid_before < now + U256::from(VALID_BEFORE_BUFFER_SECS) {
            reason::EVM_VALID_BEFORE
        } else if auth.valid_after > now {
            reason::EVM_VALID_AFTER
        } else if auth.value != at.view.requirements.amount {
            reason::EVM_AUTHORIZATION_VALUE
        } else {
            return Ok(());
        };
        Err(Rejection::new(cheap))
    }

    fn bad_signature(&self, signature: &[u8]) -> &'static str {
        if signature.len() == 65 {
            reason::EVM_SIGNATURE
        } else {
            reason::EVM_UNDEPLOYED_SMART_WALLET
        }
    }

    fn call(&self, read: &Read<Eip3009Authorization>, _: &()) -> (Address, Bytes) {
        (read.token, transfer_calldata(&read.auth, &read.signature))
    }

    async fn diagnose(&self, at: &At<'_>, read: &Read<Eip3009Authorization>) -> &'static str {
        let (name, version) = domain_of(at.view).unwrap_or_default();
        diagnose(at.reads, read.token, &read.auth, name, version).await
    }
}

/// The token's EIP-712 name and version, as the requirement's `extra` states them.
fn domain_of<'a>(view: &'a PaymentView<'_>) -> Option<(&'a str, &'a str)> {
    let req = &view.requirements;
    Some((req.extra_str("name")?, req.extra_str("version")?))
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
