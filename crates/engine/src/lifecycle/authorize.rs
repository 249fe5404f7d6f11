//! Authorizing a connection: the OAuth redirect for cloud connections, a user name and web service
//! access key for on-premises ones, and asking for credentials again when the server changes.

use std::sync::Arc;

use ledgerlink_connectors::{AuthorizationRequest, Credentials, Session, parse_callback};
use ledgerlink_domain::{Connection, HealthStatus, OrgId};
use secrecy::SecretString;

use crate::credentials::StoredCredentials;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::lifecycle::session::target_of;
use crate::oauth_state::{self, StateError};

/// On-premises credentials one live call accepted at a server URL. Only
/// [`Engine::prove_basic_credentials`] makes one, so only proved credentials are stored.
pub struct ProvenBasic {
    connection_id: String,
    api_url: Option<String>,
    username: String,
    key: SecretString,
}

impl ProvenBasic {
    /// The server URL the credentials were proved against.
    pub fn api_url(&self) -> Option<&str> {
        self.api_url.as_deref()
    }
}

impl Engine {
    /// Whether the connection authorizes through OAuth but this server has no OAuth app for it.
    pub fn oauth_unconfigured(&self, c: &Connection) -> bool {
        self.uses_oauth(c)
            && !self
                .oauth_ready
                .get(c.provider_name.as_str())
                .copied()
                .unwrap_or(false)
    }

    /// A fresh authorization URL (signed single-use state, PKCE) for a cloud connection; `None` for
    /// on-premises connections and when the server has no OAuth app.
    pub fn authorization_url(&self, c: &Connection) -> Option<String> {
        if !self.uses_oauth(c) || self.oauth_unconfigured(c) {
            return None;
        }
        let (state, verifier) =
            oauth_state::issue(&self.vault, &c.id, c.org_id.as_str(), self.now());
        let request = AuthorizationRequest {
            state,
            code_challenge: ledgerlink_connectors::oauth::s256_challenge(&verifier),
            login_hint: None,
            tenant_id: c.tenant_id.clone(),
        };
        let connector = self.connectors.get(c.provider_name.as_str())?;
        connector.authorization_url(&request).ok().map(String::from)
    }

    /// The connection an OAuth redirect's genuine `state` names, whether or not it can still be
    /// redeemed.
    pub fn callback_connection(&self, query: &str) -> Option<String> {
        let state = parse_callback(query).state?;
        oauth_state::connection_of(&self.vault, &state)
    }

    /// Handles the OAuth redirect (`?code=…&state=…`): checks the state, redeems it once, exchanges
    /// the code, stores the tokens sealed, and starts setup. Nothing changes when any step fails.
    pub async fn complete_authorization(
        self: &Arc<Self>,
        query: &str,
    ) -> Result<Connection, EngineError> {
        let callback = parse_callback(query);
        let state = callback.state.ok_or(StateError::Forged)?;
        let claims = oauth_state::verify(&self.vault, &state, self.now())?;
        let org = OrgId(claims.org_id.clone());
        let mut conn = self
            .store()
            .get_connection(&org, &claims.connection_id)
            .await?
            .ok_or(EngineError::NotFound)?;
        if !self
            .store()
            .redeem_oauth_state(&claims.nonce, &conn.id, self.now())
            .await?
        {
            return Err(EngineError::Replayed);
        }
        let code = callback.code.map_err(EngineError::Declined)?;
        let connector = self.connector(&conn.provider_name)?;
        let verifier = SecretString::from(self.vault.pkce_verifier(&claims.nonce));
        let tokens = connector
            .exchange_code(&code, &verifier)
            .await
            .map_err(EngineError::Declined)?;
        let creds =
            StoredCredentials::from_tokens(&tokens, self.settings().refresh_margin, self.now());
        self.put_credentials(&conn.id, &creds).await?;
        if tokens.tenant_id.is_some() && conn.tenant_id != tokens.tenant_id {
            // Another directory: what setup found before no longer applies.
            conn.environment = None;
            conn.company = None;
            conn.company_name = None;
            conn.discovery = None;
        }
        conn.tenant_id = tokens.tenant_id.or(conn.tenant_id);
        self.begin_setup(conn).await
    }

    /// Accepts on-premises credentials after one live call proves them, stores them sealed, and starts
    /// setup.
    pub async fn set_basic_credentials(
        self: &Arc<Self>,
        org: &OrgId,
        id: &str,
        username: String,
        key: SecretString,
    ) -> Result<Connection, EngineError> {
        let proof = self
            .prove_basic_credentials(org, id, None, username, key)
            .await?;
        self.set_proven_basic_credentials(org, proof).await
    }

    /// Proves on-premises credentials with one live call against `api_url` (`None`: the
    /// connection's own), storing nothing: a wrong server or key leaves the connection as it was.
    pub async fn prove_basic_credentials(
        &self,
        org: &OrgId,
        id: &str,
        api_url: Option<&str>,
        username: String,
        key: SecretString,
    ) -> Result<ProvenBasic, EngineError> {
        let mut conn = self.load(org, id).await?;
        if !conn.is_on_premise {
            return Err(EngineError::Invalid(
                "this is a cloud connection: authorize it by opening its authorization_url".into(),
            ));
        }
        if let Some(url) = api_url {
            conn.api_url = Some(url.to_owned());
        }
        let session = Session {
            target: target_of(&conn)?,
            credentials: Credentials::Basic {
                username: username.clone(),
                password: key.clone(),
            },
        };
        self.connector(&conn.provider_name)?
            .validate_credentials(&session)
            .await?;
        Ok(ProvenBasic {
            connection_id: conn.id,
            api_url: conn.api_url,
            username,
            key,
        })
    }

    /// Stores credentials [`Self::prove_basic_credentials`] proved, sealed, and starts setup;
    /// refused when the connection's server is no longer the one they were proved against.
    pub async fn set_proven_basic_credentials(
        self: &Arc<Self>,
        org: &OrgId,
        proof: ProvenBasic,
    ) -> Result<Connection, EngineError> {
        let conn = self.load(org, &proof.connection_id).await?;
        if conn.api_url != proof.api_url {
            return Err(EngineError::Invalid(
                "the server URL changed meanwhile: submit the credentials again".into(),
            ));
        }
        let creds = StoredCredentials::Basic {
            username: proof.username,
            key: secrecy::ExposeSecret::expose_secret(&proof.key).to_owned(),
        };
        self.put_credentials(&conn.id, &creds).await?;
        self.begin_setup(conn).await
    }

    /// Forgets the credentials of a connection whose server changed: they were given for the old one
    /// and must not be sent to the new one. The connection waits for credentials again.
    pub async fn require_credentials_again(
        &self,
        org: &OrgId,
        id: &str,
    ) -> Result<Connection, EngineError> {
        // The organization's own connection first: only then its secret.
        let mut conn = self.load(org, id).await?;
        self.store().delete_secret(&conn.id).await?;
        conn.is_authentication_pending = true;
        conn.is_running_setup = false;
        conn.health_status = HealthStatus::AuthenticationPending;
        conn.health_message = Some(
            "The server URL changed: submit the user name and web service access key for the new \
             server."
                .into(),
        );
        conn.health_checked_at = self.now();
        self.save(&conn).await?;
        self.reload(&conn).await
    }
}
