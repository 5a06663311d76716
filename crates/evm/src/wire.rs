//! What payer and facilitator read off an `exact` EVM requirement or payload the same way: the
//! transfer method asked for, addresses, hex, signatures and the validity buffer. It depends on
//! no other module of this crate, so every transfer method can share it.

use alloy::primitives::{Address, B256, Signature, U256};
use tollgate_proto::v2::Object;
use tollgate_proto::{Rejection, RequirementsView, reason};

pub(crate) use tollgate_proto::clock::unix_now;

/// Seconds a validBefore / deadline must lie ahead so the transfer can still be mined.
pub const VALID_BEFORE_BUFFER_SECS: u64 = 6;

/// Longest signature accepted (ERC-1271/6492 wallets send more than 65 bytes, but not kilobytes).
pub(crate) const MAX_SIGNATURE_BYTES: usize = 4096;

/// Half the secp256k1 order: signatures with a higher `s` are malleable and tokens refuse them.
const SECP256K1N_HALF: U256 = U256::from_limbs([
    0xDFE92F46681B20A0,
    0x5D576E7357A4501D,
    0xFFFFFFFFFFFFFFFF,
    0x7FFFFFFFFFFFFFFF,
]);

/// The way an `exact` EVM payment moves the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferMethod {
    Eip3009,
    Permit2,
}

impl TransferMethod {
    /// The method a requirement asks for (`extra.assetTransferMethod`, EIP-3009 when absent);
    /// `Err` carries a method this crate does not know.
    pub(crate) fn asked<'a>(req: &'a RequirementsView<'_>) -> Result<Self, &'a str> {
        match req.extra_str("assetTransferMethod") {
            None | Some("eip3009") => Ok(Self::Eip3009),
            Some("permit2") => Ok(Self::Permit2),
            Some(other) => Err(other),
        }
    }
}

/// An `invalid_payload` refusal naming the field.
pub(crate) fn bad_payload(msg: impl Into<String>) -> Rejection {
    Rejection::new(reason::INVALID_PAYLOAD).with_message(msg)
}

/// Parses an address of the requirements (`asset`, `payTo`).
pub(crate) fn requirement_address(s: &str, what: &str) -> Result<Address, Rejection> {
    parse_address(s, what)
        .map_err(|m| Rejection::new(reason::INVALID_PAYMENT_REQUIREMENTS).with_message(m))
}

/// Parses a 0x-prefixed 20-byte address.
pub(crate) fn parse_address(s: &str, what: &str) -> Result<Address, String> {
    if s.len() != 42 || !s.starts_with("0x") {
        return Err(format!("{what}: not a 0x-prefixed 20-byte address"));
    }
    s.parse().map_err(|_| format!("{what}: not a hex address"))
}

/// Parses 0x-prefixed hex of at most `max` bytes.
pub(crate) fn parse_hex(s: &str, what: &str, max: usize) -> Result<Vec<u8>, String> {
    let digits = s
        .strip_prefix("0x")
        .ok_or_else(|| format!("{what}: missing 0x prefix"))?;
    if digits.len() > max * 2 {
        return Err(format!("{what}: longer than {max} bytes"));
    }
    alloy::hex::decode(digits).map_err(|_| format!("{what}: not hex"))
}

/// Checks a 65-byte signature locally; `true` when it recovers to `from` with a low `s`.
pub(crate) fn ecdsa_matches(sig: &[u8], hash: &B256, from: Address) -> bool {
    let Ok(sig) = Signature::try_from(sig) else {
        return false;
    };
    if sig.s() > SECP256K1N_HALF {
        return false;
    }
    sig.recover_address_from_prehash(hash)
        .is_ok_and(|a| a == from)
}

/// A JSON object from a `json!` literal known to be one.
pub(crate) fn object(v: serde_json::Value) -> Object {
    match v {
        serde_json::Value::Object(o) => o,
        _ => unreachable!("json! object"),
    }
}
