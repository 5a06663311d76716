//! Settlement keys rotate without a restart. The `tollgate facilitator` process settles from a
//! directory of key files while four workers keep posting `/settle`: a key added to the
//! directory is picked up by the file watch, another removed and announced with SIGHUP. Not one
//! request fails, every payment settles exactly once, the added key signs after it appears and
//! the retired key signs nothing new. A signer drained below the minimum gas balance leaves
//! rotation and shows so in `/health` and `/metrics`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use alloy::network::TransactionResponse;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use tokio::process::Child;
use tollgate_devnet::{Anvil, AnvilOptions, DevEvm};
use tollgate_e2e::process::{post_settle, spawn_facilitator};
use tollgate_e2e::{Db, Payment, TestDb};
use tollgate_proto::Network;

const NETWORK: &str = "eip155:31337";
const WORKERS: usize = 4;
/// Settlements each stage of the rotation test waits for before it moves on.
const PER_STAGE: usize = 15;
/// A bound on one worker's payments, whatever the pace.
const MAX_PER_WORKER: usize = 300;
const AMOUNT: u64 = 1_000;
const ETH: u128 = 1_000_000_000_000_000_000;

/// Phases of the rotation test, as a worker saw them when it sent a request.
const BEFORE: u8 = 0;
const ADDED: u8 = 1;
const RETIRED: u8 = 2;
const STOP: u8 = 3;

/// The facilitator process, its chain and the files it reads.
struct Stack {
    dev: DevEvm,
    keys: PathBuf,
    url: String,
    child: Child,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// Settles a new payment of `AMOUNT` from payer 0: the facilitator's answer.
    async fn settle_new_payment(&self) -> Value {
        let network = Network::evm(31337);
        let payer = self.dev.payers[0].clone();
        let p = Payment::new(&self.dev, &network, payer, U256::from(AMOUNT));
        post_settle(&self.url, &p.v2()).await.expect("answer")
    }
}

/// A fresh signer with `wei` of gas money on the dev chain.
async fn funded_signer(dev: &DevEvm, wei: u128) -> PrivateKeySigner {
    let s = PrivateKeySigner::random();
    set_balance(dev, s.address(), wei).await;
    s
}

async fn set_balance(dev: &DevEvm, who: Address, wei: u128) {
    dev.anvil.set_balance(who, U256::from(wei)).await.unwrap();
}

/// Writes a key file the way an operator should: a dotfile first (which the facilitator must
/// ignore), then renamed into place.
fn write_key(dir: &Path, name: &str, signer: &PrivateKeySigner) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(
        &tmp,
        format!("0x{}\n", alloy::hex::encode(signer.to_bytes())),
    )
    .expect("key");
    std::fs::rename(&tmp, dir.join(name)).expect("rename key");
}

/// Starts `tollgate facilitator` over a key directory holding `signers`, with `top` added to
/// the config's top level and `extra` to its `[[evm]]` table.
async fn start(signers: &[&PrivateKeySigner], dev: DevEvm, top: &str, extra: &str) -> Stack {
    let db = TestDb::create(Db::Sqlite).await.expect("sqlite ledger");
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).expect("key dir");
    for (i, s) in signers.iter().enumerate() {
        write_key(&keys, &format!("key{i}"), s);
    }
    // An editor's leftovers are not keys.
    std::fs::write(keys.join("key0~"), "not a key").expect("backup file");
    let config = dir.path().join("facilitator.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"{}\"\nreceipt_timeout_secs = 20\nallow_any_asset = true\n{top}\n[[evm]]\nnetwork = \"{NETWORK}\"\nrpc_url = \"{}\"\nprivate_key_dir = \"{}\"\n{extra}",
        db.url,
        dev.anvil.rpc_url,
        keys.display()
    );
    std::fs::write(&config, text).expect("config");
    let bin = Path::new(env!("CARGO_BIN_EXE_tollgate"));
    let (child, url) = spawn_facilitator(bin, &config, &[]).await;
    Stack {
        dev,
        keys,
        url,
        child,
        _db: db,
        _dir: dir,
    }
}

async fn dev_chain(payers: usize) -> DevEvm {
    let anvil = Anvil::start(AnvilOptions::default()).await.expect("anvil");
    DevEvm::start(anvil, payers, U256::from(1_000_000_000u64))
        .await
        .expect("dev chain")
}

/// `/health`: status code and body.
async fn health(url: &str) -> (u16, Value) {
    let resp = reqwest::get(format!("{url}/health")).await.expect("health");
    (resp.status().as_u16(), resp.json().await.expect("json"))
}

async fn metrics(url: &str) -> String {
    let resp = reqwest::get(format!("{url}/metrics"))
        .await
        .expect("metrics");
    resp.text().await.expect("text")
}

/// The signers `/health` lists for the test chain: address to its entry.
fn signers(h: &Value) -> Vec<(String, Value)> {
    h["signers"][NETWORK]["signers"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|s| (s["address"].as_str().unwrap_or("").to_string(), s.clone()))
        .collect()
}

fn addr(s: &PrivateKeySigner) -> String {
    s.address().to_checksum(None)
}

/// Polls `/health` until `ok` holds of it, or panics after 20 s naming `what`.
async fn until_health(url: &str, what: &str, ok: impl Fn(u16, &Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, h) = health(url).await;
        if ok(status, &h) {
            return h;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} within 20 s; /health says {status} {h}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `count` reaches `n`, or panics after 60 s.
async fn until_count(count: &AtomicUsize, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::SeqCst) < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} settlements within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One worker: posts fresh payments from its payer until the phase is `STOP`, recording the
/// phase each request was sent in and the answer (or the transport error) it got.
async fn worker(
    url: String,
    template: Payment,
    phase: Arc<AtomicU8>,
    settled: Arc<AtomicUsize>,
) -> Vec<(u8, Result<Value, String>)> {
    let mut out = Vec::new();
    while phase.load(Ordering::SeqCst) != STOP && out.len() < MAX_PER_WORKER {
        let mut p = template.clone();
        p.auth.nonce = B256::random();
        // STOP may land between the check above and here: the request still counts as sent
        // after the retirement.
        let sent_in = phase.load(Ordering::SeqCst).min(RETIRED);
        let answer = post_settle(&url, &p.v2()).await.map_err(|e| e.to_string());
        settled.fetch_add(1, Ordering::SeqCst);
        out.push((sent_in, answer));
    }
    out
}

/// The account that sent transaction `hash`.
async fn sender(dev: &DevEvm, hash: &str) -> Address {
    let h: B256 = hash.parse().expect("tx hash");
    dev.anvil
        .provider()
        .get_transaction_by_hash(h)
        .await
        .expect("tx lookup")
        .expect("tx on chain")
        .from()
}

fn sighup(child: &Child) {
    let pid = child.id().expect("running");
    assert!(
        tollgate_e2e::process::signal(pid, "HUP"),
        "SIGHUP delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_rotate_under_load_without_a_failed_request() {
    let dev = dev_chain(WORKERS).await;
    let first = dev.facilitator.clone();
    let second = funded_signer(&dev, 100 * ETH).await;
    let added = funded_signer(&dev, 100 * ETH).await;
    let s = start(&[&first, &second], dev, "", "").await;
    let h = until_health(&s.url, "both keys served", |st, h| {
        st == 200 && signers(h).len() == 2
    })
    .await;
    assert_eq!(
        h["signers"][NETWORK]["signers"][0]["in_rotation"],
        json!(true),
        "{h}"
    );

    let network = Network::evm(31337);
    let phase = Arc::new(AtomicU8::new(BEFORE));
    let settled = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|i| {
            let template = Payment::new(
                &s.dev,
                &network,
                s.dev.payers[i].clone(),
                U256::from(AMOUNT),
            );
            tokio::spawn(worker(
                s.url.clone(),
                template,
                phase.clone(),
                settled.clone(),
            ))
        })
        .collect();

    // Added while load runs, no signal: the file watch picks it up.
    until_count(&settled, PER_STAGE).await;
    write_key(&s.keys, "added", &added);
    until_health(&s.url, "the added key in rotation", |_, h| {
        signers(h)
            .iter()
            .any(|(a, v)| *a == addr(&added) && v["in_rotation"] == json!(true))
    })
    .await;
    phase.store(ADDED, Ordering::SeqCst);

    // Retired while load runs, announced with SIGHUP.
    let n = settled.load(Ordering::SeqCst);
    until_count(&settled, n + PER_STAGE).await;
    std::fs::remove_file(s.keys.join("key0")).expect("retire the first key");
    sighup(&s.child);
    until_health(&s.url, "the retired key gone", |_, h| {
        let now = signers(h);
        now.len() == 2 && now.iter().all(|(a, _)| *a != addr(&first))
    })
    .await;
    phase.store(RETIRED, Ordering::SeqCst);
    let n = settled.load(Ordering::SeqCst);
    until_count(&settled, n + PER_STAGE).await;
    phase.store(STOP, Ordering::SeqCst);

    let mut answers = Vec::new();
    for w in workers {
        answers.extend(w.await.expect("worker"));
    }
    let mut hashes = std::collections::HashSet::new();
    let mut by_phase: [Vec<Address>; 3] = Default::default();
    for (sent_in, answer) in &answers {
        let v = answer.as_ref().expect("no transport failure");
        assert_eq!(v["success"], json!(true), "zero failed requests: {v}");
        let hash = v["transaction"].as_str().expect("tx hash");
        assert!(
            hashes.insert(hash.to_string()),
            "one transaction per payment"
        );
        by_phase[usize::from(*sent_in)].push(sender(&s.dev, hash).await);
    }
    let total = answers.len();
    assert!(total >= 3 * PER_STAGE, "load ran through the rotation");
    let paid = s
        .dev
        .balance(s.dev.usdc.address, s.dev.pay_to)
        .await
        .expect("balance");
    assert_eq!(
        paid,
        U256::from(AMOUNT) * U256::from(total),
        "every payment settled exactly once"
    );
    let used = |phase: usize, who: &PrivateKeySigner| {
        by_phase[phase]
            .iter()
            .filter(|a| **a == who.address())
            .count()
    };
    assert!(
        used(ADDED as usize, &added) + used(RETIRED as usize, &added) > 0,
        "the added key settles"
    );
    assert_eq!(
        used(RETIRED as usize, &first),
        0,
        "the retired key signs nothing new"
    );
    assert!(
        used(RETIRED as usize, &second) > 0,
        "the kept key still settles"
    );
    eprintln!(
        "rotation: {total} settlements, by phase {:?}",
        by_phase.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_low_on_gas_leaves_rotation_and_shows_it() {
    let dev = dev_chain(1).await;
    let rich = dev.facilitator.clone();
    let poor = funded_signer(&dev, ETH).await;
    // 0.01 ETH; checked every second.
    let extra = "min_signer_balance_wei = \"10000000000000000\"\nsigner_check_secs = 1\n";
    let s = start(&[&rich, &poor], dev, "", extra).await;
    until_health(&s.url, "both signers in rotation", |st, h| {
        st == 200
            && signers(h)
                .iter()
                .filter(|(_, v)| v["in_rotation"] == json!(true))
                .count()
                == 2
    })
    .await;

    set_balance(&s.dev, poor.address(), 1_000).await;
    let h = until_health(&s.url, "the drained signer out of rotation", |_, h| {
        signers(h)
            .iter()
            .any(|(a, v)| *a == addr(&poor) && v["in_rotation"] == json!(false))
    })
    .await;
    let entry = |h: &Value, who: &PrivateKeySigner| {
        signers(h)
            .into_iter()
            .find(|(a, _)| *a == addr(who))
            .expect("listed")
            .1
    };
    assert_eq!(entry(&h, &poor)["balance_wei"], json!("1000"), "{h}");
    assert_eq!(entry(&h, &rich)["in_rotation"], json!(true), "{h}");
    assert_eq!(h["status"], json!("ok"), "one signer left is enough: {h}");
    let m = metrics(&s.url).await;
    let gauge = |name: &str, who: &PrivateKeySigner| {
        format!("{name}{{network=\"{NETWORK}\",signer=\"{}\"}}", addr(who))
    };
    assert!(
        m.contains(&format!(
            "{} 0\n",
            gauge("tollgate_signer_in_rotation", &poor)
        )),
        "{m}"
    );
    assert!(
        m.contains(&format!(
            "{} 1\n",
            gauge("tollgate_signer_in_rotation", &rich)
        )),
        "{m}"
    );
    assert!(
        m.contains(&format!(
            "{} 0\n",
            gauge("tollgate_signer_balance_gwei", &poor)
        )),
        "{m}"
    );

    for _ in 0..6 {
        let v = s.settle_new_payment().await;
        assert_eq!(v["success"], json!(true), "{v}");
        let from = sender(&s.dev, v["transaction"].as_str().expect("hash")).await;
        assert_eq!(from, rich.address(), "only the funded signer settles");
    }
    assert_eq!(s.dev.tx_count(poor.address()).await.expect("nonce"), 0);

    // Every signer low: still settling (each can pay some gas), but /health says so.
    set_balance(&s.dev, rich.address(), 5_000_000_000_000_000).await;
    set_balance(&s.dev, poor.address(), 5_000_000_000_000_000).await;
    let h = until_health(&s.url, "no signer above the minimum", |st, _| st == 503).await;
    assert!(
        h["checks"][format!("{NETWORK} signers")]
            .as_str()
            .is_some_and(|c| c.contains("below")),
        "{h}"
    );
    let v = s.settle_new_payment().await;
    assert_eq!(v["success"], json!(true), "settles with what is left: {v}");

    // Refilled: back in rotation.
    set_balance(&s.dev, poor.address(), ETH).await;
    until_health(&s.url, "the refilled signer back in rotation", |st, h| {
        st == 200
            && signers(h)
                .iter()
                .any(|(a, v)| *a == addr(&poor) && v["in_rotation"] == json!(true))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_alone_reloads_keys_when_polling_is_off() {
    let dev = dev_chain(0).await;
    let first = dev.facilitator.clone();
    let added = funded_signer(&dev, ETH).await;
    let s = start(&[&first], dev, "keys_poll_secs = 0\n", "").await;
    until_health(&s.url, "one key served", |st, h| {
        st == 200 && signers(h).len() == 1
    })
    .await;
    // No file watch: only the signal can bring the new key in.
    write_key(&s.keys, "added", &added);
    sighup(&s.child);
    until_health(&s.url, "the key added on SIGHUP", |_, h| {
        signers(h).iter().any(|(a, _)| *a == addr(&added))
    })
    .await;
}
