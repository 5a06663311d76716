//! Paid calls through the gateway proxy on real TCP sockets, over a real anvil and facilitator:
//! v2 and v1 payments, replays, concurrency, and handlers that fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy::primitives::U256;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get as route_get;
use serde_json::json;
use tokio::net::TcpListener;
use tollgate_e2e::gateway::*;
use tollgate_e2e::{Db, both_stores};
use tollgate_gateway::PaywallLayer;

const SIGNALS_PRICE: u64 = 17_000; // $0.017 in USDC atomic units

both_stores!(
    v2_payment_is_served_and_settled_once,
    w = |db| world(db, 1),
    {
        let url = format!("{}/v2/trading-signals", w.proxy.url);
        let payer = w.env.payer(0).address();
        let before = w.env.usdc(payer).await;
        let accepted = first_accept(&w.get(&url, &[]).await);
        assert_eq!(accepted["amount"], json!(SIGNALS_PRICE.to_string()));

        let header = v2_header(&w.env, 0, &accepted);
        let a = w.get(&url, &[("PAYMENT-SIGNATURE", header.clone())]).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.body["data"][0]["symbol"], json!("AAVE"));
        let settled = a.decoded("payment-response");
        assert_eq!(settled["success"], json!(true), "{settled}");
        assert_eq!(settled["payer"], json!(payer.to_checksum(None)));
        assert_eq!(w.env.usdc(payer).await, before - U256::from(SIGNALS_PRICE));
        assert_eq!(
            w.env.usdc(w.env.dev.pay_to).await,
            U256::from(SIGNALS_PRICE)
        );

        // The same header again is a replay: refused, handler not run, nothing moves.
        let again = w.get(&url, &[("PAYMENT-SIGNATURE", header)]).await;
        assert_eq!(again.status, 402, "{again:?}");
        assert_eq!(
            again.decoded("payment-required")["error"],
            json!("duplicate_settlement")
        );
        assert_eq!(w.api.demo.served(), 1);
        assert_eq!(w.env.settlements_sent().await, 1);
        assert_eq!(
            w.env.usdc(w.env.dev.pay_to).await,
            U256::from(SIGNALS_PRICE)
        );
    }
);

both_stores!(
    v1_payment_is_served_and_settled_once,
    w = |db| world(db, 1),
    {
        let url = format!("{}/v2/grades/aave", w.proxy.url);
        let challenge = w.get(&url, &[]).await;
        assert_eq!(challenge.body["x402Version"], json!(1));
        let price = challenge.body["accepts"][0]["maxAmountRequired"].clone();
        assert_eq!(price, json!("34000"));

        let a = w
            .get(
                &url,
                &[("X-PAYMENT", v1_header(&w.env, 1, &challenge.body))],
            )
            .await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.body["data"]["tm_grade"], json!(72));
        assert!(
            a.header("payment-response").is_none(),
            "v1 answers in X-PAYMENT-RESPONSE"
        );
        let settled = a.decoded("x-payment-response");
        assert_eq!(settled["success"], json!(true), "{settled}");
        assert_eq!(w.env.usdc(w.env.dev.pay_to).await, U256::from(34_000u64));
        assert_eq!(w.env.settlements_sent().await, 1);
    }
);

both_stores!(
    ten_identical_headers_run_the_handler_once,
    w = |db| world(db, 1),
    {
        let url = format!("{}/v2/trading-signals", w.proxy.url);
        let accepted = first_accept(&w.get(&url, &[]).await);
        let header = v2_header(&w.env, 0, &accepted);
        let sig = [("PAYMENT-SIGNATURE", header)];
        let answers = futures::future::join_all((0..10).map(|_| w.get(&url, &sig))).await;
        let served: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
        assert_eq!(served.len(), 1, "{answers:?}");
        for a in answers.iter().filter(|a| a.status != 200) {
            assert_eq!(a.status, 402);
            let why = a.decoded("payment-required")["error"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(
                why.starts_with("payment_in_flight") || why == "duplicate_settlement",
                "{why}"
            );
        }
        assert_eq!(w.api.demo.served(), 1, "the handler ran exactly once");
        assert_eq!(w.env.settlements_sent().await, 1);
        assert_eq!(
            w.env.usdc(w.env.dev.pay_to).await,
            U256::from(SIGNALS_PRICE)
        );
    }
);

both_stores!(failing_upstream_settles_nothing, w = |db| world(db, 1), {
    let url = format!("{}/v2/indices", w.proxy.url);
    let a = w.pay_first_offer(&url, 0).await;
    assert_eq!(a.status, 503, "the upstream's error passes through: {a:?}");
    assert_eq!(a.body["error"], json!("no_index_data"));
    assert!(a.header("payment-response").is_none());
    assert_eq!(w.env.settlements_sent().await, 0);
    assert_eq!(w.env.usdc(w.env.dev.pay_to).await, U256::ZERO);
});

both_stores!(
    mismatched_or_bad_payments_are_refused,
    w = |db| world(db, 1),
    {
        let url = format!("{}/v2/trading-signals", w.proxy.url);
        let mut accepted = first_accept(&w.get(&url, &[]).await);
        accepted["amount"] = json!("1");
        let cheap = w
            .get(
                &url,
                &[("PAYMENT-SIGNATURE", v2_header(&w.env, 0, &accepted))],
            )
            .await;
        assert_eq!(cheap.status, 402);
        assert_eq!(
            cheap.decoded("payment-required")["error"],
            json!("No matching payment requirements")
        );
        let junk = w
            .get(&url, &[("PAYMENT-SIGNATURE", "not base64!".into())])
            .await;
        assert_eq!(junk.status, 400);
        assert!(
            junk.body["error"]
                .as_str()
                .unwrap()
                .starts_with("invalid_payload"),
            "{junk:?}"
        );
        assert_eq!(w.api.demo.served(), 0);
        assert_eq!(w.env.settlements_sent().await, 0);
    }
);

// The Layer inside an axum app: a handler answering 500 is never settled; one answering 200 is.
both_stores!(
    layer_settles_only_successful_handlers,
    w = |db| world(db, 1),
    {
        let runs = Arc::new(AtomicU64::new(0));
        let r = runs.clone();
        let app = Router::new()
            .route(
                "/v2/trading-signals",
                route_get(move || {
                    let r = r.clone();
                    async move {
                        r.fetch_add(1, Ordering::SeqCst);
                        (StatusCode::INTERNAL_SERVER_ERROR, "model crashed")
                    }
                }),
            )
            .route("/v2/grades/{symbol}", route_get(|| async { "graded" }))
            .layer(PaywallLayer::new(w.proxy.gateway.clone()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let url = format!("{base}/v2/trading-signals");
        let a = w.pay_first_offer(&url, 0).await;
        assert_eq!(a.status, 500);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(w.env.settlements_sent().await, 0);

        let url = format!("{base}/v2/grades/x");
        let ok = w.pay_first_offer(&url, 1).await;
        assert_eq!((ok.status, ok.body.clone()), (200, json!("graded")));
        assert_eq!(w.env.settlements_sent().await, 1);
        server.abort();
    }
);

// A settlement still waiting for its receipt is treated as paid: served, never asked to pay again.
both_stores!(settlement_pending_is_served, |db: Db| async move {
    let opts = tollgate_e2e::EnvOptions {
        block_time: Some(2),
        receipt_timeout: std::time::Duration::from_millis(1),
        ..Default::default()
    };
    let Some(env) = tollgate_e2e::Env::start_with(db, opts).await else {
        return;
    };
    let w = world_on(env, 1).await;
    let url = format!("{}/v2/trading-signals", w.proxy.url);
    w.pay_while_pending(&url, 0).await;
    assert_eq!(w.api.demo.served(), 1);
});

/// The gateway of `env` in front of an axum app whose handler at `path` (of route `route`,
/// capped at one call under way) counts its runs and waits for a `release` permit after
/// adding an `entered` one; the app's URL for `uri`.
struct HeldRoute {
    gw: Arc<tollgate_gateway::Gateway>,
    url: String,
    entered: Arc<tokio::sync::Semaphore>,
    release: Arc<tokio::sync::Semaphore>,
    runs: Arc<AtomicU64>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl HeldRoute {
    async fn start(env: &tollgate_e2e::Env, route: &str, path: &str, uri: &str) -> Self {
        let toml = config_toml(env, "http://unused.invalid", 1, BUNDLE_CALLS).replace(
            &format!("name = \"{route}\"\n"),
            &format!("name = \"{route}\"\nmax_concurrent = 1\n"),
        ) + "\n[limits]\nqueue_ms = 50\n";
        let gw = gateway(env, &toml, &["k1"], "k1").await;
        let (entered, release) = (
            Arc::new(tokio::sync::Semaphore::new(0)),
            Arc::new(tokio::sync::Semaphore::new(0)),
        );
        let runs = Arc::new(AtomicU64::new(0));
        let (e, r, counted) = (entered.clone(), release.clone(), runs.clone());
        let app = Router::new()
            .route(
                path,
                route_get(move || {
                    let (e, r) = (e.clone(), r.clone());
                    counted.fetch_add(1, Ordering::SeqCst);
                    async move {
                        e.add_permits(1);
                        r.acquire().await.expect("release").forget();
                        axum::Json(json!({ "value": 7 }))
                    }
                }),
            )
            .layer(PaywallLayer::new(gw.clone()));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}{uri}", listener.local_addr().expect("addr"));
        let served = tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            gw,
            url,
            entered,
            release,
            runs,
            served,
        }
    }

    /// A call with `headers` that holds the route's one slot until released.
    async fn hold(
        &self,
        http: &reqwest::Client,
        headers: Vec<(&'static str, String)>,
    ) -> tokio::task::JoinHandle<Answer> {
        let (http, url) = (http.clone(), self.url.clone());
        let held = tokio::spawn(async move {
            let h: Vec<(&str, String)> = headers;
            get(&http, &url, &h).await
        });
        self.entered
            .acquire()
            .await
            .expect("the call reached its handler")
            .forget();
        held
    }

    /// The value of the metric line starting with `prefix`.
    fn metric(&self, prefix: &str) -> String {
        let metrics = self.gw.metrics().render();
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in:\n{metrics}"))
            .rsplit(' ')
            .next()
            .expect("a value")
            .to_string()
    }
}

/// A client whose calls fail after 30 s, so a call stuck on a held handler fails the test.
fn patient_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A paid call refused `upstream_busy` (its route at its cap) ran no handler: the metrics count
/// it as a refusal by that reason, and the handler runs only as often as the upstream saw calls.
#[tokio::test]
async fn a_call_refused_busy_is_not_counted_as_a_handler_run() {
    let env = tollgate_e2e::Env::start(Db::Sqlite)
        .await
        .expect("SQLite always runs");
    let h = HeldRoute::start(&env, "indices", "/v2/indices", "/v2/indices").await;
    let http = patient_client();
    let accepted = first_accept(&get(&http, &h.url, &[]).await);
    let first = vec![("PAYMENT-SIGNATURE", v2_header(&env, 0, &accepted))];
    let second = [("PAYMENT-SIGNATURE", v2_header(&env, 1, &accepted))];
    let held = h.hold(&http, first).await;
    let busy = get(&http, &h.url, &second).await;
    assert_eq!(busy.status, 503, "{busy:?}");
    assert_eq!(busy.body["error"], "upstream_busy");
    h.release.add_permits(1);
    assert_eq!(held.await.expect("first call").status, 200);
    assert_eq!(h.runs.load(Ordering::SeqCst), 1);
    assert_eq!(
        h.metric("tollgate_gateway_handler_runs_total{route=\"indices\"}"),
        "1"
    );
    assert_eq!(
        h.metric("tollgate_gateway_refusals_total{reason=\"upstream_busy\",route=\"indices\"}"),
        "1"
    );
    h.served.abort();
}

/// A receipt call refused `upstream_busy` keeps its call: the bundle still serves every call
/// it sold, and the refusal is counted by its reason, not as a handler run.
#[tokio::test]
async fn a_receipt_call_refused_busy_keeps_its_call() {
    let env = tollgate_e2e::Env::start(Db::Sqlite)
        .await
        .expect("SQLite always runs");
    let path = "/v2/price-prediction/{symbol}";
    let h = HeldRoute::start(&env, "prediction", path, "/v2/price-prediction/AAVE").await;
    let http = patient_client();
    let accepted = first_accept(&get(&http, &h.url, &[]).await);
    h.release.add_permits(1);
    let paid = get(
        &http,
        &h.url,
        &[("PAYMENT-SIGNATURE", v2_header(&env, 0, &accepted))],
    )
    .await;
    assert_eq!(paid.status, 200, "{paid:?}");
    h.entered
        .acquire()
        .await
        .expect("the paid call ran")
        .forget();
    let receipt = paid.header("tollgate-receipt").expect("receipt issued");

    // The bundle is 3 calls, the paying one among them: two are left.
    let held = h
        .hold(&http, vec![("TOLLGATE-RECEIPT", receipt.clone())])
        .await;
    let busy = get(&http, &h.url, &[("TOLLGATE-RECEIPT", receipt.clone())]).await;
    assert_eq!(busy.status, 503, "{busy:?}");
    assert_eq!(busy.body["error"], "upstream_busy");
    h.release.add_permits(1);
    assert_eq!(held.await.expect("held call").status, 200);
    h.release.add_permits(1);
    let last = get(&http, &h.url, &[("TOLLGATE-RECEIPT", receipt.clone())]).await;
    assert_eq!(last.status, 200, "the busy refusal spent nothing: {last:?}");
    let spent = get(&http, &h.url, &[("TOLLGATE-RECEIPT", receipt)]).await;
    assert_eq!(spent.status, 402, "{spent:?}");
    assert_eq!(h.runs.load(Ordering::SeqCst), 3);
    assert_eq!(
        h.metric("tollgate_gateway_refusals_total{reason=\"upstream_busy\",route=\"prediction\"}"),
        "1"
    );
    h.served.abort();
}
