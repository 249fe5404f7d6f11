//! What the connections API returns: the seed's Connection object, field for field.

use chrono::{DateTime, Utc};
use ledgerlink_domain::{Connection, Health, Model, Provider, Sync, catalog};
use serde::Serialize;
use utoipa::ToSchema;

/// Microsoft Dynamics Business Central integration connection.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionOut {
    /// When the connection was created.
    #[serde(serialize_with = "ledgerlink_domain::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// When the connection last changed.
    #[schema(required = true)]
    #[serde(serialize_with = "ledgerlink_domain::timestamp::serialize_option")]
    pub modified_at: Option<DateTime<Utc>>,
    /// Connection id (`conn_…`).
    pub id: String,
    /// Whether this connection is still pending authentication. This is normally only used for
    /// oauth2 connections.
    pub is_authentication_pending: bool,
    /// Whether the background setup (environment and company discovery) is running.
    pub is_running_setup: bool,
    /// Whether sync tasks are disabled. The intent of this column is to temporarily pause sync
    /// tasks for maintenance/deploys/etc.
    pub is_sync_disabled: bool,
    /// The connection's health.
    pub health: Health,
    /// List of unified models synced through this connection
    pub models: Vec<ModelOut>,
    /// When the next sync is scheduled to run.
    #[schema(required = true)]
    #[serde(serialize_with = "ledgerlink_domain::timestamp::serialize_option")]
    pub next_sync_at: Option<DateTime<Utc>>,
    /// User defined name of the linked integration.
    #[schema(required = true)]
    pub name: Option<String>,
    /// The user who owns the connection.
    #[schema(required = true)]
    pub owner_id: Option<String>,
    /// Whether a setting must be chosen before the connection can sync (see `missing_settings`).
    pub requires_setup: bool,
    /// The provider this connection is for.
    #[schema(example = "ms-dynamics-bc")]
    pub provider_name: String,
    /// The base URL for the Business Central API. Only used for on premise instances.
    #[schema(required = true)]
    pub api_url: Option<String>,
    /// The company id associated with the Business Central connection. This is used to identify
    /// the specific company within the Business Central environment.
    #[schema(required = true)]
    pub company: Option<String>,
    /// The company name associated with the Business Central connection.
    #[schema(required = true)]
    pub company_name: Option<String>,
    /// The name of the Business Central environment this connection is using.
    #[schema(required = true)]
    pub environment: Option<String>,
    /// Whether querying dimension lines is supported.
    pub include_dimension_lines: bool,
    /// Whether the Stuut Business Central extension has been installed.
    pub is_bc_extension_installed: bool,
    /// Whether the MS Dynamics BC instance is on-premise or cloud-based.
    pub is_on_premise: bool,
    /// The tenant ID associated with the MS Dynamics BC connection.
    #[schema(required = true)]
    pub tenant_id: Option<String>,
    /// String representing the object's type. Objects of the same type share the same value.
    #[schema(example = "integration_connection")]
    pub object: &'static str,
    /// The authorization url for this connection.
    #[schema(required = true)]
    pub authorization_url: Option<String>,
    /// The integration provider for this connection.
    pub provider: Provider,
    /// Whether the integration connection is configured.
    pub is_configured: bool,
    /// List of missing settings: `environment` and `company` hold up syncing (and make
    /// `requires_setup` true and health `missing_settings`); `payment_journal` (listed only while
    /// payment writes are enabled and no customer payment journal is chosen — the company has
    /// several, or none with a balancing account) holds up payment writes only: health, syncing and
    /// `requires_setup` are unaffected, and `POST …/records/payments` answers 409 naming the choices.
    pub missing_settings: Vec<String>,

    /// Whether the integration connection is healthy. This is determined based on a few checks:
    /// 1. Configuration (e.g. settings) 2. Connection 3. Permissions
    pub is_healthy: bool,
    /// The v1 linked integration id.
    #[schema(required = true)]
    pub linked_integration_id: Option<String>,
}

/// One unified model synced through a connection, with its switches and schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelOut {
    /// When the model was created.
    #[serde(serialize_with = "ledgerlink_domain::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// When the model last changed.
    #[schema(required = true)]
    #[serde(serialize_with = "ledgerlink_domain::timestamp::serialize_option")]
    pub modified_at: Option<DateTime<Utc>>,
    /// Model id (`mdl_…`).
    pub id: String,
    /// Machine name of the unified model (`customers`, `invoices`, …).
    pub name: String,
    /// Whether records are read from the ERP.
    pub is_read_enabled: bool,
    /// Whether records are written back to the ERP.
    pub is_write_enabled: bool,
    /// Whether the model comes from a custom object (the companion extension).
    pub is_custom_object: bool,
    /// Whether records can be supplied by file upload.
    pub is_file_upload_enabled: bool,
    /// Whether ERP webhooks are set up for this model.
    pub is_webhooks_setup: bool,
    /// When the next sync of this model is scheduled to run.
    #[schema(required = true)]
    #[serde(serialize_with = "ledgerlink_domain::timestamp::serialize_option")]
    pub next_sync_at: Option<DateTime<Utc>>,
    /// The connection the model belongs to.
    pub connection_id: String,
    /// The model's latest sync.
    #[schema(required = true)]
    pub last_sync: Option<Sync>,
    /// String representing the object's type: `integration_model`.
    #[schema(example = "integration_model")]
    pub object: &'static str,
    /// Human-readable name of the model.
    pub display_name: String,
    /// Whether the provider supports reading this model.
    pub is_read_supported: bool,
    /// Whether the provider supports writing this model.
    pub is_write_supported: bool,
    /// Whether the model can be synced.
    pub is_sync_supported: bool,
}

impl ConnectionOut {
    /// The connection as answered: with a fresh `authorization_url` for cloud connections, and a
    /// `missing_settings` health when this server has no OAuth app to authorize it with.
    pub fn render(c: Connection, engine: &ledgerlink_engine::Engine) -> Self {
        let url = engine.authorization_url(&c);
        let unconfigured = c.is_authentication_pending && engine.oauth_unconfigured(&c);
        let mut out = ConnectionOut::from(c);
        out.authorization_url = url;
        if unconfigured {
            out.health = ledgerlink_domain::Health::new(
                ledgerlink_domain::HealthStatus::MissingSettings,
                Some(
                    "This ledgerlink server has no Microsoft Entra app configured, so cloud \
                     connections cannot be authorized. Ask its operator to set entra_client_id, \
                     entra_client_secret and entra_redirect_uri.",
                ),
                out.health.timestamp,
            );
            // Nothing the connection's user can PATCH fixes this: the server's operator must act.
            out.health.suggested_resolution = "The operator of this ledgerlink server must \
                configure its Microsoft Entra app (settings entra_client_id, entra_client_secret \
                and, if browsers reach the server under another address, public_url or \
                entra_redirect_uri: LEDGERLINK_ENTRA_CLIENT_ID, LEDGERLINK_ENTRA_CLIENT_SECRET) and \
                restart it; the connection then gets its authorization_url."
                .into();
            out.is_healthy = false;
        }
        out
    }
}

impl From<Connection> for ConnectionOut {
    fn from(c: Connection) -> Self {
        let health = c.health();
        let missing_settings = c.all_missing_settings();
        let provider = catalog::provider(&c.provider_name)
            .cloned()
            .unwrap_or_else(|| unknown_provider(&c.provider_name));
        ConnectionOut {
            is_healthy: health.healthy,
            is_configured: c.is_configured(),
            requires_setup: c.requires_setup(),
            next_sync_at: c.next_sync_at(),
            health,
            provider,
            created_at: c.created_at,
            modified_at: Some(c.modified_at),
            id: c.id,
            is_authentication_pending: c.is_authentication_pending,
            is_running_setup: c.is_running_setup,
            is_sync_disabled: c.is_sync_disabled,
            models: c.models.into_iter().map(ModelOut::from).collect(),
            name: c.name,
            owner_id: c.owner_id,
            provider_name: c.provider_name,
            api_url: c.api_url,
            company: c.company,
            company_name: c.company_name,
            environment: c.environment,
            include_dimension_lines: c.include_dimension_lines,
            is_bc_extension_installed: c.is_bc_extension_installed,
            is_on_premise: c.is_on_premise,
            tenant_id: c.tenant_id,
            object: "integration_connection",
            authorization_url: c.authorization_url,
            missing_settings,
            linked_integration_id: c.linked_integration_id,
        }
    }
}

/// A stored connection whose provider left the catalog still serializes (disabled, no models).
pub(super) fn unknown_provider(name: &str) -> Provider {
    let mut provider = catalog::providers()[0].clone();
    provider.name = "unknown";
    provider.display_name = "Unknown provider";
    provider.is_enabled = false;
    tracing::warn!(
        provider = name,
        "connection refers to a provider that is not in the catalog"
    );
    provider
}

impl From<Model> for ModelOut {
    fn from(m: Model) -> Self {
        ModelOut {
            created_at: m.created_at,
            modified_at: Some(m.modified_at),
            id: m.id,
            name: m.name,
            is_read_enabled: m.is_read_enabled,
            is_write_enabled: m.is_write_enabled,
            is_custom_object: m.is_custom_object,
            is_file_upload_enabled: m.is_file_upload_enabled,
            is_webhooks_setup: m.is_webhooks_setup,
            next_sync_at: m.next_sync_at,
            connection_id: m.connection_id,
            last_sync: m.last_sync,
            object: "integration_model",
            display_name: m.display_name,
            is_read_supported: m.is_read_supported,
            is_write_supported: m.is_write_supported,
            is_sync_supported: m.is_sync_supported,
        }
    }
}
