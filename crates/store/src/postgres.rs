//! The Postgres backend, for scale-out deployments: connecting and its migrations. The SQL is in
//! the resource modules; what Postgres does differently is in [`crate::dialect::POSTGRES`].

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::dialect::POSTGRES;
use crate::error::{Result, StoreError};
use crate::pool::{Backed, Db, Pool};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// A store on a Postgres database.
pub struct PgStore {
    db: Db,
}

impl PgStore {
    /// Connects to the database named by a `postgres://` URL.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad Postgres URL: {e}")))?;
        Self::connect_with(options).await
    }

    /// Connects with explicit options (tests use this to pick a schema through `search_path`).
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self> {
        // Statements with many parameters (a page of record ids) must be planned with their values:
        // a generic plan cannot see that the ids are found through an index, and scans the whole
        // table, which made each page slower than the last as the records table grew.
        let options = options.options([("plan_cache_mode", "force_custom_plan")]);
        let pool = PgPoolOptions::new()
            .after_release(|conn, _| Box::pin(crate::pool::still_clean(conn)))
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(PgStore {
            db: Db::new(Pool::Postgres(pool), &POSTGRES, &MIGRATOR, None),
        })
    }
}

impl Backed for PgStore {
    fn db(&self) -> &Db {
        &self.db
    }
}
