#![forbid(unsafe_code)]
//! Persistence for ledgerlink: one [`Store`] trait, implemented for SQLite (the embedded default) and
//! Postgres (scale-out). Every query that touches tenant data takes the organization id, so tenant
//! isolation is enforced here, not by each caller.

mod api_keys;
mod budget;
mod budget_sql;
mod error;
mod jobs;
mod pool;
mod postgres;
mod rows;
mod shared;
mod sqlite;
mod sync_sql;
mod syncs;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledgerlink_domain::{Connection, ConnectionChanges, OrgId};

pub use api_keys::{
    ApiKey, ApiKeyInfo, KeyOwner, LAST_USED_GRANULARITY, generate_api_key, hash_api_key,
    needs_touch,
};
pub use budget::{BudgetStore, BudgetWait, Quota};
pub use error::StoreError;
pub use jobs::{FAILED_JOBS_KEPT_DAYS, HEALTH_CHECK_KIND, Job, JobEnd, JobStore, NewJob};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use syncs::{
    NewSync, PageOutcome, PageWrite, RecordIn, RecordOut, RecordQuery, ScheduleTick, SkippedRecord,
    SyncEnd, SyncJob, SyncStore,
};

/// Result of a store call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A Postgres server.
    Postgres,
}

/// Filters and position for listing connections, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListConnections {
    /// Only connections to this provider.
    pub provider_name: Option<String>,
    /// Only connections created before this one (its id), for the next page.
    pub starting_after: Option<String>,
    /// Page size.
    pub limit: u32,
}

/// Everything ledgerlink keeps.
#[async_trait]
pub trait Store: SyncStore + BudgetStore + JobStore + Send + Sync + 'static {
    /// Which database this is.
    fn backend(&self) -> Backend;
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<()>;
    /// The database answers and every migration is applied.
    async fn ready(&self) -> Result<()>;
    /// Statements executed so far by this store (for metrics and query-count checks).
    fn queries_executed(&self) -> u64;

    /// Creates an organization; [`StoreError::Conflict`] when the name is taken.
    async fn create_org(&self, name: &str, now: DateTime<Utc>) -> Result<OrgId>;
    /// The organization with this name.
    async fn org_by_name(&self, name: &str) -> Result<Option<OrgId>>;
    /// How many organizations exist.
    async fn count_orgs(&self) -> Result<i64>;
    /// Records an API key (only its hash) for an organization, with an optional name.
    async fn insert_api_key(
        &self,
        org: &OrgId,
        key: &ApiKey,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// The key with this hash, if it is active at `now` (not revoked, or revoked from a later
    /// instant). Read from the database on every call: a revocation holds at once everywhere.
    async fn api_key_by_hash(&self, key_hash: &str, now: DateTime<Utc>)
    -> Result<Option<KeyOwner>>;
    /// Stamps the key's `last_used_at` with `now` unless it was stamped after `since`.
    ///
    /// Takes no organization: `id` is the one [`Store::api_key_by_hash`] just returned for the key
    /// presented, and only a timestamp is written.
    async fn touch_api_key(&self, id: &str, now: DateTime<Utc>, since: DateTime<Utc>)
    -> Result<()>;
    /// The organization's keys (every organization's for `None`), newest first, revoked included.
    async fn list_api_keys(&self, org: Option<&OrgId>) -> Result<Vec<ApiKeyInfo>>;
    /// One key by id, in the organization (any organization for `None`).
    async fn get_api_key(&self, org: Option<&OrgId>, id: &str) -> Result<Option<ApiKeyInfo>>;
    /// Makes the key stop working at `at` (sooner if it was to stop later); false when the
    /// organization has no such key active at `at`.
    async fn revoke_api_key(&self, org: &OrgId, id: &str, at: DateTime<Utc>) -> Result<bool>;
    /// In one transaction: records `new` under the name of the organization's active key `id`, and
    /// makes `id` stop working at `old_until` (`now` for at once). False, with nothing changed,
    /// when there is no such active key.
    async fn rotate_api_key(
        &self,
        org: &OrgId,
        id: &str,
        new: &ApiKey,
        now: DateTime<Utc>,
        old_until: DateTime<Utc>,
    ) -> Result<bool>;

    /// Stores a new connection and its models, atomically.
    async fn insert_connection(&self, connection: &Connection) -> Result<()>;
    /// One of the organization's connections.
    async fn get_connection(&self, org: &OrgId, id: &str) -> Result<Option<Connection>>;
    /// The organization's connections, newest first.
    async fn list_connections(&self, org: &OrgId, q: &ListConnections) -> Result<Vec<Connection>>;
    /// Applies changes and stamps `modified_at`; `None` when the connection is not the org's.
    async fn update_connection(
        &self,
        org: &OrgId,
        id: &str,
        changes: &ConnectionChanges,
        now: DateTime<Utc>,
    ) -> Result<Option<Connection>>;
    /// Deletes a connection with everything it owns; false when it was not the org's.
    async fn delete_connection(&self, org: &OrgId, id: &str) -> Result<bool>;

    /// Changes one model of one of the organization's connections; false when there is no such model.
    #[allow(clippy::too_many_arguments)]
    async fn update_model(
        &self,
        org: &OrgId,
        connection_id: &str,
        model_id: &str,
        read: Option<bool>,
        write: Option<bool>,
        frequency_secs: Option<i64>,
        full_frequency_secs: Option<i64>,
        next_sync_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Writes what the engine owns of a connection (authentication and setup state, discovery, health,
    /// model support flags), leaving user-set fields alone; false when it no longer exists.
    async fn save_connection_state(&self, c: &Connection, now: DateTime<Utc>) -> Result<bool>;
    /// The connection's sealed credentials.
    ///
    /// Takes no organization, nor do [`Store::put_secret`] and [`Store::delete_secret`]: the engine
    /// calls them only with the id of a connection it has just read through an organization-scoped
    /// call ([`Store::get_connection`] for the caller's organization, or for the organization named by
    /// a signed OAuth state or by a claimed sync), or that [`Store::update_connection`] just changed
    /// for the caller's organization. The credentials are also sealed bound to their connection id,
    /// so ciphertext read under another id would not open.
    async fn get_secret(&self, connection_id: &str) -> Result<Option<SealedSecret>>;
    /// Stores sealed credentials. With `expected_version`, only if the stored version is still that one
    /// (compare-and-swap for token refresh; false when another writer won, or nothing is stored), and
    /// the version becomes `expected_version + 1`; without, inserts (at `secret.version`) or replaces
    /// (moving the stored version on, so a refresh that read the old credentials cannot overwrite the
    /// new ones). No organization: see [`Store::get_secret`].
    async fn put_secret(
        &self,
        connection_id: &str,
        secret: &SealedSecret,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Forgets a connection's credentials. No organization: see [`Store::get_secret`].
    async fn delete_secret(&self, connection_id: &str) -> Result<()>;
    /// Marks an OAuth state nonce as used; false when it already was (a replay).
    ///
    /// Takes no organization: nonces are random and global, and `connection_id` (from a state whose
    /// signature was checked, read back through [`Store::get_connection`] for the state's
    /// organization) is only recorded with it.
    async fn redeem_oauth_state(
        &self,
        nonce: &str,
        connection_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool>;
}

/// Credentials as stored: ciphertext only, plus what is not secret.
#[derive(Clone)]
pub struct SealedSecret {
    /// `oauth` or `basic`.
    pub kind: String,
    /// The vault's ciphertext.
    pub sealed: Vec<u8>,
    /// Write counter, for compare-and-swap.
    pub version: i64,
    /// When the access token expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSecret")
            .field("kind", &self.kind)
            .field("version", &self.version)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Opens the store named by `database_url` (`postgres://…` or `sqlite://…`), or the embedded SQLite
/// file `ledgerlink.db` in `data_dir` when there is none, and applies migrations.
pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Arc::new(PgStore::connect(url).await?)
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
