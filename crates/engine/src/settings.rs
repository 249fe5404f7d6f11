//! The engine's tunables, in one place.

use std::sync::Arc;
use std::time::Duration;

use ledgerlink_domain::{Clock, SystemClock};

/// Tunables of the connection lifecycle.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Refresh an access token this long before it expires.
    pub refresh_margin: chrono::Duration,
    /// The guard for user-supplied server URLs (the same policy the connectors enforce).
    pub ssrf: ledgerlink_connectors::SsrfPolicy,
    /// Syncing.
    pub sync: SyncSettings,
    /// The client-side request budget per ERP principal.
    pub budget: crate::budget::BudgetLimits,
    /// Background jobs (setup, health checks).
    pub jobs: JobSettings,
    /// Where "now" comes from (tests move a [`ledgerlink_domain::TestClock`]).
    pub clock: Arc<dyn Clock>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            refresh_margin: chrono::Duration::minutes(5),
            ssrf: ledgerlink_connectors::SsrfPolicy::default(),
            sync: SyncSettings::default(),
            budget: crate::budget::BudgetLimits::default(),
            jobs: JobSettings::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Tunables of syncing.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Records per page requested from the ERP.
    pub page_size: u32,
    /// Records written per transaction at most; a write may span several pages, and saves the
    /// resume state of the last page it completes.
    pub write_chunk: usize,
    /// Bytes past which records gathering for a write are packed (of their JSON), and past which
    /// the packed ones are written before `write_chunk` records have gathered: memory stays
    /// bounded when records are unusually large.
    pub write_chunk_bytes: usize,
    /// At a page's end, what has gathered is written once this long has passed since the last
    /// write (zero: at every page's end). Bounds how far the change feed lags behind a sync.
    pub write_interval: chrono::Duration,
    /// How long a claimed sync stays leased without a heartbeat (each page extends it).
    pub lease: chrono::Duration,
    /// How far back an incremental sync re-reads before the previous one's end.
    pub overlap: chrono::Duration,
    /// When a failed attempt is tried again.
    pub retry: crate::retry::RetryPolicy,
    /// Workers per process (0: this process runs no syncs).
    pub workers: usize,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            page_size: 1_000,
            write_chunk: 5_000,
            write_chunk_bytes: 16 << 20,
            write_interval: chrono::Duration::seconds(1),
            lease: chrono::Duration::seconds(120),
            overlap: chrono::Duration::minutes(5),
            retry: crate::retry::RetryPolicy::default(),
            workers: 2,
        }
    }
}

/// Tunables of background jobs.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// How long a claimed job stays leased without a heartbeat (renewed every third of it).
    pub lease: chrono::Duration,
    /// When a job whose attempt failed for a passing reason is tried again.
    pub retry: crate::retry::RetryPolicy,
    /// Check each set-up connection's health at least this often (None: never periodically).
    pub health_check_interval: Option<chrono::Duration>,
    /// Pause of an idle job worker before it looks for work again.
    pub poll: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            lease: chrono::Duration::seconds(60),
            retry: crate::retry::RetryPolicy::default(),
            health_check_interval: Some(chrono::Duration::hours(1)),
            poll: Duration::from_millis(250),
        }
    }
}
