//! Where SQLite and Postgres differ in the SQL: a [`Dialect`] per backend, with named clauses.
//! Everything else (`$n` parameters, `RETURNING`, `ON CONFLICT`, `CAST`) both accept as written.

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A Postgres server.
    Postgres,
}

/// The few clauses and choices that differ between the backends.
#[derive(Debug)]
pub(crate) struct Dialect {
    /// Which backend this is.
    pub backend: Backend,
    /// Starts a transaction that reads before it writes. SQLite must take the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction's upgrade fails at once with SQLITE_BUSY when
    /// another writer got there first, whatever the busy timeout. Postgres locks rows as it
    /// reaches them, so a plain `BEGIN` does.
    pub write_begin: &'static str,
    /// Appended to a claim's inner `SELECT`: of the next runnable sync or job, and of the
    /// connections due a health check. Postgres workers skip rows another worker is claiming
    /// instead of queueing behind its lock; SQLite has one writer at a time, so the claiming
    /// `UPDATE` is atomic as it is (and it has no row locks to name).
    pub claim_lock: &'static str,
    /// Appended to the scheduler's `SELECT` of due models (`m` the models): concurrent schedulers
    /// on Postgres each take models the others do not hold; SQLite's single writer serializes them.
    pub schedule_lock: &'static str,
    /// Appended to a `SELECT` of rows an `UPDATE` then changes in non-key columns only (the
    /// connections due a health check): Postgres takes them without blocking the foreign-key checks
    /// of concurrent inserts that reference them, and skips those another process holds.
    pub row_lock: &'static str,
    /// Readiness writes a row. On Postgres a server that takes no writes (disk full, read-only) is
    /// not ready. SQLite has one writer, so a probe would wait out any long write transaction (and
    /// say "not ready" meanwhile); the free-space check finds a full disk instead.
    pub probe_writes: bool,
}

/// The embedded SQLite file.
pub(crate) const SQLITE: Dialect = Dialect {
    backend: Backend::Sqlite,
    write_begin: "BEGIN IMMEDIATE",
    claim_lock: "",
    schedule_lock: "",
    row_lock: "",
    probe_writes: false,
};

/// A Postgres server.
pub(crate) const POSTGRES: Dialect = Dialect {
    backend: Backend::Postgres,
    write_begin: "BEGIN",
    claim_lock: " FOR UPDATE SKIP LOCKED",
    schedule_lock: " FOR NO KEY UPDATE OF m SKIP LOCKED",
    row_lock: " FOR NO KEY UPDATE SKIP LOCKED",
    probe_writes: true,
};

/// Most rows in one multi-row statement, on both backends (SQLite allows 32,766 bound values).
pub(crate) const CHUNK: usize = 1_000;

/// Whether a statement whose text grows with its rows (a multi-row `VALUES`, an `IN` list) stays
/// prepared in the connection's statement cache: at the full [`CHUNK`], the large size that
/// recurs, and at the few smallest sizes (cheap to keep, and what small syncs repeat). Any other
/// size is prepared for its one use. sqlx keeps up to 100 statements per connection, and on SQLite
/// a statement of ~900 rows of thirteen columns holds ~1 MB (its program and parameter slots; 50
/// of them took 51 MB in a Python `sqlite3` check): kept at every size that incremental syncs of
/// varying sizes write, a long-running service's connections would each come to hold tens of MB.
pub(crate) fn keep_prepared(rows: usize) -> bool {
    rows <= 16 || rows == CHUNK
}
