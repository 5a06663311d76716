//! RPC providers fail; the facilitator does not. A TCP proxy the test controls stands for a
//! provider that hangs or refuses; its URL carries a fake API key that must never come back in
//! an answer, `/health` or `/metrics`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::U256;
use serde_json::{Value, json};
use tollgate_devnet::{Anvil, AnvilOptions, DevEvm};
use tollgate_e2e::tcp_proxy::{Mode, TcpProxy};
use tollgate_e2e::{Api, Db, Payment, TestDb, facilitator_with};
use tollgate_evm::{ChainConfig, EvmChain};
use tollgate_facilitator::EvmScheme;
use tollgate_proto::{Network, reason};

/// The fake API key in the proxy's URL path.
const SECRET: &str = "SECRETKEY123";

/// The RPC timeout the facilitator is configured with.
const RPC_TIMEOUT: Duration = Duration::from_millis(1000);

/// Longest any answer may take while an endpoint hangs: a timeout, a failover, and slack.
const BOUND: Duration = Duration::from_secs(5);

/// A facilitator over a fresh anvil whose chain reaches it through `urls`.
struct Rig {
    dev: DevEvm,
    proxy: TcpProxy,
    api: Api,
    network: Network,
    _db: TestDb,
}

impl Rig {
    /// A rig whose one endpoint is the proxy, set to `mode`.
    async fn proxied_only(mode: Mode) -> Self {
        let rig = Self::start(|proxied, _| vec![proxied]).await;
        rig.proxy.set(mode);
        rig
    }

    /// Starts anvil, a forwarding proxy to it, and a facilitator whose RPC endpoints
    /// `endpoints` picks from (the proxy's URL with the secret, anvil's own URL).
    async fn start(endpoints: impl FnOnce(String, String) -> Vec<String>) -> Self {
        let db = TestDb::create(Db::Sqlite).await.expect("sqlite");
        let anvil = Anvil::start(AnvilOptions {
            chain_id: 31337,
            block_time: None,
            ..AnvilOptions::default()
        })
        .await
        .expect("anvil starts");
        let dev = DevEvm::start(anvil, 1, U256::from(10_000_000u64))
            .await
            .expect("dev chain deploys");
        let proxy = TcpProxy::to_url(&dev.anvil.rpc_url).await;
        // anvil serves only its root path, so the key rides in the query, as some providers take it.
        let proxied = format!("http://{}/?key={SECRET}", proxy.addr());
        let urls = endpoints(proxied, dev.anvil.rpc_url.clone());
        let network = Network::evm(dev.anvil.chain_id);
        let mut cfg = chain_config(network.clone(), urls, &dev);
        cfg.receipt_poll = Duration::from_millis(20);
        let chain = EvmChain::connect(cfg).await.expect("chain connects");
        let scheme = Arc::new(EvmScheme::new(chain));
        let f = facilitator_with(scheme, &db.url, Duration::from_secs(20)).await;
        let api = Api::serve(Arc::new(f)).await;
        Self {
            dev,
            proxy,
            api,
            network,
            _db: db,
        }
    }

    fn payment(&self, amount: u64) -> Payment {
        Payment::new(
            &self.dev,
            &self.network,
            self.dev.payers[0].clone(),
            U256::from(amount),
        )
    }

    /// `/health` as JSON, within the bound.
    async fn health(&self) -> (u16, Value) {
        let (status, body) = within(BOUND, "/health", self.api.get("/health")).await;
        assert!(!body.contains(SECRET), "/health shows the RPC URL: {body}");
        (status, serde_json::from_str(&body).expect("health is JSON"))
    }

    /// This chain's endpoint reports in `/health`.
    async fn endpoints(&self) -> Vec<Value> {
        let (_, h) = self.health().await;
        h["rpc"][self.network.caip2()]
            .as_array()
            .unwrap_or_else(|| panic!("no endpoint list in {h}"))
            .clone()
    }
}

/// The chain config with the test's endpoints and timeout.
fn chain_config(network: Network, urls: Vec<String>, dev: &DevEvm) -> ChainConfig {
    let mut cfg = ChainConfig::with_rpc_urls(network, urls, vec![dev.facilitator.clone()]);
    cfg.rpc_timeout = RPC_TIMEOUT;
    assert!(
        !format!("{cfg:?}").contains(SECRET),
        "Debug shows the RPC URL"
    );
    cfg
}

/// Awaits `call`, failing the test if it takes longer than `bound`.
async fn within<T>(bound: Duration, what: &str, call: impl Future<Output = T>) -> T {
    match tokio::time::timeout(bound, call).await {
        Ok(v) => v,
        Err(_) => panic!("{what} gave no answer within {bound:?}"),
    }
}

/// Fails if `answer` carries the fake key.
fn no_secret(what: &str, answer: &Value) {
    assert!(
        !answer.to_string().contains(SECRET),
        "{what} shows the RPC URL: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_fails_over_to_a_healthy_one() {
    let rig = Rig::start(|proxied, direct| vec![proxied, direct]).await;
    rig.proxy.set(Mode::Hang);
    for amount in [17_000, 18_000] {
        let pay = rig.payment(amount);
        let (_, v) = within(BOUND, "/verify", rig.api.post("/verify", &pay.v2())).await;
        assert_eq!(v["isValid"], json!(true), "{v}");
        let (_, s) = within(BOUND, "/settle", rig.api.post("/settle", &pay.v2())).await;
        assert_eq!(s["success"], json!(true), "{s}");
        no_secret("/settle", &s);
    }
    let paid = rig
        .dev
        .balance(rig.dev.usdc.address, rig.dev.pay_to)
        .await
        .expect("balance");
    assert_eq!(paid, U256::from(35_000u64), "both settlements landed");

    let (status, h) = rig.health().await;
    assert_eq!(
        status, 200,
        "one answering endpoint keeps the chain up: {h}"
    );
    let eps = rig.endpoints().await;
    assert_eq!(eps[0]["state"], json!("failing"), "{h}");
    let why = eps[0]["error"].as_str().unwrap_or_default();
    assert!(why.starts_with("rpc #0: no answer within"), "{h}");
    assert_eq!(eps[1]["state"], json!("ok"), "{h}");

    rig.proxy.set(Mode::Forward);
    let deadline = tokio::time::Instant::now() + BOUND;
    while rig.endpoints().await[0]["state"] != json!("ok") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "endpoint 0 never recovered"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_hanging_endpoint_answers_within_the_timeout() {
    let rig = Rig::proxied_only(Mode::Hang).await;
    let pay = rig.payment(17_000);
    let (status, v) = within(BOUND, "/verify", rig.api.post("/verify", &pay.v2())).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["isValid"], json!(false), "{v}");
    assert_eq!(
        v["invalidReason"],
        json!(reason::UNEXPECTED_VERIFY_ERROR),
        "{v}"
    );
    no_secret("/verify", &v);
    let (status, h) = rig.health().await;
    assert_eq!(status, 503, "{h}");
    let eps = rig.endpoints().await;
    assert_eq!(eps.len(), 1, "{h}");
    assert_eq!(eps[0]["endpoint"], json!(0), "{h}");
    assert_eq!(eps[0]["state"], json!("failing"), "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_endpoint_never_shows_its_url() {
    let rig = Rig::proxied_only(Mode::Close).await;
    let pay = rig.payment(17_000);
    let (_, v) = within(BOUND, "/verify", rig.api.post("/verify", &pay.v2())).await;
    assert_eq!(v["isValid"], json!(false), "{v}");
    no_secret("/verify", &v);
    let (_, s) = within(BOUND, "/settle", rig.api.post("/settle", &pay.v2())).await;
    assert_eq!(s["success"], json!(false), "{s}");
    no_secret("/settle", &s);
    let (status, h) = rig.health().await;
    assert_eq!(status, 503, "{h}");
    assert!(
        h.to_string().contains("rpc #0"),
        "names the endpoint by index: {h}"
    );
    let (_, metrics) = within(BOUND, "/metrics", rig.api.get("/metrics")).await;
    assert!(
        !metrics.contains(SECRET),
        "/metrics shows the RPC URL: {metrics}"
    );
}
