//! Records and the change feed: writing a sync's pages (records, skips) and reading the feed
//! ([`RecordStore`]), with their SQL and rows.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledgerlink_domain::OrgId;
use serde_json::Value;
use sqlx::QueryBuilder;
use sqlx::types::Json;

use crate::dialect::CHUNK;
use crate::error::{Result, StoreError};
use crate::pool::{Backed, on_pool};
use crate::sync_rows::SyncJob;

/// One mapped record to write.
#[derive(Debug, Clone)]
pub struct RecordIn {
    /// The ERP's id.
    pub remote_id: String,
    /// The unified record.
    pub data: Value,
    /// The ERP's payload.
    pub raw: Value,
    /// SHA-256 of `data`, hex.
    pub hash: String,
    /// The ERP's modification stamp.
    pub remote_modified_at: Option<DateTime<Utc>>,
}

/// A record of a page that could not be mapped: skipped, shown on the sync, re-read next time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkippedRecord {
    /// The ERP's id, when the record had a readable one.
    pub remote_id: Option<String>,
    /// Why it could not be mapped.
    pub reason: String,
}

/// One page to write: its records, what was skipped, and where the sync stands after it.
#[derive(Debug, Clone, Copy)]
pub struct PageWrite<'a> {
    /// Mapped records.
    pub records: &'a [RecordIn],
    /// Records that could not be mapped: remembered (with an id) for the next sync to re-read, and
    /// kept as they were in the feed (a full pass does not take them for deleted).
    pub skipped: &'a [SkippedRecord],
    /// Remote ids whose earlier skips are over (they mapped now, or the ERP no longer has them).
    pub forget_skips: &'a [String],
    /// The resume state saved with the page.
    pub pagination_state: &'a Value,
}

/// One record of the change feed.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordOut {
    /// Ours (`rec_…`).
    pub id: String,
    /// The ERP's id.
    pub remote_id: String,
    /// Position in the connection's change feed.
    pub seq: i64,
    /// The unified record (latest version).
    pub data: Value,
    /// The ERP's payload, when asked for.
    pub raw: Option<Value>,
    /// Deleted at the ERP.
    pub is_deleted: bool,
    /// When a completed full pass found it gone.
    pub remote_deleted_at: Option<DateTime<Utc>>,
    /// The ERP's modification stamp.
    pub remote_modified_at: Option<DateTime<Utc>>,
    /// When ledgerlink last changed it.
    pub modified_at: DateTime<Utc>,
}

/// What writing a page did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageOutcome {
    /// Records new or changed (each got a new position in the feed).
    pub written: u64,
    /// Records identical to what was stored (not rewritten).
    pub unchanged: u64,
    /// A cancel was requested: stop.
    pub cancel_requested: bool,
}

/// Filter of a change-feed read.
#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    /// Only records after this feed position.
    pub after_seq: i64,
    /// Page size.
    pub limit: u32,
    /// Only records the ERP modified after this.
    pub modified_after: Option<DateTime<Utc>>,
    /// Include deletions.
    pub include_deleted: bool,
    /// Include the ERP payload.
    pub include_raw: bool,
}

/// Records and their feed.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Writes a page of records and the resume state in one transaction, extending the lease.
    /// [`StoreError::NotHeld`] when `worker` no longer holds the lease.
    async fn save_sync_page(
        &self,
        job: &SyncJob,
        worker: &str,
        page: PageWrite<'_>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<PageOutcome>;
    /// The stored ERP payloads of some of a connection's records (by remote id; absent ones are left
    /// out). The connection is the caller's own sync's, so no organization is needed.
    async fn stored_raw(
        &self,
        connection_id: &str,
        model: &str,
        remote_ids: &[&str],
    ) -> Result<HashMap<String, Value>>;
    /// Remote ids of the model's records that earlier syncs skipped, oldest first. The connection is
    /// the caller's own sync's (from [`crate::SyncStore::claim_sync`]), so no organization is needed.
    async fn skipped_records(
        &self,
        connection_id: &str,
        model: &str,
        limit: u32,
    ) -> Result<Vec<String>>;
    /// Reads a connection's change feed for one model, in feed order.
    async fn list_records(
        &self,
        org: &OrgId,
        connection_id: &str,
        model: &str,
        q: &RecordQuery,
    ) -> Result<Vec<RecordOut>>;
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    id: String,
    remote_id: String,
    seq: i64,
    data: Json<Value>,
    raw: Json<Value>,
    is_deleted: bool,
    remote_deleted_at: Option<DateTime<Utc>>,
    remote_modified_at: Option<DateTime<Utc>>,
    modified_at: DateTime<Utc>,
}

impl RecordRow {
    fn into_out(self, include_raw: bool) -> RecordOut {
        RecordOut {
            id: self.id,
            remote_id: self.remote_id,
            seq: self.seq,
            data: self.data.0,
            raw: include_raw.then_some(self.raw.0),
            is_deleted: self.is_deleted,
            remote_deleted_at: self.remote_deleted_at,
            remote_modified_at: self.remote_modified_at,
            modified_at: self.modified_at,
        }
    }
}

/// Saves the resume state and extends the lease if `worker` still holds the sync: `$1` state,
/// `$2` lease end, `$3` now, `$4` sync, `$5` worker.
const SAVE_STATE: &str = "UPDATE syncs SET pagination_state = $1, locked_until = $2, \
    modified_at = $3 WHERE id = $4 AND locked_by = $5 AND status = 'running' \
    RETURNING cancel_requested";

/// Takes `$1` positions in the connection `$2`'s feed; returns the last one taken.
pub(crate) const TAKE_SEQS: &str = "UPDATE connections SET record_seq = record_seq + $1 \
    WHERE id = $2 RETURNING record_seq";

/// The columns a page's inserts bind, in order.
const INSERT_RECORDS: &str = "INSERT INTO records (id, connection_id, model, remote_id, seq, \
    data, raw, hash, is_deleted, remote_modified_at, seen_sync_id, modified_at) ";

/// A record seen again with other content takes the new content and a new feed position.
const ON_RECORD_CONFLICT: &str = " ON CONFLICT (connection_id, model, remote_id) DO UPDATE SET \
    seq = excluded.seq, data = excluded.data, raw = excluded.raw, \
    hash = excluded.hash, is_deleted = false, remote_deleted_at = NULL, \
    remote_modified_at = excluded.remote_modified_at, \
    seen_sync_id = excluded.seen_sync_id, modified_at = excluded.modified_at";

/// `$1` connection, `$2` model, `$3` remote id, `$4` reason, `$5` sync, `$6` now.
const REMEMBER_SKIP: &str = "INSERT INTO record_skips (connection_id, model, remote_id, reason, \
    sync_id, skipped_at) VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (connection_id, model, remote_id) \
    DO UPDATE SET reason = excluded.reason, sync_id = excluded.sync_id, \
    skipped_at = excluded.skipped_at";

/// Keeps a skipped record's stored version from being taken for deleted by this sync.
const SEEN_SKIPPED: &str = "UPDATE records SET seen_sync_id = $1 \
    WHERE connection_id = $2 AND model = $3 AND remote_id = $4";

const SKIPPED: &str = "SELECT remote_id FROM record_skips WHERE connection_id = $1 AND model = $2 \
    ORDER BY skipped_at, remote_id LIMIT $3";

/// A page of the feed as [`RecordRow`]s.
const FEED: &str = "SELECT r.id, r.remote_id, r.seq, r.data, r.raw, r.is_deleted, \
    r.remote_deleted_at, r.remote_modified_at, r.modified_at \
    FROM records r JOIN connections c ON c.id = r.connection_id \
    WHERE c.org_id = $1 AND r.connection_id = $2 AND r.model = $3 AND r.seq > $4 \
    AND ($5 OR NOT r.is_deleted) \
    AND ($6 IS NULL OR r.remote_modified_at > $6) \
    ORDER BY r.seq LIMIT $7";

/// A page's records that are new or changed (the last occurrence of an id wins), in page order,
/// and the ids of those unchanged; `stored` holds each stored id's hash and deletion flag.
fn split_page<'a>(
    records: &'a [RecordIn],
    latest: &HashMap<&'a str, &'a RecordIn>,
    stored: &HashMap<String, (String, bool)>,
) -> (Vec<&'a RecordIn>, Vec<&'a str>) {
    let mut changed: Vec<&RecordIn> = latest
        .values()
        .copied()
        .filter(|r| match stored.get(&r.remote_id) {
            Some((hash, deleted)) => *deleted || hash != &r.hash,
            None => true,
        })
        .collect();
    // Feed order follows the page's order.
    let order: HashMap<&str, usize> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.remote_id.as_str(), i))
        .collect();
    changed.sort_by_key(|r| order[r.remote_id.as_str()]);
    let changed_ids: HashSet<&str> = changed.iter().map(|c| c.remote_id.as_str()).collect();
    let unchanged = latest
        .keys()
        .copied()
        .filter(|id| !changed_ids.contains(id))
        .collect();
    (changed, unchanged)
}

/// Appends ` WHERE connection_id = … AND model = …{extra} AND remote_id IN (…)`: some of a
/// connection's records of one model, by remote id.
fn push_records_in<'a, DB>(
    q: &mut QueryBuilder<'a, DB>,
    connection_id: &'a str,
    model: &'a str,
    extra: &str,
    remote_ids: impl IntoIterator<Item = &'a str>,
) where
    DB: sqlx::Database,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push(" WHERE connection_id = ")
        .push_bind(connection_id)
        .push(" AND model = ")
        .push_bind(model)
        .push(extra)
        .push(" AND remote_id IN (");
    let mut list = q.separated(", ");
    for id in remote_ids {
        list.push_bind(id);
    }
    q.push(")");
}

#[async_trait]
impl<S: Backed> RecordStore for S {
    async fn save_sync_page(
        &self,
        job: &SyncJob,
        worker: &str,
        page: PageWrite<'_>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<PageOutcome> {
        let db = self.db();
        let records = page.records;
        db.count(4 + 3 * (records.len() / CHUNK + 1) as u64);
        // The last occurrence of an id in a page wins.
        let mut latest: HashMap<&str, &RecordIn> = HashMap::with_capacity(records.len());
        for r in records {
            latest.insert(r.remote_id.as_str(), r);
        }
        let ids: Vec<&str> = latest.keys().copied().collect();
        let (connection, model) = (job.connection_id.as_str(), job.model_name.as_str());
        on_pool!(db, pool, DB => {
            let mut tx = pool.begin_with(db.dialect.write_begin).await?;
            let cancel: Option<bool> = sqlx::query_scalar(SAVE_STATE)
                .bind(Json(page.pagination_state))
                .bind(lease_until)
                .bind(now)
                .bind(&job.sync.id)
                .bind(worker)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(cancel_requested) = cancel else {
                return Err(StoreError::NotHeld);
            };
            let mut stored: HashMap<String, (String, bool)> = HashMap::with_capacity(ids.len());
            for chunk in ids.chunks(CHUNK) {
                let mut q = QueryBuilder::<DB>::new("SELECT remote_id, hash, is_deleted FROM records");
                push_records_in(&mut q, connection, model, "", chunk.iter().copied());
                let rows: Vec<(String, String, bool)> =
                    q.build_query_as().fetch_all(&mut *tx).await?;
                for (id, hash, deleted) in rows {
                    stored.insert(id, (hash, deleted));
                }
            }
            let (changed, unchanged) = split_page(records, &latest, &stored);
            if !changed.is_empty() {
                let end: i64 = sqlx::query_scalar(TAKE_SEQS)
                    .bind(changed.len() as i64)
                    .bind(&job.connection_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let first = end - changed.len() as i64 + 1;
                for (n, chunk) in changed.chunks(CHUNK).enumerate() {
                    let mut q = QueryBuilder::<DB>::new(INSERT_RECORDS);
                    q.push_values(chunk.iter().enumerate(), |mut row, (i, r)| {
                        row.push_bind(ledgerlink_domain::new_id("rec"))
                            .push_bind(&job.connection_id)
                            .push_bind(&job.model_name)
                            .push_bind(&r.remote_id)
                            .push_bind(first + (n * CHUNK + i) as i64)
                            .push_bind(Json(&r.data))
                            .push_bind(Json(&r.raw))
                            .push_bind(&r.hash)
                            .push_bind(false)
                            .push_bind(r.remote_modified_at)
                            .push_bind(&job.sync.id)
                            .push_bind(now);
                    });
                    q.push(ON_RECORD_CONFLICT);
                    q.build().execute(&mut *tx).await?;
                }
            }
            for chunk in unchanged.chunks(CHUNK) {
                let mut q = QueryBuilder::<DB>::new("UPDATE records SET seen_sync_id = ");
                q.push_bind(job.sync.id.as_str());
                push_records_in(&mut q, connection, model, "", chunk.iter().copied());
                q.build().execute(&mut *tx).await?;
            }
            // Skips: forget those that are over, remember new ones (and keep the stored
            // versions of skipped records from being taken for deleted by this sync).
            if !page.forget_skips.is_empty() {
                db.count(1);
                let mut q = QueryBuilder::<DB>::new("DELETE FROM record_skips");
                let forget = page.forget_skips.iter().map(String::as_str);
                push_records_in(&mut q, connection, model, "", forget);
                q.build().execute(&mut *tx).await?;
            }
            for skip in page.skipped {
                let Some(remote_id) = skip.remote_id.as_deref() else {
                    continue;
                };
                db.count(2);
                sqlx::query(REMEMBER_SKIP)
                    .bind(&job.connection_id)
                    .bind(&job.model_name)
                    .bind(remote_id)
                    .bind(&skip.reason)
                    .bind(&job.sync.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(SEEN_SKIPPED)
                    .bind(&job.sync.id)
                    .bind(&job.connection_id)
                    .bind(&job.model_name)
                    .bind(remote_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(PageOutcome {
                written: changed.len() as u64,
                unchanged: unchanged.len() as u64,
                cancel_requested,
            })
        })
    }

    async fn stored_raw(
        &self,
        connection_id: &str,
        model: &str,
        remote_ids: &[&str],
    ) -> Result<HashMap<String, Value>> {
        let db = self.db();
        let mut out = HashMap::with_capacity(remote_ids.len());
        for chunk in remote_ids.chunks(CHUNK) {
            db.count(1);
            let rows: Vec<(String, Json<Value>)> = on_pool!(db, pool, DB => {
                let mut q = QueryBuilder::<DB>::new("SELECT remote_id, raw FROM records");
                let ids = chunk.iter().copied();
                push_records_in(&mut q, connection_id, model, " AND NOT is_deleted", ids);
                q.build_query_as().fetch_all(pool).await?
            });
            out.extend(rows.into_iter().map(|(id, raw)| (id, raw.0)));
        }
        Ok(out)
    }

    async fn skipped_records(
        &self,
        connection_id: &str,
        model: &str,
        limit: u32,
    ) -> Result<Vec<String>> {
        let db = self.db();
        db.count(1);
        Ok(on_pool!(db, pool => {
            sqlx::query_scalar(SKIPPED)
                .bind(connection_id)
                .bind(model)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        }))
    }

    async fn list_records(
        &self,
        org: &OrgId,
        connection_id: &str,
        model: &str,
        q: &RecordQuery,
    ) -> Result<Vec<RecordOut>> {
        let db = self.db();
        db.count(1);
        let rows: Vec<RecordRow> = on_pool!(db, pool => {
            sqlx::query_as(FEED)
                .bind(org.as_str())
                .bind(connection_id)
                .bind(model)
                .bind(q.after_seq)
                .bind(q.include_deleted)
                .bind(q.modified_after)
                .bind(i64::from(q.limit))
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| r.into_out(q.include_raw))
            .collect())
    }
}
