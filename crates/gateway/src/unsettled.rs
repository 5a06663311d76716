//! Paid answers whose settlement result was lost: the handler ran, then `/settle` failed in
//! transport (the facilitator died or hung), so nobody knows whether the payment went through.
//! The answer is kept in the shared store under the payment's identity and payload, and the
//! payer's retry of the same payment, at any instance, settles again and gets that answer: the
//! handler runs once per payment, and a payment that did settle is never lost to its payer (on a
//! bundle route, the retry's answer carries the bundle the payment bought).

use axum::response::Response;
use tollgate_proto::clock::unix_now;
use tollgate_proto::{Standing, reason};
use tollgate_store::RecordedAnswer;

use crate::answers;
use crate::call::PaidCall;
use crate::gate::Gateway;
use crate::replies::{IN_FLIGHT, settle_header, store_down, unavailable};

/// Where the kept answer of payment `identity` lives in the answers table.
pub(crate) fn key(identity: &str) -> String {
    format!("unsettled:{identity}")
}

impl Gateway {
    /// The kept answer of this very payment (same identity and payload), taken so no other
    /// attempt gets it; a respelled copy of a payment whose answer is kept is refused.
    pub(crate) async fn take_kept(
        &self,
        call: &PaidCall<'_>,
    ) -> Result<Option<RecordedAnswer>, Response> {
        let store = &self.leases.store;
        let kept = store
            .take_answer(&key(&call.identity), unix_now())
            .await
            .map_err(|e| store_down(&e))?;
        match kept {
            Some(a) if a.fingerprint == call.fingerprint => Ok(Some(a)),
            Some(a) => {
                self.keep(&call.identity, a).await;
                Err(self.refuse_call(call, IN_FLIGHT))
            }
            None => Ok(None),
        }
    }

    /// Settles a payment whose answer was kept and serves that answer once it is paid.
    pub(crate) async fn settle_kept(
        &self,
        call: &PaidCall<'_>,
        mut kept: RecordedAnswer,
    ) -> Response {
        // An upto charge was kept with the answer; reading it takes it out of the answer.
        let headers_only = RecordedAnswer {
            fingerprint: String::new(),
            status: kept.status,
            headers: kept.headers.clone(),
            body: Vec::new(),
        };
        let (mut parts, _) = answers::rebuild(headers_only).into_parts();
        let charge = call.charge(&mut parts);
        let settled = match self.facilitator.settle(call.settle_body(charge)).await {
            Ok(s) => s,
            Err(e) => {
                self.keep(&call.identity, kept).await;
                return unavailable(&e);
            }
        };
        let standing = settled.standing();
        if standing == Standing::Open {
            // Another attempt holds the payment right now, or the facilitator stumbled: its
            // fate is open, so the answer stays kept for the next retry.
            self.keep(&call.identity, kept).await;
            return self.refuse_call(call, IN_FLIGHT);
        }
        if standing == Standing::Refused {
            let why = settled
                .error_reason
                .as_deref()
                .unwrap_or(reason::UNEXPECTED_SETTLE_ERROR);
            let mut out = self.refuse_call(call, why);
            let (name, value) = settle_header(call.carrier, &settled);
            out.headers_mut().insert(name, value);
            return out;
        }
        let bytes = std::mem::take(&mut kept.body);
        let payer = settled.payer.clone().unwrap_or_default();
        // A bundle sold on a settlement still pending is checked later with this very body.
        let recheck = Some(call.body.as_slice()).filter(|_| standing != Standing::Settled);
        self.deliver(call, &settled, &payer, recheck, (parts, bytes))
            .await
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
