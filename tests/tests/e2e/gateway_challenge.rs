//! The 402 challenge through the gateway proxy on real TCP sockets: both protocol forms, exact
//! per-asset amounts, the preferred token first, the browser page, API keys and opt-in mode.

use serde_json::json;
use tollgate_e2e::Db;
use tollgate_e2e::gateway::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_carries_both_forms_with_exact_amounts() {
    let w = world(Db::Sqlite, 1).await.expect("sqlite");
    let url = format!("{}/v2/trading-signals", w.proxy.url);
    let a = w.get(&url, &[]).await;
    assert_eq!(a.status, 402);
    let v2 = a.decoded("payment-required");
    assert_eq!(v2["x402Version"], json!(2));
    assert_eq!(
        v2["resource"]["url"],
        json!("http://gateway.test/v2/trading-signals")
    );
    let accepts = v2["accepts"].as_array().unwrap();
    assert_eq!(
        accepts.len(),
        2,
        "USDC and TMAI; Solana is not payable here yet: {v2}"
    );
    assert_eq!(accepts[0]["amount"], json!("17000"));
    assert_eq!(
        accepts[0]["asset"],
        json!(w.env.dev.usdc.address.to_checksum(None))
    );
    // $0.017 less 10% at $0.02 per TMAI = 0.765 TMAI = 765 * 10^15 atomic.
    assert_eq!(accepts[1]["amount"], json!("765000000000000000"));
    assert_eq!(accepts[1]["extra"]["assetTransferMethod"], json!("permit2"));

    assert_eq!(a.body["x402Version"], json!(1));
    assert_eq!(
        a.body["error"],
        json!("PAYMENT-SIGNATURE header is required")
    );
    let v1 = &a.body["accepts"][0];
    assert_eq!(v1["maxAmountRequired"], json!("17000"));
    assert_eq!(v1["network"], json!("eip155:31337"));
    assert_eq!(
        v1["resource"],
        json!("http://gateway.test/v2/trading-signals")
    );
    assert_eq!(v1["description"], json!("Trading signals"));
    assert_eq!(w.api.demo.served(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferred_token_goes_first_and_browsers_get_a_page() {
    let w = world(Db::Sqlite, 1).await.expect("sqlite");
    let url = format!("{}/v2/grades/AAVE", w.proxy.url);
    let a = w.get(&url, &[("x-payment-token", "tmai".into())]).await;
    let tmai = json!(w.env.dev.tmai.address.to_checksum(None));
    assert_eq!(a.decoded("payment-required")["accepts"][0]["asset"], tmai);
    assert_eq!(a.body["accepts"][0]["asset"], tmai);

    let html = w
        .get(
            &url,
            &[("accept", "text/html,application/xhtml+xml".into())],
        )
        .await;
    assert_eq!(html.status, 402);
    assert!(
        html.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let page = html.body.as_str().unwrap();
    assert!(
        page.contains("$0.034") && page.contains("TMAI") && page.contains("USDC"),
        "{page}"
    );
    assert!(html.header("payment-required").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpriced_routes_are_free() {
    let w = world(Db::Sqlite, 1).await.expect("sqlite");
    let a = w.get(&format!("{}/v2/tokens", w.proxy.url), &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["data"], json!(["AAVE", "CRO"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_pass_and_opt_in_mode_challenges_only_on_request() {
    let env = tollgate_e2e::Env::start(Db::Sqlite).await.expect("sqlite");
    let api = start_demo().await;
    let toml = config_toml(&env, &api.url, 1, BUNDLE_CALLS)
        + "\n[access]\napi_key_header = \"x-api-key\"\nmode = \"opt_in\"\n";
    let proxy = serve(gateway(&env, &toml, &["k1"], "k1").await, &api.url).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v2/trading-signals", proxy.url);
    assert_eq!(
        get(&http, &url, &[]).await.status,
        200,
        "not opted in: passes through"
    );
    let opted = [("x-coinbase-402", "true".to_string())];
    assert_eq!(get(&http, &url, &opted).await.status, 402);
    let keyed = [
        ("x-coinbase-402", "true".to_string()),
        ("x-api-key", "k".to_string()),
    ];
    assert_eq!(
        get(&http, &url, &keyed).await.status,
        200,
        "the upstream judges keys"
    );
    assert_eq!(api.demo.served(), 2);
}
