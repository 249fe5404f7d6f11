//! A sync: one run (with its retries) of one model of one connection.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a sync is in its life (Stuut's enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    /// The model's next scheduled sync, due at `timerange_end` (the model's `next_sync_at`); it
    /// becomes `queued`, keeping its id, when due. Not shown while the connection cannot sync (paused,
    /// unhealthy) or the model is not read. Cancelling it skips that run.
    Scheduled,
    /// Due, waiting for a worker.
    Queued,
    /// A worker is running it.
    Running,
    /// Stopped on request.
    Cancelled,
    /// Gave up after its last attempt.
    Failed,
    /// An attempt failed; another one is planned.
    PendingRetry,
    /// Finished successfully.
    Complete,
}

/// How far a sync has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct SyncProgress {
    /// Records written (new or changed, or found unchanged) so far.
    pub records: u64,
    /// How many records the sync's read covers, as the ERP counted them when it started (BC:
    /// `@odata.count`); `null` where the ERP does not say (e.g. payments, read per journal).
    pub total: Option<u64>,
}

impl SyncProgress {
    /// The progress recorded in a sync's `pagination_state` (`records`, `total`), if it started.
    pub fn from_state(state: &serde_json::Value) -> Option<SyncProgress> {
        let records = state.get("records")?.as_u64()?;
        Some(SyncProgress {
            records,
            total: state.get("total").and_then(serde_json::Value::as_u64),
        })
    }
}

/// A sync of one model, as returned by the API.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Sync {
    /// When the sync was created.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// When the sync last changed.
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub modified_at: Option<DateTime<Utc>>,
    /// Sync id (`sync_…`).
    pub id: String,
    /// Where the sync is in its life.
    pub status: SyncStatus,
    /// Number of attempts made to run this sync. 0 means no attempts have been made.
    pub attempt: i32,
    /// Groups the syncs created by one request.
    pub batch_id: Option<uuid::Uuid>,
    /// When the sync finished.
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub completed_at: Option<DateTime<Utc>>,
    /// The ERP entity synced (for Business Central, the company id).
    pub entity_id: Option<String>,
    /// Error message if the sync failed.
    pub error: Option<String>,
    /// The uploaded file this sync reads, for file-based syncs.
    pub file_id: Option<String>,
    /// Whether this sync is a full pass over the model.
    pub is_initial_sync: bool,
    /// Whether or not this is a one off sync.
    pub is_one_off: bool,
    /// The model synced.
    pub model_id: String,
    /// What is needed to resume the sync mid-way, and what it did so far: `phase` (`skipped`: re-reading
    /// records earlier syncs could not map; `window`: the records modified in the time range, or all of
    /// them for a full pass; `volatile`: re-checking amounts the ERP changes without moving a record's
    /// modification stamp, e.g. an invoice's remaining amount after a partial payment; `done`),
    /// `cursor`, `pages`, `records` (written), `retried_errors` and `last_error` (page fetches that
    /// failed and were retried), `rechecked` (records re-read because such an amount differed),
    /// `skipped_count` and `skipped` (up to 50 `{remote_id, reason}`: records the ERP sent that
    /// could not be mapped — the rest of the model went on; each is re-read at the next sync, and its
    /// last good version stays in the feed meanwhile). Empty for a `scheduled` sync.
    #[schema(value_type = Object)]
    pub pagination_state: serde_json::Value,
    /// How far the sync has got: records written so far and, where the ERP says, how many its
    /// current read covers. `null` until its first page is written.
    pub progress: Option<SyncProgress>,
    /// When the current attempt started.
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub started_at: Option<DateTime<Utc>>,
    /// End of the time range for which data is being synced.
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub timerange_end: Option<DateTime<Utc>>,
    /// Start of the time range for which data is being synced.
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub timerange_start: Option<DateTime<Utc>>,
    /// String representing the object's type: `integration_sync`.
    pub object: &'static str,
}
