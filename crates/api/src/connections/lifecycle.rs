//! Moving a connection along its lifecycle: on-premises credentials and on-demand health checks.

use axum::Json;
use axum::extract::State;
use ledgerlink_connectors::{ConnectorError, ErrorKind};
use ledgerlink_engine::EngineError;
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ConnectionId, ConnectionOut, load};
use crate::AppState;
use crate::auth::Tenant;
use crate::body::{Fields, FromBody, JsonBody};
use crate::error::{ApiError, ErrorBody, FieldError, ValidationErrorBody};

/// On-premises Business Central credentials: a user with a web service access key.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // the schema of the body; it is read by `CredentialsIn`
pub struct CredentialsPut {
    /// The Business Central user name: 1 to 200 characters, not only spaces, without `:` or
    /// control characters.
    #[schema(
        example = "LEDGERLINK",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^:\u0000-\u001f\u007f-\u009f]*[^:\s\u0000-\u001f\u007f-\u009f][^:\u0000-\u001f\u007f-\u009f]*$"
    )]
    username: String,
    /// The user's web service access key: 1 to 1000 characters, without control characters.
    /// Stored encrypted; never returned.
    #[schema(
        example = "k3y…",
        min_length = 1,
        max_length = 1000,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$"
    )]
    web_service_access_key: String,
}

pub(crate) struct CredentialsIn {
    username: String,
    key: SecretString,
}

impl FromBody for CredentialsIn {
    const FIELDS: &'static [&'static str] = &["username", "web_service_access_key"];

    fn read(f: &mut Fields) -> Option<Self> {
        let username = f.required_string("username");
        let key = f.required_string("web_service_access_key");
        if let Some(u) = &username
            && (u.trim().is_empty()
                || u.chars().count() > 200
                || u.contains(':')
                || u.chars().any(char::is_control))
        {
            f.error(
                "username",
                "value_error",
                "must be 1 to 200 printable characters, without ':'",
            );
        }
        if let Some(k) = &key
            && (k.is_empty() || k.chars().count() > 1000 || k.chars().any(char::is_control))
        {
            f.error(
                "web_service_access_key",
                "value_error",
                "must be 1 to 1000 printable characters",
            );
        }
        Some(CredentialsIn {
            username: username?,
            key: SecretString::from(key?),
        })
    }
}

/// Submit on-premises credentials
///
/// Sets the user name and web service access key of an on-premises connection. They are checked
/// with one live call to the server first and refused (422) when it does not accept them; accepted
/// ones are stored encrypted, never returned, and setup starts.
#[utoipa::path(
    put,
    path = "/v2/integrations/connections/{connection_id}/credentials",
    tag = "connections",
    security(("bearer" = [])),
    params(("connection_id" = String, Path, description = "The connection id.")),
    request_body = CredentialsPut,
    responses(
        (status = 200, description = "Accepted; setup is running", body = ConnectionOut),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection in this organization", body = ErrorBody),
        (status = 422, description = "Invalid, or refused by the server", body = ValidationErrorBody),
    )
)]
pub(crate) async fn put_credentials(
    tenant: Tenant,
    State(state): State<AppState>,
    ConnectionId(id): ConnectionId,
    JsonBody(creds): JsonBody<CredentialsIn>,
) -> Result<Json<ConnectionOut>, ApiError> {
    let conn = state
        .engine
        .set_basic_credentials(&tenant.org_id, &id, creds.username, creds.key)
        .await
        .map_err(engine_error)?;
    tracing::info!(connection_id = %id, "on-premises credentials accepted");
    Ok(Json(ConnectionOut::render(conn, &state.engine)))
}

/// Check a Connection's health
///
/// Runs the health checks now (token, environment, company, read permission) and returns the
/// connection with the verdict in `health`.
#[utoipa::path(
    post,
    path = "/v2/integrations/connections/{connection_id}/health-check",
    tag = "connections",
    security(("bearer" = [])),
    params(("connection_id" = String, Path, description = "The connection id.")),
    responses(
        (status = 200, description = "The connection with a fresh health verdict", body = ConnectionOut),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection in this organization", body = ErrorBody),
    )
)]
pub(crate) async fn health_check(
    tenant: Tenant,
    State(state): State<AppState>,
    ConnectionId(id): ConnectionId,
) -> Result<Json<ConnectionOut>, ApiError> {
    load(&state, &tenant, &id).await?;
    let conn = state
        .engine
        .check_health(&tenant.org_id, &id)
        .await
        .map_err(engine_error)?;
    Ok(Json(ConnectionOut::render(conn, &state.engine)))
}

/// How an engine failure is answered.
pub(crate) fn engine_error(err: EngineError) -> ApiError {
    match err {
        EngineError::NotFound => ApiError::connection_not_found(),
        EngineError::Store(e) => e.into(),
        EngineError::NotReady(msg) => ApiError::coded(crate::error::ErrorCode::Conflict, msg),
        EngineError::Invalid(msg) => {
            ApiError::Validation(vec![FieldError::new(&["body"], "value_error", msg)])
        }
        EngineError::Connector(e) => {
            let (loc, msg): (&[&str], String) = match e.kind() {
                ErrorKind::Unauthorized => (
                    &["body", "web_service_access_key"],
                    format!("Business Central did not accept this user name and key: {e}"),
                ),
                ErrorKind::Forbidden => (
                    &["body", "username"],
                    format!("this user lacks permission to read the API: {e}"),
                ),
                ErrorKind::Blocked => (
                    &["api_url"],
                    format!("the connection's api_url is not an allowed address: {e}"),
                ),
                // The connector's own words (e.g. "https://x/y does not look like a Business
                // Central API root; expected …"), without the "not configured:" prefix.
                ErrorKind::NotConfigured => match e {
                    ConnectorError::NotConfigured(msg) => (&["api_url"], msg),
                    other => (&["api_url"], other.to_string()),
                },
                _ => (
                    &["body"],
                    format!("the credentials could not be checked against the server: {e}"),
                ),
            };
            ApiError::Validation(vec![FieldError::new(loc, "value_error", msg)])
        }
        other => ApiError::Internal(Box::new(other)),
    }
}
