//! A bundle bought by a payment whose settle answer was lost on the wire: the facilitator
//! settled, the gateway never heard. The payer's retry of the same payment gets the kept answer
//! with the bundle's receipt, the handler having run once, and that receipt unlocks calls. The
//! same holds when the facilitator answered that it could not finish the settlement.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy::primitives::U256;
use alloy::providers::Provider;
use axum::Router;
use axum::routing::get as route_get;
use serde_json::json;
use tokio::net::TcpListener;
use tollgate_e2e::gateway::*;
use tollgate_e2e::tcp_proxy::Mode;
use tollgate_e2e::{Db, Env};
use tollgate_gateway::PaywallLayer;
use tollgate_proto::reason;

#[tokio::test]
async fn a_bundle_whose_settle_answer_was_lost_reaches_its_payer_on_retry() {
    let env = Env::start(Db::Sqlite).await.expect("SQLite is always here");
    let toml = config_toml(&env, "http://unused.invalid", 1, BUNDLE_CALLS);
    let (link, gw) = gateway_over_link(&env, &toml).await;

    // The handler runs after verify and before settle: its first run cuts the facilitator's
    // answers, so the settle it is about to get goes through unheard.
    let cut = CutOnFirstRun::new(link.clone());
    let handler = cut.clone();
    let app = Router::new()
        .route(
            "/v2/price-prediction/{symbol}",
            route_get(move || {
                handler.ran();
                async { axum::Json(json!({ "scenarios": 3 })) }
            }),
        )
        .layer(PaywallLayer::new(gw));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "http://{}/v2/price-prediction/aave",
        listener.local_addr().expect("addr")
    );
    let served = tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::new();
    let accepted = first_accept(&get(&http, &url, &[]).await);
    let header = v2_header(&env, 0, &accepted);
    let pay = [("PAYMENT-SIGNATURE", header)];
    let lost = get(&http, &url, &pay).await;
    assert_eq!(lost.status, 502, "{lost:?}");
    assert_eq!(lost.body["error"], "facilitator_unavailable");
    assert_eq!(cut.runs(), 1);

    link.set(Mode::Forward);
    let retry = get(&http, &url, &pay).await;
    assert_eq!(retry.status, 200, "{retry:?}");
    assert_eq!(cut.runs(), 1, "the kept answer, not a second run");
    assert_eq!(retry.body["scenarios"], 3);
    let token = retry
        .header("tollgate-receipt")
        .expect("the bundle the payment bought");
    assert_eq!(retry.body["tollgate_receipt"], token.as_str());
    assert!(retry.header("payment-response").is_some());

    let again = get(&http, &url, &pay).await;
    assert_ne!(again.status, 200, "a replay was served: {again:?}");
    // The paid call was the bundle's first; the receipt unlocks the rest, then no more.
    for _ in 1..BUNDLE_CALLS {
        let used = get(&http, &url, &[("tollgate-receipt", token.clone())]).await;
        assert_eq!(used.status, 200, "{used:?}");
    }
    let spent = get(&http, &url, &[("tollgate-receipt", token)]).await;
    assert_eq!(spent.status, 402, "the bundle held {BUNDLE_CALLS} calls");
    assert_eq!(cut.runs(), BUNDLE_CALLS);
    served.abort();
}

/// The node refused the settlement (its signer had no gas left), so the facilitator answered
/// `unexpected_settle_error` after the handler had run. The answer is kept all the same: the
/// payer's retry of that payment, once the signer has gas again, settles and gets it without a
/// second run, and a further replay gets nothing.
#[tokio::test]
async fn a_settle_the_facilitator_could_not_finish_is_retried_without_a_second_run() {
    let env = Env::start(Db::Sqlite).await.expect("SQLite is always here");
    let toml = config_toml(&env, "http://unused.invalid", 1, BUNDLE_CALLS);
    let gw = gateway(&env, &toml, &["k1"], "k1").await;
    let runs = Arc::new(AtomicU64::new(0));
    let counted = runs.clone();
    let app = Router::new()
        .route(
            "/v2/indices",
            route_get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { axum::Json(json!({ "indices": 7 })) }
            }),
        )
        .layer(PaywallLayer::new(gw));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v2/indices", listener.local_addr().expect("addr"));
    let served = tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::new();
    let accepted = first_accept(&get(&http, &url, &[]).await);
    let pay = [("PAYMENT-SIGNATURE", v2_header(&env, 0, &accepted))];
    let signer = env.dev.facilitator.address();
    let gas = env
        .dev
        .anvil
        .provider()
        .get_balance(signer)
        .await
        .expect("balance");
    env.dev.anvil.set_balance(signer, U256::ZERO).await.unwrap();
    let refused = get(&http, &url, &pay).await;
    assert_eq!(refused.status, 402, "{refused:?}");
    assert_eq!(refused.body["error"], reason::UNEXPECTED_SETTLE_ERROR);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    env.dev.anvil.set_balance(signer, gas).await.unwrap();
    let retry = get(&http, &url, &pay).await;
    assert_eq!(retry.status, 200, "{retry:?}");
    assert_eq!(retry.body["indices"], 7);
    assert!(retry.header("payment-response").is_some());
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the kept answer, not a second run"
    );
    let again = get(&http, &url, &pay).await;
    assert_ne!(again.status, 200, "a replay was served: {again:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    served.abort();
}
