//! What both backends share below the SQL: the [`Db`] every store method runs on (a pool of either
//! backend, its [`Dialect`] and a statement counter), the [`on_pool!`] and [`on_tx!`] dispatch that
//! lets a method body be written once for both backends, and the connection hygiene both pools
//! apply.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use sqlx::migrate::Migrator;
use sqlx::{Connection, PgPool, SqlitePool};

use crate::dialect::Dialect;
use crate::error::{Result, StoreError};
use crate::key_cache::KeyCache;

/// A connection pool of one backend or the other.
pub(crate) enum Pool {
    /// The embedded SQLite file.
    Sqlite(SqlitePool),
    /// A Postgres server.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool (and, in the second form, `$DB` naming its
/// `sqlx` database type, for query builders): the body is written once and compiled for each
/// backend. With [`on_tx!`], the store's only macros; they hold no SQL.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match &$db.pool {
            $crate::pool::Pool::Sqlite($pool) => $body,
            $crate::pool::Pool::Postgres($pool) => $body,
        }
    };
    ($db:expr, $pool:ident, $DB:ident => $body:expr) => {
        match &$db.pool {
            $crate::pool::Pool::Sqlite($pool) => {
                type $DB = sqlx::Sqlite;
                $body
            }
            $crate::pool::Pool::Postgres($pool) => {
                type $DB = sqlx::Postgres;
                $body
            }
        }
    };
}

pub(crate) use on_pool;

/// A write transaction on one backend or the other (begun with the dialect's `write_begin`;
/// rolled back when dropped uncommitted), for work split over several functions.
pub(crate) enum Tx {
    /// On the embedded SQLite file.
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    /// On a Postgres server.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// [`on_pool!`] for a [`Tx`]: runs `$body` with `$conn` bound to the transaction's connection
/// (`&mut *$conn` is an executor) and, in the second form, `$DB` naming its `sqlx` database type.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::pool::Tx::Sqlite(t) => {
                let $conn: &mut sqlx::SqliteConnection = &mut **t;
                $body
            }
            $crate::pool::Tx::Postgres(t) => {
                let $conn: &mut sqlx::PgConnection = &mut **t;
                $body
            }
        }
    };
    ($tx:expr, $conn:ident, $DB:ident => $body:expr) => {
        match $tx {
            $crate::pool::Tx::Sqlite(t) => {
                type $DB = sqlx::Sqlite;
                let $conn: &mut sqlx::SqliteConnection = &mut **t;
                $body
            }
            $crate::pool::Tx::Postgres(t) => {
                type $DB = sqlx::Postgres;
                let $conn: &mut sqlx::PgConnection = &mut **t;
                $body
            }
        }
    };
}

pub(crate) use on_tx;

impl Tx {
    /// Makes the transaction's writes durable.
    pub(crate) async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// A database the store methods run on: its pool, its dialect and what readiness checks.
// `pub` in this private module: nameable by the crate only, yet allowed in the bound of the public
// trait impls ([`Backed`]).
pub struct Db {
    pub(crate) pool: Pool,
    pub(crate) dialect: &'static Dialect,
    queries: AtomicU64,
    migrator: &'static Migrator,
    /// The SQLite database file whose file system readiness watches (none for a server, or an
    /// in-memory database).
    file: Option<PathBuf>,
    /// Recent API key lookups.
    pub(crate) keys: KeyCache,
    /// Records this process wrote since it last had Postgres analyze `records` (see
    /// [`Db::records_written`]).
    written_since_analyze: std::sync::Arc<AtomicU64>,
    /// How many bits of a record's key are used: 64, or fewer in tests (see
    /// [`crate::RecordStore::narrow_record_keys`]).
    key_bits: AtomicU32,
}

/// After this many records written by a process, Postgres re-reads the statistics of `records`.
const ANALYZE_EVERY: u64 = 50_000;

/// A store that runs on a [`Db`]: every store trait is implemented once for all of them. Sealed
/// (public in a private module): only [`crate::SqliteStore`] and [`crate::PgStore`] are.
pub trait Backed: Send + Sync + 'static {
    /// The database.
    fn db(&self) -> &Db;
}

impl Db {
    pub(crate) fn new(
        pool: Pool,
        dialect: &'static Dialect,
        migrator: &'static Migrator,
        file: Option<PathBuf>,
    ) -> Self {
        // Next to the database file, where every process that opens it looks.
        let marker = file.as_ref().map(|f| {
            let mut name = f.clone().into_os_string();
            name.push("-revocations");
            PathBuf::from(name)
        });
        Db {
            pool,
            dialect,
            queries: AtomicU64::new(0),
            migrator,
            file,
            keys: KeyCache::new(marker),
            written_since_analyze: std::sync::Arc::new(AtomicU64::new(0)),
            key_bits: AtomicU32::new(64),
        }
    }

    /// `n` records were written. On Postgres, every [`ANALYZE_EVERY`] of them the planner's statistics
    /// of `records` are refreshed in the background: a first sync fills the table faster than
    /// autovacuum (when it is on at all) re-analyzes it, and with statistics of an empty table the
    /// page writer's look-up of 1,000 ids by their index was planned as a scan of every record of the
    /// model — 1 s per page at 1,000,000 invoices instead of 20 ms (BENCHMARKS.md, issue #12).
    pub(crate) fn records_written(&self, n: u64) {
        let Pool::Postgres(pool) = &self.pool else {
            return;
        };
        let before = self.written_since_analyze.fetch_add(n, Ordering::Relaxed);
        if before >= ANALYZE_EVERY || before + n < ANALYZE_EVERY {
            return;
        }
        let (pool, counter) = (pool.clone(), self.written_since_analyze.clone());
        tokio::spawn(async move {
            if let Err(e) = sqlx::query("ANALYZE records").execute(&pool).await {
                tracing::warn!(error = %e, "could not refresh the statistics of records");
            }
            counter.store(0, Ordering::Relaxed);
        });
    }

    /// How many bits of records' keys are used (64 except in tests; see `record_keys`).
    pub(crate) fn record_key_bits(&self) -> u32 {
        self.key_bits.load(Ordering::Relaxed)
    }

    /// Narrows records' keys to `bits` (tests only: see [`crate::RecordStore::narrow_record_keys`]).
    pub(crate) fn narrow_record_keys(&self, bits: u32) {
        self.key_bits.store(bits.clamp(1, 64), Ordering::Relaxed);
    }

    /// Counts `n` statements about to run.
    pub(crate) fn count(&self, n: u64) {
        self.queries.fetch_add(n, Ordering::Relaxed);
    }

    /// Statements counted so far.
    pub(crate) fn queries_executed(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Starts a transaction that reads before it writes (see [`Dialect::write_begin`]).
    pub(crate) async fn begin_write(&self) -> Result<Tx> {
        let begin = self.dialect.write_begin;
        Ok(match &self.pool {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin_with(begin).await?),
            Pool::Postgres(pool) => Tx::Postgres(pool.begin_with(begin).await?),
        })
    }

    /// Applies pending migrations.
    pub(crate) async fn migrate(&self) -> Result<()> {
        self.count(1);
        on_pool!(self, pool => self.migrator.run(pool).await?);
        Ok(())
    }

    /// Every migration is applied and the database takes writes.
    pub(crate) async fn ready(&self) -> Result<()> {
        self.count(1);
        let sql = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success";
        let applied: i64 = on_pool!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await?);
        let expected = self.migrator.iter().count() as i64;
        if applied < expected {
            return Err(StoreError::Unavailable(format!(
                "{applied} of {expected} migrations applied"
            )));
        }
        // Reads still work on a full disk: only free space and a write tell.
        if let Some(file) = &self.file {
            check_disk(file)?;
        }
        if self.dialect.probe_writes {
            self.count(1);
            let sql = "UPDATE ready_probe SET checked_at = $1 WHERE id = 1";
            let now = chrono::Utc::now();
            on_pool!(self, pool => {
                sqlx::query(sql).bind(now).execute(pool).await?;
            });
        }
        Ok(())
    }
}

/// The file system holding a database file must have room for a checkpoint's worth of pages:
/// below that, writes are about to fail (or already do). (A database server watches its own disk.)
fn check_disk(file: &Path) -> Result<()> {
    const LOW: u64 = 4 * 1024 * 1024;
    let Some(dir) = file.parent() else {
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

/// Decides whether a connection going back to the pool may be reused: only when it is outside any
/// transaction. A transaction the database ended by itself (SQLite rolls back on "disk full"; a
/// Postgres connection can be terminated) makes the driver's own ROLLBACK fail, and the driver then
/// still counts the connection as inside a transaction: reused, its next `BEGIN` would become a
/// SAVEPOINT that opens a real transaction nobody commits — acknowledged writes that are never
/// durable, and on SQLite a write lock held until restart. Such a connection is closed instead
/// (the pool opens a fresh one).
pub(crate) async fn still_clean<C: Connection>(conn: &mut C) -> Result<bool, sqlx::Error> {
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    // A dropped transaction's ROLLBACK may still be queued: let it run, then look again.
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!("closing a database connection left inside a transaction");
        return Ok(false);
    }
    Ok(true)
}
