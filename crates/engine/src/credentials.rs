//! A connection's credentials as sealed in the store, and the per-connection refresh lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use ledgerlink_connectors::{Credentials, TokenSet};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The plaintext inside a sealed secret. Only ever in memory; `Debug` redacts.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StoredCredentials {
    /// OAuth tokens (BC online).
    Oauth {
        /// Bearer access token.
        access_token: String,
        /// Rotating refresh token.
        refresh_token: Option<String>,
        /// Access token expiry.
        expires_at: DateTime<Utc>,
        /// When to refresh: ahead of expiry by the refresh margin, or half the token's lifetime when
        /// that is shorter.
        refresh_at: DateTime<Utc>,
    },
    /// HTTP Basic (BC on-premises): user name and web service access key.
    Basic {
        /// User name.
        username: String,
        /// Web service access key.
        key: String,
    },
}

impl std::fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Oauth { expires_at, .. } => write!(f, "Oauth {{ expires_at: {expires_at}, .. }}"),
            Self::Basic { username, .. } => write!(f, "Basic {{ username: {username:?}, .. }}"),
        }
    }
}

impl StoredCredentials {
    /// From a token endpoint answer received at `now`.
    pub fn from_tokens(tokens: &TokenSet, margin: chrono::Duration, now: DateTime<Utc>) -> Self {
        let lifetime = (tokens.expires_at - now).max(chrono::Duration::zero());
        Self::Oauth {
            refresh_at: tokens.expires_at - margin.min(lifetime / 2),
            access_token: tokens.access_token.expose_secret().to_owned(),
            refresh_token: tokens
                .refresh_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            expires_at: tokens.expires_at,
        }
    }

    /// The store's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Oauth { .. } => "oauth",
            Self::Basic { .. } => "basic",
        }
    }

    /// When the access token should be refreshed (OAuth only).
    pub fn refresh_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Oauth { refresh_at, .. } => Some(*refresh_at),
            Self::Basic { .. } => None,
        }
    }

    /// When the access token expires (OAuth only).
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Oauth { expires_at, .. } => Some(*expires_at),
            Self::Basic { .. } => None,
        }
    }

    /// What a connector call needs.
    pub fn to_credentials(&self) -> Credentials {
        match self {
            Self::Oauth { access_token, .. } => {
                Credentials::Bearer(SecretString::from(access_token.clone()))
            }
            Self::Basic { username, key } => Credentials::Basic {
                username: username.clone(),
                password: SecretString::from(key.clone()),
            },
        }
    }
}

/// One async mutex per connection id, so concurrent callers in this process never race two refreshes
/// (across processes the store's compare-and-swap on the secret's version decides).
#[derive(Default)]
pub struct RefreshLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl RefreshLocks {
    /// The lock of `connection_id`.
    pub fn lock_for(&self, connection_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        // Forget locks nobody holds, so the map stays as small as the set of active connections.
        if locks.len() > 1024 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(connection_id.to_owned()).or_default().clone()
    }
}
