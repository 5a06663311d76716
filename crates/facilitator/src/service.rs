//! Verify and settle orchestration: parse, route to a scheme, and settle each payment at most
//! once through the ledger (verify → sign → claim with the signed bytes → broadcast → bounded
//! wait → record the result).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sha2::{Digest, Sha256};

use tollgate_proto::v2::{SettleResponse, SupportedResponse, VerifyResponse};
use tollgate_proto::{
    Broadcast, FacilitatorRequest, PaymentView, Phase, Rejection, SignedTx, Verified, reason,
};
use tollgate_store::{Claim, Intent, Ledger, SettlementRecord};

use crate::allow::Allowlist;
use crate::failpoint::{Failpoint, Step};
use crate::metrics::Metrics;
use crate::options::{FacilitatorOptions, ReconcileOptions};
pub use crate::reply::Reply;
use crate::reply::{
    already_settled, duplicate, failed, invalid_verify, ok, pending, refuse_verify, settled,
    status_of,
};
use crate::scheme::PaymentScheme;

/// The facilitator: schemes per network over one ledger.
pub struct Facilitator {
    /// Identities this process is settling right now: a concurrent repeat is refused before it
    /// signs anything, so no nonce is spent on a transaction that loses the ledger race.
    settling: Mutex<HashSet<String>>,
    schemes: Vec<Arc<dyn PaymentScheme>>,
    ledger: Ledger,
    allow: Allowlist,
    opts: FacilitatorOptions,
    metrics: Metrics,
}

/// An internal fault: logged, answered 500, never a verdict on the payment.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Internal(pub String);

impl Facilitator {
    /// Builds a facilitator over `schemes`, recording settlements in `ledger`.
    pub fn new(
        schemes: Vec<Arc<dyn PaymentScheme>>,
        ledger: Ledger,
        opts: FacilitatorOptions,
    ) -> Self {
        let allow = opts
            .allow
            .clone()
            .unwrap_or_else(|| Allowlist::usdc_of(schemes.iter().map(|s| s.network())));
        Self {
            settling: Mutex::default(),
            schemes,
            ledger,
            allow,
            opts,
            metrics: Metrics::new(),
        }
    }

    /// The ledger, for reconciliation and health checks.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Pace of the background reconciler.
    pub fn reconcile_options(&self) -> &ReconcileOptions {
        &self.opts.reconcile
    }

    /// Prometheus metrics of this instance.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn schemes(&self) -> &[Arc<dyn PaymentScheme>] {
        &self.schemes
    }

    pub(crate) fn scheme_for(&self, network: &str) -> Option<&Arc<dyn PaymentScheme>> {
        self.schemes.iter().find(|s| s.network().caip2() == network)
    }

    /// `/supported`: every kind of every scheme, and the signers per chain family.
    pub fn supported(&self) -> SupportedResponse {
        let mut signers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut kinds = Vec::new();
        let mut extensions: Vec<String> = Vec::new();
        for s in &self.schemes {
            kinds.extend(s.kinds(&self.opts.networks));
            for e in s.extensions() {
                if !extensions.contains(&e) {
                    extensions.push(e);
                }
            }
            let entry = signers.entry(s.signer_family().to_string()).or_default();
            for a in s.signers() {
                if !entry.contains(&a) {
                    entry.push(a);
                }
            }
        }
        SupportedResponse {
            kinds,
            extensions,
            signers,
        }
    }

    fn route<'r>(
        &self,
        req: &'r FacilitatorRequest,
    ) -> Result<(PaymentView<'r>, &Arc<dyn PaymentScheme>), Rejection> {
        let view = req
            .view(&self.opts.networks)
            .map_err(|e| Rejection::new(e.reason).with_message(e.message))?;
        let scheme = self
            .scheme_for(view.requirements.network.caip2())
            .ok_or_else(|| {
                Rejection::new(reason::INVALID_NETWORK)
                    .with_message(format!("{} is not served here", view.requirements.network))
            })?;
        self.allow.check(&view.requirements)?;
        Ok((view, scheme))
    }

    /// `/verify`: 200 with a verdict, 400 for a malformed request, 500 for an internal fault.
    pub async fn verify(&self, body: &[u8]) -> Result<Reply<VerifyResponse>, Internal> {
        self.measured("verify", self.verify_inner(body)).await
    }

    /// Runs operation `op`, counting its outcome and time.
    async fn measured<T: Outcome>(
        &self,
        op: &str,
        work: impl Future<Output = Result<Reply<T>, Internal>>,
    ) -> Result<Reply<T>, Internal> {
        let started = Instant::now();
        let reply = work.await;
        let outcome = match &reply {
            Ok(r) => r.body.outcome(),
            Err(_) => "internal".into(),
        };
        self.metrics.operation(op, &outcome, started.elapsed());
        reply
    }

    async fn verify_inner(&self, body: &[u8]) -> Result<Reply<VerifyResponse>, Internal> {
        let req = match FacilitatorRequest::parse(body) {
            Ok(r) => r,
            Err(e) => {
                return Ok(refuse_verify(
                    Rejection::new(e.reason).with_message(e.message),
                ));
            }
        };
        let (view, scheme) = match self.route(&req) {
            Ok(x) => x,
            Err(r) => return Ok(refuse_verify(r)),
        };
        let identity = match scheme.identity(&view) {
            Ok(id) => id,
            Err(r) => return Ok(refuse_verify(r)),
        };
        if let Some(rec) = self.ledger.get(&identity).await.map_err(internal)? {
            return Ok(invalid_verify(already_settled(&rec)));
        }
        Ok(match scheme.verify(&view, Phase::Verify).await {
            Ok(v) => Reply {
                status: 200,
                body: VerifyResponse::valid(v.payer),
            },
            Err(r) => match self.settled_meanwhile(&identity).await? {
                Some(rec) => invalid_verify(already_settled(&rec)),
                None => invalid_verify(r),
            },
        })
    }

    /// `/settle`: re-verifies, then broadcasts at most once per payment identity. The
    /// settlement runs in a task of its own: a caller that hangs up drops only its wait, never
    /// a taken nonce, a claimed but unsent transaction or an unrecorded result.
    pub async fn settle(self: &Arc<Self>, body: &[u8]) -> Result<Reply<SettleResponse>, Internal> {
        let (me, body) = (self.clone(), body.to_vec());
        tokio::spawn(async move { me.settle_owned(&body).await })
            .await
            .unwrap_or_else(|e| Err(internal(format!("settlement task failed: {e}"))))
    }

    async fn settle_owned(&self, body: &[u8]) -> Result<Reply<SettleResponse>, Internal> {
        self.measured("settle", self.settle_inner(body)).await
    }

    async fn settle_inner(&self, body: &[u8]) -> Result<Reply<SettleResponse>, Internal> {
        let req = match FacilitatorRequest::parse(body) {
            Ok(r) => r,
            Err(e) => {
                let r = Rejection::new(e.reason).with_message(e.message);
                return Ok(Reply {
                    status: status_of(&r),
                    body: failed(r, String::new(), None),
                });
            }
        };
        let (view, scheme) = match self.route(&req) {
            Ok(x) => x,
            Err(r) => {
                return Ok(Reply {
                    status: status_of(&r),
                    body: failed(r, String::new(), None),
                });
            }
        };
        let net = self.wire_network(&req, &view);
        let identity = match scheme.identity(&view) {
            Ok(id) => id,
            Err(r) => {
                return Ok(Reply {
                    status: status_of(&r),
                    body: failed(r, net, None),
                });
            }
        };
        let digest = payment_digest(&view);
        if let Some(rec) = self.ledger.get(&identity).await.map_err(internal)? {
            return Ok(ok(duplicate(&rec, net, &digest)));
        }
        let Some(_settling) = Settling::begin(&self.settling, &identity) else {
            let r = Rejection::new(reason::DUPLICATE_SETTLEMENT)
                .with_message("payment already being settled");
            return Ok(ok(failed(r, net, None)));
        };
        let verified = match scheme.verify(&view, Phase::Settle).await {
            Ok(v) => v,
            Err(r) => {
                return Ok(ok(match self.settled_meanwhile(&identity).await? {
                    Some(rec) => duplicate(&rec, net, &digest),
                    None => failed(r, net, None),
                }));
            }
        };
        let intent = Intent {
            id: identity,
            network: view.requirements.network.caip2().to_string(),
            scheme: view.requirements.scheme.to_string(),
            payer: verified.payer.clone(),
            amount: verified.amount.to_string(),
            payment_digest: Some(digest.clone()),
        };
        if view.requirements.scheme == "upto" && verified.amount.is_zero() {
            // A charge of nothing sends nothing, but spends the payment all the same.
            return Ok(ok(
                match self.ledger.claim_free(&intent).await.map_err(internal)? {
                    Claim::Won => settled(&verified, net, String::new()),
                    Claim::Exists(rec) => duplicate(&rec, net, &digest),
                },
            ));
        }
        let signed = match scheme.sign(&verified).await {
            Ok(s) => s,
            Err(e) => {
                let r = Rejection::new(reason::UNEXPECTED_SETTLE_ERROR).with_message(e.to_string());
                return Ok(ok(failed(r.with_payer(verified.payer.clone()), net, None)));
            }
        };
        Failpoint::at(&self.opts.failpoint, Step::Signed).await;
        // One write before broadcast: the claim and the exact bytes to send, or nothing.
        match self
            .ledger
            .claim_signed(&intent, &signed.hash, &signed.raw)
            .await
        {
            Ok(Claim::Won) => Failpoint::at(&self.opts.failpoint, Step::Claimed).await,
            Ok(Claim::Exists(rec)) => {
                scheme.abandon(&signed).await;
                return Ok(ok(duplicate(&rec, net, &digest)));
            }
            Err(e) => {
                scheme.abandon(&signed).await;
                return Err(internal(e));
            }
        }
        let out = Outbound {
            scheme: scheme.as_ref(),
            kind: view.requirements.scheme,
            verified: &verified,
            signed: &signed,
            net,
        };
        self.broadcast_recorded(out).await.map(ok)
    }

    /// Broadcasts a settlement the ledger holds, then waits (bounded) for its result.
    async fn broadcast_recorded(&self, out: Outbound<'_>) -> Result<SettleResponse, Internal> {
        let (v, signed) = (out.verified, out.signed);
        match out.scheme.broadcast(signed).await {
            Broadcast::Accepted => {}
            Broadcast::Rejected(msg) => {
                let id = &v.identity;
                self.ledger.discard_refused(id).await.map_err(internal)?;
                let r = Rejection::new(reason::UNEXPECTED_SETTLE_ERROR)
                    .with_message(format!("node refused: {msg}"));
                return Ok(failed(r.with_payer(v.payer.clone()), out.net, None));
            }
            Broadcast::Unknown(msg) => {
                tracing::warn!(tx = %signed.hash, error = %msg, "broadcast outcome unknown; reconciler will finish it");
                let why = format!("broadcast outcome unknown: {msg}");
                return Ok(pending(v, signed, out.net, why));
            }
        }
        Failpoint::at(&self.opts.failpoint, Step::Broadcast).await;
        self.finish(out).await
    }

    /// Waits (bounded) for a broadcast settlement's receipt and records what it says.
    async fn finish(&self, out: Outbound<'_>) -> Result<SettleResponse, Internal> {
        let Outbound {
            scheme,
            kind,
            verified: v,
            signed,
            net,
        } = out;
        match scheme
            .confirm(&signed.hash, self.opts.receipt_timeout)
            .await
        {
            Ok(Some(true)) => {
                // Named by hash: a fee bump may have replaced it in the row meanwhile.
                self.ledger
                    .record_mined(&v.identity, &signed.hash, true, None)
                    .await
                    .map_err(internal)?;
                Ok(settled(v, net, signed.hash.clone()))
            }
            Ok(Some(false)) => {
                let why = scheme.failed_reason(kind);
                self.ledger
                    .record_mined(&v.identity, &signed.hash, false, Some(why))
                    .await
                    .map_err(internal)?;
                let r = Rejection::new(why)
                    .with_message("transaction reverted")
                    .with_payer(v.payer.clone());
                Ok(failed(r, net, Some(signed.hash.clone())))
            }
            Ok(None) => Ok(pending(
                v,
                signed,
                net,
                "receipt not seen within the wait bound".into(),
            )),
            Err(e) => Ok(pending(v, signed, net, format!("receipt wait failed: {e}"))),
        }
    }

    /// A refusal may only mean another instance settled the payment since the ledger was read
    /// (the chain then reports its nonce as used): the ledger, claimed before any broadcast,
    /// tells the two apart, so such a repeat is named a duplicate, not a bad payment.
    async fn settled_meanwhile(
        &self,
        identity: &str,
    ) -> Result<Option<SettlementRecord>, Internal> {
        self.ledger.get(identity).await.map_err(internal)
    }

    fn wire_network(&self, req: &FacilitatorRequest, view: &PaymentView<'_>) -> String {
        match req {
            FacilitatorRequest::V1 { .. } => self
                .opts
                .networks
                .v1_name(&view.requirements.network)
                .to_string(),
            FacilitatorRequest::V2 { .. } => view.requirements.network.caip2().to_string(),
        }
    }
}

/// A settlement the ledger holds, on its way to the chain: what its answer is made of.
struct Outbound<'a> {
    scheme: &'a dyn PaymentScheme,
    /// The payment's scheme name (`exact`, `upto`).
    kind: &'a str,
    verified: &'a Verified,
    signed: &'a SignedTx,
    /// The network as the request named it.
    net: String,
}

/// Marks an identity as being settled by this process until dropped.
struct Settling<'a> {
    set: &'a Mutex<HashSet<String>>,
    id: String,
}

impl<'a> Settling<'a> {
    fn begin(set: &'a Mutex<HashSet<String>>, id: &str) -> Option<Self> {
        set.lock()
            .expect("settling lock")
            .insert(id.to_string())
            .then(|| Self {
                set,
                id: id.to_string(),
            })
    }
}

impl Drop for Settling<'_> {
    fn drop(&mut self) {
        self.set.lock().expect("settling lock").remove(&self.id);
    }
}

/// A store or chain fault as an internal error, the one way this crate wraps them.
pub(crate) fn internal(e: impl std::fmt::Display) -> Internal {
    Internal(e.to_string())
}

/// What a payment is, as the ledger tells repeats from other payments under one identity: a
/// digest of its payload, the payer's signed terms (the same payer and nonce signed over other
/// terms make another payload), and for `upto` the charge too (settling one authorization at
/// another charge is not a repeat of the first settlement, and must not be told it settled).
fn payment_digest(view: &PaymentView<'_>) -> String {
    let mut bytes = serde_json::to_vec(view.payload).expect("JSON values serialize");
    if view.requirements.scheme == "upto" {
        bytes.extend(format!("\ncharge {}", view.requirements.amount).as_bytes());
    }
    format!("{:x}", Sha256::digest(bytes))
}

/// An answer's outcome as the operations metric labels it.
trait Outcome {
    fn outcome(&self) -> String;
}

impl Outcome for VerifyResponse {
    /// "valid", or the reason it is not.
    fn outcome(&self) -> String {
        self.invalid_reason
            .clone()
            .unwrap_or_else(|| "valid".into())
    }
}

impl Outcome for SettleResponse {
    /// "success", or the reason it failed.
    fn outcome(&self) -> String {
        match &self.error_reason {
            _ if self.success => "success".into(),
            reason => reason.clone().unwrap_or_default(),
        }
    }
}
