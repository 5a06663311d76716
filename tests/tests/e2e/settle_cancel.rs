//! A caller cannot break a settlement by hanging up. The settle call is dropped at each step
//! where the facilitator holds something (a signer nonce, a claimed but unsent transaction, a
//! broadcast but unrecorded one); the settlement still finishes, and the next 20 settlements of
//! that signer land with no nonce gap.
//!
//! The caller is a task running `Facilitator::settle`, aborted while the settlement waits at a
//! failpoint: the HTTP handler awaits that same call, and hyper drops it the same way when the
//! client disconnects, but only an aborted task says for sure when the drop has happened.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::U256;
use serde_json::json;
use tokio::sync::Semaphore;
use tollgate_e2e::wait::finished;
use tollgate_e2e::{Db, Env, EnvOptions, both_stores};
use tollgate_facilitator::{
    Allowlist, Facilitator, FacilitatorOptions, Failpoint, Step, payment_identity,
};
use tollgate_proto::{FacilitatorRequest, Networks};
use tollgate_store::{Ledger, SettlementState};

const AMOUNT: u64 = 1_000;

/// A facilitator on the env's chain and ledger that stops at `step` until released.
async fn held_at(env: &Env, step: Step) -> (Arc<Facilitator>, Arc<Semaphore>, Arc<Semaphore>) {
    let (reached, release) = (Arc::new(Semaphore::new(0)), Arc::new(Semaphore::new(0)));
    let scheme = Env::scheme(&env.dev, env.dev.facilitator.clone()).await;
    let ledger = Ledger::connect(&env.db.url).await.expect("ledger");
    let opts = FacilitatorOptions {
        receipt_timeout: Duration::from_secs(10),
        allow: Some(Allowlist::any_asset()),
        failpoint: Some(Failpoint::Hold {
            step,
            reached: reached.clone(),
            release: release.clone(),
        }),
        ..Default::default()
    };
    let f = Arc::new(Facilitator::new(vec![scheme], ledger, opts));
    (f, reached, release)
}

/// The ledger identity of the payment in `body`.
fn identity(body: &[u8]) -> String {
    let req = FacilitatorRequest::parse(body).expect("request");
    payment_identity(&req.view(&Networks::default()).expect("view")).expect("identity")
}

async fn hang_up_at(env: &Env, step: Step, sent_before: u64) -> u64 {
    let (f, reached, release) = held_at(env, step).await;
    let body = serde_json::to_vec(&env.payment(0, AMOUNT).v2()).expect("json");
    let caller = {
        let (f, body) = (f.clone(), body.clone());
        tokio::spawn(async move { f.settle(&body).await })
    };
    let reached_in_time = tokio::time::timeout(Duration::from_secs(30), reached.acquire()).await;
    reached_in_time
        .expect("settlement reaches the failpoint")
        .expect("open")
        .forget();
    caller.abort();
    assert!(caller.await.is_err(), "the caller hung up before an answer");
    // From here on the failpoint lets every settlement through.
    release.add_permits(1_000);
    let rec = finished(f.ledger(), &identity(&body), Duration::from_secs(30)).await;
    assert_eq!(
        rec.map(|r| r.state),
        Some(SettlementState::Settled),
        "{step:?}: the abandoned settlement still finishes"
    );

    // The next 20 settlements of the same signer in the same process, at once: none waits
    // behind a gap.
    let mut calls = Vec::new();
    for i in 0..20 {
        let f = f.clone();
        let body = serde_json::to_vec(&env.payment(i % 2, AMOUNT).v2()).expect("json");
        calls.push(tokio::spawn(async move { f.settle(&body).await }));
    }
    for c in calls {
        let r = c.await.expect("task").expect("no internal error");
        assert!(r.body.success, "{step:?}: {}", json!(r.body));
    }
    assert!(f.ledger().unfinished().await.expect("ledger").is_empty());
    let sent = env.settlements_sent().await;
    assert_eq!(
        sent,
        sent_before + 21,
        "{step:?}: one transaction per settlement, no gap"
    );
    sent
}

both_stores!(hanging_up_at_any_step_leaves_no_gap, |db: Db| async move {
    let opts = EnvOptions {
        usdc_each: U256::from(100_000_000u64),
        ..Default::default()
    };
    let Some(env) = Env::start_with(db, opts).await else {
        return;
    };
    let before = env.usdc(env.dev.pay_to).await;
    let mut sent = 0;
    for step in [Step::Signed, Step::Claimed, Step::Broadcast] {
        sent = hang_up_at(&env, step, sent).await;
    }
    let paid = U256::from(AMOUNT) * U256::from(63u64);
    assert_eq!(
        env.usdc(env.dev.pay_to).await,
        before + paid,
        "every payment settled once"
    );
});
