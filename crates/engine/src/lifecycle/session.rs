//! Sessions: the credentials for one ERP call, with access tokens refreshed ahead of expiry under a
//! per-connection lock (and compare-and-swap across processes); revoking them on disconnect.

use ledgerlink_connectors::{ConnectorError, Session, Target};
use ledgerlink_domain::Connection;
use ledgerlink_store::SealedSecret;
use secrecy::SecretString;

use crate::credentials::StoredCredentials;
use crate::engine::Engine;
use crate::error::EngineError;

impl Engine {
    /// Credentials for one call, refreshing the access token ahead of expiry under the connection's
    /// lock. An `invalid_grant` marks the connection `authentication_failed`.
    pub async fn session(&self, conn: &Connection) -> Result<Session, ConnectorError> {
        self.session_with(conn, false).await
    }

    /// Like [`Engine::session`]; with `force_refresh`, the access token is refreshed even if it looks
    /// valid (after the ERP refused it), unless another caller refreshed it meanwhile.
    pub async fn session_with(
        &self,
        conn: &Connection,
        force_refresh: bool,
    ) -> Result<Session, ConnectorError> {
        let target = target_of(conn).map_err(|e| ConnectorError::NotConfigured(e.to_string()))?;
        let creds = self.credentials(conn, &target, force_refresh).await?;
        Ok(Session {
            target,
            credentials: creds.to_credentials(),
        })
    }

    async fn credentials(
        &self,
        conn: &Connection,
        target: &Target,
        force: bool,
    ) -> Result<StoredCredentials, ConnectorError> {
        let (creds, seen) = self.read_credentials(&conn.id).await?;
        if creds.refresh_at().is_none() || (!force && !needs_refresh(&creds, self.now())) {
            return Ok(creds);
        }
        let lock = self.locks.lock_for(&conn.id);
        let _held = lock.lock().await;
        // Someone may have refreshed while we waited for the lock.
        let (creds, version) = self.read_credentials(&conn.id).await?;
        if version != seen || (!force && !needs_refresh(&creds, self.now())) {
            return Ok(creds);
        }
        let StoredCredentials::Oauth {
            refresh_token: Some(refresh_token),
            ..
        } = &creds
        else {
            return Err(ConnectorError::Unauthorized {
                code: Some("no_refresh_token".into()),
                message: "the access token expired and there is no refresh token".into(),
            });
        };
        let connector = self
            .connectors
            .get(conn.provider_name.as_str())
            .ok_or_else(|| ConnectorError::Unsupported("no connector".into()))?;
        let tokens = connector
            .refresh(target, &SecretString::from(refresh_token.clone()))
            .await?;
        let mut fresh =
            StoredCredentials::from_tokens(&tokens, self.settings().refresh_margin, self.now());
        if let StoredCredentials::Oauth {
            refresh_token: new_refresh @ None,
            ..
        } = &mut fresh
        {
            // The endpoint did not rotate it: keep the one we have.
            *new_refresh = Some(refresh_token.clone());
        }
        let sealed = self.seal(&conn.id, &fresh);
        match self
            .store()
            .put_secret(&conn.id, &sealed, Some(version), self.now())
            .await
        {
            Ok(true) => {
                tracing::info!(connection_id = %conn.id, "access token refreshed");
                Ok(fresh)
            }
            // Another process refreshed first; its tokens are the live ones.
            Ok(false) => Ok(self.read_credentials(&conn.id).await?.0),
            Err(e) => {
                tracing::error!(connection_id = %conn.id, error = %e, "storing refreshed tokens failed");
                Err(ConnectorError::transient(
                    "ledgerlink could not write its database",
                ))
            }
        }
    }

    pub(crate) async fn read_credentials(
        &self,
        id: &str,
    ) -> Result<(StoredCredentials, i64), ConnectorError> {
        let secret = self
            .store()
            .get_secret(id)
            .await
            .map_err(|e| {
                tracing::error!(connection_id = %id, error = %e, "reading credentials failed");
                ConnectorError::transient("ledgerlink could not read its database")
            })?
            .ok_or_else(|| ConnectorError::Unauthorized {
                code: Some("no_credentials".into()),
                message: "no credentials are stored for this connection".into(),
            })?;
        let plain = self
            .vault
            .open_sealed(id, &secret.sealed)
            .map_err(|e| ConnectorError::NotConfigured(e.to_string()))?;
        let creds = serde_json::from_slice(&plain).map_err(|_| {
            ConnectorError::NotConfigured("stored credentials are unreadable".into())
        })?;
        Ok((creds, secret.version))
    }

    fn seal(&self, id: &str, creds: &StoredCredentials) -> SealedSecret {
        let plain = serde_json::to_vec(creds).expect("credentials serialize");
        SealedSecret {
            kind: creds.kind().into(),
            sealed: self.vault.seal(id, &plain),
            version: 1,
            expires_at: creds.expires_at(),
        }
    }

    pub(crate) async fn put_credentials(
        &self,
        id: &str,
        creds: &StoredCredentials,
    ) -> Result<(), EngineError> {
        let sealed = self.seal(id, creds);
        self.store()
            .put_secret(id, &sealed, None, self.now())
            .await?;
        Ok(())
    }

    /// Revokes what the provider allows and forgets the credentials (before the connection is deleted).
    pub async fn disconnect(&self, conn: &Connection) {
        // Revoke with what is stored; refreshing a token only to revoke it is not worth the wait.
        let session = match (target_of(conn), self.read_credentials(&conn.id).await) {
            (Ok(target), Ok((creds, _))) => Some(Session {
                target,
                credentials: creds.to_credentials(),
            }),
            _ => None,
        };
        if let (Some(session), Some(connector)) =
            (session, self.connectors.get(conn.provider_name.as_str()))
            && let Err(err) = connector.revoke(&session).await
        {
            tracing::warn!(connection_id = %conn.id, error = %err, "could not revoke credentials");
        }
        if let Err(err) = self.store().delete_secret(&conn.id).await {
            tracing::warn!(connection_id = %conn.id, error = %err, "could not delete credentials");
        }
    }
}

fn needs_refresh(creds: &StoredCredentials, now: chrono::DateTime<chrono::Utc>) -> bool {
    creds.refresh_at().is_some_and(|at| at <= now)
}

/// Where a connection's data lives, for the connector.
pub(crate) fn target_of(c: &Connection) -> Result<Target, EngineError> {
    let api_url = match (&c.api_url, c.is_on_premise) {
        (Some(url), true) => Some(
            url.parse()
                .map_err(|_| EngineError::Invalid(format!("api_url {url:?} is not a URL")))?,
        ),
        (None, true) => {
            return Err(EngineError::Invalid(
                "an on-premises connection needs api_url".into(),
            ));
        }
        (_, false) => None,
    };
    Ok(Target {
        api_url,
        tenant_id: c.tenant_id.clone(),
        environment: c.environment.clone(),
        company_id: c.company.clone(),
    })
}
