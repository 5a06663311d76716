//! Fee bumps in the ledger: a settlement whose transaction sat unmined is re-signed with the
//! same nonce at a higher fee. The row then carries the newest transaction, and every earlier
//! one is kept beside it, since any of them may be the one the chain mines.

use sqlx::Row;

use crate::ledger::now;
use crate::{Ledger, StoreError};

/// A transaction a fee bump superseded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplacedTx {
    pub tx_hash: String,
    pub raw_tx: Vec<u8>,
}

impl Ledger {
    /// Swaps an unfinished settlement's transaction `old_hash` for `new_hash`/`new_raw` and keeps
    /// the old one; `false` (nothing changed) when the row is final or already carries another
    /// transaction, e.g. because another instance bumped it first.
    pub async fn replace_tx(
        &self,
        id: &str,
        old_hash: &str,
        new_hash: &str,
        new_raw: &[u8],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let kept = sqlx::query(
            "INSERT INTO replaced_txs (tx_hash, settlement_id, raw_tx, replaced_at) \
             SELECT tx_hash, id, raw_tx, CAST($3 AS BIGINT) FROM settlements \
             WHERE id = $1 AND tx_hash = $2 AND state = 'signed' AND raw_tx IS NOT NULL \
             ON CONFLICT (tx_hash) DO NOTHING",
        )
        .bind(id)
        .bind(old_hash)
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if kept != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "UPDATE settlements SET tx_hash = $3, raw_tx = $4, updated_at = $5 \
             WHERE id = $1 AND tx_hash = $2 AND state = 'signed'",
        )
        .bind(id)
        .bind(old_hash)
        .bind(new_hash)
        .bind(new_raw.to_vec())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The transactions bumps superseded for settlement `id`, oldest first.
    pub async fn replaced_txs(&self, id: &str) -> Result<Vec<ReplacedTx>, StoreError> {
        let rows = sqlx::query(
            "SELECT tx_hash, raw_tx FROM replaced_txs WHERE settlement_id = $1 \
             ORDER BY replaced_at, tx_hash",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReplacedTx {
                    tx_hash: r.try_get("tx_hash")?,
                    raw_tx: r.try_get("raw_tx")?,
                })
            })
            .collect()
    }

    /// Records the result of settlement `id` and which of its transactions got it (after a
    /// bump, the one mined may be an earlier one).
    pub async fn record_mined(
        &self,
        id: &str,
        tx_hash: &str,
        success: bool,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        self.record(id, Some(tx_hash), success, reason).await
    }
}
