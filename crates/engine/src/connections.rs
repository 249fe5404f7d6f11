//! Taking a connection from "created" to "configured and healthy": the OAuth callback, on-premises
//! credentials, sessions with refresh-ahead tokens, the setup job, health checks, and disconnecting.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use ledgerlink_connectors::{
    AuthType, AuthorizationRequest, Connector, ConnectorError, Credentials, Discovery, Session,
    Target, parse_callback,
};
use ledgerlink_domain::{Connection, Discovered, DiscoveredCompany, HealthStatus, OrgId, now};
use ledgerlink_store::{SealedSecret, Store, StoreError};
use secrecy::SecretString;
use tokio::sync::Notify;

use crate::credentials::{RefreshLocks, StoredCredentials};
use crate::health::health_for;
use crate::oauth_state::{self, StateError};
use crate::vault::Vault;

/// Tunables of the connection lifecycle.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Refresh an access token this long before it expires.
    pub refresh_margin: chrono::Duration,
    /// The guard for user-supplied server URLs (the same policy the connectors enforce).
    pub ssrf: ledgerlink_connectors::SsrfPolicy,
    /// Syncing.
    pub sync: crate::sync::SyncSettings,
    /// The client-side request budget per ERP principal.
    pub budget: crate::BudgetLimits,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            refresh_margin: chrono::Duration::minutes(5),
            ssrf: ledgerlink_connectors::SsrfPolicy::default(),
            sync: crate::sync::SyncSettings::default(),
            budget: crate::BudgetLimits::default(),
        }
    }
}

/// Why an engine operation failed, for the API to answer with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The connection does not exist (for this organization).
    #[error("connection not found")]
    NotFound,
    /// The OAuth redirect carried a state we did not issue, or one that expired.
    #[error("{0}")]
    BadState(#[from] StateError),
    /// The OAuth state was already used.
    #[error("this authorization response was already used; start again from the connection")]
    Replayed,
    /// The user declined consent, or the ERP refused the authorization.
    #[error("authorization was not granted: {0}")]
    Declined(ConnectorError),
    /// The request does not fit the connection (e.g. credentials for a cloud connection).
    #[error("{0}")]
    Invalid(String),
    /// The connection is not in a state that allows this (e.g. a sync of an unconfigured connection).
    #[error("{0}")]
    NotReady(String),
    /// The ERP refused or failed a call needed to complete the request.
    #[error("{0}")]
    Connector(#[from] ConnectorError),
    /// A stored secret could not be opened.
    #[error("{0}")]
    Vault(#[from] crate::vault::VaultError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The connection lifecycle, shared by the API and background jobs.
pub struct Engine {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    connectors: HashMap<&'static str, Arc<dyn Connector>>,
    oauth_ready: HashMap<&'static str, bool>,
    locks: RefreshLocks,
    setup_locks: RefreshLocks,
    settings: EngineSettings,
    running_jobs: AtomicUsize,
    jobs_done: Notify,
    budgets: crate::Budgets,
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
            crate::BudgetLimits::default()
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
            running_jobs: AtomicUsize::new(0),
            jobs_done: Notify::new(),
            budgets: crate::Budgets::new(settings_budget),
            stopping: std::sync::atomic::AtomicBool::new(false),
            skips: Default::default(),
        })
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
    pub fn sync_settings(&self) -> &crate::sync::SyncSettings {
        &self.settings.sync
    }

    /// The shared request budgets.
    pub(crate) fn budgets(&self) -> &crate::Budgets {
        &self.budgets
    }

    pub(crate) fn connector_for(&self, provider: &str) -> Result<&Arc<dyn Connector>, EngineError> {
        self.connector(provider)
    }

    fn connector(&self, provider: &str) -> Result<&Arc<dyn Connector>, EngineError> {
        self.connectors.get(provider).ok_or_else(|| {
            EngineError::Invalid(format!(
                "provider '{provider}' has no connector on this server"
            ))
        })
    }

    fn uses_oauth(&self, c: &Connection) -> bool {
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

    /// Forgets the credentials of a connection whose server changed: they were given for the old one
    /// and must not be sent to the new one. The connection waits for credentials again.
    pub async fn require_credentials_again(
        &self,
        org: &OrgId,
        id: &str,
    ) -> Result<Connection, EngineError> {
        self.store.delete_secret(id).await?;
        let mut conn = self.load(org, id).await?;
        conn.is_authentication_pending = true;
        conn.is_running_setup = false;
        conn.health_status = HealthStatus::AuthenticationPending;
        conn.health_message = Some(
            "The server URL changed: submit the user name and web service access key for the new \
             server."
                .into(),
        );
        conn.health_checked_at = now();
        self.save(&conn).await?;
        self.reload(&conn).await
    }

    /// Whether the connection authorizes through OAuth but this server has no OAuth app for it.
    pub fn oauth_unconfigured(&self, c: &Connection) -> bool {
        self.uses_oauth(c)
            && !self
                .oauth_ready
                .get(c.provider_name.as_str())
                .copied()
                .unwrap_or(false)
    }

    /// A fresh authorization URL (signed single-use state, PKCE) for a cloud connection; `None` for
    /// on-premises connections and when the server has no OAuth app.
    pub fn authorization_url(&self, c: &Connection) -> Option<String> {
        if !self.uses_oauth(c) || self.oauth_unconfigured(c) {
            return None;
        }
        let (state, verifier) = oauth_state::issue(&self.vault, &c.id, c.org_id.as_str(), now());
        let request = AuthorizationRequest {
            state,
            code_challenge: ledgerlink_connectors::oauth::s256_challenge(&verifier),
            login_hint: None,
            tenant_id: c.tenant_id.clone(),
        };
        let connector = self.connectors.get(c.provider_name.as_str())?;
        connector.authorization_url(&request).ok().map(String::from)
    }

    /// Handles the OAuth redirect (`?code=…&state=…`): checks the state, redeems it once, exchanges
    /// the code, stores the tokens sealed, and starts setup. Nothing changes when any step fails.
    pub async fn complete_authorization(
        self: &Arc<Self>,
        query: &str,
    ) -> Result<Connection, EngineError> {
        let callback = parse_callback(query);
        let state = callback.state.ok_or(StateError::Forged)?;
        let claims = oauth_state::verify(&self.vault, &state, now())?;
        let org = OrgId(claims.org_id.clone());
        let mut conn = self
            .store
            .get_connection(&org, &claims.connection_id)
            .await?
            .ok_or(EngineError::NotFound)?;
        if !self
            .store
            .redeem_oauth_state(&claims.nonce, &conn.id, now())
            .await?
        {
            return Err(EngineError::Replayed);
        }
        let code = callback.code.map_err(EngineError::Declined)?;
        let connector = self.connector(&conn.provider_name)?;
        let verifier = SecretString::from(self.vault.pkce_verifier(&claims.nonce));
        let tokens = connector
            .exchange_code(&code, &verifier)
            .await
            .map_err(EngineError::Declined)?;
        let creds = StoredCredentials::from_tokens(&tokens, self.settings.refresh_margin, now());
        self.put_credentials(&conn.id, &creds).await?;
        if tokens.tenant_id.is_some() && conn.tenant_id != tokens.tenant_id {
            // Another directory: what setup found before no longer applies.
            conn.environment = None;
            conn.company = None;
            conn.company_name = None;
            conn.discovery = None;
        }
        conn.tenant_id = tokens.tenant_id.or(conn.tenant_id);
        self.begin_setup(conn).await
    }

    /// Accepts on-premises credentials after one live call proves them, stores them sealed, and starts
    /// setup.
    pub async fn set_basic_credentials(
        self: &Arc<Self>,
        org: &OrgId,
        id: &str,
        username: String,
        key: SecretString,
    ) -> Result<Connection, EngineError> {
        let conn = self.load(org, id).await?;
        if !conn.is_on_premise {
            return Err(EngineError::Invalid(
                "this is a cloud connection: authorize it by opening its authorization_url".into(),
            ));
        }
        let session = Session {
            target: target_of(&conn)?,
            credentials: Credentials::Basic {
                username: username.clone(),
                password: key.clone(),
            },
        };
        self.connector(&conn.provider_name)?
            .validate_credentials(&session)
            .await?;
        let creds = StoredCredentials::Basic {
            username,
            key: secrecy::ExposeSecret::expose_secret(&key).to_owned(),
        };
        self.put_credentials(&conn.id, &creds).await?;
        self.begin_setup(conn).await
    }

    /// Runs setup again (after the user chose an environment, company or server).
    pub async fn restart_setup(
        self: &Arc<Self>,
        org: &OrgId,
        id: &str,
    ) -> Result<Connection, EngineError> {
        let conn = self.load(org, id).await?;
        self.begin_setup(conn).await
    }

    async fn begin_setup(
        self: &Arc<Self>,
        mut conn: Connection,
    ) -> Result<Connection, EngineError> {
        conn.is_authentication_pending = false;
        conn.is_running_setup = true;
        // Until setup proves otherwise, what is not chosen is missing (so a failed setup never
        // leaves a connection that looks configured).
        conn.missing_settings = unset_settings(&conn);
        conn.health_status = HealthStatus::MissingSettings;
        conn.health_message = Some(
            "Setup is running: finding the environments and companies this sign-in can reach."
                .into(),
        );
        conn.health_checked_at = now();
        self.save(&conn).await?;
        self.spawn_setup(conn.org_id.clone(), conn.id.clone());
        self.reload(&conn).await
    }

    /// Runs setup in the background (`is_running_setup` is true until it ends).
    pub fn spawn_setup(self: &Arc<Self>, org: OrgId, id: String) {
        self.running_jobs.fetch_add(1, Ordering::SeqCst);
        let engine = self.clone();
        tokio::spawn(async move {
            let _done = JobGuard(engine.clone());
            if let Err(err) = engine.run_setup(&org, &id).await {
                tracing::warn!(connection_id = %id, error = %err, "setup did not complete");
                // Never leave the flag stuck: a later health check or PATCH can try again.
                if let Ok(mut conn) = engine.load(&org, &id).await
                    && conn.is_running_setup
                {
                    conn.is_running_setup = false;
                    let _ = engine.save(&conn).await;
                }
            }
        });
    }

    fn job_finished(&self) {
        self.running_jobs.fetch_sub(1, Ordering::SeqCst);
        self.jobs_done.notify_waiters();
    }

    /// Waits until no background job is running (tests drain jobs this way instead of sleeping).
    pub async fn wait_idle(&self) {
        loop {
            let done = self.jobs_done.notified();
            if self.running_jobs.load(Ordering::SeqCst) == 0 {
                return;
            }
            done.await;
        }
    }

    /// Setup: discover environments and companies, pick them when there is exactly one, probe the
    /// companion extension, then check health.
    pub async fn run_setup(&self, org: &OrgId, id: &str) -> Result<Connection, EngineError> {
        // One setup per connection at a time; a later one waits and then sees the latest choices.
        let lock = self.setup_locks.lock_for(id);
        let _held = lock.lock().await;
        let conn = self.load(org, id).await?;
        let target = target_of(&conn).ok();
        let outcome = match self.session(&conn).await {
            Ok(session) => match self.connectors.get(conn.provider_name.as_str()) {
                Some(connector) => connector.discover(&session).await,
                None => Err(ConnectorError::Unsupported("no connector".into())),
            },
            Err(err) => Err(err),
        };
        // Re-read: the user may have changed the connection while discovery ran.
        let mut conn = self.load(org, id).await?;
        if target_of(&conn).ok() != target {
            // Discovery answered for a target that is no longer chosen; the setup started by that
            // change runs next and answers for the new one.
            return Ok(conn);
        }
        conn.is_running_setup = false;
        match outcome {
            Ok(found) => {
                apply_discovery(&mut conn, found, now());
                if conn.missing_settings.is_empty() {
                    self.check(&mut conn).await;
                    schedule_unscheduled(&mut conn);
                } else {
                    conn.health_status = HealthStatus::MissingSettings;
                    conn.health_message = Some(missing_message(&conn));
                    conn.health_checked_at = now();
                }
            }
            Err(err) => record_failure(&mut conn, &err),
        }
        self.save(&conn).await?;
        tracing::info!(connection_id = %id, health = conn.health_status.as_str(), "setup finished");
        if conn.is_configured() && conn.health_status == HealthStatus::Healthy {
            // The first syncs start now, not at the scheduler's next tick.
            if let Err(e) = self.schedule_due(crate::sync::SCHEDULER_BATCH).await {
                tracing::warn!(error = %e, "could not queue the first syncs; the scheduler will");
            }
        }
        self.reload(&conn).await
    }

    /// Checks the connection's health now and records the verdict.
    pub async fn check_health(&self, org: &OrgId, id: &str) -> Result<Connection, EngineError> {
        let mut conn = self.load(org, id).await?;
        if conn.is_authentication_pending
            || conn.is_running_setup
            || !conn.missing_settings.is_empty()
            || conn.company.is_none()
        {
            return Ok(conn);
        }
        self.check(&mut conn).await;
        schedule_unscheduled(&mut conn);
        self.save(&conn).await?;
        self.reload(&conn).await
    }

    async fn check(&self, conn: &mut Connection) {
        let mut result = self.try_check(conn, false).await;
        if matches!(&result, Err(e) if e.kind() == ledgerlink_connectors::ErrorKind::Transient) {
            // One failed call is not an outage: look again before saying so.
            result = self.try_check(conn, false).await;
        }
        if let Err(err) = &result
            && err.kind() == ledgerlink_connectors::ErrorKind::Unauthorized
            && self.uses_oauth(conn)
        {
            // The access token may have been invalidated early: one refresh, one retry.
            result = self.try_check(conn, true).await;
        }
        match result {
            Ok(()) => {
                conn.health_status = HealthStatus::Healthy;
                conn.health_message = None;
                conn.health_checked_at = now();
            }
            Err(err) => record_failure(conn, &err),
        }
    }

    async fn try_check(
        &self,
        conn: &Connection,
        force_refresh: bool,
    ) -> Result<(), ConnectorError> {
        let session = self.session_with(conn, force_refresh).await?;
        match self.connectors.get(conn.provider_name.as_str()) {
            Some(connector) => connector.health_check(&session).await,
            None => Err(ConnectorError::Unsupported("no connector".into())),
        }
    }

    /// Records that a call for this connection failed (syncs report failures here too).
    pub async fn record_call_failure(
        &self,
        conn: &Connection,
        err: &ConnectorError,
    ) -> Result<(), EngineError> {
        let mut conn = self.load(&conn.org_id, &conn.id).await?;
        record_failure(&mut conn, err);
        self.save(&conn).await
    }

    /// Credentials for one call, refreshing the access token ahead of expiry under the connection's
    /// lock. An `invalid_grant` marks the connection `authentication_failed`.
    pub async fn session(&self, conn: &Connection) -> Result<Session, ConnectorError> {
        self.session_with(conn, false).await
    }

    /// Like [`Engine::session`]; with `force_refresh`, the access token is refreshed even if it looks
    /// valid (after the ERP refused it), unless another caller refreshed it meanwhile.
    pub async fn session_with(
        &self,
        conn: &Connection,
        force_refresh: bool,
    ) -> Result<Session, ConnectorError> {
        let target = target_of(conn).map_err(|e| ConnectorError::NotConfigured(e.to_string()))?;
        let creds = self.credentials(conn, &target, force_refresh).await?;
        Ok(Session {
            target,
            credentials: creds.to_credentials(),
        })
    }

    async fn credentials(
        &self,
        conn: &Connection,
        target: &Target,
        force: bool,
    ) -> Result<StoredCredentials, ConnectorError> {
        let (creds, seen) = self.read_credentials(&conn.id).await?;
        if creds.refresh_at().is_none() || (!force && !needs_refresh(&creds)) {
            return Ok(creds);
        }
        let lock = self.locks.lock_for(&conn.id);
        let _held = lock.lock().await;
        // Someone may have refreshed while we waited for the lock.
        let (creds, version) = self.read_credentials(&conn.id).await?;
        if version != seen || (!force && !needs_refresh(&creds)) {
            return Ok(creds);
        }
        let StoredCredentials::Oauth {
            refresh_token: Some(refresh_token),
            ..
        } = &creds
        else {
            return Err(ConnectorError::Unauthorized {
                code: Some("no_refresh_token".into()),
                message: "the access token expired and there is no refresh token".into(),
            });
        };
        let connector = self
            .connectors
            .get(conn.provider_name.as_str())
            .ok_or_else(|| ConnectorError::Unsupported("no connector".into()))?;
        let tokens = connector
            .refresh(target, &SecretString::from(refresh_token.clone()))
            .await?;
        let mut fresh =
            StoredCredentials::from_tokens(&tokens, self.settings.refresh_margin, now());
        if let StoredCredentials::Oauth {
            refresh_token: new_refresh @ None,
            ..
        } = &mut fresh
        {
            // The endpoint did not rotate it: keep the one we have.
            *new_refresh = Some(refresh_token.clone());
        }
        let sealed = self.seal(&conn.id, &fresh);
        match self
            .store
            .put_secret(&conn.id, &sealed, Some(version), now())
            .await
        {
            Ok(true) => {
                tracing::info!(connection_id = %conn.id, "access token refreshed");
                Ok(fresh)
            }
            // Another process refreshed first; its tokens are the live ones.
            Ok(false) => Ok(self.read_credentials(&conn.id).await?.0),
            Err(e) => {
                tracing::error!(connection_id = %conn.id, error = %e, "storing refreshed tokens failed");
                Err(ConnectorError::transient(
                    "ledgerlink could not write its database",
                ))
            }
        }
    }

    async fn read_credentials(&self, id: &str) -> Result<(StoredCredentials, i64), ConnectorError> {
        let secret = self
            .store
            .get_secret(id)
            .await
            .map_err(|e| {
                tracing::error!(connection_id = %id, error = %e, "reading credentials failed");
                ConnectorError::transient("ledgerlink could not read its database")
            })?
            .ok_or_else(|| ConnectorError::Unauthorized {
                code: Some("no_credentials".into()),
                message: "no credentials are stored for this connection".into(),
            })?;
        let plain = self
            .vault
            .open_sealed(id, &secret.sealed)
            .map_err(|e| ConnectorError::NotConfigured(e.to_string()))?;
        let creds = serde_json::from_slice(&plain).map_err(|_| {
            ConnectorError::NotConfigured("stored credentials are unreadable".into())
        })?;
        Ok((creds, secret.version))
    }

    fn seal(&self, id: &str, creds: &StoredCredentials) -> SealedSecret {
        let plain = serde_json::to_vec(creds).expect("credentials serialize");
        SealedSecret {
            kind: creds.kind().into(),
            sealed: self.vault.seal(id, &plain),
            version: 1,
            expires_at: creds.expires_at(),
        }
    }

    async fn put_credentials(
        &self,
        id: &str,
        creds: &StoredCredentials,
    ) -> Result<(), EngineError> {
        let sealed = self.seal(id, creds);
        self.store.put_secret(id, &sealed, None, now()).await?;
        Ok(())
    }

    /// Revokes what the provider allows and forgets the credentials (before the connection is deleted).
    pub async fn disconnect(&self, conn: &Connection) {
        // Revoke with what is stored; refreshing a token only to revoke it is not worth the wait.
        let session = match (target_of(conn), self.read_credentials(&conn.id).await) {
            (Ok(target), Ok((creds, _))) => Some(Session {
                target,
                credentials: creds.to_credentials(),
            }),
            _ => None,
        };
        if let (Some(session), Some(connector)) =
            (session, self.connectors.get(conn.provider_name.as_str()))
            && let Err(err) = connector.revoke(&session).await
        {
            tracing::warn!(connection_id = %conn.id, error = %err, "could not revoke credentials");
        }
        if let Err(err) = self.store.delete_secret(&conn.id).await {
            tracing::warn!(connection_id = %conn.id, error = %err, "could not delete credentials");
        }
    }

    /// Restarts setups that a stopped process left half done (`is_running_setup` stuck at true).
    pub async fn resume_interrupted_setups(self: &Arc<Self>) -> Result<usize, EngineError> {
        let stuck = self.store.connections_running_setup(10_000).await?;
        for (org, id) in &stuck {
            tracing::info!(connection_id = %id, "resuming interrupted setup");
            self.spawn_setup(org.clone(), id.clone());
        }
        Ok(stuck.len())
    }

    /// Checks every set-up connection whose last check is older than `max_age`, oldest first.
    pub async fn check_stale(
        &self,
        max_age: chrono::Duration,
        batch: u32,
    ) -> Result<usize, EngineError> {
        let due = self
            .store
            .connections_due_for_health_check(now() - max_age, batch)
            .await?;
        for (org, id) in &due {
            if let Err(err) = self.check_health(org, id).await {
                tracing::warn!(connection_id = %id, error = %err, "periodic health check failed");
            }
        }
        Ok(due.len())
    }

    async fn load(&self, org: &OrgId, id: &str) -> Result<Connection, EngineError> {
        self.store
            .get_connection(org, id)
            .await?
            .ok_or(EngineError::NotFound)
    }

    async fn reload(&self, conn: &Connection) -> Result<Connection, EngineError> {
        self.load(&conn.org_id, &conn.id).await
    }

    async fn save(&self, conn: &Connection) -> Result<(), EngineError> {
        if self.store.save_connection_state(conn, now()).await? {
            Ok(())
        } else {
            Err(EngineError::NotFound)
        }
    }
}

/// Decrements the running-jobs count when a job ends, even by panic.
struct JobGuard(Arc<Engine>);

impl Drop for JobGuard {
    fn drop(&mut self) {
        self.0.job_finished();
    }
}

/// The settings a connection has not chosen yet.
fn unset_settings(conn: &Connection) -> Vec<String> {
    let mut missing = Vec::new();
    if !conn.is_on_premise && conn.environment.is_none() {
        missing.push("environment".to_owned());
    }
    if conn.company.is_none() {
        missing.push("company".to_owned());
    }
    missing
}

fn needs_refresh(creds: &StoredCredentials) -> bool {
    creds.refresh_at().is_some_and(|at| at <= now())
}

/// Where a connection's data lives, for the connector.
fn target_of(c: &Connection) -> Result<Target, EngineError> {
    let api_url = match (&c.api_url, c.is_on_premise) {
        (Some(url), true) => Some(
            url.parse()
                .map_err(|_| EngineError::Invalid(format!("api_url {url:?} is not a URL")))?,
        ),
        (None, true) => {
            return Err(EngineError::Invalid(
                "an on-premises connection needs api_url".into(),
            ));
        }
        (_, false) => None,
    };
    Ok(Target {
        api_url,
        tenant_id: c.tenant_id.clone(),
        environment: c.environment.clone(),
        company_id: c.company.clone(),
    })
}

fn apply_discovery(conn: &mut Connection, found: Discovery, at: DateTime<Utc>) {
    if found.tenant_id.is_some() {
        conn.tenant_id = found.tenant_id;
    }
    conn.environment = found.environment;
    conn.company = found.company_id.clone();
    conn.company_name = found.company_id.as_ref().and_then(|id| {
        found
            .companies
            .iter()
            .find(|c| &c.id == id)
            .map(|c| c.display_name.clone())
    });
    conn.missing_settings = unset_settings(conn);
    conn.discovery = Some(Discovered {
        environments: found.environments.into_iter().map(|e| e.name).collect(),
        companies: found
            .companies
            .into_iter()
            .map(|c| DiscoveredCompany {
                id: c.id,
                name: c.display_name,
            })
            .collect(),
        local_currency: found.local_currency,
    });
    if let Some(installed) = found.extension_installed {
        conn.set_extension_installed(installed, at);
    }
}

/// A configured, healthy connection always has its readable models scheduled: those without a
/// planned sync (never synced, or set up while the ERP was failing) get their first one now.
fn schedule_unscheduled(conn: &mut Connection) {
    if conn.health_status != HealthStatus::Healthy || !conn.missing_settings.is_empty() {
        return;
    }
    for m in conn.models.iter_mut().filter(|m| m.is_read_enabled) {
        m.next_sync_at.get_or_insert_with(now);
    }
}

fn missing_message(conn: &Connection) -> String {
    let found = conn.discovery.clone().unwrap_or_default();
    if conn.missing_settings.iter().any(|s| s == "environment") {
        if found.environments.is_empty() {
            return "This sign-in can reach no Business Central environment.".into();
        }
        return format!(
            "Several environments were found; choose one with PATCH (environment): {}.",
            found.environments.join(", ")
        );
    }
    if found.companies.is_empty() {
        return "The environment has no company this sign-in can read.".into();
    }
    let names: Vec<String> = found
        .companies
        .iter()
        .map(|c| format!("{} ({})", c.name, c.id))
        .collect();
    format!(
        "Several companies were found; choose one with PATCH (company): {}.",
        names.join(", ")
    )
}

fn record_failure(conn: &mut Connection, err: &ConnectorError) {
    if let Some((status, message)) = health_for(err) {
        conn.health_status = status;
        conn.health_message = Some(message);
        conn.health_checked_at = now();
    }
}
