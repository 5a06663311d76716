//! `upto` in the verify pipeline: a Permit2 witness transfer of at most a maximum, through the
//! x402 upto proxy, settled by the one facilitator its witness names. At `/verify` the
//! requirement's amount is the maximum and must be what the payer permitted; at `/settle` it is
//! the actual charge, at most that maximum. The simulation runs from the named facilitator (the
//! proxy lets no one else settle) and proves the maximum could move, so a charge of 0 (no
//! transaction) is checked as thoroughly as any other.

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::SolStruct;
use tollgate_payload::read::Signed;
use tollgate_payload::upto::{UptoAuthorization, identity, parse_payload};
use tollgate_proto::{PaymentView, Phase, Rejection, reason};

use super::ChainReads;
use super::permit2::diagnose;
use super::pipeline::{Method, Read};
use crate::contracts::{Typed, UPTO_PERMIT2_PROXY};
use crate::eip2612::{self, Eip2612Permit};
use crate::permit2::permit2_domain;
use crate::upto::settle_calldata;
use crate::wire::{VALID_BEFORE_BUFFER_SECS, unix_now};

/// `upto` through the x402 upto Permit2 proxy, in the phase of the request being answered.
pub(crate) struct Upto(pub Phase);

impl Method for Upto {
    type Auth = UptoAuthorization;
    type Extra = Option<Eip2612Permit>;

    fn read(
        &self,
        reads: &ChainReads,
        view: &PaymentView<'_>,
    ) -> Result<Read<UptoAuthorization>, Rejection> {
        let chain = reads.chain();
        let req = &view.requirements;
        if view.scheme != "upto" || req.scheme != "upto" {
            return Err(Rejection::new(reason::UPTO_SCHEME));
        }
        let (token, pay_to) = reads.token_and_payee(view).map_err(|r| {
            if r.reason == reason::EVM_NETWORK_MISMATCH {
                Rejection::new(reason::UPTO_NETWORK_MISMATCH)
            } else {
                r
            }
        })?;
        let Signed { auth, signature } = parse_payload(view.payload)?;
        let p = &auth.permit;
        let payer = p.from.to_checksum(None);
        let reject = |r: &'static str| Err(Rejection::new(r).with_payer(payer.clone()));
        if !chain.upto_deployed() {
            return reject(reason::PERMIT2_PROXY_NOT_DEPLOYED);
        }
        if p.spender != UPTO_PERMIT2_PROXY {
            return reject(reason::PERMIT2_SPENDER);
        }
        if p.to != pay_to {
            return reject(reason::PERMIT2_RECIPIENT_MISMATCH);
        }
        if !chain.signer_addresses().contains(&auth.facilitator) {
            return reject(reason::UPTO_FACILITATOR_MISMATCH);
        }
        let now = unix_now();
        if p.deadline < U256::from(now + VALID_BEFORE_BUFFER_SECS) {
            return reject(reason::PERMIT2_DEADLINE_EXPIRED);
        }
        if p.valid_after > U256::from(now) {
            return reject(reason::PERMIT2_NOT_YET_VALID);
        }
        let charged = match self.0 {
            Phase::Verify if req.amount != p.amount => {
                return reject(reason::PERMIT2_AMOUNT_MISMATCH);
            }
            Phase::Settle if req.amount > p.amount => {
                return reject(reason::UPTO_SETTLEMENT_EXCEEDS_AMOUNT);
            }
            _ => req.amount,
        };
        if p.token != token {
            return reject(reason::PERMIT2_TOKEN_MISMATCH);
        }
        Ok(Read {
            from: p.from,
            payer,
            token,
            pay_to,
            digest: auth
                .typed()
                .eip712_signing_hash(&permit2_domain(chain.chain_id())),
            amount: charged,
            identity: identity(chain.network().caip2(), token, &auth),
            auth,
            signature,
        })
    }

    /// The EIP-2612 permit of `eip2612GasSponsoring` (for the maximum), where the chain
    /// sponsors gas that way.
    fn check(
        &self,
        reads: &ChainReads,
        view: &PaymentView<'_>,
        read: &Read<UptoAuthorization>,
    ) -> Result<Option<Eip2612Permit>, Rejection> {
        if !reads.chain().eip2612_gas_sponsoring() {
            return Ok(None);
        }
        let p = &read.auth.permit;
        let permit = eip2612::from_extensions(view.extensions)?;
        if let Some(e) = &permit {
            e.check(p.from, read.token, p.amount, unix_now())?;
        }
        Ok(permit)
    }

    fn bad_signature(&self, _: &[u8]) -> &'static str {
        reason::PERMIT2_SIGNATURE
    }

    /// The charge, or for a charge of 0 (nothing is sent) the maximum, which proves the
    /// authorization as a whole.
    fn call(
        &self,
        read: &Read<UptoAuthorization>,
        permit2612: &Option<Eip2612Permit>,
    ) -> (Address, Bytes) {
        let amount = if read.amount.is_zero() {
            read.auth.permit.amount
        } else {
            read.amount
        };
        let data = settle_calldata(&read.auth, amount, &read.signature, permit2612.as_ref());
        (UPTO_PERMIT2_PROXY, data)
    }

    fn sender(&self, read: &Read<UptoAuthorization>) -> Option<Address> {
        Some(read.auth.facilitator)
    }

    async fn diagnose(
        &self,
        reads: &ChainReads,
        _: &PaymentView<'_>,
        read: &Read<UptoAuthorization>,
    ) -> &'static str {
        diagnose(reads, UPTO_PERMIT2_PROXY, read.token, &read.auth.permit).await
    }
}
