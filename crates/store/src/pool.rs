//! What both backends' connection pools share.

use sqlx::Connection;

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
