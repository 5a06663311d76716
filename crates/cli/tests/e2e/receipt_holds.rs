//! Two `tollgate gateway` processes on one PostgreSQL serve one bundle of 1,000 calls, hammered
//! from both at once until it is used up: exactly 1,000 calls are served in total with both
//! alive, and after one is stopped with SIGTERM midway (it drains and gives its held calls back
//! at once). After one is killed with SIGKILL midway, the other takes the dead one's held calls
//! back once their hold expires and serves them; only calls recorded in the instant between
//! their record and their answer can be lost to the kill (at most one per connection).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tollgate_demo_api::RouteTable;
use tollgate_e2e::gateway::{DemoApi, anvil_usdc_toml, start_demo};
use tollgate_e2e::{Db, Env};
use tollgate_gateway::{Claims, KeyRing};
use tollgate_proto::clock::unix_now;
use tollgate_proto::headers;
use tollgate_store::{NewReceipt, ReceiptStore};

use crate::gateway_process::{Gateway, config_head};

const CALLS: u64 = 1000;
const PATH: &str = "/v2/price-prediction/aave";
/// Test-only receipt key.
const KEY: &str = "k1:5151515151515151515151515151515151515151515151515151515151515151";
/// Clients per gateway.
const CLIENTS: usize = 6;
/// Calls served in total before one gateway is stopped.
const STOP_AT: u64 = 400;

/// The chain and facilitator on PostgreSQL, the demo API, and a gateway config for both.
struct Stack {
    env: Env,
    _api: DemoApi,
    dir: tempfile::TempDir,
}

async fn stack(hold_seconds: u64) -> Option<Stack> {
    let env = Env::start(Db::Postgres).await?;
    let api = start_demo().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("receipt.keys"), KEY).expect("key file");
    let routes = RouteTable::demo().only(&["prediction", "fundamental"]);
    let mut toml = config_head(
        &api.url,
        &env.url,
        &anvil_usdc_toml(&env.dev),
        &routes.to_toml(),
    );
    toml += &format!(
        r#"
[receipts]
database_url = "{db}"
keys_file = {keys:?}
signing_key = "k1"
hold_seconds = {hold_seconds}
"#,
        db = env.db.url,
        keys = dir.path().join("receipt.keys").display().to_string(),
    );
    std::fs::write(dir.path().join("gateway.toml"), toml).expect("config");
    Some(Stack {
        env,
        _api: api,
        dir,
    })
}

/// Records a bundle of [`CALLS`] calls in the shared store; its token.
async fn bundle(store: &ReceiptStore) -> String {
    let claims = Claims {
        rid: "bundle-holds".into(),
        payer: "0xpayer".into(),
        routes: vec!["prediction".into(), "fundamental".into()],
        exp: unix_now() + 3600,
    };
    store
        .create(&NewReceipt {
            id: claims.rid.clone(),
            payer: claims.payer.clone(),
            routes: claims.routes.clone(),
            calls_left: Some(CALLS),
            expires_at: claims.exp,
            payment_tx: None,
        })
        .await
        .expect("receipt row");
    KeyRing::parse(KEY, "k1").expect("test key").sign(&claims)
}

/// What the clients of both gateways saw.
#[derive(Default)]
struct Tally {
    served: AtomicU64,
    /// When the stopped gateway exited, if it did.
    exited_at: std::sync::OnceLock<tokio::time::Instant>,
    reached: Notify,
}

/// Spends the token on `url` until the gateway says the bundle is used up (or, when `may_die`,
/// until it stops answering).
async fn client(url: String, token: String, tally: Arc<Tally>, may_die: bool) {
    let http = reqwest::Client::new();
    loop {
        let r = match http.get(&url).header(headers::RECEIPT, &token).send().await {
            Ok(r) => r,
            Err(e) if may_die => return eprintln!("client of the stopped gateway: {e}"),
            Err(e) => panic!("gateway failed: {e}"),
        };
        match r.status().as_u16() {
            200 => {
                if tally.served.fetch_add(1, Ordering::AcqRel) + 1 == STOP_AT {
                    tally.reached.notify_one();
                }
            }
            402 => return,
            503 => {
                let body = r.text().await.unwrap_or_default();
                assert!(body.contains("receipt_calls_held"), "{body}");
                // A client backs off before asking again, as Retry-After asks.
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            other => panic!("unexpected {other}: {}", r.text().await.unwrap_or_default()),
        }
    }
}

/// Hammers the bundle through two gateways; `stop` (a signal name) is sent to the first one
/// once [`STOP_AT`] calls were served. Returns the stack, the tally, and the first gateway.
async fn hammer(stop: Option<&str>, hold_seconds: u64) -> Option<(Stack, Arc<Tally>, Gateway)> {
    let s = stack(hold_seconds).await?;
    let store = ReceiptStore::connect(&s.env.db.url).await.expect("store");
    let token = bundle(&store).await;
    let config = s.dir.path().join("gateway.toml");
    let (mut a, b) = (Gateway::start(&config).await, Gateway::start(&config).await);
    let tally = Arc::new(Tally::default());
    let mut clients = Vec::new();
    for (gw, may_die) in [(&a, stop.is_some()), (&b, false)] {
        for _ in 0..CLIENTS {
            let url = format!("{}{PATH}", gw.url);
            let task = client(url, token.clone(), tally.clone(), may_die);
            clients.push(tokio::spawn(task));
        }
    }
    if let Some(sig) = stop {
        tokio::time::timeout(Duration::from_secs(120), tally.reached.notified())
            .await
            .expect("the clients reach the stop point");
        a.signal(sig);
        let status = a.exit(Duration::from_secs(40)).await;
        let _ = tally.exited_at.set(tokio::time::Instant::now());
        if sig == "TERM" {
            assert!(status.success(), "SIGTERM drains and exits 0: {status}");
            assert!(a.logged("receipt calls held here given back"));
        }
    }
    for c in clients {
        tokio::time::timeout(Duration::from_secs(120), c)
            .await
            .expect("the bundle is used up within 120 s")
            .expect("client");
    }
    assert_eq!(
        store.unserved("bundle-holds").await.expect("read"),
        0,
        "nothing left in the store or held"
    );
    Some((s, tally, a))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_serve_exactly_the_calls_bought() {
    let Some((_s, tally, _a)) = hammer(None, 2).await else {
        return;
    };
    assert_eq!(tally.served.load(Ordering::Acquire), CALLS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateways_held_calls_are_served_by_the_other() {
    let Some((_s, tally, _a)) = hammer(Some("KILL"), 2).await else {
        return;
    };
    let served = tally.served.load(Ordering::Acquire);
    eprintln!("served {served} of {CALLS} with one gateway killed");
    assert!(served <= CALLS, "never more than bought: {served}");
    assert!(
        served >= CALLS - CLIENTS as u64,
        "only calls answered at the instant of the kill are lost: {served}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_gateway_gives_its_held_calls_back_at_once() {
    // A long hold: without the give-back, the other gateway would wait 20 s for these calls.
    let Some((_s, tally, _a)) = hammer(Some("TERM"), 20).await else {
        return;
    };
    assert_eq!(tally.served.load(Ordering::Acquire), CALLS);
    let after = tally.exited_at.get().expect("stopped").elapsed();
    assert!(
        after < Duration::from_secs(10),
        "the rest was served without waiting for the 20 s hold: {after:?} after the exit"
    );
}
