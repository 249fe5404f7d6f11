#![allow(dead_code)]
//! Shared helpers for bc-sim integration tests (real HTTP against `Sim::start` on port 0).

use bc_sim::{Sim, SimConfig};
use serde_json::Value;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // The tests read what is on the wire.
        .no_gzip()
        .build()
        .unwrap()
}

pub async fn start() -> Sim {
    Sim::start(SimConfig::default()).await.unwrap()
}

pub async fn start_with(f: impl FnOnce(&mut SimConfig)) -> Sim {
    let mut c = SimConfig::default();
    f(&mut c);
    Sim::start(c).await.unwrap()
}

/// Client-credentials token.
pub async fn app_token(sim: &Sim) -> String {
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
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

/// GET with a bearer token; returns (status, json).
pub async fn get(tok: &str, url: &str) -> (u16, Value) {
    let r = client().get(url).bearer_auth(tok).send().await.unwrap();
    let s = r.status().as_u16();
    let b = r.bytes().await.unwrap();
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

/// GET with a page size preference.
pub async fn get_paged(tok: &str, url: &str, size: usize) -> (u16, Value) {
    let r = client()
        .get(url)
        .bearer_auth(tok)
        .header("Prefer", format!("odata.maxpagesize={size}"))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// `{api_base}/companies({first company})`.
pub fn company_url(sim: &Sim) -> String {
    format!("{}/companies({})", sim.api_base(), sim.company_ids()[0])
}

/// Follow nextLinks and collect every entity.
pub async fn all_pages(tok: &str, url: &str, size: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next = Some(url.to_string());
    while let Some(u) = next {
        let (s, v) = get_paged(tok, &u, size).await;
        assert_eq!(s, 200, "{v}");
        out.extend(v["value"].as_array().unwrap().iter().cloned());
        next = v["@odata.nextLink"].as_str().map(|s| s.to_string());
    }
    out
}

pub fn assert_bc_error(v: &Value, code: &str) {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CorrelationId"),
        "{v}"
    );
}

/// The simulated clock as an OData `DateTimeOffset` literal.
pub fn sim_now(sim: &Sim) -> String {
    chrono::DateTime::from_timestamp_millis(sim.now_ms())
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Ids of a set's records whose `lastModifiedDateTime` is after `after` (an incremental sync).
pub async fn modified_after(tok: &str, set_url: &str, after: &str) -> Vec<String> {
    all_pages(
        tok,
        &format!("{set_url}?$filter=lastModifiedDateTime gt {after}"),
        1000,
    )
    .await
    .iter()
    .map(|v| v["id"].as_str().unwrap().to_string())
    .collect()
}

/// POST/PATCH/… to the admin API; returns (status, json).
pub async fn admin_call(sim: &Sim, m: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .request(m, format!("{}/_sim/{path}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}
