//! Permit2 in the verify pipeline: the authorization's own fields are refused at once, an
//! optional EIP-2612 permit is checked with a bad signature named first, then the pipeline
//! simulates the very proxy call a settlement sends; a refusal is diagnosed with one batched
//! read.

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::{SolCall, SolStruct};
use tollgate_payload::read::Signed;
use tollgate_proto::{PaymentView, Rejection, reason};

use super::ChainReads;
use super::pipeline::{Method, Read};
use crate::contracts::IX402ExactPermit2Proxy as Proxy;
use crate::contracts::Typed;
use crate::contracts::{EXACT_PERMIT2_PROXY, IErc20, IPermit2Nonces, PERMIT2};
use crate::eip2612::{self, Eip2612Permit};
use crate::permit2::{
    Permit2Authorization, identity, parse_payload, permit_transfer, permit2_domain,
    permit2_signature,
};
use crate::wire::{VALID_BEFORE_BUFFER_SECS, unix_now};

/// Permit2 through the x402 exact Permit2 proxy, as the verify pipeline runs it.
pub(crate) struct Permit2;

impl Method for Permit2 {
    type Auth = Permit2Authorization;
    type Extra = Option<Eip2612Permit>;

    fn read(
        &self,
        reads: &ChainReads,
        view: &PaymentView<'_>,
    ) -> Result<Read<Permit2Authorization>, Rejection> {
        let chain = reads.chain();
        let req = &view.requirements;
        if view.scheme != "exact" || req.scheme != "exact" {
            return Err(Rejection::new(reason::UNSUPPORTED_PAYLOAD_TYPE));
        }
        let (token, pay_to) = reads.token_and_payee(view)?;
        let Signed { auth, signature } = parse_payload(view.payload)?;
        let payer = auth.from.to_checksum(None);
        let reject = |r: &'static str| Err(Rejection::new(r).with_payer(payer.clone()));
        if !chain.permit2_deployed() {
            return reject(reason::PERMIT2_PROXY_NOT_DEPLOYED);
        }
        if auth.spender != EXACT_PERMIT2_PROXY {
            return reject(reason::PERMIT2_SPENDER);
        }
        if auth.to != pay_to {
            return reject(reason::PERMIT2_RECIPIENT_MISMATCH);
        }
        let now = unix_now();
        if auth.deadline < U256::from(now + VALID_BEFORE_BUFFER_SECS) {
            return reject(reason::PERMIT2_DEADLINE_EXPIRED);
        }
        if auth.valid_after > U256::from(now) {
            return reject(reason::PERMIT2_NOT_YET_VALID);
        }
        if auth.amount != req.amount {
            return reject(reason::PERMIT2_AMOUNT_MISMATCH);
        }
        if auth.token != token {
            return reject(reason::PERMIT2_TOKEN_MISMATCH);
        }
        Ok(Read {
            from: auth.from,
            payer,
            token,
            pay_to,
            digest: auth
                .typed()
                .eip712_signing_hash(&permit2_domain(chain.chain_id())),
            amount: auth.amount,
            identity: identity(chain.network().caip2(), token, &auth),
            auth,
            signature,
        })
    }

    /// The EIP-2612 permit of `eip2612GasSponsoring`, where the chain sponsors gas that way.
    fn check(
        &self,
        reads: &ChainReads,
        view: &PaymentView<'_>,
        read: &Read<Permit2Authorization>,
    ) -> Result<Option<Eip2612Permit>, Rejection> {
        if !reads.chain().eip2612_gas_sponsoring() {
            return Ok(None);
        }
        let auth = &read.auth;
        let permit = eip2612::from_extensions(view.extensions)?;
        if let Some(p) = &permit {
            p.check(auth.from, read.token, auth.amount, unix_now())?;
        }
        Ok(permit)
    }

    fn bad_signature(&self, _: &[u8]) -> &'static str {
        reason::PERMIT2_SIGNATURE
    }

    fn call(
        &self,
        read: &Read<Permit2Authorization>,
        permit2612: &Option<Eip2612Permit>,
    ) -> (Address, Bytes) {
        let calldata = settle_calldata(&read.auth, &read.signature, permit2612.as_ref());
        (EXACT_PERMIT2_PROXY, calldata)
    }

    async fn diagnose(
        &self,
        reads: &ChainReads,
        _: &PaymentView<'_>,
        read: &Read<Permit2Authorization>,
    ) -> &'static str {
        diagnose(reads, EXACT_PERMIT2_PROXY, read.token, &read.auth).await
    }
}

/// Names why a simulation through `proxy` failed, with one batched round trip of reads.
pub(super) async fn diagnose(
    reads: &ChainReads,
    proxy: Address,
    token: Address,
    auth: &Permit2Authorization,
) -> &'static str {
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
    let Some((code, out)) = reads.batch(Some(proxy), calls).await else {
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
    let signature = permit2_signature(signature);
    let permit = permit_transfer(auth);
    let witness = Proxy::Witness {
        to: auth.to,
        validAfter: auth.valid_after,
    };
    let owner = auth.from;
    let data = match permit2612 {
        None => Proxy::settleCall::new((permit, owner, witness, signature)).abi_encode(),
        Some(p) => {
            Proxy::settleWithPermitCall::new((p.proxy_arg(), permit, owner, witness, signature))
                .abi_encode()
        }
    };
    data.into()
}
