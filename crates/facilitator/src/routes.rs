//! The facilitator's HTTP API on axum.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tollgate_proto::request::MAX_REQUEST_BYTES;
use tollgate_proto::rpc::any_ok;

use crate::doors::{Doors, guard};
use crate::reconcile::{hold_recorded_nonces, spawn_reconciler};
use crate::scheme::PaymentScheme;
use crate::service::{Facilitator, Internal, Reply};

#[derive(Clone)]
struct AppState {
    f: Arc<Facilitator>,
    close: Arc<Notify>,
}

/// The API routes. `doors` guards `/verify`, `/settle` and `/close` (served only when enabled,
/// and then notifying `close`).
pub fn router(f: Arc<Facilitator>, close: Arc<Notify>, doors: Doors) -> Router {
    let state = AppState { f, close };
    let mut acting = Router::new()
        .route("/verify", post(verify))
        .route("/settle", post(settle));
    if doors.close_enabled() {
        acting = acting.route("/close", post(close_server));
    }
    let acting = acting.route_layer(middleware::from_fn_with_state(doors, guard));
    Router::new()
        .merge(acting)
        .route("/supported", get(supported))
        .route("/discovery/resources", get(discovery))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

/// Serves until `POST /close` (when `doors` enable it) or ctrl-c, reconciling unfinished
/// settlements in the background.
pub async fn serve(
    f: Arc<Facilitator>,
    listener: TcpListener,
    doors: Doors,
) -> std::io::Result<()> {
    let close = Arc::new(Notify::new());
    if let Err(e) = hold_recorded_nonces(&f).await {
        tracing::error!(error = %e, "could not read unfinished settlements before serving");
    }
    let reconciler = spawn_reconciler(f.clone());
    let app = router(f, close.clone(), doors);
    let stop = async move {
        tokio::select! {
            _ = close.notified() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await;
    reconciler.abort();
    served
}

async fn count_requests(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let resp = next.run(req).await;
    s.f.metrics().request(
        route.as_deref().unwrap_or("unmatched"),
        resp.status().as_u16(),
    );
    resp
}

fn reply<T: serde::Serialize>(r: Result<Reply<T>, Internal>) -> Response {
    match r {
        Ok(r) => (
            StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK),
            Json(r.body),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "internal error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "internal error"})),
            )
                .into_response()
        }
    }
}

async fn verify(State(s): State<AppState>, body: Bytes) -> Response {
    reply(s.f.verify(&body).await)
}

async fn settle(State(s): State<AppState>, body: Bytes) -> Response {
    reply(s.f.settle(&body).await)
}

async fn supported(State(s): State<AppState>) -> Response {
    Json(s.f.supported()).into_response()
}

#[derive(Deserialize)]
struct Page {
    limit: Option<u32>,
    offset: Option<u32>,
}

/// Bazaar discovery; this facilitator lists no resources of its own.
async fn discovery(Query(p): Query<Page>) -> Response {
    let limit = p.limit.unwrap_or(20).clamp(1, 100);
    let offset = p.offset.unwrap_or(0);
    Json(json!({"x402Version": 2, "items": [], "pagination": {"limit": limit, "offset": offset, "total": 0}}))
        .into_response()
}

async fn health(State(s): State<AppState>) -> Response {
    let mut checks = serde_json::Map::new();
    let mut healthy = true;
    let store = s.f.ledger().ping().await.map_err(|e| e.to_string());
    healthy &= store.is_ok();
    checks.insert(
        "store".into(),
        json!(store.err().unwrap_or_else(|| "ok".into())),
    );
    // Every chain's endpoints are probed at once: each probe is bounded by its RPC timeout.
    let schemes = s.f.schemes();
    let probes = futures::future::join_all(schemes.iter().map(|scheme| scheme.health())).await;
    let mut rpc = serde_json::Map::new();
    let mut signers = serde_json::Map::new();
    for (scheme, endpoints) in schemes.iter().zip(probes) {
        let up = any_ok(&endpoints);
        healthy &= up;
        let check = if up {
            "ok".to_string()
        } else {
            format!("none of {} rpc endpoints answers", endpoints.len())
        };
        let network = scheme.network().caip2();
        checks.insert(network.into(), json!(check));
        rpc.insert(network.into(), json!(endpoints));
    }
    healthy &= signer_checks(schemes, &mut checks, &mut signers);
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if healthy { "ok" } else { "unhealthy" },
            "checks": checks,
            "rpc": rpc,
            "signers": signers,
        })),
    )
        .into_response()
}

/// Lists each chain's signers under `signers` and adds a `<network> signers` check, failing
/// when no signer of a chain is in rotation; returns whether every chain has one.
fn signer_checks(
    schemes: &[Arc<dyn PaymentScheme>],
    checks: &mut serde_json::Map<String, serde_json::Value>,
    signers: &mut serde_json::Map<String, serde_json::Value>,
) -> bool {
    let mut healthy = true;
    for scheme in schemes {
        let Some(pool) = scheme.signer_health() else {
            continue;
        };
        let network = scheme.network().caip2();
        let check = pool.check();
        healthy &= check.is_ok();
        checks.insert(
            format!("{network} signers"),
            json!(check.err().unwrap_or_else(|| "ok".into())),
        );
        signers.insert(network.into(), json!(pool));
    }
    healthy
}

async fn metrics(State(s): State<AppState>) -> Response {
    if let Ok(n) = s.f.ledger().pending_count().await {
        s.f.metrics().set_pending(n);
    }
    let pools: Vec<_> = s
        .f
        .schemes()
        .iter()
        .filter_map(|scheme| Some((scheme.network().caip2().to_owned(), scheme.signer_health()?)))
        .collect();
    s.f.metrics().set_signers(&pools);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.f.metrics().render(),
    )
        .into_response()
}

async fn close_server(State(s): State<AppState>) -> Response {
    s.close.notify_one();
    Json(json!({"status": "closing"})).into_response()
}
