//! Interop: the official x402 TypeScript client (`@x402/fetch` + `@x402/evm`) pays a Tollgate
//! gateway and gets the data; the payment lands once.

use alloy::primitives::U256;
use serde_json::json;
use tollgate_e2e::Db;
use tollgate_e2e::gateway::*;
use tollgate_e2e::process::official_fetch_pay;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_fetch_client_pays_the_gateway() {
    let w = world(Db::Sqlite, 1).await.expect("sqlite always runs");
    let v = official_fetch_pay(&[
        ("URL", format!("{}/v2/trading-signals", w.proxy.url)),
        (
            "PAYER_KEY",
            format!("0x{}", alloy::hex::encode(w.env.payer(0).to_bytes())),
        ),
        ("NETWORK", w.env.network.caip2().to_string()),
        ("ASSET", w.env.dev.usdc.address.to_checksum(None)),
        ("CAP", "17000".to_string()),
    ])
    .await;
    assert_eq!(v["status"], json!(200), "{v}");
    assert!(
        v["body"].as_str().unwrap().contains("trading_signal"),
        "{v}"
    );
    assert_eq!(v["paymentResponse"]["success"], json!(true), "{v}");
    assert_eq!(w.env.usdc(w.env.dev.pay_to).await, U256::from(17_000u64));
    assert_eq!(w.env.settlements_sent().await, 1);
}
