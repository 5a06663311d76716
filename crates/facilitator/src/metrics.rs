//! Prometheus metrics: requests, verify/settle outcomes by reason, latencies, pending
//! settlements, and each settlement signer's gas balance and place in rotation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use tollgate_proto::U256;

use crate::signers::SignerPoolHealth;

/// Wei per gwei: balances are exported in whole gwei, an integer gauge (no float near money).
const WEI_PER_GWEI: u64 = 1_000_000_000;

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
    signers: SignerGauges,
}

/// Per signer (labelled by network and public address): balance and whether in rotation.
#[derive(Clone)]
struct SignerGauges {
    balance_gwei: IntGaugeVec,
    in_rotation: IntGaugeVec,
    min_balance_gwei: IntGaugeVec,
    /// Held while the gauges are cleared and refilled, so concurrent scrapes never interleave.
    refill: Arc<Mutex<()>>,
}

impl SignerGauges {
    fn new() -> Self {
        let gauges = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        Self {
            balance_gwei: gauges(
                "tollgate_signer_balance_gwei",
                "settlement signer gas balance at the last read, in whole gwei",
                &["network", "signer"],
            ),
            in_rotation: gauges(
                "tollgate_signer_in_rotation",
                "1 if the settlement signer signs new settlements, 0 if its balance is below the minimum",
                &["network", "signer"],
            ),
            min_balance_gwei: gauges(
                "tollgate_signer_min_balance_gwei",
                "gas balance below which a signer leaves rotation, in whole gwei (0: never)",
                &["network"],
            ),
            refill: Arc::new(Mutex::new(())),
        }
    }

    /// Replaces every signer series with `pools`: a retired signer's series disappear.
    fn set(&self, pools: &[(String, SignerPoolHealth)]) {
        let _refill = self.refill.lock().expect("signer gauge lock");
        self.balance_gwei.reset();
        self.in_rotation.reset();
        self.min_balance_gwei.reset();
        for (network, pool) in pools {
            self.min_balance_gwei
                .with_label_values(&[network])
                .set(gwei(pool.min_balance_wei));
            for s in &pool.signers {
                let labels = [network.as_str(), s.address.as_str()];
                if let Some(wei) = s.balance_wei {
                    self.balance_gwei.with_label_values(&labels).set(gwei(wei));
                }
                self.in_rotation
                    .with_label_values(&labels)
                    .set(i64::from(s.in_rotation));
            }
        }
    }
}

/// Whole gwei in `wei`, saturating at the gauge's bound.
fn gwei(wei: U256) -> i64 {
    i64::try_from(wei / U256::from(WEI_PER_GWEI)).unwrap_or(i64::MAX)
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
            prometheus::histogram_opts!(
                "tollgate_operation_seconds",
                "verify and settle latency",
                BUCKETS.to_vec()
            ),
            &["op"],
        )
        .expect("valid metric");
        let pending = IntGauge::new(
            "tollgate_pending_settlements",
            "settlements awaiting a result",
        )
        .expect("valid metric");
        let signers = SignerGauges::new();
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(outcomes.clone()),
            Box::new(latency.clone()),
            Box::new(pending.clone()),
            Box::new(signers.balance_gwei.clone()),
            Box::new(signers.in_rotation.clone()),
            Box::new(signers.min_balance_gwei.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Self {
            registry,
            requests,
            outcomes,
            latency,
            pending,
            signers,
        }
    }

    /// Counts one HTTP request.
    pub fn request(&self, route: &str, status: u16) {
        self.requests
            .with_label_values(&[route, &status.to_string()])
            .inc();
    }

    /// Counts one `op` (verify, settle) by its outcome, with its latency.
    pub(crate) fn operation(&self, op: &str, outcome: &str, took: Duration) {
        self.outcomes.with_label_values(&[op, outcome]).inc();
        self.latency
            .with_label_values(&[op])
            .observe(took.as_secs_f64());
    }

    /// Sets the pending-settlements gauge (read from the ledger at scrape time).
    pub fn set_pending(&self, n: i64) {
        self.pending.set(n);
    }

    /// Sets the signer gauges from each chain's signers (read at scrape time).
    pub fn set_signers(&self, pools: &[(String, SignerPoolHealth)]) {
        self.signers.set(pools);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .expect("text encoding cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signers::SignerHealth;

    fn pool(addresses: &[&str]) -> Vec<(String, SignerPoolHealth)> {
        let signers = addresses
            .iter()
            .map(|a| SignerHealth {
                address: a.to_string(),
                balance_wei: Some(U256::from(2_500_000_000u64)),
                in_rotation: *a != "0xB",
            })
            .collect();
        vec![(
            "eip155:1".into(),
            SignerPoolHealth::new(U256::from(3_000_000_000u64), signers),
        )]
    }

    #[test]
    fn signer_series_follow_the_current_set() {
        let m = Metrics::new();
        m.set_signers(&pool(&["0xA", "0xB"]));
        let text = m.render();
        assert!(
            text.contains("tollgate_signer_in_rotation{network=\"eip155:1\",signer=\"0xA\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tollgate_signer_in_rotation{network=\"eip155:1\",signer=\"0xB\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("tollgate_signer_balance_gwei{network=\"eip155:1\",signer=\"0xA\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("tollgate_signer_min_balance_gwei{network=\"eip155:1\"} 3"),
            "{text}"
        );
        m.set_signers(&pool(&["0xA"]));
        assert!(
            !m.render().contains("0xB"),
            "a retired signer's series are gone"
        );
    }
}
