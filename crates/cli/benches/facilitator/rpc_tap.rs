//! A counting pass-through in front of anvil, so the bench can report RPC calls per verify.
//! It forwards bytes unchanged; it only counts JSON-RPC calls (each batch element counts).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;

#[derive(Clone)]
struct Tap {
    upstream: String,
    client: reqwest::Client,
    calls: Arc<AtomicUsize>,
    round_trips: Arc<AtomicUsize>,
}

/// Counters of what passed through.
pub struct Counts {
    pub calls: Arc<AtomicUsize>,
    pub round_trips: Arc<AtomicUsize>,
}

impl Counts {
    pub fn read(&self) -> (usize, usize) {
        (
            self.calls.load(Ordering::Relaxed),
            self.round_trips.load(Ordering::Relaxed),
        )
    }
}

/// Starts the tap; returns its URL and counters.
pub async fn start(upstream: &str) -> (String, Counts) {
    let tap = Tap {
        upstream: upstream.to_string(),
        client: reqwest::Client::new(),
        calls: Arc::default(),
        round_trips: Arc::default(),
    };
    let counts = Counts {
        calls: tap.calls.clone(),
        round_trips: tap.round_trips.clone(),
    };
    let app = axum::Router::new()
        .route("/", post(forward))
        .with_state(tap);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind tap");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("tap serves") });
    (url, counts)
}

async fn forward(State(t): State<Tap>, body: Bytes) -> Bytes {
    let n = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Array(a)) => a.len(),
        _ => 1,
    };
    t.calls.fetch_add(n, Ordering::Relaxed);
    t.round_trips.fetch_add(1, Ordering::Relaxed);
    let resp = t
        .client
        .post(&t.upstream)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("anvil answers");
    resp.bytes().await.expect("anvil body")
}
