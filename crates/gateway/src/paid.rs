//! A paid call: match, verify, hold the in-flight lock, run the handler buffered, settle only
//! below 400, attach the settlement (and, for bundles, a receipt).

use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::response::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use sha2::{Digest, Sha256};
use tollgate_proto::reason;
use tollgate_proto::v2::SettleResponse;
use tollgate_store::NewReceipt;

use crate::answers;
use crate::gate::{
    Gateway, Next, Unread, buffer, json_error, settle_header, unix_now, with_body_receipt,
};
use crate::headers;
use crate::metrics::Outcome;
use crate::payment::{self, Accepts, Carrier, PaymentError};
use crate::receipt::Claims;
use crate::replies::{IN_FLIGHT, expose, store_down, unavailable};
use crate::routes::{Bundle, Route};
use crate::unsettled::Retry;

impl Gateway {
    /// Takes a payment for `route` and serves the handler's answer only once it is settled.
    pub(crate) async fn paid(
        &self,
        route: &Route,
        resource: String,
        carrier: Carrier,
        value: String,
        req: Request,
        next: Next,
    ) -> Response {
        let h = req.headers().clone();
        let decoded = match payment::decode(&value) {
            Ok(d) => d,
            Err(e) => {
                let status = StatusCode::BAD_REQUEST;
                return self.challenge_with(route, resource, &h, status, &e.to_string());
            }
        };
        let accepts_v1 = route.accepts_v1(&resource, &self.networks);
        let accepts = Accepts {
            v2: &route.accepts,
            v1: &accepts_v1,
        };
        let Ok(i) = payment::match_accepted(&decoded, &accepts) else {
            return self.refuse(route, resource, &h, &PaymentError::NoMatch.to_string());
        };
        let body = payment::facilitator_body(&decoded, &accepts, i);
        let malformed = |e: PaymentError| {
            let status = StatusCode::BAD_REQUEST;
            self.challenge_with(route, resource.clone(), &h, status, &e.to_string())
        };
        let id = match payment::identity(&body, &self.networks) {
            Ok(id) => id,
            Err(e) => return malformed(e),
        };
        let pay_id = match payment::payment_id(&decoded) {
            Ok(p) => p.map(str::to_string),
            Err(e) => return malformed(e),
        };
        if pay_id.is_none() && self.require_payment_id {
            let e = PaymentError::Malformed(answers::ID_REQUIRED.into());
            return malformed(e);
        }
        let _held = match self.leases.hold(&id).await {
            Ok(Some(held)) => held,
            Ok(None) => {
                return self.refuse(route, resource, &h, IN_FLIGHT);
            }
            Err(e) => return store_down(&e),
        };
        let fingerprint = answers::fingerprint(&id, &decoded);
        if let Some(pid) = &pay_id {
            match self.leases.store.answer(pid, unix_now()).await {
                Ok(Some(a)) if a.fingerprint == fingerprint => {
                    self.metrics.outcome(&route.name, Outcome::Replayed);
                    return answers::replay(a);
                }
                Ok(Some(_)) => {
                    self.metrics.refused(&route.name, answers::ID_CONFLICT);
                    return json_error(StatusCode::CONFLICT, answers::ID_CONFLICT);
                }
                Ok(None) => {}
                Err(e) => return store_down(&e),
            }
        }
        let retry = Retry {
            route,
            resource: resource.clone(),
            carrier,
            headers: &h,
            identity: &id,
            fingerprint: &fingerprint,
            pay_id: pay_id.as_deref(),
        };
        match self.take_kept(&retry).await {
            Ok(Some(kept)) => return self.settle_kept(retry, body, kept).await,
            Ok(None) => {}
            Err(refused) => return refused,
        }
        let verdict = match self.facilitator.verify(body.clone()).await {
            Ok(v) => v,
            Err(e) => return unavailable(&e),
        };
        if !verdict.is_valid {
            let why = verdict
                .invalid_reason
                .as_deref()
                .unwrap_or(reason::INVALID_PAYLOAD);
            if why == reason::PERMIT2_ALLOWANCE_REQUIRED {
                // The payer must approve Permit2 once before any Permit2 payment can work.
                let status = StatusCode::PRECONDITION_FAILED;
                return self.challenge_with(route, resource, &h, status, why);
            }
            return self.refuse(route, resource, &h, why);
        }
        let resp = next(req).await;
        if self.refused_busy(route, &resp) {
            return resp;
        }
        self.metrics.handler_ran(&route.name);
        let (mut parts, inner_body) = resp.into_parts();
        let bytes = match buffer(inner_body, self.max_body).await {
            Ok(bytes) => bytes,
            Err(Unread::TooLarge) => {
                return json_error(StatusCode::BAD_GATEWAY, "upstream_response_too_large");
            }
            // Cut off partway (the upstream failed, or timed out after its headers came): the
            // call was not served, so nothing is charged.
            Err(Unread::Broken) => {
                return json_error(StatusCode::BAD_GATEWAY, "upstream_response_incomplete");
            }
        };
        if parts.status.as_u16() >= 400 {
            return Response::from_parts(parts, Body::from(bytes));
        }
        // A bundle sold on a pending settlement is checked later with this very body.
        let kept = route.bundle.as_ref().map(|_| body.clone());
        let started = Instant::now();
        let settled = match self.facilitator.settle(body).await {
            Ok(s) => s,
            Err(e) => {
                self.metrics.settled("error", started.elapsed());
                // Whether it settled is unknown: the payer's retry gets this answer (and, on a
                // bundle route, the bundle it paid for).
                self.keep(&id, answers::unsent(&fingerprint, &parts, &bytes))
                    .await;
                return unavailable(&e);
            }
        };
        let pending = settled.error_reason.as_deref() == Some(reason::SETTLEMENT_PENDING);
        let outcome = match (settled.success, pending) {
            (true, _) => "success",
            (false, true) => "pending",
            (false, false) => "failed",
        };
        self.metrics.settled(outcome, started.elapsed());
        let (name, value) = settle_header(carrier, &settled);
        if !settled.success && !pending {
            let why = settled
                .error_reason
                .as_deref()
                .unwrap_or(reason::UNEXPECTED_SETTLE_ERROR);
            if why == reason::UNEXPECTED_SETTLE_ERROR {
                // The facilitator stumbled partway through this very attempt: the payer's retry
                // of the payment gets this answer once it settles, without a second run.
                self.keep(&id, answers::unsent(&fingerprint, &parts, &bytes))
                    .await;
            }
            let mut r = self.refuse(route, resource, &h, why);
            r.headers_mut().insert(name, value);
            return r;
        }
        parts.headers.insert(name, value);
        let mut out = bytes.to_vec();
        if let Some(b) = &route.bundle {
            let payer = settled.payer.clone().or(verdict.payer).unwrap_or_default();
            let recheck = kept.as_deref().filter(|_| pending);
            if let Some(token) = self.issue(b, &payer, &id, &settled, recheck).await {
                attach_receipt(b, &token, &mut parts, &mut out);
            }
        }
        expose(&mut parts.headers);
        crate::gate::not_for_shared_caches(&mut parts.headers);
        self.metrics.outcome(&route.name, Outcome::Paid);
        if let Some(pid) = &pay_id {
            let ttl = self.answer_ttl;
            answers::record(&self.leases.store, pid, &fingerprint, &parts, &out, ttl).await;
        }
        Response::from_parts(parts, Body::from(out))
    }

    /// Records a bundle bought by this payment and signs its token; the paying call counts as
    /// the first of its calls. The row id derives from the payment, so a retry cannot mint two.
    /// On a pending settlement (`recheck` holds its `/settle` body) the bundle is also recorded
    /// for the checker, which revokes it if the payment fails; untracked, it is not issued.
    pub(crate) async fn issue(
        &self,
        b: &Bundle,
        payer: &str,
        payment_id: &str,
        settled: &SettleResponse,
        recheck: Option<&[u8]>,
    ) -> Option<String> {
        let r = self.receipts.as_ref()?;
        let rid = hex::encode(&Sha256::digest(payment_id.as_bytes())[..16]);
        let exp = unix_now() + b.seconds;
        let row = NewReceipt {
            id: rid.clone(),
            payer: payer.to_string(),
            routes: b.covers.clone(),
            calls_left: b.calls.map(|n| n - 1),
            expires_at: exp,
            payment_tx: Some(settled.transaction.clone()).filter(|t| !t.is_empty()),
        };
        if let Err(e) = r.meter.create(&row).await {
            tracing::error!(error = %e, receipt = %rid, "paid bundle not recorded; served one call only");
            return None;
        }
        if let (Some(body), Some(p)) = (recheck, &self.pending)
            && let Err(e) = p.checker.record(&rid, body).await
        {
            tracing::error!(error = %e, receipt = %rid, "bundle on a pending settlement could not be tracked; served one call only");
            return None;
        }
        self.metrics.receipt_issued();
        Some(r.keys.sign(&Claims {
            rid,
            payer: payer.to_string(),
            routes: b.covers.clone(),
            exp,
        }))
    }
}

/// Hands a sold bundle's token to its buyer: in the receipt header and, where the route says
/// so, inside a JSON body.
pub(crate) fn attach_receipt(b: &Bundle, token: &str, parts: &mut Parts, out: &mut Vec<u8>) {
    if b.receipt_in_body
        && let Some(with) = with_body_receipt(out, token)
    {
        *out = with;
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    if let Ok(v) = HeaderValue::from_str(token) {
        parts.headers.insert(headers::RECEIPT, v);
    }
}
