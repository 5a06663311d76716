//! What the chain says, and what the answer and the ledger make of it: a refused broadcast, a
//! transaction that fails on chain, a broadcast with no clear answer, and late receipts the
//! reconciler finishes.

use std::time::Duration;

use tollgate_proto::SettlementState as Wire;
use tollgate_proto::{Broadcast, reason};
use tollgate_store::SettlementState;

use super::fake_scheme::FAILED_REASON;
use super::harness::{PAYER, Rig, payment};
use crate::reconcile::reconcile_once;
use crate::scheme::SchemeError;

/// A reconciler pass over every unfinished settlement, however young.
async fn reconcile(rig: &Rig) -> usize {
    reconcile_once(&rig.f, Duration::ZERO, Duration::from_millis(10))
        .await
        .expect("reconcile pass")
}

#[tokio::test]
async fn a_refused_broadcast_releases_the_payment_for_a_retry() {
    let rig = Rig::new().await;
    let body = payment("refused");
    rig.chain
        .answer_broadcasts(Broadcast::Rejected("nonce too low".into()));

    let refused = rig.settle(&body).await;
    assert!(!refused.success, "{refused:?}");
    assert_eq!(
        refused.error_reason.as_deref(),
        Some(reason::UNEXPECTED_SETTLE_ERROR)
    );
    let msg = refused.error_message.as_deref().unwrap_or_default();
    assert!(msg.contains("nonce too low"), "carries the refusal: {msg}");
    assert_eq!(refused.transaction, "", "nothing landed");
    assert_eq!(refused.payer.as_deref(), Some(PAYER));
    assert_eq!(rig.chain.confirms(), 0, "no receipt is awaited");
    // The refused transaction can never land, so the claim is released, not kept as failed.
    assert_eq!(rig.row("refused").await, None, "claim released");
    assert_eq!(rig.ledger().pending_count().await.expect("count"), 0);

    // The payer's authorization is usable again: a retry signs and settles afresh.
    rig.chain.answer_broadcasts(Broadcast::Accepted);
    let retry = rig.settle(&body).await;
    assert!(retry.success, "{retry:?}");
    assert_eq!(retry.transaction, "0xfake0002", "a new transaction");
    assert_eq!(rig.chain.broadcasts(), 2);
    let row = rig.row("refused").await.expect("row recorded");
    assert_eq!(row.state, SettlementState::Settled);
    assert_eq!(row.tx_hash.as_deref(), Some("0xfake0002"));
}

#[tokio::test]
async fn a_transaction_that_fails_on_chain_is_recorded_failed() {
    let rig = Rig::new().await;
    let body = payment("reverted");
    rig.chain.answer_receipts(Ok(Some(false)));

    let answer = rig.settle(&body).await;
    assert!(!answer.success, "{answer:?}");
    assert_eq!(answer.error_reason.as_deref(), Some(FAILED_REASON));
    assert_eq!(
        answer.transaction, "0xfake0001",
        "names the failed transaction"
    );
    assert_eq!(answer.payer.as_deref(), Some(PAYER));
    let row = rig.row("reverted").await.expect("row kept");
    assert_eq!(row.state, SettlementState::Failed);
    assert_eq!(row.error_reason.as_deref(), Some(FAILED_REASON));
    assert_eq!(row.tx_hash.as_deref(), Some("0xfake0001"));

    // Its nonce is spent on chain: a repeat is a duplicate that says it failed, not a resend.
    let again = rig.settle(&body).await;
    assert_eq!(
        again.error_reason.as_deref(),
        Some(reason::DUPLICATE_SETTLEMENT)
    );
    assert_eq!(again.settlement_state(), Some(Wire::Failed));
    assert_eq!(rig.chain.broadcasts(), 1);
    assert_eq!(reconcile(&rig).await, 0, "nothing left to reconcile");
}

#[tokio::test]
async fn the_reconciler_settles_a_payment_whose_receipt_came_late() {
    let rig = Rig::new().await;
    let body = payment("late");
    rig.chain.answer_receipts(Ok(None));

    let first = rig.settle(&body).await;
    assert_eq!(
        first.error_reason.as_deref(),
        Some(reason::SETTLEMENT_PENDING)
    );
    assert_eq!(reconcile(&rig).await, 0, "still unmined: nothing finished");
    let row = rig.row("late").await.expect("row claimed");
    assert_eq!(row.state, SettlementState::Signed);

    rig.chain.answer_receipts(Ok(Some(true)));
    assert_eq!(reconcile(&rig).await, 1);
    let row = rig.row("late").await.expect("row recorded");
    assert_eq!(row.state, SettlementState::Settled);
    assert_eq!(row.tx_hash.as_deref(), Some(first.transaction.as_str()));

    let sent = rig.chain.sent();
    assert_eq!(sent.len(), 3, "the settle, then one rebroadcast per pass");
    assert!(
        sent.iter().all(|tx| tx == &sent[0]),
        "only the very same bytes are ever rebroadcast: {sent:?}"
    );
    assert_eq!(rig.chain.signs(), 1);
    assert_eq!(reconcile(&rig).await, 0, "a final row is left alone");
    let again = rig.settle(&body).await;
    assert_eq!(again.settlement_state(), Some(Wire::Settled));
    assert_eq!(again.transaction, first.transaction);
}

#[tokio::test]
async fn an_unknown_broadcast_outcome_is_left_pending_for_the_reconciler() {
    let rig = Rig::new().await;
    let body = payment("unknown");
    rig.chain
        .answer_broadcasts(Broadcast::Unknown("connection reset".into()));

    let first = rig.settle(&body).await;
    assert_eq!(
        first.error_reason.as_deref(),
        Some(reason::SETTLEMENT_PENDING)
    );
    assert_eq!(first.settlement_state(), Some(Wire::Pending));
    assert_eq!(
        rig.chain.confirms(),
        0,
        "no receipt wait after an unclear send"
    );
    let row = rig.row("unknown").await.expect("claim kept: it may land");
    assert_eq!(row.state, SettlementState::Signed);

    rig.chain.answer_broadcasts(Broadcast::Accepted);
    assert_eq!(reconcile(&rig).await, 1);
    let row = rig.row("unknown").await.expect("row recorded");
    assert_eq!(row.state, SettlementState::Settled);
    assert_eq!(row.tx_hash.as_deref(), Some(first.transaction.as_str()));
}

#[tokio::test]
async fn the_reconciler_fails_a_settlement_the_node_refuses_and_never_mined() {
    let rig = Rig::new().await;
    let body = payment("stranded");
    rig.chain.answer_receipts(Ok(None));
    let first = rig.settle(&body).await;
    assert_eq!(
        first.error_reason.as_deref(),
        Some(reason::SETTLEMENT_PENDING)
    );

    rig.chain
        .answer_broadcasts(Broadcast::Rejected("nonce too low".into()));
    assert_eq!(reconcile(&rig).await, 1);
    let row = rig.row("stranded").await.expect("row kept");
    assert_eq!(row.state, SettlementState::Failed);
    assert_eq!(
        row.error_reason.as_deref(),
        Some(reason::INVALID_TRANSACTION_STATE)
    );
}

#[tokio::test]
async fn the_reconciler_concludes_nothing_when_receipt_lookups_fail() {
    let rig = Rig::new().await;
    let body = payment("blind");
    rig.chain.answer_receipts(Ok(None));
    rig.settle(&body).await;

    rig.chain
        .answer_broadcasts(Broadcast::Rejected("nonce too low".into()));
    rig.chain
        .answer_receipts(Err(SchemeError::Rpc("rpc down".into())));
    assert_eq!(reconcile(&rig).await, 0);
    let row = rig.row("blind").await.expect("row kept");
    assert_eq!(
        row.state,
        SettlementState::Signed,
        "a refusal is not final while the node cannot say it was never mined"
    );
}
