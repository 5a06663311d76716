//! What the priced routes offer, as the facilitator's `/supported` allows it. A gateway whose
//! facilitator cannot be reached still starts and serves unpriced routes (and receipt calls);
//! its priced routes answer 503 with `Retry-After` while `/supported` is retried with backoff.
//! Once read, it is read again every [`REREAD`], so kinds the facilitator adds or drops reach
//! the challenges without a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::{ArcSwap, Guard};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use tokio::task::JoinHandle;
use tollgate_proto::clock::unix_now;
use tollgate_proto::v2::{SupportedKind, SupportedResponse};

use crate::config::{ConfigError, GatewayConfig};
use crate::facilitator::{FacilitatorClient, FacilitatorError};
use crate::metrics::Metrics;
use crate::pricing::PricedAsset;
use crate::replies::json_error;
use crate::routes::{Route, compile};

/// The reason a priced call gets while nothing can be offered.
const FACILITATOR_UNAVAILABLE: &str = "facilitator_unavailable";

/// How long the first read at start waits before the gateway starts without it.
const FIRST_READ: Duration = Duration::from_secs(5);

/// First pause between tries while `/supported` has never answered; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Pause between reads once `/supported` has answered.
pub(crate) const REREAD: Duration = Duration::from_secs(300);

/// The routes and whether they can be offered, swapped together so no request sees one
/// without the other.
pub(crate) struct Table {
    /// Every configured route, in configuration order (so `counters[i]` and the route slots
    /// line up across reads).
    pub(crate) routes: Vec<Route>,
    /// The facilitator has said what it settles; until then nothing is offered.
    pub(crate) known: bool,
}

/// The table in force.
pub(crate) struct Offer {
    table: ArcSwap<Table>,
    /// Unix seconds of the next try while unknown (for `Retry-After`).
    retry_at: AtomicU64,
    metrics: Arc<Metrics>,
}

impl Offer {
    /// The table for one request.
    pub(crate) fn table(&self) -> Arc<Table> {
        self.table.load_full()
    }

    /// A short look at the table, not held across an await.
    pub(crate) fn peek(&self) -> Guard<Arc<Table>> {
        self.table.load()
    }

    /// 503 for a priced call while the facilitator's kinds are unknown: nothing can be offered
    /// that it is sure to settle.
    pub(crate) fn unavailable(&self, route: &str) -> Response {
        self.metrics.refused(route, FACILITATOR_UNAVAILABLE);
        let wait = self
            .retry_at
            .load(Ordering::Relaxed)
            .saturating_sub(unix_now());
        let mut r = json_error(StatusCode::SERVICE_UNAVAILABLE, FACILITATOR_UNAVAILABLE);
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
        r
    }

    fn put(&self, routes: Vec<Route>) {
        debug_assert_eq!(routes.len(), self.table.load().routes.len());
        self.table.store(Arc::new(Table {
            routes,
            known: true,
        }));
        self.metrics.offering(true);
    }
}

/// Reads `/supported` and compiles the table from it, at start and in the background.
pub(crate) struct Reader {
    cfg: GatewayConfig,
    ttl: u64,
    facilitator: Arc<dyn FacilitatorClient>,
    offer: Arc<Offer>,
}

impl Reader {
    /// Checks the whole configuration (as if every asset were payable) and tries one read; the
    /// offer is known when that read answered.
    pub(crate) async fn start(
        cfg: &GatewayConfig,
        ttl: u64,
        facilitator: Arc<dyn FacilitatorClient>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ConfigError> {
        let routes = compile(cfg, &every_asset(cfg)?, ttl)?;
        metrics.offering(false);
        let offer = Arc::new(Offer {
            table: ArcSwap::from_pointee(Table {
                routes: unpayable(routes),
                known: false,
            }),
            retry_at: AtomicU64::new(unix_now()),
            metrics,
        });
        let reader = Self {
            cfg: cfg.clone(),
            ttl,
            facilitator,
            offer,
        };
        match tokio::time::timeout(FIRST_READ, reader.facilitator.supported()).await {
            Ok(Ok(supported)) => reader.offer.put(compile(cfg, &supported, ttl)?),
            // The facilitator (or a proxy in front of it) refused this gateway: a setting to
            // fix, not a fault to wait out. (`/supported` carries no token, so a wrong token
            // shows first at `/verify`.)
            Ok(Err(e @ (FacilitatorError::Refused(_) | FacilitatorError::Config(_)))) => {
                return Err(ConfigError::Invalid(e.to_string()));
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "facilitator /supported unreadable at start; priced routes answer 503 until it answers")
            }
            Err(_) => tracing::warn!(
                "facilitator /supported did not answer at start; priced routes answer 503 until it answers"
            ),
        }
        Ok(reader)
    }

    pub(crate) fn offer(&self) -> Arc<Offer> {
        self.offer.clone()
    }

    /// Reads until known (with backoff), then again every [`REREAD`]; a failed re-read keeps
    /// the table in force.
    pub(crate) fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut backoff = FIRST_BACKOFF;
            loop {
                let pause = if self.offer.peek().known {
                    REREAD
                } else {
                    let b = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    b
                };
                self.offer
                    .retry_at
                    .store(unix_now() + pause.as_secs(), Ordering::Relaxed);
                tokio::time::sleep(pause).await;
                let was_known = self.offer.peek().known;
                match self.read().await {
                    Ok(()) if !was_known => {
                        tracing::info!("facilitator /supported answered; priced routes offered")
                    }
                    Ok(()) => {}
                    Err(e) => tracing::warn!(error = %e, "facilitator /supported not read"),
                }
            }
        })
    }

    async fn read(&self) -> Result<(), String> {
        let supported = self
            .facilitator
            .supported()
            .await
            .map_err(|e| e.to_string())?;
        let routes = compile(&self.cfg, &supported, self.ttl).map_err(|e| e.to_string())?;
        self.offer.put(routes);
        Ok(())
    }
}

/// A `/supported` answer naming every configured asset's kind, in its own scheme and in upto:
/// what the configuration needs to hold whatever the facilitator says later.
fn every_asset(cfg: &GatewayConfig) -> Result<SupportedResponse, ConfigError> {
    let mut kinds = Vec::new();
    for a in &cfg.assets {
        let p = PricedAsset::from_config(a)?;
        for scheme in [p.scheme.as_str(), "upto"] {
            kinds.push(SupportedKind {
                x402_version: 2,
                scheme: scheme.to_string(),
                network: p.network.caip2().to_string(),
                extra: None,
            });
        }
    }
    Ok(SupportedResponse {
        kinds,
        extensions: Vec::new(),
        signers: Default::default(),
    })
}

/// The table before the facilitator answered: every route, nothing offered.
fn unpayable(mut routes: Vec<Route>) -> Vec<Route> {
    for r in &mut routes {
        r.accepts.clear();
        r.assets.clear();
    }
    routes
}
