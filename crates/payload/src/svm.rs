//! The Solana `exact` payload: the payer's partially signed transaction, decoded strictly, and
//! the payment's ledger identity.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bincode::Options;
use sha2::{Digest, Sha256};
use solana_transaction::versioned::VersionedTransaction;
use tollgate_proto::v2::Object;
use tollgate_proto::{Network, PaymentView, Rejection, reason};

/// Largest serialized transaction Solana accepts (one network packet).
pub const MAX_TRANSACTION_BYTES: usize = 1232;

/// The ledger identity of a Solana `exact` payment, without any RPC: the network and the SHA-256
/// of the transaction's message. Solana names a transaction by the fee payer's deterministic
/// signature over that message, so one message is one transaction however the payer's
/// signature bytes vary; the facilitator's ledger and the gateway's in-flight lease share it.
pub fn payment_identity(view: &PaymentView<'_>) -> Result<String, Rejection> {
    let req = &view.requirements;
    if view.scheme != "exact" || req.scheme != "exact" {
        return Err(Rejection::new(reason::UNSUPPORTED_SCHEME));
    }
    if view.network.as_ref() != Some(&req.network) {
        return Err(Rejection::new(reason::NETWORK_MISMATCH));
    }
    Ok(identity(&req.network, &payload_transaction(view.payload)?))
}

/// The identity of `tx` on `network`: the SHA-256 of its message.
pub fn identity(network: &Network, tx: &VersionedTransaction) -> String {
    let digest = Sha256::digest(tx.message.serialize());
    format!("{}/{}", network.caip2(), bs58::encode(digest).into_string())
}

/// The transaction of a payload that holds exactly `{"transaction": base64}`.
pub fn payload_transaction(payload: &Object) -> Result<VersionedTransaction, Rejection> {
    if let Some(k) = payload.keys().find(|k| *k != "transaction") {
        return Err(Rejection::new(reason::INVALID_PAYLOAD)
            .with_message(format!("payload has an unknown field {k:?}")));
    }
    let encoded = payload
        .get("transaction")
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            Rejection::new(reason::INVALID_PAYLOAD)
                .with_message("payload.transaction must be a base64 string")
        })?;
    let undecodable = |m: String| Rejection::new(reason::SVM_UNDECODABLE).with_message(m);
    if encoded.len() > MAX_TRANSACTION_BYTES.div_ceil(3) * 4 {
        return Err(undecodable(
            "longer than a Solana transaction can be".into(),
        ));
    }
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|e| undecodable(format!("base64: {e}")))?;
    decode_transaction(&bytes).map_err(undecodable)
}

/// Decodes a wire transaction strictly: size-capped, no trailing bytes, structurally sane.
pub fn decode_transaction(bytes: &[u8]) -> Result<VersionedTransaction, String> {
    if bytes.len() > MAX_TRANSACTION_BYTES {
        return Err(format!(
            "{} bytes; at most {MAX_TRANSACTION_BYTES}",
            bytes.len()
        ));
    }
    let tx: VersionedTransaction = bincode::options()
        .with_limit(MAX_TRANSACTION_BYTES as u64)
        .with_fixint_encoding()
        .reject_trailing_bytes()
        .deserialize(bytes)
        .map_err(|e| format!("not a versioned transaction: {e}"))?;
    tx.sanitize()
        .map_err(|e| format!("malformed transaction: {e}"))?;
    Ok(tx)
}
