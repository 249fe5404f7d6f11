//! Syncs: requesting them ([`request`]), the scheduler that queues them when due ([`scheduler`]),
//! the runner that claims one with a lease and runs an attempt ([`runner`]), the pages of an attempt
//! — the window, the re-check of silently changing amounts, reconciliation — ([`pages`]), and what
//! those share ([`attempt`]).

pub mod attempt;
pub mod pages;
pub mod request;
pub mod runner;
pub mod scheduler;
mod stream;
