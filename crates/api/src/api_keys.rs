//! `/v2/integrations/api-keys`: the organization's API keys. A key is shown once, when created;
//! afterwards only its id, name and prefix are. Revocation holds from the next request on, in every
//! process (keys are looked up in the database on each request, never cached).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use ledgerlink_store::{ApiKeyInfo, generate_api_key};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Tenant;
use crate::body::{Fields, FromBody, JsonBody};
use crate::error::{ApiError, ErrorBody, ErrorCode, ValidationErrorBody};
use crate::path::{KeyId, not_found};

/// Most active keys an organization may have.
const MAX_ACTIVE_KEYS: usize = 100;

/// An API key as listed; the key itself is never shown again after creation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyOut {
    /// Key id (`key_…`).
    pub id: String,
    /// String representing the object's type: `api_key`.
    #[schema(example = "api_key")]
    pub object: &'static str,
    /// What the key is for.
    #[schema(required = true)]
    pub name: Option<String>,
    /// The first characters of the key, to recognise it.
    #[schema(example = "llk_3f1c2a")]
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last used, to the minute (it is stamped at most once a minute).
    #[schema(required = true)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked (or, after a rotation with a grace period, when it stops working).
    #[schema(required = true)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Whether requests with this key are accepted now.
    pub is_active: bool,
}

impl ApiKeyOut {
    fn from_info(k: ApiKeyInfo, at: DateTime<Utc>) -> Self {
        ApiKeyOut {
            is_active: k.is_active(at),
            id: k.id,
            object: "api_key",
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A key just created: the listing fields and, this once, the key.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    /// The key as listed.
    #[serde(flatten)]
    pub info: ApiKeyOut,
    /// The key to send as `Authorization: Bearer <key>`. Shown only in this answer: store it now.
    pub key: String,
}

/// Body of `POST /v2/integrations/api-keys`.
#[derive(ToSchema)]
#[allow(dead_code)] // the schema of the body; it is read by `NewKey`
pub struct ApiKeyCreate {
    /// What the key is for: 1 to 100 characters, not only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    name: String,
}

pub(crate) struct NewKey {
    name: String,
}

impl FromBody for NewKey {
    const FIELDS: &'static [&'static str] = &["name"];

    fn read(f: &mut Fields) -> Option<Self> {
        let name = f.required_string("name")?;
        let chars = name.chars().count();
        if name.trim().is_empty() || chars > 100 || name.chars().any(char::is_control) {
            f.error(
                "name",
                "value_error",
                "must be 1 to 100 printable characters, not only spaces",
            );
        }
        Some(NewKey {
            name: name.trim().to_owned(),
        })
    }
}

/// List API keys
///
/// The organization's API keys, newest first, revoked ones included. The keys themselves are never
/// shown again after creation.
#[utoipa::path(
    get,
    path = "/v2/integrations/api-keys",
    tag = "api-keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The keys, newest first", body = Vec<ApiKeyOut>),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
    )
)]
async fn list_keys(
    tenant: Tenant,
    State(state): State<AppState>,
) -> Result<Json<Vec<ApiKeyOut>>, ApiError> {
    let at = state.engine.now();
    let keys = state.store.list_api_keys(Some(&tenant.org_id)).await?;
    Ok(Json(
        keys.into_iter()
            .map(|k| ApiKeyOut::from_info(k, at))
            .collect(),
    ))
}

/// Create an API key
///
/// A new key for this organization. The answer is the only time the key is shown.
#[utoipa::path(
    post,
    path = "/v2/integrations/api-keys",
    tag = "api-keys",
    security(("bearer" = [])),
    request_body = ApiKeyCreate,
    responses(
        (status = 201, description = "Created; `key` is shown only now", body = ApiKeyCreated),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 409, description = "The organization has 100 active keys already", body = ErrorBody),
        (status = 422, description = "Validation Error", body = ValidationErrorBody),
    )
)]
async fn create_key(
    tenant: Tenant,
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewKey>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    let at = state.engine.now();
    let keys = state.store.list_api_keys(Some(&tenant.org_id)).await?;
    if keys.iter().filter(|k| k.is_active(at)).count() >= MAX_ACTIVE_KEYS {
        return Err(ApiError::coded(
            ErrorCode::Conflict,
            format!("An organization may have {MAX_ACTIVE_KEYS} active keys; revoke one first"),
        ));
    }
    let key = generate_api_key();
    state
        .store
        .insert_api_key(&tenant.org_id, &key, Some(&new.name), at)
        .await?;
    tracing::info!(key_id = %key.id, by = %tenant.key_id, "API key created");
    let info = state
        .store
        .get_api_key(Some(&tenant.org_id), &key.id)
        .await?
        .ok_or_else(|| not_found("key_id"))?;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyCreated {
            info: ApiKeyOut::from_info(info, at),
            key: key.plaintext,
        }),
    ))
}

/// Revoke an API key
///
/// The key stops working at once, in every process. The organization's last active key cannot be
/// revoked here (create another first, or use `ledgerlink api-keys revoke`), so that the API stays
/// reachable.
#[utoipa::path(
    delete,
    path = "/v2/integrations/api-keys/{key_id}",
    tag = "api-keys",
    security(("bearer" = [])),
    params(("key_id" = String, Path, description = "The key id (`key_…`).")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such active key in this organization", body = ErrorBody),
        (status = 409, description = "It is the organization's last active key", body = ErrorBody),
    )
)]
async fn revoke_key(
    tenant: Tenant,
    State(state): State<AppState>,
    KeyId(id): KeyId,
) -> Result<StatusCode, ApiError> {
    let at = state.engine.now();
    let keys = state.store.list_api_keys(Some(&tenant.org_id)).await?;
    let active: Vec<&ApiKeyInfo> = keys.iter().filter(|k| k.is_active(at)).collect();
    if !active.iter().any(|k| k.id == id) {
        return Err(not_found("key_id"));
    }
    // A key in a rotation's grace period stops on its own: only a key without an end survives.
    let survivors = keys
        .iter()
        .filter(|k| k.id != id && k.revoked_at.is_none())
        .count();
    if survivors == 0 {
        return Err(ApiError::coded(
            ErrorCode::Conflict,
            "This is the organization's last active key; create another before revoking it",
        ));
    }
    if !state.store.revoke_api_key(&tenant.org_id, &id, at).await? {
        return Err(not_found("key_id"));
    }
    tracing::info!(key_id = %id, by = %tenant.key_id, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// The API key routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}
