//! A closed-loop load generator: `conns` workers each send one request at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Latency and throughput of one run.
pub struct Report {
    pub ok: usize,
    pub failed: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

impl Report {
    pub fn per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub fn pct(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let mut l = self.latencies.clone();
        l.sort();
        l[((l.len() as f64 - 1.0) * p).round() as usize]
    }

    pub fn line(&self, what: &str) -> String {
        format!(
            "{what:<44} {:>9.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} ok, {} failed, {:.1} s)",
            self.per_sec(),
            self.pct(0.50).as_secs_f64() * 1e3,
            self.pct(0.99).as_secs_f64() * 1e3,
            self.ok,
            self.failed,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Posts `bodies[i]` (each at most once, in order) to `url` from `conns` workers until the
/// bodies run out or `budget` passes; `good` judges each answer.
pub async fn run(
    url: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    conns: usize,
    budget: Duration,
    cycle: bool,
    good: fn(&Value) -> bool,
) -> Report {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conns)
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + budget;
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (client, url, bodies, next) = (
            client.clone(),
            url.to_string(),
            bodies.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut lat) = (0, 0, Vec::new());
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bodies.len() && !cycle {
                    break;
                }
                let body = bodies[i % bodies.len()].clone();
                let t = Instant::now();
                let resp = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let v: Option<Value> = match resp {
                    Ok(r) => r.json().await.ok(),
                    Err(_) => None,
                };
                lat.push(t.elapsed());
                if v.as_ref().is_some_and(good) {
                    ok += 1;
                } else {
                    failed += 1;
                }
            }
            (ok, failed, lat)
        }));
    }
    let mut report = Report {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for t in tasks {
        let (ok, failed, lat) = t.await.expect("worker");
        report.ok += ok;
        report.failed += failed;
        report.latencies.extend(lat);
    }
    report.elapsed = started.elapsed();
    report
}

/// What [`abort_midway`] did.
pub struct Aborted {
    /// Requests the workers had started (sent or being sent) when they were aborted.
    pub started: usize,
    /// Of those, answered before the abort.
    pub answered: usize,
}

/// Posts `bodies` (each once, in order) from `conns` workers like [`run`], but as soon as
/// `abort_after` requests have been started it aborts every worker with its request in flight
/// and drops the client: the connections close under the server's open requests, as when a
/// load generator (or a gateway) goes away mid-run.
pub async fn abort_midway(
    url: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    conns: usize,
    abort_after: usize,
) -> Aborted {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conns)
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (client, url, bodies, next, answered) = (
            client.clone(),
            url.to_string(),
            bodies.clone(),
            next.clone(),
            answered.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bodies.len() {
                    break;
                }
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(bodies[i].clone())
                    .send()
                    .await;
                if let Ok(r) = sent {
                    let _ = r.bytes().await;
                }
                answered.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Cut at `abort_after` started, or after a minute if the server stalls before that.
    let give_up = Instant::now() + Duration::from_secs(60);
    while next.load(Ordering::Relaxed) < abort_after
        && !tasks.iter().all(|t| t.is_finished())
        && Instant::now() < give_up
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    drop(client);
    Aborted {
        started: next.load(Ordering::Relaxed).min(bodies.len()),
        answered: answered.load(Ordering::Relaxed),
    }
}
