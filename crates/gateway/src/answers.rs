//! Answers to paid calls that carried a `payment-identifier`, recorded in the shared store so an
//! honest retry of the same payment (after a lost answer) gets the same answer again, without
//! the handler running twice and without a second charge.

use axum::body::Body;
use axum::http::response::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use tollgate_proto::clock::unix_now;
use tollgate_store::{GatewayStore, MAX_ANSWER_BYTES, RecordedAnswer};

use sha2::{Digest, Sha256};

use crate::payment::Decoded;

/// Refusal of a v2 payment without an id when the gateway requires one (400).
pub const ID_REQUIRED: &str =
    "payment_identifier_required: this server requires a payment-identifier id";
/// Refusal of a different payment under an id already used (409).
pub const ID_CONFLICT: &str = "payment_identifier_conflict";
/// Set on a replayed answer, so a client can tell it from a fresh one.
pub const REPLAYED: &str = "tollgate-replayed";

/// What a retry must repeat to get a recorded answer: the payment's identity and the hash of its
/// whole payload, signature included (the identity alone is public once the payment settles).
pub fn fingerprint(identity: &str, d: &Decoded) -> String {
    let raw = match d {
        Decoded::V1(_, raw) | Decoded::V2(_, raw) => raw,
    };
    let bytes = serde_json::to_vec(raw).expect("JSON values serialize");
    format!("{identity}#{}", hex::encode(Sha256::digest(bytes)))
}

/// Records the answer given to a payment (by its fingerprint) under `payment_id` for `ttl`
/// seconds.
/// An answer too large to keep is not recorded (a retry then sees `duplicate_settlement`).
pub async fn record(
    store: &GatewayStore,
    payment_id: &str,
    fingerprint: &str,
    parts: &Parts,
    body: &[u8],
    ttl: u64,
) {
    if body.len() > MAX_ANSWER_BYTES / 2 {
        tracing::warn!(
            bytes = body.len(),
            "paid answer too large to record for payment-identifier retries"
        );
        return;
    }
    let a = unsent(fingerprint, parts, body);
    let now = unix_now();
    if let Err(e) = store.record_answer(payment_id, &a, now, now + ttl).await {
        tracing::error!(error = %e, "paid answer not recorded for payment-identifier retries");
    }
}

/// An answer as the store keeps it, for the payment with `fingerprint`.
pub fn unsent(fingerprint: &str, parts: &Parts, body: &[u8]) -> RecordedAnswer {
    let headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    RecordedAnswer {
        fingerprint: fingerprint.to_string(),
        status: parts.status.as_u16(),
        headers,
        body: body.to_vec(),
    }
}

/// The recorded answer, sent again.
pub fn replay(a: RecordedAnswer) -> Response {
    let mut r = rebuild(a);
    r.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    r
}

/// A recorded answer as a response again.
pub fn rebuild(a: RecordedAnswer) -> Response {
    let mut r = Response::new(Body::from(a.body));
    *r.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
    let h = r.headers_mut();
    for (k, v) in a.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            h.append(k, v);
        }
    }
    r
}
