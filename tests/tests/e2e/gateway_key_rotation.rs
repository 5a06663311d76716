//! Receipt HMAC keys rotate inside a running gateway (no restart, no new instance): receipts
//! signed under a kept key go on working, new ones are signed with the new key, a removed key's
//! receipts are refused, a bad reload changes nothing, and no request fails while keys rotate
//! under receipt-served load.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tollgate_e2e::gateway::*;
use tollgate_e2e::{Db, Env};
use tollgate_gateway::config::ReceiptsConfig;
use tollgate_gateway::{Claims, Gateway, GatewayConfig, InProcess, KeyRing, setup};

/// The time-window route: its receipt serves any number of calls for an hour.
const WINDOW: &str = "/v2/technology-grade/aave";

/// `kid:hex` for the test keys k1, k2 (shared) and k3 (this file's).
fn entry(kid: &str) -> String {
    match kid {
        "k3" => format!("k3:{}", "33".repeat(32)),
        k => test_keys()[k].clone(),
    }
}

/// Replaces the key file with `kids`, by rename, as an operator's deploy tool would.
fn write_keys(path: &Path, kids: &[&str]) {
    write_file(
        path,
        &kids.iter().map(|k| entry(k)).collect::<Vec<_>>().join("\n"),
    );
}

fn write_file(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// A gateway whose receipt keys come from the file at `keys`, signing with k1, and its
/// receipts section (to reload from).
struct Rotating {
    gw: Arc<Gateway>,
    rc: ReceiptsConfig,
    keys: PathBuf,
    proxy: Proxy,
    api: DemoApi,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn rotating(env: &Env) -> Rotating {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("receipt.keys");
    write_keys(&keys, &["k1"]);
    let api = start_demo().await;
    let toml = config_toml(env, &api.url, 1, BUNDLE_CALLS).replace(
        "keys_env = \"TOLLGATE_TEST_RECEIPT_KEYS\"",
        &format!("keys_file = {:?}", keys.display().to_string()),
    );
    let cfg = GatewayConfig::parse(&toml).expect("gateway TOML parses");
    let rc = cfg.receipts.clone().expect("receipts configured");
    let receipts = setup::receipts(&rc, &no_env).await.expect("receipts open");
    let f = Arc::new(InProcess(env.facilitator.clone()));
    let gw = Arc::new(
        Gateway::new(&cfg, f, Some(receipts))
            .await
            .expect("gateway builds"),
    );
    let proxy = serve(gw.clone(), &api.url).await;
    Rotating {
        gw,
        rc,
        keys,
        proxy,
        api,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Rotating {
    /// Writes the key file with `kids`, signs with `signing`, and reloads.
    fn rotate(&mut self, kids: &[&str], signing: &str) -> tollgate_gateway::Rotation {
        write_keys(&self.keys, kids);
        self.rc.signing_key = signing.into();
        self.gw
            .reload_receipt_keys(&self.rc, &no_env)
            .expect("reload succeeds")
    }

    fn url(&self) -> String {
        format!("{}{WINDOW}", self.proxy.url)
    }

    /// Buys the hour-long window as payer `i`; returns its receipt token.
    async fn buy(&self, env: &Env, i: usize) -> String {
        let url = self.url();
        let accepted = first_accept(&get(&self.http, &url, &[]).await);
        let pay = [("PAYMENT-SIGNATURE", v2_header(env, i, &accepted))];
        let a = get(&self.http, &url, &pay).await;
        assert_eq!(a.status, 200, "{a:?}");
        a.header("tollgate-receipt").expect("receipt header")
    }

    /// Calls the window with `token`.
    async fn spend(&self, token: &str) -> Answer {
        spend(&self.http, &self.url(), token).await
    }
}

async fn spend(http: &reqwest::Client, url: &str, token: &str) -> Answer {
    get(http, url, &[("tollgate-receipt", token.to_string())]).await
}

fn error_of(a: &Answer) -> String {
    assert_eq!(a.status, 402, "{a:?}");
    a.decoded("payment-required")["error"]
        .as_str()
        .expect("error string")
        .to_string()
}

tollgate_e2e::both_stores!(
    live_rotation_keeps_old_receipts_until_their_key_is_removed,
    env = Env::start,
    {
        let mut g = rotating(&env).await;
        let old = g.buy(&env, 0).await;
        assert!(old.starts_with("tg1.k1."), "{old}");

        let r = g.rotate(&["k1", "k2"], "k2");
        assert_eq!((r.added, r.removed), (vec!["k2".to_string()], vec![]));
        assert_eq!(r.signing, "k2");
        let a = g.spend(&old).await;
        assert_eq!(a.status, 200, "a k1 receipt works while k1 is kept: {a:?}");
        let new = g.buy(&env, 1).await;
        assert!(
            new.starts_with("tg1.k2."),
            "new receipts are signed with k2: {new}"
        );

        let r = g.rotate(&["k2"], "k2");
        assert_eq!(r.removed, ["k1"]);
        let e = error_of(&g.spend(&old).await);
        assert!(e.starts_with("receipt_unknown_key"), "{e}");
        assert_eq!(g.spend(&new).await.status, 200);

        // A reload that fails (a reversed entry, a signing key not in the file) changes nothing
        // and its error names no secret.
        let secret = "44".repeat(32);
        write_file(&g.keys, &format!("{secret}:k4"));
        let e = g.gw.reload_receipt_keys(&g.rc, &no_env).unwrap_err();
        assert!(!e.to_string().contains(&secret), "{e}");
        write_keys(&g.keys, &["k1"]);
        let e = g.gw.reload_receipt_keys(&g.rc, &no_env).unwrap_err();
        assert!(e.to_string().contains("k2"), "{e}");
        assert_eq!(g.spend(&new).await.status, 200);
        let e = error_of(&g.spend(&old).await);
        assert!(e.starts_with("receipt_unknown_key"), "{e}");
        assert_eq!(g.api.demo.served(), 5);
    }
);

tollgate_e2e::both_stores!(
    rotation_under_receipt_load_fails_no_request,
    env = Env::start,
    {
        let mut g = rotating(&env).await;
        let token = g.buy(&env, 0).await;
        let load = Load::start(&g.http, &g.url(), &token, 6);
        // k1, which signed the receipt in use, is kept through every rotation.
        let steps: [(&[&str], &str); 6] = [
            (&["k1", "k2"], "k2"),
            (&["k1", "k2", "k3"], "k3"),
            (&["k1", "k3"], "k3"),
            (&["k1", "k3"], "k1"),
            (&["k1"], "k1"),
            (&["k1", "k2"], "k2"),
        ];
        for round in 0..3 {
            for (kids, signing) in steps {
                load.wait_for_more(5).await;
                assert_eq!(g.rotate(kids, signing).signing, signing);
            }
            // A bundle sold mid-load is signed with the key in force, and works.
            let bought = g.buy(&env, 1).await;
            assert!(bought.starts_with("tg1.k2."), "round {round}: {bought}");
            assert_eq!(g.spend(&bought).await.status, 200);
        }
        load.wait_for_more(5).await;
        let (served, failures) = load.stop().await;
        assert!(failures.is_empty(), "failed during rotation: {failures:#?}");
        assert!(served >= 18 * 5, "load ran across the rotations: {served}");
        // The receipt dies the moment its key is removed, also mid-load.
        g.rotate(&["k2"], "k2");
        let e = error_of(&g.spend(&token).await);
        assert!(e.starts_with("receipt_unknown_key"), "{e}");
    }
);

/// Workers spending one receipt in a loop, counting answers.
struct Load {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    workers: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(http: &reqwest::Client, url: &str, token: &str, n: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let workers = (0..n)
            .map(|_| {
                let (http, url, token) = (http.clone(), url.to_string(), token.to_string());
                let (stop, served) = (stop.clone(), served.clone());
                tokio::spawn(async move {
                    let mut failures = Vec::new();
                    while !stop.load(Ordering::Acquire) {
                        let a = spend(&http, &url, &token).await;
                        if a.status == 200 {
                            served.fetch_add(1, Ordering::AcqRel);
                        } else {
                            failures.push(format!("{a:?}"));
                        }
                    }
                    failures
                })
            })
            .collect();
        Self {
            stop,
            served,
            workers,
        }
    }

    /// Returns once `n` more calls were served (the load is running), or panics after 60 s.
    async fn wait_for_more(&self, n: u64) {
        let target = self.served.load(Ordering::Acquire) + n;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while self.served.load(Ordering::Acquire) < target {
            assert!(
                tokio::time::Instant::now() < deadline,
                "load stalled at {}",
                self.served.load(Ordering::Acquire)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the workers; returns calls served and every failed answer.
    async fn stop(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Release);
        let mut failures = Vec::new();
        for w in self.workers {
            failures.extend(w.await.expect("worker"));
        }
        (self.served.load(Ordering::Acquire), failures)
    }
}

/// A receipt token for `claims` signed by the test key `kid`, as the operator holding it could.
fn sign_as(kid: &str, claims: &Claims) -> String {
    KeyRing::parse(&entry(kid), kid)
        .expect("test key")
        .sign(claims)
}

/// The claims inside a token.
fn claims_of(token: &str) -> Claims {
    let body = token.split('.').nth(2).expect("claims part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).expect("base64")).expect("claims")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_added_by_hand_verifies_receipts_it_signs() {
    let env = Env::start(Db::Sqlite).await.expect("SQLite always runs");
    let mut g = rotating(&env).await;
    let token = g.buy(&env, 0).await;
    let under_k3 = sign_as("k3", &claims_of(&token));
    let e = error_of(&g.spend(&under_k3).await);
    assert!(e.starts_with("receipt_unknown_key"), "{e}");
    // Rotation from the embedding code, without a file: the handle the Layer user holds.
    let ring = KeyRing::parse(&[entry("k1"), entry("k3")].join(","), "k1").expect("ring");
    let r = g.gw.receipt_keys().expect("receipts on").rotate(ring);
    assert_eq!(r.added, ["k3"]);
    assert_eq!(g.spend(&under_k3).await.status, 200);
    assert_eq!(g.spend(&token).await.status, 200);
    g.rotate(&["k3"], "k3");
    let e = error_of(&g.spend(&token).await);
    assert!(e.starts_with("receipt_unknown_key"), "{e}");
}
