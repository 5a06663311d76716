//! The `tollgate gateway` process rotates its receipt HMAC keys while it runs, as an operator
//! does it: edit the key file (and `signing_key`), then send SIGHUP or just wait for the change to
//! be seen. No restart, receipts under kept keys go on working, a removed key's receipts are
//! refused, and a bad key file keeps the keys in force and is logged without its secret.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::U256;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tollgate_demo_api::RouteTable;
use tollgate_e2e::gateway::{DemoApi, anvil_usdc_toml, start_demo};
use tollgate_e2e::{Db, Env};
use tollgate_gateway::{Claims, KeyRing};
use tollgate_proto::codec::{decode_header, encode_header};

use crate::gateway_process::{Gateway, config_head};

const WINDOW: &str = "/v2/technology-grade/aave";

/// `kid:hex` of the test keys (test-only values).
fn entry(kid: &str) -> String {
    let byte = match kid {
        "k1" => "11",
        "k2" => "22",
        other => panic!("no test key {other}"),
    };
    format!("{kid}:{}", byte.repeat(32))
}

/// Replaces a file by rename, as a deploy tool would.
fn write_file(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// One gateway's files: its config and its key file.
struct Files {
    dir: tempfile::TempDir,
    facilitator: String,
    upstream: String,
    /// `[pay_to]` and `[[assets]]`.
    assets: String,
    /// `keys_poll_seconds`, when set.
    poll: Option<u64>,
}

impl Files {
    fn config(&self) -> PathBuf {
        self.dir.path().join("gateway.toml")
    }

    fn keys(&self) -> PathBuf {
        self.dir.path().join("receipt.keys")
    }

    /// Writes the key file with `kids` and the config signing with `signing`.
    fn write(&self, kids: &[&str], signing: &str) {
        let keys: Vec<String> = kids.iter().map(|k| entry(k)).collect();
        write_file(&self.keys(), &keys.join("\n"));
        write_file(&self.config(), &self.toml(signing));
    }

    fn toml(&self, signing: &str) -> String {
        let poll = self
            .poll
            .map(|p| format!("keys_poll_seconds = {p}"))
            .unwrap_or_default();
        let head = config_head(
            &self.upstream,
            &self.facilitator,
            &self.assets,
            &RouteTable::demo().only(&["technology"]).to_toml(),
        );
        format!(
            r#"{head}
[receipts]
database_url = "sqlite://{db}"
keys_file = {keys:?}
signing_key = "{signing}"
{poll}
"#,
            db = self.dir.path().join("gateway.db").display(),
            keys = self.keys().display().to_string(),
        )
    }
}

/// The chain and facilitator, the demo API, and a gateway's files (not yet written).
struct Stack {
    env: Env,
    files: Files,
    http: reqwest::Client,
    _api: DemoApi,
}

async fn stack(poll: Option<u64>) -> Stack {
    let env = Env::start(Db::Sqlite)
        .await
        .expect("SQLite is always there");
    let api = start_demo().await;
    let files = Files {
        dir: tempfile::tempdir().expect("tempdir"),
        facilitator: env.url.clone(),
        upstream: api.url.clone(),
        assets: anvil_usdc_toml(&env.dev),
        poll,
    };
    Stack {
        env,
        files,
        http: reqwest::Client::new(),
        _api: api,
    }
}

/// Where a receipt for the hour-long window is spent on `gw`.
fn window(gw: &Gateway) -> String {
    format!("{}{WINDOW}", gw.url)
}

/// Status and the 402's error reason (if any) of one GET with a receipt.
async fn spend(http: &reqwest::Client, url: &str, token: &str) -> (u16, String) {
    let r = http
        .get(url)
        .header("tollgate-receipt", token)
        .send()
        .await
        .expect("gateway answers");
    let error = r
        .headers()
        .get("payment-required")
        .and_then(|v| decode_header::<Value>(v.to_str().ok()?).ok())
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default();
    (r.status().as_u16(), error)
}

/// Buys the hour-long window as payer `i`; returns its receipt token.
async fn buy(s: &Stack, url: &str, i: usize) -> String {
    let challenge = s.http.get(url).send().await.expect("challenge");
    assert_eq!(challenge.status(), 402);
    let required: Value = decode_header(
        challenge.headers()["payment-required"]
            .to_str()
            .expect("ascii"),
    )
    .expect("PAYMENT-REQUIRED decodes");
    let accepted = required["accepts"][0].clone();
    let amount: U256 = accepted["amount"]
        .as_str()
        .expect("amount")
        .parse()
        .expect("u256");
    let pay = s.env.payment(i, amount.to::<u64>());
    let header = encode_header(&json!({"x402Version": 2,
        "resource": {"url": "http://gateway.test"}, "accepted": accepted, "payload": pay.payload()}));
    let r = s
        .http
        .get(url)
        .header("PAYMENT-SIGNATURE", header)
        .send()
        .await
        .expect("paid call");
    assert_eq!(r.status(), 200, "paid call served");
    r.headers()["tollgate-receipt"]
        .to_str()
        .expect("ascii")
        .to_string()
}

/// A token over `token`'s claims signed with test key `kid`, as the operator holding it could.
fn resign(token: &str, kid: &str) -> String {
    let body = token.split('.').nth(2).expect("claims part");
    let claims: Claims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).expect("base64")).expect("claims");
    KeyRing::parse(&entry(kid), kid)
        .expect("test key")
        .sign(&claims)
}

/// Waits until the gateway refuses `token` as signed by a key it no longer has.
async fn until_unknown_key(what: &str, s: &Stack, gw: &Gateway, token: &str) {
    until(what, async || {
        let (_, error) = spend(&s.http, &window(gw), token).await;
        error.starts_with("receipt_unknown_key")
    })
    .await;
}

/// Polls `check` until it holds, failing with `what` after 20 s.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what} within 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rotates_receipt_keys_in_the_running_gateway() {
    // No polling: whatever changes, changes because of the signal.
    let s = stack(Some(0)).await;
    s.files.write(&["k1"], "k1");
    let mut gw = Gateway::start(&s.files.config()).await;
    let t1 = buy(&s, &window(&gw), 0).await;
    assert!(t1.starts_with("tg1.k1."), "{t1}");
    let t1_under_k2 = resign(&t1, "k2");
    let (_, e) = spend(&s.http, &window(&gw), &t1_under_k2).await;
    assert!(e.starts_with("receipt_unknown_key"), "{e}");

    // Add k2 and make it sign; k1 stays for verification.
    s.files.write(&["k1", "k2"], "k2");
    gw.signal("HUP");
    until("k2 verifies after SIGHUP", async || {
        spend(&s.http, &window(&gw), &t1_under_k2).await.0 == 200
    })
    .await;
    assert_eq!(
        spend(&s.http, &window(&gw), &t1).await.0,
        200,
        "k1 receipts still work"
    );
    let t2 = buy(&s, &window(&gw), 1).await;
    assert!(
        t2.starts_with("tg1.k2."),
        "new receipts are signed with k2: {t2}"
    );

    // A broken key file (a reversed entry) is refused, logged without its secret, and changes
    // nothing.
    let secret = "44".repeat(32);
    write_file(&s.files.keys(), &format!("{secret}:k4"));
    gw.signal("HUP");
    until("the failed reload is logged", async || {
        gw.logged("receipt keys not reloaded")
    })
    .await;
    assert!(!gw.logged(&secret), "a secret reached the log");
    assert_eq!(spend(&s.http, &window(&gw), &t1).await.0, 200);
    assert_eq!(spend(&s.http, &window(&gw), &t2).await.0, 200);

    // Retire k1: its receipts are refused as an unknown key, k2's still work.
    s.files.write(&["k2"], "k2");
    gw.signal("HUP");
    until_unknown_key("k1 receipts refused after k1 is removed", &s, &gw, &t1).await;
    assert_eq!(spend(&s.http, &window(&gw), &t2).await.0, 200);
    assert!(gw.alive(), "SIGHUP reloads, it does not stop the gateway");
    for kid in ["k1", "k2"] {
        assert!(!gw.logged(&entry(kid)[3..]), "secret of {kid} logged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_key_file_is_reloaded_without_a_signal() {
    // The shipped default: the files are checked every 2 s.
    let s = stack(None).await;
    s.files.write(&["k1"], "k1");
    let mut gw = Gateway::start(&s.files.config()).await;
    let t1 = buy(&s, &window(&gw), 0).await;
    let t1_under_k2 = resign(&t1, "k2");

    write_file(&s.files.keys(), &[entry("k1"), entry("k2")].join("\n"));
    until("k2 verifies once the key file changed", async || {
        spend(&s.http, &window(&gw), &t1_under_k2).await.0 == 200
    })
    .await;
    assert_eq!(spend(&s.http, &window(&gw), &t1).await.0, 200);

    // The config names the new signing key and the key file drops k1: both files change.
    s.files.write(&["k2"], "k2");
    until_unknown_key("k1 receipts refused once k1 left the file", &s, &gw, &t1).await;
    assert_eq!(spend(&s.http, &window(&gw), &t1_under_k2).await.0, 200);
    let t2 = buy(&s, &window(&gw), 1).await;
    assert!(t2.starts_with("tg1.k2."), "{t2}");
    assert!(gw.alive());
}
