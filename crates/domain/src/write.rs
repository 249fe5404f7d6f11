//! Writes: a change ledgerlink makes in the ERP on a user's behalf (first: a customer payment
//! applied to invoices, posted in Business Central), run in the background, exactly once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Where a write is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WriteStatus {
    /// Accepted, waiting for a worker.
    Queued,
    /// A worker is carrying it out in the ERP.
    Running,
    /// An attempt failed for a reason that passes (the ERP throttled or failed); another is planned.
    PendingRetry,
    /// Done in the ERP; `result` says what was created.
    Complete,
    /// Refused by the ERP or given up after its last attempt; `error` says why.
    Failed,
    /// Cancelled before it reached the ERP.
    Cancelled,
}

impl WriteStatus {
    /// The stored and API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteStatus::Queued => "queued",
            WriteStatus::Running => "running",
            WriteStatus::PendingRetry => "pending_retry",
            WriteStatus::Complete => "complete",
            WriteStatus::Failed => "failed",
            WriteStatus::Cancelled => "cancelled",
        }
    }

    /// The status spelled `s`, if any.
    pub fn parse(s: &str) -> Option<WriteStatus> {
        Some(match s {
            "queued" => WriteStatus::Queued,
            "running" => WriteStatus::Running,
            "pending_retry" => WriteStatus::PendingRetry,
            "complete" => WriteStatus::Complete,
            "failed" => WriteStatus::Failed,
            "cancelled" => WriteStatus::Cancelled,
            _ => return None,
        })
    }

    /// Whether the write has ended (nothing more will happen to it).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            WriteStatus::Complete | WriteStatus::Failed | WriteStatus::Cancelled
        )
    }
}

/// A write, as the API shows it (`object: "integration_write"`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Write {
    /// `wr_…`.
    pub id: String,
    /// Always `integration_write`.
    #[schema(example = "integration_write")]
    pub object: &'static str,
    /// The connection written to.
    pub connection_id: String,
    /// The model written (`payments`).
    pub model: String,
    /// What is done (`create`).
    pub operation: String,
    /// Where it is in its life.
    pub status: WriteStatus,
    /// Attempts started so far.
    pub attempt: i32,
    /// What was asked, as accepted.
    #[schema(value_type = Object)]
    pub request: Value,
    /// What the ERP created, once complete. For a payment: `posted` (true), `document_number`
    /// (the marker the lines and ledger entries carry, `LL` + 18 hex digits), `journal_code` (the
    /// write's own journal batch, `null` when an earlier attempt's posting was found), the
    /// `payment_journal` whose balancing account it followed (`null`: the company's first journal
    /// with one), `ledger_entry_numbers` (the posted G/L entries), `posting_date`, `amount`, and
    /// `journal_removed` (whether the write's own batch, empty once posted, was deleted from BC).
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// Why the last attempt failed, in words a finance person understands.
    pub error: Option<String>,
    /// Whether an attempt reached the ERP (from then on it can no longer be cancelled).
    pub reached_erp: bool,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub modified_at: DateTime<Utc>,
    /// When it ended, if it has.
    pub completed_at: Option<DateTime<Utc>>,
}
