//! On-premises path shape: `/{instance}/api/…` with Basic auth, and on a multitenant server
//! instance the `tenant=` query parameter on every request.

use axum::extract::Request;
use axum::http::header;
use base64::Engine;

use crate::error::ApiError;
use crate::state::State;

/// An on-prem request resolved to its environment (one per tenant) and caller.
pub struct OnPrem {
    /// Environment index.
    pub env: usize,
    /// URL prefix before `/api/…`.
    pub prefix: String,
    /// Limits key.
    pub principal: String,
    /// Caller id.
    pub user: uuid::Uuid,
    /// The tenant of a multitenant instance.
    pub tenant: Option<String>,
}

/// The tenant a BC server picks when a request names none.
pub const DEFAULT_TENANT: &str = "default";

fn not_found(req: &Request) -> ApiError {
    ApiError::new(
        404,
        "BadRequest_NotFound",
        format!(
            "No HTTP resource was found that matches the request URI '{}'.",
            req.uri()
        ),
    )
}

/// The `tenant` query parameter (BC reads it case-insensitively: `?tenant=` and `?Tenant=`).
pub fn tenant_param(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case("tenant"))
        .map(|(_, v)| v.into_owned())
}

/// Resolve `/{instance}/api/…`: the tenant first (a multitenant server needs it to know whose
/// users to check), then Basic credentials, then the environment.
pub fn resolve(state: &State, s: &[&str], req: &Request) -> Result<OnPrem, ApiError> {
    let op = state.cfg.onprem.as_ref().ok_or_else(|| not_found(req))?;
    let first = s.first().copied().unwrap_or("");
    if !first.eq_ignore_ascii_case(&op.instance) || s.get(1) != Some(&"api") {
        return Err(not_found(req));
    }
    let tenant = if op.tenants.is_empty() {
        None
    } else {
        // Without `tenant=` the server uses its tenant named "default"; a tenant it does not
        // have is answered 404 with the server's message [INF].
        let t = tenant_param(req.uri().query().unwrap_or(""))
            .unwrap_or_else(|| DEFAULT_TENANT.to_string());
        let known = op.tenants.iter().find(|x| x.eq_ignore_ascii_case(&t));
        let Some(known) = known else {
            return Err(ApiError::new(
                404,
                "BadRequest_NotFound",
                format!("The tenant '{t}' is not mounted or does not exist."),
            ));
        };
        Some(known.clone())
    };
    let ok = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|up| up == format!("{}:{}", op.user, op.access_key));
    if !ok {
        return Err(ApiError::unauthorized().header("WWW-Authenticate", "Basic realm=\"\""));
    }
    let idx = {
        let w = state.world.read().expect("world");
        w.onprem_index(&op.instance, tenant.as_deref().unwrap_or(""))
            .filter(|i| !w.envs[*i].removed)
    };
    let Some(env) = idx else {
        return Err(ApiError::new(
            503,
            "Internal_TenantUnavailable",
            format!("The server instance '{}' is not available.", op.instance),
        ));
    };
    Ok(OnPrem {
        env,
        prefix: format!("/{first}"),
        principal: format!("onprem/{}", op.user),
        user: crate::identity::name_uuid(&op.user),
        tenant,
    })
}
