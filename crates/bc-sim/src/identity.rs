//! Microsoft Entra-shaped identity: `/authorize`, `/token`, JWT access tokens, consent.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::SimConfig;
use crate::value::dt_string;

/// BC's resource / audience.
pub const AUDIENCE: &str = "https://api.businesscentral.dynamics.com";

/// A stable UUID derived from a name.
pub fn name_uuid(name: &str) -> Uuid {
    let d = Sha256::digest(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid()
}

/// An Entra error (`/token` body or `/authorize` redirect).
#[derive(Debug, Clone)]
pub struct EntraError {
    /// HTTP status.
    pub status: u16,
    /// OAuth error code (`invalid_grant`, …).
    pub error: &'static str,
    /// AADSTS number.
    pub code: u32,
    /// Message after `AADSTSnnn: `.
    pub message: String,
}

impl EntraError {
    pub(crate) fn new(
        status: u16,
        error: &'static str,
        code: u32,
        message: impl Into<String>,
    ) -> Self {
        EntraError {
            status,
            error,
            code,
            message: message.into(),
        }
    }
    /// Entra's JSON error body.
    pub fn body(&self, now_ms: i64) -> Value {
        let trace = Uuid::new_v4();
        let corr = Uuid::new_v4();
        let ts = dt_string(now_ms).replace('T', " ");
        json!({
            "error": self.error,
            "error_description": format!("AADSTS{}: {} Trace ID: {} Correlation ID: {} Timestamp: {}", self.code, self.message, trace, corr, ts),
            "error_codes": [self.code],
            "timestamp": ts,
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) challenge: Option<(String, String)>,
    pub(crate) scope: String,
    pub(crate) tenant: Uuid,
    pub(crate) issued: i64,
    pub(crate) used: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub(crate) client_id: String,
    pub(crate) tenant: Uuid,
    pub(crate) scope: String,
    pub(crate) issued: i64,
    pub(crate) used: bool,
}

/// Claims the API checks.
#[derive(Debug, Clone)]
pub struct Claims {
    /// Tenant.
    pub tid: Uuid,
    /// Object id of the user or service principal.
    pub oid: Uuid,
    /// Expiry (seconds).
    pub exp: i64,
    /// Audience.
    pub aud: String,
    /// Issue sequence number (sim claim, for revocation).
    pub seq: u64,
}

/// Identity state.
#[derive(Debug)]
pub struct Identity {
    pub(crate) secret: Vec<u8>,
    pub(crate) codes: HashMap<String, CodeGrant>,
    pub(crate) refresh: HashMap<String, RefreshGrant>,
    /// Tenants that consented to the app (value: consent time, ms).
    pub(crate) consent: HashMap<Uuid, i64>,
    /// Tokens with a sequence number at or below this are revoked, per tenant.
    pub(crate) revoked_before: HashMap<Uuid, u64>,
    pub(crate) counter: u64,
    pub(crate) seed: u64,
}

pub(crate) fn form_get<'a>(f: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    f.get(k).map(|s| s.as_str()).filter(|s| !s.is_empty())
}

pub(crate) fn missing(p: &str) -> EntraError {
    EntraError::new(
        400,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{p}'."),
    )
}

impl Identity {
    /// New identity state; every configured tenant has consented.
    pub fn new(cfg: &SimConfig) -> Self {
        let mut h = Sha256::new();
        h.update(cfg.seed.to_le_bytes());
        h.update(b"bc-sim token key");
        Identity {
            secret: h.finalize().to_vec(),
            codes: HashMap::new(),
            refresh: HashMap::new(),
            consent: cfg.tenants.iter().map(|t| (t.id, 0)).collect(),
            revoked_before: HashMap::new(),
            counter: 0,
            seed: cfg.seed,
        }
    }

    pub(crate) fn opaque(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let mut h = Sha256::new();
        h.update(self.seed.to_le_bytes());
        h.update(self.counter.to_le_bytes());
        h.update(Uuid::new_v4().as_bytes());
        format!("{prefix}{}", B64.encode(h.finalize()))
    }

    /// Resolve a tenant path segment (id, domain, `common`, `organizations`).
    pub fn resolve_tenant(cfg: &SimConfig, seg: &str) -> Option<Uuid> {
        if seg.eq_ignore_ascii_case("common") || seg.eq_ignore_ascii_case("organizations") {
            return cfg.tenants.first().map(|t| t.id);
        }
        cfg.tenants
            .iter()
            .find(|t| {
                t.id.to_string().eq_ignore_ascii_case(seg) || t.domain.eq_ignore_ascii_case(seg)
            })
            .map(|t| t.id)
    }

    /// Revoke a tenant's consent: refresh tokens die, issued access tokens are rejected.
    pub fn revoke_consent(&mut self, tenant: Uuid, now: i64) {
        let _ = now;
        self.consent.remove(&tenant);
        self.revoked_before.insert(tenant, self.counter);
        self.refresh.retain(|_, g| g.tenant != tenant);
    }

    /// Grant consent (what an admin or the auto-consenting user does).
    pub fn grant_consent(&mut self, tenant: Uuid, now: i64) {
        self.consent.insert(tenant, now);
    }

    /// Refuse every access token issued so far (as Entra does after a password reset or a
    /// conditional-access change), keeping refresh tokens valid.
    pub fn revoke_access_tokens(&mut self) {
        let tenants: Vec<Uuid> = self.consent.keys().copied().collect();
        for t in tenants {
            self.revoked_before.insert(t, self.counter);
        }
    }

    /// Revoke every token issued so far (all tenants).
    pub fn revoke_all_tokens(&mut self, now: i64) {
        let tenants: Vec<Uuid> = self.consent.keys().copied().collect();
        let _ = now;
        for t in tenants {
            self.revoked_before.insert(t, self.counter);
        }
        self.refresh.clear();
    }

    /// `/authorize`: returns the redirect location, or an error page (status, text).
    pub fn authorize(
        &mut self,
        cfg: &SimConfig,
        tenant_seg: &str,
        q: &HashMap<String, String>,
        now: i64,
    ) -> Result<String, (u16, String)> {
        let client_id = q.get("client_id").cloned().unwrap_or_default();
        if client_id != cfg.app.client_id {
            return Err((
                400,
                format!(
                    "AADSTS700016: Application with identifier '{client_id}' was not found in the directory."
                ),
            ));
        }
        let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
        if !cfg.app.redirect_uris.iter().any(|r| r == &redirect) {
            return Err((
                400,
                format!(
                    "AADSTS50011: The redirect URI '{redirect}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."
                ),
            ));
        }
        let Some(tenant) = Self::resolve_tenant(cfg, tenant_seg) else {
            return Err((
                400,
                format!("AADSTS90002: Tenant '{tenant_seg}' not found."),
            ));
        };
        let state = q.get("state").cloned();
        let with_state = |mut u: url::Url| {
            if let Some(s) = &state {
                u.query_pairs_mut().append_pair("state", s);
            }
            u.to_string()
        };
        let mut url = url::Url::parse(&redirect)
            .map_err(|_| (400, "AADSTS50011: invalid redirect URI".to_string()))?;
        if q.get("response_type").map(|s| s.as_str()) != Some("code") {
            url.query_pairs_mut()
                .append_pair("error", "unsupported_response_type")
                .append_pair(
                    "error_description",
                    "AADSTS700054: response_type 'code' is required.",
                );
            return Ok(with_state(url));
        }
        let challenge = match (
            q.get("code_challenge"),
            q.get("code_challenge_method").map(|s| s.as_str()),
        ) {
            (Some(c), Some("S256")) | (Some(c), None) => Some((c.clone(), "S256".to_string())),
            (Some(c), Some("plain")) => Some((c.clone(), "plain".to_string())),
            (Some(_), Some(_)) => {
                url.query_pairs_mut()
                    .append_pair("error", "invalid_request")
                    .append_pair(
                        "error_description",
                        "AADSTS501491: Invalid size of Code_Challenge parameter.",
                    );
                return Ok(with_state(url));
            }
            (None, _) => None,
        };
        if let std::collections::hash_map::Entry::Vacant(e) = self.consent.entry(tenant) {
            if q.get("prompt").map(|s| s.as_str()) == Some("none") {
                // No interaction allowed, and consent is missing.
                url.query_pairs_mut().append_pair("error", "consent_required").append_pair(
                    "error_description",
                    "AADSTS65001: The user or administrator has not consented to use the application.",
                );
                return Ok(with_state(url));
            }
            if cfg.user.auto_consent {
                e.insert(now);
            } else {
                url.query_pairs_mut()
                    .append_pair("error", "access_denied")
                    .append_pair(
                        "error_description",
                        "AADSTS65004: User declined to consent to access the app.",
                    );
                return Ok(with_state(url));
            }
        }
        let code = self.opaque("1.A");
        self.codes.insert(
            code.clone(),
            CodeGrant {
                client_id,
                redirect_uri: redirect,
                challenge,
                scope: q.get("scope").cloned().unwrap_or_default(),
                tenant,
                issued: now,
                used: false,
            },
        );
        url.query_pairs_mut().append_pair("code", &code);
        let mut out = with_state(url);
        out.push_str("&session_state=");
        out.push_str(&Uuid::new_v4().to_string());
        Ok(out)
    }

    /// Verify an access token; `Err` carries a reason for logs.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, &'static str> {
        let mut parts = token.split('.');
        let (Some(h), Some(b), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("malformed");
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("hmac key");
        mac.update(format!("{h}.{b}").as_bytes());
        let sig = B64.decode(s).map_err(|_| "malformed")?;
        mac.verify_slice(&sig).map_err(|_| "signature")?;
        let v: Value = serde_json::from_slice(&B64.decode(b).map_err(|_| "malformed")?)
            .map_err(|_| "malformed")?;
        let c = Claims {
            tid: v["tid"]
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or("tid")?,
            oid: v["oid"]
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or("oid")?,
            exp: v["exp"].as_i64().ok_or("exp")?,
            aud: v["aud"].as_str().unwrap_or_default().to_string(),
            seq: v["xms_sim_seq"].as_u64().unwrap_or(0),
        };
        if c.aud != AUDIENCE {
            return Err("audience");
        }
        if c.exp * 1000 <= now {
            return Err("expired");
        }
        if self.revoked_before.get(&c.tid).is_some_and(|r| c.seq <= *r) {
            return Err("revoked");
        }
        Ok(c)
    }
}
