//! The OpenAPI document says what the server does: every request field the schema calls nullable is
//! accepted with `null`, every other one is refused with `null` at its location; the error shapes
//! and the answers every operation can give are declared.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::TestApp;

/// Whether a property schema admits null.
fn nullable(prop: &Value) -> bool {
    match &prop["type"] {
        Value::Array(types) => types.iter().any(|t| t == "null"),
        Value::String(t) => t == "null",
        _ => ["oneOf", "anyOf"].iter().any(|k| {
            prop[k]
                .as_array()
                .is_some_and(|v| v.iter().any(|s| s["type"] == "null"))
        }),
    }
}

#[tokio::test]
async fn every_request_field_is_nullable_exactly_when_the_server_accepts_null() {
    let app = TestApp::start().await;
    let doc = ledgerlink_api::openapi();
    let schemas = &doc["components"]["schemas"];
    let mut tried = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(reference) =
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            else {
                continue;
            };
            let name = reference.rsplit('/').next().unwrap();
            let schema = &schemas[name];
            for (field, prop) in schema["properties"].as_object().unwrap() {
                // A fresh cloud connection for each try, so that no change carries over.
                let conn = app.create_connection("nulls").await;
                let (path, base) = target(template, &conn);
                let mut body = base.clone();
                body[field] = Value::Null;
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let r = app.call(m, &path, Some(&body.to_string())).await;
                let refused_here = r.status == StatusCode::UNPROCESSABLE_ENTITY
                    && r.json["detail"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|e| e["loc"] == json!(["body", field]));
                if nullable(prop) {
                    assert!(!refused_here, "{name}.{field} is nullable: {body} → {r:?}");
                    // A payment needs synced data, enabled writes and an Idempotency-Key to be
                    // accepted; here it is enough that its body passed.
                    if !template.ends_with("/records/{model}") {
                        assert!(r.status.is_success(), "{name}.{field}: {body} → {r:?}");
                    }
                } else {
                    assert!(
                        refused_here,
                        "{name}.{field} is not nullable: {body} → {r:?}"
                    );
                }
                tried.push(format!("{name}.{field}"));
            }
        }
    }
    for expected in [
        "ConnectionCreate.is_on_premise",
        "ConnectionPatch.provider_name",
        "ConnectionPatch.is_sync_disabled",
        "ConnectionPatch.include_dimension_lines",
        "ConnectionPatch.name",
        "ModelPatch.is_read_enabled",
        "ModelPatch.is_write_enabled",
        "ModelPatch.sync_frequency_secs",
        "CredentialsPut.username",
        "ApiKeyCreate.name",
        "PaymentIn.currency",
        "PaymentIn.amount",
        "BrandingPatch.logo",
    ] {
        assert!(
            tried.iter().any(|t| t == expected),
            "{expected} tried: {tried:?}"
        );
    }
}

/// The concrete path and a valid body without the field under test, for an operation with a body.
fn target(template: &str, conn: &Value) -> (String, Value) {
    let path = template
        .replace("{connection_id}", conn["id"].as_str().unwrap())
        .replace("{model_id}", conn["models"][0]["id"].as_str().unwrap())
        .replace("{model}", "payments");
    let base = match template {
        "/v2/integrations/connections" => json!({"provider_name": "ms-dynamics-bc"}),
        "/v2/integrations/connections/{connection_id}/credentials" => {
            json!({"username": "u", "web_service_access_key": "k"})
        }
        "/v2/integrations/api-keys" => json!({"name": "n"}),
        "/v2/integrations/connections/{connection_id}/records/{model}" => json!({
            "customer_remote_id": "c", "amount": "1.00", "payment_date": "2026-11-28",
            "applied_to": [{"invoice_remote_id": "i", "amount": "1.00"}],
        }),
        "/v2/integrations/connections/{connection_id}"
        | "/v2/integrations/connections/{connection_id}/models/{model_id}"
        | "/v2/integrations/branding" => json!({}),
        other => panic!("a valid body for {other}"),
    };
    (path, base)
}

#[test]
fn field_error_locations_are_strings_or_integers() {
    let doc = ledgerlink_api::openapi();
    let items = &doc["components"]["schemas"]["FieldError"]["properties"]["loc"]["items"];
    assert_eq!(
        items,
        &json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})
    );
}

#[test]
fn every_operation_declares_the_answers_it_can_always_give() {
    let doc = ledgerlink_api::openapi();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = &op["responses"];
            assert!(responses["503"].is_object(), "{method} {path}: 503");
            if op["security"].is_array() {
                assert!(responses["401"].is_object(), "{method} {path}: 401");
                assert!(
                    responses["429"]["headers"]["Retry-After"].is_object(),
                    "{method} {path}: 429 with Retry-After"
                );
            }
            if op["requestBody"].is_object() {
                for status in ["413", "415", "422"] {
                    assert!(responses[status].is_object(), "{method} {path}: {status}");
                }
            }
        }
    }
}

#[test]
fn constraints_the_server_enforces_are_in_the_schema() {
    let doc = ledgerlink_api::openapi();
    let param = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} {name}"))["schema"]
            .clone()
    };
    let syncs = "/v2/integrations/connections/{connection_id}/syncs";
    let records = "/v2/integrations/connections/{connection_id}/records/{model}";
    let list = "/v2/integrations/connections";
    assert_eq!(param(syncs, "limit")["minimum"], 1);
    assert_eq!(param(syncs, "limit")["maximum"], 200);
    assert_eq!(param(records, "limit")["minimum"], 1);
    assert_eq!(param(records, "limit")["maximum"], 1000);
    assert_eq!(param(list, "limit")["maximum"], 200);
    assert!(param(list, "starting_after")["pattern"].is_string());
    assert_eq!(
        param(list, "provider_name")["enum"],
        json!(["ms-dynamics-bc", "bill"])
    );
    assert_eq!(param(syncs, "model")["enum"].as_array().unwrap().len(), 7);
    assert_eq!(param(records, "model")["enum"].as_array().unwrap().len(), 7);
    let schemas = &doc["components"]["schemas"];
    let create = &schemas["ConnectionCreate"];
    assert_eq!(
        create["properties"]["provider_name"]["enum"],
        json!(["ms-dynamics-bc"])
    );
    assert_eq!(create["then"]["required"], json!(["api_url"]));
    let frequency = &schemas["ModelPatch"]["properties"]["sync_frequency_secs"];
    assert_eq!(
        (frequency["minimum"].clone(), frequency["maximum"].clone()),
        (json!(300), json!(604800))
    );
    let creds = &schemas["CredentialsPut"]["properties"];
    assert_eq!(creds["username"]["maxLength"], 200);
    assert_eq!(creds["web_service_access_key"]["maxLength"], 1000);
    assert!(creds["username"]["pattern"].is_string());
}
