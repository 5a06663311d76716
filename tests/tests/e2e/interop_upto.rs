//! `upto` interop with the official x402 TypeScript SDK (2.27): its upto client pays a Tollgate
//! gateway, its Express upto server settles through a Tollgate facilitator, and Tollgate's client
//! pays an SDK upto server that settles through the SDK's own facilitator (and so through
//! Tollgate's upto Permit2 proxy contract). Each moves exactly the charge, once.

use alloy::primitives::U256;
use serde_json::json;
use tollgate_e2e::gateway::{paid_get, paying_client};
use tollgate_e2e::process::{
    last_json_line, official_fetch_pay, sdk_self_settling_seller, sdk_usdc_seller, serving,
};
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
    let mut peer = sdk_usdc_seller(&env, "express_via_facilitator.mjs", 50_000);
    peer.env("SCHEME", "upto")
        .env("CHARGE", "25%")
        .env("FACILITATOR_URL", &env.url)
        .env("PAYER_KEY", key_of(&env, 0));
    let v = last_json_line(peer).await;
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
    let mut seller = sdk_self_settling_seller(&env, 50_000);
    seller.env("SCHEME", "upto").env("CHARGE", "12345");
    let (mut child, url) = serving(seller).await;
    let client = paying_client(&env, 0, &["0.05 USDC"], &[]);
    let (payment, _) = paid_get(&client, &url).await;
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
