//! Gateway benchmark: requests/s, p50 and p99 for (a) the bare upstream, (b) the gateway
//! answering 402, (c) calls unlocked by a receipt, through the reverse proxy and through the
//! Layer, with the default receipt settings, on SQLite and (when TOLLGATE_TEST_DATABASE_URL is
//! set) PostgreSQL, (d) the same path unpriced through the same Layer and proxy (the baselines
//! for receipt calls) and through nginx with a keep-alive upstream (the baseline for the proxy;
//! `scripts/bench.sh` installs Debian's nginx when it is missing), and (e) the latency of paid
//! calls (verify, handler, settle) one after another. Real anvil, facilitator and stores.
//!
//! Every case is measured once per round, in turn, and the median of the rounds is reported.
//!
//! Run: `cargo bench -p tollgate-e2e --bench gateway` (BENCH_SECS, BENCH_ROUNDS,
//! BENCH_CONCURRENCY tune it; BENCH_LEASE adds receipt cases with that lease; BENCH_ONLY picks
//! cases).

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

/// One load run: requests/s and latency percentiles in ms.
#[derive(Clone, Copy)]
struct Run {
    rps: f64,
    p50: f64,
    p99: f64,
}

/// Runs `concurrency` workers against `url` for `secs`.
async fn load(http: &reqwest::Client, url: &str, headers: &[(&str, String)], want: u16) -> Run {
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
    let at = |pct: usize| all[(all.len() * pct / 100).min(all.len() - 1)].as_secs_f64() * 1000.0;
    Run {
        rps: all.len() as f64 / elapsed,
        p50: at(50),
        p99: at(99),
    }
}

/// nginx from the system in front of `upstream` (keep-alive pool, no access log), as an
/// operator runs it; stopped when dropped.
struct Nginx {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master then stops its workers, which would otherwise
        // outlive the bench (holding its stdout open for whoever reads it).
        if !tollgate_e2e::process::signal(self.child.id(), "TERM") {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// Starts nginx; `None` (with a note) when it is not installed.
    async fn start(upstream: &str) -> Option<Self> {
        let Some(bin) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
        else {
            println!("nginx is not installed: its case is left out (scripts/bench.sh installs it)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = tempfile::tempdir().expect("nginx dir");
        let up = upstream.trim_start_matches("http://");
        let d = dir.path().display();
        let conf = format!(
            "worker_processes auto;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               upstream up {{ server {up}; keepalive 256; }}\n\
               server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://up;\n\
                 proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n    }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).expect("nginx.conf");
        let child = std::process::Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .spawn()
            .expect("nginx starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(Self {
            child,
            url,
            _dir: dir,
        })
    }
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

/// One measured case: a URL, the headers to send and the status every answer must have.
struct Case {
    name: String,
    url: String,
    headers: Vec<(&'static str, String)>,
    want: u16,
    /// Index of the case this one is compared with, besides the bare upstream.
    versus: Option<usize>,
    runs: Vec<Run>,
}

impl Case {
    fn new(name: impl Into<String>, url: String, want: u16) -> Self {
        Self {
            name: name.into(),
            url,
            headers: Vec::new(),
            want,
            versus: None,
            runs: Vec::new(),
        }
    }

    /// The median run by throughput.
    fn median(&self) -> Run {
        let mut r = self.runs.clone();
        r.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        r[r.len() / 2]
    }
}

/// Measures every case once per round, in turn, for `BENCH_ROUNDS` rounds: a neighbour's
/// burst of CPU on this shared machine then lands on every case alike, not on one.
async fn measure(http: &reqwest::Client, cases: &mut [Case]) {
    // BENCH_ONLY=text measures the bare upstream and the cases whose name holds `text` (to
    // profile one path); the others are left out of the report.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for _ in 0..knob("BENCH_ROUNDS", 3) {
        for (i, c) in cases.iter_mut().enumerate() {
            if i > 0 && !c.name.contains(&only) {
                continue;
            }
            let h: Vec<(&str, String)> = c.headers.iter().map(|(k, v)| (*k, v.clone())).collect();
            c.runs.push(load(http, &c.url, &h, c.want).await);
        }
    }
}

fn report(cases: &[Case]) {
    let base = cases[0].median().rps;
    for c in cases.iter().filter(|c| !c.runs.is_empty()) {
        let Run { rps, p50, p99 } = c.median();
        let versus = c.versus.filter(|v| !cases[*v].runs.is_empty());
        let versus = versus.map_or(String::new(), |v| {
            let other = &cases[v];
            format!(
                "   {:>5.1}% of {}",
                100.0 * rps / other.median().rps,
                other.name.split(',').next().unwrap_or("")
            )
        });
        println!(
            "{:<44} {rps:>10.0} req/s   p50 {p50:>6.2} ms   p99 {p99:>7.2} ms   {:>5.1}% of (a){versus}",
            c.name,
            100.0 * rps / base
        );
    }
}

/// The unpriced cases receipt-served calls are compared with: (Layer, proxy) indexes.
#[derive(Clone, Copy)]
struct Unpriced {
    layer: usize,
    proxy: usize,
}

/// The receipt cases on one store, Layer and proxy, with the receipts section as an operator
/// leaves it (no `lease` set): the defaults are what the figures are about. BENCH_LEASE adds
/// the same cases with that lease.
async fn store_cases(
    env: &Env,
    db_url: &str,
    demo: &Arc<Demo>,
    label: &str,
    unpriced: Unpriced,
    proxies: &mut Vec<Proxy>,
) -> Vec<Case> {
    let mut cases = Vec::new();
    let leases = std::env::var("BENCH_LEASE")
        .ok()
        .and_then(|v| v.parse().ok());
    for lease in std::iter::once(None).chain(leases.map(Some)) {
        let toml = config_toml(
            env,
            "http://unused.invalid",
            lease.unwrap_or(1),
            BUNDLE_CALLS,
        )
        .replace(&env.db.url, db_url);
        let (toml, what) = match lease {
            None => (toml.replace("lease = 1\n", ""), "defaults".to_string()),
            Some(n) => (toml, format!("lease {n}")),
        };
        let gw = gateway(env, &toml, &["k1"], "k1").await;
        let token = receipt(db_url, &format!("bench-{label}-{what}")).await;
        let layer = serve_app(demo.clone(), Some(gw.clone())).await;
        let mut c = Case::new(
            format!("(c) layer, receipt, {label}, {what}"),
            format!("{layer}{PATH}"),
            200,
        );
        c.headers = vec![("tollgate-receipt", token.clone())];
        c.versus = Some(unpriced.layer);
        cases.push(c);
        let proxy = serve(gw, &serve_app(demo.clone(), None).await).await;
        let mut c = Case::new(
            format!("(c) proxy, receipt, {label}, {what}"),
            format!("{}{PATH}", proxy.url),
            200,
        );
        c.headers = vec![("tollgate-receipt", token)];
        c.versus = Some(unpriced.proxy);
        cases.push(c);
        proxies.push(proxy);
    }
    cases
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
    let toml = config_toml(&env, &bare, 1, BUNDLE_CALLS);
    let gw = gateway(&env, &toml, &["k1"], "k1").await;
    let layer = serve_app(demo.clone(), Some(gw.clone())).await;
    let proxy = serve(gw.clone(), &bare).await;
    let unpriced = toml.replace("/v2/price-prediction/{symbol}", "/v2/not-priced/{symbol}");
    let free_gw = gateway(&env, &unpriced, &["k1"], "k1").await;
    let free_layer = serve_app(demo.clone(), Some(free_gw.clone())).await;
    let free = serve(free_gw, &bare).await;
    let nginx = Nginx::start(&bare).await;
    let mut cases = vec![
        Case::new("(a) bare upstream", format!("{bare}{PATH}"), 200),
        Case::new("(b) layer, 402", format!("{layer}{PATH}"), 402),
        Case::new("(b) proxy, 402", format!("{}{PATH}", proxy.url), 402),
        Case::new(
            "(d) layer, same path unpriced",
            format!("{free_layer}{PATH}"),
            200,
        ),
        Case::new(
            "(d) proxy, same path unpriced",
            format!("{}{PATH}", free.url),
            200,
        ),
    ];
    let unpriced = Unpriced {
        layer: cases.len() - 2,
        proxy: cases.len() - 1,
    };
    if let Some(n) = &nginx {
        cases.push(Case::new(
            "(d) nginx, same path",
            format!("{}{PATH}", n.url),
            200,
        ));
        cases[unpriced.proxy].versus = Some(cases.len() - 1);
    }
    let mut proxies = Vec::new();
    cases.extend(store_cases(&env, &env.db.url, &demo, "sqlite", unpriced, &mut proxies).await);
    let pg = tollgate_e2e::TestDb::create(Db::Postgres).await;
    if let Some(pg) = &pg {
        cases.extend(store_cases(&env, &pg.url, &demo, "postgres", unpriced, &mut proxies).await);
    }
    measure(&http, &mut cases).await;
    println!(
        "median of {} interleaved runs of {} s each, {} connections",
        knob("BENCH_ROUNDS", 3),
        knob("BENCH_SECS", 3),
        knob("BENCH_CONCURRENCY", 32)
    );
    report(&cases);
    let (p50, max) = paid_latency(&http, &env, &format!("{layer}/v2/trading-signals"), 20).await;
    println!(
        "(e) layer, paid calls one by one (20)          p50 {p50:>7.2} ms   max {max:>7.2} ms"
    );
}
