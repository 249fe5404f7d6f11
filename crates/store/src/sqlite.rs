//! The embedded SQLite backend.

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use crate::shared::impl_shared_store;
use crate::{Backend, Result, StoreError};

/// A store on one SQLite file (WAL mode, foreign keys on).
pub struct SqliteStore {
    pool: SqlitePool,
    queries: AtomicU64,
    /// The database file (none for an in-memory database).
    path: Option<std::path::PathBuf>,
}

impl SqliteStore {
    const MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
    /// Every transaction here reads before it writes: SQLite must take the write lock at the start
    /// (a deferred transaction's upgrade fails at once with SQLITE_BUSY when another writer got
    /// there first, whatever the busy timeout).
    pub(crate) const WRITE_BEGIN: &'static str = "BEGIN IMMEDIATE";
    /// Readiness does not write: SQLite has one writer, so a probe would wait out any long write
    /// transaction (and say "not ready" meanwhile); the free-space check finds a full disk instead.
    pub(crate) const PROBE_WRITES: bool = false;

    /// Opens (creating it if needed) the database file at `path`.
    pub async fn open_file(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Config(format!(
                    "cannot create data directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        Self::connect_with(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens the database named by a `sqlite:` URL.
    pub async fn connect_url(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad SQLite URL: {e}")))?;
        Self::connect_with(options).await
    }

    async fn connect_with(options: SqliteConnectOptions) -> Result<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let path = Some(options.get_filename().to_path_buf())
            .filter(|p| !p.as_os_str().is_empty() && p.as_os_str() != ":memory:");
        let pool = SqlitePoolOptions::new()
            .after_release(|conn, _| Box::pin(crate::pool::still_clean(conn)))
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(SqliteStore {
            pool,
            queries: AtomicU64::new(0),
            path,
        })
    }

    /// The file system holding the database must have room for a checkpoint's worth of pages:
    /// below that, writes are about to fail (or already do).
    fn check_disk(&self) -> Result<()> {
        const LOW: u64 = 4 * 1024 * 1024;
        let Some(dir) = self.path.as_ref().and_then(|p| p.parent()) else {
            return Ok(());
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        match rustix::fs::statvfs(dir) {
            Ok(st) => {
                let free = st.f_bavail.saturating_mul(st.f_frsize);
                if free < LOW {
                    return Err(StoreError::DiskFull(format!(
                        "{free} bytes free on the file system of {}",
                        dir.display()
                    )));
                }
                Ok(())
            }
            // Not knowing is not a reason to say "not ready": the write probe still runs.
            Err(_) => Ok(()),
        }
    }

    fn count(&self, n: u64) {
        self.queries.fetch_add(n, Ordering::Relaxed);
    }
}

impl_shared_store!(SqliteStore, Sqlite, Backend::Sqlite);
// SQLite has one writer at a time: the claiming UPDATE is atomic as it is.
crate::sync_sql::impl_sync_store!(SqliteStore, Sqlite, "", "BEGIN IMMEDIATE", "");
crate::sync_sql::impl_planned_syncs!(SqliteStore);
crate::budget_sql::impl_budget_store!(SqliteStore, "BEGIN IMMEDIATE");
crate::jobs::impl_job_store!(SqliteStore, "", "BEGIN IMMEDIATE");
