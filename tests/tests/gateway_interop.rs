//! Interop: the official x402 TypeScript client (`@x402/fetch` + `@x402/evm`) pays a Tollgate
//! gateway and gets the data; the payment lands once.

mod gateway_support;

use std::process::Stdio;

use alloy::primitives::U256;
use gateway_support::*;
use serde_json::{Value, json};
use tollgate_e2e::Db;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_fetch_client_pays_the_gateway() {
    let w = world(Db::Sqlite, 1).await.expect("sqlite always runs");
    let out = tokio::process::Command::new("node")
        .arg("fetch_pay.mjs")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/interop"))
        .env("URL", format!("{}/v2/trading-signals", w.proxy.url))
        .env(
            "PAYER_KEY",
            format!("0x{}", alloy::hex::encode(w.env.payer(0).to_bytes())),
        )
        .env("NETWORK", w.env.network.caip2())
        .env("ASSET", w.env.dev.usdc.address.to_checksum(None))
        .env("CAP", "17000")
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("node runs (is Node.js installed and tests/interop set up?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("fetch_pay printed {stdout:?}"));
    assert_eq!(v["status"], json!(200), "{v}");
    assert!(
        v["body"].as_str().unwrap().contains("trading_signal"),
        "{v}"
    );
    assert_eq!(v["paymentResponse"]["success"], json!(true), "{v}");
    assert_eq!(w.env.usdc(w.env.dev.pay_to).await, U256::from(17_000u64));
    assert_eq!(w.env.settlements_sent().await, 1);
}
