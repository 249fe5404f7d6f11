//! Records whose stored JSON cannot be read back: marked so that the next sync that reads them from
//! the ERP writes them anew (the change feed and the sync's look-ups find them).

use sqlx::QueryBuilder;

use crate::error::{Result, StoreError};
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
