//! Gateway benchmark: requests/s and p99 for (a) the bare upstream, (b) the gateway answering
//! 402, (c) calls unlocked by a receipt, through the reverse proxy and through the Layer, with
//! receipts taken one call per store write (lease 1) or in leased blocks, on SQLite and (when
//! TOLLGATE_TEST_DATABASE_URL is set) PostgreSQL, (d) the same path unpriced through the same
//! proxy (the baseline for proxied receipt calls), and (e) the latency of paid calls (verify,
//! handler, settle) one after another. Real anvil, facilitator and stores.
//!
//! Run: `cargo bench -p tollgate-e2e --bench gateway` (BENCH_SECS and BENCH_CONCURRENCY tune it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tollgate_demo_api::Demo;
use tollgate_e2e::gateway::*;
use tollgate_e2e::{Db, Env, now};
use tollgate_gateway::{Claims, Gateway, PaywallLayer};
use tollgate_store::{NewReceipt, ReceiptStore};

const PATH: &str = "/v2/price-prediction/aave";

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `concurrency` workers against `url` for `secs`; returns (req/s, p99 ms).
async fn load(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
    want: u16,
) -> (f64, f64) {
    let secs = knob("BENCH_SECS", 3);
    let concurrency = knob("BENCH_CONCURRENCY", 32);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let workers = (0..concurrency).map(|_| {
        let http = http.clone();
        let url = url.to_string();
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut rb = http.get(&url);
                for (k, v) in &headers {
                    rb = rb.header(k, v);
                }
                let resp = rb.send().await.expect("request");
                assert_eq!(resp.status().as_u16(), want, "{url}");
                resp.bytes().await.expect("body");
                lat.push(t.elapsed());
            }
            lat
        })
    });
    let mut all: Vec<Duration> = Vec::new();
    for w in futures::future::join_all(workers).await {
        all.extend(w.expect("worker"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let p99 = all[(all.len() * 99 / 100).min(all.len() - 1)];
    (all.len() as f64 / elapsed, p99.as_secs_f64() * 1000.0)
}

/// Serves the demo router, bare or behind the Layer, on a free port.
async fn serve_app(demo: Arc<Demo>, gw: Option<Arc<Gateway>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let mut app = tollgate_demo_api::router(demo);
    if let Some(gw) = gw {
        app = app.layer(PaywallLayer::new(gw));
    }
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    url
}

/// A receipt with plenty of calls on `db_url`, and its token (signed with test key k1).
async fn receipt(db_url: &str, id: &str) -> String {
    let store = ReceiptStore::connect(db_url).await.expect("store");
    let exp = now() + 3600;
    let routes = vec!["prediction".to_string()];
    store
        .create(&NewReceipt {
            id: id.into(),
            payer: "0xbench".into(),
            routes: routes.clone(),
            calls_left: Some(1_000_000_000),
            expires_at: exp,
            payment_tx: None,
        })
        .await
        .expect("receipt row");
    ring(&["k1"], "k1").sign(&Claims {
        rid: id.into(),
        payer: "0xbench".into(),
        routes,
        exp,
    })
}

/// `n` paid calls one after another through `url`; returns (p50, max) in ms.
async fn paid_latency(http: &reqwest::Client, env: &Env, url: &str, n: usize) -> (f64, f64) {
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let accepted = first_accept(&get(http, url, &[]).await);
        let header = v2_header(env, i % 2, &accepted);
        let t = Instant::now();
        let a = get(http, url, &[("PAYMENT-SIGNATURE", header)]).await;
        lat.push(t.elapsed());
        assert_eq!(a.status, 200, "{a:?}");
    }
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(lat[n / 2]), ms(lat[n - 1]))
}

fn row(name: &str, (rps, p99): (f64, f64), base: f64) {
    println!(
        "{name:<44} {rps:>10.0} req/s   p99 {p99:>7.2} ms   {:>5.1}% of (a)",
        100.0 * rps / base
    );
}

async fn store_cases(
    env: &Env,
    db_url: &str,
    http: &reqwest::Client,
    demo: &Arc<Demo>,
    label: &str,
    base: f64,
) {
    for lease in [1u32, 100] {
        let toml = config_toml(env, "http://unused.invalid", lease, BUNDLE_CALLS)
            .replace(&env.db.url, db_url);
        let gw = gateway(env, &toml, &["k1"], "k1").await;
        let token = receipt(db_url, &format!("bench-{label}-{lease}")).await;
        let h = [("tollgate-receipt", token)];
        let layer = serve_app(demo.clone(), Some(gw.clone())).await;
        let r = load(http, &format!("{layer}{PATH}"), &h, 200).await;
        row(
            &format!("(c) layer, receipt, {label}, lease {lease}"),
            r,
            base,
        );
        let proxy = serve(gw, &serve_app(demo.clone(), None).await).await;
        let r = load(http, &format!("{}{PATH}", proxy.url), &h, 200).await;
        row(
            &format!("(c) proxy, receipt, {label}, lease {lease}"),
            r,
            base,
        );
    }
}

#[tokio::main]
async fn main() {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()
        .expect("client");
    let env = Env::start(Db::Sqlite).await.expect("environment");
    let demo = Demo::embedded();
    let bare = serve_app(demo.clone(), None).await;
    let base = load(&http, &format!("{bare}{PATH}"), &[], 200).await;
    row("(a) bare upstream", base, base.0);
    let toml = config_toml(&env, &bare, 1, BUNDLE_CALLS);
    let gw = gateway(&env, &toml, &["k1"], "k1").await;
    let layer = serve_app(demo.clone(), Some(gw.clone())).await;
    row(
        "(b) layer, 402",
        load(&http, &format!("{layer}{PATH}"), &[], 402).await,
        base.0,
    );
    let proxy = serve(gw.clone(), &bare).await;
    row(
        "(b) proxy, 402",
        load(&http, &format!("{}{PATH}", proxy.url), &[], 402).await,
        base.0,
    );
    let unpriced = toml.replace("/v2/price-prediction/{symbol}", "/v2/not-priced/{symbol}");
    let free = serve(gateway(&env, &unpriced, &["k1"], "k1").await, &bare).await;
    row(
        "(d) proxy, same path unpriced",
        load(&http, &format!("{}{PATH}", free.url), &[], 200).await,
        base.0,
    );
    let (p50, max) = paid_latency(&http, &env, &format!("{layer}/v2/trading-signals"), 20).await;
    println!(
        "(e) layer, paid calls one by one (20)          p50 {p50:>7.2} ms   max {max:>7.2} ms"
    );
    store_cases(&env, &env.db.url, &http, &demo, "sqlite", base.0).await;
    if let Some(pg) = tollgate_e2e::TestDb::create(Db::Postgres).await {
        store_cases(&env, &pg.url, &http, &demo, "postgres", base.0).await;
    }
}
