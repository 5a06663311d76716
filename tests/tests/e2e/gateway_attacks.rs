//! Attacks on the paywall, through the reverse proxy and through the Layer, on real sockets over
//! a real anvil and facilitator: respelled paths, copies of one payment sent to two instances at
//! once, a lost answer, a failing upstream on a receipt call, secrets sent upstream. The upstream
//! counts every request it serves, and every test asserts that count.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alloy::primitives::U256;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get as route_get;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;
use tollgate_e2e::gateway::*;
use tollgate_e2e::{Db, Env, Permit2Payment, both_stores};
use tollgate_gateway::{Gateway, PaywallLayer};
use tollgate_proto::codec::encode_header;

/// Headers that carry money or a receipt and must never reach an upstream.
const SECRET_HEADERS: [&str; 3] = ["payment-signature", "x-payment", "tollgate-receipt"];

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
}

/// An upstream that answers every path with 200 JSON naming the path, records what it served,
/// and can be told to fail (503), to redirect paid calls elsewhere, or to hold an answer back.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
    fail: AtomicBool,
    redirect_to: std::sync::Mutex<Option<String>>,
    hold: AtomicBool,
    release: Notify,
}

impl Recorder {
    async fn served(&self) -> usize {
        self.seen.lock().await.len()
    }
}

async fn record(State(r): State<Arc<Recorder>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    r.seen.lock().await.push(Seen {
        path: path.clone(),
        headers: req.headers().clone(),
    });
    if r.hold.load(Ordering::SeqCst) {
        r.release.notified().await;
    }
    if r.fail.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "upstream down").into_response();
    }
    let target = r.redirect_to.lock().expect("lock").clone();
    if let Some(to) = target {
        return (StatusCode::TEMPORARY_REDIRECT, [("location", to)]).into_response();
    }
    axum::Json(json!({"data": {"path": path}})).into_response()
}

struct Upstream {
    rec: Arc<Recorder>,
    url: String,
    task: JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_router(app: Router) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move { axum::serve(listener, app).await.expect("serves") });
    (url, task)
}

async fn start_upstream() -> Upstream {
    let rec = Arc::new(Recorder::default());
    let app = Router::new().fallback(record).with_state(rec.clone());
    let (url, task) = serve_router(app).await;
    Upstream { rec, url, task }
}

/// Chain, facilitator, the recording upstream and `n` gateway instances on one store, each
/// serving the proxy; the TMAI asset is the chain's real TMAI.
struct Stage {
    env: Env,
    up: Upstream,
    proxies: Vec<Proxy>,
    http: reqwest::Client,
}

async fn stage(db: Db, instances: usize) -> Option<Stage> {
    let env = Env::start(db).await?;
    let up = start_upstream().await;
    let toml = config_toml(&env, &up.url, 1, BUNDLE_CALLS);
    let mut proxies = Vec::new();
    for _ in 0..instances {
        let gw = gateway(&env, &toml, &["k1"], "k1").await;
        proxies.push(serve(gw, &up.url).await);
    }
    Some(Stage {
        env,
        up,
        proxies,
        http: reqwest::Client::new(),
    })
}

impl Stage {
    /// Pays the first offer for `url` through the first proxy and returns the bundle's receipt.
    async fn buy_bundle(&self, url: &str) -> String {
        let accepted = first_accept(&get(&self.http, url, &[]).await);
        let header = v2_header(&self.env, 0, &accepted);
        let paid = get(&self.http, url, &[("PAYMENT-SIGNATURE", header)]).await;
        assert_eq!(paid.status, 200, "{paid:?}");
        paid.header("tollgate-receipt").expect("receipt issued")
    }
}

/// Sends one request byte for byte (no client-side path clean-up) and returns status and text.
async fn raw(base: &str, method: &str, target: &str, extra: &[(&str, &str)]) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

/// Spellings of the priced `GET /v2/trading-signals` and `GET /v2/grades/{symbol}`.
const SPELLINGS: [(&str, &str); 19] = [
    ("GET", "/v2/x/../trading-signals"),
    ("GET", "/v2/x/%2e%2e/trading-signals"),
    ("GET", "/v2/x/%2E%2e/trading-signals"),
    ("GET", "/v2/./trading-signals"),
    ("GET", "/v2/%2e/trading-signals"),
    ("GET", "//v2//trading-signals"),
    ("GET", "/v2/trading-signals/"),
    ("GET", "/v2/Trading-Signals"),
    ("GET", "/V2/TRADING-SIGNALS/"),
    ("GET", "/v2/trading-signals;x"),
    ("GET", "/v2/x/..;/trading-signals"),
    ("GET", "/v2/%74rading-signals"),
    ("GET", "/v2%2ftrading-signals"),
    ("GET", "/v2%2Ftrading-signals"),
    ("GET", "/v2%5ctrading-signals"),
    ("GET", "/v2/grades/x/%2e%2e/AAVE"),
    ("GET", "/v2/grades/%2e%2e"),
    ("HEAD", "/v2/trading-signals"),
    ("get", "/v2/trading-signals"),
];

async fn assert_spellings_priced(base: &str) {
    for (method, target) in SPELLINGS {
        let (status, text) = raw(base, method, target, &[]).await;
        assert!(
            status == 402 || status == 400,
            "{method} {target} answered {status} unpaid: {text}"
        );
    }
}

both_stores!(
    respelled_paths_never_pass_the_proxy_unpaid,
    s = |db| stage(db, 1),
    {
        let base = &s.proxies[0].url;
        assert_spellings_priced(base).await;
        assert_eq!(
            s.up.rec.served().await,
            0,
            "no priced path reached the upstream"
        );

        // An unpriced path goes through, and the path forwarded is the canonical one.
        let (status, _) = raw(base, "GET", "/v2/free/x/../%66ree2?q=1", &[]).await;
        assert_eq!(status, 200);
        let seen = s.up.rec.seen.lock().await.clone();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].path, "/v2/free/free2");
    }
);

/// An axum app whose priced handlers count their runs, with the Layer applied by `wrap`.
async fn layered_app(
    gw: Arc<Gateway>,
    outer: bool,
) -> (String, Arc<std::sync::atomic::AtomicU64>, JoinHandle<()>) {
    let runs = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (a, b) = (runs.clone(), runs.clone());
    let inner = Router::new()
        .route(
            "/v2/trading-signals",
            route_get(move || {
                a.fetch_add(1, Ordering::SeqCst);
                async { "signals" }
            }),
        )
        .route(
            "/v2/grades/{symbol}",
            route_get(move || {
                b.fetch_add(1, Ordering::SeqCst);
                async { "grades" }
            }),
        );
    let app = if outer {
        // The Layer around the whole router: it runs before routing.
        Router::new().fallback_service(tower::Layer::layer(&PaywallLayer::new(gw), inner))
    } else {
        // `Router::layer`: axum routes first, then the Layer runs around the matched handler.
        inner.layer(PaywallLayer::new(gw))
    };
    let (url, task) = serve_router(app).await;
    (url, runs, task)
}

both_stores!(
    respelled_paths_never_pass_the_layer_unpaid,
    s = |db| stage(db, 1),
    {
        for outer in [false, true] {
            let gw = s.proxies[0].gateway.clone();
            let (url, runs, task) = layered_app(gw, outer).await;
            assert_spellings_priced(&url).await;
            assert_eq!(runs.load(Ordering::SeqCst), 0, "outer layer: {outer}");
            task.abort();
        }
    }
);

/// A v2 header for `accepted` whose payload is `payload`, with optional extensions.
fn header_with(accepted: &Value, payload: Value, extensions: Option<Value>) -> String {
    let mut p = json!({"x402Version": 2, "resource": {"url": "http://gateway.test"},
        "accepted": accepted, "payload": payload});
    if let Some(e) = extensions {
        p["extensions"] = e;
    }
    encode_header(&p)
}

/// Raw header text for a JSON text (to send duplicate keys, which no JSON value can hold).
fn header_of_text(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Sends every header once, spread over the instances, all at once; returns the answers.
async fn storm(s: &Stage, path: &str, headers: &[String]) -> Vec<Answer> {
    let calls = headers.iter().enumerate().map(|(i, h)| {
        let url = format!("{}{path}", s.proxies[i % s.proxies.len()].url);
        let http = s.http.clone();
        let h = h.clone();
        async move { get(&http, &url, &[("PAYMENT-SIGNATURE", h)]).await }
    });
    futures::future::join_all(calls).await
}

/// The value of one sample in a Prometheus text page (0 when absent).
fn metric(text: &str, sample: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0)
}

fn assert_served_once(answers: &[Answer]) {
    let with_data: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.body.get("data").is_some())
        .collect();
    assert_eq!(with_data.len(), 1, "{answers:#?}");
    for a in answers.iter().filter(|a| a.body.get("data").is_none()) {
        assert!(
            [400, 402].contains(&a.status),
            "a copy was answered {}: {a:?}",
            a.status
        );
    }
}

both_stores!(
    usdc_copies_across_two_instances_run_the_handler_once,
    s = |db| stage(db, 2),
    {
        let path = "/v2/trading-signals";
        let accepted =
            first_accept(&get(&s.http, &format!("{}{path}", s.proxies[0].url), &[]).await);
        let pay = payment_for(&s.env, 0, &accepted);
        let payload = pay.payload();
        let mut headers = vec![header_with(&accepted, payload.clone(), None); 12];
        // Respellings the facilitator reads as the same payment.
        let mut lower = payload.clone();
        lower["authorization"]["from"] = json!(pay.signer.address().to_string().to_lowercase());
        headers.push(header_with(&accepted, lower, None));
        let mut upper = payload.clone();
        let nonce = payload["authorization"]["nonce"].as_str().unwrap();
        upper["authorization"]["nonce"] = json!(format!("0x{}", nonce[2..].to_uppercase()));
        headers.push(header_with(&accepted, upper, None));
        let mut padded = payload.clone();
        padded["authorization"]["validBefore"] = json!(format!(
            "0{}",
            payload["authorization"]["validBefore"].as_str().unwrap()
        ));
        headers.push(header_with(&accepted, padded, None));
        // Extra keys and a decoy Permit2 object beside the real authorization.
        let mut extra = payload.clone();
        extra["note"] = json!("x");
        headers.push(header_with(&accepted, extra, None));
        let mut decoy = payload.clone();
        decoy["permit2Authorization"] =
            json!({"from": "0x0000000000000000000000000000000000000001", "nonce": "1"});
        headers.push(header_with(&accepted, decoy, None));
        // The same key twice: whichever copy a reader keeps, it must not be a second payment.
        let text = serde_json::to_string(
            &json!({"x402Version": 2, "accepted": accepted, "payload": payload}),
        )
        .unwrap();
        let dup = text.replacen(
            "\"authorization\":{",
            "\"authorization\":{\"nonce\":\"0x01\",",
            1,
        );
        headers.push(header_of_text(&dup));
        while headers.len() < 20 {
            headers.push(header_with(&accepted, payload.clone(), None));
        }
        let answers = storm(&s, path, &headers).await;
        assert_served_once(&answers);
        assert_eq!(s.up.rec.served().await, 1, "the handler ran exactly once");
        assert_eq!(s.env.settlements_sent().await, 1);
        assert_eq!(s.env.usdc(s.env.dev.pay_to).await, U256::from(17_000u64));

        // Each instance's /metrics counts what it did; together they match the upstream.
        let mut runs = 0;
        let mut paid = 0;
        for p in &s.proxies {
            let (url, task) = serve_router(tollgate_gateway::admin_app(p.gateway.clone())).await;
            let text = s
                .http
                .get(format!("{url}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            task.abort();
            runs += metric(
                &text,
                "tollgate_gateway_handler_runs_total{route=\"signals\"}",
            );
            paid += metric(
                &text,
                "tollgate_gateway_requests_total{outcome=\"paid\",route=\"signals\"}",
            );
        }
        assert_eq!((runs, paid), (1, 1));
    }
);

both_stores!(
    tmai_copies_across_two_instances_run_the_handler_once,
    s = |db| stage(db, 2),
    {
        let payer = s.env.payer(0).clone();
        let tmai = s.env.dev.tmai.address;
        let whole = U256::from(10u64).pow(U256::from(18u64));
        s.env
            .dev
            .mint(tmai, payer.address(), U256::from(10u64) * whole)
            .await
            .unwrap();
        s.env
            .dev
            .approve_permit2(&payer, tmai, U256::MAX)
            .await
            .unwrap();
        let path = "/v2/trading-signals";
        let challenge = get(&s.http, &format!("{}{path}", s.proxies[0].url), &[]).await;
        let accepted = challenge.decoded("payment-required")["accepts"][1].clone();
        assert_eq!(accepted["extra"]["assetTransferMethod"], json!("permit2"));
        let amount: U256 = accepted["amount"].as_str().unwrap().parse().unwrap();
        let pay = Permit2Payment::new(&s.env.dev, &s.env.network, payer, amount);
        let payload = Value::Object(pay.auth.to_payload(&pay.signature_bytes()));
        let mut headers = vec![header_with(&accepted, payload.clone(), None); 12];
        // The Permit2 nonce with a leading zero: the same number, so the same payment.
        let mut zero = payload.clone();
        let n = payload["permit2Authorization"]["nonce"].as_str().unwrap();
        zero["permit2Authorization"]["nonce"] = json!(format!("0{n}"));
        headers.push(header_with(&accepted, zero.clone(), None));
        let mut zeros = payload.clone();
        zeros["permit2Authorization"]["nonce"] = json!(format!("00{n}"));
        headers.push(header_with(&accepted, zeros, None));
        // A decoy EIP-3009 authorization beside the Permit2 one.
        for i in 0..3 {
            let mut decoy = payload.clone();
            decoy["authorization"] =
                json!({"from": format!("0x{:040x}", i + 1), "nonce": format!("0x{:064x}", i)});
            headers.push(header_with(&accepted, decoy, None));
        }
        let mut extra = payload.clone();
        extra["permit2Authorization"]["witness"]["extra"] = json!("0x");
        headers.push(header_with(&accepted, extra, None));
        while headers.len() < 20 {
            headers.push(header_with(&accepted, payload.clone(), None));
        }
        let answers = storm(&s, path, &headers).await;
        assert_served_once(&answers);
        assert_eq!(s.up.rec.served().await, 1, "the handler ran exactly once");
        assert_eq!(
            s.env.dev.balance(tmai, s.env.dev.pay_to).await.unwrap(),
            amount
        );
    }
);

fn payment_id_ext(id: &str) -> Value {
    json!({"payment-identifier": {"info": {"required": false, "id": id}}})
}

both_stores!(
    a_lost_answer_is_replayed_to_a_retry_with_the_same_payment_identifier,
    s = |db| stage(db, 1),
    {
        let url = format!("{}/v2/trading-signals", s.proxies[0].url);
        let challenge = get(&s.http, &url, &[]).await;
        let offered = &challenge.decoded("payment-required")["extensions"]["payment-identifier"];
        assert_eq!(offered["info"]["required"], json!(false), "{challenge:?}");
        let accepted = first_accept(&challenge);
        let id = "pay_0123456789abcdef0123456789abcdef";
        let pay = payment_for(&s.env, 0, &accepted);
        let header = header_with(&accepted, pay.payload(), Some(payment_id_ext(id)));

        // The caller hangs up while the upstream is still answering: its answer is lost.
        s.up.rec.hold.store(true, Ordering::SeqCst);
        let impatient = reqwest::Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let lost = impatient
            .get(&url)
            .header("PAYMENT-SIGNATURE", &header)
            .send()
            .await;
        assert!(lost.is_err(), "the first answer must be lost: {lost:?}");
        s.up.rec.hold.store(false, Ordering::SeqCst);
        s.up.rec.release.notify_one();

        // The honest retry gets the recorded answer once the first call has finished.
        let mut again = None;
        for _ in 0..100 {
            let a = get(&s.http, &url, &[("PAYMENT-SIGNATURE", header.clone())]).await;
            let in_flight = a.status == 402
                && a.decoded("payment-required")["error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("payment_in_flight"));
            if !in_flight {
                again = Some(a);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let again = again.expect("the first call finishes");
        assert_eq!(again.status, 200, "{again:?}");
        assert_eq!(again.body["data"]["path"], json!("/v2/trading-signals"));
        assert_eq!(again.decoded("payment-response")["success"], json!(true));
        assert_eq!(
            s.up.rec.served().await,
            1,
            "the retry did not run the handler"
        );
        assert_eq!(s.env.settlements_sent().await, 1);

        // Another payment under the same id is a conflict, and runs nothing.
        let other = payment_for(&s.env, 1, &accepted);
        let clash = header_with(&accepted, other.payload(), Some(payment_id_ext(id)));
        let c = get(&s.http, &url, &[("PAYMENT-SIGNATURE", clash)]).await;
        assert_eq!(c.status, 409, "{c:?}");
        assert_eq!(s.up.rec.served().await, 1);
        assert_eq!(s.env.settlements_sent().await, 1);
        assert_eq!(s.env.usdc(s.env.dev.pay_to).await, U256::from(17_000u64));
    }
);

both_stores!(
    a_receipt_call_the_upstream_fails_keeps_its_call,
    s = |db| stage(db, 1),
    {
        let url = format!("{}/v2/price-prediction/AAVE", s.proxies[0].url);
        let receipt = s.buy_bundle(&url).await;
        let with = [("TOLLGATE-RECEIPT", receipt)];

        s.up.rec.fail.store(true, Ordering::SeqCst);
        let failed = get(&s.http, &url, &with).await;
        assert_eq!(failed.status, 503, "{failed:?}");
        s.up.rec.fail.store(false, Ordering::SeqCst);

        // The bundle is 3 calls, the paying one among them: two remain despite the failure.
        for _ in 0..(BUNDLE_CALLS - 1) {
            let a = get(&s.http, &url, &with).await;
            assert_eq!(a.status, 200, "{a:?}");
        }
        let spent = get(&s.http, &url, &with).await;
        assert_eq!(spent.status, 402, "{spent:?}");
        assert_eq!(
            s.up.rec.served().await,
            4,
            "1 paid + 1 failed + 2 receipt calls"
        );
    }
);

both_stores!(
    secrets_and_connection_named_headers_never_reach_the_upstream,
    s = |db| stage(db, 1),
    {
        let base = s.proxies[0].url.clone();
        let secrets = [
            ("PAYMENT-SIGNATURE", "c2VjcmV0"),
            ("X-PAYMENT", "c2VjcmV0"),
            ("TOLLGATE-RECEIPT", "secret"),
            ("Connection", "keep-alive, X-Hop-Secret"),
            ("X-Hop-Secret", "secret"),
        ];
        let (status, _) = raw(&base, "GET", "/v2/unpriced", &secrets).await;
        assert_eq!(status, 200);

        // A paid call and a receipt call carry their headers to the gateway, not beyond it.
        let url = format!("{base}/v2/price-prediction/AAVE");
        let receipt = s.buy_bundle(&url).await;
        let served = get(&s.http, &url, &[("TOLLGATE-RECEIPT", receipt)]).await;
        assert_eq!(served.status, 200, "{served:?}");

        let seen = s.up.rec.seen.lock().await.clone();
        assert_eq!(seen.len(), 3);
        for req in &seen {
            for name in SECRET_HEADERS.iter().chain(&["x-hop-secret"]) {
                assert!(
                    !req.headers.contains_key(*name),
                    "{name} reached the upstream on {}",
                    req.path
                );
            }
        }
    }
);

both_stores!(
    the_client_never_carries_a_payment_to_another_origin,
    s = |db| stage(db, 1),
    {
        let thief = start_upstream().await;
        *s.up.rec.redirect_to.lock().unwrap() = Some(format!("{}/collect", thief.url));
        let url = format!("{}/v2/trading-signals", s.proxies[0].url);
        let mut book = tollgate_client::AssetBook::default();
        book.add(
            "USDC",
            "eip155:31337",
            &s.env.dev.usdc.address.to_string(),
            6,
        );
        let policy = tollgate_client::SpendPolicy::capped(book, &["0.1 USDC"], &[]).unwrap();
        let key = alloy::hex::encode(s.env.payer(0).to_bytes());
        let wallet = tollgate_client::EvmWallet::from_hex(&key).unwrap();
        let client = tollgate_client::PayingClient::new(
            wallet,
            policy,
            Arc::new(tollgate_client::Spending::in_memory()),
        );
        let paid = client.get(&url).await.expect("the call is paid");
        assert_eq!(
            paid.response.status().as_u16(),
            307,
            "the redirect reaches the client"
        );
        assert!(paid.payment.is_some());
        for req in thief.rec.seen.lock().await.iter() {
            for name in SECRET_HEADERS {
                assert!(
                    !req.headers.contains_key(name),
                    "{name} was sent to another origin"
                );
            }
        }
        assert_eq!(s.up.rec.served().await, 1);
    }
);
