//! The facilitator is not an open gas sponsor: bearer tokens on `/verify` and `/settle`, JSON-only
//! bodies (a cross-site `text/plain` POST needs no preflight), `/close` only when enabled, and
//! settlement only of allowlisted assets and payees. Each refusal names its reason, and none
//! spends gas or moves a token.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::U256;
use serde_json::{Value, json};
use tollgate_e2e::{Api, Db, Env};
use tollgate_facilitator::{Allowlist, Doors, Facilitator, FacilitatorOptions};
use tollgate_gateway::{FacilitatorClient, Remote};
use tollgate_proto::{Network, reason};
use tollgate_store::Ledger;

/// A second facilitator on the env's chain and ledger, with its own allowlist and doors.
async fn facilitator(env: &Env, allow: Option<Allowlist>, doors: Doors) -> Api {
    let scheme = Env::scheme(&env.dev, env.dev.facilitator.clone()).await;
    let ledger = Ledger::connect(&env.db.url).await.expect("ledger");
    let opts = FacilitatorOptions {
        receipt_timeout: Duration::from_secs(20),
        allow,
        ..Default::default()
    };
    Api::serve_with(
        Arc::new(Facilitator::new(vec![scheme], ledger, opts)),
        doors,
    )
    .await
}

async fn post(
    url: &str,
    path: &str,
    ctype: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("content-type", ctype)
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlisted_assets_and_payees_are_refused_without_spending_gas() {
    let env = Env::start(Db::Sqlite).await.expect("SQLite always runs");
    let pay = env.payment(0, 17_000);
    let before = env.usdc(env.dev.pay_to).await;

    // Defaults: only well-known USDC; the test token lives at a deployment address.
    let default = facilitator(&env, None, Doors::default()).await;
    let (s, v) = default.post("/verify", &pay.v2()).await;
    assert_eq!((s, v["isValid"].clone()), (200, json!(false)), "{v}");
    assert_eq!(v["invalidReason"], json!(reason::ASSET_NOT_ALLOWED), "{v}");
    let (_, st) = default.post("/settle", &pay.v2()).await;
    assert_eq!(st["errorReason"], json!(reason::ASSET_NOT_ALLOWED), "{st}");

    // The asset named, but payees limited to another address.
    let network = Network::evm(env.dev.anvil.chain_id);
    let mut listed = Allowlist::default();
    listed.allow_asset(&network, &env.dev.usdc.address.to_string().to_lowercase());
    listed.allow_pay_to(&network, &env.dev.payers[1].address().to_string());
    let narrow = facilitator(&env, Some(listed.clone()), Doors::default()).await;
    let (_, st) = narrow.post("/settle", &pay.v2()).await;
    assert_eq!(st["errorReason"], json!(reason::PAY_TO_NOT_ALLOWED), "{st}");

    assert_eq!(env.settlements_sent().await, 0, "no gas spent on a refusal");
    assert_eq!(env.usdc(env.dev.pay_to).await, before);

    // Once the payee is listed too, the same payment settles.
    listed.allow_pay_to(&network, &env.dev.pay_to.to_string());
    let open = facilitator(&env, Some(listed), Doors::default()).await;
    let (_, st) = open.post("/settle", &pay.v2()).await;
    assert_eq!(st["success"], json!(true), "{st}");
    assert_eq!(
        env.usdc(env.dev.pay_to).await,
        before + U256::from(17_000u64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_json_and_close_guard_the_doors() {
    let env = Env::start(Db::Sqlite).await.expect("SQLite always runs");
    let pay = env.payment(0, 17_000);
    let before = env.usdc(env.dev.pay_to).await;
    let doors = Doors::default().with_tokens(["server-a-token", "server-b-token"]);
    let api = facilitator(&env, Some(Allowlist::any_asset()), doors).await;
    let json = "application/json";

    for path in ["/verify", "/settle"] {
        let (s, v) = post(&api.url, path, json, None, &pay.v2()).await;
        assert_eq!(s, 401, "{path} without a token: {v}");
        assert_eq!(v["error"], json!("unauthorized"), "{v}");
        let (s, _) = post(&api.url, path, json, Some("server-c-token"), &pay.v2()).await;
        assert_eq!(s, 401, "{path} with an unknown token");
        let (s, v) = post(
            &api.url,
            path,
            "text/plain",
            Some("server-a-token"),
            &pay.v2(),
        )
        .await;
        assert_eq!(s, 415, "{path} with a text/plain body: {v}");
        assert_eq!(v["error"], json!("unsupported_media_type"), "{v}");
    }
    assert_eq!(
        env.settlements_sent().await,
        0,
        "nothing settled through a closed door"
    );
    assert_eq!(env.usdc(env.dev.pay_to).await, before);

    let (s, v) = post(&api.url, "/verify", json, Some("server-b-token"), &pay.v2()).await;
    assert_eq!((s, v["isValid"].clone()), (200, json!(true)), "{v}");

    // The gateway's client sends the token its config names, and says why when it has none.
    let body = pay.v2().to_string().into_bytes();
    let bare = Remote::new(&api.url).expect("client");
    let err = bare.verify(body.clone()).await.expect_err("refused");
    assert!(err.to_string().contains("401"), "{err}");
    let keyed = Remote::new(&api.url)
        .and_then(|r| r.with_token("server-b-token"))
        .expect("client");
    assert!(keyed.verify(body).await.expect("verdict").is_valid);
    let (s, v) = post(&api.url, "/settle", json, Some("server-a-token"), &pay.v2()).await;
    assert_eq!((s, v["success"].clone()), (200, json!(true)), "{v}");

    // /supported and /health stay readable; /close does not exist unless enabled.
    assert_eq!(api.get("/supported").await.0, 200);
    let (s, _) = post(&api.url, "/close", json, Some("server-a-token"), &json!({})).await;
    assert_eq!(s, 404, "/close is off by default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_plain_body_cannot_settle_on_an_open_facilitator() {
    let env = Env::start(Db::Sqlite).await.expect("SQLite always runs");
    let pay = env.payment(0, 17_000);
    let before = env.usdc(env.dev.pay_to).await;
    // The shared harness facilitator: no token, any asset. A browser page could send this.
    for (path, content_type) in [
        ("/settle", "text/plain"),
        ("/verify", "text/plain;charset=UTF-8"),
        ("/settle", "application/x-www-form-urlencoded"),
    ] {
        let (s, v) = post(&env.url, path, content_type, None, &pay.v2()).await;
        assert_eq!(s, 415, "{path} as {content_type}: {v}");
    }
    assert_eq!(env.settlements_sent().await, 0);
    assert_eq!(env.usdc(env.dev.pay_to).await, before);
}
