use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone, Utc};
use secrecy::ExposeSecret;
use serde_json::json;

use super::*;

const TID: &str = "7d3c1f9e-0b8a-4c39-9a51-2f6e8d4b1c01";

fn jwt(payload: &str) -> String {
    format!(
        "{}.{}.sig",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(payload)
    )
}

#[test]
fn pkce_matches_rfc7636_appendix_b() {
    let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
    assert_eq!(p.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

#[test]
fn generated_pkce_is_fresh_and_well_formed() {
    let a = Pkce::generate();
    let b = Pkce::generate();
    let v = a.verifier.expose_secret();
    assert_eq!(v.len(), 43);
    assert!(
        v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    assert_ne!(v, b.verifier.expose_secret());
    assert_eq!(a.challenge, s256_challenge(v));
    assert!(!format!("{a:?}").contains(v));
}

#[test]
fn tid_is_read_from_the_payload() {
    assert_eq!(
        jwt_tenant_id(&jwt(&format!(r#"{{"tid":"{TID}","oid":"x"}}"#))).as_deref(),
        Some(TID)
    );
    // Padded base64 payloads are accepted too.
    let padded = format!(
        "h.{}.s",
        base64::engine::general_purpose::URL_SAFE.encode(r#"{"tid":"abc"}"#)
    );
    assert_eq!(jwt_tenant_id(&padded).as_deref(), Some("abc"));
}

#[test]
fn tid_parsing_survives_garbage() {
    let garbage = [
        String::new(),
        ".".into(),
        "..".into(),
        "not-a-jwt".into(),
        "a.b.c".into(),
        "a.!!!.c".into(),
        jwt("not json"),
        jwt("[1,2,3]"),
        jwt(r#"{"tid":42}"#),
        jwt(r#"{"tid":""}"#),
        jwt(r#"{"tid":"a/b?c"}"#),
        jwt(&format!(r#"{{"tid":"{}"}}"#, "x".repeat(100))),
        jwt(r#"{"oid":"no tid"}"#),
        format!("a.{}.c", "A".repeat(40_000)),
        "a.\u{1F600}.c".into(),
    ];
    for token in garbage {
        assert_eq!(jwt_tenant_id(&token), None, "{token:.60}");
    }
}

#[test]
fn token_response_parsing() {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let body = json!({"token_type":"Bearer","access_token": jwt(&format!(r#"{{"tid":"{TID}"}}"#)),
        "refresh_token":"rt-2","expires_in":"3599","scope":"x offline_access"});
    let t = TokenSet::from_token_response(&body, now).unwrap();
    assert_eq!(t.tenant_id.as_deref(), Some(TID));
    assert_eq!(t.refresh_token.unwrap().expose_secret(), "rt-2");
    assert_eq!(t.expires_at, now + chrono::Duration::seconds(3599));
    let debug = format!("{:?}", TokenSet::from_token_response(&body, now).unwrap());
    assert!(!debug.contains("rt-2"), "{debug}");
    let minimal =
        TokenSet::from_token_response(&json!({"access_token":"opaque","expires_in":60}), now)
            .unwrap();
    assert!(minimal.refresh_token.is_none() && minimal.tenant_id.is_none());
    assert!(minimal.expires_within(now, chrono::Duration::seconds(120)));
    assert!(!minimal.expires_within(now, chrono::Duration::seconds(10)));
    let err = TokenSet::from_token_response(&json!({"token_type":"Bearer"}), now).unwrap_err();
    assert!(matches!(err, ConnectorError::Invalid { .. }));
}

#[test]
fn callbacks_with_code_or_error() {
    let ok = parse_callback("code=1.Aabc&state=conn_1.sig&session_state=x");
    assert_eq!(ok.state.as_deref(), Some("conn_1.sig"));
    assert_eq!(ok.code, Ok("1.Aabc".to_owned()));
    let denied =
        parse_callback("error=access_denied&error_description=AADSTS65004%3A+declined&state=s");
    assert_eq!(denied.state.as_deref(), Some("s"));
    let err = denied.code.unwrap_err();
    assert!(err.requires_reauthentication());
    assert!(err.to_string().contains("AADSTS65004: declined"), "{err}");
    let busy = parse_callback("error=temporarily_unavailable&state=s")
        .code
        .unwrap_err();
    assert!(busy.is_retryable());
    let odd = parse_callback("error=unsupported_response_type")
        .code
        .unwrap_err();
    assert_eq!(odd.kind(), crate::ErrorKind::Rejected);
    assert!(parse_callback("").code.is_err());
    assert_eq!(parse_callback("code=&state=").state, None);
}
