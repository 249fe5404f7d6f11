//! Request budgets of ERP principals shared by every process on one database: how many requests a
//! principal started within the sliding window, which requests are in flight, and pauses the ERP
//! asked for. Times are integer milliseconds since the Unix epoch (exact comparisons on both
//! backends).

use async_trait::async_trait;

use crate::Result;

/// The limits one principal's requests must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed to start within any `window_ms`.
    pub per_window: u32,
    /// The sliding window, in milliseconds.
    pub window_ms: i64,
    /// Requests allowed in flight at once.
    pub concurrent: u32,
}

impl Quota {
    /// Requests are counted in buckets of this width (1/30 of the window, at least 1 ms).
    pub fn bucket_ms(&self) -> i64 {
        (self.window_ms / 30).max(1)
    }
}

/// Why a request may not start yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetWait {
    /// The window is full, or the ERP asked for a pause: try again at this instant (ms).
    Until(i64),
    /// `concurrent` requests are in flight: try again when one ends.
    Busy,
}

/// Shared request budgets.
#[async_trait]
pub trait BudgetStore: Send + Sync {
    /// Counts one request of `principal` starting at `now_ms` and holds one of its concurrency slots
    /// as `slot` until released or `hold_until_ms` (a crashed holder's slot frees itself then) —
    /// or says why it may not start. Atomic across processes.
    async fn budget_acquire(
        &self,
        principal: &str,
        slot: &str,
        quota: Quota,
        now_ms: i64,
        hold_until_ms: i64,
    ) -> Result<std::result::Result<(), BudgetWait>>;
    /// Frees a slot taken by [`BudgetStore::budget_acquire`].
    async fn budget_release(&self, slot: &str) -> Result<()>;
    /// Forgets what no longer matters: expired slots, and buckets and principals nobody used for
    /// `idle_ms` (longer than any window). Returns the rows removed.
    async fn budget_sweep(&self, now_ms: i64, idle_ms: i64) -> Result<u64>;
    /// Pauses `principal` until `until_ms` for every process (never shortens a pause).
    async fn budget_pause(&self, principal: &str, until_ms: i64) -> Result<()>;
}
