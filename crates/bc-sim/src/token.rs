//! The `/token` endpoint: authorization_code (with PKCE), refresh_token (rotating),
//! client_credentials; JWT issuing.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::SimConfig;
use crate::identity::{AUDIENCE, EntraError, Identity, RefreshGrant, form_get, missing, name_uuid};

impl Identity {
    pub(crate) fn check_client(
        &self,
        cfg: &SimConfig,
        f: &HashMap<String, String>,
    ) -> Result<(), EntraError> {
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
        if scope.split_whitespace().any(|s| s == "openid") {
            let id = self.jwt(
                cfg,
                tid,
                cfg.user.object_id,
                now,
                life,
                json!({
                    "aud": cfg.app.client_id,
                    "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"),
                    "preferred_username": cfg.user.upn,
                    "name": cfg.user.upn.split('@').next().unwrap_or_default(),
                    "ver": "2.0",
                }),
            );
            out["id_token"] = json!(id);
        }
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
}
