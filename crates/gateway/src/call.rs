//! A paid call as its payment names it, shared by a first attempt and the retry of a payment
//! whose settlement was lost, and how the answer of a settled call goes out.

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::response::Parts;
use axum::response::Response;
use tollgate_proto::v2::SettleResponse;

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
