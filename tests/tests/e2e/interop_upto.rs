//! `upto` interop with the official x402 TypeScript SDK (2.27): its upto client pays a Tollgate
//! gateway, its Express upto server settles through a Tollgate facilitator, and Tollgate's client
//! pays an SDK upto server that settles through the SDK's own facilitator (and so through
//! Tollgate's upto Permit2 proxy contract). Each moves exactly the charge, once.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::U256;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tollgate_client::{AssetBook, EvmWallet, PayingClient, SpendPolicy, Spending};
use tollgate_e2e::process::{official_fetch_pay, sdk_usdc_seller};
use tollgate_e2e::{Db, Env};

use crate::gateway_upto::upto_world;

/// The payer's key as the SDK takes it.
fn key_of(env: &Env, i: usize) -> String {
    format!("0x{}", alloy::hex::encode(env.payer(i).to_bytes()))
}

/// Payer `i` approves Permit2 for USDC once, as upto payments need.
async fn approve_usdc(env: &Env, i: usize) {
    let payer = env.payer(i).clone();
    env.dev
        .approve_permit2(&payer, env.dev.usdc.address, U256::MAX)
        .await
        .expect("approve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_upto_client_pays_the_gateway_what_the_upstream_charged() {
    let w = upto_world(Db::Sqlite).await.expect("sqlite always runs");
    let env = &w.env;
    let v = official_fetch_pay(&[
        ("URL", format!("{}/charge?amount=12345", w.proxy.url)),
        ("PAYER_KEY", key_of(env, 0)),
        ("NETWORK", env.network.caip2().to_string()),
        ("ASSET", env.dev.usdc.address.to_checksum(None)),
        ("CAP", "50000".to_string()),
        ("SCHEME", "upto".to_string()),
    ])
    .await;
    assert_eq!(v["status"], json!(200), "{v}");
    assert_eq!(v["paymentResponse"]["success"], json!(true), "{v}");
    assert_eq!(v["paymentResponse"]["amount"], json!("12345"), "{v}");
    assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(12_345u64));
    assert_eq!(env.settlements_sent().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_upto_server_settles_through_tollgate() {
    let env = Env::start(Db::Sqlite).await.expect("sqlite always runs");
    approve_usdc(&env, 0).await;
    let out = sdk_usdc_seller(&env, "express_via_facilitator.mjs", 50_000)
        .env("SCHEME", "upto")
        .env("CHARGE", "25%")
        .env("FACILITATOR_URL", &env.url)
        .env("PAYER_KEY", key_of(&env, 0))
        .output()
        .await
        .expect("node runs (is Node.js installed and tests/interop set up?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let v: Value =
        serde_json::from_str(line).unwrap_or_else(|_| panic!("interop script printed {stdout:?}"));
    assert_eq!(v["status"], json!(200), "{v}");
    assert_eq!(v["paymentResponse"]["success"], json!(true), "{v}");
    assert_eq!(v["paymentResponse"]["amount"], json!("12500"), "{v}");
    assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(12_500u64));
    assert_eq!(
        env.settlements_sent().await,
        1,
        "Tollgate's facilitator settled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tollgate_client_pays_an_official_upto_server() {
    let env = Env::start(Db::Sqlite).await.expect("sqlite always runs");
    approve_usdc(&env, 0).await;
    let sdk_settler = env.dev.deployer.clone(); // has ETH for gas; not our facilitator's key
    let mut child = sdk_usdc_seller(&env, "sdk_server_and_facilitator.mjs", 50_000)
        .env("SCHEME", "upto")
        .env("CHARGE", "12345")
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
    let ready: Value = serde_json::from_str(&ready.unwrap().expect("ready line")).unwrap();
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
    assert_eq!(payment.display, "0.012345 USDC of at most 0.05 USDC");
    let settlement = payment.settlement.expect("PAYMENT-RESPONSE decoded");
    assert!(settlement.success, "{settlement:?}");
    assert_eq!(settlement.amount.as_deref(), Some("12345"));
    assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(12_345u64));
    assert_eq!(
        env.settlements_sent().await,
        0,
        "the SDK's facilitator settled"
    );
    let _ = child.kill().await;
}
