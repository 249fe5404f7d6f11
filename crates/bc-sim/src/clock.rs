//! The simulated clock: real time plus an offset that the admin API can move forward.

use std::sync::atomic::{AtomicI64, Ordering};

/// Simulated wall clock.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// Now, in epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.offset_ms.load(Ordering::SeqCst)
    }
    /// Move the clock forward (or back) by `ms`.
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
    /// Today's date on the simulated clock.
    pub fn today(&self) -> chrono::NaiveDate {
        chrono::DateTime::from_timestamp_millis(self.now_ms())
            .unwrap_or_default()
            .date_naive()
    }
}
