//! The OpenAPI document: the base the routes are added to, and [`complete`], which adds what the
//! derive macros cannot express — enums taken from the catalog, a conditional requirement, and the
//! error answers that any operation can give (429, 503, 413, 415).

use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::error;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ledgerlink",
        description = "Keeps a finance platform's receivables data in sync with its customers' ERP \
                       systems. Wire-compatible with Stuut's /v2/integrations API. Every \
                       authenticated route may answer 429 `rate_limited` with a `Retry-After` \
                       header (seconds) when the organization exceeds its request budget, and \
                       every route 503 `service_unavailable` when the database is unreachable or \
                       the server is at its connection limit.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "providers", description = "The ERP and accounting systems ledgerlink connects to."),
        (name = "connections", description = "Connections to an organization's ERP."),
        (name = "syncs", description = "Syncs: requesting, history, cancelling."),
        (name = "records", description = "The change feed of synced records."),
        (name = "oauth", description = "The OAuth redirect target a user's browser returns to after consent."),
        (name = "api-keys", description = "The organization's API keys: list, create, revoke."),
        (name = "branding", description = "How the hosted connect page (see `POST /v2/integrations/connections/{connection_id}/connect-link`) presents the organization's platform: name, logo, colour."),
        (name = "writes", description = "Writes to the ERP (a customer payment applied to invoices): recorded with an idempotency key, carried out in the background exactly once."),
    ),
    components(schemas(
        error::FieldError,
        ledgerlink_domain::HealthStatus,
        ledgerlink_domain::SyncStatus,
        ledgerlink_domain::records::Customer,
        ledgerlink_domain::records::Contact,
        ledgerlink_domain::records::Invoice,
        ledgerlink_domain::records::CreditMemo,
        ledgerlink_domain::records::Payment,
        ledgerlink_domain::records::CustomerLedgerEntry,
        ledgerlink_domain::records::Dimension,
    ))
)]
struct ApiDoc;

/// The document the routes are added to: info, tags, shared schemas, the bearer scheme.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "Bearer authentication header of the form Bearer <token>, where <token> \
                         is your auth token.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Adds to the generated document what the derive macros cannot express.
pub fn complete(doc: &mut Value) {
    enums(doc);
    api_url_requirement(doc);
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            if let Some(ops) = item.as_object_mut() {
                for op in ops.values_mut() {
                    common_errors(op);
                }
            }
        }
    }
}

/// Names the server accepts, from the catalog, so the document cannot drift from it.
fn enums(doc: &mut Value) {
    let enabled: Vec<&str> = ledgerlink_domain::catalog::enabled_provider_names();
    let all: Vec<&str> = ledgerlink_domain::catalog::providers()
        .iter()
        .map(|p| p.name)
        .collect();
    let models = ledgerlink_domain::records::MODELS;
    let schemas = &mut doc["components"]["schemas"];
    schemas["ConnectionCreate"]["properties"]["provider_name"]["enum"] = json!(enabled);
    schemas["ConnectionPatch"]["properties"]["provider_name"]["enum"] = json!(all);
    let params = [
        (
            "/v2/integrations/connections",
            "get",
            "provider_name",
            json!(all),
        ),
        (
            "/v2/integrations/connections/{connection_id}/syncs",
            "get",
            "model",
            json!(models),
        ),
        (
            "/v2/integrations/connections/{connection_id}/records/{model}",
            "get",
            "model",
            json!(models),
        ),
    ];
    for (path, method, name, values) in params {
        if let Some(list) = doc["paths"][path][method]["parameters"].as_array_mut() {
            for p in list.iter_mut().filter(|p| p["name"] == name) {
                p["schema"]["enum"] = values.clone();
            }
        }
    }
}

/// `api_url` is required (a string) when `is_on_premise` is true, and must be absent or null
/// otherwise.
fn api_url_requirement(doc: &mut Value) {
    let create = &mut doc["components"]["schemas"]["ConnectionCreate"];
    if let Some(obj) = create.as_object_mut() {
        obj.insert(
            "if".into(),
            json!({"properties": {"is_on_premise": {"const": true}}, "required": ["is_on_premise"]}),
        );
        obj.insert(
            "then".into(),
            json!({"properties": {"api_url": {"type": "string"}}, "required": ["api_url"]}),
        );
        obj.insert(
            "else".into(),
            json!({"properties": {"api_url": {"type": "null"}}}),
        );
    }
}

/// The error answers an operation can give whatever it does.
fn common_errors(op: &mut Value) {
    let authenticated = op["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
    let has_body = op.get("requestBody").is_some();
    let Some(responses) = op["responses"].as_object_mut() else {
        return;
    };
    let mut add = |status: &str, response: Value| {
        responses.entry(status.to_owned()).or_insert(response);
    };
    if authenticated {
        add("401", error_response("Missing or invalid API key"));
        let mut limited = error_response(
            "The organization's request budget is spent; retry after `Retry-After` seconds",
        );
        limited["headers"] = json!({
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer", "minimum": 1}
            }
        });
        add("429", limited);
    }
    if has_body {
        add(
            "408",
            error_response("The body did not arrive within the body read timeout"),
        );
        add("413", error_response("Request body too large"));
        add(
            "415",
            error_response("The body is not sent as `application/json`"),
        );
    }
    add(
        "503",
        error_response(
            "The database is unreachable, or the server is at its connection limit; retry shortly",
        ),
    );
    // Keep the answers in status order, as the generated ones are.
    let mut sorted: Vec<(String, Value)> = std::mem::take(responses).into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    responses.extend(sorted);
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}
