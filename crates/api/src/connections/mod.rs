//! `/v2/integrations/connections`: create, list, read, change and delete connections.

mod dto;
mod input;
mod json;
mod lifecycle;
mod models;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use ledgerlink_domain::{Connection, NewConnection};
use ledgerlink_store::ListConnections;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use dto::{ConnectionOut, ModelOut};
pub(crate) use input::PatchRequest;
use input::check_api_url;
pub use input::{ConnectionCreate, ConnectionPatch, InputRules};

use crate::AppState;
use crate::auth::Tenant;
use crate::body::{JsonBody, Tri};
use crate::error::{ApiError, ErrorBody, FieldError, ValidationErrorBody};
pub use crate::path::ConnectionId;
use crate::query::{self, QueryErrors};
use input::RawCreate;
pub(crate) use lifecycle::engine_error;

/// Default and largest page sizes of the list endpoint.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

/// List connections
///
/// The organization's connections, newest first, as a bare array. Page with `limit` and
/// `starting_after` (the id of the last connection of the previous page).
#[utoipa::path(
    get,
    path = "/v2/integrations/connections",
    tag = "connections",
    security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200.", minimum = 1, maximum = 200),
        ("starting_after" = Option<String>, Query, description = "Return connections created before this connection id (the last id of the previous page).", pattern = "^conn_[0-9a-z]{26}$"),
        ("provider_name" = Option<String>, Query, description = "Only connections to this provider."),
    ),
    responses(
        (status = 200, description = "Successful Response", body = Vec<ConnectionOut>),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "Invalid query parameter", body = ValidationErrorBody),
    )
)]
async fn list_connections(
    tenant: Tenant,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let q = parse_list_query(query.as_deref().unwrap_or(""))?;
    let connections = state.store.list_connections(&tenant.org_id, &q).await?;
    let out: Vec<ConnectionOut> = connections
        .into_iter()
        .map(|c| ConnectionOut::render(c, &state.engine))
        .collect();
    Ok(json::list(&out))
}

fn parse_list_query(raw: &str) -> Result<ListConnections, ApiError> {
    let mut q = ListConnections {
        limit: DEFAULT_LIMIT,
        ..ListConnections::default()
    };
    let mut errors = QueryErrors::default();
    for (key, value) in query::pairs(Some(raw)) {
        match key.as_ref() {
            "limit" => q.limit = errors.limit("limit", &value, MAX_LIMIT).unwrap_or(q.limit),
            "starting_after" if ledgerlink_domain::is_id("conn", &value) => {
                q.starting_after = Some(value.into_owned())
            }
            "starting_after" => errors.push(
                "starting_after",
                "value_error",
                "Value error, must be a connection id (conn_…) from a previous page",
            ),
            "provider_name" if ledgerlink_domain::catalog::provider(&value).is_some() => {
                q.provider_name = Some(value.into_owned())
            }
            "provider_name" => errors.push(
                "provider_name",
                "enum",
                "Input should be the name of a provider listed by /v2/integrations/providers",
            ),
            _ => {}
        }
    }
    errors.finish()?;
    Ok(q)
}

/// Create a Connection
///
/// Creates a connection waiting for authentication. Cloud Business Central connections are
/// authorized through `authorization_url`; on-premises ones need `api_url` and credentials.
#[utoipa::path(
    post,
    path = "/v2/integrations/connections",
    tag = "connections",
    security(("bearer" = [])),
    request_body = ConnectionCreate,
    responses(
        (status = 201, description = "Successful Response", body = ConnectionOut),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
        (status = 422, description = "Validation Error", body = ValidationErrorBody),
    )
)]
async fn create_connection(
    tenant: Tenant,
    State(state): State<AppState>,
    JsonBody(raw): JsonBody<RawCreate>,
) -> Result<(StatusCode, Json<ConnectionOut>), ApiError> {
    let req = raw.validate(state.rules).map_err(ApiError::Validation)?;
    if let Some(url) = &req.api_url {
        guard_api_url(&state, url)?;
    }
    let new = NewConnection {
        provider: req.provider,
        name: req.name,
        api_url: req.api_url,
        is_on_premise: req.is_on_premise,
    };
    let connection = Connection::create(tenant.org_id, new, state.engine.now());
    state.store.insert_connection(&connection).await?;
    tracing::info!(connection_id = %connection.id, "connection created");
    Ok((
        StatusCode::CREATED,
        Json(ConnectionOut::render(connection, &state.engine)),
    ))
}

/// Retrieve a Connection
#[utoipa::path(
    get,
    path = "/v2/integrations/connections/{connection_id}",
    tag = "connections",
    security(("bearer" = [])),
    params(("connection_id" = String, Path, description = "The connection id.")),
    responses(
        (status = 200, description = "Successful Response", body = ConnectionOut),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection in this organization", body = ErrorBody),
    )
)]
async fn get_connection(
    tenant: Tenant,
    State(state): State<AppState>,
    ConnectionId(id): ConnectionId,
) -> Result<Response, ApiError> {
    let connection = load(&state, &tenant, &id).await?;
    Ok(json::one(&ConnectionOut::render(connection, &state.engine)))
}

pub(crate) async fn load(
    state: &AppState,
    tenant: &Tenant,
    id: &str,
) -> Result<Connection, ApiError> {
    state
        .store
        .get_connection(&tenant.org_id, id)
        .await?
        .ok_or_else(ApiError::connection_not_found)
}

/// Update a Connection
///
/// Changes the fields present in the body; absent fields are left alone and `null` clears a
/// nullable one. `provider_name` may be repeated but not changed.
#[utoipa::path(
    patch,
    path = "/v2/integrations/connections/{connection_id}",
    tag = "connections",
    security(("bearer" = [])),
    params(("connection_id" = String, Path, description = "The connection id.")),
    request_body = ConnectionPatch,
    responses(
        (status = 200, description = "Successful Response", body = ConnectionOut),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection in this organization", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
        (status = 422, description = "Validation Error", body = ValidationErrorBody),
    )
)]
async fn update_connection(
    tenant: Tenant,
    State(state): State<AppState>,
    ConnectionId(id): ConnectionId,
    JsonBody(patch): JsonBody<PatchRequest>,
) -> Result<Json<ConnectionOut>, ApiError> {
    let updated = apply_patch(&state, &tenant, &id, patch).await?;
    Ok(Json(ConnectionOut::render(updated, &state.engine)))
}

/// What `PATCH` does, for the API and the hosted connect page alike: checks the patch against the
/// connection as it stands, stores it, and restarts setup (or asks for credentials again) when the
/// target changed.
pub(crate) async fn apply_patch(
    state: &AppState,
    tenant: &Tenant,
    id: &str,
    mut patch: PatchRequest,
) -> Result<Connection, ApiError> {
    let mut current = load(state, tenant, id).await?;
    if let Some(Some(code)) = &patch.changes.payment_journal
        && patch.changes.company.is_none()
        && patch.changes.environment.is_none()
        && !is_discovered_journal(&current, code)
    {
        // A journal created in BC since setup: look again before refusing it.
        current = state
            .engine
            .refresh_payment_journals(&tenant.org_id, id)
            .await
            .map_err(engine_error)?;
    }
    check_patch(&current, &mut patch, state.rules)?;
    if patch.changes.is_empty() {
        return Ok(current);
    }
    let new_server = match &patch.changes.api_url {
        Some(Some(url)) => {
            guard_api_url(state, url)?;
            current.api_url.as_deref() != Some(url.as_str())
        }
        _ => false,
    };
    let changes_target = patch.changes.environment.is_some()
        || patch.changes.company.is_some()
        || patch.changes.api_url.is_some();
    let mut updated = state
        .store
        .update_connection(&tenant.org_id, id, &patch.changes, state.engine.now())
        .await?
        .ok_or_else(ApiError::connection_not_found)?;
    if new_server && current.is_on_premise && !current.is_authentication_pending {
        // Credentials were given for the old server; never send them to a new one.
        updated = state
            .engine
            .require_credentials_again(&tenant.org_id, id)
            .await
            .map_err(engine_error)?;
    } else if changes_target && !updated.is_authentication_pending {
        // A new environment, company or server: setup checks it and completes the connection.
        updated = state
            .engine
            .restart_setup(&tenant.org_id, id)
            .await
            .map_err(engine_error)?;
    }
    Ok(updated)
}

/// Why [`checked_api_url`] refused a server URL.
pub(crate) enum UrlRefusal {
    /// Not an absolute `https` URL of a server (the reason, in API terms).
    Malformed(String),
    /// An address the request-forgery guard refuses (private, local…).
    NotAllowed,
}

/// A server URL as `PATCH` would store it on an on-premises connection (normalised, and allowed
/// by the request-forgery guard), without storing anything.
pub(crate) fn checked_api_url(state: &AppState, raw: &str) -> Result<String, UrlRefusal> {
    let url = input::normalize_api_url(raw, state.rules).map_err(UrlRefusal::Malformed)?;
    state
        .engine
        .check_api_url(&url)
        .map_err(|_| UrlRefusal::NotAllowed)?;
    Ok(url)
}

/// Refuses server URLs that point where the request-forgery guard does not allow.
fn guard_api_url(state: &AppState, url: &str) -> Result<(), ApiError> {
    state.engine.check_api_url(url).map_err(|why| {
        ApiError::invalid(
            &["body", "api_url"],
            "value_error",
            format!("api_url is not an allowed address: {why}"),
        )
    })
}

/// Rules of a patch that depend on the connection as it stands.
fn check_patch(
    current: &Connection,
    patch: &mut PatchRequest,
    rules: InputRules,
) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Some(name) = &patch.provider_name
        && name != &current.provider_name
    {
        errors.push(FieldError::new(
            &["body", "provider_name"],
            "value_error",
            format!(
                "provider_name cannot be changed (this connection is '{}')",
                current.provider_name
            ),
        ));
    }
    if let Some(api_url) = patch.changes.api_url.take() {
        let tri = api_url.map_or(Tri::Null, Tri::Value);
        match check_api_url(current.is_on_premise, tri, rules) {
            Ok(url) if current.is_on_premise => patch.changes.api_url = Some(url),
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
    }
    let found = current.discovery.clone().unwrap_or_default();
    if let Some(Some(env)) = &patch.changes.environment {
        let valid: Vec<String> = found.environments.clone();
        if !valid.iter().any(|e| e == env) {
            errors.push(undiscovered("environment", env, &valid));
        } else if current.environment.as_deref() != Some(env.as_str())
            && patch.changes.company.is_none()
        {
            // Companies belong to an environment: a new one means choosing again.
            patch.changes.company = Some(None);
        }
    }
    let company_changes = match &patch.changes.company {
        Some(Some(c)) => !current
            .company
            .as_deref()
            .is_some_and(|now| now.eq_ignore_ascii_case(c)),
        Some(None) => current.company.is_some(),
        None => false,
    } || matches!(&patch.changes.api_url, Some(url) if url.as_deref() != current.api_url.as_deref());
    if let Some(Some(company)) = &patch.changes.company {
        let env_changes = matches!(&patch.changes.environment, Some(Some(e)) if current.environment.as_deref() != Some(e.as_str()));
        let valid: Vec<String> = found.companies.iter().map(|c| c.id.clone()).collect();
        if env_changes {
            errors.push(FieldError::new(
                &["body", "company"],
                "value_error",
                "choose the environment first; its companies are discovered after that",
            ));
        } else if !valid.iter().any(|c| c.eq_ignore_ascii_case(company)) {
            errors.push(undiscovered("company", company, &valid));
        }
    }
    match &mut patch.changes.payment_journal {
        Some(Some(_)) if company_changes => {
            errors.push(FieldError::new(
                &["body", "payment_journal"],
                "value_error",
                "choose the company first; its payment journals are discovered after that",
            ));
        }
        Some(Some(code)) => {
            if let Err(e) = check_payment_journal(&found, code) {
                errors.push(e);
            }
        }
        // Journals belong to a company: a new one means choosing again (setup picks an only one).
        None if company_changes => patch.changes.payment_journal = Some(None),
        _ => {}
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn is_discovered_journal(conn: &Connection, code: &str) -> bool {
    conn.discovery
        .as_ref()
        .and_then(|d| d.payment_journals.as_deref())
        .unwrap_or_default()
        .iter()
        .any(|j| j.code.eq_ignore_ascii_case(code.trim()))
}

/// A chosen payment journal must be one setup found in the company, with a balancing account; the
/// code is stored as Business Central spells it.
fn check_payment_journal(
    found: &ledgerlink_domain::Discovered,
    code: &mut String,
) -> Result<(), FieldError> {
    let journals = found.payment_journals.as_deref().unwrap_or_default();
    let valid: Vec<String> = journals.iter().map(|j| j.code.clone()).collect();
    let Some(journal) = journals
        .iter()
        .find(|j| j.code.eq_ignore_ascii_case(code.trim()))
    else {
        return Err(undiscovered("payment_journal", code, &valid));
    };
    if !journal.has_balancing_account {
        return Err(FieldError::new(
            &["body", "payment_journal"],
            "value_error",
            format!(
                "the payment journal {} has no balancing account, so payments posted from it would \
                 not balance; set one on it in Business Central, run a health check, or choose \
                 another: {}",
                journal.code,
                valid.join(", ")
            ),
        ));
    }
    code.clone_from(&journal.code);
    Ok(())
}

/// A chosen environment or company must be one that setup discovered.
fn undiscovered(field: &str, value: &str, valid: &[String]) -> FieldError {
    let choices = if valid.is_empty() {
        "none yet (authorize the connection so that setup can discover them)".to_owned()
    } else {
        valid.join(", ")
    };
    FieldError::new(
        &["body", field],
        "value_error",
        format!(
            "'{value}' is not a {field} discovered for this connection; valid values: {choices}"
        ),
    )
}

/// Delete a Connection
///
/// Disconnects: the connection and everything it owns are deleted. Afterwards it answers 404.
#[utoipa::path(
    delete,
    path = "/v2/integrations/connections/{connection_id}",
    tag = "connections",
    security(("bearer" = [])),
    params(("connection_id" = String, Path, description = "The connection id.")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such connection in this organization", body = ErrorBody),
    )
)]
async fn delete_connection(
    tenant: Tenant,
    State(state): State<AppState>,
    ConnectionId(id): ConnectionId,
) -> Result<StatusCode, ApiError> {
    let connection = load(&state, &tenant, &id).await?;
    state.engine.disconnect(&connection).await;
    if state.store.delete_connection(&tenant.org_id, &id).await? {
        tracing::info!(connection_id = %id, "connection deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::connection_not_found())
    }
}

/// The connections routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_connections, create_connection))
        .routes(routes!(
            get_connection,
            update_connection,
            delete_connection
        ))
        .routes(routes!(lifecycle::put_credentials))
        .routes(routes!(lifecycle::health_check))
        .routes(routes!(models::list_models))
        .routes(routes!(models::update_model))
}
