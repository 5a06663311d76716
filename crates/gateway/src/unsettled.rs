//! Paid answers whose settlement result was lost: the handler ran, then `/settle` failed in
//! transport (the facilitator died or hung), so nobody knows whether the payment went through.
//! The answer is kept in the shared store under the payment's identity and payload, and the
//! payer's retry of the same payment, at any instance, settles again and gets that answer: the
//! handler runs once per payment, and a payment that did settle is never lost to its payer (on a
//! bundle route, the retry's answer carries the bundle the payment bought).

use axum::http::HeaderMap;
use axum::response::Response;
use tollgate_proto::{Standing, reason};
use tollgate_store::RecordedAnswer;

use crate::answers;
use crate::gate::{Gateway, settle_header, unix_now};
use crate::metrics::Outcome;
use crate::paid::attach_receipt;
use crate::payment::Carrier;
use crate::replies::{IN_FLIGHT, expose, store_down, unavailable};
use crate::routes::Route;

/// Where the kept answer of payment `identity` lives in the answers table.
pub(crate) fn key(identity: &str) -> String {
    format!("unsettled:{identity}")
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
                Err(self.refuse(r.route, r.resource.clone(), r.headers, IN_FLIGHT))
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
        // A bundle sold on a settlement still pending is checked later with this very body.
        let recheck = r.route.bundle.as_ref().map(|_| body.clone());
        let settled = match self.facilitator.settle(body).await {
            Ok(s) => s,
            Err(e) => {
                self.keep(r.identity, kept).await;
                return unavailable(&e);
            }
        };
        let (name, value) = settle_header(r.carrier, &settled);
        let standing = settled.standing();
        if standing == Standing::Open {
            // Another attempt holds the payment right now, or the facilitator stumbled: its
            // fate is open, so the answer stays kept for the next retry.
            self.keep(r.identity, kept).await;
            return self.refuse(r.route, r.resource, r.headers, IN_FLIGHT);
        }
        if standing == Standing::Refused {
            let why = settled
                .error_reason
                .as_deref()
                .unwrap_or(reason::UNEXPECTED_SETTLE_ERROR);
            let mut out = self.refuse(r.route, r.resource, r.headers, why);
            out.headers_mut().insert(name, value);
            return out;
        }
        let mut bytes = std::mem::take(&mut kept.body);
        let (mut parts, _) = answers::rebuild(kept).into_parts();
        parts.headers.insert(name, value);
        if let Some(b) = &r.route.bundle {
            let payer = settled.payer.clone().unwrap_or_default();
            let recheck = recheck.as_deref().filter(|_| standing != Standing::Settled);
            if let Some(token) = self.issue(b, &payer, r.identity, &settled, recheck).await {
                attach_receipt(b, &token, &mut parts, &mut bytes);
            }
        }
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
