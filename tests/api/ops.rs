//! Operations endpoints, the OpenAPI document and the reference page.

use reqwest::StatusCode;

use crate::harness::TestApp;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::start().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.get("/readyz").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    app.create_connection("m").await;
    app.get("/v2/integrations/connections/conn_missing").await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains("http_requests"), "{text}");
    assert!(
        text.contains("/v2/integrations/connections/{connection_id}"),
        "latency by route template, not raw path"
    );
    assert!(!text.contains("conn_missing"), "no ids as label values");
    assert!(!text.contains(&app.key), "no secrets in metrics");
}

#[tokio::test]
async fn request_ids_are_echoed_or_made_up() {
    let app = TestApp::start().await;
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-123");
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(!r.headers()["x-request-id"].is_empty());
}

#[tokio::test]
async fn committed_openapi_json_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"))
        .expect("openapi.json is committed at the repository root");
    let generated = ledgerlink_api::openapi_json();
    assert!(
        committed == generated,
        "openapi.json drifted from the code: run `cargo run -- openapi > openapi.json`"
    );
}

#[tokio::test]
async fn the_document_is_served_complete_and_documented() {
    let app = TestApp::start().await;
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = &r.json;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v2/integrations/providers",
        "/v2/integrations/connections",
        "/v2/integrations/connections/{connection_id}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    // Every property of every schema carries a description (directly or on its $ref target).
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut undocumented = Vec::new();
    for (name, schema) in schemas {
        if let Some(props) = schema["properties"].as_object() {
            for (field, prop) in props {
                let described = prop["description"].is_string()
                    || prop["allOf"].is_array()
                    || prop["oneOf"]
                        .as_array()
                        .is_some_and(|v| v.iter().any(|s| s["$ref"].is_string()));
                if !described {
                    undocumented.push(format!("{name}.{field}"));
                }
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "undocumented fields: {undocumented:?}"
    );
    let seed_description = "Whether this connection is still pending authentication. This is normally only used for oauth2 connections.";
    // Doc comments wrap lines; Markdown reads a single newline as a space.
    let described =
        schemas["ConnectionOut"]["properties"]["is_authentication_pending"]["description"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
    assert_eq!(
        described, seed_description,
        "the seed's descriptions are reused"
    );
}

#[tokio::test]
async fn docs_page_renders_offline() {
    let app = TestApp::start().await;
    let r = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("/v2/integrations/connections"));
    assert!(html.contains("is_authentication_pending"));
    assert!(
        !html.contains("https://cdn") && !html.contains("<script src=\"http"),
        "no external assets"
    );
}
