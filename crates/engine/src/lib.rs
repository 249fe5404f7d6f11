#![forbid(unsafe_code)]
//! ledgerlink's engine: everything that happens between the API and the ERP.
//!
//! - [`engine`]: the [`Engine`] every job and API call shares; [`settings`] its tunables;
//!   [`error`] why an operation failed;
//! - [`lifecycle`]: a connection's lifecycle — authorizing it, sessions with refresh-ahead tokens
//!   under a per-connection lock, setup, health;
//! - [`jobs`]: the background jobs (setup, health checks) on the store's leased queue;
//! - [`sync`]: requesting, scheduling and running syncs;
//! - [`worker`]: a worker process's loops (scheduler, job worker, sync workers);
//! - [`vault`]: secrets sealed at rest; [`oauth_state`]: signed single-use OAuth `state`;
//! - [`budget`]: a client-side request budget per Business Central principal, shared by every sync
//!   and worker of the process, so we slow down before Business Central throttles us; behind it
//!   ([`shared_budget`]), the same budget kept in the store is shared by every process on the database;
//! - [`retry`]: when and whether failed work is tried again.

pub mod budget;
pub mod credentials;
pub mod engine;
pub mod error;
pub mod jobs;
pub mod lifecycle;
pub mod oauth_state;
pub mod retry;
pub mod settings;
mod shared_budget;
pub mod sync;
pub mod vault;
pub mod worker;

pub use budget::{BudgetLimits, Budgets, InvalidLimits, Permit};
pub use engine::Engine;
pub use error::EngineError;
pub use jobs::runner::JobRun;
pub use lifecycle::health::health_for;
pub use retry::RetryPolicy;
pub use settings::{EngineSettings, JobSettings, SyncSettings};
pub use vault::{KeySource, Vault, VaultError};
pub use worker::{Workers, spawn_workers};
