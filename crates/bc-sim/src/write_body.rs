//! Reading a write request: `If-Match` against the record's version, and the JSON body's
//! properties (strings, decimals, GUIDs). Shared by every entity set that accepts writes.

use axum::http::header;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::ApiError;
use crate::routed::Rc;
use crate::value::{etag, parse_dec};

/// Check `If-Match` against the current version.
pub fn check_if_match(rc: &Rc, ver: u64) -> Result<(), ApiError> {
    let Some(v) = rc
        .headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(ApiError::new(
            400,
            "BadRequest_InvalidToken",
            "Could not validate the client concurrency token required by the service. Please provide a valid token in the client request.",
        ));
    };
    let v = v.trim();
    if v == "*" || v == etag(ver) || format!("W/{v}") == etag(ver) {
        return Ok(());
    }
    if !v.starts_with("W/\"") && !v.starts_with('"') {
        return Err(ApiError::new(
            400,
            "BadRequest_InvalidToken",
            "Could not validate the client concurrency token required by the service. Please provide a valid token in the client request.",
        ));
    }
    Err(ApiError::new(
        409,
        "Request_EntityChanged",
        "Another user has already changed the record.",
    ))
}

/// The request body as a JSON object, refusing properties the entity type does not have.
pub(crate) fn body_obj(rc: &Rc, fields: &[&str], ty: &str) -> Result<Map<String, Value>, ApiError> {
    let v: Value = serde_json::from_slice(&rc.body).map_err(|e| {
        ApiError::new(
            400,
            "BadRequest",
            format!("Invalid JSON in the request body: {e}"),
        )
    })?;
    let Value::Object(m) = v else {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "The request body must be a JSON object.",
        ));
    };
    for k in m.keys() {
        if !fields.contains(&k.as_str()) && !k.starts_with('@') {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!(
                    "The property '{k}' does not exist on type 'Microsoft.NAV.{ty}'. Make sure to only use property names that are defined by the type."
                ),
            ));
        }
    }
    Ok(m)
}

/// String property `k`.
pub(crate) fn s(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(|v| v.as_str()).map(|s| s.to_string())
}

/// Decimal property `k` in minor units (`None` when absent or null).
pub(crate) fn dec(m: &Map<String, Value>, k: &str) -> Result<Option<i64>, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse_dec(v.to_string().trim_matches('"'))
            .map(Some)
            .ok_or_else(|| {
                ApiError::new(
                    400,
                    "BadRequest",
                    format!("Cannot convert the literal '{v}' to the expected type 'Edm.Decimal'."),
                )
            }),
    }
}

/// GUID property `k` (`None` when absent).
pub(crate) fn gid(m: &Map<String, Value>, k: &str) -> Result<Option<Uuid>, ApiError> {
    match s(m, k) {
        None => Ok(None),
        Some(x) => Uuid::parse_str(&x).map(Some).map_err(|_| {
            ApiError::new(
                400,
                "Application_InvalidGUID",
                format!("Invalid GUID '{x}' for '{k}'."),
            )
        }),
    }
}
