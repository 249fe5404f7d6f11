use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

use super::*;

fn bc(code: &str) -> Vec<u8> {
    format!(r#"{{"error":{{"code":"{code}","message":"msg  CorrelationId:  c32f628c."}}}}"#)
        .into_bytes()
}

fn entra(code: &str) -> Vec<u8> {
    format!(r#"{{"error":"{code}","error_description":"AADSTS70000: desc","error_codes":[70000]}}"#)
        .into_bytes()
}

fn kind(status: u16, retry: Option<u64>, body: &[u8]) -> ErrorKind {
    let status = StatusCode::from_u16(status).unwrap();
    classify_response(status, retry.map(Duration::from_secs), body).kind()
}

#[test]
fn classification_table() {
    use ErrorKind::*;
    let cases: Vec<(u16, Option<u64>, Vec<u8>, ErrorKind)> = vec![
        (
            401,
            None,
            bc("Authentication_InvalidCredentials"),
            Unauthorized,
        ),
        (401, None, b"".to_vec(), Unauthorized),
        (400, None, entra("invalid_grant"), Unauthorized),
        (400, None, entra("interaction_required"), Unauthorized),
        (400, None, entra("consent_required"), Unauthorized),
        (401, None, entra("invalid_client"), Unauthorized),
        (400, None, entra("access_denied"), Unauthorized),
        (400, None, entra("server_error"), Transient),
        (400, None, entra("invalid_request"), Rejected),
        (503, None, entra("temporarily_unavailable"), Transient),
        (403, None, bc("Authorization_NoPermission"), Forbidden),
        (401, None, bc("Authorization_Unauthorized"), Forbidden),
        (403, None, b"<html>forbidden</html>".to_vec(), Forbidden),
        (400, None, bc("Internal_CompanyNotFound"), NotFound),
        (404, None, bc("BadRequest_ResourceNotFound"), NotFound),
        (404, None, b"".to_vec(), NotFound),
        (410, None, b"".to_vec(), NotFound),
        (400, None, bc("BadRequest_NotFound"), Rejected),
        // A plain BC 400 (bad $filter/$select, a refused value) is not retried: the request is wrong.
        (400, None, bc("BadRequest"), Rejected),
        (400, None, b"".to_vec(), Rejected),
        (400, None, bc("Application_DialogException"), Rejected),
        (409, None, bc("Request_EntityChanged"), Rejected),
        (413, None, b"".to_vec(), Rejected),
        (501, None, bc("BadRequest_MethodNotImplemented"), Rejected),
        (429, None, b"".to_vec(), RateLimited),
        (429, Some(7), bc("Unknown"), RateLimited),
        (503, Some(30), b"".to_vec(), RateLimited),
        (503, None, b"".to_vec(), Transient),
        (503, None, bc("Internal_TenantUnavailable"), Transient),
        (400, None, bc("Internal_TenantUnavailable"), NotFound),
        (500, None, bc("Internal_ServerError"), Transient),
        (502, Some(5), b"bad gateway".to_vec(), Transient),
        (504, None, b"".to_vec(), Transient),
        (408, None, b"".to_vec(), Transient),
        (302, None, b"".to_vec(), Invalid),
    ];
    for (status, retry, body, want) in cases {
        let body_text = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(
            kind(status, retry, &body),
            want,
            "{status} {retry:?} {body_text}"
        );
    }
}

#[test]
fn retryable_and_reauth_flags() {
    let rate = classify_response(
        StatusCode::TOO_MANY_REQUESTS,
        Some(Duration::from_secs(3)),
        b"",
    );
    assert!(rate.is_retryable());
    assert_eq!(rate.retry_after(), Some(Duration::from_secs(3)));
    let grant = classify_response(StatusCode::BAD_REQUEST, None, &entra("invalid_grant"));
    assert!(!grant.is_retryable());
    assert!(grant.requires_reauthentication());
    assert_eq!(grant.provider_code(), Some("invalid_grant"));
    let gone = classify_response(StatusCode::NOT_FOUND, None, b"");
    assert!(!gone.is_retryable());
    let down = classify_response(StatusCode::BAD_GATEWAY, Some(Duration::from_secs(9)), b"");
    assert!(down.is_retryable());
    assert_eq!(down.retry_after(), Some(Duration::from_secs(9)));
}

#[test]
fn messages_come_from_the_body_and_are_bounded() {
    let err = classify_response(StatusCode::BAD_REQUEST, None, &entra("invalid_grant"));
    assert!(err.to_string().contains("AADSTS70000"), "{err}");
    let long = format!(
        r#"{{"error":{{"code":"X","message":"{}"}}}}"#,
        "a".repeat(5000)
    );
    let err = classify_response(StatusCode::BAD_REQUEST, None, long.as_bytes());
    assert!(err.to_string().len() < 600);
    let err = classify_response(StatusCode::INTERNAL_SERVER_ERROR, None, b"\xff\xfe garbage");
    assert!(err.to_string().contains("HTTP 500"), "{err}");
}

#[test]
fn error_body_shapes() {
    assert_eq!(ErrorBody::parse(b"not json"), ErrorBody::default());
    assert_eq!(ErrorBody::parse(b"[1,2]"), ErrorBody::default());
    assert_eq!(ErrorBody::parse(br#"{"error":42}"#), ErrorBody::default());
    let b = ErrorBody::parse(&bc("Internal_CompanyNotFound"));
    assert_eq!(b.code.as_deref(), Some("Internal_CompanyNotFound"));
    let e = ErrorBody::parse(&entra("invalid_grant"));
    assert_eq!(e.code.as_deref(), Some("invalid_grant"));
    assert!(e.message.unwrap().starts_with("AADSTS70000"));
}

#[test]
fn retry_after_header_forms() {
    let mut h = HeaderMap::new();
    assert_eq!(parse_retry_after(&h), None);
    h.insert(RETRY_AFTER, HeaderValue::from_static("120"));
    assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(120)));
    h.insert(
        RETRY_AFTER,
        HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
    );
    assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
    let later = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
    h.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
    let got = parse_retry_after(&h).unwrap().as_secs();
    assert!((85..=90).contains(&got), "{got}");
    h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
    assert_eq!(parse_retry_after(&h), None);
}

#[test]
fn writes_tell_business_refusals_from_the_rest() {
    use ErrorKind::*;
    let write = |status: u16, body: &[u8]| {
        classify_write_response(StatusCode::from_u16(status).unwrap(), None, body)
    };
    for (status, body, want) in [
        (400, bc("Application_DialogException"), Business),
        (400, bc("Application_StringExceededLength"), Business),
        (400, bc("Internal_RecordNotFound"), Business),
        (400, bc("Internal_EntityWithSameKeyExists"), Business),
        (400, bc("Unknown"), Business),
        (409, bc("Application_DialogException"), Business),
        // Not business: our own malformed request, a missing route, throttling, BC being down.
        (400, bc("BadRequest_NotFound"), Rejected),
        (400, bc("Internal_CompanyNotFound"), NotFound),
        (404, bc("BadRequest_ResourceNotFound"), NotFound),
        (404, bc("Internal_RecordNotFound"), NotFound),
        (401, bc("Authentication_InvalidCredentials"), Unauthorized),
        (429, bc("Application_DialogException"), RateLimited),
        (500, bc("Application_DialogException"), Transient),
        (503, bc("Internal_ServerError"), Transient),
        (400, b"<html>".to_vec(), Rejected),
    ] {
        assert_eq!(write(status, &body).kind(), want, "{status} {body:?}");
    }
    let err = write(400, &bc("Application_DialogException"));
    assert!(!err.is_retryable());
    assert!(!err.requires_reauthentication());
    assert_eq!(err.provider_code(), Some("Application_DialogException"));
    assert_eq!(
        err.to_string(),
        "refused by the ERP: msg  CorrelationId:  c32f628c."
    );
    // Reads keep their classification.
    assert_eq!(
        kind(400, None, &bc("Application_DialogException")),
        Rejected
    );
}
