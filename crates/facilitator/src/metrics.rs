//! Prometheus metrics: requests, verify/settle outcomes by reason, latencies, pending settlements.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Latency buckets from 0.5 ms to 60 s: verifies take milliseconds, settles wait for blocks.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// One facilitator instance's metrics, in a registry of its own.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    outcomes: IntCounterVec,
    latency: HistogramVec,
    pending: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "tollgate_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        let outcomes = IntCounterVec::new(
            Opts::new(
                "tollgate_payment_outcomes_total",
                "verify and settle results by reason",
            ),
            &["op", "outcome"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("tollgate_operation_seconds", "verify and settle latency")
                .buckets(BUCKETS.to_vec()),
            &["op"],
        )
        .expect("valid metric");
        let pending = IntGauge::new(
            "tollgate_pending_settlements",
            "settlements awaiting a result",
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(outcomes.clone()),
            Box::new(latency.clone()),
            Box::new(pending.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Self {
            registry,
            requests,
            outcomes,
            latency,
            pending,
        }
    }

    /// Counts one HTTP request.
    pub fn request(&self, route: &str, status: u16) {
        self.requests
            .with_label_values(&[route, &status.to_string()])
            .inc();
    }

    pub(crate) fn verify(&self, outcome: &str, took: Duration) {
        self.outcomes.with_label_values(&["verify", outcome]).inc();
        self.latency
            .with_label_values(&["verify"])
            .observe(took.as_secs_f64());
    }

    pub(crate) fn settle(&self, outcome: &str, took: Duration) {
        self.outcomes.with_label_values(&["settle", outcome]).inc();
        self.latency
            .with_label_values(&["settle"])
            .observe(took.as_secs_f64());
    }

    /// Sets the pending-settlements gauge (read from the ledger at scrape time).
    pub fn set_pending(&self, n: i64) {
        self.pending.set(n);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}
