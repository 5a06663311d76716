//! How verdicts become answers: status codes and the x402 response bodies for every outcome.

use serde::Serialize;
use tollgate_proto::v2::{SettleResponse, VerifyResponse};
use tollgate_proto::{Rejection, SettlementState as Wire, SignedTx, Verified, reason};
use tollgate_store::{SettlementRecord, SettlementState};

/// An HTTP-ready answer: status code and JSON body.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    pub status: u16,
    pub body: T,
}

pub(crate) fn ok<T: Serialize>(body: T) -> Reply<T> {
    Reply { status: 200, body }
}

pub(crate) fn invalid_verify(r: Rejection) -> Reply<VerifyResponse> {
    ok(VerifyResponse::invalid(r.reason, r.message, r.payer))
}

/// Malformed input is a 400; anything else refused before verification is a 200 verdict.
pub(crate) fn status_of(r: &Rejection) -> u16 {
    match r.reason {
        reason::INVALID_PAYLOAD
        | reason::INVALID_PAYMENT_REQUIREMENTS
        | reason::INVALID_X402_VERSION => 400,
        _ => 200,
    }
}

pub(crate) fn refuse_verify(r: Rejection) -> Reply<VerifyResponse> {
    Reply {
        status: status_of(&r),
        body: VerifyResponse::invalid(r.reason, r.message, r.payer),
    }
}

pub(crate) fn already_settled(rec: &SettlementRecord) -> Rejection {
    let msg = match &rec.tx_hash {
        Some(h) => format!("payment already settled or in flight in transaction {h}"),
        None => "payment already being settled".to_string(),
    };
    Rejection::new(reason::DUPLICATE_SETTLEMENT)
        .with_message(msg)
        .with_payer(rec.payer.clone())
}

/// A payment settled by `tx` (empty when nothing needed sending: an `upto` charge of 0).
pub(crate) fn settled(v: &Verified, network: String, tx: String) -> SettleResponse {
    SettleResponse {
        success: true,
        error_reason: None,
        error_message: None,
        payer: Some(v.payer.clone()),
        transaction: tx,
        network,
        amount: Some(v.amount.to_string()),
        extra: None,
    }
}

pub(crate) fn failed(r: Rejection, network: String, tx: Option<String>) -> SettleResponse {
    SettleResponse {
        success: false,
        error_reason: Some(r.reason.to_string()),
        error_message: r.message,
        payer: r.payer,
        transaction: tx.unwrap_or_default(),
        network,
        amount: None,
        extra: None,
    }
}

/// A repeat of a payment the ledger already holds: refused (never to be served as paid), but
/// naming the original transaction and, in `extra.settlementState`, where it stands. Another
/// payment under the same identity (its `digest` differs from the row's) can never settle,
/// whatever became of the recorded one: it is answered as failed, so no caller takes the
/// recorded payment's fate for its own.
pub(crate) fn duplicate(rec: &SettlementRecord, network: String, digest: &str) -> SettleResponse {
    if rec.payment_digest.as_deref().is_some_and(|d| d != digest) {
        let r = Rejection::new(reason::DUPLICATE_SETTLEMENT)
            .with_message("another payment under this identity is in the ledger")
            .with_payer(rec.payer.clone());
        return failed(r, network, None).with_settlement_state(Wire::Failed);
    }
    let (state, wire) = match rec.state {
        SettlementState::Signed => ("in flight", Wire::Pending),
        SettlementState::Settled => ("settled", Wire::Settled),
        SettlementState::Failed => ("failed on chain", Wire::Failed),
    };
    let r = already_settled(rec).with_message(format!("payment already {state}"));
    // An upto payment's answer always says what it was charged (the retry of a lost answer
    // learns it here).
    let amount = (rec.scheme == "upto").then(|| rec.amount.clone());
    SettleResponse {
        amount,
        ..failed(r, network, rec.tx_hash.clone())
    }
    .with_settlement_state(wire)
}

pub(crate) fn pending(
    v: &Verified,
    signed: &SignedTx,
    network: String,
    msg: String,
) -> SettleResponse {
    let r = Rejection::new(reason::SETTLEMENT_PENDING)
        .with_message(msg)
        .with_payer(v.payer.clone());
    SettleResponse {
        amount: Some(v.amount.to_string()),
        ..failed(r, network, Some(signed.hash.clone()))
    }
    .with_settlement_state(Wire::Pending)
}
