//! How a record is found by its identity (connection, model, remote id). Most records have a key
//! (`rkey`, unique): the first 8 bytes of the SHA-256 of the identity. ERP ids are random GUIDs, so a
//! new record lands on a random leaf of whatever index finds it; an index of 8-byte keys stays
//! small enough for those writes to stay cheap at millions of records, where one of the identity's
//! text (~85 bytes an entry) made each write rewrite thousands of index pages (migration 0014).
//!
//! A record whose key another record already holds (two identities with one key: never seen, but
//! possible), and every record stored before keys existed, has no key (`rkey` NULL) and is found by
//! its identity through the partial index `records_unkeyed`. So a record's row is at its own key or
//! unkeyed, never anywhere else, and every look-up by identity asks both [`Path`]s.

use sha2::{Digest, Sha256};
use sqlx::QueryBuilder;

use crate::dialect::Backend;
use crate::pool::Db;

/// The key of a record's identity, narrowed to `bits` (64 except in tests, which narrow it to make
/// keys collide).
pub(crate) fn record_key(bits: u32, connection_id: &str, model: &str, remote_id: &str) -> i64 {
    let mut h = Sha256::new();
    for part in [connection_id, model] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(remote_id.as_bytes());
    let digest = h.finalize();
    let mut first = [0; 8];
    first.copy_from_slice(&digest[..8]);
    let key = u64::from_be_bytes(first);
    (if bits >= 64 { key } else { key >> (64 - bits) }) as i64
}

/// The key of a record's identity in this database.
pub(crate) fn key_of(db: &Db, connection_id: &str, model: &str, remote_id: &str) -> i64 {
    record_key(db.record_key_bits(), connection_id, model, remote_id)
}

/// One of the two ways to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// By key (`records_key`).
    Keyed,
    /// By identity, among the records without a key (`records_unkeyed`).
    Unkeyed,
}

impl Path {
    /// Both, keyed first.
    pub(crate) const BOTH: [Path; 2] = [Path::Keyed, Path::Unkeyed];

    /// To follow `records` in a statement (`FROM records`, `UPDATE records`): on SQLite, the index
    /// to take. Its planner, without statistics, takes `rkey IS NULL` on the unique `records_key` for
    /// a single row, and would walk every unkeyed record (all of them, in a database from before
    /// keys) for each look-up; Postgres plans from its statistics.
    pub(crate) fn index(self, db: &Db) -> &'static str {
        match (db.dialect.backend, self) {
            (Backend::Postgres, _) => "",
            (Backend::Sqlite, Path::Keyed) => " INDEXED BY records_key",
            (Backend::Sqlite, Path::Unkeyed) => " INDEXED BY records_unkeyed",
        }
    }

    /// Appends ` WHERE …{extra} …` selecting, along this path, those of the connection's records of
    /// one model that have these remote ids. A keyed look-up that is not `exact` selects whatever
    /// records hold their keys (another record only in a collision): a `SELECT` whose caller keeps
    /// the ids it asked for, spared a second list to match (it cost SQLite CPU and memory).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_where<'a, DB>(
        self,
        q: &mut QueryBuilder<'a, DB>,
        db: &Db,
        connection_id: &'a str,
        model: &'a str,
        extra: &str,
        remote_ids: &[&'a str],
        exact: bool,
    ) where
        DB: sqlx::Database,
        &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    {
        q.push(match self {
            Path::Keyed => " WHERE connection_id = ",
            Path::Unkeyed => " WHERE rkey IS NULL AND connection_id = ",
        })
        .push_bind(connection_id)
        .push(" AND model = ")
        .push_bind(model)
        .push(extra);
        if self == Path::Keyed {
            q.push(" AND rkey IN (");
            let mut keys = q.separated(", ");
            for id in remote_ids {
                keys.push_bind(key_of(db, connection_id, model, id));
            }
            q.push(")");
            if !exact {
                return;
            }
        }
        q.push(" AND remote_id IN (");
        let mut ids = q.separated(", ");
        for id in remote_ids {
            ids.push_bind(*id);
        }
        q.push(")");
    }
}

#[cfg(test)]
mod tests {
    use super::record_key;

    #[test]
    fn keys_are_the_first_bytes_of_the_identitys_sha256_and_narrow_from_the_top() {
        // Stored keys outlive this code: the form is fixed. SHA-256 of "c\0invoices\0r" begins
        // 92abe67e6f993734 (`printf 'c\0invoices\0r' | sha256sum`), read as a big-endian i64.
        let full = record_key(64, "c", "invoices", "r");
        assert_eq!(full, 0x92ab_e67e_6f99_3734_u64 as i64);
        assert_eq!(full, -7877949692441970892);
        assert_ne!(full, record_key(64, "c", "invoice", "sr"));
        assert_ne!(full, record_key(64, "c", "invoices", "R"));
        assert_eq!(
            record_key(4, "c", "invoices", "r"),
            (full as u64 >> 60) as i64
        );
        assert!((0..16).contains(&record_key(4, "c", "invoices", "r")));
    }
}
