//! Webhook subscriptions: handshake, notifications, expiry after 3 simulated days, renewal.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::post;
use common::*;
use serde_json::{Value, json};

#[derive(Default)]
struct Rx {
    handshakes: usize,
    notes: Vec<Value>,
    fail_handshake: bool,
    fail_notes: usize,
    reject_notes: bool,
}

async fn receiver() -> (String, Arc<Mutex<Rx>>) {
    let rx = Arc::new(Mutex::new(Rx::default()));
    async fn hook(
        State(rx): State<Arc<Mutex<Rx>>>,
        Query(q): Query<std::collections::HashMap<String, String>>,
        body: String,
    ) -> (axum::http::StatusCode, String) {
        let mut r = rx.lock().unwrap();
        if let Some(t) = q.get("validationToken") {
            r.handshakes += 1;
            if r.fail_handshake {
                return (axum::http::StatusCode::OK, "wrong".into());
            }
            return (axum::http::StatusCode::OK, t.clone());
        }
        if r.fail_notes > 0 {
            r.fail_notes -= 1;
            return (axum::http::StatusCode::SERVICE_UNAVAILABLE, String::new());
        }
        if r.reject_notes {
            return (axum::http::StatusCode::GONE, String::new());
        }
        let v: Value = serde_json::from_str(&body).unwrap();
        r.notes
            .extend(v["value"].as_array().unwrap().iter().cloned());
        (axum::http::StatusCode::ACCEPTED, String::new())
    }
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .with_state(rx.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}/hook"), rx)
}

#[tokio::test]
async fn subscribe_notify_expire_renew() {
    let sim = start_with(|c| c.webhook_auto_delivery = false).await;
    let tok = app_token(&sim).await;
    let (hook, rx) = receiver().await;
    let cid = sim.company_ids()[0];
    let subs = format!("{}/subscriptions", sim.api_base());
    let resource = format!("/api/v2.0/companies({cid})/customers");
    let r = client()
        .post(&subs)
        .bearer_auth(&tok)
        .json(
            &json!({"notificationUrl": hook, "resource": resource, "clientState": "secret-state"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let sub: Value = r.json().await.unwrap();
    assert_eq!(rx.lock().unwrap().handshakes, 1);
    let sid = sub["subscriptionId"].as_str().unwrap().to_string();
    let exp =
        chrono::DateTime::parse_from_rfc3339(sub["expirationDateTime"].as_str().unwrap()).unwrap();
    let now = chrono::DateTime::from_timestamp_millis(sim.now_ms()).unwrap();
    assert!((exp.timestamp() - now.timestamp() - 3 * 86400).abs() < 5);

    // Create, update, delete a customer through the admin API → three notifications.
    let admin = format!("{}/_sim/companies/{cid}/customers", sim.base_url());
    let v: Value = client()
        .post(&admin)
        .json(&json!({"displayName": "Hooked"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    client()
        .patch(format!("{admin}/{id}"))
        .json(&json!({"email": "x@y.z"}))
        .send()
        .await
        .unwrap();
    client()
        .delete(format!("{admin}/{id}"))
        .send()
        .await
        .unwrap();
    // An invoice change does not concern a customers subscription.
    client()
        .post(format!(
            "{}/_sim/companies/{cid}/salesInvoices",
            sim.base_url()
        ))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(sim.flush_webhooks().await, 3);
    {
        let r = rx.lock().unwrap();
        let kinds: Vec<&str> = r
            .notes
            .iter()
            .map(|n| n["changeType"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, vec!["created", "updated", "deleted"]);
        for n in &r.notes {
            assert_eq!(n["subscriptionId"], sid.as_str());
            assert_eq!(n["clientState"], "secret-state");
            assert!(
                n["resource"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("customers({id})"))
            );
        }
    }
    // Renewal by PATCH (If-Match) re-validates and extends.
    sim.advance_clock(Duration::from_secs(2 * 86400));
    let tok = app_token(&sim).await;
    let r = client()
        .patch(format!("{subs}('{sid}')"))
        .bearer_auth(&tok)
        .header("If-Match", sub["@odata.etag"].as_str().unwrap())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let renewed: Value = r.json().await.unwrap();
    assert!(
        renewed["expirationDateTime"].as_str().unwrap()
            > sub["expirationDateTime"].as_str().unwrap()
    );
    assert_eq!(rx.lock().unwrap().handshakes, 2);
    // Expiry after 3 days without renewal.
    sim.advance_clock(Duration::from_secs(3 * 86400 + 60));
    let tok = app_token(&sim).await;
    let (s, v) = get(&tok, &subs).await;
    assert_eq!(s, 200);
    assert_eq!(
        v["value"].as_array().unwrap().len(),
        0,
        "expired subscription still listed"
    );
    client()
        .post(&admin)
        .json(&json!({"displayName": "After expiry"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sim.flush_webhooks().await, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn failed_handshake_and_unsupported_resource() {
    let sim = start_with(|c| c.webhook_auto_delivery = false).await;
    let tok = app_token(&sim).await;
    let (hook, rx) = receiver().await;
    rx.lock().unwrap().fail_handshake = true;
    let cid = sim.company_ids()[0];
    let subs = format!("{}/subscriptions", sim.api_base());
    let r = client().post(&subs).bearer_auth(&tok).json(&json!({"notificationUrl": hook, "resource": format!("/api/v2.0/companies({cid})/customers")})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = client().post(&subs).bearer_auth(&tok).json(&json!({"notificationUrl": hook, "resource": format!("/api/v2.0/companies({cid})/salesInvoiceLines")})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn customer_api_writes_notify_subscribers() {
    let sim = start_with(|c| c.webhook_auto_delivery = false).await;
    let tok = app_token(&sim).await;
    let (hook, rx) = receiver().await;
    let cid = sim.company_ids()[0];
    let r = client()
        .post(format!("{}/subscriptions", sim.api_base()))
        .bearer_auth(&tok)
        .json(&json!({"notificationUrl": hook, "resource": format!("api/v2.0/companies({cid})/customers")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let url = format!("{}/customers", company_url(&sim));
    let r = client()
        .post(&url)
        .bearer_auth(&tok)
        .json(&json!({"displayName": "API Customer", "number": "API-1", "blocked": "_x0020_"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["displayName"], "API Customer");
    let id = c["id"].as_str().unwrap().to_string();
    // Duplicate number refused.
    let r = client()
        .post(&url)
        .bearer_auth(&tok)
        .json(&json!({"displayName": "Dup", "number": "API-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let one = format!("{}/customers({id})", company_url(&sim));
    let r = client()
        .patch(&one)
        .bearer_auth(&tok)
        .header("If-Match", c["@odata.etag"].as_str().unwrap())
        .json(&json!({"email": "ap@api.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let c2: Value = r.json().await.unwrap();
    assert_eq!(c2["email"], "ap@api.example");
    assert_ne!(c2["lastModifiedDateTime"], "0001-01-01T00:00:00Z");
    let r = client()
        .delete(&one)
        .bearer_auth(&tok)
        .header("If-Match", c["@odata.etag"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "stale etag");
    let r = client()
        .delete(&one)
        .bearer_auth(&tok)
        .header("If-Match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(sim.flush_webhooks().await, 3);
    let kinds: Vec<String> = rx
        .lock()
        .unwrap()
        .notes
        .iter()
        .map(|n| n["changeType"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, vec!["created", "updated", "deleted"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn retries_on_the_simulated_clock_and_removal_on_other_errors() {
    let sim = start_with(|c| c.webhook_auto_delivery = false).await;
    let tok = app_token(&sim).await;
    let (hook, rx) = receiver().await;
    let cid = sim.company_ids()[0];
    let subs = format!("{}/subscriptions", sim.api_base());
    let r = client()
        .post(&subs)
        .bearer_auth(&tok)
        .json(&json!({"notificationUrl": hook, "resource": format!("/api/v2.0/companies({cid})/customers")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let admin = format!("{}/_sim/companies/{cid}/customers", sim.base_url());
    rx.lock().unwrap().fail_notes = 1;
    client()
        .post(&admin)
        .json(&json!({"displayName": "Retry me"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sim.flush_webhooks().await, 0, "503 → kept for retry");
    assert_eq!(
        sim.flush_webhooks().await,
        0,
        "retry not due before a minute"
    );
    sim.advance_clock(std::time::Duration::from_secs(61));
    assert_eq!(sim.flush_webhooks().await, 1, "retried after a minute");
    // Any other error removes the subscription.
    rx.lock().unwrap().reject_notes = true;
    client()
        .post(&admin)
        .json(&json!({"displayName": "Rejected"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sim.flush_webhooks().await, 0);
    let tok = app_token(&sim).await;
    let (_, v) = get(&tok, &subs).await;
    assert_eq!(
        v["value"].as_array().unwrap().len(),
        0,
        "subscription must be deleted"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn automatic_delivery_after_the_batching_delay() {
    let sim = start_with(|c| c.webhook_delay = Duration::from_millis(100)).await;
    let tok = app_token(&sim).await;
    let (hook, rx) = receiver().await;
    let cid = sim.company_ids()[0];
    let r = client()
        .post(format!("{}/subscriptions", sim.api_base()))
        .bearer_auth(&tok)
        .json(&json!({"notificationUrl": hook, "resource": format!("/api/v2.0/companies({cid})/customers")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    client()
        .post(format!("{}/_sim/companies/{cid}/customers", sim.base_url()))
        .json(&json!({"displayName": "Auto"}))
        .send()
        .await
        .unwrap();
    // This tests the background path itself, so it waits (bounded) for the delivery.
    for _ in 0..100 {
        if !rx.lock().unwrap().notes.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rx.lock().unwrap().notes.len(), 1);
    sim.shutdown().await;
}
