//! Tollgate's paying client against a server built entirely with the official x402 TypeScript
//! SDK (`@x402/express` with the SDK's own facilitator): the two implementations agree on the
//! wire, and the payment lands on chain once.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::U256;
use tokio::io::{AsyncBufReadExt, BufReader};
use tollgate_client::{AssetBook, EvmWallet, PayingClient, SpendPolicy, Spending};
use tollgate_e2e::process::sdk_usdc_seller;
use tollgate_e2e::{Db, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tollgate_client_pays_an_official_sdk_server() {
    let env = Env::start(Db::Sqlite).await.expect("sqlite always runs");
    let sdk_settler = env.dev.deployer.clone(); // has ETH for gas; not our facilitator's key
    let mut child = sdk_usdc_seller(&env, "sdk_server_and_facilitator.mjs", 34_000)
        .env("RPC_URL", &env.dev.anvil.rpc_url)
        .env(
            "FACILITATOR_KEY",
            format!("0x{}", alloy::hex::encode(sdk_settler.to_bytes())),
        )
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (is Node.js installed and tests/interop set up?)");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("SDK server starts");
    let ready: serde_json::Value =
        serde_json::from_str(&ready.unwrap().expect("ready line")).unwrap();
    let url = ready["url"].as_str().unwrap().to_string();

    let mut book = AssetBook::default();
    book.add(
        "USDC",
        env.network.caip2(),
        &env.dev.usdc.address.to_string(),
        6,
    );
    let policy = SpendPolicy::capped(book, &["0.05 USDC"], &[]).unwrap();
    let wallet = EvmWallet::from_hex(&alloy::hex::encode(env.payer(0).to_bytes())).unwrap();
    let client = PayingClient::new(wallet, policy, Arc::new(Spending::in_memory()));

    let out = client.get(&url).await.expect("paid call");
    let status = out.response.status();
    let payment = out.payment.expect("a payment was made");
    let body = out.response.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "{\"signal\":\"bullish\"}");
    assert_eq!(payment.display, "0.034 USDC");
    let settlement = payment.settlement.expect("PAYMENT-RESPONSE decoded");
    assert!(settlement.success, "{settlement:?}");
    assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(34_000u64));
    assert_eq!(
        env.settlements_sent().await,
        0,
        "the SDK's facilitator settled, not ours"
    );
    let _ = child.kill().await;
}
