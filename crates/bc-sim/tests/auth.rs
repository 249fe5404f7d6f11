//! Entra flows (authorization code + PKCE, refresh rotation, client credentials, consent) and
//! on-prem Basic auth.

mod common;

use std::time::Duration;

use base64::Engine;
use common::*;
use serde_json::Value;
use sha2::Digest;

fn pkce(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

async fn authorize(
    sim: &bc_sim::Sim,
    redirect: &str,
    challenge: &str,
    state: &str,
) -> reqwest::Response {
    client()
        .get(sim.authorize_url())
        .query(&[
            ("client_id", sim.client_id().as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect),
            (
                "scope",
                "https://api.businesscentral.dynamics.com/.default offline_access",
            ),
            ("state", state),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap()
}

fn code_of(r: &reqwest::Response) -> (String, Option<String>) {
    let loc = r.headers()["location"].to_str().unwrap();
    let u = url::Url::parse(loc).unwrap();
    let get = |k: &str| {
        u.query_pairs()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.into_owned())
    };
    (get("code").unwrap_or_default(), get("state"))
}

async fn redeem(sim: &bc_sim::Sim, code: &str, redirect: &str, verifier: &str) -> (u16, Value) {
    let r = client()
        .post(sim.token_url())
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &sim.client_id()),
            ("client_secret", &sim.client_secret()),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn refresh(sim: &bc_sim::Sim, rt: &str) -> (u16, Value) {
    let r = client()
        .post(sim.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &sim.client_id()),
            ("client_secret", &sim.client_secret()),
            ("refresh_token", rt),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn claims(jwt: &str) -> Value {
    let p = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn authorization_code_with_pkce_then_refresh_rotation() {
    let sim = start().await;
    let redirect = sim.redirect_uri();
    let verifier = "a-very-long-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
    let state = "st&ate=with/odd+chars";
    let r = authorize(&sim, &redirect, &pkce(verifier), state).await;
    assert_eq!(r.status(), 302);
    let (code, st) = code_of(&r);
    assert_eq!(st.as_deref(), Some(state), "state must come back untouched");
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&redirect)
    );
    let (s, tok) = redeem(&sim, &code, &redirect, verifier).await;
    assert_eq!(s, 200, "{tok}");
    assert_eq!(tok["token_type"], "Bearer");
    let at = tok["access_token"].as_str().unwrap();
    let c = claims(at);
    assert_eq!(c["tid"], sim.tenant_id().to_string());
    assert_eq!(c["aud"], "https://api.businesscentral.dynamics.com");
    assert!(c["exp"].as_i64().unwrap() > c["iat"].as_i64().unwrap());
    assert!(tok.get("id_token").is_none(), "no id_token without openid");
    let (s, _) = get(at, &format!("{}/companies", sim.api_base())).await;
    assert_eq!(s, 200);
    // A code is single-use.
    let (s, e) = redeem(&sim, &code, &redirect, verifier).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(e["error_codes"][0], 54005);
    // Refresh rotates; the used one is dead.
    let rt1 = tok["refresh_token"].as_str().unwrap().to_string();
    let (s, t2) = refresh(&sim, &rt1).await;
    assert_eq!(s, 200, "{t2}");
    let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    let (s, e) = refresh(&sim, &rt1).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS")
    );
    for k in ["error_codes", "timestamp", "trace_id", "correlation_id"] {
        assert!(e.get(k).is_some(), "{k} missing in {e}");
    }
    let (s, _) = refresh(&sim, &rt2).await;
    assert_eq!(s, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn pkce_failure_and_redirect_checks() {
    let sim = start().await;
    let redirect = sim.redirect_uri();
    let r = authorize(
        &sim,
        &redirect,
        &pkce("right-verifier-right-verifier-right-verifier"),
        "s",
    )
    .await;
    let (code, _) = code_of(&r);
    let (s, e) = redeem(
        &sim,
        &code,
        &redirect,
        "wrong-verifier-wrong-verifier-wrong-verifier",
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"], "invalid_grant");
    assert_eq!(e["error_codes"][0], 501481, "{e}");
    // Unregistered redirect URI: an error page, no redirect.
    let r = authorize(&sim, "https://evil.example/cb", "x", "s").await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("AADSTS50011"));
    // Redemption with a different redirect_uri than authorize.
    let r = authorize(
        &sim,
        &redirect,
        &pkce("v-v-v-v-v-v-v-v-v-v-v-v-v-v-v-v-v-v-v-v-v-v"),
        "s",
    )
    .await;
    let (code, _) = code_of(&r);
    let (s, e) = redeem(
        &sim,
        &code,
        "http://localhost/other",
        "v-v-v-v-v-v-v-v-v-v-v-v-v-v-v-v-v-v-v-v-v-v",
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
    sim.shutdown().await;
}

#[tokio::test]
async fn client_credentials_and_bad_secret() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    assert_eq!(claims(&tok)["tid"], sim.tenant_id().to_string());
    let r = client()
        .post(sim.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &sim.client_id()),
            ("client_secret", "nope"),
            ("scope", "https://api.businesscentral.dynamics.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_client");
    assert_eq!(e["error_codes"][0], 7000215);
    // No token / garbage token → BC 401 body.
    let (s, v) = get("garbage", &format!("{}/companies", sim.api_base())).await;
    assert_eq!(s, 401);
    assert_bc_error(&v, "Authentication_InvalidCredentials");
    sim.shutdown().await;
}

#[tokio::test]
async fn expiry_on_simulated_clock_and_consent_revocation() {
    let sim = start_with(|c| c.tokens.access_token = Duration::from_secs(60)).await;
    let tok = app_token(&sim).await;
    let url = format!("{}/companies", sim.api_base());
    assert_eq!(get(&tok, &url).await.0, 200);
    sim.advance_clock(Duration::from_secs(61));
    assert_eq!(
        get(&tok, &url).await.0,
        401,
        "token must expire on the simulated clock"
    );
    // Revoked consent: tokens rejected and client credentials refused until granted again.
    let tok = app_token(&sim).await;
    sim.revoke_consent(sim.tenant_id());
    assert_eq!(get(&tok, &url).await.0, 401);
    let r = client()
        .post(sim.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &sim.client_id()),
            ("client_secret", &sim.client_secret()),
            ("scope", "https://api.businesscentral.dynamics.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error_codes"][0], 65001);
    sim.grant_consent(sim.tenant_id());
    let tok = app_token(&sim).await;
    assert_eq!(get(&tok, &url).await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn onprem_basic_auth() {
    let sim = start().await;
    let base = sim.onprem_api_base().unwrap();
    let (user, key) = sim.onprem_credentials().unwrap();
    let r = client()
        .get(format!("{base}/companies"))
        .basic_auth(&user, Some(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let cid = v["value"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(cid, sim.onprem_company_ids()[0].to_string());
    let r = client()
        .get(format!("{base}/companies({cid})/salesInvoices?$top=2"))
        .basic_auth(&user, Some(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 2);
    assert!(
        v["@odata.context"]
            .as_str()
            .unwrap()
            .contains("/BC/api/v2.0/$metadata#")
    );
    let r = client()
        .get(format!("{base}/companies"))
        .basic_auth(&user, Some("wrong-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_bc_error(&v, "Authentication_InvalidCredentials");
    // A cloud bearer token is not Basic auth.
    let tok = app_token(&sim).await;
    assert_eq!(get(&tok, &format!("{base}/companies")).await.0, 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn environments_list() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let (s, v) = get(&tok, &format!("{}/environments/v1.2", sim.base_url())).await;
    assert_eq!(s, 200);
    let e = &v["value"][0];
    assert_eq!(e["name"], "Production");
    assert_eq!(e["aadTenantId"], sim.tenant_id().to_string());
    assert_eq!(e["applicationFamily"], "BusinessCentral");
    sim.shutdown().await;
}

#[tokio::test]
async fn client_secret_basic_discovery_and_admin_consent() {
    let sim = start().await;
    // client_secret_basic instead of form fields.
    let r = client()
        .post(sim.token_url())
        .basic_auth(sim.client_id(), Some(sim.client_secret()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://api.businesscentral.dynamics.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Discovery.
    let (s, v) = get(
        "",
        &format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            sim.base_url(),
            sim.tenant_id()
        ),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["token_endpoint"], sim.token_url());
    // Admin consent restores a revoked tenant.
    sim.revoke_consent(sim.tenant_id());
    let r = client()
        .get(format!(
            "{}/{}/v2.0/adminconsent",
            sim.base_url(),
            sim.tenant_id()
        ))
        .query(&[
            ("client_id", sim.client_id()),
            ("redirect_uri", sim.redirect_uri()),
            ("state", "xyz".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.contains("admin_consent=True") && loc.contains("state=xyz"),
        "{loc}"
    );
    let tok = app_token(&sim).await;
    assert_eq!(
        get(&tok, &format!("{}/companies", sim.api_base())).await.0,
        200
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn openid_scope_adds_an_id_token() {
    let sim = start().await;
    let redirect = sim.redirect_uri();
    let r = client()
        .get(sim.authorize_url())
        .query(&[
            ("client_id", sim.client_id().as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect.as_str()),
            (
                "scope",
                "openid profile offline_access https://api.businesscentral.dynamics.com/.default",
            ),
            ("state", "s"),
        ])
        .send()
        .await
        .unwrap();
    let (code, _) = code_of(&r);
    let (s, tok) = redeem(&sim, &code, &redirect, "unused").await;
    assert_eq!(s, 200, "{tok}");
    let id = claims(tok["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], sim.client_id());
    assert_eq!(id["tid"], sim.tenant_id().to_string());
    assert_eq!(id["preferred_username"], sim.config().user.upn);
    sim.shutdown().await;
}

#[tokio::test]
async fn form_post_and_prompt_none() {
    let sim = start().await;
    let redirect = sim.redirect_uri();
    let q = |extra: (&'static str, &'static str)| {
        vec![
            ("client_id", sim.client_id()),
            ("response_type", "code".to_string()),
            ("redirect_uri", redirect.clone()),
            (
                "scope",
                "https://api.businesscentral.dynamics.com/.default".to_string(),
            ),
            ("state", "st8".to_string()),
            (extra.0, extra.1.to_string()),
        ]
    };
    let r = client()
        .get(sim.authorize_url())
        .query(&q(("response_mode", "form_post")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("method=\"POST\"")
            && html.contains("name=\"code\"")
            && html.contains("value=\"st8\""),
        "{html}"
    );
    // prompt=none without consent → consent_required, no code.
    sim.revoke_consent(sim.tenant_id());
    let r = client()
        .get(sim.authorize_url())
        .query(&q(("prompt", "none")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.contains("error=consent_required")
            && !loc.contains("code=")
            && loc.contains("state=st8"),
        "{loc}"
    );
    sim.shutdown().await;
}
