//! The stack of the fault test, on real processes: anvil with one-second blocks, two
//! `tollgate facilitator` processes (each with its own settlement key and two RPC endpoints,
//! the preferred one through a TCP proxy the test can hang, its URL carrying a fake API key),
//! two `tollgate gateway` processes over one PostgreSQL, and a counting upstream.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tollgate_demo_api::RouteTable;
use tollgate_devnet::{Anvil, AnvilOptions, DevEvm};
use tollgate_e2e::gateway::anvil_usdc_toml;
use tollgate_e2e::tcp_proxy::{Mode, TcpProxy};
use tollgate_e2e::{Payment, TestDb};
use tollgate_facilitator::payment_identity;
use tollgate_proto::codec::{decode_header, encode_header};
use tollgate_proto::{FacilitatorRequest, Network, Networks};

/// Payers making calls (each client uses one; several clients share a payer).
const PAYERS: usize = 8;
/// The priced path: the demo's `signals` route, the only one these gateways sell.
const PATH: &str = "/v2/trading-signals";
/// Log filter of every process: debug for our crates, so the secrets grep sees the most text.
const RUST_LOG: &str = "info,tollgate=debug,tollgate_facilitator=debug,tollgate_evm=debug,\
tollgate_gateway=debug,tollgate_store=debug,sqlx=warn";

/// The upstream API behind both gateways; it counts the requests it serves.
pub struct Upstream {
    pub url: String,
    count: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    /// Serves the priced path on a free port.
    pub async fn start() -> Self {
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let app = axum::Router::new().route(
            PATH,
            axum::routing::get(move || {
                let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                async move { axum::Json(json!({"signals": n})) }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(l, app).await.unwrap();
        });
        Self { url, count, task }
    }

    /// Requests the handler served.
    pub fn handled(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// Every answer the clients got, as text, for the secrets grep.
#[derive(Clone, Default)]
pub struct Answers(Arc<Mutex<Vec<String>>>);

impl Answers {
    fn push(&self, text: String) {
        self.0.lock().unwrap().push(text);
    }

    /// All answers so far.
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// One answer of a gateway.
pub struct Answer {
    pub status: u16,
    pub text: String,
    headers: reqwest::header::HeaderMap,
}

/// One paid call: its payment's ledger identity, the header that was served, if any, and the
/// answers of the attempts that failed before.
#[derive(Debug)]
pub struct Call {
    pub identity: String,
    pub served_header: Option<String>,
    pub failed_attempts: Vec<String>,
}

/// A running process; its output goes to the stack's log.
struct Proc {
    child: Child,
}

/// The whole stack.
pub struct Stack {
    dev: DevEvm,
    network: Network,
    http: reqwest::Client,
    proxies: Vec<TcpProxy>,
    signers: Vec<PrivateKeySigner>,
    token: String,
    receipt_secret: String,
    rpc_secrets: Vec<String>,
    dir: tempfile::TempDir,
    facilitators: tokio::sync::Mutex<Vec<Proc>>,
    facilitator_urls: Vec<String>,
    _gateways: Vec<Proc>,
    gateway_urls: Vec<String>,
    gateway_admin: Vec<String>,
    logs: Arc<Mutex<Vec<String>>>,
}

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tollgate"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Stack {
    /// Starts everything over the PostgreSQL database `db`, with `upstream` behind the gateways.
    pub async fn start(db: &TestDb, upstream: &str) -> Self {
        let anvil = Anvil::start(AnvilOptions {
            chain_id: 31337,
            block_time: Some(1),
            ..AnvilOptions::default()
        })
        .await
        .expect("anvil");
        let dev = DevEvm::start(anvil, PAYERS + 1, U256::from(1_000_000_000u64))
            .await
            .expect("dev chain");
        // The last "payer" has ETH and no role as a payer: it is the second settlement key.
        let signers = vec![dev.facilitator.clone(), dev.payers[PAYERS].clone()];
        let nonce = rand_hex();
        let mut stack = Self {
            network: Network::evm(31337),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            proxies: vec![
                TcpProxy::to_url(&dev.anvil.rpc_url).await,
                TcpProxy::to_url(&dev.anvil.rpc_url).await,
            ],
            signers,
            token: format!("faulttoken{nonce}"),
            receipt_secret: alloy::hex::encode(alloy::primitives::B256::random()),
            rpc_secrets: vec![format!("rpckeyA{nonce}"), format!("rpckeyB{nonce}")],
            dir: tempfile::tempdir().unwrap(),
            facilitators: tokio::sync::Mutex::new(Vec::new()),
            facilitator_urls: Vec::new(),
            _gateways: Vec::new(),
            gateway_urls: Vec::new(),
            gateway_admin: Vec::new(),
            logs: Arc::new(Mutex::new(Vec::new())),
            dev,
        };
        for i in 0..2 {
            let config = stack.write_facilitator_config(i, &db.url);
            let (p, url) = stack.spawn_facilitator(i, &config, None).await;
            stack.facilitators.get_mut().push(p);
            stack.facilitator_urls.push(url);
        }
        for i in 0..2 {
            let config = stack.write_gateway_config(i, &db.url, upstream);
            let envs = [
                ("FAULT_FACILITATOR_TOKEN", stack.token.clone()),
                ("FAULT_RECEIPT_KEYS", format!("k1:{}", stack.receipt_secret)),
            ];
            let mut args = vec!["gateway".to_string(), "--config".into()];
            args.push(config.display().to_string());
            let (p, ready) = spawn(
                &args,
                &envs,
                &["Gateway listening on ", "Gateway metrics on "],
                &stack.logs,
            )
            .await;
            stack._gateways.push(p);
            stack.gateway_urls.push(ready[0].clone());
            stack.gateway_admin.push(ready[1].clone());
        }
        stack
    }

    fn write_facilitator_config(&self, i: usize, db: &str) -> PathBuf {
        let proxied = format!(
            "http://{}/?key={}",
            self.proxies[i].addr(),
            self.rpc_secrets[i]
        );
        let text = format!(
            r#"listen = "127.0.0.1:{port}"
database_url = "{db}"
receipt_timeout_secs = 3
reconcile_after_secs = 2
reconcile_every_secs = 1
allow_any_asset = true

[[evm]]
network = "eip155:31337"
rpc_urls = ["{proxied}", "{direct}"]
rpc_timeout_ms = 1000
private_key_env = "FAULT_SETTLEMENT_KEY"
"#,
            port = free_port(),
            direct = self.dev.anvil.rpc_url,
        );
        let path = self.dir.path().join(format!("facilitator-{i}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn write_gateway_config(&self, i: usize, db: &str, upstream: &str) -> PathBuf {
        let text = format!(
            r#"listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
upstream = "{upstream}"
public_url = "http://gateway.test"

[facilitator]
url = "{facilitator}"
token_env = "FAULT_FACILITATOR_TOKEN"
{assets}
{routes}
[store]
database_url = "{db}"

[receipts]
database_url = "{db}"
keys_env = "FAULT_RECEIPT_KEYS"
signing_key = "k1"
"#,
            facilitator = self.facilitator_urls[i],
            assets = anvil_usdc_toml(&self.dev),
            routes = RouteTable::demo().only(&["signals"]).to_toml(),
        );
        let path = self.dir.path().join(format!("gateway-{i}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    async fn spawn_facilitator(
        &self,
        i: usize,
        config: &Path,
        failpoint: Option<&str>,
    ) -> (Proc, String) {
        let mut envs = vec![
            (
                "FAULT_SETTLEMENT_KEY",
                alloy::hex::encode(self.signers[i].to_bytes()),
            ),
            ("TOLLGATE_FACILITATOR_TOKENS", self.token.clone()),
        ];
        if let Some(fp) = failpoint {
            envs.push(("TOLLGATE_FAILPOINT", fp.to_string()));
        }
        let args = [
            "facilitator".to_string(),
            "--config".into(),
            config.display().to_string(),
        ];
        let (p, ready) = spawn(&args, &envs, &["Facilitator listening on "], &self.logs).await;
        (p, ready[0].clone())
    }

    /// Payers the clients share.
    pub fn payers(&self) -> usize {
        PAYERS
    }

    /// GETs the priced path at gateway `gw`, with a payment header when given.
    pub async fn call(&self, gw: usize, payment: Option<&str>, answers: &Answers) -> Answer {
        let mut rb = self.http.get(format!("{}{PATH}", self.gateway_urls[gw]));
        if let Some(h) = payment {
            rb = rb.header("payment-signature", h);
        }
        let answer = match rb.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let text = resp.text().await.unwrap_or_default();
                Answer {
                    status,
                    text,
                    headers,
                }
            }
            Err(e) => Answer {
                status: 0,
                text: e.to_string(),
                headers: Default::default(),
            },
        };
        answers.push(format!(
            "{} {:?} {}",
            answer.status, answer.headers, answer.text
        ));
        answer
    }

    /// Switches both facilitators' preferred RPC endpoints.
    pub fn set_proxies(&self, mode: Mode) {
        for p in &self.proxies {
            p.set(mode);
        }
    }

    /// SIGKILLs facilitator `i` mid-run and starts it again on the same address.
    pub async fn kill_and_restart_facilitator(&self, i: usize) {
        let mut procs = self.facilitators.lock().await;
        procs[i].child.start_kill().expect("SIGKILL");
        let status = procs[i].child.wait().await.expect("wait");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "killed by SIGKILL");
        drop(procs);
        self.start_facilitator(i, None).await;
    }

    /// Starts facilitator `i` again on its address (stopping it first if it runs), with a
    /// failpoint when given (`after_broadcast`: the process exits right after broadcasting).
    pub async fn start_facilitator(&self, i: usize, failpoint: Option<&str>) {
        let mut procs = self.facilitators.lock().await;
        let _ = procs[i].child.start_kill();
        let _ = procs[i].child.wait().await;
        let config = self.dir.path().join(format!("facilitator-{i}.toml"));
        let (p, url) = self.spawn_facilitator(i, &config, failpoint).await;
        assert_eq!(
            url, self.facilitator_urls[i],
            "restarted on the same address"
        );
        procs[i] = p;
    }

    /// Waits for facilitator `i` to exit by itself and returns its exit code.
    pub async fn facilitator_exit(&self, i: usize) -> Option<i32> {
        let mut procs = self.facilitators.lock().await;
        let wait = procs[i].child.wait();
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .expect("exits within 30 s")
            .expect("wait")
            .code()
    }

    /// Drops one settlement transaction of either signer from anvil's pool; `false` if none
    /// was seen there within 30 s.
    pub async fn drop_one_settlement(&self) -> bool {
        let provider = self.provider();
        let ours: Vec<String> = self
            .signer_addresses()
            .iter()
            .map(|a| format!("{a:#x}"))
            .collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::time::Instant::now() < deadline {
            let pool: Value = provider
                .raw_request("txpool_content".into(), ())
                .await
                .unwrap();
            let pending = pool["pending"].as_object().cloned().unwrap_or_default();
            for (from, txs) in pending {
                if !ours.contains(&from.to_lowercase()) {
                    continue;
                }
                let Some(hash) = txs
                    .as_object()
                    .and_then(|m| m.values().next())
                    .and_then(|tx| tx["hash"].as_str())
                else {
                    continue;
                };
                let _: Value = provider
                    .raw_request("anvil_dropTransaction".into(), (hash,))
                    .await
                    .unwrap();
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }

    /// The chain's RPC client.
    pub fn provider(&self) -> RootProvider {
        self.dev.anvil.provider()
    }

    /// Addresses of the settlement keys.
    pub fn signer_addresses(&self) -> Vec<Address> {
        self.signers.iter().map(|s| s.address()).collect()
    }

    /// What payTo holds.
    pub async fn usdc_of_pay_to(&self) -> U256 {
        self.dev
            .balance(self.dev.usdc.address, self.dev.pay_to)
            .await
            .unwrap()
    }

    /// Transactions mined from the settlement keys.
    pub async fn settlement_txs(&self) -> u64 {
        let mut n = 0;
        for a in self.signer_addresses() {
            n += self.dev.tx_count(a).await.unwrap();
        }
        n
    }

    /// Every page an operator or a scraper reads: `/metrics` and `/health` of the facilitators,
    /// `/metrics` of the gateways.
    pub async fn pages(&self) -> Vec<String> {
        let mut urls = Vec::new();
        for f in &self.facilitator_urls {
            urls.push(format!("{f}/metrics"));
            urls.push(format!("{f}/health"));
        }
        urls.extend(self.gateway_admin.iter().cloned());
        let mut pages = Vec::new();
        for u in urls {
            let resp = self.http.get(&u).send().await.expect("page");
            let head = format!("{:?}", resp.headers());
            pages.push(format!("{u} {head} {}", resp.text().await.unwrap()));
        }
        pages
    }

    /// Every line every process wrote.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// What must never appear: settlement keys, the bearer token, the receipt HMAC secret, the
    /// RPC URLs' API keys.
    pub fn secrets(&self) -> Vec<String> {
        let mut s = vec![self.token.clone(), self.receipt_secret.clone()];
        s.extend(self.rpc_secrets.iter().cloned());
        for k in &self.signers {
            s.push(alloy::hex::encode(k.to_bytes()));
        }
        s
    }

    fn payment(&self, payer: usize, amount: u64) -> Payment {
        Payment::new(
            &self.dev,
            &self.network,
            self.dev.payers[payer].clone(),
            U256::from(amount),
        )
    }
}

fn rand_hex() -> String {
    alloy::hex::encode(&alloy::primitives::B256::random()[..8])
}

/// Runs `tollgate <args>`, logging every line into `logs`, until it has printed each of `ready`
/// on stdout; returns the text after each marker.
async fn spawn(
    args: &[String],
    envs: &[(&str, String)],
    ready: &[&str],
    logs: &Arc<Mutex<Vec<String>>>,
) -> (Proc, Vec<String>) {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .env("RUST_LOG", RUST_LOG);
    for k in [
        "PORT",
        "HOST",
        "DATABASE_URL",
        "EVM_NETWORK",
        "EVM_RPC_URL",
        "EVM_PRIVATE_KEY",
        "SVM_NETWORK",
        "SVM_RPC_URL",
        "SVM_PRIVATE_KEY",
        "ALLOW_ANY_ASSET",
        "TOLLGATE_FAILPOINT",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn tollgate");
    let (tx, mut rx) = mpsc::unbounded_channel();
    collect(child.stdout.take().unwrap(), logs.clone(), Some(tx));
    collect(child.stderr.take().unwrap(), logs.clone(), None);
    let mut found = vec![String::new(); ready.len()];
    let wait = async {
        let mut left = ready.len();
        while left > 0 {
            let line: String = rx.recv().await.expect("process exited before it was ready");
            for (i, marker) in ready.iter().enumerate() {
                if let Some(rest) = line.split(marker).nth(1) {
                    found[i] = rest.trim().to_string();
                    left -= 1;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .expect("ready within 60 s");
    (Proc { child }, found)
}

/// Copies every line of a process's output into `logs` (and to `lines`, when given).
fn collect(
    out: impl AsyncRead + Unpin + Send + 'static,
    logs: Arc<Mutex<Vec<String>>>,
    lines: Option<mpsc::UnboundedSender<String>>,
) {
    tokio::spawn(async move {
        let mut r = BufReader::new(out).lines();
        while let Ok(Some(line)) = r.next_line().await {
            if let Some(tx) = &lines {
                let _ = tx.send(line.clone());
            }
            logs.lock().unwrap().push(line);
        }
    });
}

/// A signed payment of `price` from payer `payer` answering gateway `gw`'s challenge: its
/// ledger identity and its `PAYMENT-SIGNATURE` value.
pub async fn payment_header(
    stack: &Stack,
    payer: usize,
    gw: usize,
    price: u64,
    answers: &Answers,
) -> (String, String) {
    let challenge = stack.call(gw, None, answers).await;
    assert_eq!(challenge.status, 402, "{}", challenge.text);
    let required: Value = decode_header(
        challenge.headers["payment-required"]
            .to_str()
            .expect("ascii"),
    )
    .expect("challenge decodes");
    let accepted = required["accepts"][0].clone();
    assert_eq!(accepted["amount"], json!(price.to_string()));
    let pay = stack.payment(payer, price);
    let header = encode_header(&json!({"x402Version": 2,
        "resource": {"url": format!("http://gateway.test{PATH}")},
        "accepted": accepted, "payload": pay.payload()}));
    (identity(&pay), header)
}

/// Makes one paid call as payer `payer`, starting at gateway `gw` and retrying the same payment
/// at either gateway while the faults make answers fail.
pub async fn paid_call(
    stack: &Stack,
    payer: usize,
    gw: usize,
    price: u64,
    answers: &Answers,
) -> Call {
    let (identity, header) = payment_header(stack, payer, gw, price, answers).await;
    let mut failed_attempts = Vec::new();
    for attempt in 0..12 {
        let g = (gw + attempt) % 2;
        let a = stack.call(g, Some(&header), answers).await;
        if a.status == 200 {
            return Call {
                identity,
                served_header: Some(header),
                failed_attempts,
            };
        }
        let why: String = a.text.chars().take(300).collect();
        failed_attempts.push(format!("gateway {g}: {} {why}", a.status));
        if a.text.contains("duplicate_settlement") || header_has(&a, "duplicate_settlement") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Call {
        identity,
        served_header: None,
        failed_attempts,
    }
}

fn header_has(a: &Answer, what: &str) -> bool {
    a.headers
        .values()
        .any(|v| v.to_str().is_ok_and(|s| decoded_contains(s, what)))
}

fn decoded_contains(header: &str, what: &str) -> bool {
    decode_header::<Value>(header).is_ok_and(|v| v.to_string().contains(what))
}

/// The ledger identity of a payment, as the facilitator computes it.
fn identity(pay: &Payment) -> String {
    let body = serde_json::to_vec(&pay.v2()).unwrap();
    let req = FacilitatorRequest::parse(&body).expect("request");
    payment_identity(&req.view(&Networks::default()).expect("view")).expect("identity")
}

/// The same payment respelled: its authorization nonce in upper-case hex.
pub fn mutate(header: &str) -> String {
    let mut v: Value = decode_header(header).expect("header");
    let nonce = v["payload"]["authorization"]["nonce"]
        .as_str()
        .expect("nonce")
        .to_string();
    v["payload"]["authorization"]["nonce"] = json!(format!("0x{}", nonce[2..].to_uppercase()));
    encode_header(&v)
}
