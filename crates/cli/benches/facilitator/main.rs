//! Facilitator benchmark against a local anvil: `/verify` and `/settle` throughput and latency
//! at 32 concurrent connections, RPC calls per verify, block packing with 2-second blocks, and
//! the facilitator process's peak RSS. Baseline in the same run: raw `eth_call` of the same
//! simulation straight to anvil, the ceiling for any verify that must ask the chain once.
//!
//! Run: `cargo bench -p tollgate --bench facilitator`

mod load;
mod rpc_tap;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::U256;
use alloy::providers::Provider;
use serde_json::{Value, json};
use tokio::process::Child;
use tollgate_devnet::{Anvil, AnvilOptions, DevEvm};
use tollgate_e2e::process::spawn_facilitator;
use tollgate_e2e::{Payment, Permit2Payment};
use tollgate_proto::Network;

const CONNS: usize = 32;
const PRICE: u64 = 17_000;

struct Facilitator {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

async fn facilitator(dev: &DevEvm, rpc_url: &str) -> Facilitator {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("facilitator.toml");
    let db = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let toml = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"{db}\"\nallow_any_asset = true\n\n[[evm]]\nnetwork = \"eip155:31337\"\nrpc_url = \"{rpc_url}\"\nprivate_key_env = \"BENCH_SETTLEMENT_KEY\"\nreceipt_poll_ms = 20\n"
    );
    std::fs::write(&config, toml).expect("config");
    let key = alloy::hex::encode(dev.facilitator.to_bytes());
    let bin = Path::new(env!("CARGO_BIN_EXE_tollgate"));
    let (child, url) = spawn_facilitator(
        bin,
        &config,
        &[("BENCH_SETTLEMENT_KEY", key), ("RUST_LOG", "warn".into())],
    )
    .await;
    Facilitator {
        child,
        url,
        _dir: dir,
    }
}

fn peak_rss_mb(child: &Child) -> f64 {
    let pid = child.id().expect("running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn payments(dev: &DevEvm, n: usize) -> Vec<Payment> {
    let net = Network::evm(dev.anvil.chain_id);
    (0..n)
        .map(|i| {
            Payment::new(
                dev,
                &net,
                dev.payers[i % dev.payers.len()].clone(),
                U256::from(PRICE),
            )
        })
        .collect()
}

/// Verifies `bodies` at `CONNS` connections for `secs`, cycling, and prints the figures.
async fn verify_run(
    url: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    secs: Duration,
    what: &str,
) -> load::Report {
    let r = load::run(&format!("{url}/verify"), bodies, CONNS, secs, true, |v| {
        v["isValid"] == json!(true)
    })
    .await;
    println!("{}", r.line(what));
    r
}

/// Valid Permit2 TMAI payments: every payer holds TMAI and has approved Permit2 once.
async fn permit2_payments(dev: &DevEvm, n: usize) -> Vec<Vec<u8>> {
    let tmai = U256::from(1_000_000u64) * U256::from(10u64).pow(U256::from(18u64));
    for p in &dev.payers {
        dev.mint(dev.tmai.address, p.address(), tmai)
            .await
            .expect("mint TMAI");
        dev.approve_permit2(p, dev.tmai.address, U256::MAX)
            .await
            .expect("approve Permit2");
    }
    let net = Network::evm(dev.anvil.chain_id);
    let amount = U256::from(153u64) * U256::from(10u64).pow(U256::from(16u64)); // 1.53 TMAI
    (0..n)
        .map(|i| {
            let p =
                Permit2Payment::new(dev, &net, dev.payers[i % dev.payers.len()].clone(), amount);
            serde_json::to_vec(&p.v2()).expect("json")
        })
        .collect()
}

fn bodies(p: &[Payment]) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        p.iter()
            .map(|p| serde_json::to_vec(&p.v2()).expect("json"))
            .collect(),
    )
}

/// The `eth_call` a verify makes, as raw JSON-RPC bodies.
fn eth_calls(dev: &DevEvm, p: &[Payment]) -> Arc<Vec<Vec<u8>>> {
    use alloy::sol_types::SolCall;
    use tollgate_evm::contracts::IEip3009;
    let to = dev.usdc.address;
    Arc::new(
        p.iter()
            .map(|p| {
                let sig = alloy::primitives::Signature::try_from(p.signature_bytes().as_slice()).expect("sig");
                let a = &p.auth;
                let data = IEip3009::transferWithAuthorization_0Call {
                    from: a.from,
                    to: a.to,
                    value: a.value,
                    validAfter: a.valid_after,
                    validBefore: a.valid_before,
                    nonce: a.nonce,
                    v: 27 + sig.v() as u8,
                    r: sig.r().into(),
                    s: sig.s().into(),
                }
                .abi_encode();
                let call = json!({"from": dev.facilitator.address(), "to": to, "input": format!("0x{}", alloy::hex::encode(data))});
                serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call, "latest"]})).expect("json")
            })
            .collect(),
    )
}

/// Groups single JSON-RPC bodies into batch bodies of `n` calls.
fn batches(single: &[Vec<u8>], n: usize) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        single
            .chunks(n)
            .map(|c| {
                let calls: Vec<Value> = c
                    .iter()
                    .map(|b| serde_json::from_slice(b).expect("json"))
                    .collect();
                serde_json::to_vec(&calls).expect("json")
            })
            .collect(),
    )
}

async fn chain(block_time: Option<u64>, payers: usize) -> DevEvm {
    let anvil = Anvil::start(AnvilOptions {
        chain_id: 31337,
        block_time,
    })
    .await
    .expect("anvil");
    DevEvm::start(anvil, payers, U256::from(1_000_000_000u64))
        .await
        .expect("dev chain")
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let secs = Duration::from_secs(if quick { 2 } else { 10 });
    println!("tollgate facilitator bench: {CONNS} connections, anvil on the same 2-core box\n");

    let dev = chain(None, 64).await;
    let verify_set = payments(&dev, 4096);
    let baseline = load::run(
        &dev.anvil.rpc_url,
        eth_calls(&dev, &verify_set),
        CONNS,
        secs,
        true,
        |v| v.get("result").is_some(),
    )
    .await;
    println!("{}", baseline.line("baseline: raw eth_call to anvil"));
    let batched = load::run(
        &dev.anvil.rpc_url,
        batches(&eth_calls(&dev, &verify_set), 8),
        CONNS,
        secs,
        true,
        |v| v.is_array(),
    )
    .await;
    println!(
        "{}",
        batched.line("baseline: eth_call in JSON-RPC batches of 8")
    );
    println!("    = {:.0} eth_calls/s", batched.per_sec() * 8.0);

    let mut f = facilitator(&dev, &dev.anvil.rpc_url).await;
    let verify = verify_run(
        &f.url,
        bodies(&verify_set),
        secs,
        "/verify (valid EIP-3009, one simulation each)",
    )
    .await;
    println!(
        "    verify throughput is {:.0}% of the raw eth_call ceiling",
        100.0 * verify.per_sec() / baseline.per_sec()
    );

    let permit2_set = permit2_payments(&dev, if quick { 512 } else { 4096 }).await;
    verify_run(
        &f.url,
        Arc::new(permit2_set),
        secs,
        "/verify (valid Permit2 TMAI, one simulation each)",
    )
    .await;

    let (tap_url, counts) = rpc_tap::start(&dev.anvil.rpc_url).await;
    let tapped = facilitator(&dev, &tap_url).await;
    let before = counts.read();
    let n = 200;
    let tap_run = load::run(
        &format!("{}/verify", tapped.url),
        bodies(&verify_set[..n]),
        1,
        Duration::from_secs(60),
        false,
        |v| v["isValid"] == json!(true),
    )
    .await;
    let after = counts.read();
    println!(
        "RPC per valid verify: {:.2} calls in {:.2} round trips ({} verifies, {} valid)",
        (after.0 - before.0) as f64 / n as f64,
        (after.1 - before.1) as f64 / n as f64,
        n,
        tap_run.ok
    );
    drop(tapped);

    println!(
        "facilitator peak RSS after the verify runs: {:.1} MB",
        peak_rss_mb(&f.child)
    );
    let _ = f.child.kill().await;
    drop(dev);

    // Settles run on a fresh chain: ~100k simulations leave anvil slower at building blocks.
    let fresh = chain(None, 64).await;
    let f1 = facilitator(&fresh, &fresh.anvil.rpc_url).await;
    let settle_n = if quick { 200 } else { 2000 };
    let settle = load::run(
        &format!("{}/settle", f1.url),
        bodies(&payments(&fresh, settle_n)),
        CONNS,
        Duration::from_secs(600),
        false,
        |v| v["success"] == json!(true),
    )
    .await;
    println!("{}", settle.line("/settle, anvil automining"));
    println!(
        "facilitator peak RSS after the settle run: {:.1} MB",
        peak_rss_mb(&f1.child)
    );
    drop(f1);
    drop(fresh);

    let slow = chain(Some(2), 64).await;
    let f2 = facilitator(&slow, &slow.anvil.rpc_url).await;
    let burst = payments(&slow, if quick { 64 } else { 256 });
    let hashes = settle_collecting(&format!("{}/settle", f2.url), &burst).await;
    let provider = slow.anvil.provider();
    let mut per_block: BTreeMap<u64, usize> = BTreeMap::new();
    for h in &hashes {
        let r = provider
            .get_transaction_receipt(h.parse().expect("hash"))
            .await
            .expect("rpc")
            .expect("mined");
        *per_block.entry(r.block_number.expect("block")).or_default() += 1;
    }
    let max = per_block.values().max().copied().unwrap_or(0);
    println!(
        "/settle with 2 s blocks: {} settles landed in {} blocks (max {} in one block; {CONNS} in flight at a time)",
        hashes.len(),
        per_block.len(),
        max
    );
    println!(
        "facilitator peak RSS (2 s blocks run): {:.1} MB",
        peak_rss_mb(&f2.child)
    );
}

/// Settles `burst` at `CONNS` concurrency and returns the transaction hashes of the successes.
async fn settle_collecting(url: &str, burst: &[Payment]) -> Vec<String> {
    let client = reqwest::Client::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(CONNS));
    let mut tasks = Vec::new();
    for p in burst {
        let (client, url, body, sem) = (client.clone(), url.to_string(), p.v2(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.expect("semaphore");
            let v: Value = client
                .post(&url)
                .json(&body)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (v["success"] == json!(true))
                .then(|| v["transaction"].as_str().map(str::to_string))
                .flatten()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        if let Some(h) = t.await.expect("task") {
            out.push(h);
        }
    }
    out
}
