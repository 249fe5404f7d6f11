//! The state every request handler shares: configuration, the world, the clock, identity,
//! limits and faults, request counts, pending webhook notifications and the pause gate.

use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::{LimitsConfig, SimConfig};
use crate::hooks::Hooks;
use crate::identity::Identity;
use crate::limits::{Faults, Limits};
use crate::store::World;

/// Shared server state.
pub(crate) struct State {
    pub cfg: SimConfig,
    pub base_url: String,
    pub world: RwLock<World>,
    pub clock: Clock,
    pub identity: Mutex<Identity>,
    pub limits: Limits,
    pub faults: Mutex<Faults>,
    pub counts: Mutex<BTreeMap<String, u64>>,
    pub hooks: Hooks,
    pub gate: watch::Sender<bool>,
}

impl State {
    pub fn count(&self, key: &str) {
        *self
            .counts
            .lock()
            .expect("counts")
            .entry(key.to_string())
            .or_default() += 1;
    }

    /// Wait while processing is paused (test hook).
    pub async fn wait_gate(&self) {
        let mut rx = self.gate.subscribe();
        while *rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    pub fn set_limits(&self, l: LimitsConfig) {
        *self.limits.cfg.lock().expect("limits") = l;
        self.limits.reset();
    }

    pub fn info(&self) -> Value {
        let w = self.world.read().expect("world");
        let envs: Vec<Value> = w
            .envs
            .iter()
            .map(|e| {
                json!({
                    "tenant": e.tenant, "name": e.name, "kind": e.kind, "removed": e.removed,
                    "onPremTenant": (!e.onprem_tenant.is_empty()).then_some(&e.onprem_tenant),
                    "apiBase": if e.tenant.is_nil() { format!("{}/{}/api/v2.0", self.base_url, e.name) } else { format!("{}/v2.0/{}/{}/api/v2.0", self.base_url, e.tenant, e.name) },
                    "companies": e.companies.rows.values().map(|c| json!({"id": c.id, "name": c.name, "localCurrency": c.lcy, "extension": c.extension, "customers": c.customers.len(), "salesInvoices": c.invoices.len()})).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "baseUrl": self.base_url,
            "clientId": self.cfg.app.client_id, "clientSecret": self.cfg.app.client_secret,
            "redirectUris": self.cfg.app.redirect_uris, "user": self.cfg.user.upn,
            "onPrem": self.cfg.onprem.as_ref().map(|o| json!({"instance": o.instance, "user": o.user, "accessKey": o.access_key, "tenants": o.tenants})),
            "environments": envs,
        })
    }
}
