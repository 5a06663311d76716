//! The reverse proxy: every request goes through the Paywall layer to the [`Upstream`]; a paid
//! call's answer is buffered (and capped) by the gate alone. Serving, draining and the admin
//! listener's app live here too.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use tokio::net::TcpListener;
use tower::Layer;

use crate::gate::Gateway;
use crate::layer::PaywallLayer;
use crate::upstream::Upstream;

/// The proxy app: every request goes through the gateway to the upstream.
pub fn proxy_app(gw: Arc<Gateway>, upstream: Upstream) -> Router {
    Router::new().fallback_service(PaywallLayer::new(gw).layer(upstream))
}

/// The admin app: `GET /metrics` (Prometheus text), for a listener of its own.
pub fn admin_app(gw: Arc<Gateway>) -> Router {
    Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let gw = gw.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    gw.metrics().render(),
                )
            }
        }),
    )
}

/// Serves the proxy on `listener` until the future is dropped.
pub async fn serve_proxy(
    gw: Arc<Gateway>,
    upstream: Upstream,
    listener: TcpListener,
) -> std::io::Result<()> {
    axum::serve(listener, proxy_app(gw, upstream)).await
}

/// Serves the proxy until `stop` completes, then stops taking connections, lets the calls under
/// way finish (at most `drain` for the connections, and as long again for paid calls whose
/// callers hung up, so no settlement is cut off), and gives the receipt calls this instance
/// holds back to the store, so no paid call waits for a hold to expire.
pub async fn serve_proxy_until(
    gw: Arc<Gateway>,
    upstream: Upstream,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    drain: std::time::Duration,
) -> std::io::Result<()> {
    let (stopping_tx, stopping) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        stop.await;
        let _ = stopping_tx.send(());
    };
    let serve =
        axum::serve(listener, proxy_app(gw.clone(), upstream)).with_graceful_shutdown(signal);
    let mut serve = std::pin::pin!(std::future::IntoFuture::into_future(serve));
    tokio::select! {
        r = &mut serve => r?,
        _ = stopping => {
            if tokio::time::timeout(drain, &mut serve).await.is_err() {
                tracing::warn!(seconds = drain.as_secs(), "calls still under way after the drain bound; stopping anyway");
            }
        }
    }
    // Paid calls whose callers hung up are not connections any more, and still settle.
    if !gw.finish_paid_calls(drain).await {
        tracing::warn!(
            seconds = drain.as_secs(),
            "paid calls still settling after the drain bound; stopping anyway"
        );
    }
    if let Some(meter) = gw.meter() {
        match meter.release().await {
            Ok(calls) => tracing::info!(calls, "receipt calls held here given back"),
            Err(e) => {
                tracing::warn!(error = %e, "receipt holds not given back; they return when they expire")
            }
        }
    }
    Ok(())
}
