//! BC-shaped API errors: `{"error":{"code":…,"message":"…  CorrelationId:  <guid>."}}`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

/// An error answered in BC's body format.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// BC error code, e.g. `BadRequest_ResourceNotFound`.
    pub code: &'static str,
    /// Message (the correlation id is appended when rendered).
    pub message: String,
    /// Extra headers (e.g. `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// New error.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }
    /// Add a header.
    pub fn header(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.headers.push((k, v.into()));
        self
    }
    /// `BadRequest_ResourceNotFound` for an unknown segment (404).
    pub fn no_segment(seg: &str) -> Self {
        Self::new(
            404,
            "BadRequest_ResourceNotFound",
            format!("Resource not found for the segment '{seg}'."),
        )
    }
    /// `Internal_RecordNotFound`-style 404 for a missing key.
    pub fn not_found(entity: &str, id: &str) -> Self {
        Self::new(
            404,
            "BadRequest_NotFound",
            format!("The {entity} does not exist. Identification fields and values: Id='{id}'"),
        )
    }
    /// 401 `Authentication_InvalidCredentials`.
    pub fn unauthorized() -> Self {
        Self::new(
            401,
            "Authentication_InvalidCredentials",
            "The server has rejected the client credentials.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {
                "code": self.code,
                "message": format!("{}  CorrelationId:  {}.", self.message, Uuid::new_v4()),
            }
        });
        let mut r = (self.status, axum::Json(body)).into_response();
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                r.headers_mut().insert(k, v);
            }
        }
        r
    }
}
