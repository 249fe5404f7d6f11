//! Setup and health calls: environments, companies, the extension probe, the company's local currency,
//! credential validation.

use secrecy::ExposeSecret;
use serde_json::Value;
use url::Url;

use super::BusinessCentral;
use super::models::Api;
use super::odata::Query;
use crate::connector::{Company, Credentials, Discovery, Environment, Session, Target};
use crate::error::{ConnectorError, ErrorKind};
use crate::oauth::jwt_tenant_id;

/// Page size for companies (BC allows 300 companies per environment; on-prem servers may cap pages lower).
const LIST_PAGE_SIZE: u32 = 1000;
/// Pages of companies/environments we follow before calling the answer invalid.
const MAX_LIST_PAGES: usize = 50;

impl BusinessCentral {
    /// `GET {api_base}/environments/v1.2`: the environments the token can reach (cloud only).
    pub(super) async fn list_environments(
        &self,
        session: &Session,
    ) -> Result<Vec<Environment>, ConnectorError> {
        let mut url = self.config.api_base_url.clone();
        url.path_segments_mut()
            .map_err(|_| ConnectorError::NotConfigured("API base URL cannot be a base".into()))?
            .pop_if_empty()
            .extend(["environments", "v1.2"]);
        let records = self.get_all(session, url, None, MAX_LIST_PAGES).await?;
        Ok(records.iter().filter_map(parse_environment).collect())
    }

    /// `GET {api root}/companies`.
    pub(super) async fn list_companies(
        &self,
        session: &Session,
        target: &Target,
    ) -> Result<Vec<Company>, ConnectorError> {
        let mut url = self.api_root(target, Api::Standard)?;
        url.path_segments_mut()
            .map_err(|_| ConnectorError::NotConfigured("API URL cannot be a base".into()))?
            .push("companies");
        let records = self
            .get_all(session, url, Some(LIST_PAGE_SIZE), MAX_LIST_PAGES)
            .await?;
        records.iter().map(parse_company).collect()
    }

    /// Whether the companion extension answers in the target's company (404 / unknown route = no).
    pub(super) async fn probe_extension(
        &self,
        session: &Session,
        target: &Target,
    ) -> Result<bool, ConnectorError> {
        let mut url = self.company_url(target, Api::Extension, "customerLedgerEntries")?;
        Query {
            top: Some(1),
            ..Default::default()
        }
        .apply_to(&mut url);
        match self.get(session, url, None).await {
            Ok(_) => Ok(true),
            Err(ConnectorError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The company's local currency: `companyInformation`'s `currencyCode` (General Ledger Setup's
    /// "LCY Code"). A 404 (a BC version without that entity) is "not known"; other errors count as
    /// for every discovery call.
    pub(super) async fn local_currency(
        &self,
        session: &Session,
        target: &Target,
    ) -> Result<Option<String>, ConnectorError> {
        let mut url = self.company_url(target, Api::Standard, "companyInformation")?;
        Query {
            select: Some("currencyCode"),
            ..Default::default()
        }
        .apply_to(&mut url);
        let page = self.get_collection(session, url, None).await;
        lcy_of(page.map(|p| p.records))
    }

    #[tracing::instrument(name = "bc.discover", skip_all, fields(provider = super::PROVIDER_NAME))]
    pub(super) async fn discover_account(
        &self,
        session: &Session,
    ) -> Result<Discovery, ConnectorError> {
        let on_prem = session.target.api_url.is_some();
        let mut found = Discovery {
            tenant_id: session
                .target
                .tenant_id
                .clone()
                .or_else(|| bearer_tenant(&session.credentials)),
            ..Default::default()
        };
        if !on_prem {
            found.environments = self.list_environments(session).await?;
            let names = found.environments.iter().map(|e| e.name.as_str());
            found.environment = pick(session.target.environment.as_deref(), names);
            if found.environment.is_none() {
                return Ok(found);
            }
        }
        let mut target = session.target.clone();
        target.tenant_id.clone_from(&found.tenant_id);
        target.environment.clone_from(&found.environment);
        found.companies = self.list_companies(session, &target).await?;
        let ids = found.companies.iter().map(|c| c.id.as_str());
        found.company_id = pick(session.target.company_id.as_deref(), ids);
        if let Some(company) = &found.company_id {
            target.company_id = Some(company.clone());
            found.extension_installed = Some(self.probe_extension(session, &target).await?);
            found.local_currency = self.local_currency(session, &target).await?;
            let in_company = Session {
                target: target.clone(),
                credentials: session.credentials.clone(),
            };
            found.payment_journals = optional(self.list_payment_journals(&in_company).await)?;
        }
        Ok(found)
    }

    /// One cheap call that needs valid credentials: the environment list (cloud) or the company list
    /// (on-prem, or cloud with an environment chosen).
    #[tracing::instrument(name = "bc.validate_credentials", skip_all, fields(provider = super::PROVIDER_NAME))]
    ///
    /// On-prem, a URL that answers but not as a BC API root (a 404 such as BC's "Resource not found
    /// for the segment 'api'", an HTML page, JSON of another shape) is
    /// [`ConnectorError::NotConfigured`], with a message naming the URL and the expected form.
    pub(super) async fn validate(&self, session: &Session) -> Result<(), ConnectorError> {
        let target = &session.target;
        if let Some(api_url) = &target.api_url {
            let listed = self.list_companies(session, target).await;
            listed.map(drop).map_err(|e| not_an_api_root(api_url, e))
        } else if target.environment.is_some() {
            self.list_companies(session, target).await.map(drop)
        } else {
            self.list_environments(session).await.map(drop)
        }
    }

    /// Token valid, environment and company reachable, and data readable (a permission check).
    #[tracing::instrument(name = "bc.health_check", skip_all, fields(provider = super::PROVIDER_NAME))]
    pub(super) async fn check_health(&self, session: &Session) -> Result<(), ConnectorError> {
        let target = &session.target;
        if target.company_id.is_none() {
            return self.validate(session).await;
        }
        let company = self.company_url(target, Api::Standard, "")?;
        self.get(session, company, None).await?;
        let mut customers = self.company_url(target, Api::Standard, "customers")?;
        Query {
            top: Some(1),
            select: Some("id"),
            ..Default::default()
        }
        .apply_to(&mut customers);
        self.get(session, customers, None).await.map(drop)
    }
}

/// An on-prem server URL whose company list is missing (404) or not an OData collection is not a
/// Business Central API root; other errors (credentials, permissions, reachability) pass unchanged.
fn not_an_api_root(api_url: &Url, err: ConnectorError) -> ConnectorError {
    let tenant_unknown = err.provider_code() == Some("Internal_TenantUnavailable");
    if !matches!(err.kind(), ErrorKind::NotFound | ErrorKind::Invalid) || tenant_unknown {
        return err;
    }
    let mut shown = api_url.clone();
    shown.set_query(None);
    ConnectorError::NotConfigured(format!(
        "{} does not look like a Business Central API root (it serves no api/v2.0/companies); \
         expected the URL of the server instance, like https://server:7048/BC",
        shown.as_str().trim_end_matches('/')
    ))
}

/// The requested value if it is listed (in the listed spelling), else the only listed value, else `None`.
fn pick<'a>(requested: Option<&str>, mut listed: impl Iterator<Item = &'a str>) -> Option<String> {
    match requested {
        Some(want) => listed
            .find(|have| have.eq_ignore_ascii_case(want))
            .map(str::to_owned),
        None => {
            let first = listed.next()?;
            listed.next().is_none().then(|| first.to_owned())
        }
    }
}

fn bearer_tenant(credentials: &Credentials) -> Option<String> {
    match credentials {
        Credentials::Bearer(token) => jwt_tenant_id(token.expose_secret()),
        _ => None,
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// What discovery may go without: a principal that cannot read this still syncs (`None`).
fn optional<T>(answer: Result<T, ConnectorError>) -> Result<Option<T>, ConnectorError> {
    match answer {
        Ok(found) => Ok(Some(found)),
        Err(ConnectorError::NotFound { .. }) => Ok(None),
        Err(e @ ConnectorError::Forbidden { .. }) => {
            tracing::warn!(error = %e, "customer payment journals are not readable; none listed");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The trimmed `currencyCode` of the (single) `companyInformation` entity; `None` when absent or blank.
fn lcy_of(records: Result<Vec<Value>, ConnectorError>) -> Result<Option<String>, ConnectorError> {
    let records = match records {
        Ok(r) => r,
        Err(ConnectorError::NotFound { .. }) => return Ok(None),
        // The currency is optional: a principal allowed to read receivables but not the company's
        // information still syncs (blank currency codes then stay null).
        Err(e @ ConnectorError::Forbidden { .. }) => {
            tracing::warn!(error = %e, "companyInformation is not readable; local currency unknown");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    Ok(records.first().and_then(|info| {
        let code = info.get("currencyCode")?.as_str()?.trim();
        (!code.is_empty()).then(|| code.to_owned())
    }))
}

fn parse_environment(v: &Value) -> Option<Environment> {
    let family = text(v, "applicationFamily");
    if family.is_some_and(|f| !f.eq_ignore_ascii_case("BusinessCentral")) {
        return None;
    }
    Some(Environment {
        name: text(v, "name")?,
        kind: text(v, "type").map(|t| t.to_ascii_lowercase()),
        country_code: text(v, "countryCode"),
    })
}

fn parse_company(v: &Value) -> Result<Company, ConnectorError> {
    let id = text(v, "id").ok_or_else(|| ConnectorError::invalid("company without an id"))?;
    let name = text(v, "name").unwrap_or_default();
    let display_name = text(v, "displayName").unwrap_or_else(|| name.clone());
    Ok(Company {
        id,
        name,
        display_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pick_prefers_requested_then_single() {
        let one = ["Production"];
        let two = ["Production", "Sandbox"];
        assert_eq!(pick(None, one.into_iter()), Some("Production".into()));
        assert_eq!(pick(None, two.into_iter()), None);
        assert_eq!(
            pick(Some("sandbox"), two.into_iter()),
            Some("Sandbox".into())
        );
        assert_eq!(pick(Some("Gone"), two.into_iter()), None);
        assert_eq!(pick(None, std::iter::empty()), None);
    }

    #[test]
    fn environments_of_other_families_are_skipped() {
        let bc =
            json!({"name":"Production","type":"Production","applicationFamily":"BusinessCentral"});
        let other = json!({"name":"X","applicationFamily":"Other"});
        assert_eq!(
            parse_environment(&bc).unwrap().kind.as_deref(),
            Some("production")
        );
        assert!(parse_environment(&other).is_none());
        assert!(parse_environment(&json!({"type":"Sandbox"})).is_none());
    }

    #[test]
    fn the_local_currency_is_the_trimmed_code_or_none() {
        let one = |v: Value| lcy_of(Ok(vec![v]));
        assert_eq!(
            one(json!({"currencyCode": " CAD "})).unwrap(),
            Some("CAD".into())
        );
        assert_eq!(one(json!({"currencyCode": "  "})).unwrap(), None);
        assert_eq!(one(json!({"currencyCode": null})).unwrap(), None);
        assert_eq!(one(json!({"displayName": "CRONUS"})).unwrap(), None);
        assert_eq!(lcy_of(Ok(vec![])).unwrap(), None);
    }

    #[test]
    fn a_missing_or_unreadable_entity_leaves_the_local_currency_unknown() {
        let not_found = ConnectorError::NotFound {
            code: Some("BadRequest_ResourceNotFound".into()),
            message: "Resource not found for the segment 'companyInformation'.".into(),
        };
        assert_eq!(lcy_of(Err(not_found)).unwrap(), None);
        let forbidden = ConnectorError::Forbidden {
            code: Some("Authorization_InsufficientPermissions".into()),
            message: "no permission".into(),
        };
        assert_eq!(
            lcy_of(Err(forbidden)).unwrap(),
            None,
            "optional: setup goes on"
        );
        let down = ConnectorError::Transient {
            message: "502".into(),
            retry_after: None,
        };
        let err = lcy_of(Err(down)).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Transient);
    }

    #[test]
    fn company_needs_an_id() {
        assert!(parse_company(&json!({"name":"CRONUS"})).is_err());
        let c = parse_company(&json!({"id":"a","name":"CRONUS"})).unwrap();
        assert_eq!(c.display_name, "CRONUS");
    }
}
