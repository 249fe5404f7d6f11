//! Microsoft Dynamics 365 Business Central (`ms-dynamics-bc`), online (Entra OAuth) and on-premises
//! (Basic auth with a web service access key, behind the SSRF guard).
//!
//! ```no_run
//! use ledgerlink_connectors::business_central::{BcConfig, BusinessCentral, EntraApp};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = BcConfig::default(); // Microsoft's endpoints
//! config.login_base_url = "http://127.0.0.1:8080".parse()?; // or a simulator
//! config.api_base_url = "http://127.0.0.1:8080".parse()?;
//! config.app = Some(EntraApp::new("client-id", "secret".into(), "https://ll.example.com/cb".parse()?));
//! let bc = BusinessCentral::new(config)?;
//! # Ok(()) }
//! ```

mod batch;
mod discovery;
mod entra;
pub mod mapping;
mod models;
mod odata;
mod page_split;
mod payments;

use async_trait::async_trait;
use reqwest::Client;
use secrecy::SecretString;
use url::Url;

use crate::connector::{
    AuthType, AuthorizationRequest, Connector, Discovery, ModelSupport, Page, PageEnd, PageEvent,
    PageRequest, Session, Target,
};
use crate::error::ConnectorError;
use crate::http::{HttpSettings, build_client};
use crate::oauth::TokenSet;
use crate::payment_write::{JournalInfo, NewPaymentLine, PaymentLineInfo, PostedPayment};
use crate::ssrf::SsrfPolicy;

/// The provider name in the API.
pub const PROVIDER_NAME: &str = "ms-dynamics-bc";
/// Microsoft Entra's login host.
pub const DEFAULT_LOGIN_BASE_URL: &str = "https://login.microsoftonline.com";
/// Business Central online's API host.
pub const DEFAULT_API_BASE_URL: &str = "https://api.businesscentral.dynamics.com";
/// The BC resource's `.default` scope (all delegated/application permissions granted to the app).
pub const BC_DEFAULT_SCOPE: &str = "https://api.businesscentral.dynamics.com/.default";

/// The Entra (Azure AD) app registration the server uses for every cloud connection.
#[derive(Debug, Clone)]
pub struct EntraApp {
    /// Application (client) id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: SecretString,
    /// Redirect URI registered on the app (our OAuth callback).
    pub redirect_uri: Url,
}

impl EntraApp {
    /// An app registration.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: SecretString,
        redirect_uri: Url,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
            redirect_uri,
        }
    }
}

/// Configuration of the Business Central connector. The base URLs are configuration so the same code
/// runs against Microsoft and against bc-sim.
#[derive(Debug, Clone)]
pub struct BcConfig {
    /// Entra login base (`https://login.microsoftonline.com`); `/{tenant}/oauth2/v2.0/…` is appended.
    pub login_base_url: Url,
    /// BC API base (`https://api.businesscentral.dynamics.com`); `/v2.0/{tenant}/{env}/api/…` and
    /// `/environments/v1.2` are appended.
    pub api_base_url: Url,
    /// Tenant segment used to authorize a new connection (`common`: any work account).
    pub authority_tenant: String,
    /// Resource scope (`https://api.businesscentral.dynamics.com/.default`); `offline_access` is added
    /// for the authorization-code flow.
    pub resource_scope: String,
    /// The Entra app; `None` when the server has none (cloud OAuth then fails with `NotConfigured`).
    pub app: Option<EntraApp>,
    /// Guard for user-supplied on-prem `api_url`s.
    pub ssrf: SsrfPolicy,
    /// Timeouts and body cap.
    pub http: HttpSettings,
    /// Default `odata.maxpagesize` (BC online allows up to 20,000).
    pub page_size: u32,
}

impl Default for BcConfig {
    fn default() -> Self {
        Self {
            login_base_url: Url::parse(DEFAULT_LOGIN_BASE_URL).expect("static URL"),
            api_base_url: Url::parse(DEFAULT_API_BASE_URL).expect("static URL"),
            authority_tenant: "common".into(),
            resource_scope: BC_DEFAULT_SCOPE.into(),
            app: None,
            ssrf: SsrfPolicy::default(),
            http: HttpSettings::default(),
            page_size: 1000,
        }
    }
}

/// The Business Central connector. Build one per server and share it (`Arc<dyn Connector>`).
#[derive(Debug, Clone)]
pub struct BusinessCentral {
    config: BcConfig,
    /// For the configured (trusted) login and API hosts.
    cloud: Client,
    /// For user-supplied on-prem URLs: SSRF-guarded resolver, no proxy.
    guarded: Client,
}

impl BusinessCentral {
    /// A connector with this configuration. Fails only when an HTTP client cannot be built.
    pub fn new(config: BcConfig) -> Result<Self, ConnectorError> {
        let cloud = build_client(&config.http, None)?;
        let guarded = build_client(&config.http, Some(config.ssrf.resolver()))?;
        Ok(Self {
            config,
            cloud,
            guarded,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BcConfig {
        &self.config
    }

    /// Whether the server has an Entra app (else a cloud connection is `missing_settings`).
    pub fn has_entra_app(&self) -> bool {
        self.config.app.is_some()
    }

    /// Validates a user-supplied on-prem API URL (scheme, user info, resolved addresses) and normalises it
    /// with [`instance_root`]. Use before storing it.
    pub async fn check_api_url(&self, raw: &str) -> Result<Url, ConnectorError> {
        let url = self.config.ssrf.check(raw).await?;
        instance_root(&url).map_err(ConnectorError::NotConfigured)
    }
}

/// The query parameter that picks the tenant of a multitenant on-premises server
/// (`https://bc:7048/BC?tenant=contoso`); sent on every request to that server.
pub const TENANT_PARAM: &str = "tenant";

/// An on-premises API URL as Microsoft documents it (`https://<server>:<port>/<instance>/api/v2.0`,
/// with or without the `/api/v2.0` suffix or a trailing slash) → the server instance root the
/// connector appends `api/v2.0/…` to: `https://bc:7048/BC/api/v2.0/` → `https://bc:7048/BC`.
///
/// `?tenant=<id>` (a multitenant server) is kept; any other query parameter or a fragment is refused
/// with a message for the user, as is a URL without a host.
pub fn instance_root(url: &Url) -> Result<Url, String> {
    if url.host_str().is_none_or(str::is_empty) {
        return Err("URL should have a host".into());
    }
    if url.fragment().is_some() {
        return Err("URL must not contain a fragment (#…)".into());
    }
    let tenant = tenant_of(url)?;
    let mut root = url.clone();
    let mut path = url.path().trim_end_matches('/');
    if path.to_ascii_lowercase().ends_with("/api/v2.0") {
        path = path[..path.len() - "/api/v2.0".len()].trim_end_matches('/');
    }
    root.set_path(path);
    root.set_query(None);
    if let Some(tenant) = tenant {
        root.query_pairs_mut().append_pair(TENANT_PARAM, &tenant);
    }
    Ok(root)
}

/// The `tenant` of a server URL's query, which may hold nothing else.
fn tenant_of(url: &Url) -> Result<Option<String>, String> {
    let Some(query) = url.query() else {
        return Ok(None);
    };
    let refuse = || {
        format!(
            "URL must not contain a query (`?{query}`): only `?{TENANT_PARAM}=<tenant id>` is accepted, \
             for a multitenant server"
        )
    };
    let mut pairs = url.query_pairs();
    match (pairs.next(), pairs.next()) {
        (Some((key, value)), None) if key == TENANT_PARAM && !value.trim().is_empty() => {
            Ok(Some(value.into_owned()))
        }
        _ if query.is_empty() => Ok(None),
        _ => Err(refuse()),
    }
}

#[async_trait]
impl Connector for BusinessCentral {
    fn provider_name(&self) -> &'static str {
        PROVIDER_NAME
    }

    fn auth_types(&self) -> &'static [AuthType] {
        &[AuthType::Oauth2, AuthType::Basic]
    }

    fn models(&self) -> &'static [ModelSupport] {
        models::MODELS
    }

    fn authorization_url(&self, req: &AuthorizationRequest) -> Result<Url, ConnectorError> {
        self.authorize_url(req)
    }

    async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &SecretString,
    ) -> Result<TokenSet, ConnectorError> {
        self.redeem_code(code, pkce_verifier).await
    }

    async fn refresh(
        &self,
        target: &Target,
        refresh_token: &SecretString,
    ) -> Result<TokenSet, ConnectorError> {
        self.redeem_refresh_token(target, refresh_token).await
    }

    async fn client_credentials(&self, tenant_id: &str) -> Result<TokenSet, ConnectorError> {
        self.app_token(tenant_id).await
    }

    async fn validate_credentials(&self, session: &Session) -> Result<(), ConnectorError> {
        self.validate(session).await
    }

    async fn discover(&self, session: &Session) -> Result<Discovery, ConnectorError> {
        self.discover_account(session).await
    }

    async fn health_check(&self, session: &Session) -> Result<(), ConnectorError> {
        self.check_health(session).await
    }

    async fn fetch_page(
        &self,
        session: &Session,
        req: &PageRequest,
    ) -> Result<Page, ConnectorError> {
        self.read_page(session, req).await
    }

    async fn stream_page(
        &self,
        session: &Session,
        req: &PageRequest,
        out: &tokio::sync::mpsc::Sender<PageEvent>,
    ) -> Result<PageEnd, ConnectorError> {
        self.read_page_streamed(session, req, out).await
    }

    async fn payment_journals(
        &self,
        session: &Session,
    ) -> Result<Vec<JournalInfo>, ConnectorError> {
        self.list_payment_journals(session).await
    }

    async fn create_payment_journal(
        &self,
        session: &Session,
        code: &str,
        display_name: &str,
        balancing_account_id: Option<&str>,
    ) -> Result<JournalInfo, ConnectorError> {
        self.add_payment_journal(session, code, display_name, balancing_account_id)
            .await
    }

    async fn journal_payment_lines(
        &self,
        session: &Session,
        journal_id: &str,
    ) -> Result<Vec<PaymentLineInfo>, ConnectorError> {
        self.list_payment_lines(session, journal_id).await
    }

    async fn create_payment_lines(
        &self,
        session: &Session,
        journal_id: &str,
        lines: &[NewPaymentLine],
    ) -> Result<Vec<String>, ConnectorError> {
        self.add_payment_lines(session, journal_id, lines).await
    }

    async fn post_payment_journal(
        &self,
        session: &Session,
        journal_id: &str,
    ) -> Result<(), ConnectorError> {
        self.post_journal(session, journal_id).await
    }

    async fn delete_payment_line(
        &self,
        session: &Session,
        line_id: &str,
    ) -> Result<(), ConnectorError> {
        self.delete_line(session, line_id).await
    }

    async fn delete_payment_journal(
        &self,
        session: &Session,
        journal_id: &str,
    ) -> Result<(), ConnectorError> {
        self.delete_journal(session, journal_id).await
    }

    async fn find_posted_payment(
        &self,
        session: &Session,
        document_number: &str,
    ) -> Result<Option<PostedPayment>, ConnectorError> {
        self.posted_payment(session, document_number).await
    }
}

#[cfg(test)]
mod onprem_tests;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn api_urls_are_normalised_to_the_instance_root() {
        let bc = BusinessCentral::new(BcConfig::default()).unwrap();
        for raw in [
            "https://8.8.8.8:7048/BC",
            "https://8.8.8.8:7048/BC/",
            "https://8.8.8.8:7048/BC/api/v2.0",
            "https://8.8.8.8:7048/BC/API/V2.0/",
            "https://8.8.8.8:7048/BC/api/v2.0?",
        ] {
            let url = bc.check_api_url(raw).await.unwrap();
            assert_eq!(url.as_str(), "https://8.8.8.8:7048/BC", "{raw}");
        }
        assert!(bc.check_api_url("https://10.0.0.5:7048/BC").await.is_err());
    }

    #[test]
    fn the_instance_root_keeps_a_tenant_and_refuses_other_queries() {
        let root = |raw: &str| instance_root(&Url::parse(raw).unwrap());
        for (raw, want) in [
            (
                "https://bc.example.com:7048/BC/api/v2.0/",
                "https://bc.example.com:7048/BC",
            ),
            ("https://bc.example.com/BC//", "https://bc.example.com/BC"),
            ("https://bc.example.com/api/v2.0", "https://bc.example.com/"),
            (
                "https://bc.example.com:7048/BC/api/v2.0?tenant=contoso",
                "https://bc.example.com:7048/BC?tenant=contoso",
            ),
            (
                "https://bc.example.com/BC/?tenant=a%20b",
                "https://bc.example.com/BC?tenant=a+b",
            ),
        ] {
            assert_eq!(root(raw).unwrap().as_str(), want, "{raw}");
        }
        for bad in [
            "https://bc.example.com/BC?foo=1",
            "https://bc.example.com/BC?tenant=a&foo=1",
            "https://bc.example.com/BC?tenant=a&tenant=b",
            "https://bc.example.com/BC?tenant=",
            "https://bc.example.com/BC?company=x",
            "https://bc.example.com/BC#top",
        ] {
            assert!(root(bad).is_err(), "{bad}");
        }
        let err = root("https://bc.example.com/BC?foo=1").unwrap_err();
        assert!(err.contains("?foo=1") && err.contains("tenant"), "{err}");
    }

    #[test]
    fn usable_as_a_shared_trait_object() {
        let bc: Arc<dyn Connector> = Arc::new(BusinessCentral::new(BcConfig::default()).unwrap());
        assert_eq!(bc.provider_name(), "ms-dynamics-bc");
        assert_eq!(bc.models().len(), 7);
        assert!(bc.auth_types().contains(&AuthType::Oauth2));
    }
}
