#![forbid(unsafe_code)]
//! Persistence for ledgerlink: one [`Store`] trait, implemented for SQLite (the embedded default) and
//! Postgres (scale-out). Every query that touches tenant data takes the organization id, so tenant
//! isolation is enforced here, not by each caller.
//!
//! Layout: one module per resource, each holding its public types, its part of the store (a trait
//! such as [`ConnectionStore`], which [`Store`] bundles), its SQL and its rows: `orgs`, `api_keys`,
//! `connections`, `models`, `secrets`, `syncs` (the sync queue; `sync_rows` the sync row and
//! types), `schedule` (the scheduler and planned syncs), `records` (the change feed), `pages`
//! (writing a sync's pages), `budget`, `jobs` (the background-job queue), `writes` (writes to the ERP and their idempotency
//! keys), `connect_sessions` (the hosted connect page's links and browser sessions). Each method is written
//! once for both backends (`pool::on_pool!`, `pool::on_tx!`); where their SQL differs is named in
//! `dialect`. `sqlite` and `postgres` only connect and migrate.

mod api_keys;
mod budget;
mod connect_sessions;
mod connections;
mod damaged;
mod dialect;
mod error;
mod feed;
mod jobs;
mod json_flag;
mod key_cache;
mod models;
mod orgs;
pub mod packed;
mod pages;
mod pool;
mod postgres;
mod record_hash;
mod record_keys;
mod records;
mod schedule;
mod secrets;
mod sqlite;
mod sync_rows;
mod syncs;
mod writes;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

pub use api_keys::{
    ApiKey, ApiKeyInfo, ApiKeyStore, KeyOwner, LAST_USED_GRANULARITY, generate_api_key,
    hash_api_key, needs_touch,
};
pub use budget::{BudgetStore, BudgetWait, Quota};
pub use connect_sessions::{
    ConnectSession, ConnectSessionStore, LinkClaim, NewConnectLink, random_secret,
};
pub use connections::{ConnectionStore, ListConnections};
pub use dialect::Backend;
pub use error::{Result, StoreError};
pub use feed::{FeedRecord, FeedStore};
pub use jobs::{FAILED_JOBS_KEPT_DAYS, HEALTH_CHECK_KIND, Job, JobEnd, JobStore, NewJob};
pub use models::ModelStore;
pub use orgs::{Branding, OrgStore};
pub use pages::{FirstLoad, PageOutcome, PageWrite, RecordIn, SkippedRecord, Staged};
pub use postgres::PgStore;
pub use record_hash::record_hash;
pub use records::{RecordOut, RecordQuery, RecordStore};
pub use schedule::{ScheduleStore, ScheduleTick};
pub use secrets::{SealedSecret, SecretStore};
pub use sqlite::SqliteStore;
pub use sync_rows::{NewSync, SyncJob};
pub use syncs::{SyncEnd, SyncStore};
pub use writes::{Accepted, Cancel, IdempotencyKey, NewWrite, WriteEnd, WriteStore};

use pool::Backed;

/// Everything ledgerlink keeps: every resource's store, and the database itself.
#[async_trait]
pub trait Store:
    OrgStore
    + ApiKeyStore
    + ConnectionStore
    + ModelStore
    + SecretStore
    + SyncStore
    + ScheduleStore
    + RecordStore
    + FeedStore
    + BudgetStore
    + JobStore
    + WriteStore
    + ConnectSessionStore
    + Send
    + Sync
    + 'static
{
    /// Which database this is.
    fn backend(&self) -> Backend;
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<()>;
    /// The database answers and every migration is applied.
    async fn ready(&self) -> Result<()>;
    /// Statements executed so far by this store (for metrics and query-count checks).
    fn queries_executed(&self) -> u64;
}

#[async_trait]
impl<S: Backed> Store for S {
    fn backend(&self) -> Backend {
        self.db().dialect.backend
    }

    async fn migrate(&self) -> Result<()> {
        self.db().migrate().await
    }

    async fn ready(&self) -> Result<()> {
        self.db().ready().await
    }

    fn queries_executed(&self) -> u64 {
        self.db().queries_executed()
    }
}

/// Opens the store named by `database_url` (`postgres://…` or `sqlite://…`), or the embedded SQLite
/// file `ledgerlink.db` in `data_dir` when there is none, and applies migrations.
pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store = PgStore::connect(url).await?;
            // Revocations reach other processes on this host at once (see `key_cache`).
            store
                .db()
                .keys
                .set_marker(data_dir.join("api-keys-revocations"));
            Arc::new(store)
        }
        Some(url) if url.starts_with("sqlite:") => Arc::new(SqliteStore::connect_url(url).await?),
        Some(_) => {
            return Err(StoreError::Config(
                "database URL must start with postgres://, postgresql:// or sqlite:".into(),
            ));
        }
        None => Arc::new(SqliteStore::open_file(&data_dir.join("ledgerlink.db")).await?),
    };
    store.migrate().await?;
    Ok(store)
}
