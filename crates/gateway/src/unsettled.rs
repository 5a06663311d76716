//! Paid answers whose settlement result was lost: the handler ran, then `/settle` failed in
//! transport (the facilitator died or hung), so nobody knows whether the payment went through.
//! The answer is kept in the shared store under the payment's identity and payload, and the
//! payer's retry of the same payment, at any instance, settles again and gets that answer: the
//! handler runs once per payment, and a payment that did settle is never lost to its payer.

use axum::http::HeaderMap;
use axum::response::Response;
use tollgate_proto::reason;
use tollgate_proto::settlement::SettlementState;
use tollgate_proto::v2::SettleResponse;
use tollgate_store::RecordedAnswer;

use crate::answers;
use crate::gate::{Gateway, settle_header, unix_now};
use crate::metrics::Outcome;
use crate::payment::Carrier;
use crate::replies::{expose, store_down, unavailable};
use crate::routes::Route;

/// Where the kept answer of payment `identity` lives in the answers table.
pub(crate) fn key(identity: &str) -> String {
    format!("unsettled:{identity}")
}

/// Whether a settle answer says this payment is paid or on its way: a fresh success or pending
/// settlement, or a duplicate of one the lost attempt made.
fn paid(s: &SettleResponse) -> bool {
    let why = s.error_reason.as_deref();
    s.success
        || why == Some(reason::SETTLEMENT_PENDING)
        || (why == Some(reason::DUPLICATE_SETTLEMENT)
            && matches!(
                s.settlement_state(),
                Some(SettlementState::Settled | SettlementState::Pending)
            ))
}

/// A payment's retry, told apart from a first attempt.
pub(crate) struct Retry<'a> {
    pub route: &'a Route,
    pub resource: String,
    pub carrier: Carrier,
    pub headers: &'a HeaderMap,
    pub identity: &'a str,
    pub fingerprint: &'a str,
    pub pay_id: Option<&'a str>,
}

impl Gateway {
    /// The kept answer of this very payment (same identity and payload), taken so no other
    /// attempt gets it; a respelled copy of a payment whose answer is kept is refused.
    pub(crate) async fn take_kept(
        &self,
        r: &Retry<'_>,
    ) -> Result<Option<RecordedAnswer>, Response> {
        let store = &self.leases.store;
        let kept = store
            .take_answer(&key(r.identity), unix_now())
            .await
            .map_err(|e| store_down(&e))?;
        match kept {
            Some(a) if a.fingerprint == r.fingerprint => Ok(Some(a)),
            Some(a) => {
                self.keep(r.identity, a).await;
                let e = "payment_in_flight: this payment is already being processed";
                Err(self.refuse(r.route, r.resource.clone(), r.headers, e))
            }
            None => Ok(None),
        }
    }

    /// Settles a payment whose answer was kept and serves that answer once it is paid.
    pub(crate) async fn settle_kept(
        &self,
        r: Retry<'_>,
        body: Vec<u8>,
        mut kept: RecordedAnswer,
    ) -> Response {
        let settled = match self.facilitator.settle(body).await {
            Ok(s) => s,
            Err(e) => {
                self.keep(r.identity, kept).await;
                return unavailable(&e.to_string());
            }
        };
        let (name, value) = settle_header(r.carrier, &settled);
        if !paid(&settled) {
            let why = settled
                .error_reason
                .as_deref()
                .unwrap_or(reason::UNEXPECTED_SETTLE_ERROR);
            let mut out = self.refuse(r.route, r.resource, r.headers, why);
            out.headers_mut().insert(name, value);
            return out;
        }
        let bytes = std::mem::take(&mut kept.body);
        let (mut parts, _) = answers::rebuild(kept).into_parts();
        parts.headers.insert(name, value);
        expose(&mut parts.headers);
        crate::gate::not_for_shared_caches(&mut parts.headers);
        self.metrics.outcome(&r.route.name, Outcome::Paid);
        if let Some(pid) = r.pay_id {
            let ttl = self.answer_ttl;
            answers::record(&self.leases.store, pid, r.fingerprint, &parts, &bytes, ttl).await;
        }
        Response::from_parts(parts, axum::body::Body::from(bytes))
    }

    /// Keeps an answer whose settlement result is unknown, for the payment's retry.
    pub(crate) async fn keep(&self, identity: &str, a: RecordedAnswer) {
        let now = unix_now();
        let store = &self.leases.store;
        if let Err(e) = store
            .record_answer(&key(identity), &a, now, now + self.answer_ttl)
            .await
        {
            tracing::error!(error = %e, "answer of a payment with a lost settle result not kept");
        }
    }
}
