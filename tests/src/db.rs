//! Test ledgers: a SQLite file in a temp dir, or a fresh database on the local PostgreSQL.

/// Which ledger backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A ledger location that lives as long as the test.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Creates an empty ledger; `None` (after saying so) when PostgreSQL is not configured.
    pub async fn create(kind: Db) -> Option<Self> {
        match kind {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
                Some(Self {
                    url,
                    _dir: Some(dir),
                })
            }
            Db::Postgres => {
                let Ok(base) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
                    eprintln!(
                        "skipped: TOLLGATE_TEST_DATABASE_URL is not set, so the PostgreSQL variant does not run"
                    );
                    return None;
                };
                Some(Self {
                    url: fresh_pg_database(&base).await,
                    _dir: None,
                })
            }
        }
    }
}

async fn fresh_pg_database(base: &str) -> String {
    use sqlx::Connection;
    let name = format!(
        "tollgate_test_{}",
        alloy::primitives::B256::random().to_string()[2..18].to_owned()
    );
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .expect("PostgreSQL at TOLLGATE_TEST_DATABASE_URL answers");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = reqwest::Url::parse(base).expect("database url");
    url.set_path(&format!("/{name}"));
    url.to_string()
}
