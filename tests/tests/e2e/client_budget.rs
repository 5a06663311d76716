//! The paying client against a dishonest server, on a real anvil with a real facilitator: a
//! server that settles each payment and still answers 402 (or 500) without a settlement header
//! cannot make the client spend past its budget; a payment refused without being settled is
//! given back only once the chain shows it expired unused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use alloy::primitives::U256;
use alloy::providers::Provider;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tollgate_client::{
    AssetBook, AssetKey, ClientError, EvmWallet, PayingClient, SpendPolicy, Spending,
};
use tollgate_e2e::{Db, Env};
use tollgate_proto::codec::{decode_header, encode_header};

/// 0.01 USDC, in atomic units.
const PRICE: u64 = 10_000;

/// How the shop misbehaves once paid.
#[derive(Clone, Copy)]
enum Lie {
    /// Settles the payment through the facilitator, then answers 402 or 500, no settlement.
    SettleThenRefuse,
    /// Settles nothing and answers 402 naming a payload reason.
    RefuseWithoutSettling,
}

struct Shop {
    requirements: Value,
    facilitator: String,
    http: reqwest::Client,
    lie: Lie,
    paid_calls: AtomicUsize,
    settled: AtomicUsize,
}

/// A shop on its own TCP port, until the test ends.
struct Running {
    url: String,
    shop: Arc<Shop>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_shop(env: &Env, lie: Lie) -> Running {
    let usdc = &env.dev.usdc;
    let shop = Arc::new(Shop {
        requirements: json!({"scheme": "exact", "network": "eip155:31337", "amount": PRICE.to_string(),
            "asset": usdc.address.to_checksum(None), "payTo": env.dev.pay_to.to_checksum(None),
            "maxTimeoutSeconds": 60, "extra": {"name": usdc.name, "version": usdc.version}}),
        facilitator: env.url.clone(),
        http: reqwest::Client::new(),
        lie,
        paid_calls: AtomicUsize::new(0),
        settled: AtomicUsize::new(0),
    });
    let app = axum::Router::new()
        .route("/data", axum::routing::get(data))
        .with_state(shop.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/data", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("shop serves");
    });
    Running { url, shop, task }
}

async fn data(State(shop): State<Arc<Shop>>, headers: HeaderMap) -> Response {
    let challenge = json!({"x402Version": 2, "resource": {"url": "http://shop.test/data"},
        "accepts": [shop.requirements]});
    let mut out = HeaderMap::new();
    out.insert(
        "payment-required",
        encode_header(&challenge).parse().unwrap(),
    );
    let Some(sig) = headers.get("payment-signature") else {
        return (StatusCode::PAYMENT_REQUIRED, out, "pay first").into_response();
    };
    let n = shop.paid_calls.fetch_add(1, Ordering::SeqCst);
    let payload: Value = decode_header(sig.to_str().unwrap()).unwrap();
    match shop.lie {
        Lie::SettleThenRefuse => {
            let body = json!({"x402Version": 2, "paymentPayload": payload,
                "paymentRequirements": shop.requirements});
            let s: Value = shop
                .http
                .post(format!("{}/settle", shop.facilitator))
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if s["success"] == json!(true) {
                shop.settled.fetch_add(1, Ordering::SeqCst);
            }
            // The money is taken; the answer says it was not.
            let status = if n % 2 == 0 {
                StatusCode::PAYMENT_REQUIRED
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (status, out, "payment required").into_response()
        }
        Lie::RefuseWithoutSettling => {
            let resp = json!({"success": false, "errorReason": "invalid_exact_evm_payload_signature",
                "transaction": "", "network": "eip155:31337"});
            out.insert("payment-response", encode_header(&resp).parse().unwrap());
            (StatusCode::PAYMENT_REQUIRED, out, "refused").into_response()
        }
    }
}

/// A client paying at most 0.01 USDC a call within `budget`, reading anvil for outcomes.
fn client(env: &Env, budget: &str) -> (PayingClient, AssetKey) {
    let mut book = AssetBook::default();
    book.add("USDC", "eip155:31337", &env.dev.usdc.address.to_string(), 6);
    let p = SpendPolicy::capped(book, &["0.01 USDC"], &[budget]).unwrap();
    let key = AssetKey::new("eip155:31337", &env.dev.usdc.address.to_string());
    let wallet = EvmWallet::from_hex(&alloy::hex::encode(env.payer(0).to_bytes()))
        .unwrap()
        .with_rpc(&env.dev.anvil.rpc_url)
        .unwrap();
    (
        PayingClient::new(wallet, p, Arc::new(Spending::in_memory())),
        key,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_settles_and_answers_402_cannot_spend_past_the_budget() {
    let env = Env::start(Db::Sqlite).await.expect("sqlite always runs");
    let shop = start_shop(&env, Lie::SettleThenRefuse).await;
    let (c, key) = client(&env, "0.05 USDC");
    let budget = U256::from(5 * PRICE);
    let (mut taken, mut refused) = (0, 0);
    for i in 0..50 {
        match c.get(&shop.url).await {
            Err(ClientError::Declined { status: 402, .. }) => taken += 1,
            Ok(r) if r.response.status() == StatusCode::INTERNAL_SERVER_ERROR => {
                assert!(r.payment.is_none());
                taken += 1;
            }
            Err(ClientError::Policy(e)) => {
                assert!(e.to_string().contains("budget of 0.05 USDC"), "{e}");
                refused += 1;
            }
            other => panic!("call {i}: unexpected {other:?}"),
        }
        let moved = env.usdc(env.dev.pay_to).await;
        assert!(
            moved <= budget,
            "call {i}: {moved} moved on chain, over the budget of {budget}"
        );
    }
    assert_eq!(
        (taken, refused),
        (5, 45),
        "five payments fit, then refusals"
    );
    assert_eq!(shop.shop.settled.load(Ordering::SeqCst), 5);
    assert_eq!(env.usdc(env.dev.pay_to).await, budget);
    assert_eq!(c.spending().spent(&key).unwrap(), budget);
    assert_eq!(
        c.reconcile_outstanding().await.unwrap(),
        0,
        "the chain shows all five used: nothing is given back"
    );
    assert!(c.spending().outstanding().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_payment_is_given_back_only_once_it_expired_unused() {
    let env = Env::start(Db::Sqlite).await.expect("sqlite always runs");
    let shop = start_shop(&env, Lie::RefuseWithoutSettling).await;
    let (c, key) = client(&env, "0.02 USDC");
    for _ in 0..2 {
        match c.get(&shop.url).await {
            Err(ClientError::Declined { status, reason }) => assert_eq!(
                (status, reason.as_str()),
                (402, "invalid_exact_evm_payload_signature")
            ),
            other => panic!("expected a decline, got {other:?}"),
        }
    }
    // The client cannot tell an honest refusal from a lie: both stay reserved while usable.
    let err = c.get(&shop.url).await.unwrap_err();
    assert!(matches!(err, ClientError::Policy(_)), "{err}");
    assert_eq!(c.spending().outstanding().unwrap().len(), 2);
    assert_eq!(c.spending().spent(&key).unwrap(), U256::from(2 * PRICE));
    // Chain time passes the payments' validity (60 s asked) without them being used.
    let p = env.dev.anvil.provider();
    p.raw_request::<_, Value>("evm_increaseTime".into(), json!([3600]))
        .await
        .unwrap();
    p.raw_request::<_, Value>("evm_mine".into(), json!([]))
        .await
        .unwrap();
    assert_eq!(c.reconcile_outstanding().await.unwrap(), 2);
    assert_eq!(c.spending().spent(&key).unwrap(), U256::ZERO);
    assert_eq!(env.usdc(env.dev.pay_to).await, U256::ZERO);
    assert_eq!(shop.shop.paid_calls.load(Ordering::SeqCst), 2);
}
