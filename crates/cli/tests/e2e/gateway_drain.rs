//! SIGTERM while paid calls are under way: the `tollgate gateway` process takes no new
//! connection, lets every call in flight finish with its settlement (those whose callers hung up
//! too), and exits 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy::primitives::U256;
use axum::Router;
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tollgate_demo_api::RouteTable;
use tollgate_e2e::gateway::{anvil_usdc_toml, first_accept, get as fetch, v2_header};
use tollgate_e2e::{Db, Env};

use crate::gateway_process::{Gateway, config_head};

/// Paid calls in flight when the signal arrives.
const CALLS: usize = 50;
const SIGNALS_PRICE: u64 = 17_000;

/// An upstream whose priced handler holds every call until `open` turns true.
struct HeldUpstream {
    url: String,
    arrived: Arc<AtomicUsize>,
    arrival: Arc<Notify>,
    open: watch::Sender<bool>,
}

async fn held_upstream() -> HeldUpstream {
    let arrived = Arc::new(AtomicUsize::new(0));
    let arrival = Arc::new(Notify::new());
    let (open, gate) = watch::channel(false);
    let (count, ring) = (arrived.clone(), arrival.clone());
    let app = Router::new().route(
        "/v2/trading-signals",
        get(move || {
            let (count, ring, mut gate) = (count.clone(), ring.clone(), gate.clone());
            async move {
                count.fetch_add(1, Ordering::AcqRel);
                ring.notify_one();
                gate.wait_for(|open| *open).await.expect("gate");
                axum::Json(json!({"data": [{"symbol": "AAVE"}]}))
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("upstream serves") });
    HeldUpstream {
        url,
        arrived,
        arrival,
        open,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_every_paid_call_in_flight_finish_and_settle() {
    let env = Env::start(Db::Sqlite).await.expect("sqlite");
    let upstream = held_upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = config_head(
        &upstream.url,
        &env.url,
        &anvil_usdc_toml(&env.dev),
        &RouteTable::demo().only(&["signals"]).to_toml(),
    );
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, toml).expect("config");
    let mut gw = Gateway::start(&config).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v2/trading-signals", gw.url);
    let accepted = first_accept(&fetch(&http, &url, &[]).await);
    let payer = env.payer(0).address();
    let before = env.usdc(payer).await;

    let mut calls: Vec<_> = (0..CALLS)
        .map(|_| {
            // A client each, so a caller that hangs up closes its own connection.
            let (http, url) = (reqwest::Client::new(), url.clone());
            let header = v2_header(&env, 0, &accepted);
            tokio::spawn(async move { fetch(&http, &url, &[("PAYMENT-SIGNATURE", header)]).await })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(60), async {
        while upstream.arrived.load(Ordering::Acquire) < CALLS {
            upstream.arrival.notified().await;
        }
    })
    .await
    .expect("every paid call reaches the upstream");

    // Half the callers hang up: their calls are no connection any more, and still settle.
    for call in calls.drain(CALLS / 2..) {
        call.abort();
        assert!(call.await.is_err_and(|e| e.is_cancelled()));
    }
    gw.signal("TERM");
    // The signal stops the listener: a call that comes after it finds no one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let refused = || async {
        let sent = reqwest::Client::new().get(&url).send();
        match tokio::time::timeout(Duration::from_secs(5), sent).await {
            Ok(Err(e)) => e.is_connect(),
            Ok(Ok(_)) => false,
            Err(_) => panic!("a connection after SIGTERM was taken and not answered"),
        }
    };
    while !refused().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still taking connections"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    upstream.open.send(true).expect("open the gate");

    for call in calls {
        let a = call.await.expect("call task");
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(
            a.decoded("payment-response")["success"],
            json!(true),
            "{a:?}"
        );
    }
    let status = gw.exit(Duration::from_secs(40)).await;
    assert!(status.success(), "exit status {status}");
    let spent = U256::from(SIGNALS_PRICE * CALLS as u64);
    assert_eq!(env.usdc(payer).await, before - spent);
    assert_eq!(env.usdc(env.dev.pay_to).await, spent);
    assert_eq!(env.settlements_sent().await, CALLS as u64);
}
