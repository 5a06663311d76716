//! HTTP header names of x402 and of Tollgate's receipts, in lower case (header names are
//! case-insensitive): one spelling for the gateway that writes them and the client that reads them.

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
/// Calls a receipt has left after the call it answers. Approximate while several gateway
/// instances serve the receipt (each counts down from what it last read), exact with one; `0`
/// tells the client to stop presenting the receipt.
pub const RECEIPT_CALLS_LEFT: &str = "tollgate-receipt-calls-left";
/// Response header an upto route's upstream sets to name the call's actual charge, JSON
/// `{"amount": "…"}` (atomic units, `"37.5%"` of the maximum, or `"$0.0123"`); read and removed
/// by the server before the answer reaches the payer.
pub const SETTLEMENT_OVERRIDES: &str = "settlement-overrides";
