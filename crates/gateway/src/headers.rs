//! Header names the gateway reads and writes (HTTP header names are case-insensitive).

/// v2 challenge: base64 JSON `PaymentRequired`.
pub const PAYMENT_REQUIRED: &str = "payment-required";
/// v2 payment from the client.
pub const PAYMENT_SIGNATURE: &str = "payment-signature";
/// v2 settlement result.
pub const PAYMENT_RESPONSE: &str = "payment-response";
/// v1 payment from the client.
pub const X_PAYMENT: &str = "x-payment";
/// v1 settlement result.
pub const X_PAYMENT_RESPONSE: &str = "x-payment-response";
/// Opt-in switch of public x402 APIs (`x-coinbase-402: true`).
pub const COINBASE_402: &str = "x-coinbase-402";
/// Asset the client prefers first in `accepts` (`usdc`, `tmai`).
pub const PAYMENT_TOKEN: &str = "x-payment-token";
/// Receipt token: returned after a bundle is paid, sent back to spend its calls.
pub const RECEIPT: &str = "tollgate-receipt";
/// Headers that let a client change the method an upstream framework routes on; never forwarded
/// (a `POST` with `X-HTTP-Method-Override: GET` must not reach a priced GET handler unpriced).
pub const METHOD_OVERRIDES: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Lower-case names a `Connection` header lists: they describe one hop and go no further.
pub fn connection_named(h: &axum::http::HeaderMap) -> Vec<String> {
    h.get_all(axum::http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}
