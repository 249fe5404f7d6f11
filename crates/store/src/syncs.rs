//! Syncs (the job queue) and records (the change feed): types and the [`SyncStore`] trait.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledgerlink_domain::{OrgId, Sync, SyncStatus};
use serde_json::Value;

use crate::Result;

/// A sync as the engine sees it: the API's [`Sync`] plus what runs it.
#[derive(Debug, Clone)]
pub struct SyncJob {
    /// What the API shows.
    pub sync: Sync,
    /// Owner.
    pub org_id: OrgId,
    /// The connection synced.
    pub connection_id: String,
    /// The model's name (`invoices`).
    pub model_name: String,
    /// Not claimable before this.
    pub run_after: DateTime<Utc>,
    /// The worker holding the lease.
    pub locked_by: Option<String>,
    /// Until when the lease holds.
    pub locked_until: Option<DateTime<Utc>>,
    /// A cancel was asked while it ran.
    pub cancel_requested: bool,
}

/// A sync to create.
#[derive(Debug, Clone)]
pub struct NewSync {
    /// The model's id.
    pub model_id: String,
    /// The model's name.
    pub model_name: String,
    /// `queued` (due now) or `scheduled`.
    pub status: SyncStatus,
    /// Groups the syncs of one request.
    pub batch_id: Option<uuid::Uuid>,
    /// The ERP entity (BC company id).
    pub entity_id: Option<String>,
    /// A full pass.
    pub is_initial_sync: bool,
    /// Requested, not scheduled.
    pub is_one_off: bool,
    /// Incremental window start (None: full pass).
    pub timerange_start: Option<DateTime<Utc>>,
    /// Window end.
    pub timerange_end: Option<DateTime<Utc>>,
}

impl NewSync {
    /// A queued sync of a model up to `until`: incremental from `since` less `overlap` (the margin
    /// re-read so that clock skew and same-instant writes lose nothing; records found unchanged are
    /// not rewritten), or a full pass (`is_initial_sync`) when there is no `since`.
    #[allow(clippy::too_many_arguments)]
    pub fn queued(
        model_id: &str,
        model_name: &str,
        entity_id: Option<String>,
        since: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
        overlap: chrono::Duration,
        batch_id: Option<uuid::Uuid>,
        is_one_off: bool,
    ) -> Self {
        Self {
            model_id: model_id.to_owned(),
            model_name: model_name.to_owned(),
            status: SyncStatus::Queued,
            batch_id,
            entity_id,
            is_initial_sync: since.is_none(),
            is_one_off,
            timerange_start: since.map(|s| s - overlap),
            timerange_end: Some(until),
        }
    }
}

/// What one scheduler tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleTick {
    /// Due models taken this tick (at most the limit asked for).
    pub due: usize,
    /// Syncs queued.
    pub queued: usize,
    /// Due models that already had a sync queued, running or waiting to retry (nothing queued).
    pub already_active: usize,
    /// Due models whose connection cannot sync now (unhealthy, paused, not configured, reads off):
    /// looked at again after the recheck interval instead of every tick.
    pub deferred: usize,
}

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

/// How a sync ended.
#[derive(Debug, Clone)]
pub enum SyncEnd {
    /// Every page written. `reconcile`: a full pass, so records it did not see are deleted.
    Complete {
        /// Mark unseen records deleted.
        reconcile: bool,
    },
    /// Failed; try again at `run_after`.
    Retry {
        /// What went wrong.
        error: String,
        /// When to try again.
        run_after: DateTime<Utc>,
    },
    /// Failed for good.
    Failed {
        /// What went wrong.
        error: String,
    },
    /// The attempt was cut short by our own database (restarting, unreachable, disk full), not by
    /// the ERP: try again at `run_after` without counting the attempt.
    Deferred {
        /// What went wrong.
        error: String,
        /// When to try again.
        run_after: DateTime<Utc>,
    },
    /// Stopped on request.
    Cancelled,
    /// Handed back unfinished (the worker is shutting down): queued again at once, resuming from its
    /// saved page.
    Released,
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

/// The sync queue and the change feed.
#[async_trait]
pub trait SyncStore: Send + std::marker::Sync {
    /// Creates one sync per entry, except where the model already has one queued, running or waiting
    /// to retry: that one is returned instead. Entries naming a model that is not one of this
    /// organization's connection's are left out (nothing is created for them). Atomic.
    async fn enqueue_syncs(
        &self,
        org: &OrgId,
        connection_id: &str,
        wants: &[NewSync],
        now: DateTime<Utc>,
    ) -> Result<Vec<Sync>>;
    /// One sync of the organization.
    async fn get_sync(&self, org: &OrgId, id: &str) -> Result<Option<SyncJob>>;
    /// A connection's syncs, newest first.
    async fn list_syncs(
        &self,
        org: &OrgId,
        connection_id: &str,
        model: Option<&str>,
        status: Option<SyncStatus>,
        limit: u32,
    ) -> Result<Vec<Sync>>;
    /// Claims the next runnable sync (queued or due for retry, or running with an expired lease) for
    /// `worker` until `lease_until`; increments `attempt`.
    async fn claim_sync(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<SyncJob>>;
    /// Writes a page of records and the resume state in one transaction, extending the lease.
    /// [`crate::StoreError::NotHeld`] when `worker` no longer holds the lease.
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
    ) -> Result<std::collections::HashMap<String, Value>>;
    /// Remote ids of the model's records that earlier syncs skipped, oldest first. The connection is
    /// the caller's own sync's (from [`SyncStore::claim_sync`]), so no organization is needed.
    async fn skipped_records(
        &self,
        connection_id: &str,
        model: &str,
        limit: u32,
    ) -> Result<Vec<String>>;
    /// Extends the lease of a sync `worker` holds (a heartbeat while a page takes long); false when
    /// it no longer holds it.
    async fn renew_lease(
        &self,
        job: &SyncJob,
        worker: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<bool>;
    /// Ends a sync (if `worker` still holds it); a complete full pass also reconciles deletions.
    async fn finish_sync(
        &self,
        job: &SyncJob,
        worker: &str,
        end: &SyncEnd,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Cancels a sync: at once when it is not running, at its next page when it is.
    async fn cancel_sync(&self, org: &OrgId, id: &str, now: DateTime<Utc>) -> Result<Option<Sync>>;
    /// The end of the window of the model's last complete sync (where the next incremental one starts).
    ///
    /// Takes no organization: the engine calls it only with the id of a model of a connection it has
    /// just read through [`crate::Store::get_connection`] for the caller's organization, and it
    /// returns only a timestamp.
    async fn synced_until(&self, model_id: &str) -> Result<Option<DateTime<Utc>>>;
    /// Reads a connection's change feed for one model, in feed order.
    async fn list_records(
        &self,
        org: &OrgId,
        connection_id: &str,
        model: &str,
        q: &RecordQuery,
    ) -> Result<Vec<RecordOut>>;
    /// One scheduler tick, in one transaction: takes up to `limit` models whose `next_sync_at` has
    /// come (on Postgres skipping those another scheduler holds), queues a sync for each whose
    /// connection can sync (read-enabled, healthy, configured, unpaused; incremental from the last
    /// complete sync less `overlap`) unless one is already active, and moves each `next_sync_at` on:
    /// by the model's frequency, or by at most `recheck` for those that could not sync.
    async fn schedule_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        overlap: chrono::Duration,
        recheck: chrono::Duration,
    ) -> Result<ScheduleTick>;
}
