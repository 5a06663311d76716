//! Payments on one EVM chain: `exact` with two transfer methods, and `upto`. For `exact` the
//! payload's shape picks the method (`permit2Authorization` → Permit2, `authorization` →
//! EIP-3009), and it must agree with the seller's `extra.assetTransferMethod` (`tollgate-payload`
//! decides); `upto` is Permit2 through its own proxy. Each verifies in its own module
//! (`verify`), through one pipeline.

use std::sync::Arc;

use tollgate_proto::{PaymentView, Phase, Rejection, Verified, reason};

use crate::chain::EvmChain;
use crate::eip2612::EIP2612_GAS_SPONSORING;
use crate::verify::{self, ChainReads};
use crate::wire::TransferMethod;

pub use tollgate_payload::evm::payment_identity;

/// The EVM payments one chain serves: `exact` (EIP-3009, Permit2) and `upto`.
pub struct EvmPayments {
    reads: ChainReads,
}

impl EvmPayments {
    /// Serves payments on `chain`; Permit2 and `upto` only if the chain had their contracts at
    /// connect.
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

    /// Whether `upto` payments are accepted (and so advertised).
    pub fn upto_enabled(&self) -> bool {
        self.chain().upto_deployed()
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

    /// Verifies in the reference order, for the request of `phase`; a valid payment costs
    /// exactly one RPC round trip.
    pub async fn verify(
        &self,
        view: &PaymentView<'_>,
        phase: Phase,
    ) -> Result<Verified, Rejection> {
        if view.requirements.scheme == "upto" {
            return verify::run(&verify::Upto(phase), &self.reads, view).await;
        }
        if view.scheme == "upto" {
            return Err(Rejection::new(reason::UPTO_SCHEME));
        }
        match TransferMethod::of(view)? {
            TransferMethod::Eip3009 => verify::run(&verify::Eip3009, &self.reads, view).await,
            TransferMethod::Permit2 => verify::run(&verify::Permit2, &self.reads, view).await,
        }
    }
}
