//! Connections and their models: the state we store and the rules derived from it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{ModelSpec, Provider};
use crate::health::{Health, HealthStatus};
use crate::ids::{OrgId, new_id};
use crate::sync::Sync;

/// A connection as stored, with its models.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub id: String,
    pub org_id: OrgId,
    pub provider_name: String,
    pub name: Option<String>,
    pub api_url: Option<String>,
    pub is_on_premise: bool,
    pub is_sync_disabled: bool,
    pub include_dimension_lines: bool,
    pub is_authentication_pending: bool,
    pub is_running_setup: bool,
    pub is_bc_extension_installed: bool,
    pub company: Option<String>,
    pub company_name: Option<String>,
    pub environment: Option<String>,
    pub tenant_id: Option<String>,
    pub authorization_url: Option<String>,
    pub owner_id: Option<String>,
    pub linked_integration_id: Option<String>,
    /// The customer payment journal (its code) whose balancing account payment write-back follows;
    /// picked by setup when the company has exactly one, else chosen by the user.
    pub payment_journal: Option<String>,
    /// Settings that must be chosen before syncing (`environment`, `company`). What is reported
    /// adds `payment_journal` when payment writes need it: see [`Connection::all_missing_settings`].
    pub missing_settings: Vec<String>,
    /// The last health verdict of a check; see [`Connection::health`] for what is reported.
    pub health_status: HealthStatus,
    /// A check's precise message, when it had one.
    pub health_message: Option<String>,
    pub health_checked_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    /// What setup found at the ERP: the valid choices for `environment` and `company`.
    pub discovery: Option<Discovered>,
    pub models: Vec<Model>,
}

/// The environments and companies setup found, so a user's choice can be checked against them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovered {
    /// Environment names (empty where the ERP has none, e.g. on-premises).
    pub environments: Vec<String>,
    /// Companies of the chosen (or only) environment.
    pub companies: Vec<DiscoveredCompany>,
    /// The chosen company's local currency code (BC "LCY Code"), which blank currency codes stand for;
    /// `None` when unknown. Absent in rows stored before it existed.
    #[serde(default)]
    pub local_currency: Option<String>,
    /// The chosen company's customer payment journals (ledgerlink's own batches left out); `None`
    /// when they were not read (no company yet, not readable, or stored before they were).
    #[serde(default)]
    pub payment_journals: Option<Vec<DiscoveredJournal>>,
}

/// One customer payment journal found by setup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveredJournal {
    /// The journal batch's code (BC: its name, e.g. `CASH`).
    pub code: String,
    /// Its display name.
    pub name: String,
    /// Whether it has a balancing account (payments posted without one would be unbalanced).
    pub has_balancing_account: bool,
}

/// The setting payment write-back needs; it never holds up reading.
pub const PAYMENT_JOURNAL_SETTING: &str = "payment_journal";

/// One company found by setup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveredCompany {
    /// The ERP's company id.
    pub id: String,
    /// Its display name.
    pub name: String,
}

/// How often a model runs a scheduled full pass unless the user says otherwise: daily.
pub const DEFAULT_FULL_SYNC_FREQUENCY_SECS: i64 = 86_400;

/// One synced object type of a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub id: String,
    pub connection_id: String,
    pub name: String,
    pub display_name: String,
    pub is_read_enabled: bool,
    pub is_write_enabled: bool,
    pub is_read_supported: bool,
    pub is_write_supported: bool,
    pub is_sync_supported: bool,
    pub is_custom_object: bool,
    pub is_file_upload_enabled: bool,
    pub is_webhooks_setup: bool,
    pub sync_frequency_secs: i64,
    /// Seconds between the model's scheduled full passes (which find deletions).
    pub full_sync_frequency_secs: i64,
    pub next_sync_at: Option<DateTime<Utc>>,
    pub last_sync: Option<Sync>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

/// What a caller supplies to create a connection (already validated).
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub provider: &'static Provider,
    pub name: Option<String>,
    pub api_url: Option<String>,
    pub is_on_premise: bool,
}

/// Changes to a connection; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ConnectionChanges {
    pub name: Option<Option<String>>,
    pub api_url: Option<Option<String>>,
    pub company: Option<Option<String>>,
    pub environment: Option<Option<String>>,
    pub is_sync_disabled: Option<bool>,
    pub include_dimension_lines: Option<bool>,
    pub payment_journal: Option<Option<String>>,
}

impl ConnectionChanges {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.api_url.is_none()
            && self.company.is_none()
            && self.environment.is_none()
            && self.is_sync_disabled.is_none()
            && self.include_dimension_lines.is_none()
            && self.payment_journal.is_none()
    }
}

impl Connection {
    /// A brand-new connection with one model per catalog entry, waiting for authentication.
    pub fn create(org_id: OrgId, new: NewConnection, now: DateTime<Utc>) -> Connection {
        let id = new_id("conn");
        let models = new
            .provider
            .models
            .iter()
            .map(|spec| Model::create(&id, spec, false, now))
            .collect();
        Connection {
            id,
            org_id,
            provider_name: new.provider.name.to_owned(),
            name: new.name,
            api_url: new.api_url,
            is_on_premise: new.is_on_premise,
            is_sync_disabled: false,
            include_dimension_lines: false,
            is_authentication_pending: true,
            is_running_setup: false,
            is_bc_extension_installed: false,
            company: None,
            company_name: None,
            environment: None,
            tenant_id: None,
            authorization_url: None,
            owner_id: None,
            linked_integration_id: None,
            payment_journal: None,
            missing_settings: Vec::new(),
            health_status: HealthStatus::AuthenticationPending,
            health_message: None,
            health_checked_at: now,
            created_at: now,
            modified_at: now,
            discovery: None,
            models,
        }
    }

    /// Health as reported: pending authentication and paused syncs win over the last check.
    pub fn health(&self) -> Health {
        let status = if self.is_authentication_pending {
            HealthStatus::AuthenticationPending
        } else if !self.missing_settings.is_empty() {
            HealthStatus::MissingSettings
        } else if self.is_sync_disabled && self.health_status == HealthStatus::Healthy {
            HealthStatus::SyncDisabled
        } else {
            self.health_status
        };
        let message = if status == self.health_status {
            self.health_message.as_deref()
        } else {
            None
        };
        Health::new(status, message, self.health_checked_at)
    }

    /// What to do while the payment journal is missing, naming the choices (health is about
    /// syncing, which goes on; this is what a payment write is answered).
    pub fn payment_journal_message(&self) -> String {
        let journals = self
            .discovery
            .as_ref()
            .and_then(|d| d.payment_journals.as_deref())
            .unwrap_or_default();
        if journals.is_empty() {
            return "Payments are written back, but the company has no customer payment journal: \
                    create one with a balancing account in Business Central (Cash Receipt \
                    Journals), then choose it with PATCH (payment_journal) on the connection."
                .into();
        }
        let names: Vec<String> = journals
            .iter()
            .map(|j| format!("{} ({})", j.code, j.name))
            .collect();
        format!(
            "Several customer payment journals were found; choose the one whose balancing account \
             payments go to with PATCH (payment_journal) on the connection: {}.",
            names.join(", ")
        )
    }

    /// Whether a setting must still be chosen.
    pub fn requires_setup(&self) -> bool {
        !self.missing_settings.is_empty()
    }

    /// Authenticated, set up, and nothing missing that reading needs (a payment journal still to
    /// choose holds up payment writes only).
    pub fn is_configured(&self) -> bool {
        !self.is_authentication_pending
            && !self.is_running_setup
            && self.missing_settings.is_empty()
    }

    /// The settings still to choose, as reported: those reading needs, then `payment_journal` when
    /// payment writes need it.
    pub fn all_missing_settings(&self) -> Vec<String> {
        let mut all = self.missing_settings.clone();
        if self.misses_payment_journal() {
            all.push(PAYMENT_JOURNAL_SETTING.to_owned());
        }
        all
    }

    /// Whether payment writes are enabled on this connection.
    pub fn writes_payments(&self) -> bool {
        self.models
            .iter()
            .any(|m| m.name == "payments" && m.is_write_enabled)
    }

    /// Whether payment writes wait for a payment journal to be chosen: they are enabled, setup has
    /// read the company's journals, and none is chosen (setup picks the only one itself).
    pub fn misses_payment_journal(&self) -> bool {
        let journals_known = self
            .discovery
            .as_ref()
            .is_some_and(|d| d.payment_journals.is_some());
        self.writes_payments()
            && journals_known
            && self.payment_journal.is_none()
            && !self.is_running_setup
            && !self.is_authentication_pending
    }

    /// Records whether the companion extension answers, and turns the models that need it on or off.
    pub fn set_extension_installed(&mut self, installed: bool, now: DateTime<Utc>) {
        self.is_bc_extension_installed = installed;
        let Some(provider) = crate::catalog::provider(&self.provider_name) else {
            return;
        };
        for model in &mut self.models {
            let Some(spec) = provider.models.iter().find(|s| s.name == model.name) else {
                continue;
            };
            let supported = spec.is_read_supported(installed);
            if model.is_read_supported != supported {
                model.is_read_supported = supported;
                model.is_sync_supported = supported;
                model.is_read_enabled = supported;
                model.modified_at = now;
            }
        }
    }

    /// The earliest scheduled sync of its models.
    pub fn next_sync_at(&self) -> Option<DateTime<Utc>> {
        self.models.iter().filter_map(|m| m.next_sync_at).min()
    }
}

impl Model {
    /// A model of a new connection from its catalog entry.
    pub fn create(
        connection_id: &str,
        spec: &ModelSpec,
        extension_installed: bool,
        now: DateTime<Utc>,
    ) -> Model {
        let read_supported = spec.is_read_supported(extension_installed);
        Model {
            id: new_id("mdl"),
            connection_id: connection_id.to_owned(),
            name: spec.name.to_owned(),
            display_name: spec.display_name.to_owned(),
            is_read_enabled: read_supported,
            is_write_enabled: false,
            is_read_supported: read_supported,
            is_write_supported: spec.write_supported,
            is_sync_supported: read_supported,
            is_custom_object: spec.requires_extension,
            is_file_upload_enabled: false,
            is_webhooks_setup: false,
            sync_frequency_secs: spec.default_frequency_secs,
            full_sync_frequency_secs: DEFAULT_FULL_SYNC_FREQUENCY_SECS,
            next_sync_at: None,
            last_sync: None,
            created_at: now,
            modified_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::provider;

    fn new_bc() -> Connection {
        let new = NewConnection {
            provider: provider("ms-dynamics-bc").unwrap(),
            name: Some("Acme".into()),
            api_url: None,
            is_on_premise: false,
        };
        Connection::create(OrgId("org_1".into()), new, Utc::now())
    }

    #[test]
    fn a_new_connection_waits_for_authentication_with_every_model() {
        let conn = new_bc();
        let health = conn.health();
        assert_eq!(health.status_code, HealthStatus::AuthenticationPending);
        assert!(health.authentication_required && !health.healthy);
        assert!(!conn.is_configured());
        assert_eq!(conn.models.len(), 7);
        let cle = conn
            .models
            .iter()
            .find(|m| m.name == "customer_ledger_entries")
            .unwrap();
        assert!(cle.is_custom_object && !cle.is_read_supported && !cle.is_read_enabled);
        assert!(conn.models.iter().all(|m| m.connection_id == conn.id));
    }

    #[test]
    fn health_reports_missing_settings_then_paused_syncs() {
        let mut conn = new_bc();
        conn.is_authentication_pending = false;
        conn.missing_settings = vec!["company".into()];
        conn.health_status = HealthStatus::Healthy;
        assert_eq!(conn.health().status_code, HealthStatus::MissingSettings);
        assert!(conn.requires_setup());
        conn.missing_settings.clear();
        assert!(conn.is_configured());
        assert_eq!(conn.health().status_code, HealthStatus::Healthy);
        conn.is_sync_disabled = true;
        assert_eq!(conn.health().status_code, HealthStatus::SyncDisabled);
    }

    #[test]
    fn discovery_stored_before_the_local_currency_still_reads() {
        let old: Discovered = serde_json::from_str(
            r#"{"environments":["Production"],"companies":[{"id":"c1","name":"CRONUS"}]}"#,
        )
        .unwrap();
        assert_eq!(old.local_currency, None);
        assert_eq!(old.companies[0].id, "c1");
        let new = Discovered {
            local_currency: Some("CAD".into()),
            ..old
        };
        let json = serde_json::to_string(&new).unwrap();
        assert_eq!(serde_json::from_str::<Discovered>(&json).unwrap(), new);
    }
}
