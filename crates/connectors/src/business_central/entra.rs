//! Microsoft Entra (identity platform v2) flows: authorize URL with PKCE, code exchange, refresh,
//! client credentials.

use chrono::Utc;
use reqwest::header::ACCEPT;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use super::{BusinessCentral, EntraApp};
use crate::connector::{AuthorizationRequest, Target};
use crate::error::ConnectorError;
use crate::http::execute;
use crate::oauth::TokenSet;

/// Longest token response we read.
const MAX_TOKEN_BODY: usize = 256 * 1024;

impl BusinessCentral {
    fn app(&self) -> Result<&EntraApp, ConnectorError> {
        self.config.app.as_ref().ok_or_else(|| {
            ConnectorError::NotConfigured(
                "no Microsoft Entra app is configured (client id, client secret, redirect URI)"
                    .into(),
            )
        })
    }

    /// `{login}/{tenant}/oauth2/v2.0/{leaf}`.
    fn login_url(&self, tenant: &str, leaf: &str) -> Result<Url, ConnectorError> {
        let mut url = self.config.login_base_url.clone();
        url.path_segments_mut()
            .map_err(|_| ConnectorError::NotConfigured("login base URL cannot be a base".into()))?
            .pop_if_empty()
            .extend([tenant, "oauth2", "v2.0", leaf]);
        Ok(url)
    }

    fn delegated_scope(&self) -> String {
        format!("{} offline_access", self.config.resource_scope)
    }

    /// The Entra authorize URL: code flow, PKCE S256, the caller's `state`.
    pub(super) fn authorize_url(&self, req: &AuthorizationRequest) -> Result<Url, ConnectorError> {
        let app = self.app()?;
        if req.state.is_empty() || req.code_challenge.is_empty() {
            return Err(ConnectorError::invalid(
                "authorization request needs a state and a PKCE challenge",
            ));
        }
        let tenant = req
            .tenant_id
            .as_deref()
            .unwrap_or(&self.config.authority_tenant);
        let mut url = self.login_url(tenant, "authorize")?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &app.client_id)
                .append_pair("response_type", "code")
                .append_pair("redirect_uri", app.redirect_uri.as_str())
                .append_pair("response_mode", "query")
                .append_pair("scope", &self.delegated_scope())
                .append_pair("state", &req.state)
                .append_pair("code_challenge", &req.code_challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(hint) = &req.login_hint {
                q.append_pair("login_hint", hint);
            }
        }
        Ok(url)
    }

    /// Redeems an authorization code.
    #[tracing::instrument(name = "bc.exchange_code", skip_all, fields(provider = super::PROVIDER_NAME))]
    pub(super) async fn redeem_code(
        &self,
        code: &str,
        verifier: &SecretString,
    ) -> Result<TokenSet, ConnectorError> {
        let app = self.app()?;
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", app.redirect_uri.to_string()),
            ("code_verifier", verifier.expose_secret().to_owned()),
            ("scope", self.delegated_scope()),
        ];
        let tenant = self.config.authority_tenant.clone();
        self.token_request(&tenant, form).await
    }

    /// Redeems a refresh token; Entra answers with a rotated refresh token.
    #[tracing::instrument(name = "bc.refresh", skip_all, fields(provider = super::PROVIDER_NAME))]
    pub(super) async fn redeem_refresh_token(
        &self,
        target: &Target,
        refresh_token: &SecretString,
    ) -> Result<TokenSet, ConnectorError> {
        let form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.expose_secret().to_owned()),
            ("scope", self.delegated_scope()),
        ];
        let tenant = target
            .tenant_id
            .clone()
            .unwrap_or_else(|| self.config.authority_tenant.clone());
        self.token_request(&tenant, form).await
    }

    /// An app-only token for `tenant_id` (service-to-service).
    #[tracing::instrument(name = "bc.client_credentials", skip_all, fields(provider = super::PROVIDER_NAME))]
    pub(super) async fn app_token(&self, tenant_id: &str) -> Result<TokenSet, ConnectorError> {
        if tenant_id.is_empty() {
            return Err(ConnectorError::NotConfigured(
                "client credentials need a tenant id".into(),
            ));
        }
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("scope", self.config.resource_scope.clone()),
        ];
        let mut tokens = self.token_request(tenant_id, form).await?;
        tokens.tenant_id.get_or_insert_with(|| tenant_id.to_owned());
        Ok(tokens)
    }

    /// POSTs a token request (client id and secret added here) and parses the answer.
    async fn token_request(
        &self,
        tenant: &str,
        mut form: Vec<(&'static str, String)>,
    ) -> Result<TokenSet, ConnectorError> {
        let app = self.app()?;
        form.push(("client_id", app.client_id.clone()));
        form.push((
            "client_secret",
            app.client_secret.expose_secret().to_owned(),
        ));
        let url = self.login_url(tenant, "token")?;
        let req = self
            .cloud
            .post(url)
            .header(ACCEPT, "application/json")
            .form(&form);
        let answer = execute(req, MAX_TOKEN_BODY).await?.success()?;
        let body: Value = answer.json()?;
        TokenSet::from_token_response(&body, Utc::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::business_central::BcConfig;

    fn bc(app: bool) -> BusinessCentral {
        let mut config = BcConfig::default();
        if app {
            config.app = Some(EntraApp::new(
                "cid",
                "s3cret".to_owned().into(),
                "https://ll.example.com/v2/integrations/oauth/callback"
                    .parse()
                    .unwrap(),
            ));
        }
        BusinessCentral::new(config).unwrap()
    }

    fn request() -> AuthorizationRequest {
        AuthorizationRequest {
            state: "st.ate".into(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            ..Default::default()
        }
    }

    #[test]
    fn authorize_url_has_pkce_state_and_scope() {
        let url = bc(true).authorize_url(&request()).unwrap();
        assert!(
            url.as_str()
                .starts_with("https://login.microsoftonline.com/common/oauth2/v2.0/authorize?")
        );
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "cid");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["state"], "st.ate");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"], request().code_challenge);
        assert_eq!(
            q["scope"],
            "https://api.businesscentral.dynamics.com/.default offline_access"
        );
        assert_eq!(
            q["redirect_uri"],
            "https://ll.example.com/v2/integrations/oauth/callback"
        );
        assert!(!url.as_str().contains("s3cret"));
    }

    #[test]
    fn authorize_url_without_app_is_not_configured() {
        let err = bc(false).authorize_url(&request()).unwrap_err();
        assert!(matches!(err, ConnectorError::NotConfigured(_)));
    }

    #[test]
    fn authorize_url_uses_known_tenant() {
        let mut req = request();
        req.tenant_id = Some("7d3c1f9e-0b8a-4c39-9a51-2f6e8d4b1c01".into());
        let url = bc(true).authorize_url(&req).unwrap();
        assert_eq!(
            url.path(),
            "/7d3c1f9e-0b8a-4c39-9a51-2f6e8d4b1c01/oauth2/v2.0/authorize"
        );
    }

    #[test]
    fn debug_output_hides_the_client_secret() {
        let text = format!("{:?}", bc(true));
        assert!(!text.contains("s3cret"), "{text}");
    }
}
