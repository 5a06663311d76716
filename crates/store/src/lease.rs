//! Named leases with an expiry, in the store every instance shares: one holder at a time, and a
//! holder that died frees its lease by letting it run out. The gateway leases payments in
//! flight; the facilitator leases its reconciler, so one instance reconciles at a time.

use sqlx::AnyPool;

use crate::StoreError;

/// Seconds as the store keeps them (BIGINT); far-future values saturate.
pub(crate) fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Takes or renews the lease `name` for `holder` until `now + ttl`; `false` while another
/// holder's lease is unexpired. One statement, so two instances cannot both win.
pub(crate) async fn try_hold(
    pool: &AnyPool,
    name: &str,
    holder: &str,
    now: u64,
    ttl: u64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO inflight (id, holder, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE inflight.expires_at <= $4 OR inflight.holder = excluded.holder",
    )
    .bind(name)
    .bind(holder)
    .bind(i64_of(now.saturating_add(ttl)))
    .bind(i64_of(now))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives back `holder`'s lease `name` (a lease taken over after expiry is left alone).
pub(crate) async fn release(pool: &AnyPool, name: &str, holder: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM inflight WHERE id = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(pool)
        .await?;
    Ok(())
}
