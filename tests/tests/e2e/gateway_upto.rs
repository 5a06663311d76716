//! `upto` routes through the gateway, over a real anvil and facilitator: the payer authorizes
//! the route's maximum, the upstream names the charge (the `Settlement-Overrides` header, a
//! meter header, or the Layer's typed extension), and exactly that amount moves, once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy::primitives::U256;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get as route_get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use tollgate_client::{PaidResponse, PayingClient};
use tollgate_e2e::gateway::*;
use tollgate_e2e::task::{Task, loopback};
use tollgate_e2e::{Db, Env, both_stores};
use tollgate_gateway::{Charge, PaywallLayer};
use tollgate_proto::codec::encode_header;
use tollgate_proto::money::Money;

/// $0.05 in USDC atomic units: the maximum of the `charge`, `rows` and `layer` routes.
const MAX: u64 = 50_000;

/// The gateway in front of an upstream whose answers name their charge, and the same gateway
/// as a Layer over an axum handler that names its charge in a typed extension.
pub(crate) struct UptoWorld {
    pub(crate) env: Env,
    pub(crate) proxy: Proxy,
    layer_url: String,
    /// Calls the upstream and the Layer's handler answered.
    served: Arc<AtomicU64>,
    _tasks: Vec<Task>,
}

/// The upstream: `/charge?amount=..` and `/big?amount=..` answer with `Settlement-Overrides`,
/// `/rows?n=..` counts rows in `x-result-rows`, `/fail` fails after naming a charge.
fn upstream(served: Arc<AtomicU64>) -> Router {
    let charge = move |Query(q): Query<std::collections::HashMap<String, String>>| {
        let served = served.clone();
        async move {
            served.fetch_add(1, Ordering::SeqCst);
            let mut h = HeaderMap::new();
            if let Some(a) = q.get("amount") {
                let v = json!({ "amount": a }).to_string();
                h.insert("settlement-overrides", HeaderValue::from_str(&v).unwrap());
            }
            if let Some(n) = q.get("n") {
                h.insert("x-result-rows", HeaderValue::from_str(n).unwrap());
            }
            let status = if q.contains_key("fail") {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            };
            (status, h, Json(json!({"rows": []})))
        }
    };
    // A careless upstream that echoes request headers into its answer.
    let echo = |h: HeaderMap| async move {
        let mut out = HeaderMap::new();
        for name in ["settlement-overrides", "x-result-rows"] {
            if let Some(v) = h.get(name) {
                out.insert(name, v.clone());
            }
        }
        (out, Json(json!({"rows": []})))
    };
    Router::new()
        .route("/charge", route_get(charge.clone()))
        .route("/big", route_get(charge.clone()))
        .route("/rows", route_get(charge))
        .route("/echo", route_get(echo))
}

fn config(env: &Env, upstream: &str) -> String {
    format!(
        r#"
upstream = "{upstream}"
public_url = "http://gateway.test"
{usdc}
{tmai}
[[routes]]
name = "charge"
method = "GET"
path = "/charge"
price = "0.05"
scheme = "upto"

[[routes]]
name = "rows"
method = "GET"
path = "/rows"
price = "0.05"
scheme = "upto"
meter = "x-result-rows"
unit_price = "0.002"

[[routes]]
name = "big"
method = "GET"
path = "/big"
price = "1"
scheme = "upto"

[[routes]]
name = "echo"
method = "GET"
path = "/echo"
price = "0.05"
scheme = "upto"
meter = "x-result-rows"
unit_price = "0.002"

[[routes]]
name = "layer"
method = "GET"
path = "/layer"
price = "0.05"
scheme = "upto"

[receipts]
database_url = "{db}"
keys_env = "TOLLGATE_TEST_RECEIPT_KEYS"
signing_key = "k1"
"#,
        usdc = anvil_usdc_toml(&env.dev),
        tmai = env.dev.tmai_asset_toml(TMAI_USD),
        db = env.db.url,
    )
}

/// The world on `db`, payers 0 and 1 having approved Permit2 for USDC and TMAI.
pub(crate) async fn upto_world(db: Db) -> Option<UptoWorld> {
    let env = Env::start(db).await?;
    for i in 0..2 {
        // The one-time Permit2 approval upto payments need, in both tokens.
        let payer = env.payer(i).clone();
        for token in [env.dev.usdc.address, env.dev.tmai.address] {
            env.dev
                .approve_permit2(&payer, token, U256::MAX)
                .await
                .unwrap();
        }
    }
    env.fund_tmai(0, tollgate_e2e::tmai(100), false).await;
    let served = Arc::new(AtomicU64::new(0));
    let (listener, up_url) = loopback().await;
    let up = Task::serve(
        axum::serve(listener, upstream(served.clone())),
        "upstream serves",
    );
    let gw = gateway(&env, &config(&env, &up_url), &["k1"], "k1").await;
    let proxy = serve(gw.clone(), &up_url).await;
    let counted = served.clone();
    let app = Router::new()
        .route(
            "/layer",
            route_get(move || {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let charge = Charge::Usd(Money::parse("0.0123").unwrap());
                    (Extension(charge), Json(json!({"rows": []}))).into_response()
                }
            }),
        )
        .layer(PaywallLayer::new(gw));
    let (listener, layer_url) = loopback().await;
    let layer = Task::serve(axum::serve(listener, app), "layer app serves");
    Some(UptoWorld {
        env,
        proxy,
        layer_url,
        served,
        _tasks: vec![up, layer],
    })
}

impl UptoWorld {
    /// A client paying as payer `i`, within `0.05 USDC` and `50 TMAI` a call.
    pub(crate) fn client(&self, i: usize) -> PayingClient {
        paying_client(&self.env, i, &["0.05 USDC", "50 TMAI"], &["1 USDC"])
    }

    /// The URL of `path` on the proxy and a `PAYMENT-SIGNATURE` for its first offer, signed by
    /// payer 1 as any wallet would sign it.
    async fn offer_signed(&self, path: &str) -> (String, (&'static str, String)) {
        let url = format!("{}{path}", self.proxy.url);
        let offer = first_accept(&get(&reqwest::Client::new(), &url, &[]).await);
        (
            url,
            ("PAYMENT-SIGNATURE", upto_header(&self.env, 1, &offer)),
        )
    }

    /// Pays `path` (on the proxy) in `token` and checks the answer is a paid 200.
    async fn pay(&self, c: &PayingClient, path: &str, token: &str) -> PaidResponse {
        pay_at(c, &format!("{}{path}", self.proxy.url), token).await
    }
}

async fn pay_at(c: &PayingClient, url: &str, token: &str) -> PaidResponse {
    let out = pay_in(c, url, token).await.expect("the call is paid");
    assert_eq!(out.response.status(), 200, "{:?}", out.response);
    assert!(
        out.response.headers().get("settlement-overrides").is_none(),
        "the charge never reaches the payer"
    );
    out
}

/// What the call was charged, checked against its settlement header.
fn charged(out: &PaidResponse) -> U256 {
    let p = out.payment.as_ref().expect("paid");
    let s = p.settlement.as_ref().expect("PAYMENT-RESPONSE");
    assert!(s.success, "{s:?}");
    assert_eq!(s.amount.as_deref(), Some(p.amount.to_string().as_str()));
    p.amount
}

both_stores!(
    upto_calls_settle_what_the_upstream_charged,
    w = upto_world,
    {
        let env = &w.env;
        let payer = env.payer(0).address();
        let (payer_before, seller_before) = (env.usdc(payer).await, env.usdc(env.dev.pay_to).await);
        // The challenge offers the maximum, through Permit2, pinned to the facilitator's key.
        let a = get(
            &reqwest::Client::new(),
            &format!("{}/charge", w.proxy.url),
            &[],
        )
        .await;
        let offer = first_accept(&a);
        assert_eq!(offer["scheme"], json!("upto"), "{offer}");
        assert_eq!(offer["amount"], json!(MAX.to_string()));
        assert_eq!(offer["extra"]["assetTransferMethod"], json!("permit2"));
        let facilitator = env.dev.facilitator.address().to_checksum(None);
        assert_eq!(offer["extra"]["facilitatorAddress"], json!(facilitator));

        let c = w.client(0);
        let cases: [(&str, u64); 6] = [
            ("/charge?amount=12345", 12_345),
            ("/charge?amount=37.5%25", 18_750),
            ("/charge?amount=%240.0123", 12_300),
            ("/rows?n=12", 24_000),
            ("/charge?amount=50000", MAX),
            ("/rows?n=100", MAX),
        ];
        let mut total = U256::ZERO;
        for (path, want) in cases {
            let out = w.pay(&c, path, "usdc").await;
            assert_eq!(charged(&out), U256::from(want), "{path}");
            total += U256::from(want);
        }
        let out = w.pay(&c, "/rows?n=12", "usdc").await;
        assert_eq!(
            out.response.headers()["x-result-rows"],
            "12",
            "the meter's own header stays"
        );
        assert_eq!(
            out.payment.as_ref().unwrap().display,
            "0.024 USDC of at most 0.05 USDC"
        );
        total += U256::from(24_000u64);

        assert_eq!(env.usdc(payer).await, payer_before - total);
        assert_eq!(env.usdc(env.dev.pay_to).await, seller_before + total);
        let key = tollgate_client::AssetKey::new("eip155:31337", &env.dev.usdc.address.to_string());
        assert_eq!(
            c.spending().spent(&key).unwrap(),
            total,
            "the budget keeps what was charged"
        );
        assert!(c.spending().outstanding().unwrap().is_empty());
        assert_eq!(w.served.load(Ordering::SeqCst), 7);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_charge_sends_nothing_and_moves_nothing() {
    let w = upto_world(Db::Sqlite).await.expect("sqlite always runs");
    let env = &w.env;
    let payer = env.payer(0).address();
    let before = (env.usdc(payer).await, env.settlements_sent().await);
    let c = w.client(0);
    let out = w.pay(&c, "/rows?n=0", "usdc").await;
    let s = out.payment.as_ref().unwrap().settlement.clone().unwrap();
    assert!(s.success, "{s:?}");
    assert_eq!(
        (s.transaction.as_str(), s.amount.as_deref()),
        ("", Some("0"))
    );
    assert_eq!(
        (env.usdc(payer).await, env.settlements_sent().await),
        before
    );
    let key = tollgate_client::AssetKey::new("eip155:31337", &env.dev.usdc.address.to_string());
    assert_eq!(
        c.spending().spent(&key).unwrap(),
        U256::ZERO,
        "the maximum is given back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmai_charges_above_2_pow_64_settle_exactly() {
    let w = upto_world(Db::Sqlite).await.expect("sqlite always runs");
    let env = &w.env;
    let c = w.client(0);
    // $1 at $0.02 a TMAI less 10% is at most 45 TMAI; $0.5 of it is 22.5 TMAI.
    let out = w.pay(&c, "/big?amount=%240.5", "tmai").await;
    let want = tollgate_e2e::tmai(45) / U256::from(2u8);
    assert!(want > U256::from(u64::MAX));
    assert_eq!(charged(&out), want);
    assert_eq!(
        out.payment.as_ref().unwrap().authorized,
        tollgate_e2e::tmai(45)
    );
    assert_eq!(env.tmai(env.dev.pay_to).await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_handler_names_its_charge_in_an_extension() {
    let w = upto_world(Db::Sqlite).await.expect("sqlite always runs");
    let c = w.client(0);
    let out = pay_at(&c, &format!("{}/layer", w.layer_url), "usdc").await;
    assert_eq!(charged(&out), U256::from(12_300u64));
    assert_eq!(w.env.usdc(w.env.dev.pay_to).await, U256::from(12_300u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upto_payment_runs_the_handler_and_settles_once() {
    let w = upto_world(Db::Sqlite).await.expect("sqlite always runs");
    let env = &w.env;
    let http = reqwest::Client::new();
    let (url, header) = w.offer_signed("/charge?amount=777").await;
    let sent = env.settlements_sent().await;
    let pay = [header];
    let copies = (0..5).map(|_| get(&http, &url, &pay));
    let answers = futures::future::join_all(copies).await;
    let ok: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(ok.len(), 1, "{answers:?}");
    assert_eq!(ok[0].decoded("payment-response")["amount"], json!("777"));
    let again = get(&http, &url, &pay).await;
    assert_eq!(again.status, 402, "{again:?}");
    assert_eq!(w.served.load(Ordering::SeqCst), 1, "the handler ran once");
    assert_eq!(env.settlements_sent().await, sent + 1);
    assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(777u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_upstream_charges_nothing() {
    let w = upto_world(Db::Sqlite).await.expect("sqlite always runs");
    let env = &w.env;
    let (url, header) = w.offer_signed("/charge?amount=777&fail=1").await;
    let a = get(&reqwest::Client::new(), &url, &[header]).await;
    assert_eq!(a.status, 500, "{a:?}");
    assert!(a.header("settlement-overrides").is_none());
    assert!(a.header("payment-response").is_none());
    assert_eq!(env.usdc(env.dev.pay_to).await, U256::ZERO);
}

/// A v2 `PAYMENT-SIGNATURE` value paying the upto `offer` as payer `i`, signed as any wallet
/// would sign it.
fn upto_header(env: &Env, i: usize, offer: &Value) -> String {
    let requirements: tollgate_proto::v2::PaymentRequirements =
        serde_json::from_value(offer.clone()).unwrap();
    let network = env.network.clone();
    let view = tollgate_proto::RequirementsView {
        scheme: &requirements.scheme,
        network,
        amount: requirements.amount.parse().unwrap(),
        asset: &requirements.asset,
        pay_to: &requirements.pay_to,
        max_timeout_seconds: requirements.max_timeout_seconds,
        extra: requirements.extra.as_ref(),
    };
    let now = tollgate_proto::clock::unix_now();
    let validity = tollgate_evm::Validity {
        valid_after: now - 600,
        valid_before: now + 60,
    };
    let signed = tollgate_evm::sign_payment(env.payer(i), &view, validity).unwrap();
    encode_header(
        &json!({"x402Version": 2, "resource": {"url": "http://gateway.test"},
        "accepted": offer, "payload": signed.payload}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_lost_settle_answer_settles_the_same_charge() {
    use tollgate_e2e::tcp_proxy::Mode;
    let env = Env::start(Db::Sqlite).await.expect("sqlite always runs");
    let payer = env.payer(0).clone();
    env.dev
        .approve_permit2(&payer, env.dev.usdc.address, U256::MAX)
        .await
        .unwrap();
    let (link, gw) = gateway_over_link(&env, &config(&env, "http://unused.invalid")).await;
    // The handler charges 4321 and, on its first run, cuts the facilitator's answers: the
    // settle that follows goes through unheard.
    let cut = CutOnFirstRun::new(link.clone());
    let handler = cut.clone();
    let app = Router::new()
        .route(
            "/layer",
            route_get(move || {
                handler.ran();
                async {
                    (
                        Extension(Charge::Atomic(U256::from(4321u64))),
                        Json(json!({})),
                    )
                }
            }),
        )
        .layer(PaywallLayer::new(gw));
    let (listener, base) = loopback().await;
    let _served = Task::serve(axum::serve(listener, app), "layer app serves");
    let url = format!("{base}/layer");
    let http = reqwest::Client::new();
    let offer = first_accept(&get(&http, &url, &[]).await);
    let pay = [("PAYMENT-SIGNATURE", upto_header(&env, 0, &offer))];
    let lost = get(&http, &url, &pay).await;
    assert_eq!(lost.status, 502, "{lost:?}");

    link.set(Mode::Forward);
    let retry = get(&http, &url, &pay).await;
    assert_eq!(retry.status, 200, "{retry:?}");
    assert_eq!(cut.runs(), 1, "the kept answer, not a second run");
    assert!(retry.header("settlement-overrides").is_none(), "{retry:?}");
    let settled = retry.decoded("payment-response");
    assert_eq!(settled["amount"], json!("4321"), "{settled}");
    assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(4321u64));
    assert_eq!(env.settlements_sent().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payer_cannot_name_its_own_charge_through_an_echoing_upstream() {
    let w = upto_world(Db::Sqlite).await.expect("sqlite always runs");
    let (url, header) = w.offer_signed("/echo").await;
    let pay = [
        header,
        ("Settlement-Overrides", r#"{"amount":"1"}"#.to_string()),
        ("X-Result-Rows", "0".to_string()),
    ];
    let a = get(&reqwest::Client::new(), &url, &pay).await;
    assert_eq!(a.status, 200, "{a:?}");
    // Neither header reached the upstream, so it named no rows: the maximum is charged.
    assert_eq!(
        a.decoded("payment-response")["amount"],
        json!(MAX.to_string())
    );
    assert_eq!(w.env.usdc(w.env.dev.pay_to).await, U256::from(MAX));
}
