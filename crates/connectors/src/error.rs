//! The one place where provider answers become [`ConnectorError`]s.
//!
//! Every HTTP call of every connector ends in [`classify_response`] (an answer with a non-success status;
//! [`classify_write_response`] for writes, which also tells business refusals apart) or
//! [`ConnectorError::from_reqwest`] (no usable answer at all), so the engine decides retry vs. fail vs.
//! health change from the error's [`ErrorKind`] alone.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    /// Not a parseable absolute URL.
    #[error("not a valid absolute URL: {0}")]
    BadUrl(String),
    /// A scheme other than https (or http when allowed).
    #[error("scheme `{0}` is not allowed (use https)")]
    Scheme(String),
    /// `user:password@host` forms.
    #[error("URLs with a user name or password are not allowed")]
    UserInfo,
    /// No host in the URL.
    #[error("the URL has no host")]
    NoHost,
    /// A host name we never connect to (`localhost`, cloud metadata names).
    #[error("host `{0}` is not allowed")]
    HostName(String),
    /// The host is or resolves to an address in a refused range.
    #[error("`{host}` is {addr}, a {range} address")]
    Address {
        /// The host as written in the URL.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// Which range it is in (`loopback`, `private`, …).
        range: &'static str,
    },
}

/// Longest provider message we keep; longer ones are cut (they are for humans, not for parsing).
const MAX_MESSAGE_CHARS: usize = 400;

/// Why a connector call failed, classified for the engine.
///
/// Messages come from the provider's error body or from the transport; they never contain tokens, secrets or
/// request bodies, and `Debug` shows nothing more than `Display` does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The credentials are not (or no longer) accepted: invalid or expired token, `invalid_grant`, revoked
    /// consent, wrong web service access key. The user must re-authenticate.
    #[error("authentication failed: {message}")]
    Unauthorized {
        /// Provider error code, e.g. `invalid_grant` or `Authentication_InvalidCredentials`.
        code: Option<String>,
        /// What the provider said.
        message: String,
    },
    /// Authenticated, but the identity lacks a permission (HTTP 403, BC `Authorization_*`).
    #[error("permission denied: {message}")]
    Forbidden {
        /// Provider error code, if any.
        code: Option<String>,
        /// What the provider said.
        message: String,
    },
    /// The environment, company, record or route is gone (HTTP 404, BC `Internal_CompanyNotFound`,
    /// `BadRequest_ResourceNotFound`, …).
    #[error("not found: {message}")]
    NotFound {
        /// Provider error code, if any.
        code: Option<String>,
        /// What the provider said.
        message: String,
    },
    /// The provider throttles us (HTTP 429, or 503 with `Retry-After`).
    #[error("rate limited by the provider{}", fmt_retry_after(.retry_after))]
    RateLimited {
        /// How long the provider asked us to wait, when it said so.
        retry_after: Option<Duration>,
    },
    /// A failure that may go away by itself: 5xx, 408, timeouts, dropped connections, truncated bodies.
    #[error("temporary failure: {message}")]
    Transient {
        /// What happened.
        message: String,
        /// How long the provider asked us to wait, when it said so (BC sends it with 502/503).
        retry_after: Option<Duration>,
    },
    /// An answer we cannot use: not JSON, wrong shape, too large, an unexpected redirect.
    #[error("unexpected response: {message}")]
    Invalid {
        /// What was wrong with it.
        message: String,
    },
    /// The host could not be reached at all: DNS failure, connection refused.
    #[error("host unreachable: {message}")]
    Unreachable {
        /// What happened.
        message: String,
    },
    /// The provider understood the request and refused it for a reason no retry fixes (other 4xx, 501).
    #[error("request rejected (HTTP {status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Provider error code, if any.
        code: Option<String>,
        /// What the provider said.
        message: String,
    },
    /// The ERP refused a write on business grounds: BC's `Application_DialogException` (a posting date
    /// outside the allowed range, a closed invoice, a blocked customer), a field validation, a record the
    /// write refers to that it does not have. Asking again fails the same way until someone changes
    /// something; `message` is the ERP's own, for a person to read. Only writes are classified so
    /// (reads keep [`ConnectorError::Rejected`]).
    #[error("refused by the ERP: {message}")]
    Business {
        /// Provider error code, e.g. `Application_DialogException`.
        code: Option<String>,
        /// What the provider said, verbatim.
        message: String,
    },
    /// A user-supplied URL points somewhere we refuse to connect to (server-side request forgery guard).
    #[error("address not allowed: {0}")]
    Blocked(#[from] SsrfError),
    /// Server configuration or connection settings needed for this call are missing or wrong.
    #[error("not configured: {0}")]
    NotConfigured(String),
    /// The provider or the given credential type does not support this operation.
    #[error("not supported: {0}")]
    Unsupported(String),
}

/// The class of a [`ConnectorError`], without its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// See [`ConnectorError::Unauthorized`].
    Unauthorized,
    /// See [`ConnectorError::Forbidden`].
    Forbidden,
    /// See [`ConnectorError::NotFound`].
    NotFound,
    /// See [`ConnectorError::RateLimited`].
    RateLimited,
    /// See [`ConnectorError::Transient`].
    Transient,
    /// See [`ConnectorError::Invalid`].
    Invalid,
    /// See [`ConnectorError::Unreachable`].
    Unreachable,
    /// See [`ConnectorError::Rejected`].
    Rejected,
    /// See [`ConnectorError::Business`].
    Business,
    /// See [`ConnectorError::Blocked`].
    Blocked,
    /// See [`ConnectorError::NotConfigured`].
    NotConfigured,
    /// See [`ConnectorError::Unsupported`].
    Unsupported,
}

impl ConnectorError {
    /// The error's class.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unauthorized { .. } => ErrorKind::Unauthorized,
            Self::Forbidden { .. } => ErrorKind::Forbidden,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::RateLimited { .. } => ErrorKind::RateLimited,
            Self::Transient { .. } => ErrorKind::Transient,
            Self::Invalid { .. } => ErrorKind::Invalid,
            Self::Unreachable { .. } => ErrorKind::Unreachable,
            Self::Rejected { .. } => ErrorKind::Rejected,
            Self::Business { .. } => ErrorKind::Business,
            Self::Blocked(_) => ErrorKind::Blocked,
            Self::NotConfigured(_) => ErrorKind::NotConfigured,
            Self::Unsupported(_) => ErrorKind::Unsupported,
        }
    }

    /// Whether the same call may succeed later without anyone changing anything
    /// (rate limits, transient failures, an unreachable host).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::RateLimited | ErrorKind::Transient | ErrorKind::Unreachable
        )
    }

    /// Whether the user must authenticate again before any call can succeed.
    pub fn requires_reauthentication(&self) -> bool {
        self.kind() == ErrorKind::Unauthorized
    }

    /// How long the provider asked us to wait, when it said so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The provider's error code (`invalid_grant`, `Internal_CompanyNotFound`, …), when it sent one.
    pub fn provider_code(&self) -> Option<&str> {
        match self {
            Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Rejected { code, .. }
            | Self::Business { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// An [`ConnectorError::Invalid`] with this message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
        }
    }

    /// A [`ConnectorError::Transient`] with this message and no retry hint.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient {
            message: message.into(),
            retry_after: None,
        }
    }

    /// Classifies a transport failure (no usable HTTP answer).
    ///
    /// The URL is dropped from the message: it may carry query parameters we don't want in logs.
    pub fn from_reqwest(err: reqwest::Error) -> Self {
        if let Some(blocked) = find_source::<SsrfError>(&err) {
            return Self::Blocked(blocked.clone());
        }
        let (timeout, connect, builder) = (err.is_timeout(), err.is_connect(), err.is_builder());
        let body = err.is_body() || err.is_decode();
        let message = cause_chain(&err.without_url());
        if timeout {
            Self::transient(format!("timed out: {message}"))
        } else if connect {
            Self::Unreachable { message }
        } else if builder {
            Self::invalid(format!("cannot build request: {message}"))
        } else if body {
            Self::transient(format!("response body cut off: {message}"))
        } else {
            Self::transient(message)
        }
    }
}

fn fmt_retry_after(retry_after: &Option<Duration>) -> String {
    retry_after.map_or_else(String::new, |d| format!(" (retry after {}s)", d.as_secs()))
}

fn find_source<'a, E: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// `outer: inner: innermost`, so "dns error: failed to lookup address" is not reduced to "error sending
/// request".
fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut current = err.source();
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    truncate(&parts.join(": "))
}

fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_MESSAGE_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    format!("{cut}…")
}

/// The code and message of a provider error body, when there is one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// `error.code` (BC/OData) or `error` (Entra token endpoint).
    pub code: Option<String>,
    /// `error.message` (BC/OData) or `error_description` (Entra).
    pub message: Option<String>,
}

impl ErrorBody {
    /// Reads BC's `{"error":{"code","message"}}` or Entra's `{"error":"…","error_description":"…"}`.
    /// Anything else (HTML, garbage, empty) gives an empty `ErrorBody`.
    pub fn parse(body: &[u8]) -> Self {
        let Ok(Value::Object(root)) = serde_json::from_slice::<Value>(body) else {
            return Self::default();
        };
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(truncate);
        match root.get("error") {
            Some(Value::Object(inner)) => Self {
                code: text(inner.get("code")),
                message: text(inner.get("message")),
            },
            Some(Value::String(code)) => Self {
                code: Some(truncate(code)),
                message: text(root.get("error_description")),
            },
            _ => Self::default(),
        }
    }
}

/// Reads `Retry-After` as delta-seconds or an HTTP date.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now()).num_seconds();
    Some(Duration::from_secs(wait.max(0) as u64))
}

/// Maps a non-success HTTP answer (status, `Retry-After`, body) to a [`ConnectorError`].
///
/// A known provider error code wins over the status (BC answers `Internal_CompanyNotFound` with 400, Entra
/// answers `invalid_grant` with 400); otherwise the status decides.
pub fn classify_response(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> ConnectorError {
    let parsed = ErrorBody::parse(body);
    let message = parsed
        .message
        .clone()
        .unwrap_or_else(|| default_message(status));
    let code = parsed.code;
    if let Some(err) = classify_code(code.as_deref(), status, &message) {
        return err;
    }
    classify_status(status, retry_after, code, message)
}

/// [`classify_response`] for the answer to a write: a 400 or 409 whose code says the ERP refused
/// the write on business grounds ([`is_business_code`]) is [`ConnectorError::Business`], with the
/// provider's message verbatim; everything else is classified as for reads.
pub fn classify_write_response(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> ConnectorError {
    let parsed = ErrorBody::parse(body);
    let refused = matches!(status.as_u16(), 400 | 409)
        && parsed.code.as_deref().is_some_and(is_business_code);
    match (refused, parsed.message) {
        (true, Some(message)) => ConnectorError::Business {
            code: parsed.code,
            message,
        },
        _ => classify_response(status, retry_after, body),
    }
}

/// BC codes of business-logic refusals: every `Application_*` (AL errors: dialogs, field validation,
/// string length, …), the data-integrity `Internal_*` codes a write can hit (a referenced record
/// that does not exist, a key that already does, a broken table relation), and `Unknown`, which BC
/// gives AL errors inside a `$batch`.
pub fn is_business_code(code: &str) -> bool {
    code.starts_with("Application_")
        || matches!(
            code,
            "Unknown"
                | "Internal_RecordNotFound"
                | "Internal_EntityWithSameKeyExists"
                | "Internal_DataNotFoundFilter"
                | "Internal_InvalidTableRelation"
        )
}

fn default_message(status: StatusCode) -> String {
    format!(
        "HTTP {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .trim_end()
    .to_owned()
}

/// Provider codes whose meaning does not depend on the HTTP status.
fn classify_code(code: Option<&str>, status: StatusCode, message: &str) -> Option<ConnectorError> {
    let code_str = code?;
    let owned = || Some(code_str.to_owned());
    let message = message.to_owned();
    let err = match code_str {
        "invalid_grant"
        | "interaction_required"
        | "consent_required"
        | "invalid_client"
        | "unauthorized_client"
        | "login_required"
        | "access_denied"
        | "InvalidAuthenticationToken" => ConnectorError::Unauthorized {
            code: owned(),
            message,
        },
        "temporarily_unavailable" | "server_error" => ConnectorError::Transient {
            message,
            retry_after: None,
        },
        "Internal_CompanyNotFound"
        | "BadRequest_ResourceNotFound"
        | "Internal_RecordNotFound"
        | "Internal_EnvironmentNotFound"
        | "EnvironmentNotFound"
        | "NoEnvironment" => ConnectorError::NotFound {
            code: owned(),
            message,
        },
        c if c.starts_with("Authentication_") => ConnectorError::Unauthorized {
            code: owned(),
            message,
        },
        c if c.starts_with("Authorization_") => ConnectorError::Forbidden {
            code: owned(),
            message,
        },
        "Internal_TenantUnavailable" if !status.is_server_error() => ConnectorError::NotFound {
            code: owned(),
            message,
        },
        _ => return None,
    };
    Some(err)
}

fn classify_status(
    status: StatusCode,
    retry_after: Option<Duration>,
    code: Option<String>,
    message: String,
) -> ConnectorError {
    match status.as_u16() {
        401 => ConnectorError::Unauthorized { code, message },
        403 => ConnectorError::Forbidden { code, message },
        404 | 410 => ConnectorError::NotFound { code, message },
        429 => ConnectorError::RateLimited { retry_after },
        503 if retry_after.is_some() => ConnectorError::RateLimited { retry_after },
        408 => ConnectorError::Transient {
            message,
            retry_after,
        },
        501 => ConnectorError::Rejected {
            status: 501,
            code,
            message,
        },
        500..=599 => ConnectorError::Transient {
            message,
            retry_after,
        },
        300..=399 => ConnectorError::invalid(format!(
            "the server answered with a redirect ({}); redirects are not followed",
            status.as_u16()
        )),
        400..=499 => ConnectorError::Rejected {
            status: status.as_u16(),
            code,
            message,
        },
        _ => ConnectorError::invalid(format!("unexpected HTTP status {}", status.as_u16())),
    }
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
