//! The one seam between the facilitator and a chain: every scheme verifies, signs, broadcasts
//! and confirms through this trait, so the ledger logic is written once for all chains.

use std::future::Future;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tollgate_proto::rpc::{EndpointHealth, scrub_urls};
use tollgate_proto::v2::{Object, SupportedKind};
use tollgate_proto::{
    Broadcast, Network, Networks, PaymentView, Phase, Rejection, SignedTx, Verified,
};

use crate::signers::SignerPoolHealth;

/// `identity` and `verify` of a [`PaymentScheme`] whose chain crate checks payments itself
/// (through the field named): written once for every chain.
macro_rules! chain_checks {
    ($checker:ident) => {
        fn identity(
            &self,
            view: &::tollgate_proto::PaymentView<'_>,
        ) -> Result<String, ::tollgate_proto::Rejection> {
            self.$checker.identity(view)
        }

        fn verify<'a>(
            &'a self,
            view: &'a ::tollgate_proto::PaymentView<'a>,
            phase: ::tollgate_proto::Phase,
        ) -> ::futures::future::BoxFuture<
            'a,
            Result<::tollgate_proto::Verified, ::tollgate_proto::Rejection>,
        > {
            ::futures::FutureExt::boxed(self.$checker.verify(view, phase))
        }
    };
}
pub(crate) use chain_checks;

/// A payment scheme on one network.
pub trait PaymentScheme: Send + Sync {
    /// The network it settles on.
    fn network(&self) -> &Network;
    /// The `/supported` entries it serves (v1 and v2).
    fn kinds(&self, networks: &Networks) -> Vec<SupportedKind>;
    /// Payload extensions it honours (e.g. `eip2612GasSponsoring`), listed in `/supported`.
    fn extensions(&self) -> Vec<String> {
        Vec::new()
    }
    /// CAIP family pattern of its signers, e.g. `eip155:*`.
    fn signer_family(&self) -> &'static str;
    /// Addresses that sign settlements.
    fn signers(&self) -> Vec<String>;
    /// The payment's ledger identity, without any I/O.
    fn identity(&self, view: &PaymentView<'_>) -> Result<String, Rejection>;
    /// Full verification for the request of `phase`, including on-chain simulation.
    fn verify<'a>(
        &'a self,
        view: &'a PaymentView<'a>,
        phase: Phase,
    ) -> BoxFuture<'a, Result<Verified, Rejection>>;
    /// Signs the settlement transaction without sending it.
    fn sign<'a>(&'a self, verified: &'a Verified) -> BoxFuture<'a, Result<SignedTx, SchemeError>>;
    /// Sends signed bytes.
    fn broadcast<'a>(&'a self, tx: &'a SignedTx) -> BoxFuture<'a, Broadcast>;
    /// The same settlement re-signed at a higher fee, for a transaction that sat unmined;
    /// `None` where the chain has no such thing or the fee ceiling is reached.
    fn replace<'a>(
        &'a self,
        _tx: &'a SignedTx,
    ) -> BoxFuture<'a, Result<Option<SignedTx>, SchemeError>> {
        Box::pin(async { Ok(None) })
    }
    /// Keeps a recorded transaction's nonce (or the like) from being used again by a new
    /// settlement, before the reconciler has sent it.
    fn hold_nonce(&self, _tx: &SignedTx) {}
    /// Whether a node's refusal of a rebroadcast leaves the settlement able to land later (a fee
    /// below today's base fee, which a fee bump cures) rather than never.
    fn may_land_later(&self, _refusal: &str) -> bool {
        false
    }
    /// Drops a signed transaction that lost the race to the ledger and will never be sent.
    fn abandon<'a>(&'a self, tx: &'a SignedTx) -> BoxFuture<'a, ()>;
    /// Waits (bounded) for the result: `Some(success)` once final, `None` if still pending.
    fn confirm<'a>(
        &'a self,
        hash: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<bool>, SchemeError>>;
    /// The reason string for a settlement of `scheme` (`exact`, `upto`) that landed but failed
    /// on chain.
    fn failed_reason(&self, scheme: &str) -> &'static str;
    /// Asks each of the chain's RPC endpoints whether it answers; named by index, never URL.
    fn health(&self) -> BoxFuture<'_, Vec<EndpointHealth>>;
    /// Its settlement signers' balances and rotation, for `/health` and `/metrics`; `None`
    /// where the scheme does not track them.
    fn signer_health(&self) -> Option<SignerPoolHealth> {
        None
    }
}

/// A payment's identity as the ledger names it, without any I/O: the gateway keys its
/// in-flight lease and its recorded answers on exactly this.
pub use tollgate_payload::payment_identity;

/// One `/supported` entry of the `exact` scheme.
pub(crate) fn exact_kind(version: u8, network: &str, extra: Option<Object>) -> SupportedKind {
    SupportedKind {
        x402_version: version,
        scheme: "exact".into(),
        network: network.into(),
        extra,
    }
}

/// The v2 (CAIP-2) and v1 (legacy name) `exact` entries of a network, both with `extra`.
pub(crate) fn exact_kinds(
    net: &Network,
    networks: &Networks,
    extra: Option<Object>,
) -> Vec<SupportedKind> {
    vec![
        exact_kind(2, net.caip2(), extra.clone()),
        exact_kind(1, networks.v1_name(net), extra),
    ]
}

/// Why a chain call of a scheme gave no result: never a verdict on a payment. Texts carry no URL
/// (RPC URLs carry API keys, and these texts reach answers and logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemeError {
    /// The chain's RPC did not answer, or not in time: the same call may work later.
    #[error("rpc: {0}")]
    Rpc(String),
    /// The chain cannot tell (a node that keeps no history): nothing may be concluded.
    #[error("undecided: {0}")]
    Undecided(String),
    /// A setting or a verified payment the scheme cannot work with: retrying will not help.
    #[error("config: {0}")]
    Config(String),
}

impl From<tollgate_evm::EvmError> for SchemeError {
    fn from(e: tollgate_evm::EvmError) -> Self {
        use tollgate_evm::EvmError;
        match e {
            EvmError::Rpc(m) => Self::Rpc(scrub_urls(&m)),
            EvmError::Config(m) => Self::Config(scrub_urls(&m)),
        }
    }
}

impl From<tollgate_solana::ChainError> for SchemeError {
    fn from(e: tollgate_solana::ChainError) -> Self {
        use tollgate_solana::ChainError;
        let text = scrub_urls(&e.to_string());
        match e {
            ChainError::Rpc(inner) => Self::Rpc(scrub_urls(&inner.to_string())),
            ChainError::NoHistory(_) => Self::Undecided(text),
            ChainError::Config(_) => Self::Config(text),
        }
    }
}

/// Boxes a chain call for the trait, its error typed as a [`SchemeError`].
pub(crate) fn boxed<'a, T, E: Into<SchemeError>>(
    call: impl Future<Output = Result<T, E>> + Send + 'a,
) -> BoxFuture<'a, Result<T, SchemeError>> {
    call.map(|r| r.map_err(Into::into)).boxed()
}
