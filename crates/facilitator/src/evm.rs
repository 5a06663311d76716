//! EVM payments (`exact` and `upto`) behind the facilitator's scheme trait.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tollgate_evm::{EvmChain, EvmPayments};
use tollgate_proto::rpc::EndpointHealth;
use tollgate_proto::v2::{Object, SupportedKind};
use tollgate_proto::{Broadcast, Network, Networks, SignedTx, Verified, reason};

use crate::scheme::{PaymentScheme, SchemeError, boxed, chain_checks, exact_kind, exact_kinds};
use crate::signers::{SignerHealth, SignerPoolHealth};

/// `exact` payments on one EVM chain (EIP-3009 always, Permit2 where its contracts exist), and
/// `upto` where its proxy exists.
pub struct EvmScheme {
    payments: EvmPayments,
}

impl EvmScheme {
    /// Serves EVM payments on `chain`.
    pub fn new(chain: Arc<EvmChain>) -> Self {
        Self {
            payments: EvmPayments::new(chain),
        }
    }

    fn chain(&self) -> &EvmChain {
        self.payments.chain()
    }
}

impl PaymentScheme for EvmScheme {
    fn network(&self) -> &Network {
        self.chain().network()
    }

    fn kinds(&self, networks: &Networks) -> Vec<SupportedKind> {
        let net = self.network();
        let mut kinds = exact_kinds(net, networks, None);
        // Permit2 is v2-only and needs its contracts on chain: a separate kind names it the way
        // a requirement does (`extra.assetTransferMethod`), leaving the plain kind unchanged.
        if self.payments.permit2_enabled() {
            let mut extra = Object::new();
            extra.insert("assetTransferMethod".into(), "permit2".into());
            kinds.push(exact_kind(2, net.caip2(), Some(extra)));
        }
        // `upto` is v2-only; its payer pins the signer that settles, so the kind names one.
        if self.payments.upto_enabled() {
            let mut extra = Object::new();
            let settler = self.chain().settler().to_checksum(None);
            extra.insert("facilitatorAddress".into(), settler.into());
            kinds.push(SupportedKind {
                scheme: "upto".into(),
                ..exact_kind(2, net.caip2(), Some(extra))
            });
        }
        kinds
    }

    fn extensions(&self) -> Vec<String> {
        self.payments.extensions()
    }

    fn signer_family(&self) -> &'static str {
        "eip155:*"
    }

    fn signers(&self) -> Vec<String> {
        self.chain()
            .signer_addresses()
            .iter()
            .map(|a| a.to_checksum(None))
            .collect()
    }

    chain_checks!(payments);

    fn sign<'a>(&'a self, v: &'a Verified) -> BoxFuture<'a, Result<SignedTx, SchemeError>> {
        async move {
            let address = |s: &str| {
                s.parse()
                    .map_err(|_| SchemeError::Config(format!("bad address {s}")))
            };
            if v.signer.is_some() && v.amount.is_zero() {
                // An `upto` charge of 0 sends nothing; its calldata only proved the maximum.
                return Err(SchemeError::Config("a charge of 0 is not sent".into()));
            }
            let to = address(&v.target)?;
            let signer = v.signer.as_deref().map(address).transpose()?;
            let data = v.data.clone().into();
            Ok(self.chain().sign_call_by(signer, to, data).await?)
        }
        .boxed()
    }

    fn broadcast<'a>(&'a self, tx: &'a SignedTx) -> BoxFuture<'a, Broadcast> {
        self.chain().broadcast(tx).boxed()
    }

    fn replace<'a>(
        &'a self,
        tx: &'a SignedTx,
    ) -> BoxFuture<'a, Result<Option<SignedTx>, SchemeError>> {
        boxed(self.chain().replacement(&tx.raw))
    }

    fn hold_nonce(&self, tx: &SignedTx) {
        self.chain().hold_nonce_of(&tx.raw);
    }

    fn may_land_later(&self, refusal: &str) -> bool {
        tollgate_evm::fee_too_low(refusal)
    }

    fn abandon<'a>(&'a self, tx: &'a SignedTx) -> BoxFuture<'a, ()> {
        self.chain().abandon(tx).boxed()
    }

    fn confirm<'a>(
        &'a self,
        hash: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<bool>, SchemeError>> {
        boxed(self.chain().wait_receipt(hash, timeout))
    }

    fn failed_reason(&self, scheme: &str) -> &'static str {
        match scheme {
            "upto" => reason::UPTO_TRANSACTION_FAILED,
            _ => reason::EVM_TRANSACTION_FAILED,
        }
    }

    fn health(&self) -> BoxFuture<'_, Vec<EndpointHealth>> {
        self.chain().health().boxed()
    }

    fn signer_health(&self) -> Option<SignerPoolHealth> {
        let signers = self
            .chain()
            .signer_status()
            .into_iter()
            .map(|s| SignerHealth {
                address: s.address.to_checksum(None),
                balance_wei: s.balance_wei,
                in_rotation: s.in_rotation,
            })
            .collect();
        Some(SignerPoolHealth::new(
            self.chain().min_signer_balance(),
            signers,
        ))
    }
}
