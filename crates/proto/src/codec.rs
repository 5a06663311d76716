//! Header codec: strict RFC 4648 base64 (standard alphabet, padded) over UTF-8 JSON, size-capped.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest header value accepted; a Solana payment is ~2 KiB, an EVM one under 1 KiB.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Why a payment header could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("header is {0} bytes, over the {MAX_HEADER_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("header is not standard padded base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("header is not UTF-8")]
    Utf8,
    #[error("header is not the expected JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Encodes a value as a header: base64 of its compact JSON.
pub fn encode_header<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).expect("wire types always serialize");
    STANDARD.encode(json)
}

/// Decodes a header into a typed value, refusing oversize, non-canonical base64 and bad JSON
/// (duplicate keys included).
pub fn decode_header<T: DeserializeOwned>(header: &str) -> Result<T, CodecError> {
    let bytes = decode_header_bytes(header)?;
    std::str::from_utf8(&bytes).map_err(|_| CodecError::Utf8)?;
    Ok(crate::strict::from_slice_as(&bytes)?)
}

fn decode_header_bytes(header: &str) -> Result<Vec<u8>, CodecError> {
    if header.len() > MAX_HEADER_BYTES {
        return Err(CodecError::TooLarge(header.len()));
    }
    Ok(STANDARD.decode(header.trim())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn round_trip() {
        let v = json!({"x402Version": 2, "a": "b"});
        assert_eq!(decode_header::<Value>(&encode_header(&v)).unwrap(), v);
    }

    #[test]
    fn refuses_url_safe_unpadded_and_garbage() {
        // 14 bytes of JSON: base64 needs padding, and `??>` encodes with `+` and `/`.
        let v = json!({"k": "??>>?"});
        let std = encode_header(&v);
        let url_safe = std.replace('+', "-").replace('/', "_");
        assert_ne!(std, url_safe, "fixture must contain + or /");
        assert!(std.ends_with('='), "fixture must need padding");
        assert!(decode_header::<Value>(&url_safe).is_err());
        assert!(decode_header::<Value>(std.trim_end_matches('=')).is_err());
        assert!(decode_header::<Value>("not base64 at all!").is_err());
        assert!(matches!(
            decode_header::<Value>("bm90IGpzb24="),
            Err(CodecError::Json(_))
        ));
        assert!(matches!(
            decode_header::<Value>("/w=="),
            Err(CodecError::Utf8)
        ));
    }

    #[test]
    fn refuses_oversize() {
        let big = "A".repeat(MAX_HEADER_BYTES + 4);
        assert!(matches!(
            decode_header::<Value>(&big),
            Err(CodecError::TooLarge(_))
        ));
    }
}
