#![forbid(unsafe_code)]
//! ledgerlink's sync engine. For now, a pure building block the sync runner is built on:
//!
//! - [`retry`]: when and whether a failed sync is tried again.

pub mod retry;

pub use retry::RetryPolicy;
