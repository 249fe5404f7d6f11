//! A routed API request (`Rc`) and its finished answer (`Out`): what every entity module takes
//! and returns, kept apart from the HTTP front door in `api` that builds and sends them.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use uuid::Uuid;

use crate::odata::Query;

/// Everything a routed API request needs.
#[derive(Clone)]
pub struct Rc {
    /// Environment index.
    pub env: usize,
    /// URL prefix before `/api/…` (for `@odata.context` / nextLink).
    pub prefix: String,
    /// Base URL of the simulator.
    pub base: String,
    /// Parsed query options.
    pub q: Query,
    /// Page size (after `Prefer` and the cap).
    pub page: usize,
    /// HTTP method.
    pub method: Method,
    /// Request headers.
    pub headers: HeaderMap,
    /// Request body.
    pub body: Bytes,
    /// Caller (user or service principal) id.
    pub user: Uuid,
    /// Decoded path segments after `api/`.
    pub segs: Vec<String>,
    /// Raw path (for nextLink).
    pub path: String,
    /// Simulated today.
    pub today: chrono::NaiveDate,
    /// World version when the request was routed (cache key).
    pub world_ver: u64,
    /// Tenant id of a multitenant on-prem server (kept in every nextLink); `None` elsewhere.
    pub onprem_tenant: Option<String>,
}

/// A finished response body.
pub struct Out {
    /// Status.
    pub status: StatusCode,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// JSON body bytes (empty for 204).
    pub body: Vec<u8>,
    /// Content type.
    pub ctype: &'static str,
}

impl Out {
    /// 200 JSON.
    pub fn json(body: Vec<u8>) -> Self {
        Out {
            status: StatusCode::OK,
            headers: Vec::new(),
            body,
            ctype: "application/json; odata.metadata=minimal; odata.streaming=true",
        }
    }
    /// 204.
    pub fn no_content() -> Self {
        Out {
            status: StatusCode::NO_CONTENT,
            headers: Vec::new(),
            body: Vec::new(),
            ctype: "",
        }
    }
}
