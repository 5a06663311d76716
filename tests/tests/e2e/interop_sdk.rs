//! Interop with the official x402 TypeScript SDK: its Express middleware verifies and settles
//! through a Tollgate facilitator, and its fetch client pays. Needs `tests/interop/node_modules`
//! (installed by `scripts/setup.sh`).

use alloy::primitives::U256;
use serde_json::json;
use tollgate_e2e::process::{last_json_line, sdk_usdc_seller};
use tollgate_e2e::{Db, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdk_server_and_client_settle_through_tollgate() {
    let env = Env::start(Db::Sqlite).await.expect("sqlite always runs");
    let payer = env.payer(0);
    let mut peer = sdk_usdc_seller(&env, "express_via_facilitator.mjs", 17_000);
    peer.env("FACILITATOR_URL", &env.url).env(
        "PAYER_KEY",
        format!("0x{}", alloy::hex::encode(payer.to_bytes())),
    );
    let v = last_json_line(peer).await;
    assert_eq!(v["status"], json!(200), "{v}");
    assert_eq!(v["body"], json!("{\"signal\":\"bullish\"}"), "{v}");
    assert_eq!(v["paymentResponse"]["success"], json!(true), "{v}");
    assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(17_000u64));
    assert_eq!(env.settlements_sent().await, 1);
}
