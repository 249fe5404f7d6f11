//! A sync: one run (with its retries) of one model of one connection.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a sync is in its life (Stuut's enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    /// Planned for `next_sync_at`.
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

/// A sync of one model, as returned by the API.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Sync {
    /// When the sync was created.
    pub created_at: DateTime<Utc>,
    /// When the sync last changed.
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
    /// What is needed to resume the sync mid-way.
    #[schema(value_type = Object)]
    pub pagination_state: serde_json::Value,
    /// When the current attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// End of the time range for which data is being synced.
    pub timerange_end: Option<DateTime<Utc>>,
    /// Start of the time range for which data is being synced.
    pub timerange_start: Option<DateTime<Utc>>,
    /// String representing the object's type: `integration_sync`.
    pub object: &'static str,
}
