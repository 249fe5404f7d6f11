//! `POST /v2/integrations/connections/{id}/connect-link`: a URL to the hosted connect page.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Tenant;
use crate::error::{ApiError, ErrorBody};
use crate::path::ConnectionId;

/// A link to the hosted connect page of one connection.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectLinkOut {
    /// String representing the object's type: `connect_link`.
    #[schema(example = "connect_link")]
    pub object: &'static str,
    /// The page to send the customer's finance admin to. It works in the first browser that opens
    /// it and in no other; it holds no API key. Make a new one each time an admin starts connecting.
    #[schema(example = "https://ledgerlink.example.com/connect/9f2c…")]
    pub url: String,
    /// The link opens nothing after this (15 minutes after it was made). Once opened, the admin's
    /// browser keeps its session for an hour.
    pub expires_at: DateTime<Utc>,
    /// The connection the page connects.
    #[schema(example = "conn_01jd8x2v7m3q9r4t6w8y0z1a2b")]
    pub connection_id: String,
}

/// Create a connect link
///
/// Makes a short-lived, single-use URL to a page served by ledgerlink where the customer's
/// finance admin connects this connection themselves: signs in with Microsoft (cloud) or enters
/// the on-premises server, user and web service access key, chooses the environment and company,
/// and watches the first sync. The page shows the organization's branding
/// (`PATCH /v2/integrations/branding`). No API key reaches the browser.
#[utoipa::path(
    post,
    path = "/v2/integrations/connections/{connection_id}/connect-link",
    tag = "connections",
    security(("bearer" = [])),
    params(("connection_id" = String, Path, description = "The connection id.")),
    responses(
        (status = 201, description = "A new link", body = ConnectLinkOut),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection in this organization", body = ErrorBody),
    )
)]
pub(crate) async fn create_connect_link(
    tenant: Tenant,
    State(state): State<AppState>,
    ConnectionId(id): ConnectionId,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<ConnectLinkOut>), ApiError> {
    let now = state.engine.now();
    let link = state
        .store
        .create_connect_link(&tenant.org_id, &id, now, now + super::LINK_TTL)
        .await?
        .ok_or_else(ApiError::connection_not_found)?;
    tracing::info!(connection_id = %id, session = %link.session.id, "connect link made");
    let url = format!("{}/connect/{}", base_url(&state, &headers), link.token);
    Ok((
        StatusCode::CREATED,
        Json(ConnectLinkOut {
            object: "connect_link",
            url,
            expires_at: link.session.expires_at,
            connection_id: id,
        }),
    ))
}

/// Where browsers reach this server: `public_url` when configured, else the address the API call
/// came to (its `Host`, with the scheme a proxy reports).
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    let scheme = if super::session::is_https(state, headers) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}
