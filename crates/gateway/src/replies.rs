//! Answers a paid call gives when it cannot go through (the store or the facilitator down), and
//! the header that lets browsers read a paid answer's payment headers: shared by first tries
//! and retries of unsettled payments alike.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::facilitator::FacilitatorError;
use crate::gate::json_error;

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
