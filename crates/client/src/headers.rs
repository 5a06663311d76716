//! The x402 headers a paying client writes and reads: the payment header in the server's
//! version (with a payment-identifier when offered), settlement answers, challenge errors, and
//! a redirect policy that never carries them to another origin.

use reqwest::Response;
use tollgate_proto::codec::{decode_header, encode_header};
use tollgate_proto::headers;
use tollgate_proto::v1::PaymentPayloadV1;
use tollgate_proto::v2::{PaymentPayload, SettleResponse};

use crate::challenge::Offer;

/// The payment header (name, value) carrying `payload` for `offer`, in the server's version.
pub(crate) fn payment_header(
    offer: &Offer,
    payload: tollgate_proto::v2::Object,
) -> (&'static str, String) {
    match offer.version {
        1 => {
            let p = PaymentPayloadV1 {
                x402_version: 1,
                scheme: offer.requirements.scheme.clone(),
                network: offer.requirements.network.clone(),
                payload,
            };
            (headers::X_PAYMENT, encode_header(&p))
        }
        _ => {
            let p = PaymentPayload {
                x402_version: 2,
                resource: offer.resource.clone(),
                accepted: offer.requirements.clone(),
                payload,
                extensions: offer.extensions.clone().map(with_payment_id),
            };
            (headers::PAYMENT_SIGNATURE, encode_header(&p))
        }
    }
}

/// Follows redirects only within the origin first asked: a payment or receipt header must never
/// travel to another host (reqwest keeps custom headers across hosts).
pub(crate) fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|u| u.origin() == attempt.url().origin());
        if attempt.previous().len() > 10 {
            attempt.error("too many redirects")
        } else if same {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Echoes the server's extensions and, when it offers payment-identifier, adds this payment's
/// id (`pay_` + 32 hex). The id is minted once per signed payment, so every resend of it carries
/// the same id and a server can answer a retry from its cache instead of charging again.
fn with_payment_id(mut ext: tollgate_proto::v2::Object) -> tollgate_proto::v2::Object {
    if let Some(serde_json::Value::Object(entry)) =
        ext.get_mut(tollgate_proto::payment_id::PAYMENT_IDENTIFIER)
    {
        let id = format!(
            "pay_{}",
            alloy::hex::encode(&alloy::primitives::B256::random()[..16])
        );
        let info = entry.entry("info").or_insert_with(|| serde_json::json!({}));
        if let serde_json::Value::Object(info) = info {
            info.insert("id".into(), serde_json::Value::String(id));
        }
    }
    ext
}

/// The `error` of a v2 challenge header, e.g. `permit2_allowance_required` on a 412.
pub(crate) fn challenge_error(h: &reqwest::header::HeaderMap) -> Option<String> {
    let pr: tollgate_proto::v2::PaymentRequired =
        decode_header(h.get(headers::PAYMENT_REQUIRED)?.to_str().ok()?).ok()?;
    pr.error
}

pub(crate) fn settlement_of(resp: &Response) -> Option<SettleResponse> {
    let h = resp
        .headers()
        .get(headers::PAYMENT_RESPONSE)
        .or_else(|| resp.headers().get(headers::X_PAYMENT_RESPONSE))?;
    decode_header(h.to_str().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payment_identifier_is_added_only_when_offered_and_keeps_server_info() {
        let offered = json!({"payment-identifier": {"info": {"required": false}, "schema": {}}, "bazaar": {"info": {"x": 1}}});
        let out = with_payment_id(offered.as_object().unwrap().clone());
        let info = &out["payment-identifier"]["info"];
        let id = info["id"].as_str().unwrap();
        assert!(
            id.starts_with("pay_")
                && id.len() == 36
                && id[4..].bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        assert_eq!(
            info["required"],
            json!(false),
            "server info is echoed, not overwritten"
        );
        assert_eq!(out["bazaar"], offered["bazaar"]);
        let none = with_payment_id(json!({"bazaar": {}}).as_object().unwrap().clone());
        assert!(none.get("payment-identifier").is_none());
    }
}
