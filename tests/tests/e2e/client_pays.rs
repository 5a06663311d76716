//! The paying client against a real gateway, facilitator and anvil: it pays in USDC and in TMAI,
//! signs nothing above its limits, and never overruns a budget, even with concurrent calls.

use alloy::primitives::U256;
use tollgate_client::{ClientError, PayingClient, PolicyError};
use tollgate_e2e::gateway::*;
use tollgate_e2e::{Db, Env};

/// A gateway whose TMAI asset is the chain's real TMAI at `tmai_usd` dollars per token.
async fn gateway_world(tmai_usd: &str) -> (Env, DemoApi, Proxy) {
    let env = Env::start(Db::Sqlite).await.expect("sqlite always runs");
    let payer = env.payer(0).clone();
    let tmai = env.dev.tmai.address;
    env.dev
        .mint(
            tmai,
            payer.address(),
            U256::from(1000u64) * U256::from(10u64).pow(U256::from(18u64)),
        )
        .await
        .unwrap();
    env.dev
        .approve_permit2(&payer, tmai, U256::MAX)
        .await
        .unwrap();
    let api = start_demo().await;
    let toml = config_toml(&env, &api.url, 1, 10).replace(
        &format!("usd_rate = \"{TMAI_USD}\""),
        &format!("usd_rate = \"{tmai_usd}\""),
    );
    let gw = gateway(&env, &toml, &["k1"], "k1").await;
    let proxy = serve(gw, &api.url).await;
    (env, api, proxy)
}

fn client(env: &Env, caps: &[&str], budgets: &[&str]) -> PayingClient {
    client_for(env, 0, caps, budgets)
}

fn client_for(env: &Env, payer: usize, caps: &[&str], budgets: &[&str]) -> PayingClient {
    paying_client(env, payer, caps, budgets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pays_the_gateway_in_usdc_and_in_tmai() {
    let (env, _api, proxy) = gateway_world("0.02").await;
    let c = client(&env, &["0.1 USDC", "5 TMAI"], &[]);
    let url = format!("{}/v2/trading-signals", proxy.url);
    let usdc = pay_in(&c, &url, "usdc").await.unwrap();
    assert_eq!(usdc.response.status(), 200);
    let paid = usdc.payment.expect("paid");
    assert_eq!(paid.display, "0.017 USDC");
    assert!(
        paid.settlement
            .as_ref()
            .is_some_and(|s| s.success && s.transaction.len() == 66)
    );

    let tmai = pay_in(&c, &url, "tmai").await.unwrap();
    assert_eq!(tmai.response.status(), 200);
    let paid = tmai.payment.expect("paid");
    assert_eq!(
        paid.display, "0.765 TMAI",
        "0.017 USD at 0.02 USD/TMAI less 10%"
    );
    assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(17_000u64));
    let tmai_got = env
        .dev
        .balance(env.dev.tmai.address, env.dev.pay_to)
        .await
        .unwrap();
    assert_eq!(
        tmai_got,
        U256::from(765u64) * U256::from(10u64).pow(U256::from(15u64))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_above_2_pow_64_are_paid_exactly() {
    let (env, _api, proxy) = gateway_world("0.0001").await;
    let c = client(&env, &["200 TMAI"], &["200 TMAI"]);
    let out = pay_in(&c, &format!("{}/v2/trading-signals", proxy.url), "tmai")
        .await
        .unwrap();
    assert_eq!(out.response.status(), 200);
    let want = U256::from(153u64) * U256::from(10u64).pow(U256::from(18u64));
    assert!(want > U256::from(u64::MAX));
    assert_eq!(
        out.payment.unwrap().amount,
        want,
        "0.017 USD at 0.0001 USD/TMAI less 10% = 153 TMAI"
    );
    assert_eq!(
        env.dev
            .balance(env.dev.tmai.address, env.dev.pay_to)
            .await
            .unwrap(),
        want
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_below_the_price_signs_nothing_and_names_the_limit() {
    let (env, _api, proxy) = gateway_world("0.02").await;
    let c = client(&env, &["0.01 USDC"], &[]);
    let err = pay_in(&c, &format!("{}/v2/trading-signals", proxy.url), "usdc")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ClientError::Policy(PolicyError::NoAcceptableOffer(_))),
        "{msg}"
    );
    assert!(msg.contains("over the per-call cap of 0.01 USDC"), "{msg}");
    assert!(
        msg.contains("no spend limit is set for"),
        "TMAI has no cap, so it is refused too: {msg}"
    );
    assert_eq!(env.usdc(env.dev.pay_to).await, U256::ZERO);
    assert_eq!(
        env.settlements_sent().await,
        0,
        "nothing was signed, so nothing settled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_holds_across_100_calls_including_concurrent_ones() {
    let (env, _api, proxy) = gateway_world("0.02").await;
    let c = client(&env, &["0.1 USDC"], &["0.5 USDC"]);
    let url = format!("{}/v2/trading-signals", proxy.url);
    let mut paid = 0usize;
    let mut over_budget = 0usize;
    for wave in 0..10 {
        let calls = (0..10).map(|_| pay_in(&c, &url, "usdc"));
        for r in futures::future::join_all(calls).await {
            match r {
                Ok(r) => {
                    assert_eq!(r.response.status(), 200, "wave {wave}");
                    assert!(r.payment.is_some());
                    paid += 1;
                }
                Err(ClientError::Policy(e)) => {
                    assert!(e.to_string().contains("budget of 0.5 USDC"), "{e}");
                    over_budget += 1;
                }
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
    }
    assert_eq!(paid, 29, "29 x 0.017 = 0.493 fits in 0.5; a 30th would not");
    assert_eq!(over_budget, 71);
    // A settlement answered pending counts as paid; it lands soon after.
    let want = U256::from(29u64 * 17_000);
    let within = std::time::Duration::from_secs(30);
    let got = tollgate_e2e::wait::until_eq(|| env.usdc(env.dev.pay_to), want, within).await;
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permit2_without_approval_is_a_412_and_costs_nothing() {
    let (env, _api, proxy) = gateway_world("0.02").await;
    let payer = env.payer(1).address();
    let tmai = env.dev.tmai.address;
    env.dev
        .mint(tmai, payer, U256::from(10u64).pow(U256::from(19u64)))
        .await
        .unwrap();
    let c = client_for(&env, 1, &["5 TMAI"], &["5 TMAI"]);
    let err = pay_in(&c, &format!("{}/v2/trading-signals", proxy.url), "tmai")
        .await
        .unwrap_err();
    match &err {
        ClientError::Declined { status, reason } => {
            assert_eq!(
                (*status, reason.as_str()),
                (412, "permit2_allowance_required"),
                "{err}"
            );
        }
        other => panic!("expected a 412 decline, got {other}"),
    }
    let key = tollgate_client::AssetKey::new("eip155:31337", &tmai.to_string());
    // The signed permit could still be settled if the payer approves Permit2 before its
    // deadline, so it stays reserved until the chain proves it expired unused.
    let held = c.spending().outstanding().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(c.spending().spent(&key).unwrap(), held[0].amount);
    assert_eq!(
        env.dev.balance(tmai, env.dev.pay_to).await.unwrap(),
        U256::ZERO
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_whose_answer_says_none_left_is_not_presented_again() {
    let (env, _api, proxy) = gateway_world("0.02").await;
    let c = client(&env, &["1 USDC"], &[]);
    let url = format!("{}/v2/price-prediction/aave", proxy.url);
    let first = pay_in(&c, &url, "usdc").await.unwrap();
    assert!(
        first.payment.is_some(),
        "the first call buys the bundle of 10"
    );
    for i in 1..10 {
        let r = pay_in(&c, &url, "usdc").await.unwrap();
        assert!(
            r.receipt_used && r.payment.is_none(),
            "call {i} on the receipt"
        );
        let left = r.response.headers()["tollgate-receipt-calls-left"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(left, (9 - i).to_string());
    }
    let next = pay_in(&c, &url, "usdc").await.unwrap();
    assert!(next.payment.is_some() && !next.receipt_used, "a new bundle");
    let metrics = proxy.gateway.metrics().render();
    assert!(
        !metrics.contains("receipt_exhausted"),
        "the spent receipt was presented again:\n{metrics}"
    );
}
