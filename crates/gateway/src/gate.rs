//! The gateway's decision for one request: pass through, challenge, take a payment, or spend a
//! receipt. The Layer and the reverse proxy both run every request through [`Gateway::handle`].

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use tokio_util::task::TaskTracker;
use tollgate_proto::Networks;
use tollgate_store::StoreError;

use crate::canon;
use crate::challenge::Challenge;
use crate::config::{AccessConfig, ConfigError, GatewayConfig, PayMode};
use crate::facilitator::FacilitatorClient;
use crate::handler::Next;
use crate::headers;
use crate::keys::ReceiptKeys;
use crate::leases::Leases;
use crate::limits::{self, Slots};
use crate::meter::Meter;
use crate::metrics::{Metrics, RouteCounters};
use crate::offer::{Offer, Reader};
use crate::payment::Carrier;
use crate::pending::{CheckSummary, Checker, Pending};
use crate::replies::json_error;
use crate::routes::Route;
use crate::upstream::RouteTimeout;

/// Receipt signing keys and the meter over the receipt store.
pub struct Receipts {
    /// Swappable at runtime, so keys rotate without a restart.
    pub keys: ReceiptKeys,
    pub meter: Meter,
}

/// A configured gateway: routes with their prices, a facilitator, and optional receipts.
pub struct Gateway {
    /// The priced routes and what each offers, swapped when the facilitator's kinds are read.
    pub(crate) offer: Arc<Offer>,
    /// Reads the facilitator's kinds in the background; stops when the gateway is dropped.
    reader: tokio::task::JoinHandle<()>,
    pub(crate) facilitator: Arc<dyn FacilitatorClient>,
    pub(crate) leases: Leases,
    pub(crate) receipts: Option<Receipts>,
    access: AccessConfig,
    public_url: Option<String>,
    pub(crate) networks: Networks,
    pub(crate) max_body: usize,
    pub(crate) require_payment_id: bool,
    pub(crate) answer_ttl: u64,
    pub(crate) metrics: Arc<Metrics>,
    /// Each route's hot-path counters, by its index in `routes`.
    pub(crate) counters: Vec<RouteCounters>,
    /// Checks bundles sold on pending settlements; its task stops when the gateway is dropped.
    pub(crate) pending: Option<Pending>,
    /// Caps on requests in flight to the upstream and on header size.
    slots: Slots,
    /// Paid calls under way, each in a task of its own, so a stopping gateway waits for them.
    paid_calls: TaskTracker,
}

impl Gateway {
    /// Builds the gateway, asking the facilitator which kinds it supports so only payable
    /// assets are offered. A facilitator that does not answer does not stop it: priced routes
    /// answer 503 until it does. Bundled routes require `receipts`.
    pub async fn new(
        cfg: &GatewayConfig,
        facilitator: Arc<dyn FacilitatorClient>,
        receipts: Option<Receipts>,
    ) -> Result<Self, ConfigError> {
        let ttl = cfg
            .receipts
            .as_ref()
            .map(|r| r.default_ttl_seconds)
            .unwrap_or(30 * 24 * 3600);
        let metrics = Arc::new(Metrics::new());
        let reader = Reader::start(cfg, ttl, facilitator.clone(), metrics.clone()).await?;
        let offer = reader.offer();
        let table = offer.table();
        let routes = &table.routes;
        if receipts.is_none() && routes.iter().any(|r| r.bundle.is_some()) {
            return Err(ConfigError::Invalid(
                "a route sells a bundle but receipts are not configured".into(),
            ));
        }
        let mut networks = Networks::default();
        for (name, caip2) in &cfg.v1_names {
            let n = tollgate_proto::Network::from_caip2(caip2)
                .ok_or_else(|| ConfigError::Invalid(format!("v1_names.{name}: bad CAIP-2 id")))?;
            networks.add_name(name, n);
        }
        let leases = Leases::open(cfg).await?;
        warn_unpaid_doors(cfg);
        let sells_bundles = routes.iter().any(|r| r.bundle.is_some());
        let pending = receipts.as_ref().filter(|_| sells_bundles).map(|r| {
            Pending::start(Checker {
                store: leases.store.clone(),
                meter: r.meter.clone(),
                facilitator: facilitator.clone(),
                metrics: metrics.clone(),
                max_age: cfg.store.pending_max_age_seconds,
            })
        });
        let counters = routes.iter().map(|r| metrics.route(&r.name)).collect();
        Ok(Self {
            counters,
            offer,
            reader: reader.spawn(),
            facilitator,
            leases,
            receipts,
            access: cfg.access.clone(),
            public_url: cfg.public_url.clone(),
            networks,
            max_body: cfg.max_body_bytes,
            require_payment_id: cfg.require_payment_identifier,
            answer_ttl: cfg.store.answer_seconds,
            metrics,
            pending,
            slots: Slots::new(cfg),
            paid_calls: TaskTracker::new(),
        })
    }

    /// The priced routes, as compiled from the facilitator's kinds last read.
    pub fn routes(&self) -> Vec<Route> {
        self.offer.peek().routes.clone()
    }

    /// Whether the facilitator has said what it settles, so priced routes take payments.
    pub fn offering(&self) -> bool {
        self.offer.peek().known
    }

    /// Waits (at most `within`) for every paid call under way to finish, settlement included,
    /// even those whose caller hung up; `false` when some were still running. A server stops
    /// taking requests first: [`crate::serve_proxy_until`] does, and an app using the Layer
    /// calls this once its server stopped.
    pub async fn finish_paid_calls(&self, within: std::time::Duration) -> bool {
        self.paid_calls.close();
        tokio::time::timeout(within, self.paid_calls.wait())
            .await
            .is_ok()
    }

    /// This gateway's Prometheus metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The receipt meter, when receipts are configured.
    pub fn meter(&self) -> Option<&Meter> {
        self.receipts.as_ref().map(|r| &r.meter)
    }

    /// Checks every bundle sold on a pending settlement at once, due or not (for tests and
    /// operators; the background task checks them on their backoff schedule).
    pub async fn check_pending_now(&self) -> Result<CheckSummary, StoreError> {
        match &self.pending {
            Some(p) => p.check_all().await,
            None => Ok(CheckSummary::default()),
        }
    }

    fn route_for(&self, method: &str, path: &str) -> Option<usize> {
        self.offer
            .peek()
            .routes
            .iter()
            .position(|r| r.pattern.matches(method, path))
    }

    /// The priced route a request reaches, if any. The canonical path decides; when the raw
    /// path or the template an enclosing router matched names a priced route, it is priced too
    /// (a router that routed before this layer ran may have read the raw spelling).
    fn priced(&self, req: &Request, canonical: &str) -> Option<usize> {
        let method = req.method().as_str();
        self.route_for(method, canonical)
            .or_else(|| self.route_for(method, req.uri().path()))
            .or_else(|| {
                let template = req.extensions().get::<MatchedPath>()?;
                self.route_for(method, template.as_str())
            })
    }

    /// Decides one request; `next` runs the protected handler. A paid call runs in its own task,
    /// so a caller that hangs up cannot cut its settlement (or its recorded answer) short.
    pub async fn handle(self: &Arc<Self>, mut req: Request, next: Next) -> Response {
        if let Some(refused) = self.slots.oversized(req.headers()) {
            return refused;
        }
        let canonical = match canon::canonical(req.uri().path()) {
            Ok(c) => c,
            Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        let priced = self.priced(&req, &canonical);
        let next = self.slots.guard(priced, next);
        if let Cow::Owned(canonical) = canonical
            && canonical != req.uri().path()
        {
            // A router that already dispatched on the raw spelling cannot be told otherwise.
            if req.extensions().get::<MatchedPath>().is_some() {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_path: not in canonical form",
                );
            }
            if rewrite_path(&mut req, &canonical).is_err() {
                return json_error(StatusCode::BAD_REQUEST, "invalid_path: cannot be rewritten");
            }
        }
        // Hop-by-hop headers go no further than here, so no decision below rests on a header the
        // upstream will not see (an API key named in `Connection` would pass unpaid, keyless).
        for name in headers::connection_named(req.headers()) {
            req.headers_mut().remove(name.as_str());
        }
        let payment = payment_header(req.headers());
        let receipt = req
            .headers()
            .get(headers::RECEIPT)
            .map(|v| v.to_str().unwrap_or("").to_string());
        // A charge header a careless upstream echoed back would let the payer name its charge.
        for name in [
            headers::PAYMENT_SIGNATURE,
            headers::X_PAYMENT,
            headers::RECEIPT,
            headers::SETTLEMENT_OVERRIDES,
        ]
        .into_iter()
        .chain(headers::METHOD_OVERRIDES)
        {
            req.headers_mut().remove(name);
        }
        let Some(i) = priced else {
            self.metrics.passthrough();
            return next(req).await;
        };
        let table = self.offer.table();
        let route = &table.routes[i];
        if let Some(m) = route.upto.as_ref().and_then(|u| u.meter.as_ref()) {
            req.headers_mut().remove(&m.header);
        }
        if let Some(t) = route.timeout {
            req.extensions_mut().insert(RouteTimeout(t));
        }
        if self.exempt(req.headers()) {
            self.counters[i].exempt();
            return next(req).await;
        }
        if let Some(token) = receipt.filter(|_| payment.is_none()) {
            return self.with_receipt(route, i, &token, req, next).await;
        }
        // Nothing is offered, or taken, that the facilitator may not settle.
        if !table.known {
            return self.offer.unavailable(&route.name);
        }
        let resource = self.resource_url(&req);
        if let Some((carrier, value)) = payment {
            let gw = self.clone();
            let paid = self.paid_calls.spawn(async move {
                let route = &table.routes[i];
                gw.paid(route, resource, carrier, value, req, next).await
            });
            return paid.await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "paid call task failed");
                json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            });
        }
        self.refuse(
            route,
            resource,
            req.headers(),
            "PAYMENT-SIGNATURE header is required",
        )
    }

    /// API-key holders, and non-opted-in callers in opt-in mode, go straight to the handler.
    fn exempt(&self, h: &HeaderMap) -> bool {
        let keyed = self
            .access
            .api_key_header
            .as_deref()
            .and_then(|k| h.get(k))
            .is_some_and(|v| !v.is_empty());
        let opted_in = h
            .get(headers::COINBASE_402)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        keyed || (self.access.mode == PayMode::OptIn && !opted_in)
    }

    pub(crate) fn resource_url(&self, req: &Request) -> String {
        self.resource_of(req.uri(), req.headers().get(header::HOST))
    }

    pub(crate) fn resource_of(&self, uri: &axum::http::Uri, host: Option<&HeaderValue>) -> String {
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        match &self.public_url {
            Some(base) => format!("{}{path}", base.trim_end_matches('/')),
            None => {
                let host = host.and_then(|h| h.to_str().ok()).unwrap_or("localhost");
                format!("http://{host}{path}")
            }
        }
    }

    /// A 402 (or `status`) challenge naming `error`.
    pub(crate) fn challenge_with(
        &self,
        route: &Route,
        resource: String,
        h: &HeaderMap,
        status: StatusCode,
        error: &str,
    ) -> Response {
        // A challenge that offers nothing payable helps no one: say when to come back instead.
        if !self.offer.peek().known {
            return self.offer.unavailable(&route.name);
        }
        self.metrics.refused(&route.name, error);
        let accepts_v1 = route.accepts_v1(&resource, &self.networks);
        Challenge {
            route,
            resource,
            error: error.to_string(),
            accepts_v1,
            payment_id_required: self.require_payment_id,
        }
        .respond(status, h)
    }

    /// Whether `resp` is a refusal for want of an upstream slot (no handler ran); counted as a
    /// refusal of `route` when it is.
    pub(crate) fn refused_busy(&self, route: &Route, resp: &Response) -> bool {
        let busy = limits::not_run(resp);
        if busy {
            self.metrics.refused(&route.name, limits::BUSY);
        }
        busy
    }

    /// A 402 challenge naming `e`.
    pub(crate) fn refuse(
        &self,
        route: &Route,
        resource: String,
        h: &HeaderMap,
        e: &str,
    ) -> Response {
        self.challenge_with(route, resource, h, StatusCode::PAYMENT_REQUIRED, e)
    }
}

/// The background read of the facilitator's kinds stops with the gateway.
impl Drop for Gateway {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Points the request at its canonical path, keeping the query.
fn rewrite_path(req: &mut Request, canonical: &str) -> Result<(), axum::http::Error> {
    let pq = match req.uri().query() {
        Some(q) => format!("{canonical}?{q}"),
        None => canonical.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(pq.parse()?);
    *req.uri_mut() = axum::http::Uri::from_parts(parts)?;
    Ok(())
}

/// Says at start which priced routes can be reached without paying, so it is never a surprise.
fn warn_unpaid_doors(cfg: &GatewayConfig) {
    if let Some(h) = &cfg.access.api_key_header {
        tracing::warn!(header = %h, "priced routes pass any request carrying this header to the upstream unpaid: the upstream must check the key");
    }
    if cfg.access.mode == PayMode::OptIn {
        tracing::warn!(
            "access.mode = opt_in: priced routes are free to callers that do not send x-coinbase-402: true"
        );
    }
}

/// The payment header and which one carried it; `PAYMENT-SIGNATURE` wins over `X-PAYMENT`.
fn payment_header(h: &HeaderMap) -> Option<(Carrier, String)> {
    let get = |name: &str| {
        h.get(name)
            .map(|v| v.to_str().unwrap_or("\u{0}").to_string())
    };
    get(headers::PAYMENT_SIGNATURE)
        .map(|v| (Carrier::PaymentSignature, v))
        .or_else(|| get(headers::X_PAYMENT).map(|v| (Carrier::XPayment, v)))
}
