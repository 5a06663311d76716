//! Paid answers whose settlement result was lost: the handler ran, then `/settle` failed in
//! transport (the facilitator died or hung), so nobody knows whether the payment went through.
//! The answer is kept in the shared store under the payment's identity and payload, and the
//! payer's retry of the same payment, at any instance, settles again and gets that answer: the
//! handler runs once per payment, and a payment that did settle is never lost to its payer (on a
//! bundle route, the retry's answer carries the bundle the payment bought).

use axum::http::HeaderMap;
use axum::response::Response;
use tollgate_proto::reason;
use tollgate_proto::settlement::SettlementState;
use tollgate_proto::v2::SettleResponse;
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

/// Whether a settle answer leaves the payment's fate open: a duplicate that names no state (an
/// attempt holds it, not yet claimed in the ledger), or an unexpected facilitator failure.
fn undecided(s: &SettleResponse) -> bool {
    let why = s.error_reason.as_deref();
    (why == Some(reason::DUPLICATE_SETTLEMENT) && s.settlement_state().is_none())
        || why == Some(reason::UNEXPECTED_SETTLE_ERROR)
}

/// Whether a settle answer says the payment is on chain for good, not still on its way.
fn settled_for_sure(s: &SettleResponse) -> bool {
    s.success || s.settlement_state() == Some(SettlementState::Settled)
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
        if undecided(&settled) {
            // Another attempt holds the payment right now, or the facilitator stumbled: its
            // fate is open, so the answer stays kept for the next retry.
            self.keep(r.identity, kept).await;
            return self.refuse(r.route, r.resource, r.headers, IN_FLIGHT);
        }
        if !paid(&settled) {
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
            let recheck = recheck.as_deref().filter(|_| !settled_for_sure(&settled));
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

#[cfg(test)]
mod tests {
    use tollgate_proto::reason;
    use tollgate_proto::settlement::SettlementState;
    use tollgate_proto::v2::SettleResponse;

    use super::{paid, undecided};

    fn answer(why: &str, state: Option<SettlementState>) -> SettleResponse {
        let r = SettleResponse {
            success: false,
            error_reason: Some(why.into()),
            error_message: None,
            payer: Some("0xpayer".into()),
            transaction: String::new(),
            network: "eip155:8453".into(),
            amount: None,
            extra: None,
        };
        match state {
            Some(s) => r.with_settlement_state(s),
            None => r,
        }
    }

    #[test]
    fn only_a_final_answer_ends_a_kept_answer() {
        let dup = reason::DUPLICATE_SETTLEMENT;
        // Held by another attempt, not yet claimed: still open.
        assert!(undecided(&answer(dup, None)));
        assert!(undecided(&answer(reason::UNEXPECTED_SETTLE_ERROR, None)));
        for state in [SettlementState::Settled, SettlementState::Pending] {
            assert!(!undecided(&answer(dup, Some(state))));
            assert!(paid(&answer(dup, Some(state))));
        }
        // Failed on chain, or another payment under the identity: final, and unpaid.
        assert!(!undecided(&answer(dup, Some(SettlementState::Failed))));
        assert!(!paid(&answer(dup, Some(SettlementState::Failed))));
        assert!(!undecided(&answer(
            "invalid_exact_evm_payload_signature",
            None
        )));
    }
}
