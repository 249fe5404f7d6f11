//! `Sim`'s on-premises accessors (server instance, credentials, tenants of a multitenant instance).

use uuid::Uuid;

use crate::Sim;

impl Sim {
    /// `{base}/{instance}/api/v2.0` when on-prem is configured.
    pub fn onprem_api_base(&self) -> Option<String> {
        self.state
            .cfg
            .onprem
            .as_ref()
            .map(|o| format!("{}/{}/api/v2.0", self.base_url(), o.instance))
    }

    /// On-prem Basic credentials (user, web service access key).
    pub fn onprem_credentials(&self) -> Option<(String, String)> {
        self.state
            .cfg
            .onprem
            .as_ref()
            .map(|o| (o.user.clone(), o.access_key.clone()))
    }

    /// Tenant ids of a multitenant on-prem instance (empty when single-tenant or no on-prem).
    /// Address them as `{onprem_api_base}/…?tenant={id}`.
    pub fn onprem_tenants(&self) -> Vec<String> {
        self.state
            .cfg
            .onprem
            .as_ref()
            .map(|o| o.tenants.clone())
            .unwrap_or_default()
    }

    /// Company ids of one tenant of a multitenant on-prem instance.
    pub fn onprem_tenant_company_ids(&self, tenant: &str) -> Vec<Uuid> {
        let w = self.state.world.read().expect("world");
        let Some(op) = &self.state.cfg.onprem else {
            return Vec::new();
        };
        w.onprem_index(&op.instance, tenant)
            .map(|i| w.envs[i].companies.rows.values().map(|c| c.id).collect())
            .unwrap_or_default()
    }

    /// Company ids of the on-prem instance (of its first tenant when multitenant).
    pub fn onprem_company_ids(&self) -> Vec<Uuid> {
        let w = self.state.world.read().expect("world");
        w.envs
            .iter()
            .position(|e| e.tenant.is_nil())
            .map(|i| w.envs[i].companies.rows.values().map(|c| c.id).collect())
            .unwrap_or_default()
    }
}
