//! Waiting for a condition another task or process brings about, with a bound: tests poll
//! what they can observe (a ledger row) instead of sleeping for a guessed time.

use std::time::Duration;

use tollgate_store::{Ledger, SettlementRecord, SettlementState};

/// The ledger row of `id` once it has a recorded result, or `None` if it has none `within`.
pub async fn finished(ledger: &Ledger, id: &str, within: Duration) -> Option<SettlementRecord> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let rec = ledger.get(id).await.expect("ledger read");
        if let Some(r) = rec.filter(|r| r.state != SettlementState::Signed) {
            return Some(r);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What `read` gives once it gives `want`, or the last value it gave when `within` passed: for
/// balances that move when a settlement answered pending is mined.
pub async fn until_eq<T, F>(mut read: impl FnMut() -> F, want: T, within: Duration) -> T
where
    T: PartialEq,
    F: std::future::Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got = read().await;
        if got == want || tokio::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
