//! Receipt rows for metered bundles: the truth about how many paid calls remain. Calls move
//! from `calls_left` into instances' holds by atomic conditional UPDATEs (see `holds`), so
//! instances sharing PostgreSQL never hand out more calls than were paid for.

use sqlx::{AnyPool, Row};

use crate::StoreError;

/// Longest route list stored with a receipt, in bytes.
const MAX_ROUTES_BYTES: usize = 4096;

/// A bundle to record after its payment settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceipt {
    /// Row id the signed token names.
    pub id: String,
    /// Who paid.
    pub payer: String,
    /// Route names unlocked.
    pub routes: Vec<String>,
    /// Calls still to serve; `None` for unlimited calls until `expires_at`.
    pub calls_left: Option<u64>,
    /// Unix seconds after which nothing is served.
    pub expires_at: u64,
    /// Settlement transaction that paid for it.
    pub payment_tx: Option<String>,
}

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRow {
    pub id: String,
    pub payer: String,
    pub routes: Vec<String>,
    pub calls_total: Option<u64>,
    pub calls_left: Option<u64>,
    pub expires_at: u64,
    pub payment_tx: Option<String>,
    /// Unix seconds when the payment behind it was found failed; a revoked receipt serves nothing.
    pub revoked_at: Option<u64>,
}

/// The receipt table over SQLite or PostgreSQL.
#[derive(Clone)]
pub struct ReceiptStore {
    pub(crate) pool: AnyPool,
}

use crate::ledger::now;

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl ReceiptStore {
    /// Opens the store at `url` (`sqlite:` or `postgres:`) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(Self {
            pool: crate::pool::open(url).await?,
        })
    }

    /// Records a bundle; `false` when a row with this id already exists (an idempotent retry).
    pub async fn create(&self, r: &NewReceipt) -> Result<bool, StoreError> {
        let routes = r.routes.join(",");
        if routes.len() > MAX_ROUTES_BYTES || r.routes.iter().any(|x| x.contains(',')) {
            return Err(StoreError::Corrupt(r.id.clone(), "route list".into()));
        }
        let calls = r.calls_left.map(to_i64);
        let done = sqlx::query(
            "INSERT INTO receipts (id, payer, routes, calls_total, calls_left, expires_at, payment_tx, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&r.id)
        .bind(&r.payer)
        .bind(routes)
        .bind(calls)
        .bind(calls)
        .bind(to_i64(r.expires_at))
        .bind(r.payment_tx.clone())
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Reads a receipt.
    pub async fn get(&self, id: &str) -> Result<Option<ReceiptRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, payer, routes, calls_total, calls_left, expires_at, payment_tx, revoked_at \
             FROM receipts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| decode(&r)).transpose()
    }

    /// Revokes a receipt whose payment failed: no call is left and it expires at `now`, so every
    /// later `take` refuses; `revoked_at` says why. `false` when there is no such receipt.
    pub async fn revoke(&self, id: &str, now: u64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE receipts SET \
               calls_left = CASE WHEN calls_left IS NULL THEN NULL ELSE 0 END, \
               expires_at = CASE WHEN expires_at < $2 THEN expires_at ELSE $2 END, \
               revoked_at = COALESCE(revoked_at, $2) \
             WHERE id = $1",
        )
        .bind(id)
        .bind(to_i64(now))
        .execute(&mut *tx)
        .await?;
        // Holds go with the receipt (its row is locked first, as every holds writer does): no
        // instance may serve the calls it held.
        sqlx::query("DELETE FROM receipt_holds WHERE receipt_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}

fn opt_u64(r: &sqlx::any::AnyRow, col: &str) -> Result<Option<u64>, StoreError> {
    Ok(r.try_get::<Option<i64>, _>(col)?
        .map(|v| u64::try_from(v).unwrap_or(0)))
}

fn decode(r: &sqlx::any::AnyRow) -> Result<ReceiptRow, StoreError> {
    let routes: String = r.try_get("routes")?;
    Ok(ReceiptRow {
        id: r.try_get("id")?,
        payer: r.try_get("payer")?,
        routes: routes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        calls_total: opt_u64(r, "calls_total")?,
        calls_left: opt_u64(r, "calls_left")?,
        expires_at: u64::try_from(r.try_get::<i64, _>("expires_at")?).unwrap_or(0),
        payment_tx: r.try_get("payment_tx")?,
        revoked_at: opt_u64(r, "revoked_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh SQLite file in the temp dir, unique per test.
    async fn store(name: &str) -> (ReceiptStore, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "tollgate-receipts-{}-{name}-{}.db",
            std::process::id(),
            now()
        ));
        let _ = std::fs::remove_file(&path);
        let url = format!("sqlite://{}", path.display());
        (ReceiptStore::connect(&url).await.unwrap(), path)
    }

    /// Calls granted to one holder by a take.
    async fn take(s: &ReceiptStore, id: &str, want: u64, now: u64) -> u64 {
        s.take_held(id, "h", want, now, 30).await.unwrap().granted
    }

    fn receipt(id: &str, calls: Option<u64>) -> NewReceipt {
        NewReceipt {
            id: id.into(),
            payer: "0xabc".into(),
            routes: vec!["signals".into(), "grades".into()],
            calls_left: calls,
            expires_at: 2_000_000_000,
            payment_tx: Some("0xtx".into()),
        }
    }

    #[tokio::test]
    async fn takes_never_exceed_what_was_paid() {
        let (s, _d) = store("takes").await;
        assert!(s.create(&receipt("r1", Some(5))).await.unwrap());
        assert!(
            !s.create(&receipt("r1", Some(5))).await.unwrap(),
            "idempotent"
        );
        assert_eq!(take(&s, "r1", 2, 1).await, 2);
        let mut rest = 0;
        while let n @ 1.. = take(&s, "r1", 10, 1).await {
            assert!(
                n <= 1,
                "never more than a quarter of what is left, rounded up"
            );
            rest += n;
        }
        assert_eq!(rest, 3);
        let row = s.get("r1").await.unwrap().unwrap();
        assert_eq!((row.calls_total, row.calls_left), (Some(5), Some(0)));
        assert_eq!(row.routes, vec!["signals", "grades"]);
        assert_eq!(take(&s, "missing", 1, 1).await, 0);
    }

    #[tokio::test]
    async fn expired_and_unlimited_receipts_grant_nothing_from_take() {
        let (s, _d) = store("expired").await;
        s.create(&receipt("r2", Some(5))).await.unwrap();
        assert_eq!(take(&s, "r2", 1, 2_000_000_000).await, 0);
        s.create(&receipt("w", None)).await.unwrap();
        assert_eq!(take(&s, "w", 1, 1).await, 0);
        assert_eq!(s.get("w").await.unwrap().unwrap().calls_left, None);
    }

    #[tokio::test]
    async fn revoked_receipts_grant_nothing() {
        let (s, _d) = store("revoke").await;
        s.create(&receipt("r3", Some(5))).await.unwrap();
        s.create(&receipt("w3", None)).await.unwrap();
        assert_eq!(take(&s, "r3", 1, 1).await, 1);
        assert!(s.revoke("r3", 50).await.unwrap());
        assert!(s.revoke("w3", 50).await.unwrap());
        assert!(!s.revoke("missing", 50).await.unwrap());
        assert_eq!(take(&s, "r3", 1, 10).await, 0, "even before `now`");
        let row = s.get("r3").await.unwrap().unwrap();
        assert_eq!(
            (row.calls_left, row.expires_at, row.revoked_at),
            (Some(0), 50, Some(50))
        );
        let w = s.get("w3").await.unwrap().unwrap();
        assert_eq!(
            (w.calls_left, w.expires_at, w.revoked_at),
            (None, 50, Some(50))
        );
        assert!(s.revoke("r3", 60).await.unwrap());
        assert_eq!(
            s.get("r3").await.unwrap().unwrap().revoked_at,
            Some(50),
            "the first revocation time stays"
        );
    }
}
