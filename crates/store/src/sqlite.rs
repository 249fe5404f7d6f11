//! The embedded SQLite backend: opening the file and its migrations. The SQL is in the resource
//! modules; what SQLite does differently is in [`crate::dialect::SQLITE`].

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::dialect::SQLITE;
use crate::error::{Result, StoreError};
use crate::pool::{Backed, Db, Pool};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// A store on one SQLite file (WAL mode, foreign keys on).
pub struct SqliteStore {
    db: Db,
}

impl SqliteStore {
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
            // A new database gets 16 KiB pages: an invoice with its lines (~2.5 KB packed) left
            // a third of each 4 KiB page empty. An existing file keeps its page size.
            .page_size(16 * 1024)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let file = Some(options.get_filename().to_path_buf())
            .filter(|p| !p.as_os_str().is_empty() && p.as_os_str() != ":memory:");
        let pool = SqlitePoolOptions::new()
            .after_release(|conn, _| Box::pin(crate::pool::still_clean(conn)))
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(SqliteStore {
            db: Db::new(Pool::Sqlite(pool), &SQLITE, &MIGRATOR, file),
        })
    }
}

impl Backed for SqliteStore {
    fn db(&self) -> &Db {
        &self.db
    }
}
