//! A sync as stored and as the engine holds it: [`SyncJob`], [`NewSync`], the `syncs` table's
//! columns and row. The queue's SQL is in `syncs.rs`, the scheduler's in `schedule.rs`.

use chrono::{DateTime, Utc};
use ledgerlink_domain::{OrgId, Sync, SyncStatus};
use serde_json::Value;
use sqlx::types::Json;

use crate::error::StoreError;

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

/// Every column of `syncs`, in [`SyncRow`]'s order (and the order inserts bind them).
pub(crate) const SYNC_COLUMNS: &str = "id, org_id, connection_id, model_id, model_name, status, \
    attempt, batch_id, entity_id, error, is_initial_sync, is_one_off, pagination_state, \
    timerange_start, timerange_end, run_after, locked_by, locked_until, cancel_requested, \
    started_at, completed_at, created_at, modified_at";

/// A `syncs` row; also read from JSON built by SQL (a model's latest sync, see `connections.rs`).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(crate) struct SyncRow {
    id: String,
    org_id: String,
    connection_id: String,
    model_id: String,
    model_name: String,
    status: String,
    attempt: i32,
    batch_id: Option<String>,
    entity_id: Option<String>,
    error: Option<String>,
    #[serde(deserialize_with = "crate::json_flag::flag")]
    is_initial_sync: bool,
    #[serde(deserialize_with = "crate::json_flag::flag")]
    is_one_off: bool,
    pagination_state: Json<Value>,
    #[serde(deserialize_with = "ledgerlink_domain::timestamp::deserialize_option")]
    timerange_start: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "ledgerlink_domain::timestamp::deserialize_option")]
    timerange_end: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "ledgerlink_domain::timestamp::deserialize")]
    run_after: DateTime<Utc>,
    locked_by: Option<String>,
    #[serde(deserialize_with = "ledgerlink_domain::timestamp::deserialize_option")]
    locked_until: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "crate::json_flag::flag")]
    cancel_requested: bool,
    #[serde(deserialize_with = "ledgerlink_domain::timestamp::deserialize_option")]
    started_at: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "ledgerlink_domain::timestamp::deserialize_option")]
    completed_at: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "ledgerlink_domain::timestamp::deserialize")]
    created_at: DateTime<Utc>,
    #[serde(deserialize_with = "ledgerlink_domain::timestamp::deserialize")]
    modified_at: DateTime<Utc>,
}

impl SyncRow {
    pub(crate) fn into_job(self) -> Result<SyncJob, StoreError> {
        let status = parse_status(&self.status)?;
        let progress = ledgerlink_domain::SyncProgress::from_state(&self.pagination_state.0);
        Ok(SyncJob {
            sync: Sync {
                created_at: self.created_at,
                modified_at: Some(self.modified_at),
                id: self.id,
                status,
                attempt: self.attempt,
                batch_id: self.batch_id.and_then(|b| b.parse().ok()),
                completed_at: self.completed_at,
                entity_id: self.entity_id,
                error: self.error,
                file_id: None,
                is_initial_sync: self.is_initial_sync,
                is_one_off: self.is_one_off,
                model_id: self.model_id,
                pagination_state: self.pagination_state.0,
                progress,
                started_at: self.started_at,
                timerange_end: self.timerange_end,
                timerange_start: self.timerange_start,
                object: "integration_sync",
            },
            org_id: OrgId(self.org_id),
            connection_id: self.connection_id,
            model_name: self.model_name,
            run_after: self.run_after,
            locked_by: self.locked_by,
            locked_until: self.locked_until,
            cancel_requested: self.cancel_requested,
        })
    }
}

fn parse_status(s: &str) -> Result<SyncStatus, StoreError> {
    serde_json::from_value(Value::String(s.to_owned()))
        .map_err(|_| StoreError::Corrupt(format!("unknown sync status {s:?}")))
}

pub(crate) fn status_str(s: SyncStatus) -> String {
    match serde_json::to_value(s) {
        Ok(Value::String(v)) => v,
        _ => unreachable!("SyncStatus serializes as a string"),
    }
}
