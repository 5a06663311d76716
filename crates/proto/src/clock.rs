//! Wall-clock time as x402 counts it: Unix seconds, for `validAfter`/`validBefore`, receipt
//! expiry and ledger timestamps. One home, so every crate reads the same clock the same way.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now (0 if the clock reads before 1970, which makes every deadline look passed).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Unix seconds now as the ledger's signed column type.
pub fn unix_now_i64() -> i64 {
    i64::try_from(unix_now()).unwrap_or(i64::MAX)
}
