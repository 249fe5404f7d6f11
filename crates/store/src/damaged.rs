//! Records whose stored JSON cannot be read back: marked so that the next sync that reads them from
//! the ERP writes them anew (the change feed and the sync's look-ups find them).

use crate::error::{Result, StoreError};
use crate::pool::{Db, on_pool};

/// Clears the stored hash of a record found damaged: the next sync that reads it from the ERP finds
/// it changed and writes it anew (`$1` connection, `$2` model, `$3` remote id).
const MARK_DAMAGED: &str = "UPDATE records SET hash = '' \
    WHERE connection_id = $1 AND model = $2 AND remote_id = $3 AND hash <> ''";

/// Marks a record whose stored JSON cannot be read (`err`) to be written anew by the next sync that
/// reads it, and logs it the first time: whether this call found it (false: marked before).
pub(crate) async fn mark(
    db: &Db,
    connection_id: &str,
    model: &str,
    remote_id: &str,
    err: &StoreError,
) -> Result<bool> {
    db.count(1);
    let marked = on_pool!(db, pool => {
        sqlx::query(MARK_DAMAGED)
            .bind(connection_id)
            .bind(model)
            .bind(remote_id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    if marked > 0 {
        tracing::error!(
            remote_id, connection = connection_id, model, error = %err,
            "a stored record is damaged: marked to be written anew by the next sync"
        );
    }
    Ok(marked > 0)
}
