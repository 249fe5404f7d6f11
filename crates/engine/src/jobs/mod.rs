//! Background jobs: every kind of background work other than a sync runs as a job of the store's
//! one leased queue ([`ledgerlink_store::JobStore`]) — claimed by any worker process, its lease
//! renewed on a heartbeat, retried with the [`crate::retry::RetryPolicy`] backoff, at most one per
//! kind and connection at a time.
//!
//! Each kind is a small type with its own `run` ([`setup::Setup`], [`health_check::HealthCheck`],
//! [`write_payment::WritePayment`]);
//! [`runner`] claims a job and dispatches on its kind. Syncs keep their own queue (the `syncs`
//! table): a sync is a resource users read and cancel, with pages, a cursor and a change feed of its
//! own, so it stays a row of its own kind rather than a payload here; it uses the same lease
//! heartbeat ([`lease::hold`]).

pub mod health_check;
pub mod lease;
pub mod runner;
pub mod setup;
pub mod write_payment;

/// How one run of a job ended, as its kind sees it.
#[derive(Debug)]
pub enum Outcome {
    /// Done (including "nothing to do").
    Done,
    /// Failed for a reason that passes (the ERP throttled or failed): try again with backoff, not
    /// sooner than `retry_after` when the ERP said so.
    Retry {
        /// Why.
        error: String,
        /// The ERP's `Retry-After`.
        retry_after: Option<std::time::Duration>,
    },
    /// Failed for good.
    Failed(String),
}
