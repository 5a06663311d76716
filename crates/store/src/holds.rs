//! Holds: calls of a counted receipt that one gateway instance took and has not served yet.
//!
//! The count stays exact across instances and crashes because every served call is taken off
//! its instance's hold ([`ReceiptStore::spend_held`]) before its answer leaves the gateway:
//! `calls_left + Σ holds + calls served = calls bought`, always. An instance that stops gives
//! its holds back ([`ReceiptStore::release_holds`]); the holds of one that died expire, and the
//! next take on that receipt puts them back into `calls_left`.

use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::StoreError;
use crate::lease::i64_of;
use crate::receipts::ReceiptStore;

/// What a take gave its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Calls added to the holder's hold.
    pub granted: u64,
    /// Calls in the holder's hold after the take.
    pub own: u64,
    /// Calls not yet served anywhere after the take (`calls_left` and every hold).
    pub left: u64,
    /// When another holder still holds calls: the earliest expiry of those holds.
    pub held_elsewhere_until: Option<u64>,
}

/// What recording served calls of one receipt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spent {
    /// Calls recorded: only these may be answered.
    pub recorded: u64,
    /// Calls in the holder's hold afterwards.
    pub own: u64,
}

// Every transaction that writes a receipt's holds first locks the receipt's row, so writers
// on PostgreSQL queue in one order and never deadlock. The one exception is a spend that
// finds its hold covering it: a single statement on the holder's own row.

impl ReceiptStore {
    /// Takes up to `want` calls of receipt `id` into `holder`'s hold (renewed until
    /// `now + hold_secs`), first putting back the calls of expired holds. A take grants at most
    /// a quarter of what is left (rounded up), so one instance never holds the last calls
    /// another instance's callers need. Nothing is granted from an expired, revoked, unlimited
    /// or missing receipt.
    pub async fn take_held(
        &self,
        id: &str,
        holder: &str,
        want: u64,
        now: u64,
        hold_secs: u64,
    ) -> Result<Grant, StoreError> {
        let mut tx = locked(&self.pool, id).await?;
        reclaim_expired(&mut tx, id, now).await?;
        let row = sqlx::query(
            "UPDATE receipts SET \
               last_grant = CASE WHEN (calls_left + 3) / 4 < $2 THEN (calls_left + 3) / 4 ELSE $2 END, \
               calls_left = calls_left - CASE WHEN (calls_left + 3) / 4 < $2 THEN (calls_left + 3) / 4 ELSE $2 END \
             WHERE id = $1 AND calls_left > 0 AND expires_at > $3 AND revoked_at IS NULL \
             RETURNING last_grant",
        )
        .bind(id)
        .bind(i64_of(want.max(1)))
        .bind(i64_of(now))
        .fetch_optional(&mut *tx)
        .await?;
        let granted = match row {
            Some(r) => u64_of(r.try_get::<i64, _>(0)?),
            None => 0,
        };
        let own = sqlx::query(
            "INSERT INTO receipt_holds (receipt_id, holder, calls, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (receipt_id, holder) DO UPDATE \
               SET calls = receipt_holds.calls + excluded.calls, expires_at = excluded.expires_at \
             RETURNING calls",
        )
        .bind(id)
        .bind(holder)
        .bind(i64_of(granted))
        .bind(i64_of(now.saturating_add(hold_secs)))
        .fetch_one(&mut *tx)
        .await?;
        let own = u64_of(own.try_get::<i64, _>(0)?);
        let (left, elsewhere) = standing(&mut *tx, id, holder).await?;
        tx.commit().await?;
        Ok(Grant {
            granted,
            own,
            left,
            held_elsewhere_until: elsewhere,
        })
    }

    /// Records served calls, `(receipt id, calls)` each, against `holder`'s holds, renewing them
    /// until `now + hold_secs`. A call its hold no longer covers (the hold expired and was put
    /// back, or the receipt was revoked) is taken straight from `calls_left` if any is left.
    /// Returns, per entry, the calls recorded (only those may be answered) and the hold after.
    pub async fn spend_held(
        &self,
        holder: &str,
        spends: &[(&str, u64)],
        now: u64,
        hold_secs: u64,
    ) -> Result<Vec<Spent>, StoreError> {
        let until = i64_of(now.saturating_add(hold_secs));
        let mut out: Vec<Option<Spent>> = vec![None; spends.len()];
        if let [(id, n)] = spends {
            // The common case, one busy receipt: a single autocommitted statement.
            out[0] = spend_whole(&self.pool, id, holder, *n, until).await?;
        } else {
            // Own rows only, in one order: no receipt row is locked here.
            let mut order: Vec<usize> = (0..spends.len()).collect();
            order.sort_by_key(|&i| spends[i].0);
            let mut tx = self.pool.begin().await?;
            for i in order {
                let (id, n) = spends[i];
                out[i] = spend_whole(&mut *tx, id, holder, n, until).await?;
            }
            tx.commit().await?;
        }
        let mut done = Vec::with_capacity(spends.len());
        for (i, &(id, n)) in spends.iter().enumerate() {
            done.push(match out[i] {
                Some(s) => s,
                None => self.spend_short(holder, (id, n), now, until).await?,
            });
        }
        Ok(done)
    }

    /// A spend its hold does not cover: what the hold has, then the rest from `calls_left`.
    async fn spend_short(
        &self,
        holder: &str,
        (id, n): (&str, u64),
        now: u64,
        until: i64,
    ) -> Result<Spent, StoreError> {
        let mut tx = locked(&self.pool, id).await?;
        let held =
            sqlx::query("SELECT calls FROM receipt_holds WHERE receipt_id = $1 AND holder = $2")
                .bind(id)
                .bind(holder)
                .fetch_optional(&mut *tx)
                .await?;
        let held = match held {
            Some(r) => u64_of(r.try_get::<i64, _>(0)?),
            None => 0,
        };
        let from_hold = held.min(n);
        if from_hold > 0 {
            spend_whole(&mut *tx, id, holder, from_hold, until).await?;
        }
        let direct = take_direct(&mut tx, id, n - from_hold, now).await?;
        tx.commit().await?;
        Ok(Spent {
            recorded: from_hold + direct,
            own: held - from_hold,
        })
    }

    /// Gives every call `holder` holds back to its receipt (a gateway stopping in good order);
    /// returns how many calls went back.
    pub async fn release_holds(&self, holder: &str) -> Result<u64, StoreError> {
        let ids = sqlx::query("SELECT receipt_id FROM receipt_holds WHERE holder = $1")
            .bind(holder)
            .fetch_all(&self.pool)
            .await?;
        self.give_back_each(ids, GiveBack::HeldBy(holder)).await
    }

    /// Calls of `id` not yet served anywhere: `calls_left` and every hold.
    pub async fn unserved(&self, id: &str) -> Result<u64, StoreError> {
        Ok(standing(&self.pool, id, "").await?.0)
    }

    /// Receipts revoked at or after `since` (unix seconds), for instances that cache receipts.
    pub async fn revoked_since(&self, since: u64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT id FROM receipts WHERE revoked_at >= $1")
            .bind(i64_of(since))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
            .collect()
    }

    /// Puts back the calls of every expired hold (of dead instances, or idle ones that will
    /// take again); returns how many calls went back.
    pub async fn sweep_holds(&self, now: u64) -> Result<u64, StoreError> {
        let ids =
            sqlx::query("SELECT DISTINCT receipt_id FROM receipt_holds WHERE expires_at <= $1")
                .bind(i64_of(now))
                .fetch_all(&self.pool)
                .await?;
        self.give_back_each(ids, GiveBack::ExpiredAt(now)).await
    }

    /// Gives back, as `how` says, the calls held of each receipt named in the first column of
    /// `rows`, each under that receipt's row lock and committed on its own; the calls given
    /// back, summed.
    async fn give_back_each(
        &self,
        rows: Vec<AnyRow>,
        how: GiveBack<'_>,
    ) -> Result<u64, StoreError> {
        let mut back = 0;
        for r in rows {
            let id: String = r.try_get(0)?;
            let mut tx = locked(&self.pool, &id).await?;
            back += match how {
                GiveBack::HeldBy(holder) => release_held(&mut tx, &id, holder).await?,
                GiveBack::ExpiredAt(now) => reclaim_expired(&mut tx, &id, now).await?,
            };
            tx.commit().await?;
        }
        Ok(back)
    }
}

/// Which holds go back to their receipts.
#[derive(Clone, Copy)]
enum GiveBack<'a> {
    /// Every hold of this holder (a gateway stopping in good order).
    HeldBy(&'a str),
    /// Every hold expired at this unix second.
    ExpiredAt(u64),
}

/// Puts `holder`'s hold of receipt `id` back into its `calls_left`; the calls put back.
async fn release_held(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    holder: &str,
) -> Result<u64, StoreError> {
    let rows = sqlx::query(
        "DELETE FROM receipt_holds WHERE receipt_id = $1 AND holder = $2 RETURNING calls",
    )
    .bind(id)
    .bind(holder)
    .fetch_all(&mut **tx)
    .await?;
    put_back(tx, id, sum_calls(&rows)?).await
}

/// A transaction holding receipt `id`'s row lock, so what it reads of the receipt and its
/// holds stays true until it commits.
async fn locked(pool: &AnyPool, id: &str) -> Result<Transaction<'static, Any>, StoreError> {
    let mut tx = pool.begin().await?;
    lock_receipt(&mut tx, id).await?;
    Ok(tx)
}

/// Locks receipt `id`'s row for the rest of the transaction (a no-op write).
pub(crate) async fn lock_receipt(
    tx: &mut Transaction<'_, Any>,
    id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE receipts SET last_grant = last_grant WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Takes `n` calls off `holder`'s hold of `id` in one conditional statement; the hold after, or
/// `None` when the hold is gone or holds fewer.
async fn spend_whole<'e, E>(
    db: E,
    id: &str,
    holder: &str,
    n: u64,
    until: i64,
) -> Result<Option<Spent>, StoreError>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let row = sqlx::query(
        "UPDATE receipt_holds SET calls = calls - $3, expires_at = $4 \
         WHERE receipt_id = $1 AND holder = $2 AND calls >= $3 RETURNING calls",
    )
    .bind(id)
    .bind(holder)
    .bind(i64_of(n))
    .bind(until)
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(Spent {
            recorded: n,
            own: u64_of(r.try_get::<i64, _>(0)?),
        })
    })
    .transpose()
}

/// Takes up to `n` calls straight from `calls_left`, as a hold would have; how many.
async fn take_direct(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    n: u64,
    now: u64,
) -> Result<u64, StoreError> {
    if n == 0 {
        return Ok(0);
    }
    let row = sqlx::query(
        "UPDATE receipts SET \
           last_grant = CASE WHEN calls_left < $2 THEN calls_left ELSE $2 END, \
           calls_left = calls_left - CASE WHEN calls_left < $2 THEN calls_left ELSE $2 END \
         WHERE id = $1 AND calls_left > 0 AND expires_at > $3 AND revoked_at IS NULL \
         RETURNING last_grant",
    )
    .bind(id)
    .bind(i64_of(n))
    .bind(i64_of(now))
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(r) => Ok(u64_of(r.try_get::<i64, _>(0)?)),
        None => Ok(0),
    }
}

/// Deletes the expired holds of `id` and puts their calls back (the receipt's row is locked);
/// how many calls went back.
async fn reclaim_expired(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    now: u64,
) -> Result<u64, StoreError> {
    let rows = sqlx::query(
        "DELETE FROM receipt_holds WHERE receipt_id = $1 AND expires_at <= $2 RETURNING calls",
    )
    .bind(id)
    .bind(i64_of(now))
    .fetch_all(&mut **tx)
    .await?;
    put_back(tx, id, sum_calls(&rows)?).await
}

fn sum_calls(rows: &[sqlx::any::AnyRow]) -> Result<i64, StoreError> {
    let mut calls = 0i64;
    for r in rows {
        calls = calls.saturating_add(r.try_get::<i64, _>(0)?);
    }
    Ok(calls)
}

/// Adds `calls` back to a live receipt's `calls_left` (a revoked one keeps none); how many.
async fn put_back(tx: &mut Transaction<'_, Any>, id: &str, calls: i64) -> Result<u64, StoreError> {
    if calls <= 0 {
        return Ok(0);
    }
    let done = sqlx::query(
        "UPDATE receipts SET calls_left = calls_left + $2 \
         WHERE id = $1 AND calls_left IS NOT NULL AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(calls)
    .execute(&mut **tx)
    .await?;
    Ok(if done.rows_affected() == 1 {
        u64_of(calls)
    } else {
        0
    })
}

/// Calls not yet served anywhere, and the earliest expiry of another holder's non-empty hold.
async fn standing<'e, E>(db: E, id: &str, holder: &str) -> Result<(u64, Option<u64>), StoreError>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let r = sqlx::query(
        "SELECT CAST(COALESCE((SELECT calls_left FROM receipts WHERE id = $1), 0) \
                  + COALESCE((SELECT SUM(calls) FROM receipt_holds WHERE receipt_id = $1), 0) AS BIGINT), \
                (SELECT MIN(expires_at) FROM receipt_holds \
                  WHERE receipt_id = $1 AND holder <> $2 AND calls > 0)",
    )
    .bind(id)
    .bind(holder)
    .fetch_one(db)
    .await?;
    Ok((
        u64_of(r.try_get::<i64, _>(0)?),
        r.try_get::<Option<i64>, _>(1)?.map(u64_of),
    ))
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests;
