//! Records whose stored JSON cannot be read back: marked so that the next sync that reads them from
//! the ERP writes them anew (the change feed and the sync's look-ups find them); deleted ones, which
//! no sync will read again, served without their content.

use sqlx::QueryBuilder;

use crate::error::{Result, StoreError};
use crate::packed::{Column, pack};
use crate::pool::{Db, on_pool};
use crate::record_keys::Path;

/// Marks a record whose stored JSON cannot be read (`err`) to be written anew by the next sync that
/// reads it, and logs it the first time: whether this call found it (false: marked before).
pub(crate) async fn mark(
    db: &Db,
    connection_id: &str,
    model: &str,
    remote_id: &str,
    err: &StoreError,
) -> Result<bool> {
    let mut marked = 0;
    for path in Path::BOTH {
        db.count(1);
        // Its stored hash cleared: the next sync that reads it from the ERP finds it changed and
        // writes it anew.
        marked += on_pool!(db, pool, DB => {
            let mut q = QueryBuilder::<DB>::new("UPDATE records");
            q.push(path.index(db)).push(" SET hash = ''");
            let ids = [remote_id];
            path.push_where(&mut q, db, connection_id, model, " AND hash <> ''", &ids, true);
            q.build().execute(pool).await?.rows_affected()
        });
    }
    if marked > 0 {
        tracing::error!(
            remote_id, connection = connection_id, model, error = %err,
            "a stored record is damaged: marked to be written anew by the next sync"
        );
    }
    Ok(marked > 0)
}

/// What a deleted record's unreadable `data` becomes (see [`bury`]).
pub(crate) const GONE_DATA: &str = "{}";
/// What a deleted record's unreadable `raw` becomes (see [`bury`]).
pub(crate) const GONE_RAW: &str = "null";

/// A deleted record (feed position `seq`) whose stored JSON cannot be read (`err`; `data`, `raw`:
/// which columns). Nothing will write it anew (the ERP no longer has it), and answering the damage
/// would stop every client reading deletions at that position for good: the unreadable columns
/// are replaced by [`GONE_DATA`] and [`GONE_RAW`], and the deletion is served with them. Its hash is
/// cleared, so the record is written anew if the ERP ever sends it again.
pub(crate) async fn bury(
    db: &Db,
    record_id: &str,
    seq: i64,
    (data, raw): (bool, bool),
    err: &StoreError,
) -> Result<()> {
    db.count(1);
    let buried = on_pool!(db, pool, DB => {
        let mut q = QueryBuilder::<DB>::new("UPDATE records SET hash = ''");
        if data {
            q.push(", data = ").push_bind(pack(GONE_DATA, Column::Data));
        }
        if raw {
            q.push(", raw = ").push_bind(pack(GONE_RAW, Column::Raw));
        }
        // Only the version read: a sync may have written the record anew since.
        q.push(" WHERE id = ").push_bind(record_id);
        q.push(" AND seq = ").push_bind(seq).push(" AND is_deleted");
        q.build().execute(pool).await?.rows_affected()
    });
    if buried > 0 {
        tracing::error!(
            record = record_id, error = %err,
            "a deleted record's stored copy is damaged: its deletion is served without its content"
        );
    }
    Ok(())
}
