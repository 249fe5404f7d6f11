//! The provider catalog and each provider's model catalog (PRODUCT.md §2, §4).

use serde::Serialize;
use utoipa::ToSchema;

/// How a provider's connections authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    /// OAuth 2.0 authorization code flow: the connection hands out an `authorization_url`.
    Oauth2,
    /// Credentials submitted through `PUT …/credentials`.
    ApiKey,
}

/// An ERP or accounting system that ledgerlink can connect to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Provider {
    /// Machine name of the provider, used as `provider_name` when creating a connection.
    #[schema(example = "ms-dynamics-bc")]
    pub name: &'static str,
    /// Categories the provider belongs to.
    #[schema(example = json!(["accounting"]))]
    pub categories: &'static [&'static str],
    /// Human-readable provider name.
    pub display_name: &'static str,
    /// Whether the provider is reached through its API (as opposed to file uploads).
    pub is_api_connection: bool,
    /// Whether the provider can push change notifications (webhooks).
    pub is_webhooks_supported: bool,
    /// How connections to this provider authenticate.
    pub auth_type: AuthType,
    /// Brand colour, as a CSS hex colour.
    pub color: Option<&'static str>,
    /// A guide that walks a finance admin through connecting.
    pub connection_guide_url: Option<&'static str>,
    /// Step-by-step instructions shown to the person connecting.
    pub connection_instructions: &'static [&'static str],
    /// The provider's API documentation.
    pub documentation_url: Option<&'static str>,
    /// What the provider is and what ledgerlink syncs from it.
    pub description: &'static str,
    /// Whether new connections to this provider can be created.
    pub is_enabled: bool,
    /// Whether a sync can be requested on demand (`POST …/sync`).
    pub is_manual_sync_supported: bool,
    /// URL of the provider's logo.
    pub logo: Option<&'static str>,
    /// URL of the provider's square logo.
    pub logo_square: Option<&'static str>,
    /// Settings a connection needs before it is configured.
    pub required_settings: &'static [&'static str],
    /// One-line description.
    pub short_description: &'static str,
    /// The provider's website.
    pub website: Option<&'static str>,
    /// The provider's models (not serialized: exposed per connection).
    #[serde(skip)]
    #[schema(ignore)]
    pub models: &'static [ModelSpec],
}

/// One object type a provider syncs, with what it supports.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    /// Machine name, e.g. `invoices`.
    pub name: &'static str,
    /// Human-readable name.
    pub display_name: &'static str,
    /// Whether records can be read from the ERP.
    pub read_supported: bool,
    /// Whether records can be written back to the ERP.
    pub write_supported: bool,
    /// Only available through the companion extension (BC custom API pages).
    pub requires_extension: bool,
    /// Default time between scheduled syncs, in seconds.
    pub default_frequency_secs: i64,
}

impl ModelSpec {
    /// Whether reads are possible given the extension's presence.
    pub fn is_read_supported(&self, extension_installed: bool) -> bool {
        self.read_supported && (!self.requires_extension || extension_installed)
    }
}

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;

const BC_MODELS: &[ModelSpec] = &[
    model("customers", "Customers", false, false, HOUR),
    model("contacts", "Contacts", false, false, HOUR),
    model("invoices", "Invoices", false, false, 15 * MINUTE),
    model("credit_memos", "Credit memos", false, false, 15 * MINUTE),
    model("payments", "Payments", true, false, 15 * MINUTE),
    model(
        "customer_ledger_entries",
        "Customer ledger entries",
        false,
        true,
        15 * MINUTE,
    ),
    model("dimensions", "Dimensions", false, false, 6 * HOUR),
];

const BILL_MODELS: &[ModelSpec] = &[
    model("customers", "Customers", false, false, HOUR),
    model("invoices", "Invoices", false, false, 15 * MINUTE),
    model("payments", "Payments", false, false, 15 * MINUTE),
];

const fn model(
    name: &'static str,
    display_name: &'static str,
    write_supported: bool,
    requires_extension: bool,
    default_frequency_secs: i64,
) -> ModelSpec {
    ModelSpec {
        name,
        display_name,
        read_supported: true,
        write_supported,
        requires_extension,
        default_frequency_secs,
    }
}

static PROVIDERS: &[Provider] = &[
    Provider {
        name: "ms-dynamics-bc",
        categories: &["accounting"],
        display_name: "Microsoft Dynamics 365 Business Central",
        is_api_connection: true,
        is_webhooks_supported: true,
        auth_type: AuthType::Oauth2,
        color: Some("#00B7C3"),
        connection_guide_url: None,
        connection_instructions: &[
            "Cloud: open the authorization URL and sign in with a Business Central user that may \
             grant consent for your organization (Financials.ReadWrite.All).",
            "On-premises: enable API services on the server, create a user with a web service \
             access key, set api_url to https://<host>:<port>/<instance>, then submit the user \
             name and key through PUT /v2/integrations/connections/{id}/credentials.",
            "If several environments or companies are found, choose one with PATCH \
             /v2/integrations/connections/{id} (environment, company).",
            "Optional: install the ledgerlink companion extension to sync customer ledger \
             entries and posted payments.",
        ],
        documentation_url: Some(
            "https://learn.microsoft.com/en-us/dynamics365/business-central/dev-itpro/api-reference/v2.0/",
        ),
        description: "Microsoft Dynamics 365 Business Central, online or on-premises: customers, \
                      contacts, sales invoices with lines and dimensions, credit memos, customer \
                      payments, customer ledger entries and dimensions are kept in sync; payments \
                      can be written back through customer payment journals.",
        is_enabled: true,
        is_manual_sync_supported: true,
        logo: None,
        logo_square: None,
        required_settings: &["environment", "company"],
        short_description: "ERP for small and mid-sized businesses, online and on-premises.",
        website: Some("https://dynamics.microsoft.com/business-central/"),
        models: BC_MODELS,
    },
    Provider {
        name: "bill",
        categories: &["accounting"],
        display_name: "BILL",
        is_api_connection: true,
        is_webhooks_supported: false,
        auth_type: AuthType::ApiKey,
        color: Some("#FF5A00"),
        connection_guide_url: None,
        connection_instructions: &[
            "Create a developer key and an API user in BILL, then submit them through PUT \
             /v2/integrations/connections/{id}/credentials.",
        ],
        documentation_url: Some("https://developer.bill.com/"),
        description: "BILL accounts receivable: customers, invoices and payments. Not available \
                      yet: its connector is not built.",
        is_enabled: false,
        is_manual_sync_supported: true,
        logo: None,
        logo_square: None,
        required_settings: &["organization_id"],
        short_description: "Accounts payable and receivable automation.",
        website: Some("https://www.bill.com/"),
        models: BILL_MODELS,
    },
];

/// Every provider ledgerlink knows, enabled or not.
pub fn providers() -> &'static [Provider] {
    PROVIDERS
}

/// The provider named `name`, if any.
pub fn provider(name: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.name == name)
}

/// Names of the providers that accept new connections.
pub fn enabled_provider_names() -> Vec<&'static str> {
    PROVIDERS
        .iter()
        .filter(|p| p.is_enabled)
        .map(|p| p.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_central_catalog_matches_the_product_spec() {
        let bc = provider("ms-dynamics-bc").unwrap();
        assert_eq!(bc.auth_type, AuthType::Oauth2);
        let names: Vec<_> = bc.models.iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "customers",
                "contacts",
                "invoices",
                "credit_memos",
                "payments",
                "customer_ledger_entries",
                "dimensions"
            ]
        );
        let cle = bc.models.iter().find(|m| m.requires_extension).unwrap();
        assert!(!cle.is_read_supported(false));
        assert!(cle.is_read_supported(true));
        assert_eq!(enabled_provider_names(), ["ms-dynamics-bc"]);
    }
}
