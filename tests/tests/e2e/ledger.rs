//! The ledger as the only arbiter of "settle once": two facilitator instances sharing one store
//! race to settle the same payment, and exactly one broadcasts.

use std::time::Duration;

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use tollgate_e2e::{Db, Env, both_stores};
use tollgate_proto::reason;
use tollgate_store::{Claim, Intent, Ledger};

both_stores!(two_instances_on_one_store_settle_once, env = Env::start, {
    // A second instance with its own settlement key, as instances must have.
    let key = PrivateKeySigner::random();
    let eth = U256::from(10u64).pow(U256::from(18u64));
    env.dev.anvil.set_balance(key.address(), eth).await.unwrap();
    let other = std::sync::Arc::new(
        Env::facilitator_signing(&env.dev, key.clone(), &env.db.url, Duration::from_secs(20)).await,
    );
    let body = serde_json::to_vec(&env.payment(0, 17_000).v2()).unwrap();
    let runs = (0..10).map(|i| {
        let (a, b, body) = (&env.facilitator, &other, body.clone());
        async move {
            if i % 2 == 0 {
                a.settle(&body).await
            } else {
                b.settle(&body).await
            }
        }
    });
    let replies = futures::future::join_all(runs).await;
    let wins = replies
        .iter()
        .filter(|r| r.as_ref().unwrap().body.success)
        .count();
    assert_eq!(wins, 1);
    for r in &replies {
        let r = &r.as_ref().unwrap().body;
        if !r.success {
            assert_eq!(
                r.error_reason.as_deref(),
                Some(reason::DUPLICATE_SETTLEMENT),
                "{r:?}"
            );
        }
    }
    assert_eq!(
        env.usdc(env.dev.pay_to).await,
        U256::from(17_000u64),
        "paid exactly once"
    );
    let sent = env.settlements_sent().await + env.dev.tx_count(key.address()).await.unwrap();
    assert!(
        (1..=2).contains(&sent),
        "one settlement, plus at most one nonce filler from the loser: {sent}"
    );
    let (_, m) = env.get("/metrics").await;
    assert!(!m.contains("outcome=\"internal\""), "{m}");
});

/// Two instances' connections to one fresh ledger (and the ledger, kept while they live).
async fn two_ledgers(db: Db) -> Option<(tollgate_e2e::TestDb, Ledger, Ledger)> {
    let test_db = tollgate_e2e::TestDb::create(db).await?;
    let a = Ledger::connect(&test_db.url).await.unwrap();
    let b = Ledger::connect(&test_db.url).await.unwrap();
    Some((test_db, a, b))
}

/// A payment of `amount` on chain 1, told apart by `nonce`.
fn intent(nonce: &str, amount: &str) -> Intent {
    Intent {
        id: format!("eip155:1/0xtoken/0xpayer/{nonce}"),
        network: "eip155:1".into(),
        scheme: "exact".into(),
        payer: "0xpayer".into(),
        amount: amount.into(),
        payment_digest: None,
    }
}

both_stores!(
    claims_race_to_exactly_one_winner,
    (_db, a, b) = two_ledgers,
    {
        let intent = intent("0x01", "200000000000000000000");
        let claims = futures::future::join_all((0..20).map(|i| {
            let (l, intent) = (if i % 2 == 0 { &a } else { &b }, intent.clone());
            async move {
                l.claim_signed(&intent, &format!("0xhash{i}"), b"raw")
                    .await
                    .unwrap()
            }
        }))
        .await;
        assert_eq!(claims.iter().filter(|c| matches!(c, Claim::Won)).count(), 1);

        assert_eq!(b.unfinished().await.unwrap().len(), 1);
        let hash = a.get(&intent.id).await.unwrap().unwrap().tx_hash.unwrap();
        for c in &claims {
            if let Claim::Exists(rec) = c {
                assert_eq!(
                    rec.tx_hash.as_deref(),
                    Some(hash.as_str()),
                    "losers see the winner's transaction"
                );
            }
        }
        a.record_outcome(&intent.id, true, None).await.unwrap();
        let rec = b.get(&intent.id).await.unwrap().unwrap();
        assert_eq!(
            rec.amount, "200000000000000000000",
            "amounts above 2^64 round-trip as text"
        );
        assert_eq!(rec.raw_tx.as_deref(), Some(&b"raw"[..]));
        assert_eq!(b.pending_count().await.unwrap(), 0);
    }
);

both_stores!(
    a_fee_bump_keeps_every_candidate,
    (_db, a, b) = two_ledgers,
    {
        let intent = intent("0x02", "17000");
        assert!(matches!(
            a.claim_signed(&intent, "0xh1", b"raw1").await.unwrap(),
            Claim::Won
        ));
        // Two instances bump the same transaction at once: exactly one replacement lands.
        let (ra, rb) = tokio::join!(
            a.replace_tx(&intent.id, "0xh1", "0xh2a", b"raw2a"),
            b.replace_tx(&intent.id, "0xh1", "0xh2b", b"raw2b"),
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert!(ra ^ rb, "one bump wins: {ra} {rb}");
        let (h2, raw2) = if ra {
            ("0xh2a", &b"raw2a"[..])
        } else {
            ("0xh2b", &b"raw2b"[..])
        };
        let rec = b.get(&intent.id).await.unwrap().unwrap();
        assert_eq!(rec.tx_hash.as_deref(), Some(h2));
        assert_eq!(rec.raw_tx.as_deref(), Some(raw2));
        assert!(a.replace_tx(&intent.id, h2, "0xh3", b"raw3").await.unwrap());
        let earlier: Vec<_> = b
            .replaced_txs(&intent.id)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.tx_hash)
            .collect();
        assert_eq!(earlier.len(), 2);
        assert!(earlier.contains(&"0xh1".to_string()) && earlier.contains(&h2.to_string()));

        // The first transaction is the one mined: the row names it.
        a.record_mined(&intent.id, "0xh1", true, None)
            .await
            .unwrap();
        let rec = b.get(&intent.id).await.unwrap().unwrap();
        assert_eq!(rec.tx_hash.as_deref(), Some("0xh1"));
        assert_eq!(rec.state, tollgate_store::SettlementState::Settled);
        assert!(
            !a.replace_tx(&intent.id, "0xh1", "0xh4", b"raw4")
                .await
                .unwrap(),
            "a final settlement is never bumped"
        );
    }
);
