//! Start-up configuration of the simulator.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Everything `Sim::start` needs. `SimConfig::default()` gives a small deterministic dataset,
/// limits on and no faults.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Address to bind; `None` binds `127.0.0.1:0`.
    pub listen: Option<SocketAddr>,
    /// Seed of the data generator and of fault randomness.
    pub seed: u64,
    /// Sizes of the generated dataset (per company).
    pub data: DataConfig,
    /// Entra tenants and their BC environments (cloud shape).
    pub tenants: Vec<TenantConfig>,
    /// The registered Entra application the connector uses.
    pub app: AppConfig,
    /// The interactive user that signs in at `/authorize`.
    pub user: UserConfig,
    /// Token lifetimes.
    pub tokens: TokenConfig,
    /// Operational limits (on by default).
    pub limits: LimitsConfig,
    /// Injected faults (none by default).
    pub faults: FaultConfig,
    /// On-premises server instance (`/{instance}/api/v2.0/…`, Basic auth); `None` disables it.
    pub onprem: Option<OnPremConfig>,
    /// Whether the ledgerlink companion extension is installed in every company at start.
    pub extension_installed: bool,
    /// How long BC waits after the first change before sending webhook notifications
    /// (BC: 30 s). `Sim::flush_webhooks` sends immediately.
    pub webhook_delay: Duration,
    /// Deliver webhook notifications automatically (a background task checks every 250 ms).
    /// Turn off to deliver only through `Sim::flush_webhooks` (deterministic tests).
    pub webhook_auto_delivery: bool,
}

/// The generated dataset; all counts are per company.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataConfig {
    /// Companies per environment.
    pub companies: usize,
    /// Customers per company.
    pub customers: usize,
    /// Contacts (customerContacts) per customer.
    pub contacts_per_customer: usize,
    /// Posted sales invoices per company.
    pub invoices: usize,
    /// Lines per invoice (and per credit memo).
    pub lines_per_invoice: usize,
    /// Posted sales credit memos per company.
    pub credit_memos: usize,
    /// Unposted customer payment lines in the default payment journal per company.
    pub open_payments: usize,
    /// Dimensions per company.
    pub dimensions: usize,
    /// Values per dimension.
    pub values_per_dimension: usize,
    /// Local currency (General Ledger Setup "LCY Code") of every generated company, e.g. `USD`.
    /// Records in it store a blank currency code, as BC's tables do; one company's can be changed
    /// later through `Sim::set_local_currency` or `PUT /_sim/companies/{id}/localCurrency`.
    #[serde(default = "default_local_currency")]
    pub local_currency: String,
}

fn default_local_currency() -> String {
    "USD".into()
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            companies: 2,
            customers: 20,
            contacts_per_customer: 1,
            invoices: 100,
            lines_per_invoice: 3,
            credit_memos: 10,
            open_payments: 3,
            dimensions: 2,
            values_per_dimension: 4,
            local_currency: default_local_currency(),
        }
    }
}

/// An Entra tenant with BC environments.
#[derive(Clone, Debug)]
pub struct TenantConfig {
    /// Tenant id (`tid`).
    pub id: Uuid,
    /// Verified domain, usable instead of the id in URLs.
    pub domain: String,
    /// Environments (names are case-insensitive in URLs, as in BC).
    pub environments: Vec<EnvironmentConfig>,
}

/// A BC environment.
#[derive(Clone, Debug)]
pub struct EnvironmentConfig {
    /// Name, e.g. `Production`.
    pub name: String,
    /// `Production` or `Sandbox`.
    pub kind: String,
}

/// The Entra app registration.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// Application (client) id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// Redirect URIs registered on the app; `/authorize` refuses others.
    pub redirect_uris: Vec<String>,
}

/// The user that signs in at `/authorize`.
#[derive(Clone, Debug)]
pub struct UserConfig {
    /// User principal name.
    pub upn: String,
    /// Object id (`oid`).
    pub object_id: Uuid,
    /// Consent is given automatically (no page to click through).
    pub auto_consent: bool,
}

/// Token lifetimes (measured on the simulated clock).
#[derive(Clone, Debug)]
pub struct TokenConfig {
    /// Access token lifetime (Entra default ~1 h).
    pub access_token: Duration,
    /// Refresh token lifetime (Entra default 90 days).
    pub refresh_token: Duration,
    /// Authorization code lifetime (~10 min).
    pub code: Duration,
}

/// BC operational limits, per principal (user or service principal).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LimitsConfig {
    /// Master switch.
    pub enabled: bool,
    /// Requests per sliding window (BC: 6,000).
    pub requests_per_window: u32,
    /// Window length in seconds of simulated time (BC: 300).
    pub window_secs: u64,
    /// Requests processed at once (BC: 5).
    pub max_concurrent: usize,
    /// Requests allowed to wait (BC: 95); beyond → 429.
    pub max_queue: usize,
    /// Longest a request may wait in the queue in milliseconds (BC: 8 min); beyond → 503.
    pub queue_timeout_ms: u64,
    /// Max entities per page (BC online: 20,000).
    pub max_page_size: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            enabled: true,
            requests_per_window: 6000,
            window_secs: 300,
            max_concurrent: 5,
            max_queue: 95,
            queue_timeout_ms: 8 * 60 * 1000,
            max_page_size: 20_000,
        }
    }
}

/// Injected faults. Rates are probabilities in `[0, 1]` per API request, drawn from an RNG
/// seeded with `SimConfig::seed`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    /// Rate of 500/502/503/504 answers.
    pub error_5xx_rate: f64,
    /// Rate of spurious 429 answers.
    pub throttle_rate: f64,
    /// Rate of slow answers.
    pub slow_rate: f64,
    /// Delay of a slow answer, milliseconds.
    pub slow_ms: u64,
    /// Rate of connections dropped before any response byte.
    pub drop_rate: f64,
    /// Rate of bodies cut in half (connection closed mid-body).
    pub truncate_rate: f64,
    /// Every bearer token is treated as expired (401).
    pub tokens_expired: bool,
    /// Every API call answers 403 (missing permissions).
    pub forbidden: bool,
    /// Environments (by name, any tenant) answered as removed.
    pub removed_environments: Vec<String>,
    /// Companies answered as removed.
    pub removed_companies: Vec<uuid::Uuid>,
    /// Companies where the companion extension is absent.
    pub extension_absent: Vec<uuid::Uuid>,
    /// Companies whose `companyInformation` answers 404, as on BC versions without that entity.
    pub company_information_absent: Vec<uuid::Uuid>,
    /// Properties this server does not have, as on an older BC version: a `$select` naming one
    /// answers 400 `BadRequest_NotFound`, as BC does.
    pub unknown_properties: Vec<String>,
    /// Faults aimed at particular requests (a crash between two calls, a lost answer), each used up
    /// after `times` matching requests.
    pub targeted: Vec<TargetedFault>,
}

/// A fault for the next requests of one method whose path contains a string.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TargetedFault {
    /// `GET`, `POST`, …
    pub method: String,
    /// Part of the request path (e.g. `Microsoft.NAV.post`).
    pub path_contains: String,
    /// What happens.
    pub fault: TargetFault,
    /// How many matching requests it hits.
    pub times: u32,
}

/// What a targeted fault does.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TargetFault {
    /// Answer 503 without doing anything (the caller stopped before the call took effect).
    Unavailable,
    /// Do the request, then drop the connection before any response byte (it took effect, the
    /// caller never learns).
    DropAfter,
    /// Hold the request for an hour before doing it (the caller gives up, or is killed, first).
    Hang,
}

/// The on-premises server instance.
#[derive(Clone, Debug)]
pub struct OnPremConfig {
    /// Server instance name (first path segment), e.g. `BC`.
    pub instance: String,
    /// User name for Basic auth.
    pub user: String,
    /// Web service access key (the Basic auth password).
    pub access_key: String,
    /// Tenant ids of a multitenant server instance, each with its own companies. Non-empty:
    /// every API request names its tenant with `?tenant=<id>` (without it the server uses the
    /// tenant `default`; an unknown tenant answers 404) and every nextLink keeps it. Empty (the
    /// default): single-tenant, no parameter needed.
    pub tenants: Vec<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: None,
            seed: 42,
            data: DataConfig::default(),
            tenants: vec![TenantConfig {
                id: Uuid::parse_str("7d3c1f9e-0b8a-4c39-9a51-2f6e8d4b1c01").expect("uuid"),
                domain: "contoso.onmicrosoft.com".into(),
                environments: vec![EnvironmentConfig {
                    name: "Production".into(),
                    kind: "Production".into(),
                }],
            }],
            app: AppConfig {
                client_id: "5f0c2b1a-8e7d-4c6b-9a3f-1e2d3c4b5a69".into(),
                client_secret: "sim-client-secret".into(),
                redirect_uris: vec!["http://localhost/callback".into()],
            },
            user: UserConfig {
                upn: "admin@contoso.onmicrosoft.com".into(),
                object_id: Uuid::parse_str("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d").expect("uuid"),
                auto_consent: true,
            },
            tokens: TokenConfig {
                access_token: Duration::from_secs(3599),
                refresh_token: Duration::from_secs(90 * 24 * 3600),
                code: Duration::from_secs(600),
            },
            limits: LimitsConfig::default(),
            faults: FaultConfig::default(),
            onprem: Some(OnPremConfig {
                instance: "BC".into(),
                user: "ADMIN".into(),
                access_key: "c2ltLXdlYi1zZXJ2aWNlLWFjY2Vzcy1rZXktMDAwMDA=".into(),
                tenants: Vec::new(),
            }),
            extension_installed: true,
            webhook_delay: Duration::from_secs(30),
            webhook_auto_delivery: true,
        }
    }
}
