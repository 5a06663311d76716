//! A paid call, as a pipeline of steps that each either go on or answer: read the payment,
//! hold it, replay a recorded answer, verify, run the handler buffered, settle only below 400,
//! deliver the answer with its settlement (and, for bundles, a receipt).

use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::response::Parts;
use axum::response::Response;
use tollgate_proto::U256;
use tollgate_proto::clock::unix_now;
use tollgate_proto::reason;
use tollgate_proto::v2::{SettleResponse, VerifyResponse};

use crate::answers;
use crate::body::{Unread, buffer};
use crate::call::PaidCall;
use crate::gate::Gateway;
use crate::handler::Next;
use crate::headers;
use crate::leases::Hold;
use crate::metrics::Outcome;
use crate::payment::{self, Accepts, Carrier, PaymentError};
use crate::replies::{IN_FLIGHT, json_error, settle_header, store_down, unavailable};
use crate::routes::Route;

/// A step's outcome: go on with `T`, or give this answer now.
type Step<T> = Result<T, Response>;

/// What a payment header says, read before anything is held or asked.
struct Payment {
    body: Vec<u8>,
    identity: String,
    fingerprint: String,
    pay_id: Option<String>,
    accepted: usize,
}

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
        let headers = req.headers().clone();
        let p = match self.read_payment(route, &resource, &value) {
            Ok(p) => p,
            Err(PaymentError::NoMatch) => {
                let why = PaymentError::NoMatch.to_string();
                return self.refuse(route, resource, &headers, &why);
            }
            Err(e) => {
                let status = StatusCode::BAD_REQUEST;
                return self.challenge_with(route, resource, &headers, status, &e.to_string());
            }
        };
        let call = PaidCall {
            route,
            resource,
            carrier,
            headers,
            body: p.body,
            identity: p.identity,
            fingerprint: p.fingerprint,
            pay_id: p.pay_id,
            accepted: p.accepted,
        };
        let held = match self.hold(&call).await {
            Ok(held) => held,
            Err(answer) => return answer,
        };
        let answer = match self.pay(&call, req, next).await {
            Ok(answer) | Err(answer) => answer,
        };
        held.release().await;
        answer
    }

    /// Runs a held payment's call to its answer.
    async fn pay(&self, call: &PaidCall<'_>, req: Request, next: Next) -> Step<Response> {
        self.replay(call).await?;
        if let Some(kept) = self.take_kept(call).await? {
            return Ok(self.settle_kept(call, kept).await);
        }
        let verdict = self.verify(call).await?;
        let (mut parts, bytes) = self.run(call.route, req, next).await?;
        let charge = call.charge(&mut parts);
        let answer = (parts, bytes);
        let settled = self.settle(call, charge, &answer).await?;
        let pending = is_pending(&settled);
        // A bundle sold on a pending settlement is checked later with this very body.
        let recheck = Some(call.body.as_slice()).filter(|_| pending);
        let payer = settled.payer.clone().or(verdict.payer).unwrap_or_default();
        let (parts, bytes) = answer;
        let answer = (parts, bytes.to_vec());
        Ok(self.deliver(call, &settled, &payer, recheck, answer).await)
    }

    /// Reads the payment header: which offer it takes, its identity as the facilitator's ledger
    /// names it, and its `payment-identifier`.
    fn read_payment(
        &self,
        route: &Route,
        resource: &str,
        value: &str,
    ) -> Result<Payment, PaymentError> {
        let decoded = payment::decode(value)?;
        let accepts_v1 = route.accepts_v1(resource, &self.networks);
        let accepts = Accepts {
            v2: &route.accepts,
            v1: &accepts_v1,
        };
        let i = payment::match_accepted(&decoded, &accepts)?;
        let body = payment::facilitator_body(&decoded, &accepts, i);
        let identity = payment::identity(&body, &self.networks)?;
        let pay_id = payment::payment_id(&decoded)?.map(str::to_string);
        if pay_id.is_none() && self.require_payment_id {
            return Err(PaymentError::Malformed(answers::ID_REQUIRED.into()));
        }
        Ok(Payment {
            fingerprint: answers::fingerprint(&identity, &decoded),
            body,
            identity,
            pay_id,
            accepted: i,
        })
    }

    /// The payment's in-flight lease, so its copies run the handler once across instances.
    async fn hold(&self, call: &PaidCall<'_>) -> Step<Hold> {
        match self.leases.hold(&call.identity).await {
            Ok(Some(held)) => Ok(held),
            Ok(None) => Err(self.refuse_call(call, IN_FLIGHT)),
            Err(e) => Err(store_down(&e)),
        }
    }

    /// The answer recorded under the call's `payment-identifier`: given again to the same
    /// payment, refused (409) to a different one.
    async fn replay(&self, call: &PaidCall<'_>) -> Step<()> {
        let Some(pid) = &call.pay_id else {
            return Ok(());
        };
        match self.leases.store.answer(pid, unix_now()).await {
            Ok(Some(a)) if a.fingerprint == call.fingerprint => {
                self.metrics.outcome(&call.route.name, Outcome::Replayed);
                Err(answers::replay(a))
            }
            Ok(Some(_)) => {
                self.metrics.refused(&call.route.name, answers::ID_CONFLICT);
                Err(json_error(StatusCode::CONFLICT, answers::ID_CONFLICT))
            }
            Ok(None) => Ok(()),
            Err(e) => Err(store_down(&e)),
        }
    }

    /// The facilitator's verdict; an invalid payment is refused with its reason.
    async fn verify(&self, call: &PaidCall<'_>) -> Step<VerifyResponse> {
        let verdict = self
            .facilitator
            .verify(call.body.clone())
            .await
            .map_err(|e| unavailable(&e))?;
        if verdict.is_valid {
            return Ok(verdict);
        }
        let why = verdict
            .invalid_reason
            .as_deref()
            .unwrap_or(reason::INVALID_PAYLOAD);
        if why == reason::PERMIT2_ALLOWANCE_REQUIRED {
            // The payer must approve Permit2 once before any Permit2 payment can work.
            let status = StatusCode::PRECONDITION_FAILED;
            let (route, resource) = (call.route, call.resource.clone());
            return Err(self.challenge_with(route, resource, &call.headers, status, why));
        }
        Err(self.refuse_call(call, why))
    }

    /// Runs the handler and buffers its answer; an answer that is not a success goes back as
    /// it is, uncharged.
    async fn run(&self, route: &Route, req: Request, next: Next) -> Step<(Parts, bytes::Bytes)> {
        let resp = next(req).await;
        if self.refused_busy(route, &resp) {
            return Err(resp);
        }
        self.metrics.handler_ran(&route.name);
        let (mut parts, inner_body) = resp.into_parts();
        let bytes = match buffer(inner_body, self.max_body).await {
            Ok(bytes) => bytes,
            Err(Unread::TooLarge) => {
                return Err(json_error(
                    StatusCode::BAD_GATEWAY,
                    "upstream_response_too_large",
                ));
            }
            // Cut off partway (the upstream failed, or timed out after its headers came): the
            // call was not served, so nothing is charged.
            Err(Unread::Broken) => {
                return Err(json_error(
                    StatusCode::BAD_GATEWAY,
                    "upstream_response_incomplete",
                ));
            }
        };
        if parts.status.as_u16() >= 400 {
            // Uncharged: whatever charge it named is nobody's business.
            parts.headers.remove(headers::SETTLEMENT_OVERRIDES);
            return Err(Response::from_parts(parts, Body::from(bytes)));
        }
        Ok((parts, bytes))
    }

    /// Settles the payment of a call whose handler answered (for `charge`, on an upto route);
    /// goes on when it settled or is surely settling. When the outcome is unknown, the answer is
    /// kept for the payer's retry.
    async fn settle(
        &self,
        call: &PaidCall<'_>,
        charge: Option<U256>,
        (parts, bytes): &(Parts, bytes::Bytes),
    ) -> Step<SettleResponse> {
        let started = Instant::now();
        let settled = match self.facilitator.settle(call.settle_body(charge)).await {
            Ok(s) => s,
            Err(e) => {
                self.metrics.settled("error", started.elapsed());
                // Whether it settled is unknown: the payer's retry gets this answer (and, on a
                // bundle route, the bundle it paid for).
                let unsent = call.unsent(charge, parts, bytes);
                self.keep(&call.identity, unsent).await;
                return Err(unavailable(&e));
            }
        };
        let pending = is_pending(&settled);
        let outcome = match (settled.success, pending) {
            (true, _) => "success",
            (false, true) => "pending",
            (false, false) => "failed",
        };
        self.metrics.settled(outcome, started.elapsed());
        if settled.success || pending {
            return Ok(settled);
        }
        let why = settled
            .error_reason
            .as_deref()
            .unwrap_or(reason::UNEXPECTED_SETTLE_ERROR);
        if why == reason::UNEXPECTED_SETTLE_ERROR {
            // The facilitator stumbled partway through this very attempt: the payer's retry of
            // the payment gets this answer once it settles, without a second run.
            let unsent = call.unsent(charge, parts, bytes);
            self.keep(&call.identity, unsent).await;
        }
        let mut refused = self.refuse_call(call, why);
        let (name, value) = settle_header(call.carrier, &settled);
        refused.headers_mut().insert(name, value);
        Err(refused)
    }
}

/// Whether the facilitator answered that the settlement is sent and its result not yet known.
fn is_pending(settled: &SettleResponse) -> bool {
    settled.error_reason.as_deref() == Some(reason::SETTLEMENT_PENDING)
}
