//! `/openapi.json` and `/docs`: the OpenAPI document and a reference page rendered from it on the
//! server, so it works with no internet access (no CDN, no JavaScript).

use std::fmt::Write;
use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use serde_json::Value;

use crate::AppState;

/// The docs routes, serving a document rendered once.
pub fn router(doc: &Value) -> Router<AppState> {
    let json: Arc<str> = serde_json::to_string_pretty(doc)
        .unwrap_or_else(|_| "{}".into())
        .into();
    let html: Arc<str> = render(doc).into();
    Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let json = json.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        json.to_string(),
                    )
                }
            }),
        )
        .route(
            "/docs",
            get(move || {
                let html = html.clone();
                async move { Html(html.to_string()).into_response() }
            }),
        )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Renders the whole document as one HTML page.
pub fn render(doc: &Value) -> String {
    let mut out = String::new();
    let title = esc(text(&doc["info"], "title"));
    let _ = write!(
        out,
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{title} API reference</title>\
         <style>{CSS}</style></head><body><nav><h2>{title}</h2>"
    );
    let ops = operations(doc);
    for (method, path, op) in &ops {
        let _ = write!(
            out,
            "<a href=\"#{}\"><b class=m-{method}>{}</b> {}</a>",
            anchor(method, path),
            method.to_uppercase(),
            esc(path)
        );
        let _ = op;
    }
    out.push_str("<h3>Schemas</h3>");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for name in schemas.keys() {
            let _ = write!(out, "<a href=\"#schema-{0}\">{0}</a>", esc(name));
        }
    }
    let _ = write!(
        out,
        "</nav><main><h1>{title} <small>{}</small></h1><p>{}</p>\
         <p>Machine-readable: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI {}).</p>",
        esc(text(&doc["info"], "version")),
        esc(text(&doc["info"], "description")),
        esc(text(doc, "openapi"))
    );
    for (method, path, op) in &ops {
        render_operation(&mut out, method, path, op);
    }
    out.push_str("<h2>Schemas</h2>");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            let _ = write!(out, "<section id=\"schema-{0}\"><h3>{0}</h3>", esc(name));
            render_schema(&mut out, schema);
            out.push_str("</section>");
        }
    }
    out.push_str("</main></body></html>");
    out
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in ["get", "post", "put", "patch", "delete"] {
                if let Some(op) = item.get(method) {
                    ops.push((method.to_owned(), path.clone(), op.clone()));
                }
            }
        }
    }
    ops
}

fn anchor(method: &str, path: &str) -> String {
    let slug: String = path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("op-{method}{slug}")
}

fn render_operation(out: &mut String, method: &str, path: &str, op: &Value) {
    let _ = write!(
        out,
        "<section id=\"{}\"><h2><b class=m-{method}>{}</b> <code>{}</code></h2><h4>{}</h4><p>{}</p>",
        anchor(method, path),
        method.to_uppercase(),
        esc(path),
        esc(text(op, "summary")),
        esc(text(op, "description"))
    );
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str(
            "<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Description</th></tr>",
        );
        for p in params {
            let _ = write!(
                out,
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(text(p, "name")),
                if p["required"] == Value::Bool(true) {
                    " <i>required</i>"
                } else {
                    ""
                },
                esc(text(p, "in")),
                esc(&type_of(&p["schema"])),
                esc(text(p, "description"))
            );
        }
        out.push_str("</table>");
    }
    if let Some(schema) = op["requestBody"]["content"]["application/json"].get("schema") {
        let _ = write!(out, "<p>Request body: {}</p>", link_type(schema));
    }
    out.push_str("<table><tr><th>Status</th><th>Description</th><th>Body</th></tr>");
    if let Some(responses) = op["responses"].as_object() {
        for (status, r) in responses {
            let body = r["content"]["application/json"]
                .get("schema")
                .map(link_type)
                .unwrap_or_default();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(status),
                esc(text(r, "description")),
                body
            );
        }
    }
    out.push_str("</table></section>");
}

fn render_schema(out: &mut String, schema: &Value) {
    let _ = write!(out, "<p>{}</p>", esc(text(schema, "description")));
    if let Some(values) = schema["enum"].as_array() {
        let list: Vec<String> = values
            .iter()
            .map(|v| format!("<code>{}</code>", esc(&v.to_string())))
            .collect();
        let _ = write!(out, "<p>One of: {}</p>", list.join(", "));
    }
    let Some(props) = schema["properties"].as_object() else {
        return;
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>");
    for (name, prop) in props {
        let _ = write!(
            out,
            "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            if required.contains(&name.as_str()) {
                " <i>required</i>"
            } else {
                ""
            },
            link_type(prop),
            esc(text(prop, "description"))
        );
    }
    out.push_str("</table>");
}

/// A schema's type as text (`string | null`, `array of Sync`, …).
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(alts) = schema[key].as_array() {
            return alts.iter().map(type_of).collect::<Vec<_>>().join(" | ");
        }
    }
    let base = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".to_owned(),
    };
    let base = if base.starts_with("array") {
        base.replacen(
            "array",
            &format!("array of {}", type_of(&schema["items"])),
            1,
        )
    } else {
        base
    };
    match schema["format"].as_str() {
        Some(format) => format!("{base} ({format})"),
        None => base,
    }
}

fn link_type(schema: &Value) -> String {
    let mut html = esc(&type_of(schema));
    for r in refs(schema) {
        let name = r.rsplit('/').next().unwrap_or(&r).to_owned();
        html = html.replacen(
            &name,
            &format!("<a href=\"#schema-{0}\">{0}</a>", esc(&name)),
            1,
        );
    }
    html
}

fn refs(schema: &Value) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(r) = schema["$ref"].as_str() {
        found.push(r.to_owned());
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for alt in schema[key].as_array().into_iter().flatten() {
            found.extend(refs(alt));
        }
    }
    if schema.get("items").is_some() {
        found.extend(refs(&schema["items"]));
    }
    found
}

const CSS: &str = "body{margin:0;font:15px/1.5 system-ui,sans-serif;color:#1d2430;display:flex}\
nav{position:sticky;top:0;height:100vh;overflow:auto;width:300px;flex:none;background:#f4f6f9;\
padding:16px;box-sizing:border-box;border-right:1px solid #dde2ea}nav a{display:block;\
color:#1d2430;text-decoration:none;font-size:13px;padding:2px 0}main{padding:24px 40px;\
max-width:1000px}section{border-top:1px solid #dde2ea;padding:8px 0 16px}table{border-collapse:\
collapse;width:100%;font-size:14px;margin:8px 0}td,th{border:1px solid #dde2ea;padding:4px 8px;\
text-align:left;vertical-align:top}th{background:#f4f6f9}code{font-size:13px}i{color:#b42318;\
font-size:12px}b[class^=m-]{font-size:12px;padding:1px 6px;border-radius:4px;color:#fff}\
.m-get{background:#1570ef}.m-post{background:#079455}.m-patch{background:#dc6803}\
.m-put{background:#7a5af8}.m-delete{background:#d92d20}h2 code{font-size:18px}";
