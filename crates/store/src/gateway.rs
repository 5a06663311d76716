//! What gateway instances share beside receipts: in-flight leases on payments (so copies of one
//! payment sent to several instances run the handler once) and the answers recorded for
//! payment-identifier retries.

use sqlx::{AnyPool, Row};

use crate::StoreError;
use crate::lease::i64_of;

/// Largest header list or body recorded for a retry, in bytes.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The gateway's shared tables over SQLite or PostgreSQL.
#[derive(Clone)]
pub struct GatewayStore {
    pub(crate) pool: AnyPool,
}

/// An answer given to a paid call, kept for an honest retry of the same payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedAnswer {
    /// The payment's identity and a hash of its whole payload; a retry must repeat both.
    pub fingerprint: String,
    pub status: u16,
    /// Response headers in order, names lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl GatewayStore {
    /// Opens the store at `url` (`sqlite:` or `postgres:`) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(Self {
            pool: crate::pool::open(url).await?,
        })
    }

    /// Takes the lease on payment `id` for `holder` until `now + ttl`; `false` while another
    /// holder's lease is unexpired. One statement, so two instances cannot both win.
    pub async fn try_hold(
        &self,
        id: &str,
        holder: &str,
        now: u64,
        ttl: u64,
    ) -> Result<bool, StoreError> {
        crate::lease::try_hold(&self.pool, id, holder, now, ttl).await
    }

    /// Gives back `holder`'s lease on `id` (a lease taken over after expiry is left alone).
    pub async fn release(&self, id: &str, holder: &str) -> Result<(), StoreError> {
        crate::lease::release(&self.pool, id, holder).await
    }

    /// The unexpired answer recorded under a payment-identifier.
    pub async fn answer(
        &self,
        payment_id: &str,
        now: u64,
    ) -> Result<Option<RecordedAnswer>, StoreError> {
        let row = sqlx::query(
            "SELECT fingerprint, status, headers, body FROM answers \
             WHERE payment_id = $1 AND expires_at > $2",
        )
        .bind(payment_id)
        .bind(i64_of(now))
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let corrupt = |w: &str| StoreError::Corrupt(payment_id.to_string(), w.to_string());
        let headers: String = r.try_get("headers")?;
        Ok(Some(RecordedAnswer {
            fingerprint: r.try_get("fingerprint")?,
            status: u16::try_from(r.try_get::<i64, _>("status")?).map_err(|_| corrupt("status"))?,
            headers: serde_json::from_str(&headers).map_err(|_| corrupt("headers"))?,
            body: r.try_get("body")?,
        }))
    }

    /// Removes and returns the unexpired answer recorded under `key`, so exactly one caller
    /// gets it; `None` when there is none or another caller took it first.
    pub async fn take_answer(
        &self,
        key: &str,
        now: u64,
    ) -> Result<Option<RecordedAnswer>, StoreError> {
        let Some(a) = self.answer(key, now).await? else {
            return Ok(None);
        };
        let gone = sqlx::query("DELETE FROM answers WHERE payment_id = $1")
            .bind(key)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok((gone == 1).then_some(a))
    }

    /// Records the answer to a paid call under its payment-identifier until `expires_at`; the
    /// first answer stays (a retry never replaces it). Expired answers are dropped on the way.
    pub async fn record_answer(
        &self,
        payment_id: &str,
        a: &RecordedAnswer,
        now: u64,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let headers = serde_json::to_string(&a.headers).expect("strings serialize");
        if headers.len() + a.body.len() > MAX_ANSWER_BYTES {
            return Err(StoreError::Corrupt(
                payment_id.to_string(),
                "answer too large to record".into(),
            ));
        }
        sqlx::query("DELETE FROM answers WHERE expires_at <= $1")
            .bind(i64_of(now))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO answers (payment_id, fingerprint, status, headers, body, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (payment_id) DO NOTHING",
        )
        .bind(payment_id)
        .bind(&a.fingerprint)
        .bind(i64::from(a.status))
        .bind(headers)
        .bind(a.body.clone())
        .bind(i64_of(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh SQLite store in its own temp directory.
    pub(crate) async fn store(name: &str) -> GatewayStore {
        let dir = tempfile::tempdir().unwrap().keep();
        let url = format!("sqlite://{}", dir.join(format!("{name}.db")).display());
        GatewayStore::connect(&url).await.unwrap()
    }

    #[tokio::test]
    async fn one_holder_until_release_or_expiry() {
        let s = store("leases").await;
        assert!(s.try_hold("p", "a", 100, 10).await.unwrap());
        assert!(!s.try_hold("p", "b", 105, 10).await.unwrap(), "held by a");
        assert!(
            s.try_hold("q", "b", 105, 10).await.unwrap(),
            "other payment"
        );
        s.release("p", "b").await.unwrap();
        assert!(
            !s.try_hold("p", "b", 105, 10).await.unwrap(),
            "b cannot free a's lease"
        );
        s.release("p", "a").await.unwrap();
        assert!(s.try_hold("p", "b", 105, 10).await.unwrap());
        assert!(
            s.try_hold("p", "c", 115, 10).await.unwrap(),
            "b's lease expired"
        );
        assert!(s.try_hold("p", "c", 120, 10).await.unwrap(), "c renews");
        assert!(
            !s.try_hold("p", "b", 124, 10).await.unwrap(),
            "renewed to 130"
        );
    }

    #[tokio::test]
    async fn first_answer_stays_until_expiry() {
        let s = store("answers").await;
        let a = RecordedAnswer {
            fingerprint: "eip155:1/0xt/0xp/0x1#ab".into(),
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{\"ok\":1}".to_vec(),
        };
        s.record_answer("pay_0123456789abcdef", &a, 100, 200)
            .await
            .unwrap();
        let other = RecordedAnswer {
            status: 500,
            ..a.clone()
        };
        s.record_answer("pay_0123456789abcdef", &other, 101, 200)
            .await
            .unwrap();
        assert_eq!(
            s.answer("pay_0123456789abcdef", 150).await.unwrap(),
            Some(a)
        );
        assert_eq!(s.answer("pay_0123456789abcdef", 200).await.unwrap(), None);
    }
}
