//! Answers a paid call gives when it cannot go through (the store or the facilitator down), and
//! the header that lets browsers read a paid answer's payment headers: shared by first tries
//! and retries of unsettled payments alike.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::gate::json_error;

/// 503: the gateway's store failed, so nothing about the payment can be recorded.
pub(crate) fn store_down(e: &tollgate_store::StoreError) -> Response {
    tracing::error!(error = %e, "gateway store failed");
    json_error(StatusCode::SERVICE_UNAVAILABLE, "gateway_store_unavailable")
}

/// 502: the facilitator failed to answer.
pub(crate) fn unavailable(e: &str) -> Response {
    tracing::error!(error = %e, "facilitator unavailable");
    json_error(StatusCode::BAD_GATEWAY, "facilitator_unavailable")
}

/// Lets browser clients read the payment headers.
pub(crate) fn expose(h: &mut HeaderMap) {
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("PAYMENT-RESPONSE, X-PAYMENT-RESPONSE, TOLLGATE-RECEIPT"),
    );
}
