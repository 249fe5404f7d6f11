//! `GET /v2/integrations/oauth/callback`: where a user's browser lands after consenting at Microsoft.
//! No API key: the signed, expiring, single-use `state` names the connection. The answer is a small
//! HTML page for the person in front of the browser.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use ledgerlink_engine::EngineError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// OAuth callback
///
/// The redirect target registered on the Entra app. Exchanges the authorization `code` for tokens
/// (PKCE), stores them encrypted, and starts setup. A forged, expired or already used `state`
/// changes nothing and answers 400. When the sign-in started on the hosted connect page, the
/// answer is a page that takes the browser back there, whatever the outcome (only for the
/// connection whose sign-in the page started).
#[utoipa::path(
    get,
    path = "/v2/integrations/oauth/callback",
    tag = "oauth",
    params(
        ("code" = Option<String>, Query, description = "The authorization code from Microsoft Entra."),
        ("state" = String, Query, description = "The state ledgerlink put in the authorization URL."),
        ("error" = Option<String>, Query, description = "Set instead of `code` when consent was not given."),
        ("error_description" = Option<String>, Query, description = "Entra's explanation of `error`."),
    ),
    responses(
        (status = 200, description = "Authorized; an HTML page says so", content_type = "text/html"),
        (status = 400, description = "Invalid, expired or reused state, or consent not given", content_type = "text/html"),
        (status = 502, description = "Microsoft refused to redeem the code", content_type = "text/html"),
    )
)]
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    // Read before the state is spent; `None` for a forged one.
    let for_connection = state.engine.callback_connection(&query);
    let result = state.engine.complete_authorization(&query).await;
    match &result {
        Ok(conn) => tracing::info!(connection_id = %conn.id, "connection authorized"),
        Err(err) => tracing::warn!(error = %err, "OAuth callback refused"),
    }
    if crate::connect::returning_from_sign_in(&headers, for_connection.as_deref()) {
        // This connection's sign-in started on the hosted connect page: the browser goes back.
        return crate::connect::after_sign_in(&result, &query);
    }
    match result {
        Ok(conn) => page(
            StatusCode::OK,
            "Connected",
            &format!(
                "Business Central is connected{}. ledgerlink is now finding your environments \
                     and companies; you can close this window.",
                conn.name
                    .as_deref()
                    .map(|n| format!(" to “{}”", escape(n)))
                    .unwrap_or_default()
            ),
        ),
        Err(err) => {
            let status = match &err {
                EngineError::Store(_) | EngineError::Vault(_) => StatusCode::INTERNAL_SERVER_ERROR,
                EngineError::Declined(e)
                    if matches!(
                        e.kind(),
                        ledgerlink_connectors::ErrorKind::Transient
                            | ledgerlink_connectors::ErrorKind::Unreachable
                            | ledgerlink_connectors::ErrorKind::RateLimited
                    ) =>
                {
                    StatusCode::BAD_GATEWAY
                }
                _ => StatusCode::BAD_REQUEST,
            };
            let message = match &err {
                EngineError::Store(_) | EngineError::Vault(_) => {
                    "Something went wrong on our side; try again from the connection.".to_owned()
                }
                EngineError::NotFound => "This connection no longer exists.".to_owned(),
                other => other.to_string(),
            };
            page(status, "Not connected", &escape(&message))
        }
    }
}

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · ledgerlink</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;\
         color:#1b1f24}}h1{{font-size:1.4rem}}</style></head>\
         <body><h1>{title}</h1><p>{message}</p></body></html>"
    );
    (
        status,
        [
            ("cache-control", "no-store"),
            ("referrer-policy", "no-referrer"),
            ("x-frame-options", "DENY"),
            (
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
        ],
        Html(html),
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The OAuth routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(callback))
}
