//! Settlement under faults, on real processes: two facilitators and two gateways over one
//! PostgreSQL, clients paying 1,000 calls with 10% replays (identical and respelled), while each
//! facilitator's preferred RPC endpoint hangs for 10 s, one facilitator is killed with SIGKILL
//! and restarted, and anvil drops one settlement transaction from its pool. Afterwards: every
//! payment settled at most once and every served one exactly once, no replay served, the
//! handler ran once per served payment, nothing left pending, no nonce gap on any signer, and no
//! key, token or RPC URL in any log line, answer or metric of the run.

mod fault_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy::primitives::U256;
use alloy::providers::Provider;
use fault_support::{Answers, Stack, Upstream, mutate, paid_call, payment_header};
use serde_json::Value;
use tollgate_e2e::tcp_proxy::Mode;
use tollgate_e2e::{Db, TestDb};
use tollgate_store::Ledger;

/// Paid calls in the run, and how many clients make them at once.
const CALLS: usize = 1000;
const CLIENTS: usize = 20;
/// Atomic USDC per call (0.017 USDC).
const PRICE: u64 = 17_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paid_calls_survive_kills_hangs_and_drops() {
    let Some(db) = TestDb::create(Db::Postgres).await else {
        return;
    };
    let upstream = Upstream::start().await;
    let stack = Arc::new(Stack::start(&db, &upstream.url).await);
    let ledger = Ledger::connect(&db.url).await.expect("ledger");
    let answers = Answers::default();
    let done = Arc::new(AtomicUsize::new(0));

    let faults = tokio::spawn(inject_faults(stack.clone(), done.clone()));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (stack, answers, done) = (stack.clone(), answers.clone(), done.clone());
        clients.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for k in 0..CALLS / CLIENTS {
                let gw = (c + k) % 2;
                let call = paid_call(&stack, c % stack.payers(), gw, PRICE, &answers).await;
                // One call in ten is replayed, identically and respelled, at the other gateway.
                if k % 10 == 0
                    && let Some(header) = call.served_header.as_deref()
                {
                    for h in [header.to_string(), mutate(header)] {
                        let a = stack.call(1 - gw, Some(&h), &answers).await;
                        assert_ne!(a.status, 200, "a replay was served: {}", a.text);
                    }
                }
                mine.push(call);
                done.fetch_add(1, Ordering::Relaxed);
            }
            mine
        }));
    }
    let mut calls = Vec::new();
    for c in clients {
        calls.extend(c.await.expect("client"));
    }
    let injected = faults.await.expect("faults");
    assert_eq!(injected.len(), 3, "every fault was injected: {injected:?}");

    // Reconciliation finishes whatever the faults left pending.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while ledger.pending_count().await.expect("ledger") > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "settlements left pending: {:?}",
            ledger.unfinished().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let served: Vec<_> = calls.iter().filter(|c| c.served_header.is_some()).collect();
    let ids: HashSet<_> = calls.iter().map(|c| c.identity.clone()).collect();
    assert_eq!(
        ids.len(),
        CALLS,
        "every call paid with its own authorization"
    );
    assert!(
        served.len() * 10 >= CALLS * 9,
        "most calls were served despite the faults: {} of {CALLS}",
        served.len()
    );
    let retried: Vec<_> = calls
        .iter()
        .filter(|c| !c.failed_attempts.is_empty())
        .collect();
    assert_eq!(
        upstream.handled(),
        served.len(),
        "the handler ran once per served payment, never for a replay; calls retried: {retried:#?}"
    );

    // Money: each served payment settled, nothing settled twice, payTo holds exactly that.
    let mut settled = 0u64;
    for c in &calls {
        let rec = ledger.get(&c.identity).await.expect("ledger");
        let ok = rec
            .as_ref()
            .is_some_and(|r| r.state == tollgate_store::SettlementState::Settled);
        if c.served_header.is_some() && !ok {
            let hash = rec
                .as_ref()
                .and_then(|r| r.tx_hash.clone())
                .unwrap_or_default();
            let about: Vec<_> = stack
                .logs()
                .into_iter()
                .filter(|l| !hash.is_empty() && l.contains(&hash))
                .collect();
            panic!(
                "served but not settled: {rec:?}\n{:#?}\nlogs: {about:#?}",
                c.failed_attempts
            );
        }
        settled += u64::from(ok);
    }
    let paid = stack.usdc_of_pay_to().await;
    assert_eq!(paid, U256::from(settled * PRICE), "on chain = ledger");
    assert_eq!(
        stack.settlement_txs().await,
        settled,
        "one transaction per settled payment"
    );

    // No nonce gap: each signer's mined count equals its pending count, and the pool is empty.
    for signer in stack.signer_addresses() {
        let p = stack.provider();
        let latest = p.get_transaction_count(signer).latest().await.unwrap();
        let pending = p.get_transaction_count(signer).pending().await.unwrap();
        assert_eq!(latest, pending, "nonce gap on {signer}");
    }
    let pool: Value = stack
        .provider()
        .raw_request("txpool_status".into(), ())
        .await
        .unwrap();
    assert_eq!(pool["pending"], serde_json::json!("0x0"), "{pool}");
    assert_eq!(pool["queued"], serde_json::json!("0x0"), "{pool}");

    // No secret anywhere the run wrote or answered.
    let mut seen = answers.all();
    seen.extend(stack.pages().await);
    seen.extend(stack.logs());
    for secret in stack.secrets() {
        for text in &seen {
            assert!(
                !text.contains(&secret),
                "a secret leaked into: {}",
                text.chars().take(300).collect::<String>()
            );
        }
    }
}

/// Injects the faults as the run progresses; returns the names of those injected.
async fn inject_faults(stack: Arc<Stack>, done: Arc<AtomicUsize>) -> Vec<&'static str> {
    let reached = |n: usize| {
        let done = done.clone();
        async move {
            while done.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let mut injected = Vec::new();
    reached(CALLS / 5).await;
    stack.set_proxies(Mode::Hang);
    tokio::time::sleep(Duration::from_secs(10)).await;
    stack.set_proxies(Mode::Forward);
    injected.push("rpc hang");

    reached(CALLS * 2 / 5).await;
    stack.kill_and_restart_facilitator(0).await;
    injected.push("sigkill");

    reached(CALLS * 3 / 5).await;
    if stack.drop_one_settlement().await {
        injected.push("dropped tx");
    }
    injected
}

/// The facilitator dies right after broadcasting, so the gateway never learns whether the
/// payment settled: the handler's answer is kept, and the payer's retry of the same payment at
/// the other gateway gets it without the handler running again; a further replay gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_settle_answer_is_served_once_without_a_second_handler_run() {
    let Some(db) = TestDb::create(Db::Postgres).await else {
        return;
    };
    let upstream = Upstream::start().await;
    let stack = Stack::start(&db, &upstream.url).await;
    let answers = Answers::default();
    stack.start_facilitator(0, Some("after_broadcast")).await;
    let (_, header) = payment_header(&stack, 0, 0, PRICE, &answers).await;

    let lost = stack.call(0, Some(&header), &answers).await;
    assert_eq!(lost.status, 502, "{}", lost.text);
    assert_eq!(
        stack.facilitator_exit(0).await,
        Some(86),
        "died at the failpoint"
    );
    assert_eq!(upstream.handled(), 1);

    stack.start_facilitator(0, None).await;
    let retry = stack.call(1, Some(&header), &answers).await;
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.text, r#"{"signals":1}"#, "the kept answer");
    assert_eq!(upstream.handled(), 1, "the handler ran once");

    for gw in [0, 1] {
        let again = stack.call(gw, Some(&header), &answers).await;
        assert_ne!(again.status, 200, "a replay was served: {}", again.text);
    }
    assert_eq!(upstream.handled(), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while stack.usdc_of_pay_to().await != U256::from(PRICE) {
        assert!(tokio::time::Instant::now() < deadline, "paid once");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
