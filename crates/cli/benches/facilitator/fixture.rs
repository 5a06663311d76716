//! What both halves of the bench stand on: a dev chain, a facilitator on its default
//! configuration, valid payments and their request bodies, and the memory a process used.

use std::path::Path;
use std::sync::Arc;

use alloy::primitives::U256;
use tokio::process::Child;
use tollgate_devnet::{Anvil, AnvilOptions, DevEvm};
use tollgate_e2e::Payment;
use tollgate_e2e::process::spawn_facilitator;
use tollgate_proto::Network;

/// Connections of the verify runs and of the 2 s block packing burst.
pub const CONNS: usize = 32;
/// Price of each payment, in USDC atomic units.
pub const PRICE: u64 = 17_000;

/// A running `tollgate facilitator` and where it listens.
pub struct Facilitator {
    pub child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

/// `tollgate facilitator` on SQLite with nothing but what it must be told: no tuning.
pub async fn facilitator(dev: &DevEvm, rpc_url: &str) -> Facilitator {
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

/// The child's peak resident memory so far, in MiB.
pub fn peak_rss_mb(child: &Child) -> f64 {
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
pub fn payments(dev: &DevEvm, n: usize) -> Vec<Payment> {
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

/// Each payment's v2 `/verify` and `/settle` body, shared by the load workers.
pub fn bodies(p: &[Payment]) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        p.iter()
            .map(|p| serde_json::to_vec(&p.v2()).expect("json"))
            .collect(),
    )
}

/// A fresh anvil with USDC and `payers` funded payers; `block_time` `None` automines.
pub async fn chain(block_time: Option<u64>, payers: usize) -> DevEvm {
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
