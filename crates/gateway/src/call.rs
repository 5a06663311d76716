//! A paid call as its payment names it, shared by a first attempt and the retry of a payment
//! whose settlement was lost, and how the answer of a settled call goes out.

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::response::Parts;
use axum::response::Response;
use serde_json::Value;
use tollgate_proto::U256;
use tollgate_proto::amount::parse_atomic;
use tollgate_proto::headers::SETTLEMENT_OVERRIDES;
use tollgate_proto::v2::SettleResponse;
use tollgate_store::RecordedAnswer;

use crate::answers;
use crate::bundle::attach_receipt;
use crate::gate::Gateway;
use crate::metrics::Outcome;
use crate::payment::Carrier;
use crate::replies::{expose, not_for_shared_caches, settle_header};
use crate::routes::Route;

/// One paid call, read from its payment header before anything is held or asked.
pub(crate) struct PaidCall<'a> {
    pub route: &'a Route,
    pub resource: String,
    pub carrier: Carrier,
    pub headers: HeaderMap,
    /// The `/verify` and `/settle` body.
    pub body: Vec<u8>,
    /// The payment's identity in the facilitator's ledger (and the in-flight lease's key).
    pub identity: String,
    /// Identity and payload together: tells a copy of this payment from a respelled one.
    pub fingerprint: String,
    /// The payer's `payment-identifier`, when it sent one.
    pub pay_id: Option<String>,
    /// Which of the route's `accepts` the payment takes.
    pub accepted: usize,
}

impl PaidCall<'_> {
    /// On an upto route, the charge the answer names, taken out of it, in atomic units of the
    /// asset paid; `None` on an exact route (the price is the charge).
    pub fn charge(&self, parts: &mut Parts) -> Option<U256> {
        let Some(upto) = &self.route.upto else {
            // Nothing for the payer to see, whatever an upstream written for upto sent.
            parts.headers.remove(SETTLEMENT_OVERRIDES);
            parts.extensions.remove::<crate::Charge>();
            return None;
        };
        let asset = self.route.assets.get(self.accepted)?;
        let max = parse_atomic(&self.route.accepts.get(self.accepted)?.amount).ok()?;
        Some(upto.charge(&self.route.name, asset, max, parts))
    }

    /// The `/settle` body: on an upto route the requirements' amount is the charge.
    pub fn settle_body(&self, charge: Option<U256>) -> Vec<u8> {
        let Some(charge) = charge else {
            return self.body.clone();
        };
        let mut body: Value = serde_json::from_slice(&self.body).expect("the gateway's own JSON");
        body["paymentRequirements"]["amount"] = Value::String(charge.to_string());
        serde_json::to_vec(&body).expect("JSON values serialize")
    }

    /// The answer as kept for the payer's retry; an upto charge goes with it as the
    /// `Settlement-Overrides` header the retry reads again, so the retry settles the same amount.
    pub fn unsent(&self, charge: Option<U256>, parts: &Parts, bytes: &[u8]) -> RecordedAnswer {
        let mut a = answers::unsent(&self.fingerprint, parts, bytes);
        if let Some(c) = charge {
            let named = serde_json::json!({ "amount": c.to_string() }).to_string();
            a.headers.push((SETTLEMENT_OVERRIDES.to_string(), named));
        }
        a
    }
}

impl Gateway {
    /// A 402 challenge for `call`'s route naming `why`.
    pub(crate) fn refuse_call(&self, call: &PaidCall<'_>, why: &str) -> Response {
        self.refuse(call.route, call.resource.clone(), &call.headers, why)
    }

    /// The answer of a settled (or surely settling) call: its settlement header, the bundle it
    /// bought (`recheck` holds the `/settle` body while the settlement is pending), and a record
    /// of the answer for the payer's honest retry.
    pub(crate) async fn deliver(
        &self,
        call: &PaidCall<'_>,
        settled: &SettleResponse,
        payer: &str,
        recheck: Option<&[u8]>,
        (mut parts, mut out): (Parts, Vec<u8>),
    ) -> Response {
        let (name, value) = settle_header(call.carrier, settled);
        parts.headers.insert(name, value);
        if let Some(b) = &call.route.bundle
            && let Some(token) = self.issue(b, payer, &call.identity, settled, recheck).await
        {
            attach_receipt(b, &token, &mut parts, &mut out);
        }
        expose(&mut parts.headers);
        not_for_shared_caches(&mut parts.headers);
        self.metrics.outcome(&call.route.name, Outcome::Paid);
        if let Some(pid) = &call.pay_id {
            let (store, ttl) = (&self.leases.store, self.answer_ttl);
            answers::record(store, pid, &call.fingerprint, &parts, &out, ttl).await;
        }
        Response::from_parts(parts, Body::from(out))
    }
}
