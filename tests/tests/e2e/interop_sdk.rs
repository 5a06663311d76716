//! Interop with the official x402 TypeScript SDK: its Express middleware verifies and settles
//! through a Tollgate facilitator, and its fetch client pays. Needs `tests/interop/node_modules`
//! (installed by `scripts/setup.sh`).

use alloy::primitives::U256;
use serde_json::{Value, json};
use tollgate_e2e::process::sdk_usdc_seller;
use tollgate_e2e::{Db, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdk_server_and_client_settle_through_tollgate() {
    let env = Env::start(Db::Sqlite).await.expect("sqlite always runs");
    let payer = env.payer(0);
    let out = sdk_usdc_seller(&env, "express_via_facilitator.mjs", 17_000)
        .env("FACILITATOR_URL", &env.url)
        .env(
            "PAYER_KEY",
            format!("0x{}", alloy::hex::encode(payer.to_bytes())),
        )
        .output()
        .await
        .expect("node runs (is Node.js installed and tests/interop set up?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let v: Value =
        serde_json::from_str(line).unwrap_or_else(|_| panic!("interop script printed {stdout:?}"));
    assert_eq!(v["status"], json!(200), "{v}");
    assert_eq!(v["body"], json!("{\"signal\":\"bullish\"}"), "{v}");
    assert_eq!(v["paymentResponse"]["success"], json!(true), "{v}");
    assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(17_000u64));
    assert_eq!(env.settlements_sent().await, 1);
}
