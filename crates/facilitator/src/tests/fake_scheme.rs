//! A test double for a chain. `FakeChain` stands in for a chain so that the facilitator's
//! orchestration (duplicate, pending, refused, failed-on-chain and reconcile paths) can be
//! driven on demand and finishes in milliseconds. A test chooses what the node says to a
//! broadcast and what a receipt lookup returns, and counts what the facilitator asked for.
//! The real chains are covered by the end-to-end tests against anvil and a Solana validator.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{Barrier, Notify};
use tollgate_proto::rpc::EndpointHealth;
use tollgate_proto::v2::SupportedKind;
use tollgate_proto::{
    Broadcast, Network, Networks, PaymentView, Phase, Rejection, SignedTx, Verified, reason,
};

use crate::scheme::{PaymentScheme, SchemeError, exact_kinds};

/// The reason the fake gives for a transaction that landed but failed on chain.
pub(crate) const FAILED_REASON: &str = "fake_transaction_failed";

/// What a receipt lookup answers: `Ok(Some(success))` once mined, `Ok(None)` while pending.
pub(crate) type Receipt = Result<Option<bool>, SchemeError>;

/// Holds `sign` calls until the test lets them go, and tells the test when one arrives.
#[derive(Default)]
pub(crate) struct Pause {
    reached: Notify,
    release: Notify,
}

impl Pause {
    /// Waits until a `sign` call is held here.
    pub(crate) async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets one held (or the next) `sign` call go on.
    pub(crate) fn release(&self) {
        self.release.notify_one();
    }

    async fn hold(&self) {
        self.reached.notify_one();
        self.release.notified().await;
    }
}

/// What a `sign` call waits for before it signs.
#[derive(Clone, Default)]
enum SignGate {
    #[default]
    Open,
    Pause(Arc<Pause>),
    Barrier(Arc<Barrier>),
}

impl SignGate {
    async fn pass(&self) {
        match self {
            Self::Open => {}
            Self::Pause(p) => p.hold().await,
            Self::Barrier(b) => {
                b.wait().await;
            }
        }
    }
}

/// A scripted chain on one EVM network.
pub(crate) struct FakeChain {
    network: Network,
    broadcast_answer: Mutex<Broadcast>,
    receipt: Mutex<Receipt>,
    gate: Mutex<SignGate>,
    sent: Mutex<Vec<SignedTx>>,
    signs: AtomicUsize,
    abandons: AtomicUsize,
    confirms: AtomicUsize,
}

impl FakeChain {
    /// A chain that accepts every broadcast and mines it successfully.
    pub(crate) fn new(network: Network) -> Self {
        Self {
            network,
            broadcast_answer: Mutex::new(Broadcast::Accepted),
            receipt: Mutex::new(Ok(Some(true))),
            gate: Mutex::default(),
            sent: Mutex::default(),
            signs: AtomicUsize::new(0),
            abandons: AtomicUsize::new(0),
            confirms: AtomicUsize::new(0),
        }
    }

    /// What the node answers to every broadcast from now on.
    pub(crate) fn answer_broadcasts(&self, answer: Broadcast) {
        *self.broadcast_answer.lock().expect("fake lock") = answer;
    }

    /// What every receipt lookup answers from now on.
    pub(crate) fn answer_receipts(&self, receipt: Receipt) {
        *self.receipt.lock().expect("fake lock") = receipt;
    }

    /// Holds every `sign` call at the returned pause until released.
    pub(crate) fn pause_signing(&self) -> Arc<Pause> {
        let pause = Arc::new(Pause::default());
        *self.gate.lock().expect("fake lock") = SignGate::Pause(pause.clone());
        pause
    }

    /// Lets `sign` calls go on only once `n` of them have arrived together.
    pub(crate) fn meet_in_sign(&self, n: usize) {
        *self.gate.lock().expect("fake lock") = SignGate::Barrier(Arc::new(Barrier::new(n)));
    }

    /// Every transaction broadcast so far, in order.
    pub(crate) fn sent(&self) -> Vec<SignedTx> {
        self.sent.lock().expect("fake lock").clone()
    }

    /// How many broadcasts were made.
    pub(crate) fn broadcasts(&self) -> usize {
        self.sent.lock().expect("fake lock").len()
    }

    /// How many transactions were signed.
    pub(crate) fn signs(&self) -> usize {
        self.signs.load(Ordering::SeqCst)
    }

    /// How many signed transactions were dropped unsent.
    pub(crate) fn abandons(&self) -> usize {
        self.abandons.load(Ordering::SeqCst)
    }

    /// How many receipt lookups were made.
    pub(crate) fn confirms(&self) -> usize {
        self.confirms.load(Ordering::SeqCst)
    }

    fn verified(&self, view: &PaymentView<'_>) -> Result<Verified, Rejection> {
        let payer = view.payload.get("from").and_then(|v| v.as_str());
        Ok(Verified {
            signer: None,
            identity: self.identity(view)?,
            payer: payer.unwrap_or("0xpayer").to_string(),
            amount: view.requirements.amount,
            target: view.requirements.asset.to_string(),
            data: Vec::new(),
        })
    }
}

impl PaymentScheme for FakeChain {
    fn network(&self) -> &Network {
        &self.network
    }

    fn kinds(&self, networks: &Networks) -> Vec<SupportedKind> {
        exact_kinds(&self.network, networks, None)
    }

    fn signer_family(&self) -> &'static str {
        "eip155:*"
    }

    fn signers(&self) -> Vec<String> {
        vec!["0xfacade".into()]
    }

    /// `<network>/fake/<payload.nonce>`.
    fn identity(&self, view: &PaymentView<'_>) -> Result<String, Rejection> {
        let nonce = view.payload.get("nonce").and_then(|v| v.as_str());
        let nonce = nonce.ok_or_else(|| {
            Rejection::new(reason::INVALID_PAYLOAD).with_message("fake payload has no nonce")
        })?;
        Ok(format!("{}/fake/{nonce}", view.requirements.network))
    }

    fn verify<'a>(
        &'a self,
        view: &'a PaymentView<'a>,
        _: Phase,
    ) -> BoxFuture<'a, Result<Verified, Rejection>> {
        Box::pin(std::future::ready(self.verified(view)))
    }

    /// Each signature is a new transaction: `0xfake0001`, `0xfake0002`, ...
    fn sign<'a>(&'a self, verified: &'a Verified) -> BoxFuture<'a, Result<SignedTx, SchemeError>> {
        Box::pin(async move {
            let gate = self.gate.lock().expect("fake lock").clone();
            gate.pass().await;
            let n = self.signs.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(SignedTx {
                hash: format!("0xfake{n:04}"),
                raw: format!("{}#{n}", verified.identity).into_bytes(),
            })
        })
    }

    fn broadcast<'a>(&'a self, tx: &'a SignedTx) -> BoxFuture<'a, Broadcast> {
        self.sent.lock().expect("fake lock").push(tx.clone());
        let answer = self.broadcast_answer.lock().expect("fake lock").clone();
        Box::pin(std::future::ready(answer))
    }

    fn abandon<'a>(&'a self, _tx: &'a SignedTx) -> BoxFuture<'a, ()> {
        self.abandons.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::ready(()))
    }

    /// Answers at once whatever the test scripted; the wait bound is not slept.
    fn confirm<'a>(
        &'a self,
        _hash: &'a str,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<bool>, SchemeError>> {
        self.confirms.fetch_add(1, Ordering::SeqCst);
        let receipt = self.receipt.lock().expect("fake lock").clone();
        Box::pin(std::future::ready(receipt))
    }

    fn failed_reason(&self, _: &str) -> &'static str {
        FAILED_REASON
    }

    fn health(&self) -> BoxFuture<'_, Vec<EndpointHealth>> {
        Box::pin(std::future::ready(Vec::new()))
    }
}
