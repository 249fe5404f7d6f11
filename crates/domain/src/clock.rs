//! Where "now" comes from. The engine and the store's callers read time from a [`Clock`], so tests
//! move time (past a lease, a backoff, a health-check interval) instead of sleeping through it.

use std::sync::Mutex;

use chrono::{DateTime, Duration, SubsecRound, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time, truncated to microseconds (what both storage backends keep).
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// The wall clock moved forward by however much a test asked ([`TestClock::advance`]). Time still
/// flows, so code that also waits on real timers keeps working; it only jumps when told to.
#[derive(Debug, Default)]
pub struct TestClock {
    offset: Mutex<Duration>,
}

impl TestClock {
    /// A clock that starts at the wall clock's time.
    pub fn new() -> TestClock {
        TestClock::default()
    }

    /// Moves time forward by `by` (backwards for a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        *offset += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = *self.offset.lock().unwrap_or_else(|e| e.into_inner());
        (Utc::now() + offset).trunc_subsecs(6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_clock_jumps_when_told() {
        let clock = TestClock::new();
        let before = clock.now();
        clock.advance(Duration::hours(2));
        let after = clock.now();
        assert!(after - before >= Duration::hours(2));
        assert!(after - before < Duration::hours(2) + Duration::seconds(5));
        assert_eq!(after, after.trunc_subsecs(6));
    }
}
