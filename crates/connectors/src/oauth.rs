//! Provider-neutral OAuth 2.0 pieces: PKCE, token responses, reading claims from an access token.

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ConnectorError;

/// A PKCE (RFC 7636) verifier and its S256 challenge.
///
/// The verifier is stored with the `state` until the callback; the challenge goes into the authorize URL.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// The secret verifier (43 URL-safe characters), sent with the code exchange.
    pub verifier: SecretString,
    /// `BASE64URL(SHA256(verifier))`, sent in the authorize URL with `code_challenge_method=S256`.
    pub challenge: String,
}

impl Pkce {
    /// A fresh verifier from 32 random bytes, and its challenge.
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self::from_verifier(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The challenge for a known verifier (for instance one read back from storage).
    pub fn from_verifier(verifier: String) -> Self {
        let challenge = s256_challenge(&verifier);
        Self {
            verifier: SecretString::from(verifier),
            challenge,
        }
    }
}

/// `BASE64URL-ENCODE(SHA256(ASCII(verifier)))` without padding.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Tokens from a token endpoint. `Debug` redacts the secrets.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// The access token (a bearer token).
    pub access_token: SecretString,
    /// The refresh token, when the grant returns one. Entra rotates it on every refresh: persist the new one.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires (from `expires_in`; one hour when the answer omits it).
    pub expires_at: DateTime<Utc>,
    /// Granted scopes, space separated, when the answer says.
    pub scope: Option<String>,
    /// The directory (tenant) the token was issued for, read from its `tid` claim.
    pub tenant_id: Option<String>,
}

impl TokenSet {
    /// Parses a token endpoint success body (`access_token`, `refresh_token`, `expires_in`, `scope`).
    /// `expires_in` may be a number or a numeric string (older endpoints send strings).
    pub fn from_token_response(body: &Value, now: DateTime<Utc>) -> Result<Self, ConnectorError> {
        let access = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ConnectorError::invalid("token response without access_token"))?;
        let expires_in = body.get("expires_in").and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        });
        let refresh = body
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        Ok(Self {
            tenant_id: jwt_tenant_id(access),
            access_token: SecretString::from(access.to_owned()),
            refresh_token: refresh.map(|t| SecretString::from(t.to_owned())),
            expires_at: now + Duration::seconds(expires_in.unwrap_or(3600).clamp(0, 86_400 * 366)),
            scope: body.get("scope").and_then(Value::as_str).map(str::to_owned),
        })
    }

    /// Whether the access token expires within `margin` of `now` (refresh ahead of expiry).
    pub fn expires_within(&self, now: DateTime<Utc>, margin: Duration) -> bool {
        self.expires_at <= now + margin
    }
}

/// What came back on the OAuth redirect (`?code=…&state=…` or `?error=…&error_description=…&state=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// The `state` echoed back, if any (verify it before anything else).
    pub state: Option<String>,
    /// The authorization code, or the classified error (`access_denied` → `Unauthorized`, …).
    pub code: Result<String, ConnectorError>,
}

/// Reads an OAuth redirect's query string.
pub fn parse_callback(query: &str) -> Callback {
    let mut pairs: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
    let state = pairs.remove("state").filter(|s| !s.is_empty());
    let code = match (pairs.remove("code"), pairs.remove("error")) {
        (_, Some(error)) => {
            let body = serde_json::json!({
                "error": error,
                "error_description": pairs.remove("error_description").unwrap_or_default(),
            });
            Err(crate::error::classify_response(
                reqwest::StatusCode::BAD_REQUEST,
                None,
                body.to_string().as_bytes(),
            ))
        }
        (Some(code), None) if !code.is_empty() => Ok(code),
        _ => Err(ConnectorError::invalid(
            "the redirect carries neither a code nor an error",
        )),
    };
    Callback { state, code }
}

/// Longest token whose payload we are willing to decode.
const MAX_JWT_CHARS: usize = 16 * 1024;

/// The claims (payload) of a JWT, without verifying its signature. `None` for anything that is not a JWT
/// with a JSON object payload.
pub fn jwt_claims(token: &str) -> Option<serde_json::Map<String, Value>> {
    if token.len() > MAX_JWT_CHARS {
        return None;
    }
    let mut parts = token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(payload))
        .ok()?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The `tid` (Entra directory id) claim of an access token; `None` when absent or implausible.
/// No signature check: the token came straight from the token endpoint over TLS.
pub fn jwt_tenant_id(token: &str) -> Option<String> {
    let claims = jwt_claims(token)?;
    let tid = claims.get("tid")?.as_str()?;
    let plausible = !tid.is_empty()
        && tid.len() <= 64
        && tid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    plausible.then(|| tid.to_owned())
}

#[cfg(test)]
#[path = "oauth_tests.rs"]
mod tests;
