//! Verifies a Permit2 payment in the x402 reference's order: the authorization's own fields,
//! an optional EIP-2612 permit, then one simulation of the very proxy call a settlement sends;
//! a refusal is named with one batched read.

use alloy::primitives::{Address, Bytes, Signature, U256};
use alloy::sol_types::{SolCall, SolStruct};
use alloy::transports::RpcError;
use tollgate_proto::{PaymentView, Rejection, Verified, reason};

use super::ChainReads;
use crate::contracts::IX402ExactPermit2Proxy as Proxy;
use crate::contracts::{EXACT_PERMIT2_PROXY, IErc20, IPermit2Nonces, PERMIT2};
use crate::eip2612::{self, Eip2612Permit};
use crate::error::error_text;
use crate::permit2::{Parsed, Permit2Authorization, identity, parse_payload, permit2_domain};
use crate::wire::{VALID_BEFORE_BUFFER_SECS, unix_now};

/// Verifies a Permit2 payment in the reference order; a valid one costs one RPC round trip.
pub(crate) async fn verify(
    reads: &ChainReads,
    view: &PaymentView<'_>,
) -> Result<Verified, Rejection> {
    let chain = reads.chain();
    let req = &view.requirements;
    if view.scheme != "exact" || req.scheme != "exact" {
        return Err(Rejection::new(reason::UNSUPPORTED_PAYLOAD_TYPE));
    }
    let (token, pay_to) = reads.token_and_payee(view)?;
    let Parsed { auth, signature } = parse_payload(view.payload)?;
    let payer = auth.from.to_checksum(None);
    let reject = |r: &'static str| Rejection::new(r).with_payer(payer.clone());
    if !chain.permit2_deployed() {
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
        let vouched = reads
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
    if let Err(r) = reads.ensure_deployed(token).await {
        if bad_signature().await? {
            return Err(reject(reason::PERMIT2_SIGNATURE));
        }
        return Err(r.with_payer(payer.clone()));
    }
    let calldata = settle_calldata(&auth, &signature, permit2612.as_ref());
    match reads.simulate(EXACT_PERMIT2_PROXY, calldata.clone()).await {
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
                diagnose(reads, token, &auth).await
            };
            Err(reject(cause).with_message(resp.message.to_string()))
        }
        Err(e) => Err(reject(reason::UNEXPECTED_VERIFY_ERROR)
            .with_message(format!("rpc: {}", error_text(&e)))),
    }
}

/// Names why a simulation failed, with one batched round trip of reads.
async fn diagnose(reads: &ChainReads, token: Address, auth: &Permit2Authorization) -> &'static str {
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
    let Some((code, out)) = reads.batch(Some(EXACT_PERMIT2_PROXY), calls).await else {
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
