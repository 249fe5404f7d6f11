//! `bc-sim`: a Microsoft Dynamics 365 Business Central (API v2.0) simulator.
//!
//! One HTTP listener serves Entra-shaped identity (`/{tenant}/oauth2/v2.0/authorize|token`),
//! the environments list (`/environments/v1.2`), the cloud API
//! (`/v2.0/{tenant}/{environment}/api/v2.0/…`), the on-prem API (`/{instance}/api/v2.0/…`,
//! Basic auth), the ledgerlink companion extension (`/…/api/ledgerlink/ar/v1.0/…`) and an
//! admin API under `/_sim/…`. See the crate README for the full contract.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod admin;
mod admin_docs;
mod api;
mod apply;
mod auth_http;
mod batch;
mod clock;
mod company_info;
pub mod config;
mod customer_writes;
mod datagen;
mod doc_sets;
mod entities;
mod error;
mod expand;
mod extension;
mod filter;
mod hooks;
mod identity;
mod limits;
mod model;
mod odata;
mod onprem;
mod payments;
mod posting;
mod raw;
pub mod records;
mod respond;
mod routed;
mod serve;
mod sets;
mod sim_onprem;
mod sim_records;
mod state;
mod store;
mod stream;
mod token;
mod value;
mod webhooks;
mod write_body;
mod writes;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

pub use config::*;
pub use limits::PrincipalStats;
pub use records::{PaymentPosted, PaymentSpec, RawPatch};
use state::State;

/// The `$metadata` document served at `…/api/v2.0/$metadata` (verbatim real BC EDMX).
pub const METADATA_XML: &str = respond::METADATA;

/// A running simulator.
pub struct Sim {
    state: Arc<State>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    ticker: tokio::task::JoinHandle<()>,
}

fn build_world(cfg: &SimConfig) -> store::World {
    let mut w = store::World::default();
    let mut ver = 0u64;
    let mut n = 0usize;
    let mut make_env = |tenant: Uuid, name: &str, kind: &str, ver: &mut u64| {
        let mut env = store::Env {
            tenant,
            name: name.to_string(),
            kind: kind.to_string(),
            ..Default::default()
        };
        for i in 0..cfg.data.companies {
            let c = datagen::company(
                cfg.seed ^ ((n as u64) << 32),
                i,
                &cfg.data,
                ver,
                cfg.extension_installed,
            );
            env.companies.insert(c.id, c);
        }
        n += 1;
        env
    };
    for t in &cfg.tenants {
        for e in &t.environments {
            let env = make_env(t.id, &e.name, &e.kind, &mut ver);
            w.envs.push(env);
        }
    }
    if let Some(op) = &cfg.onprem {
        if op.tenants.is_empty() {
            let env = make_env(Uuid::nil(), &op.instance, "OnPrem", &mut ver);
            w.envs.push(env);
        }
        // A multitenant instance: one database (environment) per tenant.
        for t in &op.tenants {
            let mut env = make_env(Uuid::nil(), &op.instance, "OnPrem", &mut ver);
            env.onprem_tenant = t.clone();
            w.envs.push(env);
        }
    }
    w.ver = ver;
    w
}

impl Sim {
    /// Generate the dataset, bind `config.listen` (default `127.0.0.1:0`) and serve.
    pub async fn start(config: SimConfig) -> anyhow::Result<Sim> {
        let cfg2 = config.clone();
        let world = tokio::task::spawn_blocking(move || build_world(&cfg2)).await?;
        let listen = config
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (gate, _) = watch::channel(false);
        let state = Arc::new(State {
            base_url: format!("http://{addr}"),
            world: RwLock::new(world),
            clock: clock::Clock::default(),
            identity: Mutex::new(identity::Identity::new(&config)),
            limits: limits::Limits::new(config.limits.clone()),
            faults: Mutex::new(limits::Faults::new(config.faults.clone(), config.seed)),
            counts: Mutex::new(BTreeMap::new()),
            hooks: hooks::Hooks::default(),
            gate,
            cfg: config,
        });
        let st = state.clone();
        let app = axum::Router::new()
            .fallback(move |req: axum::extract::Request| {
                let st = st.clone();
                async move { api::handle(st, req).await }
            })
            // `Accept-Encoding: gzip` → gzipped body (as BC); plain when not asked.
            .layer(tower_http::compression::CompressionLayer::new());
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        let st = state.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if st.cfg.webhook_auto_delivery
                    && st.hooks.due(st.cfg.webhook_delay, st.clock.now_ms())
                {
                    st.hooks.flush(&st.world, st.clock.now_ms()).await;
                }
            }
        });
        Ok(Sim {
            state,
            addr,
            stop: Some(stop),
            task,
            ticker,
        })
    }

    /// `http://127.0.0.1:PORT` — every path shape is served here.
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// Bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration the simulator runs with.
    pub fn config(&self) -> &SimConfig {
        &self.state.cfg
    }

    /// First tenant's id.
    pub fn tenant_id(&self) -> Uuid {
        self.state
            .cfg
            .tenants
            .first()
            .map(|t| t.id)
            .unwrap_or_default()
    }

    /// First environment's name of the first tenant.
    pub fn environment(&self) -> String {
        self.state
            .cfg
            .tenants
            .first()
            .and_then(|t| t.environments.first())
            .map(|e| e.name.clone())
            .unwrap_or_default()
    }

    /// Application (client) id.
    pub fn client_id(&self) -> String {
        self.state.cfg.app.client_id.clone()
    }

    /// Client secret.
    pub fn client_secret(&self) -> String {
        self.state.cfg.app.client_secret.clone()
    }

    /// First registered redirect URI.
    pub fn redirect_uri(&self) -> String {
        self.state
            .cfg
            .app
            .redirect_uris
            .first()
            .cloned()
            .unwrap_or_default()
    }

    /// `{base}/{tenant}/oauth2/v2.0/authorize`.
    pub fn authorize_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/authorize",
            self.base_url(),
            self.tenant_id()
        )
    }

    /// `{base}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.base_url(), self.tenant_id())
    }

    /// `{base}/v2.0/{tenant}/{environment}/api/v2.0` of the first environment.
    pub fn api_base(&self) -> String {
        format!(
            "{}/v2.0/{}/{}/api/v2.0",
            self.base_url(),
            self.tenant_id(),
            self.environment()
        )
    }

    /// Company ids of the first environment (in creation order).
    pub fn company_ids(&self) -> Vec<Uuid> {
        self.companies_of(0)
    }

    fn companies_of(&self, env: usize) -> Vec<Uuid> {
        let w = self.state.world.read().expect("world");
        w.envs
            .get(env)
            .map(|e| e.companies.rows.values().map(|c| c.id).collect())
            .unwrap_or_default()
    }

    /// Same as `GET /_sim/info`.
    pub fn info(&self) -> Value {
        self.state.info()
    }

    /// Move the simulated clock forward.
    pub fn advance_clock(&self, by: Duration) {
        self.state.clock.advance(by.as_millis() as i64);
    }

    /// Simulated now (epoch ms).
    pub fn now_ms(&self) -> i64 {
        self.state.clock.now_ms()
    }

    /// Replace the fault configuration at runtime.
    pub fn set_faults(&self, f: FaultConfig) {
        self.state.faults.lock().expect("faults").cfg = f;
    }

    /// Replace the limits at runtime (resets per-principal state).
    pub fn set_limits(&self, l: LimitsConfig) {
        self.state.set_limits(l);
    }

    /// Per-principal limit counters.
    pub fn limit_stats(&self) -> std::collections::HashMap<String, PrincipalStats> {
        self.state.limits.stats()
    }

    /// Hold every API request after admission until `resume` (deterministic queue tests).
    pub fn pause(&self) {
        self.state.gate.send_replace(true);
    }

    /// Release paused requests.
    pub fn resume(&self) {
        self.state.gate.send_replace(false);
    }

    /// Revoke a tenant's consent: its refresh tokens die and issued access tokens are rejected.
    pub fn revoke_consent(&self, tenant: Uuid) {
        let now = self.now_ms();
        self.state
            .identity
            .lock()
            .expect("identity")
            .revoke_consent(tenant, now);
    }

    /// Grant a tenant's consent again.
    pub fn grant_consent(&self, tenant: Uuid) {
        let now = self.now_ms();
        self.state
            .identity
            .lock()
            .expect("identity")
            .grant_consent(tenant, now);
    }

    /// Refuse every access token issued so far (401), keeping refresh tokens valid.
    pub fn revoke_access_tokens(&self) {
        self.state
            .identity
            .lock()
            .expect("identity")
            .revoke_access_tokens();
    }

    /// Revoke every token issued so far.
    pub fn revoke_tokens(&self) {
        let now = self.now_ms();
        self.state
            .identity
            .lock()
            .expect("identity")
            .revoke_all_tokens(now);
    }

    /// Install or remove the companion extension in a company.
    pub fn set_extension(&self, company: Uuid, installed: bool) -> bool {
        let mut w = self.state.world.write().expect("world");
        let Some((e, k)) = w.find_company(&company) else {
            return false;
        };
        if let Some(c) = w.envs[e].companies.rows.get_mut(&k) {
            c.extension = installed;
        }
        true
    }

    /// Set a company's local currency (General Ledger Setup "LCY Code"): `companyInformation` reports
    /// it and the standard API shows it for blank currency codes. `false` if there is no such company.
    pub fn set_local_currency(&self, company: Uuid, code: &str) -> bool {
        let mut w = self.state.world.write().expect("world");
        let Some((e, k)) = w.find_company(&company) else {
            return false;
        };
        if let Some(c) = w.envs[e].companies.rows.get_mut(&k) {
            c.lcy = code.into();
        }
        true
    }

    /// Set a company's allowed posting range (General Ledger Setup "Allow Posting From" / "Allow
    /// Posting To"; `None`: open on that side). Journal posting refuses lines dated outside it with
    /// BC's "Posting Date is not within your range of allowed posting dates …". `false` if there
    /// is no such company.
    pub fn set_allowed_posting_dates(
        &self,
        company: Uuid,
        from: Option<chrono::NaiveDate>,
        to: Option<chrono::NaiveDate>,
    ) -> bool {
        let mut w = self.state.world.write().expect("world");
        let Some((e, k)) = w.find_company(&company) else {
            return false;
        };
        if let Some(c) = w.envs[e].companies.rows.get_mut(&k) {
            c.allow_posting_from = from;
            c.allow_posting_to = to;
        }
        true
    }

    /// Add a customer payment journal (a batch of the cash receipt template), as a finance user
    /// does in BC, balanced against the G/L account numbered `balancing_account` (`"2910"` Cash,
    /// `"2920"` Bank, as the seeded `GENERAL` batch uses 2910) or against nothing. Returns its id;
    /// `None` if there is no such company or account.
    pub fn add_payment_journal(
        &self,
        company: Uuid,
        code: &str,
        name: &str,
        balancing_account: Option<&str>,
    ) -> Option<Uuid> {
        let (bal_account_id, bal_account_no) = match balancing_account {
            Some(no) => model::GL_ACCOUNTS
                .iter()
                .find(|a| a.1 == no)
                .map(|a| (Uuid::from_u128(a.0), Box::<str>::from(a.1)))?,
            None => (Uuid::nil(), "".into()),
        };
        let now = self.state.clock.now_ms();
        let mut w = self.state.world.write().expect("world");
        let ver = w.next_ver();
        let (e, _) = w.find_company(&company)?;
        let co = w.envs[e].companies.get_mut(&company)?;
        let id = Uuid::new_v4();
        co.journals.insert(
            id,
            model::PaymentJournal {
                id,
                ver,
                code: code.to_uppercase().into(),
                name: name.into(),
                bal_account_id,
                bal_account_no,
                modified: now,
            },
        );
        Some(id)
    }

    /// A company's customer payment journals: `(code, display name, balancing G/L account number)`
    /// (the number empty where there is none), in code order.
    pub fn payment_journals(&self, company: Uuid) -> Vec<(String, String, String)> {
        let w = self.state.world.read().expect("world");
        let Some((e, _)) = w.find_company(&company) else {
            return Vec::new();
        };
        let Some(co) = w.envs[e].companies.get(&company) else {
            return Vec::new();
        };
        let mut out: Vec<_> = co
            .journals
            .rows
            .values()
            .map(|j| {
                (
                    j.code.to_string(),
                    j.name.to_string(),
                    j.bal_account_no.to_string(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// Remove (or restore) an environment (`Uuid::nil()` + instance: every tenant of the on-prem
    /// instance).
    pub fn set_environment_removed(&self, tenant: Uuid, env: &str, removed: bool) -> bool {
        let mut w = self.state.world.write().expect("world");
        let found = w.env_indices(tenant, env);
        for i in &found {
            w.envs[*i].removed = removed;
        }
        !found.is_empty()
    }

    /// Delete a company.
    pub fn remove_company(&self, company: Uuid) -> bool {
        let mut w = self.state.world.write().expect("world");
        let Some((e, _)) = w.find_company(&company) else {
            return false;
        };
        w.envs[e].companies.remove(&company).is_some()
    }

    /// Deliver pending webhook notifications now; returns how many were delivered.
    pub async fn flush_webhooks(&self) -> usize {
        self.state
            .hooks
            .flush(&self.state.world, self.state.clock.now_ms())
            .await
    }

    /// Request counts per endpoint (`"GET /api/v2.0/companies/salesInvoices"` → n).
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.state.counts.lock().expect("counts").clone()
    }

    /// Stop serving (graceful: in-flight requests finish, up to 5 s).
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.ticker.abort();
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
        self.task.abort();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // A simulator dropped without `shutdown` stops serving too.
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.ticker.abort();
    }
}
