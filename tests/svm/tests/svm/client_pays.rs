//! An agent pays USDC on Solana through the gateway: the paying client builds and signs the
//! SPL transfer, the gateway's facilitator co-signs as fee payer and settles it on the local
//! validator. The payer spends exactly the price and no SOL at all.

use std::sync::Arc;

use tollgate_client::{AssetBook, PayingClient, SpendPolicy, Spending, SvmWallet};
use tollgate_demo_api::RouteTable;
use tollgate_e2e::Db;
use tollgate_e2e::gateway::{serve, start_demo};
use tollgate_e2e::process::official_fetch_pay;
use tollgate_e2e_svm::{PAYER_USDC, SvmEnv};
use tollgate_gateway::{Gateway, GatewayConfig, InProcess};
use tollgate_proto::Network;
use tollgate_solana::{ClusterName, Signer};

fn gateway_toml(env: &SvmEnv, upstream: &str) -> String {
    format!(
        r#"
upstream = "{upstream}"
public_url = "http://gateway.test"

[pay_to]
"{net}" = "{pay_to}"

[[assets]]
symbol = "USDC"
network = "{net}"
address = "{mint}"
decimals = 6
usd_rate = "1"

{routes}"#,
        net = env.network,
        pay_to = env.accounts.pay_to.pubkey(),
        mint = env.accounts.mint,
        routes = RouteTable::demo().only(&["signals"]).to_toml(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_pays_usdc_on_solana_through_the_gateway() {
    let env = SvmEnv::start(Db::Sqlite).await.unwrap();
    let api = start_demo().await;
    let cfg = GatewayConfig::parse(&gateway_toml(&env, &api.url)).expect("gateway TOML");
    let f = Arc::new(InProcess(env.facilitator.clone()));
    let gw = Arc::new(Gateway::new(&cfg, f, None).await.expect("gateway builds"));
    let proxy = serve(gw, &api.url).await;

    let mut book = AssetBook::default();
    book.add(
        "USDC",
        env.network.caip2(),
        &env.accounts.mint.to_string(),
        6,
    );
    // A client paying from the test payer's wallet at most `cap` a call.
    let client_capped_at = |cap: &str| {
        let policy = SpendPolicy::capped(book.clone(), &[cap], &[]).unwrap();
        let wallet = SvmWallet::from_text(
            &env.accounts.payer.to_base58_string(),
            &env.devnet.rpc_url(),
        )
        .expect("wallet");
        PayingClient::with_wallets(None, Some(wallet), policy, Arc::new(Spending::in_memory()))
    };
    let client = client_capped_at("0.02 USDC");

    let payer = env.accounts.payer.pubkey();
    let sol_before = env.devnet.lamports(&payer).await.unwrap();
    let out = client
        .get(&format!("{}/v2/trading-signals", proxy.url))
        .await
        .expect("paid call");
    assert_eq!(out.response.status().as_u16(), 200);
    let paid = out.payment.expect("paid on chain");
    assert_eq!(paid.display, "0.017 USDC");
    let settlement = paid.settlement.expect("settlement header");
    assert!(settlement.success, "{settlement:?}");
    assert_eq!(
        settlement.payer.as_deref(),
        Some(payer.to_string().as_str())
    );
    assert_eq!(env.balances().await, (PAYER_USDC - 17_000, 17_000));
    assert_eq!(
        env.devnet.lamports(&payer).await.unwrap(),
        sol_before,
        "the fee payer paid the fee"
    );

    let refusing = client_capped_at("0.01 USDC");
    let err = refusing
        .get(&format!("{}/v2/trading-signals", proxy.url))
        .await
        .expect_err("over the cap");
    assert!(err.to_string().contains("0.01 USDC"), "{err}");
    assert_eq!(
        env.balances().await,
        (PAYER_USDC - 17_000, 17_000),
        "nothing signed, nothing paid"
    );
}

/// The official x402 TypeScript client (`@x402/fetch` + `@x402/svm`) pays the same gateway on
/// Solana: its transaction passes every rule here and lands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_svm_client_pays_the_gateway() {
    // The SDK knows only the public clusters, so the local validator stands in for devnet.
    let devnet = Network::from_caip2("solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1").unwrap();
    let env = SvmEnv::start_named(Db::Sqlite, ClusterName::Assume(devnet))
        .await
        .unwrap();
    let api = start_demo().await;
    let cfg = GatewayConfig::parse(&gateway_toml(&env, &api.url)).expect("gateway TOML");
    let f = Arc::new(InProcess(env.facilitator.clone()));
    let gw = Arc::new(Gateway::new(&cfg, f, None).await.expect("gateway builds"));
    let proxy = serve(gw, &api.url).await;
    let v = official_fetch_pay(&[
        ("URL", format!("{}/v2/trading-signals", proxy.url)),
        ("PAYER_KEY", env.accounts.payer.to_base58_string()),
        ("RPC_URL", env.devnet.rpc_url()),
        ("NETWORK", env.network.caip2().to_string()),
        ("ASSET", env.accounts.mint.to_string()),
        ("CAP", "17000".to_string()),
    ])
    .await;
    assert_eq!(v["status"], serde_json::json!(200), "{v}");
    assert_eq!(
        v["paymentResponse"]["success"],
        serde_json::json!(true),
        "{v}"
    );
    assert_eq!(env.balances().await, (PAYER_USDC - 17_000, 17_000));
}
