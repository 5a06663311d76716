//! `upto` in the verify pipeline: a Permit2 witness transfer of at most a maximum, through the
//! x402 upto proxy, settled by the one facilitator its witness names. At `/verify` the
//! requirement's amount is the maximum and must be what the payer permitted; at `/settle` it is
//! the actual charge, at most that maximum. The simulation runs from the named facilitator (the
//! proxy lets no one else settle) and proves the very call a settlement sends; for a charge of 0
//! (no transaction) it proves the maximum could move, so that is checked as thoroughly.

use alloy::primitives::{Address, B256, Bytes, U256};
use tollgate_payload::upto::{UptoAuthorization, identity, parse_payload};
use tollgate_proto::{Phase, Rejection, reason};

use super::permit2::{Sponsored, Through, Witnessed, diagnose, read_witnessed, sponsored_permit};
use super::pipeline::{At, Method, Read};
use crate::contracts::UPTO_PERMIT2_PROXY;
use crate::eip2612::Eip2612Permit;
use crate::permit2::Permit2Authorization;
use crate::upto::{settle_calldata, upto_digest};

/// `upto` through the x402 upto Permit2 proxy, in the phase of the request being answered.
pub(crate) struct Upto(pub Phase);

impl Method for Upto {
    type Auth = UptoAuthorization;
    type Extra = Option<Eip2612Permit>;

    fn read(&self, at: &At<'_>) -> Result<Read<UptoAuthorization>, Rejection> {
        let At { reads, view } = *at;
        let req = &view.requirements;
        if view.scheme != "upto" || req.scheme != "upto" || view.version != 2 {
            return Err(Rejection::new(reason::UPTO_SCHEME));
        }
        let (token, pay_to) = reads.token_and_payee(view).map_err(|r| {
            if r.reason == reason::EVM_NETWORK_MISMATCH {
                Rejection::new(reason::UPTO_NETWORK_MISMATCH)
            } else {
                r
            }
        })?;
        let chain = reads.chain();
        let through = Through {
            proxy: UPTO_PERMIT2_PROXY,
            deployed: chain.upto_deployed(),
            token,
            pay_to,
        };
        // The payer pins the signer that settles; it must be one of ours.
        let signers = chain.signer_addresses();
        let ours = |a: &UptoAuthorization| {
            (!signers.contains(&a.facilitator)).then_some(reason::UPTO_FACILITATOR_MISMATCH)
        };
        let phase = self.0;
        let charge = |asked: U256, permitted: U256| match phase {
            Phase::Verify if asked != permitted => Err(reason::PERMIT2_AMOUNT_MISMATCH),
            Phase::Settle if asked > permitted => Err(reason::UPTO_SETTLEMENT_EXCEEDS_AMOUNT),
            _ => Ok(asked),
        };
        let signed = parse_payload(view.payload)?;
        read_witnessed(at, signed, through, ours, charge)
    }

    /// The EIP-2612 permit of `eip2612GasSponsoring` (for the maximum), where the chain
    /// sponsors gas that way.
    fn check(&self, at: &At<'_>, read: &Read<UptoAuthorization>) -> Sponsored {
        sponsored_permit(at, read.token, &read.auth.permit)
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

    async fn diagnose(&self, at: &At<'_>, read: &Read<UptoAuthorization>) -> &'static str {
        diagnose(at.reads, UPTO_PERMIT2_PROXY, read.token, &read.auth.permit).await
    }
}

impl Witnessed for UptoAuthorization {
    fn permit(&self) -> &Permit2Authorization {
        &self.permit
    }

    fn digest(&self, chain_id: u64) -> B256 {
        upto_digest(self, chain_id)
    }

    fn identity(&self, network: &str, token: Address) -> String {
        identity(network, token, self)
    }
}
