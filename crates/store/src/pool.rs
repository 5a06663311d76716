//! One way to open the store, shared by the ledger and the receipt store: SQLite (WAL, full
//! sync) or PostgreSQL, with every migration applied.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

use crate::StoreError;

/// Opens (creating if needed) the store at `url` and applies its migrations.
pub(crate) async fn open(url: &str) -> Result<AnyPool, StoreError> {
    install_default_drivers();
    let is_sqlite = url.starts_with("sqlite:");
    if !is_sqlite && !url.starts_with("postgres:") && !url.starts_with("postgresql:") {
        return Err(StoreError::Scheme);
    }
    let url = if is_sqlite && !url.contains("mode=") {
        format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
    } else {
        url.to_string()
    };
    let pool = AnyPoolOptions::new()
        .max_connections(if is_sqlite { 4 } else { 16 })
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if is_sqlite {
                    // WAL lets readers run beside the writer; FULL sync keeps money rows
                    // across power loss, not only across a process crash.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                }
                Ok(())
            })
        })
        .connect(&url)
        .await?;
    if is_sqlite {
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
    } else {
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    }
    Ok(pool)
}
