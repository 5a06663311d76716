//! The strict readers every EVM payload shares: a payload's wire form, addresses, hex and
//! signatures, each refused with the field it concerns.

use alloy_primitives::Address;
use tollgate_proto::v2::Object;
use tollgate_proto::{Rejection, reason};

/// Longest signature accepted (ERC-1271/6492 wallets send more than 65 bytes, but not kilobytes).
pub const MAX_SIGNATURE_BYTES: usize = 4096;

/// A payload read strictly: the authorization and the payer's signature over it.
#[derive(Debug)]
pub struct Signed<A> {
    pub auth: A,
    pub signature: Vec<u8>,
}

/// Reads `payload` into its wire form `W`, which refuses unknown fields.
pub(crate) fn wire<W: serde::de::DeserializeOwned>(payload: &Object) -> Result<W, Rejection> {
    serde_json::from_value(serde_json::Value::Object(payload.clone()))
        .map_err(|e| bad_payload(e.to_string()))
}

/// The payer's signature: 0x-prefixed hex of at most [`MAX_SIGNATURE_BYTES`].
pub(crate) fn signature(s: &str) -> Result<Vec<u8>, Rejection> {
    parse_hex(s, "signature", MAX_SIGNATURE_BYTES).map_err(bad_payload)
}

/// An `invalid_payload` refusal naming the field.
pub fn bad_payload(msg: impl Into<String>) -> Rejection {
    Rejection::new(reason::INVALID_PAYLOAD).with_message(msg)
}

/// Parses an address of the requirements (`asset`, `payTo`).
pub fn requirement_address(s: &str, what: &str) -> Result<Address, Rejection> {
    parse_address(s, what)
        .map_err(|m| Rejection::new(reason::INVALID_PAYMENT_REQUIREMENTS).with_message(m))
}

/// Parses a 0x-prefixed 20-byte address.
pub fn parse_address(s: &str, what: &str) -> Result<Address, String> {
    if s.len() != 42 || !s.starts_with("0x") {
        return Err(format!("{what}: not a 0x-prefixed 20-byte address"));
    }
    s.parse().map_err(|_| format!("{what}: not a hex address"))
}

/// Parses 0x-prefixed hex of at most `max` bytes.
pub fn parse_hex(s: &str, what: &str, max: usize) -> Result<Vec<u8>, String> {
    let digits = s
        .strip_prefix("0x")
        .ok_or_else(|| format!("{what}: missing 0x prefix"))?;
    if digits.len() > max * 2 {
        return Err(format!("{what}: longer than {max} bytes"));
    }
    alloy_primitives::hex::decode(digits).map_err(|_| format!("{what}: not hex"))
}

/// A JSON object from a `json!` literal known to be one.
pub fn object(v: serde_json::Value) -> Object {
    match v {
        serde_json::Value::Object(o) => o,
        _ => unreachable!("json! object"),
    }
}
