#![forbid(unsafe_code)]
//! ledgerlink's sync engine. For now, two pure building blocks the sync runner is built on:
//!
//! - [`budget`]: a client-side request budget per Business Central principal, shared by every sync
//!   and worker of the process, so we slow down before Business Central throttles us;
//! - [`retry`]: when and whether a failed sync is tried again.

pub mod budget;
pub mod retry;

pub use budget::{BudgetLimits, Budgets, InvalidLimits, Permit};
pub use retry::RetryPolicy;
