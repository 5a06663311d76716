//! Tollgate's paying client against a server built entirely with the official x402 TypeScript
//! SDK (`@x402/express` with the SDK's own facilitator): the two implementations agree on the
//! wire, and the payment lands on chain once.

use alloy::primitives::U256;
use tollgate_e2e::gateway::{paid_get, paying_client};
use tollgate_e2e::process::{sdk_self_settling_seller, serving};
use tollgate_e2e::{Db, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tollgate_client_pays_an_official_sdk_server() {
    let env = Env::start(Db::Sqlite).await.expect("sqlite always runs");
    let (mut child, url) = serving(sdk_self_settling_seller(&env, 34_000)).await;
    let client = paying_client(&env, 0, &["0.05 USDC"], &[]);

    let (payment, body) = paid_get(&client, &url).await;
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
