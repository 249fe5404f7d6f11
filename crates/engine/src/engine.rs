//! The engine: what every job and API call shares — the store, the vault, the connectors, the
//! settings, the clock and the request budgets.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ledgerlink_connectors::{AuthType, AuthorizationRequest, Connector};
use ledgerlink_domain::{Connection, OrgId};
use ledgerlink_store::{Store, StoreError};

use crate::credentials::RefreshLocks;
use crate::error::EngineError;
use crate::settings::EngineSettings;
use crate::vault::Vault;

/// The connection lifecycle, shared by the API and background jobs.
pub struct Engine {
    store: Arc<dyn Store>,
    pub(crate) vault: Arc<Vault>,
    pub(crate) connectors: HashMap<&'static str, Arc<dyn Connector>>,
    pub(crate) oauth_ready: HashMap<&'static str, bool>,
    pub(crate) locks: RefreshLocks,
    pub(crate) setup_locks: RefreshLocks,
    settings: EngineSettings,
    budgets: crate::budget::Budgets,
    stopping: std::sync::atomic::AtomicBool,
    skips: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("providers", &self.connectors.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `store` with these providers.
    pub fn new(
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        connectors: Vec<Arc<dyn Connector>>,
        settings: EngineSettings,
    ) -> Arc<Engine> {
        let probe = AuthorizationRequest {
            state: "probe".into(),
            code_challenge: "probe".into(),
            ..AuthorizationRequest::default()
        };
        let oauth_ready = connectors
            .iter()
            .map(|c| (c.provider_name(), c.authorization_url(&probe).is_ok()))
            .collect();
        let settings_budget = if settings.budget.validate().is_ok() {
            settings.budget
        } else {
            crate::budget::BudgetLimits::default()
        };
        let connectors = connectors
            .into_iter()
            .map(|c| (c.provider_name(), c))
            .collect();
        Arc::new(Engine {
            store,
            vault,
            connectors,
            oauth_ready,
            locks: RefreshLocks::default(),
            setup_locks: RefreshLocks::default(),
            settings,
            budgets: crate::budget::Budgets::new(settings_budget),
            stopping: std::sync::atomic::AtomicBool::new(false),
            skips: Default::default(),
        })
    }

    /// The current time, from the engine's clock (tests move it instead of sleeping).
    pub fn now(&self) -> DateTime<Utc> {
        self.settings.clock.now()
    }

    /// The engine's tunables.
    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// The store the engine writes to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Asks workers to stop claiming and to hand back their syncs after the current page.
    pub fn stop_workers(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether workers were asked to stop.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Records skipped by this process's syncs since it started, by model (for metrics).
    pub fn records_skipped(&self) -> Vec<(String, u64)> {
        let skips = self.skips.lock().unwrap_or_else(|e| e.into_inner());
        skips.iter().map(|(m, n)| (m.clone(), *n)).collect()
    }

    pub(crate) fn count_skip(&self, model: &str) {
        let mut skips = self.skips.lock().unwrap_or_else(|e| e.into_inner());
        *skips.entry(model.to_owned()).or_default() += 1;
    }

    /// Sync tunables.
    pub fn sync_settings(&self) -> &crate::settings::SyncSettings {
        &self.settings.sync
    }

    /// The shared request budgets.
    pub(crate) fn budgets(&self) -> &crate::budget::Budgets {
        &self.budgets
    }

    pub(crate) fn connector_for(&self, provider: &str) -> Result<&Arc<dyn Connector>, EngineError> {
        self.connector(provider)
    }

    pub(crate) fn connector(&self, provider: &str) -> Result<&Arc<dyn Connector>, EngineError> {
        self.connectors.get(provider).ok_or_else(|| {
            EngineError::Invalid(format!(
                "provider '{provider}' has no connector on this server"
            ))
        })
    }

    pub(crate) fn uses_oauth(&self, c: &Connection) -> bool {
        !c.is_on_premise
            && self
                .connectors
                .get(c.provider_name.as_str())
                .is_some_and(|k| k.auth_types().contains(&AuthType::Oauth2))
    }

    /// Checks a user-supplied on-premises server URL against the request-forgery guard (everything
    /// that needs no DNS; the connectors check resolved addresses again on every call).
    pub fn check_api_url(&self, raw: &str) -> Result<(), String> {
        self.settings
            .ssrf
            .check_url(raw)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub(crate) async fn load(&self, org: &OrgId, id: &str) -> Result<Connection, EngineError> {
        self.store
            .get_connection(org, id)
            .await?
            .ok_or(EngineError::NotFound)
    }

    pub(crate) async fn reload(&self, conn: &Connection) -> Result<Connection, EngineError> {
        self.load(&conn.org_id, &conn.id).await
    }

    pub(crate) async fn save(&self, conn: &Connection) -> Result<(), EngineError> {
        if self.store.save_connection_state(conn, self.now()).await? {
            Ok(())
        } else {
            Err(EngineError::NotFound)
        }
    }

    /// Runs a store call again while it fails for a reason that passes (the database restarting or
    /// unreachable, its disk full), with backoff, until `deadline` (e.g. the end of a lease).
    pub(crate) async fn store_retrying<T, F, Fut>(
        &self,
        deadline: DateTime<Utc>,
        mut call: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut wait = Duration::from_millis(250);
        loop {
            match call().await {
                Err(e)
                    if e.is_transient() && self.now() + wait < deadline && !self.is_stopping() =>
                {
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "database call failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }
}
