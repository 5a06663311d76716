//! The gateway's own answers and the headers it puts on others': JSON errors, answers a paid
//! call gives when it cannot go through (the store or the facilitator down), the settlement
//! header, and the headers that keep a paid answer private and readable by browsers.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;
use tollgate_proto::v2::SettleResponse;

use crate::facilitator::FacilitatorError;
use crate::headers;
use crate::payment::Carrier;

/// Refusal of a payment another attempt is processing right now; the payer may retry.
pub(crate) const IN_FLIGHT: &str = "payment_in_flight: this payment is already being processed";

/// 503: the gateway's store failed, so nothing about the payment can be recorded.
pub(crate) fn store_down(e: &tollgate_store::StoreError) -> Response {
    tracing::error!(error = %e, "gateway store failed");
    json_error(StatusCode::SERVICE_UNAVAILABLE, "gateway_store_unavailable")
}

/// 504 when the facilitator did not answer in time (a settle may still land: the payer's retry
/// finds out), 502 for every other failure to get a verdict.
pub(crate) fn unavailable(e: &FacilitatorError) -> Response {
    tracing::error!(error = %e, "facilitator unavailable");
    match e {
        FacilitatorError::Timeout => json_error(StatusCode::GATEWAY_TIMEOUT, "facilitator_timeout"),
        _ => json_error(StatusCode::BAD_GATEWAY, "facilitator_unavailable"),
    }
}

/// Lets browser clients read the payment headers.
pub(crate) fn expose(h: &mut HeaderMap) {
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("PAYMENT-RESPONSE, X-PAYMENT-RESPONSE, TOLLGATE-RECEIPT"),
    );
}

/// A paid or receipt-served answer is for its payer alone: no shared cache may keep it.
pub(crate) fn not_for_shared_caches(h: &mut HeaderMap) {
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
}

/// A small JSON error `{error}` with a status.
pub(crate) fn json_error(status: StatusCode, reason: &str) -> Response {
    let mut r = Response::new(Body::from(json!({ "error": reason }).to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The response header that carries a settlement for this carrier.
pub(crate) fn settle_header(carrier: Carrier, s: &SettleResponse) -> (&'static str, HeaderValue) {
    let name = match carrier {
        Carrier::PaymentSignature => headers::PAYMENT_RESPONSE,
        Carrier::XPayment => headers::X_PAYMENT_RESPONSE,
    };
    let v = tollgate_proto::codec::encode_header(s);
    (
        name,
        HeaderValue::from_str(&v).expect("base64 is a valid header value"),
    )
}
