//! Authentication: `Authorization: Bearer <key>` resolves to the organization that owns the key.
//! Handlers receive a [`Tenant`] and pass its org id to every store call.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use ledgerlink_domain::OrgId;
use ledgerlink_store::{LAST_USED_GRANULARITY, hash_api_key, needs_touch};

use crate::AppState;
use crate::error::{ApiError, ErrorCode};

/// The organization making the request.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Its id; every store query is scoped by it.
    pub org_id: OrgId,
    /// The API key the request was made with.
    pub key_id: String,
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
        let now = state.engine.now();
        // Cached for at most a second; a revocation still holds from the next request on in every
        // process on this host (the store's `key_cache` says how).
        let owner = state
            .store
            .api_key_by_hash(&hash_api_key(key), now)
            .await?
            .ok_or_else(|| unauthorized("Invalid authentication credentials"))?;
        if needs_touch(owner.last_used_at, now) {
            // Bookkeeping: a failed stamp must not fail the request.
            let since = now - LAST_USED_GRANULARITY;
            if let Err(err) = state.store.touch_api_key(&owner.key_id, now, since).await {
                tracing::warn!(error = %err, "could not record an API key's last use");
            }
        }
        let org_id = owner.org_id;
        tracing::Span::current().record("org_id", org_id.as_str());
        if let Some(limiter) = &state.limiter
            && let Err(wait) = limiter.check(org_id.as_str())
        {
            return Err(ApiError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            });
        }
        Ok(Tenant {
            org_id,
            key_id: owner.key_id,
        })
    }
}
