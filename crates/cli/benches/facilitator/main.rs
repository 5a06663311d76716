//! Facilitator benchmark against a local anvil, every facilitator on its DEFAULT configuration
//! (no tuned `receipt_poll_ms`), in one run:
//!
//! 1. `/verify` of valid EIP-3009 payments at 32 connections against the raw `eth_call` ceiling
//!    (the same simulation straight to anvil) with their ratio; Permit2 verify; RPC calls per
//!    verify; peak RSS.
//! 2. `/settle` with anvil automining at 16 connections: round 1; a burst whose client is
//!    aborted with settles in flight (connections dropped); round 2 right after. Settles/s, p50,
//!    p99 and successes per round, what the cut burst left on chain, the signer's nonces.
//! 3. The official x402 SDK's facilitator (`x402Facilitator` + viem, served by
//!    `tests/interop/sdk_facilitator.mjs`; needs Node.js and `scripts/setup.sh`) on the same
//!    chain with its own funded key, 16 connections, settles/s, p50, p99: once with the viem
//!    account as the SDK's examples make it (concurrent settles collide on the key's nonce, so
//!    many fail) and once with viem's `nonceManager`; the 2x target is taken against the better.
//! 4. Block packing with 2-second blocks, and a summary of issue 11's targets, each marked met
//!    or NOT met.
//!
//! Run (release, the real figures): `cargo bench -p tollgate --bench facilitator`
//! Smoke run on the debug build (figures not representative):
//! `cargo bench --profile dev -p tollgate --bench facilitator -- --quick`
//! `--quick` shortens every run (2 s verify runs, 200 settles a round instead of 2000).

mod load;
mod rpc_tap;
mod sdk;
mod settle;
mod summary;
mod verify;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::U256;
use tokio::process::Child;
use tollgate_devnet::{Anvil, AnvilOptions, DevEvm};
use tollgate_e2e::Payment;
use tollgate_e2e::process::spawn_facilitator;
use tollgate_proto::Network;

/// Connections of the verify runs and of the 2 s block packing burst.
const CONNS: usize = 32;
const PRICE: u64 = 17_000;

struct Facilitator {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

/// `tollgate facilitator` on SQLite with nothing but what it must be told: no tuning.
async fn facilitator(dev: &DevEvm, rpc_url: &str) -> Facilitator {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("facilitator.toml");
    let db = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let toml = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"{db}\"\nallow_any_asset = true\n\n[[evm]]\nnetwork = \"eip155:31337\"\nrpc_url = \"{rpc_url}\"\nprivate_key_env = \"BENCH_SETTLEMENT_KEY\"\n"
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

/// `n` valid USDC payments of `PRICE`, spread over the payers (each with a random nonce).
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

fn bodies(p: &[Payment]) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        p.iter()
            .map(|p| serde_json::to_vec(&p.v2()).expect("json"))
            .collect(),
    )
}

async fn chain(block_time: Option<u64>, payers: usize) -> DevEvm {
    let anvil = Anvil::start(AnvilOptions {
        chain_id: 31337,
        block_time,
        // Thousands of settlements on one chain: with its full history anvil slows as the chain
        // grows (round 1 of 2000 settles ran 174/s with it, 285-307/s without; a fresh
        // facilitator and ledger on the grown chain stayed slow), which is anvil, not us.
        keep_history: false,
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
    println!(
        "tollgate facilitator bench: default facilitator config, anvil on the same box{}{}\n",
        if quick { ", --quick" } else { "" },
        if cfg!(debug_assertions) {
            "\nDEBUG BUILD: a smoke run, not the real figures (run without --profile dev)"
        } else {
            ""
        }
    );

    let dev = chain(None, 64).await;
    let verified = verify::run(&dev, secs, quick).await;
    drop(dev);

    // Settles run on a fresh chain: ~100k simulations leave anvil slower at building blocks.
    let settled = settle::rounds(quick).await;
    settle::packing(quick).await;
    summary::print(&verified, &settled);
}
