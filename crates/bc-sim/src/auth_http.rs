//! HTTP handlers of the identity surface: `/authorize`, `/token`, bearer checks, `/environments/v1.2`.

use std::collections::HashMap;

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::error::ApiError;
use crate::state::State;

pub async fn authorize(state: &State, tenant: &str, req: Request) -> Response {
    let q: HashMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let now = state.clock.now_ms();
    let r = state
        .identity
        .lock()
        .expect("identity")
        .authorize(&state.cfg, tenant, &q, now);
    match r {
        Ok(loc) if q.get("response_mode").map(|s| s.as_str()) == Some("form_post") => {
            // Entra posts the parameters to redirect_uri from an auto-submitting form.
            let (action, query) = loc.split_once('?').unwrap_or((&loc, ""));
            let esc = |s: &str| s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
            let inputs: String = url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\" />", esc(&k), esc(&v)))
                .collect();
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                format!("<html><head><title>Working...</title></head><body onload=\"document.forms[0].submit()\"><form method=\"POST\" name=\"hiddenform\" action=\"{}\">{inputs}<noscript><input type=\"submit\" value=\"Continue\" /></noscript></form></body></html>", esc(action)),
            )
                .into_response()
        }
        Ok(loc) => (StatusCode::FOUND, [(header::LOCATION, loc)]).into_response(),
        Err((status, msg)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            format!("<html><body><h1>Sign in</h1><p>Sorry, but we're having trouble signing you in.</p><p>{msg}</p></body></html>"),
        )
            .into_response(),
    }
}

pub async fn token(state: &State, tenant: &str, req: Request) -> Response {
    // client_secret_basic: `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            let dec = |x: &str| {
                url::form_urlencoded::parse(format!("v={x}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((dec(id)?, dec(secret)?))
        });
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let mut f: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if let Some((id, secret)) = basic {
        f.entry("client_id".into()).or_insert(id);
        f.entry("client_secret".into()).or_insert(secret);
    }
    let now = state.clock.now_ms();
    let r = state
        .identity
        .lock()
        .expect("identity")
        .token(&state.cfg, tenant, &f, now);
    match r {
        Ok(v) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store, no-cache")],
            axum::Json(v),
        )
            .into_response(),
        Err(e) => (
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            axum::Json(e.body(now)),
        )
            .into_response(),
    }
}

pub fn bearer(state: &State, headers: &HeaderMap) -> Result<crate::identity::Claims, ApiError> {
    let www = |tid: &str| {
        format!(
            "Bearer authorization_uri=\"{}/{tid}/oauth2/authorize\", resource_id=\"{}\"",
            state.base_url,
            crate::identity::AUDIENCE
        )
    };
    let tid0 = state
        .cfg
        .tenants
        .first()
        .map(|t| t.id.to_string())
        .unwrap_or_default();
    let tok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or_else(|| ApiError::unauthorized().header("WWW-Authenticate", www(&tid0)))?;
    if state.faults.lock().expect("faults").cfg.tokens_expired {
        return Err(ApiError::new(
            401,
            "Authentication_InvalidCredentials",
            "The token has expired.",
        )
        .header("WWW-Authenticate", www(&tid0)));
    }
    let now = state.clock.now_ms();
    state
        .identity
        .lock()
        .expect("identity")
        .verify(tok, now)
        .map_err(|why| {
            let msg = match why {
                "expired" => "The token has expired.",
                "revoked" => "The token has been revoked.",
                _ => "The server has rejected the client credentials.",
            };
            ApiError::new(401, "Authentication_InvalidCredentials", msg)
                .header("WWW-Authenticate", www(&tid0))
        })
}

pub async fn environments(state: &State, req: Request) -> Result<Response, ApiError> {
    let c = bearer(state, req.headers())?;
    let w = state.world.read().expect("world");
    let value: Vec<serde_json::Value> = w
        .envs
        .iter()
        .filter(|e| e.tenant == c.tid && !e.removed)
        .map(|e| {
            serde_json::json!({
                "aadTenantId": e.tenant,
                "applicationFamily": "BusinessCentral",
                "type": e.kind,
                "name": e.name,
                "countryCode": "US",
                "webServiceUrl": format!("{}/v2.0/{}/{}", state.base_url, e.tenant, e.name),
                "webClientLoginUrl": format!("{}/{}/{}", state.base_url, e.tenant, e.name),
                "ringName": if e.kind == "Sandbox" { "PREVIEW" } else { "PROD" },
            })
        })
        .collect();
    Ok(axum::Json(serde_json::json!({ "value": value })).into_response())
}

/// `/{tenant}/v2.0/.well-known/openid-configuration` (the parts OAuth clients read).
pub fn openid_configuration(state: &State, tenant: &str) -> Response {
    let Some(tid) = crate::identity::Identity::resolve_tenant(&state.cfg, tenant) else {
        return (StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"error": "invalid_tenant", "error_description": format!("AADSTS90002: Tenant '{tenant}' not found.")}))).into_response();
    };
    let b = &state.base_url;
    axum::Json(serde_json::json!({
        "issuer": format!("{b}/{tid}/v2.0"),
        "authorization_endpoint": format!("{b}/{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{b}/{tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "tenant_region_scope": "NA",
    }))
    .into_response()
}

/// `/{tenant}/v2.0/adminconsent`: an admin grants the app for the tenant, then is redirected
/// with `admin_consent=True&tenant=…&state=…`.
pub fn admin_consent(state: &State, tenant: &str, req: &Request) -> Response {
    let q: HashMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let cid = q.get("client_id").cloned().unwrap_or_default();
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    if cid != state.cfg.app.client_id || !state.cfg.app.redirect_uris.contains(&redirect) {
        return (
            StatusCode::BAD_REQUEST,
            format!("AADSTS50011: invalid client_id or redirect URI '{redirect}'."),
        )
            .into_response();
    }
    let Some(tid) = crate::identity::Identity::resolve_tenant(&state.cfg, tenant) else {
        return (
            StatusCode::BAD_REQUEST,
            format!("AADSTS90002: Tenant '{tenant}' not found."),
        )
            .into_response();
    };
    let now = state.clock.now_ms();
    state
        .identity
        .lock()
        .expect("identity")
        .grant_consent(tid, now);
    let Ok(mut u) = url::Url::parse(&redirect) else {
        return (StatusCode::BAD_REQUEST, "AADSTS50011: invalid redirect URI").into_response();
    };
    u.query_pairs_mut()
        .append_pair("admin_consent", "True")
        .append_pair("tenant", &tid.to_string());
    if let Some(s) = q.get("state") {
        u.query_pairs_mut().append_pair("state", s);
    }
    (StatusCode::FOUND, [(header::LOCATION, u.to_string())]).into_response()
}
