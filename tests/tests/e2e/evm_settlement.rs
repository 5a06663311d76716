//! Settlement timing: a receipt that does not arrive within the bound is answered as
//! `settlement_pending` with the hash, and the reconciler finishes it later.

use std::time::Duration;

use alloy::primitives::U256;
use alloy::providers::Provider;
use serde_json::json;
use std::sync::Arc;
use tollgate_e2e::{Db, Env, EnvOptions, both_stores};

use tollgate_facilitator::{
    Allowlist, Facilitator, FacilitatorOptions, RECONCILER_LEASE, ReconcileOptions, reconcile_once,
    spawn_reconciler,
};
use tollgate_proto::reason;
use tollgate_store::Ledger;

/// An environment whose settle waits only 300 ms for a receipt, so a settlement the chain has
/// not mined yet is answered as pending.
async fn impatient(db: Db) -> Option<Env> {
    let opts = EnvOptions {
        receipt_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    Env::start_with(db, opts).await
}

both_stores!(
    slow_receipt_answers_pending_then_reconciles,
    env = impatient,
    {
        let provider = env.dev.anvil.provider();
        provider
            .raw_request::<_, serde_json::Value>("evm_setAutomine".into(), (false,))
            .await
            .unwrap();

        let pay = env.payment(0, 17_000);
        let (_, s) = env.post("/settle", &pay.v2()).await;
        assert_eq!(s["success"], json!(false), "{s}");
        assert_eq!(s["errorReason"], json!(reason::SETTLEMENT_PENDING), "{s}");
        let hash = s["transaction"].as_str().expect("hash").to_string();
        assert_eq!(hash.len(), 66, "pending answers carry the hash");

        let (_, again) = env.post("/settle", &pay.v2()).await;
        assert_eq!(
            again["errorReason"],
            json!(reason::DUPLICATE_SETTLEMENT),
            "in flight is not paid twice"
        );
        assert_eq!(again["transaction"], json!(hash));
        assert_eq!(env.facilitator.ledger().pending_count().await.unwrap(), 1);

        provider
            .raw_request::<_, serde_json::Value>("evm_mine".into(), ())
            .await
            .unwrap();
        let done = reconcile_once(&env.facilitator, Duration::ZERO, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(done, 1);
        assert_eq!(env.facilitator.ledger().pending_count().await.unwrap(), 0);
        assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(17_000u64));
        assert_eq!(env.settlements_sent().await, 1);
        let (_, metrics) = env.get("/metrics").await;
        assert!(
            metrics.contains(
                "tollgate_payment_outcomes_total{op=\"settle\",outcome=\"settlement_pending\"} 1"
            ),
            "{metrics}"
        );
    }
);

both_stores!(supported_health_and_metrics_answer, env = Env::start, {
    let (status, body) = env.get("/supported").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let kinds = v["kinds"].as_array().unwrap();
    assert!(
        kinds.contains(&json!({"x402Version": 2, "scheme": "exact", "network": "eip155:31337"})),
        "{v}"
    );
    assert!(
        kinds.contains(&json!({"x402Version": 1, "scheme": "exact", "network": "eip155:31337"})),
        "{v}"
    );
    assert_eq!(
        v["signers"]["eip155:*"],
        json!([env.dev.facilitator.address().to_checksum(None)])
    );

    let (status, body) = env.get("/health").await;
    assert_eq!(
        (status, body.contains("\"status\":\"ok\"")),
        (200, true),
        "{body}"
    );

    env.post("/verify", &env.payment(0, 17_000).v2()).await;
    let (status, metrics) = env.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("tollgate_payment_outcomes_total{op=\"verify\",outcome=\"valid\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tollgate_operation_seconds_bucket{op=\"verify\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("tollgate_http_requests_total{route=\"/verify\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tollgate_pending_settlements 0"),
        "{metrics}"
    );

    let (status, body) = env.get("/discovery/resources?limit=500").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"limit\":100"), "{body}");
});

both_stores!(
    a_refused_send_frees_the_payment_and_its_nonce,
    env = Env::start,
    {
        let signer = env.dev.facilitator.address();
        let set_balance = |wei: U256| env.dev.anvil.set_balance(signer, wei);
        set_balance(U256::ZERO).await.unwrap();
        let pay = env.payment(0, 17_000);
        let (_, s) = env.post("/settle", &pay.v2()).await;
        assert_eq!(s["success"], json!(false), "{s}");
        assert_eq!(
            s["errorReason"],
            json!(reason::UNEXPECTED_SETTLE_ERROR),
            "{s}"
        );
        assert_eq!(s["transaction"], json!(""), "nothing landed");
        assert_eq!(env.facilitator.ledger().pending_count().await.unwrap(), 0);

        set_balance(U256::from(10u64).pow(U256::from(18u64)))
            .await
            .unwrap();
        let (_, s) = env.post("/settle", &pay.v2()).await;
        assert_eq!(
            s["success"],
            json!(true),
            "the same payment settles once the signer can pay gas: {s}"
        );
        let (_, s2) = env.post("/settle", &env.payment(1, 17_000).v2()).await;
        assert_eq!(
            s2["success"],
            json!(true),
            "the refused nonce was reused, leaving no gap: {s2}"
        );
        assert_eq!(env.settlements_sent().await, 2);
        assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(34_000u64));
    }
);

both_stores!(one_instance_reconciles_at_a_time, env = impatient, {
    // Another instance holds the reconciler's lease (taken before there is work, so
    // this environment's own reconciler cannot take it first).
    let ledger = Ledger::connect(&env.db.url).await.unwrap();
    let now = tollgate_e2e::now();
    assert!(
        ledger
            .hold_lease(RECONCILER_LEASE, "elsewhere", now, 3600)
            .await
            .unwrap()
    );
    let provider = env.dev.anvil.provider();
    provider
        .raw_request::<_, serde_json::Value>("evm_setAutomine".into(), (false,))
        .await
        .unwrap();
    let (_, s) = env.post("/settle", &env.payment(0, 17_000).v2()).await;
    assert_eq!(s["errorReason"], json!(reason::SETTLEMENT_PENDING), "{s}");
    provider
        .raw_request::<_, serde_json::Value>("evm_mine".into(), ())
        .await
        .unwrap();

    let scheme = Env::scheme(&env.dev, env.dev.facilitator.clone()).await;
    let options = FacilitatorOptions {
        allow: Some(Allowlist::any_asset()),
        reconcile: ReconcileOptions {
            every: Duration::from_millis(200),
            min_age: Duration::ZERO,
            wait: Duration::from_secs(2),
            ..Default::default()
        },
        ..Default::default()
    };
    let second = Arc::new(Facilitator::new(vec![scheme], ledger.clone(), options));
    let reconciler = spawn_reconciler(second);
    // An absence: several passes' worth of time, and the row is still left alone.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        ledger.pending_count().await.unwrap(),
        1,
        "lease held elsewhere"
    );

    ledger
        .release_lease(RECONCILER_LEASE, "elsewhere")
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while ledger.pending_count().await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "reconciled once the lease is free"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reconciler.abort();
    assert_eq!(env.settlements_sent().await, 1);
});

both_stores!(
    a_stuck_settlement_is_re_sent_at_a_higher_fee,
    env = impatient,
    {
        let provider = env.dev.anvil.provider();
        let rpc = |method: &'static str, params: serde_json::Value| {
            let provider = provider.clone();
            async move {
                provider
                    .raw_request::<_, serde_json::Value>(method.into(), params)
                    .await
                    .unwrap()
            }
        };
        rpc("evm_setAutomine", json!([false])).await;
        let pay = env.payment(0, 17_000);
        let (_, s) = env.post("/settle", &pay.v2()).await;
        assert_eq!(s["errorReason"], json!(reason::SETTLEMENT_PENDING), "{s}");
        let first = s["transaction"].as_str().unwrap().to_string();

        // A fee spike: the next blocks' base fee is far above what the settlement offers.
        rpc("anvil_setNextBlockBaseFeePerGas", json!(["0xba43b7400"])).await; // 50 gwei
        rpc("evm_mine", json!([])).await;
        let done = reconcile_once(&env.facilitator, Duration::ZERO, Duration::from_millis(500));
        let done = done.await.unwrap();
        assert_eq!(done, 0, "stuck, not failed: a higher fee can still land it");
        assert_eq!(env.settlements_sent().await, 0);

        // A reconciler whose bump delay has passed re-signs it at today's fee.
        let ledger = Ledger::connect(&env.db.url).await.unwrap();
        let scheme = Env::scheme(&env.dev, env.dev.facilitator.clone()).await;
        let options = FacilitatorOptions {
            allow: Some(Allowlist::any_asset()),
            reconcile: ReconcileOptions {
                bump_after: Duration::ZERO,
                ..Default::default()
            },
            ..Default::default()
        };
        let bumping = Facilitator::new(vec![scheme], ledger.clone(), options);
        let wait = Duration::from_millis(500);
        assert_eq!(
            reconcile_once(&bumping, Duration::ZERO, wait)
                .await
                .unwrap(),
            0
        );
        let id = ledger.unfinished().await.unwrap()[0].id.clone();
        let replaced = ledger.replaced_txs(&id).await.unwrap();
        assert_eq!(replaced.len(), 1, "the first transaction is kept");
        assert_eq!(replaced[0].tx_hash, first);
        let second = ledger.get(&id).await.unwrap().unwrap().tx_hash.unwrap();
        assert_ne!(second, first);

        rpc("evm_mine", json!([])).await;
        assert_eq!(
            reconcile_once(&bumping, Duration::ZERO, wait)
                .await
                .unwrap(),
            1
        );
        let rec = ledger.get(&id).await.unwrap().unwrap();
        assert_eq!(rec.state, tollgate_store::SettlementState::Settled);
        assert_eq!(
            rec.tx_hash.as_deref(),
            Some(second.as_str()),
            "the mined one"
        );
        assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(17_000u64));
        assert_eq!(
            env.settlements_sent().await,
            1,
            "one nonce, one transaction"
        );
        let (_, again) = env.post("/settle", &pay.v2()).await;
        assert_eq!(again["errorReason"], json!(reason::DUPLICATE_SETTLEMENT));
        assert_eq!(again["transaction"], json!(second));
    }
);
