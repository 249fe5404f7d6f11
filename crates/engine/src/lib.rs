#![forbid(unsafe_code)]
//! ledgerlink's engine: everything that happens between the API and the ERP.
//!
//! - [`connections`]: a connection's lifecycle — OAuth callback, on-premises credentials, sessions
//!   with refresh-ahead tokens under a per-connection lock, the setup job, health checks;
//! - [`vault`]: secrets sealed at rest; [`oauth_state`]: signed single-use OAuth `state`;
//! - [`health`]: what a failed ERP call means for a connection's health;
//! - [`budget`]: a client-side request budget per Business Central principal, shared by every sync
//!   and worker of the process, so we slow down before Business Central throttles us; behind it,
//!   the same budget kept in the store is shared by every process on the database;
//! - [`retry`]: when and whether a failed sync is tried again.

pub mod budget;
pub mod connections;
pub mod credentials;
pub mod health;
pub mod oauth_state;
pub mod retry;
mod shared_budget;
pub mod sync;
mod sync_pages;
pub mod vault;

pub use budget::{BudgetLimits, Budgets, InvalidLimits, Permit};
pub use connections::{Engine, EngineError, EngineSettings};
pub use retry::RetryPolicy;
pub use sync::{SyncSettings, Workers, spawn_workers};
pub use vault::{KeySource, Vault, VaultError};
