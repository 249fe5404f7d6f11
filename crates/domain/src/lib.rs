#![forbid(unsafe_code)]
//! ledgerlink's domain: identifiers, the provider and model catalogs, connections, models, syncs and
//! their health. Pure types and rules; no I/O.

pub mod catalog;
pub mod clock;
pub mod connection;
pub mod health;
pub mod ids;
pub mod records;
pub mod scratch;
pub mod sync;
pub mod timestamp;
pub mod write;

pub use catalog::{AuthType, ModelSpec, Provider};
pub use clock::{Clock, SystemClock, TestClock};
pub use connection::{
    Connection, ConnectionChanges, Discovered, DiscoveredCompany, DiscoveredJournal, Model,
    NewConnection, PAYMENT_JOURNAL_SETTING,
};
pub use health::{Health, HealthStatus};
pub use ids::{OrgId, id_time, is_id, new_id, planned_sync_id};
pub use sync::{Sync, SyncProgress, SyncStatus};
pub use write::{Write, WriteStatus};

/// A boolean written as text, as pydantic reads one: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`,
/// `t`/`f`, `y`/`n`, in any case. `None` for anything else.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" | "y" | "on" => Some(true),
        "0" | "false" | "f" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

/// The current time, truncated to microseconds: what both storage backends keep, so a value read
/// back equals the value written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}
