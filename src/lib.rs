#![forbid(unsafe_code)]
//! The `ledgerlink` service: configuration, start-up and shutdown. The binary in `main.rs` is a thin CLI
//! over this library, and the black-box tests in `tests/` start the same server on port 0.

pub mod allocator;
pub mod config;
pub mod sandbox;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use ledgerlink_api::server::ServeSettings;
use ledgerlink_api::{ApiSettings, InputRules};
use ledgerlink_connectors::business_central::{BcConfig, BusinessCentral, EntraApp};
use ledgerlink_connectors::{Connector, SsrfPolicy};
use ledgerlink_engine::{Engine, EngineSettings, KeySource, Vault};
use ledgerlink_store::{Store, generate_api_key};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::Config;

/// Name of the organization created on an empty database.
pub const DEFAULT_ORG: &str = "default";

/// Opens the configured store and applies migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = config
        .database_url
        .as_ref()
        .map(|u| u.expose_secret().to_owned());
    ledgerlink_store::open(url.as_deref(), &config.data_dir)
        .await
        .context("opening the database")
}

/// On a database with no organization, creates [`DEFAULT_ORG`] and an API key for it, and returns the
/// key (the only time it exists in plaintext). `None` when the database was already set up.
pub async fn bootstrap(store: &dyn Store) -> anyhow::Result<Option<String>> {
    if store.count_orgs().await? > 0 {
        return Ok(None);
    }
    match create_named_api_key(store, DEFAULT_ORG, Some("first key")).await {
        Ok(key) => Ok(Some(key)),
        // Another process bootstrapped the same database at the same moment.
        Err(_) if store.count_orgs().await? > 0 => Ok(None),
        Err(err) => Err(err),
    }
}

/// Creates an API key for the organization `org`, creating the organization if it does not exist.
/// Returns the key's plaintext.
pub async fn create_api_key(store: &dyn Store, org: &str) -> anyhow::Result<String> {
    create_named_api_key(store, org, None).await
}

/// [`create_api_key`] with a name saying what the key is for.
pub async fn create_named_api_key(
    store: &dyn Store,
    org: &str,
    name: Option<&str>,
) -> anyhow::Result<String> {
    let org = org.trim();
    anyhow::ensure!(
        !org.is_empty() && org.len() <= 100,
        "organization name must be 1 to 100 characters"
    );
    let name = name.map(check_key_name).transpose()?;
    let now = ledgerlink_domain::now();
    let org_id = match store.org_by_name(org).await? {
        Some(id) => id,
        None => store.create_org(org, now).await?,
    };
    let key = generate_api_key();
    store.insert_api_key(&org_id, &key, name, now).await?;
    Ok(key.plaintext)
}

/// A key's name: 1 to 100 characters without control characters, trimmed.
fn check_key_name(name: &str) -> anyhow::Result<&str> {
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty() && name.chars().count() <= 100 && !name.chars().any(char::is_control),
        "a key name must be 1 to 100 printable characters"
    );
    Ok(name)
}

/// Every API key (of the organization named `org`, when given), newest first, revoked included.
pub async fn list_api_keys(
    store: &dyn Store,
    org: Option<&str>,
) -> anyhow::Result<Vec<ledgerlink_store::ApiKeyInfo>> {
    let org_id = match org {
        Some(name) => Some(
            store
                .org_by_name(name.trim())
                .await?
                .with_context(|| format!("no organization named {name:?}"))?,
        ),
        None => None,
    };
    Ok(store.list_api_keys(org_id.as_ref()).await?)
}

/// Revokes the key `id` at once; its requests are refused from the next one on, in every process.
pub async fn revoke_api_key(
    store: &dyn Store,
    id: &str,
) -> anyhow::Result<ledgerlink_store::ApiKeyInfo> {
    let id = id.trim();
    let key = active_key(store, id).await?;
    let org = ledgerlink_domain::OrgId(key.org_id.clone());
    anyhow::ensure!(
        store
            .revoke_api_key(&org, id, ledgerlink_domain::now())
            .await?,
        "API key {id} is already revoked"
    );
    Ok(key)
}

/// Replaces the key `id` with a new one of the same name and organization, and returns the new
/// key's plaintext. The old key stops working after `grace` (at once for zero).
pub async fn rotate_api_key(
    store: &dyn Store,
    id: &str,
    grace: std::time::Duration,
) -> anyhow::Result<String> {
    let id = id.trim();
    let key = active_key(store, id).await?;
    // A key already on its way out (in a rotation's grace period) is not rotated again: that would
    // mint another permanent key of the same name.
    anyhow::ensure!(
        key.revoked_at.is_none(),
        "API key {id} is already being rotated (it stops at its grace period's end)"
    );
    let org = ledgerlink_domain::OrgId(key.org_id);
    let new = generate_api_key();
    let now = ledgerlink_domain::now();
    let until = now + chrono::TimeDelta::from_std(grace).context("grace period too long")?;
    anyhow::ensure!(
        store.rotate_api_key(&org, id, &new, now, until).await?,
        "API key {id} is already revoked"
    );
    Ok(new.plaintext)
}

async fn active_key(store: &dyn Store, id: &str) -> anyhow::Result<ledgerlink_store::ApiKeyInfo> {
    let key = store
        .get_api_key(None, id.trim())
        .await?
        .with_context(|| format!("no API key with id {id:?} (see `ledgerlink api-keys list`)"))?;
    anyhow::ensure!(
        key.is_active(ledgerlink_domain::now()),
        "API key {id} is already revoked"
    );
    Ok(key)
}

/// The engine for `config` over `store`: the vault (master key from config or the data directory)
/// and the Business Central connector with its Entra app, base URLs and SSRF policy.
pub fn engine(config: &Config, store: Arc<dyn Store>) -> anyhow::Result<Arc<Engine>> {
    engine_with_clock(config, store, Arc::new(ledgerlink_domain::SystemClock))
}

/// Like [`engine`], reading time from `clock` (tests move a [`ledgerlink_domain::TestClock`]).
pub fn engine_with_clock(
    config: &Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn ledgerlink_domain::Clock>,
) -> anyhow::Result<Arc<Engine>> {
    let vault = Vault::open(config.secret_key.as_ref(), &config.data_dir)?;
    if let KeySource::Generated(path) = &vault.source {
        tracing::warn!(
            path = %path.display(),
            "generated a new secret key for credentials; back it up (without it stored credentials \
             cannot be read), or set secret_key"
        );
    }
    let mut ssrf = SsrfPolicy::default().with_http(config.allow_http_api_url);
    for host in &config.allowed_hosts {
        ssrf = ssrf.try_allow(host).map_err(anyhow::Error::msg)?;
    }
    let app = match config.entra() {
        Some(entra) => Some(EntraApp::new(
            entra.client_id,
            entra.client_secret,
            config
                .redirect_uri()
                .parse()
                .context("entra_redirect_uri")?,
        )),
        None => None,
    };
    let bc = BusinessCentral::new(BcConfig {
        login_base_url: config
            .bc_login_base_url
            .parse()
            .context("bc_login_base_url")?,
        api_base_url: config.bc_api_base_url.parse().context("bc_api_base_url")?,
        app,
        ssrf: ssrf.clone(),
        ..BcConfig::default()
    })?;
    let connectors: Vec<Arc<dyn Connector>> = vec![Arc::new(bc)];
    let retry = ledgerlink_engine::RetryPolicy {
        base: std::time::Duration::from_millis(config.sync_retry_base_ms),
        ..ledgerlink_engine::RetryPolicy::default()
    };
    Ok(Engine::new(
        store,
        Arc::new(vault),
        connectors,
        EngineSettings {
            ssrf,
            sync: ledgerlink_engine::SyncSettings {
                page_size: config.sync_page_size,
                write_chunk: config.sync_write_chunk,
                write_chunk_bytes: config.sync_write_chunk_bytes,
                write_interval: chrono::Duration::milliseconds(
                    config.sync_write_interval_ms as i64,
                ),
                lease: chrono::Duration::seconds(config.sync_lease_secs as i64),
                workers: config.workers,
                retry,
                ..ledgerlink_engine::SyncSettings::default()
            },
            jobs: ledgerlink_engine::JobSettings {
                retry,
                health_check_interval: (config.health_check_interval_secs > 0)
                    .then(|| chrono::Duration::seconds(config.health_check_interval_secs as i64)),
                ..ledgerlink_engine::JobSettings::default()
            },
            clock,
            ..EngineSettings::default()
        },
    ))
}

/// The HTTP application for `config` over `engine`.
pub fn app(config: &Config, engine: Arc<Engine>) -> axum::Router {
    ledgerlink_api::app(
        engine,
        ApiSettings {
            max_body_bytes: config.max_body_bytes,
            tenant_requests_per_second: config.tenant_requests_per_second,
            rules: InputRules {
                allow_http_api_url: config.allow_http_api_url,
            },
            public_url: config.public_url.clone(),
        },
    )
}

/// How connections are served: the configured timeouts, and the connection cap fitted to the
/// process's open-file limit.
pub fn serve_settings(config: &Config) -> ServeSettings {
    ServeSettings {
        header_read_timeout: std::time::Duration::from_secs(config.header_read_timeout_secs),
        idle_timeout: std::time::Duration::from_secs(config.idle_timeout_secs),
        body_read_timeout: std::time::Duration::from_secs(config.body_read_timeout_secs),
        max_connections: ledgerlink_api::server::fit_to_fd_limit(config.max_connections),
    }
}

/// A server running in the background (what tests and `serve` use).
pub struct Running {
    /// Where it listens (the real port when the configuration said port 0).
    pub addr: SocketAddr,
    /// The store it uses.
    pub store: Arc<dyn Store>,
    /// Its engine (tests run background jobs with [`Engine::drain_jobs`]).
    pub engine: Arc<Engine>,
    /// The API key created on an empty database, if this start created one.
    pub bootstrap_key: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets requests in flight finish, and waits.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await??;
        Ok(())
    }

    /// Waits until the server stops on its own (its shutdown signal fired).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        (&mut self.task).await??;
        Ok(())
    }
}

/// Opens the store, bootstraps it, binds `config.listen` and serves until `shutdown` completes or
/// [`Running::shutdown`] is called.
pub async fn start(
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    start_on(config, listener, shutdown).await
}

/// Like [`start`], on a listener the caller bound (tests bind first to learn the port, so the OAuth
/// redirect URI can name it).
pub async fn start_on(
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    start_with_clock(
        config,
        listener,
        shutdown,
        Arc::new(ledgerlink_domain::SystemClock),
    )
    .await
}

/// Like [`start_on`], reading time from `clock`.
pub async fn start_with_clock(
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn ledgerlink_domain::Clock>,
) -> anyhow::Result<Running> {
    let store = open_store(config).await?;
    let bootstrap_key = bootstrap(&*store).await?;
    let engine = engine_with_clock(config, store.clone(), clock)?;
    let addr = listener.local_addr()?;
    let app = app(config, engine.clone());
    let serve_settings = serve_settings(config);
    let (stop, stopped) = oneshot::channel::<()>();
    if config.workers == 0 {
        tracing::warn!(
            "this process runs no background work (setup, health checks, syncs): run at least one \
             `ledgerlink serve --role worker` (or set workers above 0) on the same database"
        );
    }
    let workers = ledgerlink_engine::spawn_workers(engine.clone(), config.workers);
    let task = tokio::spawn(async move {
        let stop = async move {
            tokio::select! {
                _ = shutdown => {}
                _ = stopped => {}
            }
        };
        let result = ledgerlink_api::server::serve(listener, app, serve_settings, stop).await;
        // Workers finish the page they are writing and hand their syncs back.
        workers.stop(std::time::Duration::from_secs(30)).await;
        result
    });
    Ok(Running {
        addr,
        store,
        engine,
        bootstrap_key,
        stop: Some(stop),
        task,
    })
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}
