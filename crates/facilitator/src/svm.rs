//! `exact` on Solana behind the facilitator's scheme trait.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tollgate_proto::rpc::EndpointHealth;
use tollgate_proto::v2::{Object, SupportedKind};
use tollgate_proto::{Broadcast, Network, Networks, SignedTx, Verified, reason};
use tollgate_solana::{ExactSvm, Limits, SolanaChain};

use crate::scheme::{PaymentScheme, SchemeError, boxed, chain_checks, exact_kinds};

/// `exact` SPL payments on one Solana cluster, the facilitator paying the fees.
pub struct SvmExactScheme {
    exact: ExactSvm,
}

impl SvmExactScheme {
    /// Serves `exact` on `chain`, paying fees only within `limits`.
    pub fn new(chain: Arc<SolanaChain>, limits: Limits) -> Self {
        Self {
            exact: ExactSvm::new(chain, limits),
        }
    }
}

impl PaymentScheme for SvmExactScheme {
    fn network(&self) -> &Network {
        self.exact.chain().network()
    }

    fn kinds(&self, networks: &Networks) -> Vec<SupportedKind> {
        let mut extra = Object::new();
        if let Some(fee_payer) = self.exact.chain().fee_payer_addresses().first() {
            extra.insert("feePayer".into(), fee_payer.to_string().into());
        }
        exact_kinds(self.network(), networks, Some(extra))
    }

    fn signer_family(&self) -> &'static str {
        "solana:*"
    }

    fn signers(&self) -> Vec<String> {
        self.exact
            .chain()
            .fee_payer_addresses()
            .iter()
            .map(|k| k.to_string())
            .collect()
    }

    chain_checks!(exact);

    fn sign<'a>(&'a self, v: &'a Verified) -> BoxFuture<'a, Result<SignedTx, SchemeError>> {
        futures::future::ready(self.exact.sign(v).map_err(SchemeError::Config)).boxed()
    }

    fn broadcast<'a>(&'a self, tx: &'a SignedTx) -> BoxFuture<'a, Broadcast> {
        self.exact.broadcast(tx).boxed()
    }

    /// Nothing to undo: Solana has no account nonce, and an unsent transaction simply
    /// expires with its blockhash.
    fn abandon<'a>(&'a self, _tx: &'a SignedTx) -> BoxFuture<'a, ()> {
        futures::future::ready(()).boxed()
    }

    fn confirm<'a>(
        &'a self,
        hash: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<bool>, SchemeError>> {
        boxed(self.exact.confirm(hash, timeout))
    }

    fn failed_reason(&self, _: &str) -> &'static str {
        reason::SVM_TRANSACTION_FAILED
    }

    fn health(&self) -> BoxFuture<'_, Vec<EndpointHealth>> {
        self.exact.chain().health().boxed()
    }
}
