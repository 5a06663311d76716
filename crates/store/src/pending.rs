//! Bundles issued on a settlement that was still pending, kept in the store gateway instances
//! share until the settlement is final: the gateway asks the facilitator again with the exact
//! `/settle` body and revokes the bundle if the payment failed.

use sqlx::Row;

use crate::lease::i64_of;
use crate::{GatewayStore, StoreError};

/// Largest `/settle` body kept, in bytes; a payment header is far smaller.
pub const MAX_SETTLE_BODY_BYTES: usize = 256 * 1024;

/// A bundle whose payment was not final when it was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBundle {
    /// The receipt to revoke if the payment fails.
    pub receipt_id: String,
    /// The exact `/settle` request body, to ask again about the same payment.
    pub settle_body: Vec<u8>,
    /// Unix seconds when the bundle was issued.
    pub created_at: u64,
    /// Checks claimed so far, this one included.
    pub attempts: u64,
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl GatewayStore {
    /// Records a bundle issued on a pending settlement, first checked at `next_check_at`; a
    /// second record of the same receipt keeps the first.
    pub async fn add_pending(
        &self,
        receipt_id: &str,
        settle_body: &[u8],
        now: u64,
        next_check_at: u64,
    ) -> Result<(), StoreError> {
        if settle_body.len() > MAX_SETTLE_BODY_BYTES {
            let why = "settle body too large to keep".to_string();
            return Err(StoreError::Corrupt(receipt_id.to_string(), why));
        }
        sqlx::query(
            "INSERT INTO pending_bundles (receipt_id, settle_body, created_at, next_check_at, attempts) \
             VALUES ($1, $2, $3, $4, 0) ON CONFLICT (receipt_id) DO NOTHING",
        )
        .bind(receipt_id)
        .bind(settle_body.to_vec())
        .bind(i64_of(now))
        .bind(i64_of(next_check_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims up to `limit` rows due by `due_by` in one UPDATE that moves them to `lease_until`
    /// and counts the attempt, so no other instance sees them due meanwhile (the outer
    /// `next_check_at` test is rechecked on the row PostgreSQL locks, so a racing claim skips it).
    pub async fn claim_pending(
        &self,
        due_by: u64,
        lease_until: u64,
        limit: u32,
    ) -> Result<Vec<PendingBundle>, StoreError> {
        let rows = sqlx::query(
            "UPDATE pending_bundles SET next_check_at = $1, attempts = attempts + 1 \
             WHERE next_check_at <= $2 AND receipt_id IN ( \
               SELECT receipt_id FROM pending_bundles WHERE next_check_at <= $2 \
               ORDER BY next_check_at LIMIT $3) \
             RETURNING receipt_id, settle_body, created_at, attempts",
        )
        .bind(i64_of(lease_until))
        .bind(i64_of(due_by))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingBundle {
                    receipt_id: r.try_get("receipt_id")?,
                    settle_body: r.try_get("settle_body")?,
                    created_at: u64_of(r.try_get("created_at")?),
                    attempts: u64_of(r.try_get("attempts")?),
                })
            })
            .collect()
    }

    /// Sets when a claimed row is checked next.
    pub async fn reschedule_pending(&self, receipt_id: &str, at: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE pending_bundles SET next_check_at = $2 WHERE receipt_id = $1")
            .bind(receipt_id)
            .bind(i64_of(at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets a row whose settlement is final (or given up on).
    pub async fn drop_pending(&self, receipt_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM pending_bundles WHERE receipt_id = $1")
            .bind(receipt_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::tests::store;

    fn ids(rows: &[PendingBundle]) -> Vec<&str> {
        rows.iter().map(|r| r.receipt_id.as_str()).collect()
    }

    #[tokio::test]
    async fn due_rows_are_claimed_once_until_rescheduled() {
        let s = store("pending").await;
        s.add_pending("a", b"{\"a\":1}", 100, 105).await.unwrap();
        s.add_pending("b", b"{}", 100, 110).await.unwrap();
        s.add_pending("a", b"other", 101, 101).await.unwrap();
        assert!(s.claim_pending(104, 200, 10).await.unwrap().is_empty());
        let got = s.claim_pending(106, 200, 10).await.unwrap();
        assert_eq!(
            got,
            vec![PendingBundle {
                receipt_id: "a".into(),
                settle_body: b"{\"a\":1}".to_vec(),
                created_at: 100,
                attempts: 1,
            }],
            "only the due row, as first recorded"
        );
        assert_eq!(ids(&s.claim_pending(150, 200, 10).await.unwrap()), ["b"]);
        assert!(
            s.claim_pending(150, 300, 10).await.unwrap().is_empty(),
            "claimed rows are not due again before their lease ends"
        );
        s.reschedule_pending("a", 160).await.unwrap();
        let again = s.claim_pending(160, 300, 10).await.unwrap();
        assert_eq!((ids(&again), again[0].attempts), (vec!["a"], 2));
        s.drop_pending("a").await.unwrap();
        assert_eq!(ids(&s.claim_pending(400, 500, 10).await.unwrap()), ["b"]);
    }

    #[tokio::test]
    async fn claims_respect_the_limit_oldest_first() {
        let s = store("limit").await;
        for (id, at) in [("x", 30), ("y", 10), ("z", 20)] {
            s.add_pending(id, b"{}", 1, at).await.unwrap();
        }
        let mut first = ids(&s.claim_pending(50, 100, 2).await.unwrap())
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>();
        first.sort();
        assert_eq!(first, ["y", "z"]);
        assert_eq!(ids(&s.claim_pending(50, 100, 2).await.unwrap()), ["x"]);
    }
}
