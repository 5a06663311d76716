//! Solana `/verify` benchmark against a real local validator: throughput and p50/p99 of valid
//! SPL payments through the `tollgate facilitator` binary at 32 connections, against a baseline
//! in the same run: the same `simulateTransaction` (co-signed, `sigVerify` on) sent straight
//! to the validator, the ceiling for any verify that must ask the chain once.
//!
//! Run: `cargo bench -p tollgate --bench svm_verify` (add `-- --quick` for 2-second phases).

// The facilitator bench's load generator; this bench does not abort a burst midway.
#[path = "facilitator/load.rs"]
#[allow(dead_code)]
mod load;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::json;
use tollgate_e2e::process::spawn_facilitator;
use tollgate_solana::payer::{PaymentOrder, payload_of, payment_instructions, sign_partial};
use tollgate_solana::programs::TOKEN;
use tollgate_solana::{Keypair, Signer};
use tollgate_solana_devnet::{LAMPORTS_EACH, SolanaDevnet};

const CONNS: usize = 32;
const PRICE: u64 = 17_000;
const PAYMENTS: usize = 2048;

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let secs = Duration::from_secs(if quick { 2 } else { 10 });
    println!("tollgate SVM verify bench: {CONNS} connections, validator on the same 2-core box\n");
    let devnet = SolanaDevnet::start_async().await.expect("validator");
    let usdc = devnet.usdc_accounts(1_000_000_000).await.expect("accounts");
    let fee_payer = Keypair::new();
    devnet
        .fund_sol(&[fee_payer.pubkey()], LAMPORTS_EACH)
        .await
        .expect("fund fee payer");

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("facilitator.toml");
    let db = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let toml = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"{db}\"\nallow_any_asset = true\n\n[[svm]]\nrpc_url = \"{}\"\nprivate_key_env = \"BENCH_FEE_PAYER\"\n",
        devnet.rpc_url()
    );
    std::fs::write(&config, toml).expect("config");
    let bin = Path::new(env!("CARGO_BIN_EXE_tollgate"));
    let (child, url) = spawn_facilitator(
        bin,
        &config,
        &[
            ("BENCH_FEE_PAYER", fee_payer.to_base58_string()),
            ("RUST_LOG", "warn".into()),
        ],
    )
    .await;
    let supported: serde_json::Value = reqwest::get(format!("{url}/supported"))
        .await
        .expect("supported")
        .json()
        .await
        .expect("json");
    let network = supported["kinds"][0]["network"]
        .as_str()
        .expect("network")
        .to_string();

    // Distinct payments (each memo is random) on one fresh blockhash: valid for ~60 s.
    let order = PaymentOrder {
        mint: usdc.mint,
        token_program: TOKEN,
        decimals: 6,
        pay_to: usdc.pay_to.pubkey(),
        amount: PRICE,
        fee_payer: fee_payer.pubkey(),
        memo: None,
    };
    let blockhash = devnet
        .rpc()
        .get_latest_blockhash()
        .await
        .expect("blockhash");
    let txs: Vec<_> = (0..PAYMENTS)
        .map(|_| {
            let ixs = payment_instructions(&usdc.payer.pubkey(), &order);
            sign_partial(&usdc.payer, &fee_payer.pubkey(), &ixs, blockhash)
        })
        .collect();
    let requirements = json!({"scheme": "exact", "network": network, "amount": PRICE.to_string(),
        "asset": usdc.mint.to_string(), "payTo": usdc.pay_to.pubkey().to_string(), "maxTimeoutSeconds": 60,
        "extra": {"feePayer": fee_payer.pubkey().to_string()}});
    let verify_bodies: Vec<Vec<u8>> = txs
        .iter()
        .map(|tx| {
            serde_json::to_vec(&json!({"x402Version": 2,
                "paymentPayload": {"x402Version": 2, "accepted": requirements, "payload": payload_of(tx)},
                "paymentRequirements": requirements}))
            .expect("json")
        })
        .collect();
    let simulations: Vec<Vec<u8>> = txs
        .iter()
        .map(|tx| {
            let mut tx = tx.clone();
            tx.signatures[0] = fee_payer.sign_message(&tx.message.serialize());
            let raw = base64::engine::general_purpose::STANDARD
                .encode(tollgate_solana::exact::serialize(&tx));
            serde_json::to_vec(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "simulateTransaction",
                "params": [raw, {"sigVerify": true, "replaceRecentBlockhash": false,
                    "commitment": "confirmed", "encoding": "base64"}]}),
            )
            .expect("json")
        })
        .collect();

    let baseline = load::run(
        &devnet.rpc_url(),
        Arc::new(simulations),
        CONNS,
        secs,
        true,
        |v| v["result"]["value"]["err"].is_null() && v.get("result").is_some(),
    )
    .await;
    println!(
        "{}",
        baseline.line("baseline: raw simulateTransaction to the validator")
    );
    let verify = load::run(
        &format!("{url}/verify"),
        Arc::new(verify_bodies),
        CONNS,
        secs,
        true,
        |v| v["isValid"] == json!(true),
    )
    .await;
    println!(
        "{}",
        verify.line("/verify (valid SPL TransferChecked, one simulation each)")
    );
    println!(
        "    verify throughput is {:.0}% of the raw simulateTransaction ceiling",
        100.0 * verify.per_sec() / baseline.per_sec().max(f64::MIN_POSITIVE)
    );
    drop(child);
}
