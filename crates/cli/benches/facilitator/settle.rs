//! The settle half, every Tollgate facilitator on its default configuration: two rounds at
//! `SETTLE_CONNS` connections with a mid-flight disconnect between them, the official SDK's
//! facilitator on the same chain, and block packing with 2-second blocks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use alloy::providers::Provider;
use serde_json::{Value, json};
use tollgate_devnet::DevEvm;
use tollgate_e2e::Payment;

use crate::fixture::{CONNS, PRICE, bodies, chain, facilitator, payments, peak_rss_mb};
use crate::{load, sdk};

pub const SETTLE_CONNS: usize = 16;
/// A round stops starting settles after this long, so a stalled facilitator ends the run.
const ROUND_BUDGET: Duration = Duration::from_secs(180);

/// What the summary needs from the settle rounds.
pub struct Figures {
    /// Settles sent in each round (a round gives up sending after `ROUND_BUDGET`).
    pub n: usize,
    pub round1: load::Report,
    pub round2: load::Report,
    /// The SDK's facilitator without and with viem's nonce manager (x402Facilitator + viem).
    pub sdk: Vec<(&'static str, Result<load::Report, String>)>,
}

fn success(v: &Value) -> bool {
    v["success"] == json!(true)
}

/// Settles `set` once each at `SETTLE_CONNS` connections.
async fn round(url: &str, set: Arc<Vec<Vec<u8>>>) -> load::Report {
    load::run(url, set, SETTLE_CONNS, ROUND_BUDGET, false, success).await
}

/// Settlements paid to the dev chain's payee so far.
async fn paid(dev: &DevEvm) -> usize {
    let b = dev
        .balance(dev.usdc.address, dev.pay_to)
        .await
        .expect("rpc");
    (b / alloy::primitives::U256::from(PRICE)).to::<usize>()
}

/// Tollgate round 1, a burst cut off mid-flight, round 2 right after; then the SDK's facilitator
/// on the same chain with a key of its own.
pub async fn rounds(quick: bool) -> Figures {
    let dev = chain(None, 64).await;
    let n = if quick { 200 } else { 2000 };
    let burst_n = if quick { 64 } else { 256 };
    // Signed up front, so round 2 starts the moment the burst is cut.
    let (set1, burst, set2) = (
        bodies(&payments(&dev, n)),
        bodies(&payments(&dev, burst_n)),
        bodies(&payments(&dev, n)),
    );
    println!(
        "\n/settle, DEFAULT facilitator config (no receipt_poll_ms), anvil automining, \
         {SETTLE_CONNS} connections, {n} settles a round"
    );
    let mut f = facilitator(&dev, &dev.anvil.rpc_url).await;
    let url = format!("{}/settle", f.url);
    let paid0 = paid(&dev).await;
    let round1 = round(&url, set1).await;
    println!("{}", round1.line("  Tollgate round 1"));
    let cut = load::abort_midway(&url, burst, SETTLE_CONNS, burst_n / 2).await;
    println!(
        "  mid-flight disconnect: {} of {burst_n} settles started, {} answered, the client \
         then aborted with {} in flight and dropped its connections",
        cut.started,
        cut.answered,
        cut.started - cut.answered
    );
    let round2 = round(&url, set2).await;
    println!(
        "{}",
        round2.line("  Tollgate round 2 (right after the cut)")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let landed = (paid(&dev).await - paid0).saturating_sub(round1.ok + round2.ok);
    println!(
        "  the cut burst's settles on chain: {landed} of the {} started",
        cut.started
    );
    signer_state(&dev).await;
    println!(
        "  facilitator peak RSS after the settle rounds: {:.1} MB",
        peak_rss_mb(&f.child)
    );
    let _ = f.child.kill().await;

    let mut sdk = Vec::new();
    for (label, nonce_manager) in [
        ("official SDK, viem account as is", false),
        ("official SDK, viem + nonceManager", true),
    ] {
        let set = bodies(&payments(&dev, n));
        let run = match sdk::start(&dev, nonce_manager).await {
            Ok(s) => {
                let r = round(&format!("{}/settle", s.url), set).await;
                println!("{}", r.line(&format!("  {label}")));
                Ok(r)
            }
            Err(e) => {
                println!("  {label}: did NOT run: {e}");
                Err(e)
            }
        };
        sdk.push((label, run));
    }
    Figures {
        n,
        round1,
        round2,
        sdk,
    }
}

/// Prints the Tollgate signer's nonces and anvil's pool: a queued transaction is a nonce gap.
async fn signer_state(dev: &DevEvm) {
    let p = dev.anvil.provider();
    let who = dev.facilitator.address();
    let latest = p.get_transaction_count(who).await.expect("rpc");
    let pending = p.get_transaction_count(who).pending().await.expect("rpc");
    let pool: Value = p
        .raw_request("txpool_status".into(), json!([]))
        .await
        .unwrap_or(Value::Null);
    let count = |k: &str| {
        pool[k]
            .as_str()
            .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())
            .map_or("?".to_string(), |n| n.to_string())
    };
    println!(
        "  signer nonce: {latest} mined, {pending} pending; anvil pool: {} pending, {} queued \
         (queued > 0 is a nonce gap)",
        count("pending"),
        count("queued")
    );
}

/// 2-second blocks: how many settles the default facilitator packs into one block.
pub async fn packing(quick: bool) {
    let slow = chain(Some(2), 64).await;
    let f = facilitator(&slow, &slow.anvil.rpc_url).await;
    let burst = payments(&slow, if quick { 64 } else { 256 });
    let hashes = settle_collecting(&format!("{}/settle", f.url), &burst).await;
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
        "\n/settle with 2 s blocks: {} of {} settles landed in {} blocks (max {} in one block; \
         {CONNS} in flight at a time)",
        hashes.len(),
        burst.len(),
        per_block.len(),
        max
    );
    println!(
        "facilitator peak RSS (2 s blocks run): {:.1} MB",
        peak_rss_mb(&f.child)
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
            success(&v)
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
