//! Permit2 in the verify pipeline: the authorization's own fields are refused at once, an
//! optional EIP-2612 permit is checked with a bad signature named first, then the pipeline
//! simulates the very proxy call a settlement sends; a refusal is diagnosed with one batched
//! read.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::{SolCall, SolStruct};
use tollgate_payload::read::Signed;
use tollgate_proto::{Rejection, reason};

use super::ChainReads;
use super::pipeline::{At, Method, Read};
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

    fn read(&self, at: &At<'_>) -> Result<Read<Permit2Authorization>, Rejection> {
        let At { reads, view } = *at;
        let req = &view.requirements;
        if view.scheme != "exact" || req.scheme != "exact" {
            return Err(Rejection::new(reason::UNSUPPORTED_PAYLOAD_TYPE));
        }
        let (token, pay_to) = reads.token_and_payee(view)?;
        let through = Through {
            proxy: EXACT_PERMIT2_PROXY,
            deployed: reads.chain().permit2_deployed(),
            token,
            pay_to,
        };
        let exact = |asked: U256, permitted: U256| {
            (asked == permitted)
                .then_some(permitted)
                .ok_or(reason::PERMIT2_AMOUNT_MISMATCH)
        };
        let signed = parse_payload(view.payload)?;
        read_witnessed(at, signed, through, |_| None, exact)
    }

    /// The EIP-2612 permit of `eip2612GasSponsoring`, where the chain sponsors gas that way.
    fn check(&self, at: &At<'_>, read: &Read<Permit2Authorization>) -> Sponsored {
        sponsored_permit(at, read.token, &read.auth)
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

    async fn diagnose(&self, at: &At<'_>, read: &Read<Permit2Authorization>) -> &'static str {
        diagnose(at.reads, EXACT_PERMIT2_PROXY, read.token, &read.auth).await
    }
}

/// The EIP-2612 permit a Permit2 payment carries for gas sponsoring, if any, or why it does not
/// stand.
pub(super) type Sponsored = Result<Option<Eip2612Permit>, Rejection>;

/// A Permit2 witness transfer as the pipeline reads it, whatever its witness adds.
pub(super) trait Witnessed {
    /// The transfer the payer permitted.
    fn permit(&self) -> &Permit2Authorization;
    /// The EIP-712 digest the payer signed on `chain_id`.
    fn digest(&self, chain_id: u64) -> B256;
    /// The payment's ledger identity on `network`.
    fn identity(&self, network: &str, token: Address) -> String;
}

impl Witnessed for Permit2Authorization {
    fn permit(&self) -> &Permit2Authorization {
        self
    }

    fn digest(&self, chain_id: u64) -> B256 {
        self.typed().eip712_signing_hash(&permit2_domain(chain_id))
    }

    fn identity(&self, network: &str, token: Address) -> String {
        identity(network, token, self)
    }
}

/// The proxy a Permit2 payment goes through, and what its requirement asks.
pub(super) struct Through {
    pub proxy: Address,
    /// Whether the proxy (and Permit2) had code when the chain connected.
    pub deployed: bool,
    pub token: Address,
    pub pay_to: Address,
}

/// Reads a Permit2 witness transfer, refusing what stands whatever its signature says, in the
/// reference's order: proxy deployed, spender, recipient, then `own` checks of its kind, the
/// deadline and start, the amount (`charge` judges what the requirement asks against what was
/// permitted and names what moves), and the token.
pub(super) fn read_witnessed<A: Witnessed>(
    at: &At<'_>,
    signed: Signed<A>,
    through: Through,
    own: impl FnOnce(&A) -> Option<&'static str>,
    charge: impl FnOnce(U256, U256) -> Result<U256, &'static str>,
) -> Result<Read<A>, Rejection> {
    let Signed { auth, signature } = signed;
    let p = auth.permit();
    let payer = p.from.to_checksum(None);
    let now = unix_now();
    let refused = if !through.deployed {
        Some(reason::PERMIT2_PROXY_NOT_DEPLOYED)
    } else if p.spender != through.proxy {
        Some(reason::PERMIT2_SPENDER)
    } else if p.to != through.pay_to {
        Some(reason::PERMIT2_RECIPIENT_MISMATCH)
    } else if let Some(why) = own(&auth) {
        Some(why)
    } else if p.deadline < U256::from(now + VALID_BEFORE_BUFFER_SECS) {
        Some(reason::PERMIT2_DEADLINE_EXPIRED)
    } else if p.valid_after > U256::from(now) {
        Some(reason::PERMIT2_NOT_YET_VALID)
    } else {
        None
    };
    let amount = match refused {
        Some(why) => Err(why),
        None => charge(at.view.requirements.amount, p.amount),
    }
    .and_then(|moved| {
        (p.token == through.token)
            .then_some(moved)
            .ok_or(reason::PERMIT2_TOKEN_MISMATCH)
    })
    .map_err(|why| Rejection::new(why).with_payer(payer.clone()))?;
    let chain = at.reads.chain();
    Ok(Read {
        from: p.from,
        payer,
        token: through.token,
        pay_to: through.pay_to,
        digest: auth.digest(chain.chain_id()),
        amount,
        identity: auth.identity(chain.network().caip2(), through.token),
        auth,
        signature,
    })
}

/// The EIP-2612 permit of `eip2612GasSponsoring` for everything `permit` allows, where the
/// chain sponsors gas that way.
pub(super) fn sponsored_permit(
    at: &At<'_>,
    token: Address,
    permit: &Permit2Authorization,
) -> Sponsored {
    if !at.reads.chain().eip2612_gas_sponsoring() {
        return Ok(None);
    }
    let sponsored = eip2612::from_extensions(at.view.extensions)?;
    if let Some(e) = &sponsored {
        e.check(permit.from, token, permit.amount, unix_now())?;
    }
    Ok(sponsored)
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
