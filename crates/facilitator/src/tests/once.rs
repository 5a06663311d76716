//! "Settle at most once": repeats, concurrent settles on one instance and on two instances
//! sharing a ledger, and a repeat of a payment whose settlement is still pending.

use tollgate_proto::SettlementState as Wire;
use tollgate_proto::reason;
use tollgate_store::SettlementState;

use super::harness::{AMOUNT, PAYER, Rig, payment, settle_on};

#[tokio::test]
async fn a_repeat_settle_is_a_duplicate_naming_the_original_transaction() {
    let rig = Rig::new().await;
    let body = payment("repeat");

    let first = rig.settle(&body).await;
    assert!(first.success, "{first:?}");
    assert_eq!(first.transaction, "0xfake0001");
    assert_eq!(first.payer.as_deref(), Some(PAYER));
    assert_eq!(first.amount.as_deref(), Some(AMOUNT));
    let row = rig.row("repeat").await.expect("row recorded");
    assert_eq!(row.state, SettlementState::Settled);
    assert_eq!(row.tx_hash.as_deref(), Some("0xfake0001"));

    let again = rig.settle(&body).await;
    assert!(
        !again.success,
        "a repeat is never served as paid: {again:?}"
    );
    assert_eq!(
        again.error_reason.as_deref(),
        Some(reason::DUPLICATE_SETTLEMENT)
    );
    assert_eq!(again.transaction, first.transaction, "names the original");
    assert_eq!(again.settlement_state(), Some(Wire::Settled));
    assert_eq!(rig.chain.broadcasts(), 1);
    assert_eq!(rig.chain.signs(), 1, "a repeat signs nothing");
}

/// The same payer and nonce signed over other terms: a second payment under one identity. It
/// can never settle, so it must not be told the first one's fate (a gateway would serve it as
/// paid on "duplicate, settled").
#[tokio::test]
async fn another_payment_under_a_used_identity_is_failed_not_a_duplicate() {
    let rig = Rig::new().await;
    let first = rig.settle(&payment("reused")).await;
    assert!(first.success, "{first:?}");

    let mut other: serde_json::Value = serde_json::from_slice(&payment("reused")).unwrap();
    other["paymentPayload"]["payload"]["to"] = "0xelsewhere".into();
    let other = rig.settle(&serde_json::to_vec(&other).unwrap()).await;
    assert!(!other.success, "{other:?}");
    assert_eq!(
        other.settlement_state(),
        Some(Wire::Failed),
        "not the recorded payment's state: {other:?}"
    );
    assert_eq!(other.transaction, "", "names no transaction of its own");

    let repeat = rig.settle(&payment("reused")).await;
    assert_eq!(repeat.settlement_state(), Some(Wire::Settled), "{repeat:?}");
    assert_eq!(rig.chain.broadcasts(), 1);
}

#[tokio::test]
async fn concurrent_settles_on_one_instance_broadcast_once() {
    let rig = Rig::new().await;
    let body = payment("same-instance");
    let pause = rig.chain.pause_signing();

    let (f, b) = (rig.f.clone(), body.clone());
    let first = tokio::spawn(async move { settle_on(&f, &b).await });
    pause.reached().await;
    // The first settle holds the payment (verified, signing, not yet claimed in the ledger).
    let second = rig.settle(&body).await;
    assert!(!second.success, "{second:?}");
    assert_eq!(
        second.error_reason.as_deref(),
        Some(reason::DUPLICATE_SETTLEMENT)
    );
    assert_eq!(second.transaction, "", "nothing was signed for it");

    pause.release();
    let first = first.await.expect("first settle task");
    assert!(first.success, "{first:?}");
    assert_eq!(rig.chain.signs(), 1, "the repeat spent no nonce");
    assert_eq!(rig.chain.broadcasts(), 1);
    assert_eq!(rig.chain.abandons(), 0);
}

#[tokio::test]
async fn two_instances_racing_on_one_ledger_broadcast_once() {
    let rig = Rig::new().await;
    let other = rig.another_instance().await;
    let body = payment("two-instances");
    // Both sign before either claims: the ledger claim alone decides the winner.
    rig.chain.meet_in_sign(2);

    let (a, b) = tokio::join!(settle_on(&rig.f, &body), settle_on(&other, &body));

    let (won, lost) = if a.success { (a, b) } else { (b, a) };
    assert!(won.success, "{won:?}");
    assert!(!lost.success, "exactly one wins: {lost:?}");
    assert_eq!(
        lost.error_reason.as_deref(),
        Some(reason::DUPLICATE_SETTLEMENT)
    );
    assert_eq!(
        lost.transaction, won.transaction,
        "the loser names the winner"
    );
    assert_eq!(rig.chain.signs(), 2);
    assert_eq!(
        rig.chain.abandons(),
        1,
        "the loser drops its signed transaction"
    );
    let sent = rig.chain.sent();
    assert_eq!(sent.len(), 1, "exactly one broadcast: {sent:?}");
    assert_eq!(sent[0].hash, won.transaction);
    let row = rig.row("two-instances").await.expect("row recorded");
    assert_eq!(row.tx_hash.as_deref(), Some(won.transaction.as_str()));
    assert_eq!(row.state, SettlementState::Settled);
}

#[tokio::test]
async fn a_pending_settlement_is_answered_pending_and_never_rebroadcast_by_a_repeat() {
    let rig = Rig::new().await;
    let body = payment("pending");
    rig.chain.answer_receipts(Ok(None));

    let first = rig.settle(&body).await;
    assert!(!first.success, "{first:?}");
    assert_eq!(
        first.error_reason.as_deref(),
        Some(reason::SETTLEMENT_PENDING)
    );
    assert_eq!(first.transaction, "0xfake0001");
    assert_eq!(first.settlement_state(), Some(Wire::Pending));
    assert_eq!(first.amount.as_deref(), Some(AMOUNT));
    let row = rig.row("pending").await.expect("row claimed");
    assert_eq!(row.state, SettlementState::Signed, "claimed, not final");
    assert_eq!(row.tx_hash.as_deref(), Some("0xfake0001"));

    // A repeat while the row is claimed but not final: refused as a duplicate (never served as
    // paid), naming the in-flight transaction and that it is still pending.
    let again = rig.settle(&body).await;
    assert!(!again.success, "{again:?}");
    assert_eq!(
        again.error_reason.as_deref(),
        Some(reason::DUPLICATE_SETTLEMENT)
    );
    assert_eq!(again.settlement_state(), Some(Wire::Pending));
    assert_eq!(again.transaction, "0xfake0001");
    assert_eq!(rig.chain.broadcasts(), 1, "no second broadcast");
    assert_eq!(rig.chain.signs(), 1);
    assert_eq!(rig.ledger().pending_count().await.expect("count"), 1);
}
