//! HTTP handlers of the identity surface: `/authorize`, `/token`, bearer checks, `/environments/v1.2`.

use std::collections::HashMap;

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::State;
use crate::error::ApiError;

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
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let f: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
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
