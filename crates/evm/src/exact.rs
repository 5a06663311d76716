//! `exact` on EVM: one scheme, two transfer methods. The payload's shape picks the method
//! (`permit2Authorization` → Permit2, `authorization` → EIP-3009), and it must agree with the
//! seller's `extra.assetTransferMethod`; each method verifies in its own module (`verify`).

use std::sync::Arc;

use tollgate_proto::{PaymentView, Rejection, Verified, reason};

use crate::chain::EvmChain;
use crate::eip2612::EIP2612_GAS_SPONSORING;
use crate::verify::{self, ChainReads};
use crate::wire::{TransferMethod, requirement_address};
use crate::{eip3009, permit2};

/// Picks the method from the payload's shape and checks the seller asked for it.
fn method(view: &PaymentView<'_>) -> Result<TransferMethod, Rejection> {
    let shape = if view.payload.contains_key("permit2Authorization") {
        TransferMethod::Permit2
    } else {
        TransferMethod::Eip3009
    };
    let asked = TransferMethod::asked(&view.requirements).map_err(|other| {
        Rejection::new(reason::UNSUPPORTED_PAYLOAD_TYPE)
            .with_message(format!("assetTransferMethod {other:?} is not served"))
    })?;
    // The reference dispatches on shape alone; a Permit2 payload for a requirement that names
    // no method is accepted like it does, but a stated method must match.
    let explicit = view.requirements.extra_str("assetTransferMethod").is_some();
    if shape != asked && (explicit || shape == TransferMethod::Eip3009) {
        return Err(
            Rejection::new(reason::UNSUPPORTED_PAYLOAD_TYPE).with_message(format!(
                "payload is {shape:?} but the requirement asks for {asked:?}"
            )),
        );
    }
    Ok(shape)
}

/// The ledger identity of an `exact` EVM payment (chain, token, payer, nonce), computed from the
/// strictly parsed payload without any RPC: the facilitator's ledger and the gateway's in-flight
/// lease both name a payment by this, however its JSON was spelled.
pub fn payment_identity(view: &PaymentView<'_>) -> Result<String, Rejection> {
    let net = view.requirements.network.caip2();
    let token = requirement_address(view.requirements.asset, "asset")?;
    match method(view)? {
        TransferMethod::Eip3009 => eip3009::identity_of(net, token, view.payload),
        TransferMethod::Permit2 => permit2::identity_of(net, token, view.payload),
    }
}

/// The `exact` scheme on one EVM chain.
pub struct ExactEvm {
    reads: ChainReads,
}

impl ExactEvm {
    /// Serves `exact` payments on `chain`; Permit2 only if the chain had its contracts at connect.
    pub fn new(chain: Arc<EvmChain>) -> Self {
        Self {
            reads: ChainReads::new(chain),
        }
    }

    /// The chain this scheme settles on.
    pub fn chain(&self) -> &Arc<EvmChain> {
        self.reads.chain()
    }

    /// Whether Permit2 payments are accepted (and so advertised).
    pub fn permit2_enabled(&self) -> bool {
        self.chain().permit2_deployed()
    }

    /// The payload extensions this scheme honours, for `/supported`.
    pub fn extensions(&self) -> Vec<String> {
        if self.chain().eip2612_gas_sponsoring() {
            vec![EIP2612_GAS_SPONSORING.to_string()]
        } else {
            Vec::new()
        }
    }

    /// The payment's ledger identity, read without any RPC.
    pub fn identity(&self, view: &PaymentView<'_>) -> Result<String, Rejection> {
        payment_identity(view)
    }

    /// Verifies in the reference order; a valid payment costs exactly one RPC round trip.
    pub async fn verify(&self, view: &PaymentView<'_>) -> Result<Verified, Rejection> {
        match method(view)? {
            TransferMethod::Eip3009 => verify::eip3009::verify(&self.reads, view).await,
            TransferMethod::Permit2 => verify::permit2::verify(&self.reads, view).await,
        }
    }
}
