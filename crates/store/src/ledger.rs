use std::str::FromStr;

use sqlx::{AnyPool, Row};

/// A ledger failure; the facilitator answers these as internal errors, never as payment outcomes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported DATABASE_URL scheme (want sqlite: or postgres:)")]
    Scheme,
    #[error("corrupt row {0}: {1}")]
    Corrupt(String, String),
}

/// Where a settlement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementState {
    /// The transaction is signed and recorded; it may be on chain. Reconciled by hash.
    Signed,
    /// Mined and successful.
    Settled,
    /// Mined and reverted, or abandoned with a reason.
    Failed,
}

impl SettlementState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Signed => "signed",
            Self::Settled => "settled",
            Self::Failed => "failed",
        }
    }
}

impl FromStr for SettlementState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "signed" => Self::Signed,
            "settled" => Self::Settled,
            "failed" => Self::Failed,
            other => return Err(format!("unknown state {other:?}")),
        })
    }
}

/// What a settler intends to pay, recorded before anything is broadcast.
#[derive(Debug, Clone)]
pub struct Intent {
    /// The payment's identity, e.g. `eip155:8453/<asset>/<payer>/<nonce>`.
    pub id: String,
    pub network: String,
    pub scheme: String,
    pub payer: String,
    pub amount: String,
    /// A digest of the whole payment (payload and requirements), so another payment reusing
    /// this identity is told apart from a retry of this one; `None` where it is not known.
    pub payment_digest: Option<String>,
}

/// A ledger row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementRecord {
    pub id: String,
    pub network: String,
    pub scheme: String,
    pub payer: String,
    pub amount: String,
    pub state: SettlementState,
    pub tx_hash: Option<String>,
    /// The signed transaction, kept so a crash after signing can rebroadcast the very same bytes.
    pub raw_tx: Option<Vec<u8>>,
    pub error_reason: Option<String>,
    /// What the claim recorded of the payment it settles (see [`Intent::payment_digest`]);
    /// `None` in rows written before it was recorded.
    pub payment_digest: Option<String>,
    pub created_at: i64,
    /// When the row last changed, e.g. when its transaction was last replaced.
    pub updated_at: i64,
}

/// The outcome of trying to claim a payment for settlement.
#[derive(Debug, Clone)]
pub enum Claim {
    /// This caller owns the settlement and must carry it through.
    Won,
    /// Someone already claimed it; here is what they recorded.
    Exists(Box<SettlementRecord>),
}

/// The settlement ledger over SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub(crate) pool: AnyPool,
}

pub(crate) use tollgate_proto::clock::unix_now_i64 as now;

/// The columns every read returns, in `decode`'s terms.
macro_rules! columns {
    () => {
        "id, network, scheme, payer, amount, state, tx_hash, raw_tx, error_reason, \
         payment_digest, created_at, updated_at"
    };
}

impl Ledger {
    /// Opens (creating if needed) the store at `url` and applies its migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(Self {
            pool: crate::pool::open(url).await?,
        })
    }

    /// Claims a payment and records its signed transaction in one write, before broadcast;
    /// exactly one concurrent caller wins, across instances.
    pub async fn claim_signed(
        &self,
        intent: &Intent,
        tx_hash: &str,
        raw_tx: &[u8],
    ) -> Result<Claim, StoreError> {
        self.claim(intent, SettlementState::Signed, Some((tx_hash, raw_tx)))
            .await
    }

    /// Claims `intent` as settled with nothing sent (an `upto` charge of 0): the payment is
    /// spent, and a repeat finds it like any other.
    pub async fn claim_free(&self, intent: &Intent) -> Result<Claim, StoreError> {
        self.claim(intent, SettlementState::Settled, None).await
    }

    /// Inserts `intent` in `state` with its transaction, unless its identity is in already.
    async fn claim(
        &self,
        intent: &Intent,
        state: SettlementState,
        tx: Option<(&str, &[u8])>,
    ) -> Result<Claim, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO settlements \
             (id, network, scheme, payer, amount, state, tx_hash, raw_tx, payment_digest, \
              created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&intent.id)
        .bind(&intent.network)
        .bind(&intent.scheme)
        .bind(&intent.payer)
        .bind(&intent.amount)
        .bind(state.as_str())
        .bind(tx.map(|(hash, _)| hash))
        .bind(tx.map(|(_, raw)| raw.to_vec()))
        .bind(&intent.payment_digest)
        .bind(now())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Claim::Won);
        }
        match self.get(&intent.id).await? {
            Some(rec) => Ok(Claim::Exists(Box::new(rec))),
            // Discarded between our insert and read: its broadcast was refused; try again.
            None => Box::pin(self.claim(intent, state, tx)).await,
        }
    }

    /// Records the final result of a broadcast transaction.
    pub async fn record_outcome(
        &self,
        id: &str,
        success: bool,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        self.record(id, None, success, reason).await
    }

    /// Records a result, and which transaction got it when one is named.
    pub(crate) async fn record(
        &self,
        id: &str,
        tx_hash: Option<&str>,
        success: bool,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let state = if success {
            SettlementState::Settled
        } else {
            SettlementState::Failed
        };
        sqlx::query(
            "UPDATE settlements SET state = $2, error_reason = $3, updated_at = $4, \
             tx_hash = COALESCE($5, tx_hash) WHERE id = $1",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(reason.map(str::to_string))
        .bind(now())
        .bind(tx_hash.map(str::to_string))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Drops a settlement whose signed transaction the node refused outright, so it never
    /// landed and the payer's authorization can be used again.
    pub async fn discard_refused(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM settlements WHERE id = $1 AND state = 'signed'")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One settlement by identity.
    pub async fn get(&self, id: &str) -> Result<Option<SettlementRecord>, StoreError> {
        let sql = concat!("SELECT ", columns!(), " FROM settlements WHERE id = $1");
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| decode(&r)).transpose()
    }

    /// Settlements that were signed but have no recorded result yet, oldest first.
    pub async fn unfinished(&self) -> Result<Vec<SettlementRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM settlements WHERE state = 'signed' ORDER BY created_at"
        );
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(decode).collect()
    }

    /// How many settlements await a result.
    pub async fn pending_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM settlements WHERE state = 'signed'")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Takes or renews the lease `name` for `holder` until `now + ttl` (unix seconds); `false`
    /// while another holder's lease is unexpired. For work one instance at a time must do.
    pub async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        now: u64,
        ttl: u64,
    ) -> Result<bool, StoreError> {
        crate::lease::try_hold(&self.pool, name, holder, now, ttl).await
    }

    /// Gives back `holder`'s lease `name`, so another instance need not wait for it to expire.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        crate::lease::release(&self.pool, name, holder).await
    }

    /// Checks that the store answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

fn decode(r: &sqlx::any::AnyRow) -> Result<SettlementRecord, StoreError> {
    let id: String = r.try_get("id")?;
    let state: String = r.try_get("state")?;
    let state = state
        .parse()
        .map_err(|e| StoreError::Corrupt(id.clone(), e))?;
    Ok(SettlementRecord {
        network: r.try_get("network")?,
        scheme: r.try_get("scheme")?,
        payer: r.try_get("payer")?,
        amount: r.try_get("amount")?,
        state,
        tx_hash: r.try_get("tx_hash")?,
        raw_tx: r.try_get("raw_tx")?,
        error_reason: r.try_get("error_reason")?,
        payment_digest: r.try_get("payment_digest")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        id,
    })
}
