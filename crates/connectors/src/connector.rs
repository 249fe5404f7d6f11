//! The [`Connector`] trait: what the engine and the API need from an ERP/accounting provider.
//!
//! A connector is built once per server (it holds configuration and HTTP clients) and is stateless per
//! connection: every call gets the connection's [`Session`] (where the account lives + credentials).
//! Token storage, refresh locking, retries and health bookkeeping belong to the engine; the connector only
//! performs single calls and classifies their failures ([`ConnectorError`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::error::ConnectorError;
use crate::oauth::TokenSet;
use crate::payment_write::{JournalInfo, NewPaymentLine, PaymentLineInfo, PostedPayment};

/// How a connection authenticates to its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    /// OAuth 2.0 authorization code (with refresh tokens); BC online.
    Oauth2,
    /// HTTP Basic with a user name and a key; BC on-premises.
    Basic,
    /// An API key (plus non-secret parameters); e.g. Bill.
    ApiKey,
}

/// Credentials for one call. `Debug` never shows the secret parts.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A bearer access token (OAuth 2.0).
    Bearer(SecretString),
    /// HTTP Basic: BC on-prem user name + web service access key.
    Basic {
        /// User name.
        username: String,
        /// Password or web service access key.
        password: SecretString,
    },
    /// An API key and the provider's non-secret parameters (organisation id, user name, …).
    ApiKey {
        /// The key.
        key: SecretString,
        /// Non-secret parameters.
        params: BTreeMap<String, String>,
    },
}

/// Where a connection's data lives at the provider. Fields a provider doesn't use stay `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// A user-supplied API base URL (BC on-prem, e.g. `https://bc.example.com:7048/BC`). `None` = the
    /// provider's cloud endpoint from server configuration. Always checked by the SSRF guard before use.
    pub api_url: Option<Url>,
    /// The provider-side tenant/directory id (BC online: the Entra tenant id).
    pub tenant_id: Option<String>,
    /// The environment (BC: `Production`, `Sandbox`, …).
    pub environment: Option<String>,
    /// The company/entity id (BC: the company GUID).
    pub company_id: Option<String>,
}

/// A connection as a connector sees it for one call.
#[derive(Debug, Clone)]
pub struct Session {
    /// Where the account lives.
    pub target: Target,
    /// How to authenticate.
    pub credentials: Credentials,
}

/// Parameters of an authorization URL. The caller owns `state` (signed, single-use, bound to the
/// connection) and the PKCE verifier behind `code_challenge`.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationRequest {
    /// Opaque value echoed back on the redirect.
    pub state: String,
    /// PKCE S256 challenge ([`crate::Pkce::challenge`]).
    pub code_challenge: String,
    /// Pre-fills the sign-in name, when known.
    pub login_hint: Option<String>,
    /// Directory to sign in to, when known (re-authorization); else the provider's multi-tenant default.
    pub tenant_id: Option<String>,
}

/// One environment of a provider account (BC online: from `GET /environments/v1.2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// Environment name, used in URLs (`Production`).
    pub name: String,
    /// `production` or `sandbox`, when known.
    pub kind: Option<String>,
    /// Country code, when known.
    pub country_code: Option<String>,
}

/// One company (legal entity) in an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    /// The provider's id (BC: a GUID).
    pub id: String,
    /// Short name (BC `name`).
    pub name: String,
    /// Display name (BC `displayName`; falls back to `name`).
    pub display_name: String,
}

/// What setup needs to know about an account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// The directory the credentials belong to (BC online: token `tid`).
    pub tenant_id: Option<String>,
    /// All environments (empty for providers/deployments without environments, e.g. BC on-prem).
    pub environments: Vec<Environment>,
    /// The environment `companies` were listed in: the target's, or the only one. `None` when the choice is
    /// ambiguous (then `companies` is empty).
    pub environment: Option<String>,
    /// Companies of `environment`.
    pub companies: Vec<Company>,
    /// The company the extension was probed in: the target's, or the only one.
    pub company_id: Option<String>,
    /// Whether the companion extension answered in `company_id`; `None` when not probed (no company).
    pub extension_installed: Option<bool>,
    /// The local currency code of `company_id` (BC: `companyInformation.currencyCode`, the "LCY Code"),
    /// which blank currency codes stand for; `None` when no company is chosen or the ERP does not say.
    pub local_currency: Option<String>,
    /// The customer payment journals of `company_id` (payment write-back balances its own batches
    /// like the one chosen among these); `None` when no company is chosen or they cannot be read
    /// (a principal allowed to read but not to see journals still syncs).
    pub payment_journals: Option<Vec<crate::payment_write::JournalInfo>>,
}

/// The incremental window of a fetch. Both ends open = a full pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindow {
    /// Only records modified strictly after this instant.
    pub modified_after: Option<DateTime<Utc>>,
    /// Only records modified at or before this instant.
    pub modified_until: Option<DateTime<Utc>>,
}

/// Which records of a model a page request reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ReadScope {
    /// The records modified in [`PageRequest::window`] (every record for a full pass).
    #[default]
    Window,
    /// Only the fields the ERP changes without moving the record's modification stamp, of the records
    /// that can still have them change (BC: `remainingAmount` of open sales invoices, the computed
    /// balances of customers). Models without such fields read nothing. The engine compares them with
    /// its copy and re-reads the records that differ with [`ReadScope::Ids`].
    Volatile,
    /// These records (the ERP's ids, at most [`MAX_IDS_PER_REQUEST`]), whole, whenever modified.
    Ids(Vec<String>),
}

/// Most ids one [`ReadScope::Ids`] request may name (they go into the URL).
pub const MAX_IDS_PER_REQUEST: usize = 20;

/// One page request for a model.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Which records: the window's (default), the volatile fields of open ones, or named ones.
    pub scope: ReadScope,
    /// The unified model name (`customers`, `invoices`, …; see [`Connector::models`]).
    pub model: String,
    /// Where to continue: the `next` of the previous [`Page`]. When set, `window` and the other options
    /// are ignored (the cursor already encodes them).
    pub cursor: Option<String>,
    /// Incremental window, for the first page.
    pub window: TimeWindow,
    /// Preferred page size; the provider may send fewer.
    pub page_size: Option<u32>,
    /// Include dimension lines in documents (BC `dimensionSetLines`).
    pub include_dimension_lines: bool,
    /// Only these top-level provider fields (BC `$select`); `None` = all. Expanded children are kept.
    /// For BC, [`selected_fields`](crate::business_central::mapping::selected_fields) lists the ones the
    /// mapping reads.
    pub fields: Option<Vec<String>>,
}

/// The error of a page read whose records are no longer wanted (its [`PageEvent`] receiver is gone).
pub fn reader_gone() -> ConnectorError {
    ConnectorError::transient("the page's records are no longer wanted")
}

/// One page of raw provider records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// Records exactly as the provider sent them.
    pub records: Vec<Value>,
    /// Opaque cursor for the next page (BC: the `@odata.nextLink`); `None` on the last page.
    pub next: Option<String>,
    /// How many records the whole request matches, when the provider says (BC: `@odata.count`, asked
    /// for on the first page of a window read).
    pub total: Option<u64>,
}

/// What a streamed page ([`Connector::stream_page`]) sends, in order: its records in batches, then
/// (sent by the page's reader, not the connector) [`PageEvent::End`]; or, when a read failed part-way
/// and is made again, [`PageEvent::Retrying`] before the page's records come again from its start.
#[derive(Debug)]
pub enum PageEvent {
    /// Records exactly as the provider sent them: the received text of each, its structure checked
    /// (brackets, strings) but its values not yet parsed (the mapping parses them once).
    Records(Vec<Box<str>>),
    /// The page is read again from its start after this failure: forget what was received of it.
    Retrying {
        /// The failure.
        error: String,
    },
    /// The page is complete.
    End(PageEnd),
}

/// Where a streamed page ends: [`Page`] without its records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageEnd {
    /// Opaque cursor for the next page; `None` on the last page.
    pub next: Option<String>,
    /// How many records the whole request matches, when the provider says.
    pub total: Option<u64>,
}

/// What a connector can do with one unified model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ModelSupport {
    /// Unified model name.
    pub name: &'static str,
    /// Can be read.
    pub read: bool,
    /// Can be written back.
    pub write: bool,
    /// Not a standard object of the provider (BC: served by the companion extension only).
    pub is_custom_object: bool,
    /// Needs the companion extension to be readable.
    pub requires_extension: bool,
    /// Honours [`PageRequest::window`]. When `false`, every fetch is a full pass (the provider has no
    /// modification stamp to filter on), which the engine may treat as such (e.g. for deletions).
    pub incremental: bool,
    /// Some fields change without the record's modification stamp moving (amounts due, balances):
    /// incremental syncs also read them with [`ReadScope::Volatile`].
    pub silent_changes: bool,
}

/// An ERP/accounting provider.
///
/// OAuth operations have defaults returning [`ConnectorError::Unsupported`], so an API-key provider
/// implements only the data operations.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// The provider's name in the API (`ms-dynamics-bc`, `bill`).
    fn provider_name(&self) -> &'static str;

    /// The authentication types this provider accepts.
    fn auth_types(&self) -> &'static [AuthType];

    /// The unified models this provider can sync.
    fn models(&self) -> &'static [ModelSupport];

    /// The URL to send a user to for consent.
    fn authorization_url(&self, _req: &AuthorizationRequest) -> Result<Url, ConnectorError> {
        Err(ConnectorError::Unsupported("OAuth authorization".into()))
    }

    /// Redeems an authorization code (with the PKCE verifier) for tokens.
    async fn exchange_code(
        &self,
        _code: &str,
        _pkce_verifier: &SecretString,
    ) -> Result<TokenSet, ConnectorError> {
        Err(ConnectorError::Unsupported("OAuth code exchange".into()))
    }

    /// Redeems a refresh token. The answer carries the *rotated* refresh token: persist it with the new
    /// access token, atomically.
    async fn refresh(
        &self,
        _target: &Target,
        _refresh_token: &SecretString,
    ) -> Result<TokenSet, ConnectorError> {
        Err(ConnectorError::Unsupported("token refresh".into()))
    }

    /// An app-only token for a tenant (OAuth client credentials, service-to-service).
    async fn client_credentials(&self, _tenant_id: &str) -> Result<TokenSet, ConnectorError> {
        Err(ConnectorError::Unsupported("client credentials".into()))
    }

    /// Checks that credentials work with one cheap live call, before they are accepted.
    async fn validate_credentials(&self, session: &Session) -> Result<(), ConnectorError>;

    /// Lists what setup chooses from: environments, companies, whether the companion extension is there.
    async fn discover(&self, session: &Session) -> Result<Discovery, ConnectorError>;

    /// Checks that the configured target is reachable and readable with these credentials.
    /// `Ok` = healthy; the error's kind says what is wrong.
    async fn health_check(&self, session: &Session) -> Result<(), ConnectorError>;

    /// Fetches one page of a model's raw records.
    async fn fetch_page(
        &self,
        session: &Session,
        req: &PageRequest,
    ) -> Result<Page, ConnectorError>;

    /// Reads one page like [`Connector::fetch_page`], sending its records to `out` in batches as they
    /// arrive instead of returning them (memory does not grow with the page size), and returns where
    /// the page ends. On an error, some of the page's records may have been sent already. A closed
    /// `out` ends the read early with an error. Default: [`Connector::fetch_page`], then one batch.
    async fn stream_page(
        &self,
        session: &Session,
        req: &PageRequest,
        out: &tokio::sync::mpsc::Sender<PageEvent>,
    ) -> Result<PageEnd, ConnectorError> {
        let page = self.fetch_page(session, req).await?;
        let records = page
            .records
            .iter()
            .map(|r| r.to_string().into_boxed_str())
            .collect();
        out.send(PageEvent::Records(records))
            .await
            .map_err(|_| reader_gone())?;
        Ok(PageEnd {
            next: page.next,
            total: page.total,
        })
    }

    /// Revokes what the provider lets us revoke, on disconnect. Default: nothing to revoke.
    async fn revoke(&self, _session: &Session) -> Result<(), ConnectorError> {
        Ok(())
    }

    // Payment write-back. Defaults answer `Unsupported`, so a read-only provider implements none of
    // them. Writes are single calls like reads: a `Transient`/`RateLimited`/`Unreachable` failure of a
    // write may still have reached the ERP, so a caller looks (`journal_payment_lines`,
    // `find_posted_payment`) before it writes again. A refusal on business grounds is
    // `ConnectorError::Business`, with the ERP's own message.

    /// The customer payment journals of the target's company.
    async fn payment_journals(
        &self,
        _session: &Session,
    ) -> Result<Vec<JournalInfo>, ConnectorError> {
        Err(ConnectorError::Unsupported("payment journals".into()))
    }

    /// Creates a customer payment journal of our own (BC: a cash receipt batch), balanced against
    /// `balancing_account_id` (BC: a G/L or bank account id) when given.
    async fn create_payment_journal(
        &self,
        _session: &Session,
        _code: &str,
        _display_name: &str,
        _balancing_account_id: Option<&str>,
    ) -> Result<JournalInfo, ConnectorError> {
        Err(ConnectorError::Unsupported("payment journals".into()))
    }

    /// The unposted payment lines of a journal, ours and anyone else's.
    async fn journal_payment_lines(
        &self,
        _session: &Session,
        _journal_id: &str,
    ) -> Result<Vec<PaymentLineInfo>, ConnectorError> {
        Err(ConnectorError::Unsupported("payment journals".into()))
    }

    /// Creates payment lines in a journal and returns their ids, in the order of `lines`. The lines are
    /// checked before anything is sent (`Invalid` names the first bad one). Not atomic: after a failure
    /// some lines may exist; look with [`Connector::journal_payment_lines`].
    async fn create_payment_lines(
        &self,
        _session: &Session,
        _journal_id: &str,
        _lines: &[NewPaymentLine],
    ) -> Result<Vec<String>, ConnectorError> {
        Err(ConnectorError::Unsupported("payment journals".into()))
    }

    /// Posts a payment journal: every line in it, ours or not (check with
    /// [`Connector::journal_payment_lines`] first). Success means the ERP accepted the request; BC
    /// set to "Post with Job Queue" only schedules the posting, so confirm with
    /// [`Connector::find_posted_payment`].
    async fn post_payment_journal(
        &self,
        _session: &Session,
        _journal_id: &str,
    ) -> Result<(), ConnectorError> {
        Err(ConnectorError::Unsupported(
            "posting payment journals".into(),
        ))
    }

    /// Removes one unposted payment line (a write the ERP refused leaves none behind for someone to
    /// post by hand).
    async fn delete_payment_line(
        &self,
        _session: &Session,
        _line_id: &str,
    ) -> Result<(), ConnectorError> {
        Err(ConnectorError::Unsupported("payment journals".into()))
    }

    /// Removes a payment journal (batch) with whatever unposted lines it still holds (a write's own
    /// batch, once the write has ended).
    async fn delete_payment_journal(
        &self,
        _session: &Session,
        _journal_id: &str,
    ) -> Result<(), ConnectorError> {
        Err(ConnectorError::Unsupported("payment journals".into()))
    }

    /// The posted payment with this document number, if the ERP has one (BC: its G/L entries, which
    /// carry the document number and description but not the external document number, so a
    /// marker to find a payment by belongs in the document number).
    async fn find_posted_payment(
        &self,
        _session: &Session,
        _document_number: &str,
    ) -> Result<Option<PostedPayment>, ConnectorError> {
        Err(ConnectorError::Unsupported("posted payments".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An API-key provider implements only the data operations; OAuth calls answer `Unsupported`.
    struct KeyOnly;

    #[async_trait]
    impl Connector for KeyOnly {
        fn provider_name(&self) -> &'static str {
            "bill"
        }
        fn auth_types(&self) -> &'static [AuthType] {
            &[AuthType::ApiKey]
        }
        fn models(&self) -> &'static [ModelSupport] {
            &[]
        }
        async fn validate_credentials(&self, _: &Session) -> Result<(), ConnectorError> {
            Ok(())
        }
        async fn discover(&self, _: &Session) -> Result<Discovery, ConnectorError> {
            Ok(Discovery::default())
        }
        async fn health_check(&self, _: &Session) -> Result<(), ConnectorError> {
            Ok(())
        }
        async fn fetch_page(&self, _: &Session, _: &PageRequest) -> Result<Page, ConnectorError> {
            Ok(Page::default())
        }
    }

    #[tokio::test]
    async fn oauth_defaults_are_unsupported() {
        let c: Box<dyn Connector> = Box::new(KeyOnly);
        let unsupported =
            |r: Result<TokenSet, ConnectorError>| matches!(r, Err(ConnectorError::Unsupported(_)));
        assert!(matches!(
            c.authorization_url(&AuthorizationRequest::default()),
            Err(ConnectorError::Unsupported(_))
        ));
        let secret = SecretString::from("x".to_owned());
        assert!(unsupported(c.exchange_code("code", &secret).await));
        assert!(unsupported(c.refresh(&Target::default(), &secret).await));
        assert!(unsupported(c.client_credentials("t").await));
        let session = Session {
            target: Target::default(),
            credentials: Credentials::ApiKey {
                key: secret,
                params: BTreeMap::from([("org".to_owned(), "o1".to_owned())]),
            },
        };
        let is_unsupported = |e: ConnectorError| matches!(e, ConnectorError::Unsupported(_));
        assert!(is_unsupported(
            c.payment_journals(&session).await.unwrap_err()
        ));
        let made = c.create_payment_journal(&session, "LL", "ledgerlink", None);
        assert!(is_unsupported(made.await.unwrap_err()));
        let lines = c.journal_payment_lines(&session, "j");
        assert!(is_unsupported(lines.await.unwrap_err()));
        let created = c.create_payment_lines(&session, "j", &[]);
        assert!(is_unsupported(created.await.unwrap_err()));
        let posted = c.post_payment_journal(&session, "j");
        assert!(is_unsupported(posted.await.unwrap_err()));
        let found = c.find_posted_payment(&session, "PAY-1");
        assert!(is_unsupported(found.await.unwrap_err()));
        c.revoke(&session).await.unwrap();
        assert!(!format!("{session:?}").contains("\"x\""));
    }
}
