//! Store errors, with database errors classified once, here.

/// Result of a store call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (the message names it).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The worker no longer holds the job's lease (it expired and another took the job over).
    #[error("this worker no longer holds the sync's lease")]
    NotHeld,
    /// The database cannot be reached or is not accepting work right now (pool exhausted, server
    /// restarting or shutting down, connection lost, SQLite busy past its timeout): try again shortly.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The disk holding the database is full: writes fail until space is freed.
    #[error("the disk holding the database is full ({0})")]
    DiskFull(String),
    /// The store is misconfigured.
    #[error("store configuration: {0}")]
    Config(String),
    /// Stored data could not be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A record's stored copy is damaged (the message names it). Its stored hash was cleared, so the
    /// next sync that reads the record from the ERP writes it anew, at a new place in the feed.
    #[error("damaged record: {what}")]
    Damaged {
        /// The record (`record rec_… (model)`).
        what: String,
        /// This read found the damage (its hash was cleared now); false when an earlier read did and
        /// the repair is still to come.
        newly_found: bool,
    },
    /// Any other database failure; the driver's message is kept (it never holds bound values).
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the same call may succeed if tried again a little later (the database is restarting,
    /// unreachable, busy or out of disk), as opposed to a mistake that will not go away.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::DiskFull(_))
    }
}

/// SQLite's primary result codes that mean "not now" rather than "never": busy, locked, full, I/O.
const SQLITE_BUSY: &str = "5";
const SQLITE_LOCKED: &str = "6";
const SQLITE_FULL: &str = "13";

/// Postgres SQLSTATE classes/codes that mean the server is going away or not yet there.
fn postgres_unavailable(code: &str) -> bool {
    // 08: connection exception; 57P01 admin shutdown; 57P02 crash shutdown; 57P03 cannot connect
    // now (starting up); 53300 too many connections; 40001/40P01 serialization failure / deadlock
    // (retrying the whole call is the documented remedy).
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01"
        )
}

fn sqlite_primary(code: &str) -> Option<&str> {
    // Extended codes (e.g. 517 SQLITE_BUSY_SNAPSHOT) carry the primary code in their low byte.
    let n: u32 = code.parse().ok()?;
    Some(match n & 0xff {
        5 => SQLITE_BUSY,
        6 => SQLITE_LOCKED,
        13 => SQLITE_FULL,
        _ => return None,
    })
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.constraint().unwrap_or("unique").to_owned())
            }
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                let message = db.message().to_owned();
                if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    match sqlite_primary(&code) {
                        Some(SQLITE_FULL) => return StoreError::DiskFull(message),
                        Some(_) => return StoreError::Unavailable(message),
                        None => {}
                    }
                } else if code == "53100" {
                    return StoreError::DiskFull(message);
                } else if postgres_unavailable(&code) {
                    return StoreError::Unavailable(message);
                }
                StoreError::Database(err)
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                StoreError::Unavailable(err.to_string())
            }
            sqlx::Error::Io(e) if e.raw_os_error() == Some(28) => {
                StoreError::DiskFull(err.to_string())
            }
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => {
                StoreError::Unavailable(err.to_string())
            }
            sqlx::Error::Protocol(m) if m.contains("terminating connection") => {
                StoreError::Unavailable(err.to_string())
            }
            _ => StoreError::Database(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_sqlite_codes_reduce_to_their_primary_code() {
        assert_eq!(sqlite_primary("517"), Some(SQLITE_BUSY));
        assert_eq!(sqlite_primary("5"), Some(SQLITE_BUSY));
        assert_eq!(sqlite_primary("13"), Some(SQLITE_FULL));
        assert_eq!(sqlite_primary("19"), None);
        assert_eq!(sqlite_primary("23505"), None);
        assert!(postgres_unavailable("57P01"));
        assert!(postgres_unavailable("08006"));
        assert!(!postgres_unavailable("23505"));
    }
}
