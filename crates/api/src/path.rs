//! Path parameters. Every id in a path is read the same way: a segment that is not valid UTF-8, or
//! not shaped like the id it stands for, cannot name anything, so it answers the same JSON 404 as an
//! id that does not exist (never axum's plain-text 400). Checking the shape here also keeps bytes
//! such as NUL away from the database.

use std::collections::HashMap;

use axum::extract::path::ErrorKind;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::error::{ApiError, ErrorCode};

/// The 404 answered for an unknown value of the path parameter `name`.
pub fn not_found(name: &str) -> ApiError {
    match name {
        "connection_id" => ApiError::connection_not_found(),
        "sync_id" => ApiError::coded(ErrorCode::NotFound, "Sync not found"),
        "model_id" => ApiError::coded(ErrorCode::NotFound, "Model not found"),
        "model" => ApiError::coded(ErrorCode::NotFound, "Unknown model"),
        "key_id" => ApiError::coded(ErrorCode::NotFound, "API key not found"),
        "write_id" => ApiError::coded(ErrorCode::NotFound, "Write not found"),
        _ => ApiError::coded(ErrorCode::NotFound, "Not Found"),
    }
}

/// The route's path parameters by name, percent-decoded.
async fn params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<HashMap<String, String>, ApiError> {
    match Path::<HashMap<String, String>>::from_request_parts(parts, state).await {
        Ok(Path(map)) => Ok(map),
        Err(rejection) => match rejection {
            axum::extract::rejection::PathRejection::FailedToDeserializePathParams(e) => {
                match e.into_kind() {
                    ErrorKind::InvalidUtf8InPathParam { key }
                    | ErrorKind::ParseErrorAtKey { key, .. } => Err(not_found(&key)),
                    _ => Err(not_found("")),
                }
            }
            _ => Err(not_found("")),
        },
    }
}

/// The parameter `name`, which must be an id with `prefix` (`conn_…`).
fn id(map: &HashMap<String, String>, name: &str, prefix: &str) -> Result<String, ApiError> {
    map.get(name)
        .filter(|v| ledgerlink_domain::is_id(prefix, v))
        .cloned()
        .ok_or_else(|| not_found(name))
}

macro_rules! id_extractor {
    ($(#[$doc:meta])* $name:ident, $param:literal, $prefix:literal) => {
        $(#[$doc])*
        pub struct $name(pub String);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
                let map = params(parts, state).await?;
                id(&map, $param, $prefix).map($name)
            }
        }
    };
}

id_extractor!(
    /// The `{connection_id}` path segment (`conn_…`).
    ConnectionId,
    "connection_id",
    "conn"
);
id_extractor!(
    /// The `{sync_id}` path segment (`sync_…`).
    SyncId,
    "sync_id",
    "sync"
);
id_extractor!(
    /// The `{write_id}` path segment (`wr_…`).
    WriteId,
    "write_id",
    "wr"
);
id_extractor!(
    /// The `{key_id}` path segment (`key_…`).
    KeyId,
    "key_id",
    "key"
);

/// The `{connection_id}` and `{model_id}` segments of a model's path.
pub struct ModelPath {
    /// The connection (`conn_…`).
    pub connection_id: String,
    /// The model (`mdl_…`).
    pub model_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ModelPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let map = params(parts, state).await?;
        Ok(ModelPath {
            connection_id: id(&map, "connection_id", "conn")?,
            model_id: id(&map, "model_id", "mdl")?,
        })
    }
}

/// The `{connection_id}` and `{model}` (a unified model's name) segments of a change feed's path.
pub struct FeedPath {
    /// The connection (`conn_…`).
    pub connection_id: String,
    /// The unified model (`invoices`).
    pub model: &'static str,
}

impl<S: Send + Sync> FromRequestParts<S> for FeedPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let map = params(parts, state).await?;
        let connection_id = id(&map, "connection_id", "conn")?;
        let given = map.get("model").map(String::as_str).unwrap_or_default();
        let model = ledgerlink_domain::records::MODELS
            .iter()
            .find(|m| **m == given)
            .ok_or_else(|| {
                ApiError::coded(
                    ErrorCode::NotFound,
                    format!(
                        "Unknown model '{}'",
                        given.chars().take(60).collect::<String>()
                    ),
                )
            })?;
        Ok(FeedPath {
            connection_id,
            model,
        })
    }
}
