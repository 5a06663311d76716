//! The gateway tests' harness: the facilitator environment (anvil + ledger), the demo
//! API as the upstream on its own TCP port, and gateway proxies on theirs, built from TOML
//! around the demo's route table.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::task::{Task, loopback};
use crate::tcp_proxy::{Mode, TcpProxy};
use crate::{Db, Env, Payment};
use alloy::primitives::U256;
use serde_json::{Value, json};
use tollgate_client::{
    AssetBook, ClientError, EvmWallet, PaidResponse, PayingClient, PaymentMade, SpendPolicy,
    Spending,
};
use tollgate_demo_api::{Demo, PricedRoute, RouteTable};
use tollgate_devnet::DevEvm;
use tollgate_gateway::config::UpstreamTimeouts;
use tollgate_gateway::{
    FacilitatorClient, Gateway, GatewayConfig, InProcess, KeyRing, Remote, Upstream, setup,
};
use tollgate_proto::codec::{decode_header, encode_header};
use tollgate_proto::headers::PAYMENT_TOKEN;

/// The `[pay_to]` table and the USDC `[[assets]]` entry of a gateway that takes USDC on the
/// local anvil chain: the part every single-asset gateway config of the tests shares.
pub fn anvil_usdc_toml(dev: &DevEvm) -> String {
    format!(
        "\n[pay_to]\n\"eip155:31337\" = \"{}\"\n\n{}",
        dev.pay_to.to_checksum(None),
        dev.usdc_asset_toml()
    )
}

/// Calls in the test bundle unless a test asks for another size.
pub const BUNDLE_CALLS: u64 = 3;

/// Test receipt keys `kid:hex`: k1 and k2 both 32 random-looking bytes (test-only values).
pub fn test_keys() -> HashMap<&'static str, String> {
    HashMap::from([
        ("k1", format!("k1:{}", "11".repeat(32))),
        ("k2", format!("k2:{}", "22".repeat(32))),
    ])
}

/// A key ring over the named test keys, signing with `signing`.
pub fn ring(kids: &[&str], signing: &str) -> KeyRing {
    let keys = test_keys();
    let text: Vec<String> = kids.iter().map(|k| keys[k].clone()).collect();
    KeyRing::parse(&text.join(","), signing).expect("test keys")
}

/// Dollars per TMAI in the tests' gateway config.
pub const TMAI_USD: &str = "0.02";

/// The gateway TOML for this environment, as an operator would write it.
pub fn config_toml(env: &Env, upstream: &str, lease: u32, calls: u64) -> String {
    format!(
        r#"
upstream = "{upstream}"
public_url = "http://gateway.test"

[pay_to]
"eip155:31337" = "{pay_to}"
"solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1" = "CKPKJWNdJEqa81x7CkZ14BVPiY6y16Sxs7owznqtWYp5"

{evm_assets}
[[assets]]
symbol = "USDC"
network = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
address = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
decimals = 6
usd_rate = "1"

{routes}
[receipts]
database_url = "{db}"
keys_env = "TOLLGATE_TEST_RECEIPT_KEYS"
signing_key = "k1"
lease = {lease}
"#,
        pay_to = env.dev.pay_to.to_checksum(None),
        evm_assets = env.dev.gateway_assets_toml(TMAI_USD),
        routes = routes_toml(calls),
        db = env.db.url,
    )
}

/// The demo's route table as these tests sell it: the prediction bundle sized to `calls` (and
/// its description saying so), and `/v2/indices` priced too, an endpoint whose upstream fails.
fn routes_toml(calls: u64) -> String {
    let mut table = RouteTable::demo();
    let prediction = table
        .route_mut("prediction")
        .expect("the demo sells predictions");
    prediction.description = Some(format!("Price scenarios, bundle of {calls} calls"));
    prediction.bundle.as_mut().expect("a bundle").calls = Some(calls);
    table.routes.push(PricedRoute {
        name: "indices".into(),
        method: "GET".into(),
        path: "/v2/indices".into(),
        price: "0.017".into(),
        description: None,
        bundle: None,
        scheme: None,
        meter: None,
        unit_price: None,
    });
    table.to_toml()
}

/// A running demo API (the upstream).
pub struct DemoApi {
    pub demo: Arc<Demo>,
    pub url: String,
    _task: Task,
}

/// Starts the demo API on a free port.
pub async fn start_demo() -> DemoApi {
    let demo = Demo::embedded();
    let (listener, url) = loopback().await;
    let app = tollgate_demo_api::router(demo.clone());
    let task = Task::serve(axum::serve(listener, app), "demo serves");
    DemoApi {
        demo,
        url,
        _task: task,
    }
}

/// A running gateway proxy.
pub struct Proxy {
    pub gateway: Arc<Gateway>,
    pub url: String,
    _task: Task,
}

/// Builds a gateway from TOML with the in-process facilitator and the given key ring.
pub async fn gateway(env: &Env, toml: &str, kids: &[&str], signing: &str) -> Arc<Gateway> {
    let f = Arc::new(InProcess(env.facilitator.clone()));
    gateway_with(f, toml, kids, signing).await
}

/// Builds a gateway from TOML with `facilitator` and the given key ring.
pub async fn gateway_with(
    facilitator: Arc<dyn FacilitatorClient>,
    toml: &str,
    kids: &[&str],
    signing: &str,
) -> Arc<Gateway> {
    let cfg = GatewayConfig::parse(toml).expect("gateway TOML parses");
    let mut rc = cfg.receipts.clone().expect("receipts configured");
    rc.signing_key = signing.into();
    let keys = test_keys();
    let text: Vec<String> = kids.iter().map(|k| keys[k].clone()).collect();
    let text = text.join(",");
    let receipts = setup::receipts(&rc, &|var| {
        (var == "TOLLGATE_TEST_RECEIPT_KEYS").then(|| text.clone())
    })
    .await
    .expect("receipts open");
    Arc::new(
        Gateway::new(&cfg, facilitator, Some(receipts))
            .await
            .expect("gateway builds"),
    )
}

/// A gateway built from `toml` whose facilitator (`env`'s) is reached through a TCP link the
/// test can cut, and that link.
pub async fn gateway_over_link(env: &Env, toml: &str) -> (Arc<TcpProxy>, Arc<Gateway>) {
    let link = Arc::new(TcpProxy::to_url(&env.url).await);
    let remote = Remote::new(&format!("http://{}", link.addr()))
        .expect("client")
        .with_timeout(std::time::Duration::from_secs(10));
    let gw = gateway_with(Arc::new(remote), toml, &["k1"], "k1").await;
    (link, gw)
}

/// A client paying as `env`'s payer `i`, knowing USDC and TMAI on its chain, within `caps` a
/// call and `budgets` in all (e.g. `"0.05 USDC"`).
pub fn paying_client(env: &Env, i: usize, caps: &[&str], budgets: &[&str]) -> PayingClient {
    let mut book = AssetBook::default();
    let net = env.network.caip2();
    book.add("USDC", net, &env.dev.usdc.address.to_string(), 6);
    book.add("TMAI", net, &env.dev.tmai.address.to_string(), 18);
    let policy = SpendPolicy::capped(book, caps, budgets).expect("test limits parse");
    let key = alloy::hex::encode(env.payer(i).to_bytes());
    let wallet = EvmWallet::from_hex(&key).expect("test key");
    PayingClient::new(wallet, policy, Arc::new(Spending::in_memory()))
}

/// GETs `url` through `client`, preferring `token` (`usdc`, `tmai`), paying if asked.
pub async fn pay_in(
    client: &PayingClient,
    url: &str,
    token: &str,
) -> Result<PaidResponse, ClientError> {
    let req = client.http().get(url).header(PAYMENT_TOKEN, token);
    client.execute(req.build().expect("request")).await
}

/// GETs `url` through `client`, which must pay and get a 200: what it paid, and the body.
pub async fn paid_get(client: &PayingClient, url: &str) -> (PaymentMade, String) {
    let out = client.get(url).await.expect("paid call");
    let status = out.response.status();
    let payment = out.payment.expect("a payment was made");
    let body = out.response.text().await.expect("body");
    assert_eq!(status, 200, "{body}");
    (payment, body)
}

/// A handler-side switch: counts the handler's runs and, on its first, cuts the replies of the
/// facilitator link, so the settle that follows goes through unheard.
#[derive(Clone)]
pub struct CutOnFirstRun {
    runs: Arc<AtomicU64>,
    link: Arc<TcpProxy>,
}

impl CutOnFirstRun {
    pub fn new(link: Arc<TcpProxy>) -> Self {
        Self {
            runs: Arc::default(),
            link,
        }
    }

    /// Called by the handler each time it runs.
    pub fn ran(&self) {
        if self.runs.fetch_add(1, Ordering::SeqCst) == 0 {
            self.link.set(Mode::CutReplies);
        }
    }

    /// The handler's runs so far.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::SeqCst)
    }
}

/// Serves `gateway` as a reverse proxy to `upstream` on a free port.
pub async fn serve(gateway: Arc<Gateway>, upstream: &str) -> Proxy {
    serve_within(gateway, upstream, &UpstreamTimeouts::default()).await
}

/// As [`serve`], waiting on the upstream no longer than `limits`.
pub async fn serve_within(
    gateway: Arc<Gateway>,
    upstream: &str,
    limits: &UpstreamTimeouts,
) -> Proxy {
    let (listener, url) = loopback().await;
    let up = Upstream::new(upstream, 1 << 20, limits).expect("upstream client");
    let served = tollgate_gateway::serve_proxy(gateway.clone(), up, listener);
    let task = Task::serve(served, "proxy serves");
    Proxy {
        gateway,
        url,
        _task: task,
    }
}

/// Everything one gateway test needs.
pub struct World {
    pub env: Env,
    pub api: DemoApi,
    pub proxy: Proxy,
    pub http: reqwest::Client,
}

/// Starts chain, facilitator, demo API and one gateway; `None` when the store kind is absent.
pub async fn world(db: Db, lease: u32) -> Option<World> {
    Some(world_on(Env::start(db).await?, lease).await)
}

/// Demo API and one gateway over an environment already started.
pub async fn world_on(env: Env, lease: u32) -> World {
    let api = start_demo().await;
    let toml = config_toml(&env, &api.url, lease, BUNDLE_CALLS);
    let gw = gateway(&env, &toml, &["k1"], "k1").await;
    let proxy = serve(gw, &api.url).await;
    World {
        env,
        api,
        proxy,
        http: reqwest::Client::new(),
    }
}

impl World {
    /// GETs `url` with extra headers.
    pub async fn get(&self, url: &str, headers: &[(&str, String)]) -> Answer {
        get(&self.http, url, headers).await
    }

    /// Asks `url` what a call costs and pays its first offer as payer `payer`: the paid call's
    /// answer.
    pub async fn pay_first_offer(&self, url: &str, payer: usize) -> Answer {
        let accepted = first_accept(&get(&self.http, url, &[]).await);
        let pay = [("PAYMENT-SIGNATURE", v2_header(&self.env, payer, &accepted))];
        get(&self.http, url, &pay).await
    }

    /// Pays the first offer for `url` as payer `payer` while the settlement cannot be mined
    /// yet: the call is served and its settlement answered pending, with its transaction.
    pub async fn pay_while_pending(&self, url: &str, payer: usize) -> Answer {
        let a = self.pay_first_offer(url, payer).await;
        assert_eq!(a.status, 200, "{a:?}");
        let settled = a.decoded("payment-response");
        assert_eq!(
            settled["errorReason"],
            json!("settlement_pending"),
            "{settled}"
        );
        assert_eq!(
            settled["transaction"].as_str().map(str::len),
            Some(66),
            "{settled}"
        );
        a
    }
}

/// A response reduced to what tests look at.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_string())
    }

    /// A base64 JSON header decoded.
    pub fn decoded(&self, name: &str) -> Value {
        decode_header(
            &self
                .header(name)
                .unwrap_or_else(|| panic!("{name} missing: {self:?}")),
        )
        .expect("header decodes")
    }
}

/// GETs `url` with extra headers.
pub async fn get(http: &reqwest::Client, url: &str, headers: &[(&str, String)]) -> Answer {
    let mut rb = http.get(url);
    for (k, v) in headers {
        rb = rb.header(*k, v);
    }
    let resp = rb.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// The first `accepts` entry of a 402's `PAYMENT-REQUIRED` header (USDC by default).
pub fn first_accept(a: &Answer) -> Value {
    assert_eq!(a.status, 402, "{a:?}");
    a.decoded("payment-required")["accepts"][0].clone()
}

/// A signed EIP-3009 payment from payer `i` answering `accepted`.
pub fn payment_for(env: &Env, i: usize, accepted: &Value) -> Payment {
    let amount: U256 = accepted["amount"]
        .as_str()
        .expect("amount")
        .parse()
        .expect("u256");
    env.payment(i, amount.to::<u64>())
}

/// A v2 `PAYMENT-SIGNATURE` value paying `accepted` as payer `i`.
pub fn v2_header(env: &Env, i: usize, accepted: &Value) -> String {
    let pay = payment_for(env, i, accepted);
    encode_header(
        &json!({"x402Version": 2, "resource": {"url": "http://gateway.test"},
        "accepted": accepted, "payload": pay.payload()}),
    )
}

/// A v1 `X-PAYMENT` value paying the v1 body's first requirement as payer `i`.
pub fn v1_header(env: &Env, i: usize, body: &Value) -> String {
    let req = &body["accepts"][0];
    let amount: u64 = req["maxAmountRequired"]
        .as_str()
        .expect("amount")
        .parse()
        .expect("u64");
    let pay = env.payment(i, amount);
    encode_header(
        &json!({"x402Version": 1, "scheme": req["scheme"], "network": req["network"],
        "payload": pay.payload()}),
    )
}
