//! `/verify` and `/settle` request bodies, and one version-neutral view of them for schemes.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::amount::parse_atomic;
use crate::network::{Network, Networks};
use crate::reason;
use crate::v1::{PaymentPayloadV1, PaymentRequirementsV1};
use crate::v2::{Object, PaymentPayload, PaymentRequirements};
use alloy_primitives::U256;

/// Largest `/verify` or `/settle` body accepted.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// A request refused before any scheme saw it, with its x402 reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct RequestError {
    /// x402 reason string (`invalid_payload`, `invalid_payment_requirements`, ...).
    pub reason: &'static str,
    /// Human detail naming the field or rule.
    pub message: String,
}

impl RequestError {
    fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// A parsed `/verify` or `/settle` body in its own protocol version.
#[derive(Debug, Clone, PartialEq)]
pub enum FacilitatorRequest {
    V1 {
        payload: PaymentPayloadV1,
        requirements: PaymentRequirementsV1,
    },
    V2 {
        payload: PaymentPayload,
        requirements: PaymentRequirements,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    x402_version: Option<Value>,
    payment_payload: Option<Value>,
    payment_requirements: Option<Value>,
}

fn typed<T: DeserializeOwned>(
    v: Value,
    reason: &'static str,
    what: &str,
) -> Result<T, RequestError> {
    serde_json::from_value(v).map_err(|e| RequestError::new(reason, format!("{what}: {e}")))
}

/// The payload and requirements of one protocol version, each refused with its own reason.
fn typed_parts<P: DeserializeOwned, R: DeserializeOwned>(
    payload: Value,
    requirements: Value,
) -> Result<(P, R), RequestError> {
    Ok((
        typed(payload, reason::INVALID_PAYLOAD, "paymentPayload")?,
        typed(
            requirements,
            reason::INVALID_PAYMENT_REQUIREMENTS,
            "paymentRequirements",
        )?,
    ))
}

impl FacilitatorRequest {
    /// Parses a request body strictly: size-capped JSON, known version, every required field.
    pub fn parse(body: &[u8]) -> Result<Self, RequestError> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(RequestError::new(
                reason::INVALID_PAYLOAD,
                "request body too large",
            ));
        }
        let env: Envelope = crate::strict::from_slice_as(body).map_err(|e| {
            RequestError::new(
                reason::INVALID_PAYLOAD,
                format!("body is not a JSON request: {e}"),
            )
        })?;
        let payload = env
            .payment_payload
            .ok_or_else(|| RequestError::new(reason::INVALID_PAYLOAD, "missing paymentPayload"))?;
        let requirements = env.payment_requirements.ok_or_else(|| {
            RequestError::new(
                reason::INVALID_PAYMENT_REQUIREMENTS,
                "missing paymentRequirements",
            )
        })?;
        let version = payload.get("x402Version").and_then(Value::as_u64);
        if let (Some(top), Some(inner)) =
            (env.x402_version.as_ref().and_then(Value::as_u64), version)
            && top != inner
        {
            return Err(RequestError::new(
                reason::INVALID_X402_VERSION,
                "x402Version differs from paymentPayload's",
            ));
        }
        match version {
            Some(1) => {
                let (payload, requirements) = typed_parts(payload, requirements)?;
                Ok(Self::V1 {
                    payload,
                    requirements,
                })
            }
            Some(2) => {
                let (payload, requirements) = typed_parts(payload, requirements)?;
                Ok(Self::V2 {
                    payload,
                    requirements,
                })
            }
            Some(v) => Err(RequestError::new(
                reason::INVALID_X402_VERSION,
                format!("x402Version {v} is not 1 or 2"),
            )),
            None => Err(RequestError::new(
                reason::INVALID_X402_VERSION,
                "paymentPayload.x402Version missing",
            )),
        }
    }

    /// The protocol version of this request.
    pub fn version(&self) -> u8 {
        match self {
            Self::V1 { .. } => 1,
            Self::V2 { .. } => 2,
        }
    }

    /// A version-neutral view with networks resolved and the amount parsed.
    pub fn view<'a>(&'a self, networks: &Networks) -> Result<PaymentView<'a>, RequestError> {
        let resolve_req = |n: &str, v1: bool| {
            let net = if v1 {
                networks.resolve_v1(n)
            } else {
                Network::from_caip2(n)
            };
            net.ok_or_else(|| {
                RequestError::new(reason::INVALID_NETWORK, format!("unknown network {n:?}"))
            })
        };
        let amount = |s: &str| {
            parse_atomic(s).map_err(|e| {
                RequestError::new(reason::INVALID_PAYMENT_REQUIREMENTS, format!("amount: {e}"))
            })
        };
        // v1 and v2 requirements name every field alike but the amount.
        macro_rules! terms {
            ($r:expr, $network:expr, $amount:expr) => {
                RequirementsView {
                    scheme: &$r.scheme,
                    network: $network,
                    amount: $amount,
                    asset: &$r.asset,
                    pay_to: &$r.pay_to,
                    max_timeout_seconds: $r.max_timeout_seconds,
                    extra: $r.extra.as_ref(),
                }
            };
        }
        let (head, requirements) = match self {
            Self::V1 {
                payload: p,
                requirements: r,
            } => (
                (
                    1,
                    &p.scheme,
                    networks.resolve_v1(&p.network),
                    &p.payload,
                    None,
                ),
                terms!(
                    r,
                    resolve_req(&r.network, true)?,
                    amount(&r.max_amount_required)?
                ),
            ),
            Self::V2 {
                payload: p,
                requirements: r,
            } => (
                (
                    2,
                    &p.accepted.scheme,
                    Network::from_caip2(&p.accepted.network),
                    &p.payload,
                    p.extensions.as_ref(),
                ),
                terms!(r, resolve_req(&r.network, false)?, amount(&r.amount)?),
            ),
        };
        let (version, scheme, network, payload, extensions) = head;
        Ok(PaymentView {
            version,
            scheme,
            network,
            payload,
            extensions,
            requirements,
        })
    }
}

/// The requirements a payment is checked against, independent of protocol version.
#[derive(Debug, Clone)]
pub struct RequirementsView<'a> {
    pub scheme: &'a str,
    pub network: Network,
    pub amount: U256,
    pub asset: &'a str,
    pub pay_to: &'a str,
    pub max_timeout_seconds: u64,
    pub extra: Option<&'a Object>,
}

impl RequirementsView<'_> {
    /// A string field of `extra`, if present.
    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.extra.and_then(|e| e.get(key)).and_then(Value::as_str)
    }
}

/// A payment as a scheme sees it: what the payer claims, and what the server requires.
#[derive(Debug, Clone)]
pub struct PaymentView<'a> {
    pub version: u8,
    /// The scheme the payer says it used.
    pub scheme: &'a str,
    /// The network the payer says it signed for (`None` if unknown to us).
    pub network: Option<Network>,
    /// The scheme-specific payload object.
    pub payload: &'a Object,
    /// The payload's `extensions` (v2 only), e.g. `eip2612GasSponsoring` that changes settlement.
    pub extensions: Option<&'a Object>,
    pub requirements: RequirementsView<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v2_body() -> Value {
        let req = json!({"scheme":"exact","network":"eip155:84532","amount":"10000",
            "asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
            "maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2"}});
        json!({"x402Version":2,"paymentPayload":{"x402Version":2,"accepted":req,"payload":{"signature":"0x"},
            "unknownField":1},"paymentRequirements":req})
    }

    #[test]
    fn parses_v2_and_tolerates_unknown_fields() {
        let body = serde_json::to_vec(&v2_body()).unwrap();
        let req = FacilitatorRequest::parse(&body).unwrap();
        let view = req.view(&Networks::default()).unwrap();
        assert_eq!(view.version, 2);
        assert_eq!(view.requirements.amount, U256::from(10_000u64));
        assert_eq!(view.requirements.network.chain_id(), Some(84532));
        assert_eq!(view.requirements.extra_str("name"), Some("USDC"));
    }

    #[test]
    fn each_missing_field_names_its_reason() {
        for (path, field, want) in [
            (
                "paymentRequirements",
                "amount",
                reason::INVALID_PAYMENT_REQUIREMENTS,
            ),
            (
                "paymentRequirements",
                "payTo",
                reason::INVALID_PAYMENT_REQUIREMENTS,
            ),
            (
                "paymentRequirements",
                "asset",
                reason::INVALID_PAYMENT_REQUIREMENTS,
            ),
            ("paymentPayload", "accepted", reason::INVALID_PAYLOAD),
            ("paymentPayload", "payload", reason::INVALID_PAYLOAD),
            (
                "paymentPayload",
                "x402Version",
                reason::INVALID_X402_VERSION,
            ),
        ] {
            let mut body = v2_body();
            body[path].as_object_mut().unwrap().remove(field);
            let err = FacilitatorRequest::parse(&serde_json::to_vec(&body).unwrap()).unwrap_err();
            assert_eq!(err.reason, want, "{path}.{field}");
        }
    }

    #[test]
    fn refuses_bad_amounts_and_networks() {
        for amount in [
            "-1",
            "1.5",
            "1e6",
            "115792089237316195423570985008687907853269984665640564039457584007913129639936",
        ] {
            let mut body = v2_body();
            body["paymentRequirements"]["amount"] = json!(amount);
            let req = FacilitatorRequest::parse(&serde_json::to_vec(&body).unwrap()).unwrap();
            assert_eq!(
                req.view(&Networks::default()).unwrap_err().reason,
                reason::INVALID_PAYMENT_REQUIREMENTS
            );
        }
        let mut body = v2_body();
        body["paymentRequirements"]["network"] = json!("base");
        let req = FacilitatorRequest::parse(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(
            req.view(&Networks::default()).unwrap_err().reason,
            reason::INVALID_NETWORK
        );
    }

    #[test]
    fn refuses_garbage_and_unknown_versions() {
        assert_eq!(
            FacilitatorRequest::parse(b"{not json").unwrap_err().reason,
            reason::INVALID_PAYLOAD
        );
        let mut body = v2_body();
        body["paymentPayload"]["x402Version"] = json!(3);
        body["x402Version"] = json!(3);
        let err = FacilitatorRequest::parse(&serde_json::to_vec(&body).unwrap()).unwrap_err();
        assert_eq!(err.reason, reason::INVALID_X402_VERSION);
    }
}
