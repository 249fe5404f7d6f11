//! The browser's side of a connect session: its cookies, the CSRF check, and [`Visit`], the
//! extractor every page handler starts from.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use ledgerlink_domain::Connection;
use ledgerlink_store::{Branding, ConnectSession};

use super::html;
use crate::AppState;
use crate::auth::Tenant;

/// The session cookie: the browser's secret.
pub const COOKIE: &str = "ll_connect";
/// Set while the browser is away signing in with Microsoft; tells the OAuth callback to come back.
pub const RETURN_COOKIE: &str = "ll_connect_return";
/// Where the return marker is sent: only to the callback.
const CALLBACK_PATH: &str = "/v2/integrations/oauth/callback";

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Whether the browser reached us over https (directly as configured, or through a proxy that says
/// so): then cookies are `Secure`.
pub fn is_https(state: &AppState, headers: &HeaderMap) -> bool {
    state
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn secure(https: bool) -> &'static str {
    if https { "; Secure" } else { "" }
}

/// The session cookie for a browser that just claimed a link.
pub fn session_cookie(secret: &str, https: bool) -> String {
    format!(
        "{COOKIE}={secret}; Path=/connect; HttpOnly; SameSite=Strict; Max-Age={}{}",
        super::SESSION_TTL.num_seconds(),
        secure(https)
    )
}

/// The marker set when the browser leaves for Microsoft's sign-in: the connection it signs in
/// for, so that only that connection's callback comes back here. `Lax`: it must come back with
/// the top-level redirect from Microsoft. It holds no secret.
pub fn return_cookie(connection_id: &str, https: bool) -> String {
    format!(
        "{RETURN_COOKIE}={connection_id}; Path={CALLBACK_PATH}; HttpOnly; SameSite=Lax; Max-Age=3600{}",
        secure(https)
    )
}

/// Clears the marker.
pub fn clear_return_cookie() -> String {
    format!("{RETURN_COOKIE}=; Path={CALLBACK_PATH}; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Whether the OAuth callback for `connection_id` (the one its state names) is reached by a
/// browser that started signing in for that connection on the connect page.
pub fn returning_from_sign_in(headers: &HeaderMap, connection_id: Option<&str>) -> bool {
    connection_id.is_some_and(|id| cookie(headers, RETURN_COOKIE) == Some(id))
}

/// Equal, in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// An open session of this browser, its connection and its organization's branding.
pub struct Visit {
    pub session: ConnectSession,
    pub connection: Connection,
    pub branding: Branding,
    /// Whether the page is served over https.
    pub https: bool,
}

impl Visit {
    /// The organization, as the connection handlers take it (the page has no API key).
    pub fn tenant(&self) -> Tenant {
        Tenant {
            org_id: self.session.org_id.clone(),
            key_id: String::new(),
        }
    }

    /// Counts one form that calls Business Central; the page to answer when the session has sent
    /// too many this minute.
    pub fn over_budget(&self, state: &AppState) -> Option<Response> {
        state
            .connect_attempts
            .check(&self.session.id)
            .err()
            .map(|_| html::too_many(Some(&self.branding)))
    }

    /// Whether a submitted form carries this session's token.
    pub fn csrf_ok(&self, submitted: Option<&String>) -> bool {
        submitted.is_some_and(|t| same_secret(t, &self.session.csrf_token))
    }
}

impl FromRequestParts<AppState> for Visit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let now = state.engine.now();
        let secret = cookie(&parts.headers, COOKIE).filter(|s| s.len() == 64);
        let Some(secret) = secret else {
            return Err(html::ended(None));
        };
        let session = match state.store.connect_session(secret, now).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(html::ended(None)),
            Err(err) => return Err(html::internal(&err)),
        };
        if let Some(limiter) = &state.limiter
            && limiter.check(session.org_id.as_str()).is_err()
        {
            return Err(html::too_many(None));
        }
        let tenant = Tenant {
            org_id: session.org_id.clone(),
            key_id: String::new(),
        };
        let connection =
            match crate::connections::load(state, &tenant, &session.connection_id).await {
                Ok(c) => c,
                Err(_) => return Err(html::ended(None)),
            };
        let branding = state
            .store
            .org_branding(&session.org_id)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        Ok(Visit {
            session,
            connection,
            branding,
            https: is_https(state, &parts.headers),
        })
    }
}
