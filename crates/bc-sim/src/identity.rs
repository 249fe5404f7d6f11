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
    fn new(status: u16, error: &'static str, code: u32, message: impl Into<String>) -> Self {
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
struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    challenge: Option<(String, String)>,
    scope: String,
    tenant: Uuid,
    issued: i64,
    used: bool,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    client_id: String,
    tenant: Uuid,
    scope: String,
    issued: i64,
    used: bool,
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
    secret: Vec<u8>,
    codes: HashMap<String, CodeGrant>,
    refresh: HashMap<String, RefreshGrant>,
    /// Tenants that consented to the app (value: consent time, ms).
    consent: HashMap<Uuid, i64>,
    /// Tokens with a sequence number at or below this are revoked, per tenant.
    revoked_before: HashMap<Uuid, u64>,
    counter: u64,
    seed: u64,
}

fn form_get<'a>(f: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    f.get(k).map(|s| s.as_str()).filter(|s| !s.is_empty())
}

fn missing(p: &str) -> EntraError {
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

    fn opaque(&mut self, prefix: &str) -> String {
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

    fn check_client(&self, cfg: &SimConfig, f: &HashMap<String, String>) -> Result<(), EntraError> {
        let cid = form_get(f, "client_id").ok_or_else(|| missing("client_id"))?;
        if cid != cfg.app.client_id {
            return Err(EntraError::new(
                400,
                "unauthorized_client",
                700016,
                format!("Application with identifier '{cid}' was not found in the directory."),
            ));
        }
        match form_get(f, "client_secret") {
            None => Err(EntraError::new(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )),
            Some(s) if s != cfg.app.client_secret => Err(EntraError::new(
                401,
                "invalid_client",
                7000215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{cid}'."
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    /// `/token`: returns the JSON response or an Entra error.
    pub fn token(
        &mut self,
        cfg: &SimConfig,
        tenant_seg: &str,
        f: &HashMap<String, String>,
        now: i64,
    ) -> Result<Value, EntraError> {
        let tenant = Self::resolve_tenant(cfg, tenant_seg).ok_or_else(|| {
            EntraError::new(
                400,
                "invalid_request",
                90002,
                format!("Tenant '{tenant_seg}' not found."),
            )
        })?;
        let grant = form_get(f, "grant_type")
            .ok_or_else(|| missing("grant_type"))?
            .to_string();
        match grant.as_str() {
            "authorization_code" => {
                self.check_client(cfg, f)?;
                let code = form_get(f, "code").ok_or_else(|| missing("code"))?;
                let g = self.codes.get_mut(code).ok_or_else(|| {
                    EntraError::new(
                        400,
                        "invalid_grant",
                        9002313,
                        "Invalid request. Request is malformed or invalid.",
                    )
                })?;
                if g.used {
                    return Err(EntraError::new(
                        400,
                        "invalid_grant",
                        54005,
                        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
                    ));
                }
                if now - g.issued > cfg.tokens.code.as_millis() as i64 {
                    return Err(EntraError::new(
                        400,
                        "invalid_grant",
                        70008,
                        "The provided authorization code or refresh token has expired due to inactivity.",
                    ));
                }
                if g.client_id != cfg.app.client_id {
                    return Err(EntraError::new(
                        400,
                        "invalid_grant",
                        70000,
                        "The provided grant is invalid: client mismatch.",
                    ));
                }
                let ru = form_get(f, "redirect_uri").unwrap_or("");
                if ru != g.redirect_uri {
                    return Err(EntraError::new(
                        400,
                        "invalid_grant",
                        50011,
                        format!(
                            "The redirect URI '{ru}' specified in the request does not match the redirect URI used to obtain the authorization code."
                        ),
                    ));
                }
                if let Some((ch, method)) = &g.challenge {
                    let v = form_get(f, "code_verifier").ok_or_else(|| EntraError::new(400, "invalid_grant", 50148, "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE."))?;
                    let computed = if method == "plain" {
                        v.to_string()
                    } else {
                        B64.encode(Sha256::digest(v.as_bytes()))
                    };
                    if &computed != ch {
                        return Err(EntraError::new(
                            400,
                            "invalid_grant",
                            501481,
                            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                        ));
                    }
                }
                g.used = true;
                let (tid, scope) = (g.tenant, g.scope.clone());
                if tid != tenant
                    && !tenant_seg.eq_ignore_ascii_case("common")
                    && !tenant_seg.eq_ignore_ascii_case("organizations")
                {
                    return Err(EntraError::new(
                        400,
                        "invalid_grant",
                        50194,
                        "The authorization code was issued for another tenant.",
                    ));
                }
                Ok(self.issue_user(cfg, tid, &scope, now))
            }
            "refresh_token" => {
                if form_get(f, "client_id").is_none() {
                    return Err(missing("client_id"));
                }
                self.check_client(cfg, f)?;
                let rt = form_get(f, "refresh_token").ok_or_else(|| missing("refresh_token"))?;
                let g = self.refresh.get_mut(rt).ok_or_else(|| EntraError::new(400, "invalid_grant", 70000, "The provided value for the input parameter 'refresh_token' or 'assertion' is not valid."))?;
                if g.used {
                    return Err(EntraError::new(
                        400,
                        "invalid_grant",
                        70000,
                        "The refresh token has already been redeemed and is no longer valid.",
                    ));
                }
                if g.client_id != cfg.app.client_id {
                    return Err(EntraError::new(
                        400,
                        "invalid_grant",
                        70000,
                        "The refresh token was issued to a different client.",
                    ));
                }
                if now - g.issued > cfg.tokens.refresh_token.as_millis() as i64 {
                    return Err(EntraError::new(
                        400,
                        "invalid_grant",
                        700082,
                        "The refresh token has expired due to inactivity.",
                    ));
                }
                if !self.consent.contains_key(&g.tenant) {
                    return Err(EntraError::new(
                        400,
                        "invalid_grant",
                        65001,
                        "The user or administrator has not consented to use the application.",
                    ));
                }
                g.used = true;
                let (tid, scope) = (g.tenant, g.scope.clone());
                let scope = form_get(f, "scope").map(|s| s.to_string()).unwrap_or(scope);
                Ok(self.issue_user(cfg, tid, &scope, now))
            }
            "client_credentials" => {
                self.check_client(cfg, f)?;
                let scope = form_get(f, "scope").ok_or_else(|| missing("scope"))?;
                if !scope.ends_with("/.default") {
                    return Err(EntraError::new(
                        400,
                        "invalid_scope",
                        1002012,
                        format!(
                            "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                        ),
                    ));
                }
                if !self.consent.contains_key(&tenant) {
                    return Err(EntraError::new(
                        400,
                        "invalid_grant",
                        65001,
                        "The user or administrator has not consented to use the application.",
                    ));
                }
                let sp = name_uuid(&cfg.app.client_id);
                let life = cfg.tokens.access_token.as_secs() as i64;
                let at = self.jwt(cfg, tenant, sp, now, life, json!({"roles": ["API.ReadWrite.All", "Automation.ReadWrite.All"], "idtyp": "app"}));
                Ok(
                    json!({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": at}),
                )
            }
            other => Err(EntraError::new(
                400,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            )),
        }
    }

    fn issue_user(&mut self, cfg: &SimConfig, tid: Uuid, scope: &str, now: i64) -> Value {
        let life = cfg.tokens.access_token.as_secs() as i64;
        let at = self.jwt(cfg, tid, cfg.user.object_id, now, life, json!({"scp": "Financials.ReadWrite.All user_impersonation", "upn": cfg.user.upn, "idtyp": "user"}));
        let mut out = json!({
            "token_type": "Bearer",
            "scope": format!("{AUDIENCE}/Financials.ReadWrite.All {AUDIENCE}/user_impersonation"),
            "expires_in": life,
            "ext_expires_in": life,
            "access_token": at,
        });
        if scope.split_whitespace().any(|s| s == "offline_access") {
            let rt = self.opaque("0.A");
            self.refresh.insert(
                rt.clone(),
                RefreshGrant {
                    client_id: cfg.app.client_id.clone(),
                    tenant: tid,
                    scope: scope.to_string(),
                    issued: now,
                    used: false,
                },
            );
            out["refresh_token"] = json!(rt);
        }
        out
    }

    fn jwt(
        &mut self,
        cfg: &SimConfig,
        tid: Uuid,
        oid: Uuid,
        now: i64,
        life: i64,
        extra: Value,
    ) -> String {
        let iat = now / 1000;
        self.counter += 1;
        let seq = self.counter;
        let mut claims = json!({
            "aud": AUDIENCE,
            "iss": format!("https://sts.windows.net/{tid}/"),
            "iat": iat, "nbf": iat, "exp": iat + life,
            "appid": cfg.app.client_id,
            "oid": oid, "tid": tid, "ver": "1.0",
            "uti": Uuid::new_v4().to_string(),
            "xms_sim_seq": seq,
        });
        if let (Some(m), Value::Object(e)) = (claims.as_object_mut(), extra) {
            m.extend(e);
        }
        let head = B64.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
        let body = B64.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signing = format!("{head}.{body}");
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("hmac key");
        mac.update(signing.as_bytes());
        format!("{signing}.{}", B64.encode(mac.finalize().into_bytes()))
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
