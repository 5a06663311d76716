use super::*;
use crate::NewReceipt;

async fn store(name: &str) -> ReceiptStore {
    let path = std::env::temp_dir().join(format!(
        "tollgate-holds-{}-{name}-{}.db",
        std::process::id(),
        crate::ledger::now()
    ));
    let _ = std::fs::remove_file(&path);
    ReceiptStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

async fn bought(s: &ReceiptStore, id: &str, calls: u64) {
    s.create(&NewReceipt {
        id: id.into(),
        payer: "0xabc".into(),
        routes: vec!["r".into()],
        calls_left: Some(calls),
        expires_at: 2_000_000_000,
        payment_tx: None,
    })
    .await
    .unwrap();
}

const NOW: u64 = 1_000;
const HOLD: u64 = 30;

/// Calls recorded per entry of a spend.
async fn spend(s: &ReceiptStore, holder: &str, spends: &[(&str, u64)], now: u64) -> Vec<u64> {
    let done = s.spend_held(holder, spends, now, HOLD).await.unwrap();
    done.iter().map(|d| d.recorded).collect()
}

/// calls_left plus every hold of `id`.
async fn unserved(s: &ReceiptStore, id: &str) -> u64 {
    s.unserved(id).await.unwrap()
}

#[tokio::test]
async fn served_calls_come_off_the_hold_and_the_count_stays_exact() {
    let s = store("exact").await;
    bought(&s, "r", 1000).await;
    let g = s.take_held("r", "a", 100, NOW, HOLD).await.unwrap();
    assert_eq!(
        (g.granted, g.own, g.left, g.held_elsewhere_until),
        (100, 100, 1000, None)
    );
    let done = s.spend_held("a", &[("r", 40)], NOW, HOLD).await.unwrap();
    assert_eq!((done[0].recorded, done[0].own), (40, 60));
    assert_eq!(unserved(&s, "r").await, 960);
    // More than the hold covers: the rest comes straight from calls_left.
    assert_eq!(spend(&s, "a", &[("r", 70)], NOW).await, vec![70]);
    assert_eq!(unserved(&s, "r").await, 890);
    assert_eq!(s.get("r").await.unwrap().unwrap().calls_left, Some(890));
}

#[tokio::test]
async fn the_last_calls_are_never_all_held_by_one_instance() {
    let s = store("quarter").await;
    bought(&s, "r", 8).await;
    assert_eq!(
        s.take_held("r", "a", 100, NOW, HOLD).await.unwrap().granted,
        2
    );
    assert_eq!(
        s.take_held("r", "b", 100, NOW, HOLD).await.unwrap().granted,
        2
    );
    let mut taken = 4;
    while let g @ 1.. = s.take_held("r", "a", 100, NOW, HOLD).await.unwrap().granted {
        taken += g;
    }
    assert_eq!(taken, 8);
    let g = s.take_held("r", "b", 1, NOW, HOLD).await.unwrap();
    assert_eq!(g.granted, 0);
    assert_eq!(g.left, 8, "nothing served yet: a holds 6, b holds 2");
    assert_eq!(
        g.held_elsewhere_until,
        Some(NOW + HOLD),
        "a's hold, not b's own"
    );
}

#[tokio::test]
async fn a_dead_holders_calls_return_once_its_hold_expires() {
    let s = store("reclaim").await;
    bought(&s, "r", 4).await;
    let mut held = 0;
    while let g @ 1.. = s
        .take_held("r", "dead", 4, NOW, HOLD)
        .await
        .unwrap()
        .granted
    {
        held += g;
    }
    assert_eq!(held, 4);
    spend(&s, "dead", &[("r", 1)], NOW).await;
    let early = s
        .take_held("r", "b", 4, NOW + HOLD - 1, HOLD)
        .await
        .unwrap();
    assert_eq!(
        (early.granted, early.held_elsewhere_until),
        (0, Some(NOW + HOLD))
    );
    let late = s.take_held("r", "b", 4, NOW + HOLD, HOLD).await.unwrap();
    assert_eq!(
        (late.granted, late.left),
        (1, 3),
        "3 put back, a quarter taken"
    );
    // The dead holder's calls are gone from it: its late spend comes from calls_left.
    assert_eq!(
        spend(&s, "dead", &[("r", 5)], NOW + HOLD).await,
        vec![2],
        "only the 2 left in calls_left; b still holds 1"
    );
    assert_eq!(spend(&s, "b", &[("r", 1)], NOW + HOLD).await, vec![1]);
    assert_eq!(unserved(&s, "r").await, 0);
}

#[tokio::test]
async fn release_gives_back_and_revocation_takes_every_hold() {
    let s = store("release").await;
    bought(&s, "r", 100).await;
    bought(&s, "q", 100).await;
    s.take_held("r", "a", 20, NOW, HOLD).await.unwrap();
    s.take_held("q", "a", 20, NOW, HOLD).await.unwrap();
    s.take_held("q", "b", 20, NOW, HOLD).await.unwrap();
    spend(&s, "a", &[("r", 5), ("q", 3)], NOW).await;
    assert_eq!(s.release_holds("a").await.unwrap(), 15 + 17);
    assert_eq!(s.get("r").await.unwrap().unwrap().calls_left, Some(95));
    assert!(s.revoke("q", NOW).await.unwrap());
    assert_eq!(
        spend(&s, "b", &[("q", 1)], NOW).await,
        vec![0],
        "a revoked receipt's held calls are not served"
    );
    assert_eq!(s.revoked_since(NOW).await.unwrap(), vec!["q".to_string()]);
    assert!(s.revoked_since(NOW + 1).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_sweep_puts_back_expired_holds_of_every_receipt() {
    let s = store("sweep").await;
    bought(&s, "r", 10).await;
    s.take_held("r", "dead", 10, NOW, HOLD).await.unwrap();
    assert_eq!(s.sweep_holds(NOW + HOLD - 1).await.unwrap(), 0);
    assert_eq!(s.sweep_holds(NOW + HOLD).await.unwrap(), 3);
    assert_eq!(s.get("r").await.unwrap().unwrap().calls_left, Some(10));
}
