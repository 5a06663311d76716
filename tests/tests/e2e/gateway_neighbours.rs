//! A gateway whose neighbours fail: a facilitator that is down when the gateway starts, an
//! upstream that never answers, one that stalls after its headers, and one that is not there.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use serde_json::json;
use tollgate_e2e::gateway::*;
use tollgate_e2e::tcp_proxy::{Mode, TcpProxy};
use tollgate_e2e::{Api, Db, Env, now};
use tollgate_gateway::config::UpstreamTimeouts;
use tollgate_gateway::{Claims, Gateway, GatewayConfig, Remote};
use tollgate_store::{NewReceipt, ReceiptStore};

const SIGNALS_PRICE: u64 = 17_000;

/// The gateway starts while its facilitator refuses every connection: unpriced routes are
/// served, priced ones answer 503 with Retry-After (nothing offered that may not settle), and
/// once the facilitator answers, priced routes challenge and charge as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_starts_with_its_facilitator_down_and_charges_once_it_is_up() {
    let env = Env::start(Db::Sqlite).await.expect("sqlite");
    let api = Api::serve(env.facilitator.clone()).await;
    let door = TcpProxy::to_url(&api.url).await;
    door.set(Mode::Close);
    let remote = Remote::new(&format!("http://{}", door.addr())).expect("facilitator url");
    let demo = start_demo().await;
    let toml = config_toml(&env, &demo.url, 1, BUNDLE_CALLS);
    let gw = gateway_with(Arc::new(remote), &toml, &["k1"], "k1").await;
    assert!(!gw.offering());
    let proxy = serve(gw, &demo.url).await;
    let http = reqwest::Client::new();

    let free = get(&http, &format!("{}/v2/tokens", proxy.url), &[]).await;
    assert_eq!(free.status, 200, "{free:?}");
    let url = format!("{}/v2/trading-signals", proxy.url);
    let down = get(&http, &url, &[]).await;
    assert_eq!(down.status, 503, "{down:?}");
    assert_eq!(down.body["error"], json!("facilitator_unavailable"));
    let wait: u64 = down
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=10).contains(&wait), "Retry-After {wait}");
    // A payment is not looked at either: nothing was offered that it could answer.
    let offer = json!({"scheme": "exact", "network": "eip155:31337", "amount": "17000"});
    let header = v2_header(&env, 0, &offer);
    let paying = get(&http, &url, &[("PAYMENT-SIGNATURE", header)]).await;
    assert_eq!(paying.status, 503, "{paying:?}");
    assert_eq!(demo.demo.served(), 0, "no priced data left the API");
    // A bundle bought earlier needs no facilitator: its calls are served.
    let token = bundle(&env.db.url).await;
    let prediction = format!("{}/v2/price-prediction/aave", proxy.url);
    let on_receipt = get(&http, &prediction, &[("tollgate-receipt", token)]).await;
    assert_eq!(on_receipt.status, 200, "{on_receipt:?}");
    assert_eq!(demo.demo.served(), 1);

    door.set(Mode::Forward);
    let deadline = Instant::now() + Duration::from_secs(30);
    let challenge = loop {
        let a = get(&http, &url, &[]).await;
        if a.status != 503 {
            break a;
        }
        assert!(Instant::now() < deadline, "still 503 after 30 s: {a:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(challenge.status, 402, "{challenge:?}");
    assert!(proxy.gateway.offering());

    let payer = env.payer(0).address();
    let before = env.usdc(payer).await;
    let accepted = first_accept(&challenge);
    let header = v2_header(&env, 0, &accepted);
    let paid = get(&http, &url, &[("PAYMENT-SIGNATURE", header)]).await;
    assert_eq!(paid.status, 200, "{paid:?}");
    assert_eq!(paid.decoded("payment-response")["success"], json!(true));
    assert_eq!(env.usdc(payer).await, before - U256::from(SIGNALS_PRICE));
}

/// A receipt for two prediction calls in the gateway's store; its token (test key k1).
async fn bundle(db_url: &str) -> String {
    let claims = Claims {
        rid: "bought-earlier".into(),
        payer: "0xpayer".into(),
        routes: vec!["prediction".into()],
        exp: now() + 3600,
    };
    let store = ReceiptStore::connect(db_url).await.expect("store");
    store
        .create(&NewReceipt {
            id: claims.rid.clone(),
            payer: claims.payer.clone(),
            routes: claims.routes.clone(),
            calls_left: Some(2),
            expires_at: claims.exp,
            payment_tx: None,
        })
        .await
        .expect("receipt row");
    ring(&["k1"], "k1").sign(&claims)
}

/// An upstream that accepts connections and never answers: the caller gets 504
/// `upstream_timeout` once the bound passes, on an unpriced route (the proxy's bound) and on a
/// paid one (its route's own, shorter bound), and the payer is not charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_never_answers_gets_504_within_the_bound() {
    let env = Env::start(Db::Sqlite).await.expect("sqlite");
    let demo = start_demo().await;
    let hung = TcpProxy::to_url(&demo.url).await;
    hung.set(Mode::Hang);
    let upstream = format!("http://{}", hung.addr());
    let proxy = bounded_proxy(&env, &upstream, 5).await;
    let http = reqwest::Client::new();

    let started = Instant::now();
    let free = get(&http, &format!("{}/v2/tokens", proxy.url), &[]).await;
    let waited = started.elapsed();
    assert_eq!(free.status, 504, "{free:?}");
    assert_eq!(free.body["error"], json!("upstream_timeout"));
    assert!(
        (Duration::from_secs(5)..Duration::from_secs(15)).contains(&waited),
        "unpriced: {waited:?}"
    );

    let bound = Duration::from_secs(1)..Duration::from_secs(5);
    paid_call_fails_uncharged(&env, &proxy.url, 504, "upstream_timeout", bound).await;
}

/// An upstream that sends its headers and then stalls: an unpriced answer is cut off at the
/// proxy's bound (the caller sees its body fail), a paid one at its route's bound as 502
/// `upstream_response_incomplete`, and the payer is not charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_stalls_after_its_headers_is_cut_off_at_the_bound() {
    let env = Env::start(Db::Sqlite).await.expect("sqlite");
    let stalls = || async {
        let never = futures::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
        axum::body::Body::from_stream(never)
    };
    let app = axum::Router::new().fallback(stalls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream = format!("http://{}", listener.local_addr().expect("addr"));
    let served = tokio::spawn(async move { axum::serve(listener, app).await });
    let proxy = bounded_proxy(&env, &upstream, 3).await;
    let http = reqwest::Client::new();

    let started = Instant::now();
    let free = http
        .get(format!("{}/v2/tokens", proxy.url))
        .send()
        .await
        .expect("headers come through");
    assert_eq!(free.status(), 200);
    assert!(free.bytes().await.is_err(), "the body is cut off");
    let waited = started.elapsed();
    assert!(
        (Duration::from_secs(3)..Duration::from_secs(10)).contains(&waited),
        "unpriced: {waited:?}"
    );

    let bound = Duration::from_secs(1)..Duration::from_secs(3);
    paid_call_fails_uncharged(&env, &proxy.url, 502, "upstream_response_incomplete", bound).await;
    served.abort();
}

/// A proxy in front of `upstream` that waits on it `total_seconds` at most, and 1 s on the
/// signals route (its own `timeout_seconds`).
async fn bounded_proxy(env: &Env, upstream: &str, total_seconds: u64) -> Proxy {
    let toml = config_toml(env, upstream, 1, BUNDLE_CALLS).replace(
        "name = \"signals\"\n",
        "name = \"signals\"\ntimeout_seconds = 1\n",
    );
    let gw = gateway(env, &toml, &["k1"], "k1").await;
    let limits = UpstreamTimeouts {
        connect_ms: 1_000,
        total_seconds,
    };
    serve_within(gw, upstream, &limits).await
}

/// A paid call on the signals route (bounded at 1 s by its own timeout) fails with `status` and
/// `error` within `bound`, and the payer is not charged.
async fn paid_call_fails_uncharged(
    env: &Env,
    proxy: &str,
    status: u16,
    error: &str,
    bound: std::ops::Range<Duration>,
) {
    let http = reqwest::Client::new();
    let url = format!("{proxy}/v2/trading-signals");
    let payer = env.payer(0).address();
    let before = env.usdc(payer).await;
    let accepted = first_accept(&get(&http, &url, &[]).await);
    let header = v2_header(env, 0, &accepted);
    let started = Instant::now();
    let paid = get(&http, &url, &[("PAYMENT-SIGNATURE", header)]).await;
    let waited = started.elapsed();
    assert_eq!(paid.status, status, "{paid:?}");
    assert_eq!(paid.body["error"], json!(error));
    assert!(bound.contains(&waited), "the route's own bound: {waited:?}");
    assert_eq!(env.usdc(payer).await, before, "nothing charged");
    assert_eq!(env.settlements_sent().await, 0);
}

/// An upstream with nothing listening: 502 `upstream_unreachable` at once, naming no address.
#[tokio::test]
async fn an_upstream_that_is_not_there_gets_502() {
    let env = Env::start(Db::Sqlite).await.expect("sqlite");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let upstream = format!("http://127.0.0.1:{port}");
    let gw = gateway(
        &env,
        &config_toml(&env, &upstream, 1, BUNDLE_CALLS),
        &["k1"],
        "k1",
    )
    .await;
    let proxy = serve(gw, &upstream).await;
    let http = reqwest::Client::new();
    let free = get(&http, &format!("{}/v2/tokens", proxy.url), &[]).await;
    assert_eq!(free.status, 502, "{free:?}");
    assert_eq!(free.body["error"], json!("upstream_unreachable"));
    assert!(!format!("{free:?}").contains(&port.to_string()), "{free:?}");
}

/// A facilitator that answers and refuses this gateway (a proxy in front of it wanting
/// credentials) is a setting to fix: the gateway does not start.
#[tokio::test]
async fn a_facilitator_that_refuses_the_gateway_stops_it_at_start() {
    let env = Env::start(Db::Sqlite).await.expect("sqlite");
    let app = axum::Router::new().route(
        "/supported",
        axum::routing::get(|| async { axum::http::StatusCode::UNAUTHORIZED }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let cfg = GatewayConfig::parse(&config_toml(&env, "http://127.0.0.1:9", 1, BUNDLE_CALLS))
        .expect("config");
    let remote = Remote::new(&url).expect("facilitator url");
    let built = Gateway::new(&cfg, Arc::new(remote), None).await;
    let Err(e) = built else {
        panic!("a gateway built on a refusing facilitator")
    };
    assert!(e.to_string().contains("refused this gateway (401)"), "{e}");
}
