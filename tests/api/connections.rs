//! The connection object exactly as the seed page describes it, and its lifecycle.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::TestApp;

const CONNECTION_FIELDS: [&str; 28] = [
    "created_at",
    "modified_at",
    "id",
    "is_authentication_pending",
    "is_running_setup",
    "is_sync_disabled",
    "health",
    "models",
    "next_sync_at",
    "name",
    "owner_id",
    "requires_setup",
    "provider_name",
    "api_url",
    "company",
    "company_name",
    "environment",
    "include_dimension_lines",
    "is_bc_extension_installed",
    "is_on_premise",
    "tenant_id",
    "object",
    "authorization_url",
    "provider",
    "is_configured",
    "missing_settings",
    "is_healthy",
    "linked_integration_id",
];

const MODEL_FIELDS: [&str; 17] = [
    "created_at",
    "modified_at",
    "id",
    "name",
    "is_read_enabled",
    "is_write_enabled",
    "is_custom_object",
    "is_file_upload_enabled",
    "is_webhooks_setup",
    "next_sync_at",
    "connection_id",
    "last_sync",
    "object",
    "display_name",
    "is_read_supported",
    "is_write_supported",
    "is_sync_supported",
];

const PROVIDER_FIELDS: [&str; 18] = [
    "name",
    "categories",
    "display_name",
    "is_api_connection",
    "is_webhooks_supported",
    "auth_type",
    "color",
    "connection_guide_url",
    "connection_instructions",
    "documentation_url",
    "description",
    "is_enabled",
    "is_manual_sync_supported",
    "logo",
    "logo_square",
    "required_settings",
    "short_description",
    "website",
];

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn is_timestamp(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

fn assert_string_or_null(c: &Value, field: &str) {
    assert!(
        c[field].is_string() || c[field].is_null(),
        "{field}: {}",
        c[field]
    );
}

#[tokio::test]
async fn create_returns_the_seed_connection_object_field_by_field() {
    let app = TestApp::start().await;
    let body = r#"{"provider_name": "ms-dynamics-bc", "name": "Acme BC", "api_url": null, "is_on_premise": false}"#;
    let r = app.post("/v2/integrations/connections", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let c = &r.json;
    assert_eq!(
        keys(c),
        CONNECTION_FIELDS,
        "every seed field, in the seed's order, and nothing else"
    );

    assert!(is_timestamp(&c["created_at"]));
    assert_eq!(
        c["modified_at"], c["created_at"],
        "a new connection was modified when created"
    );
    assert!(
        c["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("conn_") && id.len() > 20)
    );
    assert_eq!(c["is_authentication_pending"], true);
    assert_eq!(c["is_running_setup"], false);
    assert_eq!(c["is_sync_disabled"], false);
    assert_eq!(
        c["next_sync_at"],
        Value::Null,
        "nothing is scheduled before authorization"
    );
    assert_eq!(c["name"], "Acme BC");
    assert_eq!(c["owner_id"], Value::Null);
    assert_eq!(
        c["requires_setup"], false,
        "setup has not run, so nothing is known to be missing yet"
    );
    assert_eq!(c["provider_name"], "ms-dynamics-bc");
    for field in [
        "api_url",
        "company",
        "company_name",
        "environment",
        "tenant_id",
        "linked_integration_id",
    ] {
        assert_eq!(c[field], Value::Null, "{field}");
    }
    assert_eq!(c["include_dimension_lines"], false);
    assert_eq!(c["is_bc_extension_installed"], false);
    assert_eq!(c["is_on_premise"], false);
    assert_eq!(c["object"], "integration_connection");
    let auth = c["authorization_url"]
        .as_str()
        .expect("a cloud connection has an authorization URL");
    let auth = url::Url::parse(auth).unwrap();
    assert_eq!(auth.scheme(), "https");
    assert!(auth.path().ends_with("/oauth2/v2.0/authorize"), "{auth}");
    let q: std::collections::HashMap<_, _> = auth.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["scope"].contains("offline_access"));
    assert!(q["state"].len() > 40, "a signed state");
    assert_eq!(c["is_configured"], false);
    assert!(c["missing_settings"].is_array());
    assert!(
        c["missing_settings"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_string)
    );
    assert_eq!(c["is_healthy"], false);

    let h = &c["health"];
    assert_eq!(
        keys(h),
        [
            "authentication_required",
            "message",
            "healthy",
            "status_code",
            "suggested_resolution",
            "timestamp"
        ]
    );
    assert_eq!(h["status_code"], "authentication_pending");
    assert_eq!(h["healthy"], false);
    assert_eq!(h["authentication_required"], true);
    assert!(h["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(
        h["suggested_resolution"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(is_timestamp(&h["timestamp"]));

    let p = &c["provider"];
    assert_eq!(keys(p), PROVIDER_FIELDS);
    assert_eq!(p["name"], "ms-dynamics-bc");
    assert_eq!(p["auth_type"], "oauth2");
    assert_eq!(p["categories"], json!(["accounting"]));
    assert_eq!(p["is_enabled"], true);
    for field in [
        "is_api_connection",
        "is_webhooks_supported",
        "is_manual_sync_supported",
    ] {
        assert!(p[field].is_boolean(), "{field}");
    }
    for field in [
        "color",
        "connection_guide_url",
        "documentation_url",
        "logo",
        "logo_square",
        "website",
    ] {
        assert_string_or_null(p, field);
    }
    for field in ["display_name", "description", "short_description"] {
        assert!(p[field].as_str().is_some_and(|s| !s.is_empty()), "{field}");
    }
    assert!(
        p["connection_instructions"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert!(
        p["required_settings"]
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string))
    );

    let models = c["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "customers",
            "contacts",
            "invoices",
            "credit_memos",
            "payments",
            "customer_ledger_entries",
            "dimensions"
        ]
    );
    for m in models {
        assert_eq!(keys(m), MODEL_FIELDS, "model {}", m["name"]);
        assert!(m["id"].as_str().is_some_and(|id| id.starts_with("mdl_")));
        assert_eq!(m["connection_id"], c["id"]);
        assert_eq!(m["object"], "integration_model");
        assert_eq!(m["last_sync"], Value::Null);
        assert_eq!(m["next_sync_at"], Value::Null);
        assert!(is_timestamp(&m["created_at"]));
        assert!(m["display_name"].as_str().is_some_and(|s| !s.is_empty()));
        for flag in [
            "is_read_enabled",
            "is_write_enabled",
            "is_custom_object",
            "is_file_upload_enabled",
            "is_webhooks_setup",
            "is_read_supported",
            "is_write_supported",
            "is_sync_supported",
        ] {
            assert!(m[flag].is_boolean(), "{flag}");
        }
        // Nothing is enabled beyond what is supported.
        assert!(m["is_read_supported"] == true || m["is_read_enabled"] == false);
        assert!(m["is_write_supported"] == true || m["is_write_enabled"] == false);
    }
    let payments = models.iter().find(|m| m["name"] == "payments").unwrap();
    assert_eq!(
        payments["is_write_supported"], true,
        "payments can be written back"
    );
    let ledger = models
        .iter()
        .find(|m| m["name"] == "customer_ledger_entries")
        .unwrap();
    assert_eq!(
        ledger["is_read_enabled"], false,
        "needs the extension, not detected yet"
    );

    let got = app
        .get(&format!(
            "/v2/integrations/connections/{}",
            c["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(got.status, StatusCode::OK);
    // Each answer carries a fresh single-use authorization URL; everything else is identical.
    let (mut got, mut posted) = (got.json, c.clone());
    got["authorization_url"] = Value::Null;
    posted["authorization_url"] = Value::Null;
    assert_eq!(got, posted, "GET returns what POST returned");
}

#[tokio::test]
async fn without_an_entra_app_health_says_so_instead_of_a_broken_url() {
    let app = TestApp::start_with(|c| c.set_entra(None)).await;
    let c = app.create_connection("No app").await;
    assert_eq!(c["authorization_url"], Value::Null);
    assert_eq!(c["health"]["status_code"], "missing_settings");
    assert!(
        c["health"]["message"]
            .as_str()
            .unwrap()
            .contains("entra_client_id")
    );
    assert_eq!(c["is_healthy"], false);
    // On-premises connections do not need the app.
    let r = app
        .post(
            "/v2/integrations/connections",
            r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":"https://bc.example.com/BC"}"#,
        )
        .await;
    assert_eq!(r.json["health"]["status_code"], "authentication_pending");
}

#[tokio::test]
async fn the_seed_body_with_only_provider_name_is_enough() {
    let app = TestApp::start().await;
    let r = app
        .post(
            "/v2/integrations/connections",
            r#"{"provider_name":"ms-dynamics-bc"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.json["name"], Value::Null);
    assert_eq!(r.json["is_on_premise"], false);
}

#[tokio::test]
async fn on_premise_connection_keeps_its_api_url_and_waits_for_credentials() {
    let app = TestApp::start().await;
    let body = r#"{"provider_name":"ms-dynamics-bc","name":"On-prem","api_url":"https://bc.example.com:7048/BC240/","is_on_premise":true}"#;
    let r = app.post("/v2/integrations/connections", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.json["is_on_premise"], true);
    assert!(
        r.json["api_url"]
            .as_str()
            .unwrap()
            .starts_with("https://bc.example.com:7048/BC240")
    );
    assert_eq!(
        r.json["authorization_url"],
        Value::Null,
        "on-prem uses credentials, not OAuth"
    );
    assert_eq!(r.json["health"]["status_code"], "authentication_pending");
}

#[tokio::test]
async fn providers_lists_bc_enabled_and_bill_disabled() {
    let app = TestApp::start().await;
    let r = app.get("/v2/integrations/providers").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let list = r.json.as_array().expect("a bare array");
    let bc = list
        .iter()
        .find(|p| p["name"] == "ms-dynamics-bc")
        .expect("BC listed");
    assert_eq!(keys(bc), PROVIDER_FIELDS);
    assert_eq!(bc["auth_type"], "oauth2");
    assert_eq!(bc["categories"], json!(["accounting"]));
    assert_eq!(bc["is_enabled"], true);
    let bill = list
        .iter()
        .find(|p| p["name"] == "bill")
        .expect("Bill listed");
    assert_eq!(bill["auth_type"], "api_key");
    assert_eq!(bill["is_enabled"], false);

    let r = app
        .post(
            "/v2/integrations/connections",
            r#"{"provider_name":"bill"}"#,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a disabled provider cannot be connected: {r:?}"
    );
}

#[tokio::test]
async fn patch_is_tri_state_and_stamps_modified_at() {
    let app = TestApp::start().await;
    let c = app.create_connection("First").await;
    let path = format!("/v2/integrations/connections/{}", c["id"].as_str().unwrap());

    // A value sets; modified_at moves forward, created_at stays.
    let r = app
        .patch(&path, r#"{"name":"Renamed","is_sync_disabled":true}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.json["name"], "Renamed");
    assert_eq!(r.json["is_sync_disabled"], true);
    assert_eq!(r.json["created_at"], c["created_at"]);
    let m1 = r.json["modified_at"].as_str().unwrap().to_owned();
    assert!(
        m1.as_str() > c["modified_at"].as_str().unwrap(),
        "modified_at advanced"
    );

    // Absent leaves alone.
    let r = app
        .patch(&path, r#"{"include_dimension_lines":true}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.json["name"], "Renamed", "absent field untouched");
    assert_eq!(r.json["include_dimension_lines"], true);
    assert_eq!(r.json["is_sync_disabled"], true);
    assert!(r.json["modified_at"].as_str().unwrap() > m1.as_str());

    // Null clears a nullable field.
    let r = app.patch(&path, r#"{"name":null}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.json["name"], Value::Null);

    // Null on a non-nullable field is a validation error, naming it.
    let r = app.patch(&path, r#"{"is_sync_disabled":null}"#).await;
    assert_eq!(crate::harness::locs(&r), ["body.is_sync_disabled"]);

    // provider_name may be repeated, never changed.
    let r = app
        .patch(&path, r#"{"provider_name":"ms-dynamics-bc"}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = app.patch(&path, r#"{"provider_name":"bill"}"#).await;
    assert_eq!(crate::harness::locs(&r), ["body.provider_name"]);

    // A company that setup has not discovered is refused.
    let r = app
        .patch(
            &path,
            r#"{"company":"00000000-0000-0000-0000-000000000001"}"#,
        )
        .await;
    assert_eq!(crate::harness::locs(&r), ["body.company"]);

    // Everything persisted as the last successful PATCH left it.
    let got = app.get(&path).await;
    assert_eq!(got.json["name"], Value::Null);
    assert_eq!(got.json["is_sync_disabled"], true);
    assert_eq!(got.json["include_dimension_lines"], true);
}

#[tokio::test]
async fn an_empty_patch_changes_nothing_but_is_accepted() {
    let app = TestApp::start().await;
    let c = app.create_connection("Same").await;
    let path = format!("/v2/integrations/connections/{}", c["id"].as_str().unwrap());
    let r = app.patch(&path, "{}").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.json["name"], "Same");
}

#[tokio::test]
async fn delete_then_not_found_everywhere() {
    let app = TestApp::start().await;
    let c = app.create_connection("Doomed").await;
    let keep = app.create_connection("Kept").await;
    let path = format!("/v2/integrations/connections/{}", c["id"].as_str().unwrap());
    let r = app.delete(&path).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert!(r.text.is_empty());
    for r in [
        app.get(&path).await,
        app.delete(&path).await,
        app.patch(&path, r#"{"name":"x"}"#).await,
    ] {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
        assert_eq!(r.json["code"], "connection_not_found", "{r:?}");
        assert!(r.json["detail"].is_string());
    }
    let list = app.get("/v2/integrations/connections").await;
    let ids: Vec<&Value> = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(ids, [&keep["id"]]);
}
