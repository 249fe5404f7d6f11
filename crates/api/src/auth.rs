//! Authentication: `Authorization: Bearer <key>` resolves to the organization that owns the key.
//! Handlers receive a [`Tenant`] and pass its org id to every store call.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use ledgerlink_domain::OrgId;
use ledgerlink_store::hash_api_key;

use crate::AppState;
use crate::error::{ApiError, ErrorCode};

/// The organization making the request.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Its id; every store query is scoped by it.
    pub org_id: OrgId,
}

/// Longest key we bother hashing; real keys are 68 characters.
const MAX_KEY_LEN: usize = 256;

fn unauthorized(detail: &str) -> ApiError {
    ApiError::coded(ErrorCode::Unauthorized, detail)
}

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            unauthorized("Not authenticated: send Authorization: Bearer <api key>")
        })?;
        let key = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, key) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
            })
            .filter(|key| !key.is_empty() && key.len() <= MAX_KEY_LEN)
            .ok_or_else(|| unauthorized("Invalid authentication credentials"))?;
        let org_id = state
            .store
            .org_for_api_key(&hash_api_key(key))
            .await?
            .ok_or_else(|| unauthorized("Invalid authentication credentials"))?;
        tracing::Span::current().record("org_id", org_id.as_str());
        if let Some(limiter) = &state.limiter
            && let Err(wait) = limiter.check(org_id.as_str())
        {
            return Err(ApiError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            });
        }
        Ok(Tenant { org_id })
    }
}
