//! The scheduler: queues each model's sync when it is due, in batches.

use std::time::Duration;

use ledgerlink_store::ScheduleTick;

use crate::engine::Engine;
use crate::error::EngineError;

/// How often a due model whose connection cannot sync is looked at again.
pub const SCHEDULER_RECHECK: Duration = Duration::from_secs(5 * 60);

/// Due models queued per scheduler tick; a full tick is followed at once by another.
pub(crate) const SCHEDULER_BATCH: u32 = 1_000;

/// Pause between scheduler ticks that found less than a full batch.
pub(crate) const SCHEDULER_PERIOD: Duration = Duration::from_secs(5);

impl Engine {
    /// One scheduler tick: queues the scheduled syncs that are due (at most `limit`) and moves each
    /// model's `next_sync_at` on. Models of connections that cannot sync now (unhealthy, paused,
    /// not configured) are looked at again after [`SCHEDULER_RECHECK`] (or their frequency, if
    /// shorter) rather than on every tick.
    pub async fn schedule_due(&self, limit: u32) -> Result<ScheduleTick, EngineError> {
        Ok(self
            .store()
            .schedule_due(
                self.now(),
                limit,
                self.sync_settings().overlap,
                chrono::Duration::from_std(SCHEDULER_RECHECK).unwrap_or(chrono::Duration::MAX),
            )
            .await?)
    }
}
