//! A payment header: decoded strictly, matched to the route's current requirements, turned into
//! the facilitator's request body, and named by the identity the facilitator's ledger uses.

use serde_json::{Value, json};
use tollgate_proto::codec::decode_header;
use tollgate_proto::v1::{PaymentPayloadV1, PaymentRequirementsV1};
use tollgate_proto::v2::{PaymentPayload, PaymentRequirements};
use tollgate_proto::{FacilitatorRequest, Networks};

/// Which request header carried the payment; the answer uses the matching response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// `PAYMENT-SIGNATURE` → `PAYMENT-RESPONSE`.
    PaymentSignature,
    /// `X-PAYMENT` → `X-PAYMENT-RESPONSE`.
    XPayment,
}

/// A decoded payment in its protocol version, with the raw JSON kept for the facilitator.
#[derive(Debug, Clone)]
pub enum Decoded {
    V1(PaymentPayloadV1, Value),
    V2(Box<PaymentPayload>, Value),
}

/// Why a payment header was refused before verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("invalid_payload: {0}")]
    Malformed(String),
    #[error("invalid_x402_version: x402Version {0} is not 1 or 2")]
    Version(String),
    #[error("No matching payment requirements")]
    NoMatch,
}

/// Decodes a header value (size-capped strict base64 JSON) into a v1 or v2 payload.
pub fn decode(header: &str) -> Result<Decoded, PaymentError> {
    let raw: Value = decode_header(header).map_err(|e| PaymentError::Malformed(e.to_string()))?;
    let malformed = |e: serde_json::Error| PaymentError::Malformed(e.to_string());
    match raw.get("x402Version").and_then(Value::as_u64) {
        Some(1) => Ok(Decoded::V1(
            serde_json::from_value(raw.clone()).map_err(malformed)?,
            raw,
        )),
        Some(2) => Ok(Decoded::V2(
            Box::new(serde_json::from_value(raw.clone()).map_err(malformed)?),
            raw,
        )),
        _ => Err(PaymentError::Version(
            raw.get("x402Version")
                .map(Value::to_string)
                .unwrap_or_else(|| "missing".into()),
        )),
    }
}

/// The route's `accepts`: its requirements in both versions, index-aligned.
pub struct Accepts<'a> {
    pub v2: &'a [PaymentRequirements],
    pub v1: &'a [PaymentRequirementsV1],
}

/// Finds the requirement a payment answers: v2 by deep equality of `accepted`, v1 by scheme and
/// network (narrowed by the payload's token when two assets share a network).
pub fn match_accepted(d: &Decoded, accepts: &Accepts<'_>) -> Result<usize, PaymentError> {
    match d {
        Decoded::V2(p, _) => accepts
            .v2
            .iter()
            .position(|r| *r == p.accepted)
            .ok_or(PaymentError::NoMatch),
        Decoded::V1(p, _) => {
            let candidates: Vec<usize> = (0..accepts.v1.len())
                .filter(|&i| accepts.v1[i].scheme == p.scheme && accepts.v1[i].network == p.network)
                .collect();
            let token = permit2_token(&p.payload);
            let pick = candidates.iter().copied().find(|&i| {
                let r = &accepts.v1[i];
                match &token {
                    Some(t) => r.asset.eq_ignore_ascii_case(t),
                    None => !is_permit2(r.extra.as_ref()),
                }
            });
            pick.or(candidates.first().copied())
                .ok_or(PaymentError::NoMatch)
        }
    }
}

fn is_permit2(extra: Option<&serde_json::Map<String, Value>>) -> bool {
    extra
        .and_then(|e| e.get("assetTransferMethod"))
        .and_then(Value::as_str)
        == Some("permit2")
}

fn permit2_token(payload: &serde_json::Map<String, Value>) -> Option<String> {
    payload
        .get("permit2Authorization")?
        .get("permitted")?
        .get("token")?
        .as_str()
        .map(str::to_string)
}

/// The payment's identity, computed by the scheme code the facilitator's ledger uses from the
/// very body the facilitator will be sent: copies and respellings of one payment share it.
pub fn identity(body: &[u8], networks: &Networks) -> Result<String, PaymentError> {
    let malformed = |e: String| PaymentError::Malformed(e);
    let req = FacilitatorRequest::parse(body).map_err(|e| malformed(e.to_string()))?;
    let view = req.view(networks).map_err(|e| malformed(e.to_string()))?;
    tollgate_payload::payment_identity(&view).map_err(|r| {
        let why = r.message.map(|m| format!("{}: {m}", r.reason));
        malformed(why.unwrap_or_else(|| r.reason.to_string()))
    })
}

/// The payment-identifier a v2 payment carries (v1 has no extensions).
pub fn payment_id(d: &Decoded) -> Result<Option<&str>, PaymentError> {
    match d {
        Decoded::V1(..) => Ok(None),
        Decoded::V2(p, _) => tollgate_proto::payment_id::id_of(p.extensions.as_ref())
            .map_err(PaymentError::Malformed),
    }
}

/// The `/verify` and `/settle` body for this payment and the matched requirement.
pub fn facilitator_body(d: &Decoded, accepts: &Accepts<'_>, i: usize) -> Vec<u8> {
    let body = match d {
        Decoded::V1(_, raw) => json!({"x402Version": 1, "paymentPayload": raw,
            "paymentRequirements": accepts.v1[i]}),
        Decoded::V2(_, raw) => json!({"x402Version": 2, "paymentPayload": raw,
            "paymentRequirements": accepts.v2[i]}),
    };
    serde_json::to_vec(&body).expect("JSON values serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_proto::codec::encode_header;

    fn req(asset: &str, extra: Value) -> PaymentRequirements {
        serde_json::from_value(
            json!({"scheme": "exact", "network": "eip155:8453", "amount": "17000",
            "asset": asset, "payTo": "0xpay", "maxTimeoutSeconds": 60, "extra": extra}),
        )
        .unwrap()
    }

    fn v1(r: &PaymentRequirements) -> PaymentRequirementsV1 {
        serde_json::from_value(
            json!({"scheme": r.scheme, "network": "base", "maxAmountRequired": r.amount,
            "resource": "http://x/", "payTo": r.pay_to, "maxTimeoutSeconds": 60, "asset": r.asset,
            "extra": r.extra}),
        )
        .unwrap()
    }

    #[test]
    fn v2_matches_only_deep_equal_requirements() {
        let usdc = req("0xusdc", json!({"name": "USD Coin", "version": "2"}));
        let tmai = req("0xtmai", json!({"assetTransferMethod": "permit2"}));
        let v2 = [usdc.clone(), tmai.clone()];
        let v1s = [v1(&usdc), v1(&tmai)];
        let accepts = Accepts { v2: &v2, v1: &v1s };
        let mut accepted = serde_json::to_value(&tmai).unwrap();
        let header = |a: &Value| {
            encode_header(&json!({"x402Version": 2, "accepted": a, "payload": {"x": 1}}))
        };
        assert_eq!(
            match_accepted(&decode(&header(&accepted)).unwrap(), &accepts),
            Ok(1)
        );
        accepted["amount"] = json!("16999");
        assert_eq!(
            match_accepted(&decode(&header(&accepted)).unwrap(), &accepts),
            Err(PaymentError::NoMatch)
        );
    }

    #[test]
    fn v1_matches_by_scheme_network_and_token() {
        let usdc = req("0xusdc", json!({"name": "USD Coin", "version": "2"}));
        let tmai = req("0xTMAI", json!({"assetTransferMethod": "permit2"}));
        let v2 = [tmai.clone(), usdc.clone()];
        let v1s = [v1(&tmai), v1(&usdc)];
        let accepts = Accepts { v2: &v2, v1: &v1s };
        let eip3009 = json!({"x402Version": 1, "scheme": "exact", "network": "base",
            "payload": {"authorization": {"from": "0xA", "nonce": "0x1"}}});
        let d = decode(&encode_header(&eip3009)).unwrap();
        assert_eq!(match_accepted(&d, &accepts), Ok(1));
        let permit2 = json!({"x402Version": 1, "scheme": "exact", "network": "base",
            "payload": {"permit2Authorization": {"from": "0xA", "nonce": "7", "permitted": {"token": "0xtmai"}}}});
        assert_eq!(
            match_accepted(&decode(&encode_header(&permit2)).unwrap(), &accepts),
            Ok(0)
        );
        let other =
            json!({"x402Version": 1, "scheme": "exact", "network": "solana", "payload": {}});
        assert_eq!(
            match_accepted(&decode(&encode_header(&other)).unwrap(), &accepts),
            Err(PaymentError::NoMatch)
        );
    }

    #[test]
    fn refuses_bad_headers_with_reasons() {
        assert!(matches!(decode("%%%"), Err(PaymentError::Malformed(_))));
        let v3 = encode_header(&json!({"x402Version": 3}));
        assert!(matches!(decode(&v3), Err(PaymentError::Version(_))));
        let no_accepted = encode_header(&json!({"x402Version": 2, "payload": {}}));
        assert!(matches!(
            decode(&no_accepted),
            Err(PaymentError::Malformed(_))
        ));
    }
}
