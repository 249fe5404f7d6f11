//! `POST …/api/v2.0/$batch` (JSON batch format): up to 100 operations, run in order.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::odata::Query;
use crate::routed::{Out, Rc};
use crate::state::State;

/// Routes one API request; the batch runs each of its operations through it.
pub type Route = fn(&State, Rc) -> Result<Out, ApiError>;

/// Run a JSON batch. `Isolation: snapshot` is accepted but operations are not rolled back.
/// Each operation goes through `route` (the API router, which is also what routed the batch).
pub fn handle(state: &State, rc: &Rc, route: Route) -> Result<Out, ApiError> {
    let v: Value = serde_json::from_slice(&rc.body).map_err(|e| {
        ApiError::new(
            400,
            "BadRequest",
            format!("Invalid batch request body: {e}"),
        )
    })?;
    let reqs = v["requests"].as_array().ok_or_else(|| {
        ApiError::new(
            400,
            "BadRequest",
            "The batch request must contain a 'requests' array.",
        )
    })?;
    if reqs.len() > 100 {
        return Err(ApiError::new(
            400,
            "BadRequest",
            format!(
                "The batch contains {} operations; the maximum is 100.",
                reqs.len()
            ),
        ));
    }
    let mut responses = Vec::with_capacity(reqs.len());
    for r in reqs {
        let id = r["id"].clone();
        let (status, headers, body) = match one(state, rc, r, route) {
            Ok(out) => {
                let body: Value = if out.body.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&out.body)
                        .unwrap_or_else(|_| json!(String::from_utf8_lossy(&out.body)))
                };
                let mut h = serde_json::Map::new();
                if !out.ctype.is_empty() {
                    h.insert("content-type".into(), json!(out.ctype));
                }
                for (k, v) in &out.headers {
                    h.insert(k.to_lowercase(), json!(v));
                }
                (out.status.as_u16(), Value::Object(h), body)
            }
            Err(e) => (
                e.status.as_u16(),
                json!({"content-type": "application/json; odata.metadata=minimal"}),
                json!({"error": {"code": e.code, "message": e.message}}),
            ),
        };
        let mut resp = json!({"id": id, "status": status, "headers": headers});
        if !body.is_null() {
            resp["body"] = body;
        }
        responses.push(resp);
    }
    Ok(Out::json(
        serde_json::to_vec(&json!({ "responses": responses })).unwrap_or_default(),
    ))
}

fn one(state: &State, outer: &Rc, r: &Value, route: Route) -> Result<Out, ApiError> {
    let method: Method = r["method"]
        .as_str()
        .unwrap_or("GET")
        .to_uppercase()
        .parse()
        .map_err(|_| ApiError::new(400, "BadRequest", "Invalid method in batch operation."))?;
    let raw = r["url"]
        .as_str()
        .ok_or_else(|| ApiError::new(400, "BadRequest", "Missing url in batch operation."))?;
    // Absolute URLs and paths are cut down to what follows `api/`.
    let rel = match raw.find("/api/") {
        Some(i) => &raw[i + 5..],
        None => raw.trim_start_matches('/'),
    };
    let (path, query) = rel.split_once('?').unwrap_or((rel, ""));
    let mut segs: Vec<String> = path.split('/').map(|s| s.to_string()).collect();
    if segs.first().map(|s| s.as_str()) != Some("v2.0")
        && segs.first().map(|s| s.as_str()) != Some("ledgerlink")
    {
        segs.insert(0, "v2.0".into());
    }
    if segs.get(1).is_some_and(|s| s.starts_with("subscriptions"))
        || segs.get(1).is_some_and(|s| s == "$batch")
    {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "This operation is not supported inside a batch.",
        ));
    }
    let mut q = Query::parse(query)?;
    let mut headers = HeaderMap::new();
    if let Some(h) = r["headers"].as_object() {
        for (k, v) in h {
            if let (Ok(k), Some(Ok(v))) = (
                HeaderName::from_bytes(k.as_bytes()),
                v.as_str().map(HeaderValue::from_str),
            ) {
                headers.insert(k, v);
            }
        }
    }
    if q.company.is_none() {
        q.company = headers
            .get("company")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.to_string());
    }
    let body = match &r["body"] {
        Value::Null => Vec::new(),
        b => serde_json::to_vec(b).unwrap_or_default(),
    };
    let mut rc = outer.clone();
    rc.method = method;
    rc.headers = headers;
    rc.body = body.into();
    rc.path = format!("{}/api/{}", outer.prefix, segs.join("/"));
    rc.segs = segs;
    rc.q = q;
    crate::stream::without_sink(|| route(state, rc))
}
