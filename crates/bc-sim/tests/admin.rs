//! The admin HTTP API (`/_sim/…`) and multi-tenant isolation.

mod common;

use bc_sim::{EnvironmentConfig, TenantConfig};
use common::*;
use serde_json::{Value, json};

async fn admin(sim: &bc_sim::Sim, m: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .request(m, format!("{}/_sim/{path}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn admin_routes_drive_the_simulator() {
    use reqwest::Method as M;
    let sim = start().await;
    let tok = app_token(&sim).await;
    let tid = sim.tenant_id();
    let cid = sim.company_ids()[0];
    let url = format!("{}/customers", company_url(&sim));
    let (s, info) = admin(&sim, M::GET, "info", json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(info["clientId"], sim.client_id());
    assert_eq!(
        info["environments"][0]["companies"][0]["id"],
        cid.to_string()
    );
    // Clock.
    let (_, c0) = admin(&sim, M::GET, "clock", json!({})).await;
    let (_, c1) = admin(&sim, M::POST, "clock/advance", json!({"seconds": 3600})).await;
    assert!(c1["now"].as_str().unwrap() > c0["now"].as_str().unwrap());
    let tok = if get(&tok, &url).await.0 == 401 {
        app_token(&sim).await
    } else {
        tok
    };
    // Faults.
    assert_eq!(
        admin(&sim, M::PUT, "faults", json!({"forbidden": true}))
            .await
            .0,
        200
    );
    assert_eq!(get(&tok, &url).await.0, 403);
    assert_eq!(admin(&sim, M::PUT, "faults", json!({})).await.0, 200);
    assert_eq!(get(&tok, &url).await.0, 200);
    // Limits.
    let (_, l) = admin(&sim, M::GET, "limits", json!({})).await;
    assert_eq!(l["requests_per_window"], 6000);
    let mut l2 = l.clone();
    l2["requests_per_window"] = json!(1);
    assert_eq!(admin(&sim, M::PUT, "limits", l2).await.0, 200);
    assert_eq!(get(&tok, &url).await.0, 200);
    assert_eq!(get(&tok, &url).await.0, 429);
    let (_, stats) = admin(&sim, M::GET, "limits/stats", json!({})).await;
    assert!(
        stats
            .as_object()
            .unwrap()
            .values()
            .any(|s| s["in_window"] == 1)
    );
    assert_eq!(admin(&sim, M::PUT, "limits", l).await.0, 200);
    // Extension, environment, consent, tokens.
    let ext = format!(
        "{}/v2.0/{tid}/{}/api/ledgerlink/ar/v1.0/companies({cid})/customerLedgerEntries",
        sim.base_url(),
        sim.environment()
    );
    admin(
        &sim,
        M::PUT,
        &format!("companies/{cid}/extension"),
        json!({"installed": false}),
    )
    .await;
    assert_eq!(get(&tok, &ext).await.0, 404);
    admin(
        &sim,
        M::PUT,
        &format!("companies/{cid}/extension"),
        json!({"installed": true}),
    )
    .await;
    assert_eq!(get(&tok, &ext).await.0, 200);
    admin(
        &sim,
        M::POST,
        &format!("environments/{tid}/Production/remove"),
        json!({}),
    )
    .await;
    assert_eq!(get(&tok, &url).await.0, 404);
    admin(
        &sim,
        M::POST,
        &format!("environments/{tid}/Production/restore"),
        json!({}),
    )
    .await;
    assert_eq!(get(&tok, &url).await.0, 200);
    admin(&sim, M::POST, "tokens/revoke", json!({})).await;
    assert_eq!(get(&tok, &url).await.0, 401);
    admin(
        &sim,
        M::POST,
        &format!("tenants/{tid}/consent/revoke"),
        json!({}),
    )
    .await;
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
    admin(
        &sim,
        M::POST,
        &format!("tenants/{tid}/consent/grant"),
        json!({}),
    )
    .await;
    let tok = app_token(&sim).await;
    // Records: invoice create/update/delete.
    let (s, inv) = admin(&sim, M::POST, &format!("companies/{cid}/salesInvoices"), json!({"externalDocumentNumber": "EXT-9", "lines": [{"quantity": 2, "unitPrice": 50, "taxPercent": 25}]})).await;
    assert_eq!(s, 200);
    let iid = inv["id"].as_str().unwrap();
    let (_, got) = get(&tok, &format!("{}/salesInvoices({iid})", company_url(&sim))).await;
    assert_eq!(got["totalAmountIncludingTax"], json!(125));
    assert_eq!(got["remainingAmount"], json!(125));
    assert_eq!(got["externalDocumentNumber"], "EXT-9");
    admin(
        &sim,
        M::PATCH,
        &format!("companies/{cid}/salesInvoices/{iid}"),
        json!({"paidAmount": 25}),
    )
    .await;
    let (_, got) = get(&tok, &format!("{}/salesInvoices({iid})", company_url(&sim))).await;
    assert_eq!(got["remainingAmount"], json!(100));
    assert_eq!(
        admin(
            &sim,
            M::DELETE,
            &format!("companies/{cid}/salesInvoices/{iid}"),
            json!({})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        get(&tok, &format!("{}/salesInvoices({iid})", company_url(&sim)))
            .await
            .0,
        404
    );
    // Request counts.
    let (_, counts) = admin(&sim, M::GET, "requests", json!({})).await;
    assert!(
        counts["GET /api/v2.0/companies/customers"]
            .as_u64()
            .unwrap()
            >= 5,
        "{counts}"
    );
    admin(&sim, M::DELETE, "requests", json!({})).await;
    let (_, counts) = admin(&sim, M::GET, "requests", json!({})).await;
    assert_eq!(counts, json!({}));
    // Company removal.
    assert_eq!(
        admin(&sim, M::DELETE, &format!("companies/{cid}"), json!({}))
            .await
            .0,
        200
    );
    assert_eq!(get(&tok, &url).await.0, 400);
    assert_eq!(admin(&sim, M::GET, "nope", json!({})).await.0, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_token_for_one_tenant_cannot_read_another() {
    let other = uuid::Uuid::from_u128(0xABCDEF);
    let sim = start_with(|c| {
        c.tenants.push(TenantConfig {
            id: other,
            domain: "fabrikam.onmicrosoft.com".into(),
            environments: vec![EnvironmentConfig {
                name: "Sandbox".into(),
                kind: "Sandbox".into(),
            }],
        })
    })
    .await;
    let tok = app_token(&sim).await; // first tenant
    let (s, v) = get(
        &tok,
        &format!("{}/v2.0/{other}/Sandbox/api/v2.0/companies", sim.base_url()),
    )
    .await;
    assert_eq!(s, 401, "{v}");
    // A token of the other tenant (by domain) works there.
    let r: Value = client()
        .post(format!(
            "{}/fabrikam.onmicrosoft.com/oauth2/v2.0/token",
            sim.base_url()
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &sim.client_id()),
            ("client_secret", &sim.client_secret()),
            ("scope", "https://api.businesscentral.dynamics.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tok2 = r["access_token"].as_str().unwrap();
    assert_eq!(
        get(
            tok2,
            &format!(
                "{}/v2.0/fabrikam.onmicrosoft.com/Sandbox/api/v2.0/companies",
                sim.base_url()
            )
        )
        .await
        .0,
        200
    );
    assert_eq!(get(tok2, &sim.api_base()).await.0, 401);
    // The environments list only shows the token's tenant.
    let (_, envs) = get(tok2, &format!("{}/environments/v1.2", sim.base_url())).await;
    assert_eq!(envs["value"].as_array().unwrap().len(), 1);
    assert_eq!(envs["value"][0]["name"], "Sandbox");
    sim.shutdown().await;
}

#[tokio::test]
async fn admin_credit_memo_applies_to_an_invoice() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let cid = sim.company_ids()[0];
    let co = company_url(&sim);
    let (_, inv) = get(
        &tok,
        &format!("{co}/salesInvoices?$filter=status eq 'Open'&$top=1"),
    )
    .await;
    let inv = &inv["value"][0];
    let before = inv["remainingAmount"].as_f64().unwrap();
    let (s, cm) = admin(
        &sim,
        reqwest::Method::POST,
        &format!("companies/{cid}/salesCreditMemos"),
        json!({"invoiceId": inv["id"], "lines": [{"quantity": 1, "unitPrice": 1}]}),
    )
    .await;
    assert_eq!(s, 200, "{cm}");
    let (_, got) = get(
        &tok,
        &format!("{co}/salesCreditMemos({})", cm["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(got["invoiceId"], inv["id"]);
    assert_eq!(got["customerId"], inv["customerId"]);
    assert_eq!(got["totalAmountIncludingTax"], json!(1));
    let (_, after) = get(
        &tok,
        &format!("{co}/salesInvoices({})", inv["id"].as_str().unwrap()),
    )
    .await;
    assert!((after["remainingAmount"].as_f64().unwrap() - (before - 1.0)).abs() < 0.001);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_generator_is_deterministic_per_seed() {
    async fn snapshot(seed: u64) -> Vec<Value> {
        let sim = start_with(|c| c.seed = seed).await;
        let tok = app_token(&sim).await;
        let all = all_pages(&tok, &format!("{}/salesInvoices?$expand=salesInvoiceLines&$select=id,number,customerId,totalAmountIncludingTax,lastModifiedDateTime", company_url(&sim)), 1000).await;
        sim.shutdown().await;
        all.into_iter()
            .map(|mut v| {
                v.as_object_mut().unwrap().remove("@odata.etag");
                v
            })
            .collect()
    }
    let a = snapshot(1).await;
    assert_eq!(a, snapshot(1).await);
    assert_ne!(a, snapshot(2).await);
}
