//! The gateway's Prometheus metrics: requests by route and outcome, refusals by reason, handler
//! runs, settlement latency, receipts issued, spent and revoked. Served on the admin listener's
//! `/metrics` (or mounted by an app through [`Metrics::render`]).

use std::time::Duration;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Settlement latency buckets, 5 ms to 60 s.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Longest reason label kept; reasons are x402 codes, and a code never needs more.
const MAX_REASON: usize = 64;

/// How a request to a priced route ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Paid, served and settled (or pending).
    Paid,
    /// Served on a receipt.
    Receipt,
    /// An earlier answer replayed to a payment-identifier retry.
    Replayed,
    /// Passed through unpaid by an access rule (API key, opt-in mode).
    Exempt,
    /// Refused (402, 400, 409, 412 or a 5xx of the gateway's own).
    Refused,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Receipt => "receipt",
            Self::Replayed => "replayed",
            Self::Exempt => "exempt",
            Self::Refused => "refused",
        }
    }
}

/// One gateway's metrics, in a registry of its own.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    refusals: IntCounterVec,
    handler_runs: IntCounterVec,
    settle: HistogramVec,
    receipts_issued: IntCounter,
    receipts_revoked: IntCounter,
    /// The hot path's counters, resolved once: a served call touches no label map.
    passthrough: IntCounter,
    receipt_spent: IntCounter,
    receipt_refunded: IntCounter,
    offering: IntGauge,
}

/// One route's counters for calls served without a payment round trip (on a receipt, or
/// exempt), resolved once so such a call touches no label map.
pub struct RouteCounters {
    handler_runs: IntCounter,
    receipt: IntCounter,
    exempt: IntCounter,
}

impl RouteCounters {
    /// Counts a call served on a receipt (the handler ran, and the receipt paid).
    pub fn served_on_receipt(&self) {
        self.handler_runs.inc();
        self.receipt.inc();
    }

    /// Counts a receipt call whose handler ran but failed (the receipt keeps the call).
    pub fn ran_unserved(&self) {
        self.handler_runs.inc();
    }

    /// Counts a call passed through unpaid by an access rule.
    pub fn exempt(&self) {
        self.exempt.inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = counter(
            "tollgate_gateway_requests_total",
            "requests by priced route (or passthrough) and outcome",
            &["route", "outcome"],
        );
        let refusals = counter(
            "tollgate_gateway_refusals_total",
            "refused requests to priced routes by reason",
            &["route", "reason"],
        );
        let handler_runs = counter(
            "tollgate_gateway_handler_runs_total",
            "times a priced handler ran for a payment or a receipt",
            &["route"],
        );
        let settle = HistogramVec::new(
            HistogramOpts::new(
                "tollgate_gateway_settle_seconds",
                "settlement latency seen by the gateway",
            )
            .buckets(BUCKETS.to_vec()),
            &["outcome"],
        )
        .expect("valid metric");
        let receipts_issued = IntCounter::new(
            "tollgate_gateway_receipts_issued_total",
            "bundle receipts issued",
        )
        .expect("valid metric");
        let receipts_revoked = IntCounter::new(
            "tollgate_gateway_receipts_revoked_total",
            "bundle receipts revoked because the settlement that paid for them failed",
        )
        .expect("valid metric");
        let receipt_calls = counter(
            "tollgate_gateway_receipt_calls_total",
            "receipt calls spent, and given back when the upstream failed",
            &["result"],
        );
        let offering = IntGauge::new(
            "tollgate_gateway_facilitator_offering",
            "1 once the facilitator said what it settles (priced routes take payments), else 0",
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(offering.clone()),
            Box::new(refusals.clone()),
            Box::new(handler_runs.clone()),
            Box::new(settle.clone()),
            Box::new(receipts_issued.clone()),
            Box::new(receipts_revoked.clone()),
            Box::new(receipt_calls.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Self {
            registry,
            passthrough: requests.with_label_values(&["", "passthrough"]),
            receipt_spent: receipt_calls.with_label_values(&["spent"]),
            receipt_refunded: receipt_calls.with_label_values(&["refunded"]),
            requests,
            refusals,
            handler_runs,
            settle,
            receipts_issued,
            receipts_revoked,
            offering,
        }
    }

    /// Whether priced routes can take payments (the facilitator's kinds are known).
    pub fn offering(&self, known: bool) {
        self.offering.set(i64::from(known));
    }

    /// The counters of the route named `route`, for its hot path.
    pub fn route(&self, route: &str) -> RouteCounters {
        RouteCounters {
            handler_runs: self.handler_runs.with_label_values(&[route]),
            receipt: self
                .requests
                .with_label_values(&[route, Outcome::Receipt.label()]),
            exempt: self
                .requests
                .with_label_values(&[route, Outcome::Exempt.label()]),
        }
    }

    /// Counts a request that matched no priced route.
    pub fn passthrough(&self) {
        self.passthrough.inc();
    }

    /// Counts how a request to `route` ended.
    pub fn outcome(&self, route: &str, outcome: Outcome) {
        self.requests
            .with_label_values(&[route, outcome.label()])
            .inc();
    }

    /// Counts a refusal of a request to `route`, by its reason code.
    pub fn refused(&self, route: &str, reason: &str) {
        let code = reason.split(':').next().unwrap_or(reason);
        let code = if code.len() > MAX_REASON
            || !code.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            "other"
        } else {
            code
        };
        self.refusals.with_label_values(&[route, code]).inc();
        self.outcome(route, Outcome::Refused);
    }

    /// Counts one run of a priced handler.
    pub fn handler_ran(&self, route: &str) {
        self.handler_runs.with_label_values(&[route]).inc();
    }

    /// Records one settlement's latency by outcome (`success`, `pending`, `failed`, `error`).
    pub fn settled(&self, outcome: &str, took: Duration) {
        self.settle
            .with_label_values(&[outcome])
            .observe(took.as_secs_f64());
    }

    /// Counts an issued receipt.
    pub fn receipt_issued(&self) {
        self.receipts_issued.inc();
    }

    /// Counts a receipt revoked because its payment failed.
    pub fn receipt_revoked(&self) {
        self.receipts_revoked.inc();
    }

    /// Counts a receipt call spent on a served call.
    pub fn receipt_spent(&self) {
        self.receipt_spent.inc();
    }

    /// Counts a receipt call given back because the upstream failed.
    pub fn receipt_refunded(&self) {
        self.receipt_refunded.inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .expect("text encoding cannot fail")
    }
}
