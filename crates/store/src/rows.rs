//! Rows as the databases return them, and their conversion to domain types.

use chrono::{DateTime, Utc};
use ledgerlink_domain::{Connection, HealthStatus, Model, OrgId};
use sqlx::types::Json;

use crate::StoreError;

#[derive(sqlx::FromRow)]
pub(crate) struct ConnectionRow {
    id: String,
    org_id: String,
    provider_name: String,
    name: Option<String>,
    api_url: Option<String>,
    is_on_premise: bool,
    is_sync_disabled: bool,
    include_dimension_lines: bool,
    is_authentication_pending: bool,
    is_running_setup: bool,
    is_bc_extension_installed: bool,
    company: Option<String>,
    company_name: Option<String>,
    environment: Option<String>,
    tenant_id: Option<String>,
    authorization_url: Option<String>,
    owner_id: Option<String>,
    linked_integration_id: Option<String>,
    missing_settings: Json<Vec<String>>,
    health_status: String,
    health_message: Option<String>,
    health_checked_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    modified_at: DateTime<Utc>,
    discovery: Option<Json<ledgerlink_domain::Discovered>>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ModelRow {
    id: String,
    connection_id: String,
    name: String,
    display_name: String,
    is_read_enabled: bool,
    is_write_enabled: bool,
    is_read_supported: bool,
    is_write_supported: bool,
    is_sync_supported: bool,
    is_custom_object: bool,
    is_file_upload_enabled: bool,
    is_webhooks_setup: bool,
    sync_frequency_secs: i64,
    full_sync_frequency_secs: i64,
    next_sync_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    modified_at: DateTime<Utc>,
}

impl ConnectionRow {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn into_domain(self, models: Vec<Model>) -> Result<Connection, StoreError> {
        let health_status = HealthStatus::parse(&self.health_status).ok_or_else(|| {
            StoreError::Corrupt(format!("unknown health status {:?}", self.health_status))
        })?;
        Ok(Connection {
            id: self.id,
            org_id: OrgId(self.org_id),
            provider_name: self.provider_name,
            name: self.name,
            api_url: self.api_url,
            is_on_premise: self.is_on_premise,
            is_sync_disabled: self.is_sync_disabled,
            include_dimension_lines: self.include_dimension_lines,
            is_authentication_pending: self.is_authentication_pending,
            is_running_setup: self.is_running_setup,
            is_bc_extension_installed: self.is_bc_extension_installed,
            company: self.company,
            company_name: self.company_name,
            environment: self.environment,
            tenant_id: self.tenant_id,
            authorization_url: self.authorization_url,
            owner_id: self.owner_id,
            linked_integration_id: self.linked_integration_id,
            missing_settings: self.missing_settings.0,
            health_status,
            health_message: self.health_message,
            health_checked_at: self.health_checked_at,
            created_at: self.created_at,
            modified_at: self.modified_at,
            discovery: self.discovery.map(|d| d.0),
            models,
        })
    }
}

impl ModelRow {
    pub(crate) fn connection_id(&self) -> &str {
        &self.connection_id
    }

    pub(crate) fn into_domain(self) -> Model {
        Model {
            id: self.id,
            connection_id: self.connection_id,
            name: self.name,
            display_name: self.display_name,
            is_read_enabled: self.is_read_enabled,
            is_write_enabled: self.is_write_enabled,
            is_read_supported: self.is_read_supported,
            is_write_supported: self.is_write_supported,
            is_sync_supported: self.is_sync_supported,
            is_custom_object: self.is_custom_object,
            is_file_upload_enabled: self.is_file_upload_enabled,
            is_webhooks_setup: self.is_webhooks_setup,
            sync_frequency_secs: self.sync_frequency_secs,
            full_sync_frequency_secs: self.full_sync_frequency_secs,
            next_sync_at: self.next_sync_at,
            last_sync: None,
            created_at: self.created_at,
            modified_at: self.modified_at,
        }
    }
}

/// Joins connection rows with their model rows (ordered by connection then model), keeping the
/// connections' order.
pub(crate) fn assemble(
    connections: Vec<ConnectionRow>,
    models: Vec<ModelRow>,
) -> Result<Vec<Connection>, StoreError> {
    let mut by_connection: std::collections::HashMap<String, Vec<Model>> =
        std::collections::HashMap::with_capacity(connections.len());
    for model in models {
        by_connection
            .entry(model.connection_id().to_owned())
            .or_default()
            .push(model.into_domain());
    }
    connections
        .into_iter()
        .map(|row| {
            let models = by_connection.remove(row.id()).unwrap_or_default();
            row.into_domain(models)
        })
        .collect()
}

/// Puts each model's most recent sync on it.
pub(crate) fn attach_last_syncs(
    connections: &mut [Connection],
    syncs: Vec<crate::sync_sql::SyncRow>,
) -> Result<(), StoreError> {
    let mut by_model: std::collections::HashMap<String, ledgerlink_domain::Sync> =
        std::collections::HashMap::with_capacity(syncs.len());
    for row in syncs {
        let job = row.into_job()?;
        by_model.insert(job.sync.model_id.clone(), job.sync);
    }
    for c in connections {
        for m in &mut c.models {
            m.last_sync = by_model.remove(&m.id);
        }
    }
    Ok(())
}
