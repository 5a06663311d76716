//! Reads a 402 answer: the v2 `PAYMENT-REQUIRED` header when present, else the v1 JSON body.

use reqwest::header::HeaderMap;
use tollgate_proto::codec::{CodecError, decode_header};
use tollgate_proto::v1::PaymentRequiredV1;
use tollgate_proto::v2::{Object, PaymentRequired, PaymentRequirements, ResourceInfo};
use tollgate_proto::{Network, Networks, RequirementsView, U256, parse_atomic};

/// Largest 402 body read for a v1 challenge.
pub const MAX_CHALLENGE_BODY: usize = 64 * 1024;

/// One way the server will accept payment, normalised to v2 terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// Protocol version the server spoke.
    pub version: u8,
    /// The requirement as the server sent it (v1 converted: CAIP-2 network, `amount`).
    pub requirements: PaymentRequirements,
    pub network: Network,
    pub amount: U256,
    pub resource: Option<ResourceInfo>,
    /// Server extensions the client must echo (v2).
    pub extensions: Option<Object>,
}

impl Offer {
    /// The requirement in the terms a chain crate signs against: network and amount parsed.
    pub fn view(&self) -> RequirementsView<'_> {
        let r = &self.requirements;
        RequirementsView {
            scheme: &r.scheme,
            network: self.network.clone(),
            amount: self.amount,
            asset: &r.asset,
            pay_to: &r.pay_to,
            max_timeout_seconds: r.max_timeout_seconds,
            extra: r.extra.as_ref(),
        }
    }
}

/// Why a 402 could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChallengeError {
    #[error("PAYMENT-REQUIRED header: {0}")]
    Header(#[from] CodecError),
    #[error("402 body is not a v1 challenge: {0}")]
    Body(String),
    #[error("402 body over {MAX_CHALLENGE_BODY} bytes")]
    TooLarge,
    #[error("challenge offers nothing this client understands")]
    Empty,
}

/// A parsed 402: what the server will accept, and why it asked (e.g. a refused receipt).
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    pub offers: Vec<Offer>,
    pub error: Option<String>,
}

/// Parses a 402 response into offers; unknown networks and malformed amounts are skipped.
pub fn read_challenge(
    headers: &HeaderMap,
    body: &[u8],
    networks: &Networks,
) -> Result<Challenge, ChallengeError> {
    let error;
    let offers = if let Some(h) = headers.get(tollgate_proto::headers::PAYMENT_REQUIRED) {
        let text = h
            .to_str()
            .map_err(|_| ChallengeError::Body("header is not ASCII".into()))?;
        let pr: PaymentRequired = decode_header(text)?;
        error = pr.error.clone();
        pr.accepts
            .into_iter()
            .filter_map(|r| {
                let network = Network::from_caip2(&r.network)?;
                let amount = parse_atomic(&r.amount).ok()?;
                Some(Offer {
                    version: 2,
                    network,
                    amount,
                    requirements: r,
                    resource: Some(pr.resource.clone()),
                    extensions: pr.extensions.clone(),
                })
            })
            .collect()
    } else {
        if body.len() > MAX_CHALLENGE_BODY {
            return Err(ChallengeError::TooLarge);
        }
        let pr: PaymentRequiredV1 =
            serde_json::from_slice(body).map_err(|e| ChallengeError::Body(e.to_string()))?;
        error = Some(pr.error.clone());
        pr.accepts
            .into_iter()
            .filter_map(|r| {
                let network = networks.resolve_v1(&r.network)?;
                let amount = parse_atomic(&r.max_amount_required).ok()?;
                let resource = ResourceInfo {
                    url: r.resource.clone(),
                    description: Some(r.description.clone()),
                    mime_type: Some(r.mime_type.clone()),
                };
                let requirements = PaymentRequirements {
                    scheme: r.scheme,
                    network: r.network,
                    amount: r.max_amount_required,
                    asset: r.asset,
                    pay_to: r.pay_to,
                    max_timeout_seconds: r.max_timeout_seconds,
                    extra: r.extra,
                };
                Some(Offer {
                    version: 1,
                    network,
                    amount,
                    requirements,
                    resource: Some(resource),
                    extensions: None,
                })
            })
            .collect()
    };
    let offers: Vec<Offer> = offers;
    if offers.is_empty() {
        return Err(ChallengeError::Empty);
    }
    Ok(Challenge { offers, error })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tollgate_proto::codec::encode_header;

    #[test]
    fn v2_header_wins_over_v1_body() {
        let pr = json!({"x402Version": 2, "resource": {"url": "http://x/data"}, "accepts": [
            {"scheme": "exact", "network": "eip155:8453", "amount": "17000", "asset": "0xa", "payTo": "0xb", "maxTimeoutSeconds": 60},
            {"scheme": "exact", "network": "eip155:8453", "amount": "-1", "asset": "0xa", "payTo": "0xb", "maxTimeoutSeconds": 60}]});
        let mut h = HeaderMap::new();
        h.insert("payment-required", encode_header(&pr).parse().unwrap());
        let offers = read_challenge(&h, b"{}", &Networks::default())
            .unwrap()
            .offers;
        assert_eq!(offers.len(), 1, "malformed amounts are skipped");
        assert_eq!(offers[0].amount, U256::from(17_000u64));
        assert_eq!(offers[0].version, 2);
    }

    #[test]
    fn v1_body_maps_names_to_caip2() {
        let body = json!({"x402Version": 1, "error": "X-PAYMENT header is required", "accepts": [
            {"scheme": "exact", "network": "base", "maxAmountRequired": "68000", "resource": "http://x", "description": "",
             "mimeType": "application/json", "payTo": "0xb", "maxTimeoutSeconds": 60, "asset": "0xa"}]});
        let c = read_challenge(
            &HeaderMap::new(),
            body.to_string().as_bytes(),
            &Networks::default(),
        )
        .unwrap();
        assert_eq!(c.error.as_deref(), Some("X-PAYMENT header is required"));
        let offers = c.offers;
        assert_eq!(offers[0].network.caip2(), "eip155:8453");
        assert_eq!(offers[0].version, 1);
        assert!(read_challenge(&HeaderMap::new(), b"{\"nope\":1}", &Networks::default()).is_err());
    }
}
