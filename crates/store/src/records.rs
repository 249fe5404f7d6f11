//! Records and the change feed: the [`RecordStore`] trait (a page's writing is in `pages.rs`), the
//! feed's types, SQL and row.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledgerlink_domain::OrgId;
use serde_json::Value;
use sqlx::QueryBuilder;

use crate::dialect::{CHUNK, keep_prepared};
use crate::error::{Result, StoreError};
use crate::pages::{self, FirstLoad, PageOutcome, PageWrite, RecordIn, Staged};
use crate::pool::{Backed, Db, on_pool};
use crate::record_keys::Path;
use crate::sync_rows::SyncJob;

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

pub use crate::feed::RecordQuery;

/// Records and their feed.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Writes a page of records and the resume state in one transaction, extending the lease.
    /// [`crate::error::StoreError::NotHeld`] when `worker` no longer holds the lease.
    async fn save_sync_page(
        &self,
        job: &SyncJob,
        worker: &str,
        page: PageWrite<'_>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<PageOutcome>;
    /// Stages records of the sync for a later [`RecordStore::save_staged`]: compares them with the
    /// stored ones (outside any write transaction) — or, for those in `unsettled` (remote id to
    /// hash), with what a write of the sync not yet committed stores — and packs the new and
    /// changed ones.
    async fn stage_records(
        &self,
        job: &SyncJob,
        records: &[RecordIn],
        unsettled: &HashMap<String, String>,
        first_load: Option<&FirstLoad>,
    ) -> Result<Staged>;
    /// A [`FirstLoad`] for the sync's window when no record of its model is stored (deleted ones
    /// included), else `None`. Only the sync that asked may stage with it, and only records it
    /// writes through [`Self::save_staged`].
    async fn first_load(&self, job: &SyncJob) -> Result<Option<FirstLoad>>;
    /// Writes staged records (each id as its last staged occurrence has it: new and changed ones at
    /// new feed positions, unchanged ones marked seen), their skips, and the resume state in one
    /// transaction, extending the lease. [`crate::error::StoreError::NotHeld`] when `worker` no
    /// longer holds the lease.
    #[allow(clippy::too_many_arguments)]
    async fn save_staged(
        &self,
        job: &SyncJob,
        worker: &str,
        staged: &Staged,
        forget_skips: &[String],
        state: &Value,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<PageOutcome>;
    /// The stored ERP payloads of some of a connection's records (by remote id; absent ones are left
    /// out, and so are damaged ones: marked to be written anew by the next sync that reads them).
    /// The connection is the caller's own sync's, so no organization is needed.
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
    /// The unified data of the organization's connection's records (by remote id) that exist in
    /// the ERP as far as we know (not deleted); absent ones are left out.
    async fn current_records(
        &self,
        org: &OrgId,
        connection_id: &str,
        model: &str,
        remote_ids: &[&str],
    ) -> Result<HashMap<String, Value>>;
    /// Reads a connection's change feed for one model, in feed order.
    async fn list_records(
        &self,
        org: &OrgId,
        connection_id: &str,
        model: &str,
        q: &RecordQuery,
    ) -> Result<Vec<RecordOut>>;
    /// Tests only: narrows records' look-up keys to `bits` bits, so that different records share
    /// keys (see the `record_keys` module) and the way taken for those is exercised. Call it before
    /// any record is written; records stay correct at any width, a narrow one only makes them slower.
    #[doc(hidden)]
    fn narrow_record_keys(&self, bits: u32);
}

const SKIPPED: &str = "SELECT remote_id FROM record_skips WHERE connection_id = $1 AND model = $2 \
    ORDER BY skipped_at, remote_id LIMIT $3";

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
        let outcome = pages::save_sync_page(self.db(), job, worker, page, now, lease_until).await?;
        self.db().records_written(outcome.written);
        Ok(outcome)
    }

    async fn stage_records(
        &self,
        job: &SyncJob,
        records: &[RecordIn],
        unsettled: &HashMap<String, String>,
        first_load: Option<&FirstLoad>,
    ) -> Result<Staged> {
        pages::stage(self.db(), job, records, unsettled, first_load).await
    }

    async fn first_load(&self, job: &SyncJob) -> Result<Option<FirstLoad>> {
        pages::first_load(self.db(), job).await
    }

    async fn save_staged(
        &self,
        job: &SyncJob,
        worker: &str,
        staged: &Staged,
        forget_skips: &[String],
        state: &Value,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<PageOutcome> {
        let db = self.db();
        let outcome = pages::save_staged(
            db,
            job,
            worker,
            staged,
            forget_skips,
            state,
            now,
            lease_until,
        )
        .await?;
        db.records_written(outcome.written);
        Ok(outcome)
    }

    async fn stored_raw(
        &self,
        connection_id: &str,
        model: &str,
        remote_ids: &[&str],
    ) -> Result<HashMap<String, Value>> {
        let damaged = Damaged::Skip;
        by_remote_id(
            self.db(),
            "raw",
            None,
            connection_id,
            model,
            remote_ids,
            damaged,
        )
        .await
    }

    async fn current_records(
        &self,
        org: &OrgId,
        connection_id: &str,
        model: &str,
        remote_ids: &[&str],
    ) -> Result<HashMap<String, Value>> {
        by_remote_id(
            self.db(),
            "data",
            Some(org),
            connection_id,
            model,
            remote_ids,
            Damaged::Fail,
        )
        .await
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
        // The API's feed, read as values (one query; see `feed.rs`).
        let page = crate::feed::FeedStore::feed_page(self, org, connection_id, model, q).await?;
        page.into_iter().map(RecordOut::try_from).collect()
    }

    fn narrow_record_keys(&self, bits: u32) {
        self.db().narrow_record_keys(bits);
    }
}

/// What [`by_remote_id`] does with a record whose stored JSON cannot be read, once it has marked it
/// to be written anew by the next sync that reads it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Damaged {
    /// Leave it out, as if it were not stored.
    Skip,
    /// Answer [`StoreError::Damaged`].
    Fail,
}

/// One JSON column (`raw` or `data`) of a connection's current (not deleted) records, by remote id;
/// with `org`, only when the connection is that organization's.
async fn by_remote_id(
    db: &Db,
    column: &'static str,
    org: Option<&OrgId>,
    connection_id: &str,
    model: &str,
    remote_ids: &[&str],
    damaged: Damaged,
) -> Result<HashMap<String, Value>> {
    let mut out = HashMap::with_capacity(remote_ids.len());
    let asked: std::collections::HashSet<&str> = remote_ids.iter().copied().collect();
    for (chunk, path) in remote_ids
        .chunks(CHUNK)
        .flat_map(|chunk| Path::BOTH.map(|path| (chunk, path)))
    {
        db.count(1);
        let rows: Vec<(String, Vec<u8>)> = on_pool!(db, pool, DB => {
            let mut q = QueryBuilder::<DB>::new(format!("SELECT remote_id, {column} FROM records"));
            q.push(path.index(db));
            let live = " AND NOT is_deleted";
            path.push_where(&mut q, db, connection_id, model, live, chunk, false);
            if let Some(org) = org {
                q.push(" AND connection_id IN (SELECT id FROM connections WHERE org_id = ")
                    .push_bind(org.as_str())
                    .push(")");
            }
            let q = q.build_query_as().persistent(keep_prepared(chunk.len()));
            q.fetch_all(pool).await?
        });
        for (id, bytes) in rows {
            // A keyed look-up may find another record at a key (see `record_keys`).
            if !asked.contains(id.as_str()) {
                continue;
            }
            let value = {
                let what = format_args!("record {id} of {connection_id}");
                crate::packed::unpack(bytes, &what).and_then(|text| {
                    serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt(format!("{what} is not JSON: {e}")))
                })
            };
            let err = match value {
                Ok(value) => {
                    out.insert(id, value);
                    continue;
                }
                Err(err) => err,
            };
            let newly_found = crate::damaged::mark(db, connection_id, model, &id, &err).await?;
            if damaged == Damaged::Fail {
                return Err(StoreError::Damaged {
                    what: format!("the {model} record {id}"),
                    newly_found,
                });
            }
        }
    }
    Ok(out)
}

impl TryFrom<crate::feed::FeedRecord> for RecordOut {
    type Error = crate::error::StoreError;

    fn try_from(r: crate::feed::FeedRecord) -> Result<Self> {
        let parse = |text: &str| {
            serde_json::from_str::<Value>(text).map_err(|e| {
                crate::error::StoreError::Corrupt(format!("record {} is not JSON: {e}", r.id))
            })
        };
        Ok(RecordOut {
            data: parse(&r.data)?,
            raw: r.raw.as_deref().map(parse).transpose()?,
            id: r.id.clone(),
            remote_id: r.remote_id,
            seq: r.seq,
            is_deleted: r.is_deleted,
            remote_deleted_at: r.remote_deleted_at,
            remote_modified_at: r.remote_modified_at,
            modified_at: r.modified_at,
        })
    }
}
