//! One error type for every response that is not a success, with a registry of stable codes.
//!
//! Validation failures answer FastAPI's 422 shape, `{"detail":[{"loc":[…],"msg":…,"type":…}]}`;
//! everything else answers `{"detail": "…", "code": "…"}`. Internal errors are logged with their
//! cause chain and answered opaquely with the request id.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

tokio::task_local! {
    /// The id of the request being handled, for error bodies and logs.
    pub static REQUEST_ID: String;
}

/// Stable, machine-readable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthorized,
    NotFound,
    ConnectionNotFound,
    MethodNotAllowed,
    Conflict,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    ServiceUnavailable,
    RateLimited,
    Internal,
}

impl ErrorCode {
    /// The code's wire name and HTTP status.
    pub fn parts(self) -> (&'static str, StatusCode) {
        match self {
            Self::Unauthorized => ("unauthorized", StatusCode::UNAUTHORIZED),
            Self::NotFound => ("not_found", StatusCode::NOT_FOUND),
            Self::ConnectionNotFound => ("connection_not_found", StatusCode::NOT_FOUND),
            Self::MethodNotAllowed => ("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED),
            Self::Conflict => ("conflict", StatusCode::CONFLICT),
            Self::RequestTimeout => ("request_timeout", StatusCode::REQUEST_TIMEOUT),
            Self::PayloadTooLarge => ("payload_too_large", StatusCode::PAYLOAD_TOO_LARGE),
            Self::UnsupportedMediaType => {
                ("unsupported_media_type", StatusCode::UNSUPPORTED_MEDIA_TYPE)
            }
            Self::ServiceUnavailable => ("service_unavailable", StatusCode::SERVICE_UNAVAILABLE),
            Self::RateLimited => ("rate_limited", StatusCode::TOO_MANY_REQUESTS),
            Self::Internal => ("internal_error", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// One invalid input, located FastAPI-style.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldError {
    /// Where the invalid value is: `["body", "provider_name"]`, `["query", "limit"]`; a number
    /// is a position (a JSON column, or an index in an array). (The schema, with this description,
    /// comes from `loc_schema`.)
    #[schema(schema_with = loc_schema)]
    pub loc: Vec<serde_json::Value>,
    /// What is wrong, for a person.
    pub msg: String,
    /// What is wrong, for a program (`missing`, `string_type`, `extra_forbidden`, …).
    #[serde(rename = "type")]
    pub kind: String,
}

/// `loc`'s schema, as FastAPI writes it: an array of strings and integers.
fn loc_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, Type};
    let items = AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ObjectBuilder::new().schema_type(Type::Integer));
    ArrayBuilder::new()
        .items(items)
        .description(Some(
            "Where the invalid value is: `[\"body\", \"provider_name\"]`, `[\"query\", \"limit\"]`; a \
             number is a position (a JSON column, or an index in an array).",
        ))
        .build()
}

impl FieldError {
    /// An error at `loc` (e.g. `["body", "name"]`).
    pub fn new(loc: &[&str], kind: &str, msg: impl Into<String>) -> Self {
        FieldError {
            loc: loc.iter().map(|s| json!(s)).collect(),
            msg: msg.into(),
            kind: kind.to_owned(),
        }
    }
}

/// The 422 body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationErrorBody {
    /// Every invalid input found.
    pub detail: Vec<FieldError>,
}

/// The body of every other error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub detail: String,
    /// What went wrong, for a program: a stable code.
    pub code: String,
    /// The request's id, for internal errors: quote it when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Every way a request can fail.
#[derive(Debug)]
pub enum ApiError {
    /// Invalid input; answered 422.
    Validation(Vec<FieldError>),
    /// A coded error with a message.
    Coded { code: ErrorCode, detail: String },
    /// The organization spent its request budget; answered 429 with `Retry-After` (seconds).
    RateLimited { retry_after_secs: u64 },
    /// A failure of ours; logged, answered 500 without details.
    Internal(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl ApiError {
    /// A coded error.
    pub fn coded(code: ErrorCode, detail: impl Into<String>) -> Self {
        ApiError::Coded {
            code,
            detail: detail.into(),
        }
    }

    /// One validation error.
    pub fn invalid(loc: &[&str], kind: &str, msg: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(loc, kind, msg)])
    }

    /// The feed reached a record whose stored copy is damaged (see
    /// [`ledgerlink_store::StoreError::Damaged`]): try again once a full pass has written it anew.
    pub fn damaged_record(full_pass_queued: bool, what: &str) -> Self {
        let detail = if full_pass_queued {
            format!(
                "The stored copy of {what} is damaged; a full sync of the model was \
                 queued to read it again from the ERP. Try again once that sync has completed"
            )
        } else {
            format!(
                "The stored copy of {what} is damaged; it was marked to be read again from the \
                 ERP by the model's next full sync. Try again once one has completed"
            )
        };
        Self::coded(ErrorCode::ServiceUnavailable, detail)
    }

    /// The connection does not exist for this organization.
    pub fn connection_not_found() -> Self {
        Self::coded(ErrorCode::ConnectionNotFound, "Connection not found")
    }
}

impl From<ledgerlink_store::StoreError> for ApiError {
    fn from(err: ledgerlink_store::StoreError) -> Self {
        use ledgerlink_store::StoreError;
        match err {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %err, "database unavailable");
                Self::coded(
                    ErrorCode::ServiceUnavailable,
                    "The database is unavailable; try again shortly",
                )
            }
            StoreError::DiskFull(_) => {
                tracing::error!(error = %err, "database disk full");
                Self::coded(
                    ErrorCode::ServiceUnavailable,
                    "The disk holding the database is full; nothing was changed. Try again once \
                     the operator has freed space",
                )
            }
            StoreError::Conflict(what) => {
                Self::coded(ErrorCode::Conflict, format!("Conflict: {what}"))
            }
            StoreError::Damaged { what, .. } => Self::damaged_record(false, &what),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Validation(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(ValidationErrorBody { detail }),
            )
                .into_response(),
            ApiError::Coded { code, detail } => coded_response(code, detail, None),
            ApiError::RateLimited { retry_after_secs } => {
                let mut response = coded_response(
                    ErrorCode::RateLimited,
                    format!(
                        "Too many requests for this organization; retry in {retry_after_secs} s"
                    ),
                    None,
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                response
            }
            ApiError::Internal(err) => {
                let request_id = current_request_id();
                tracing::error!(error = %error_chain(err.as_ref()), request_id, "internal error");
                coded_response(
                    ErrorCode::Internal,
                    "Internal server error".into(),
                    request_id,
                )
            }
        }
    }
}

/// A `{"detail","code"}` response.
pub fn coded_response(code: ErrorCode, detail: String, request_id: Option<String>) -> Response {
    let (name, status) = code.parts();
    let body = ErrorBody {
        detail,
        code: name.to_owned(),
        request_id,
    };
    let mut response = (status, axum::Json(body)).into_response();
    if code == ErrorCode::Unauthorized {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// The answer to a panic in a handler: an opaque 500, never a dropped connection.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let request_id = current_request_id();
    tracing::error!(request_id, "handler panicked");
    coded_response(
        ErrorCode::Internal,
        "Internal server error".into(),
        request_id,
    )
}
