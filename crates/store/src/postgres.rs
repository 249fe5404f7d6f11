//! The Postgres backend, for scale-out deployments.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::shared::impl_shared_store;
use crate::{Backend, Result, StoreError};

/// A store on a Postgres database.
pub struct PgStore {
    pool: PgPool,
    queries: AtomicU64,
}

impl PgStore {
    const MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
    /// How write transactions start (Postgres locks rows as it reaches them).
    pub(crate) const WRITE_BEGIN: &'static str = "BEGIN";
    /// Readiness writes a row: a server that takes no writes (disk full, read-only) is not ready.
    pub(crate) const PROBE_WRITES: bool = true;

    /// Connects to the database named by a `postgres://` URL.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad Postgres URL: {e}")))?;
        Self::connect_with(options).await
    }

    /// Connects with explicit options (tests use this to pick a schema through `search_path`).
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self> {
        // Statements with many parameters (a page of record ids) must be planned with their values:
        // a generic plan cannot see that the ids hit the primary key and scans the whole table,
        // which made each page slower than the last as the records table grew.
        let options = options.options([("plan_cache_mode", "force_custom_plan")]);
        let pool = PgPoolOptions::new()
            .after_release(|conn, _| Box::pin(crate::pool::still_clean(conn)))
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(PgStore {
            pool,
            queries: AtomicU64::new(0),
        })
    }

    /// The database server watches its own disk.
    fn check_disk(&self) -> Result<()> {
        Ok(())
    }

    fn count(&self, n: u64) {
        self.queries.fetch_add(n, Ordering::Relaxed);
    }
}

impl_shared_store!(PgStore, Postgres, Backend::Postgres);
// Workers skip rows another worker is claiming instead of queueing behind its lock.
crate::sync_sql::impl_sync_store!(
    PgStore,
    Postgres,
    " FOR UPDATE SKIP LOCKED",
    "BEGIN",
    " FOR NO KEY UPDATE OF m SKIP LOCKED"
);
crate::sync_sql::impl_planned_syncs!(PgStore);
crate::budget_sql::impl_budget_store!(PgStore, "BEGIN");
crate::jobs::impl_job_store!(PgStore, " FOR UPDATE SKIP LOCKED", "BEGIN");
