//! The OAuth `state` parameter: signed, expiring, bound to one connection of one organization, and
//! single-use (the store records each nonce once redeemed). The PKCE verifier is derived from the
//! state's nonce, so neither needs storing before the callback.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::RngCore;

use crate::vault::Vault;

/// How long an authorization URL stays usable.
pub const STATE_TTL: Duration = Duration::hours(1);

/// What a valid state says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateClaims {
    /// The connection being authorized.
    pub connection_id: String,
    /// Its organization.
    pub org_id: String,
    /// Unique per authorization URL; redeemed once.
    pub nonce: String,
    /// After this the state is refused.
    pub expires_at: DateTime<Utc>,
}

/// Why a state was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not something we issued (malformed or bad signature).
    #[error("the authorization response is not one this server started (invalid state)")]
    Forged,
    /// Issued by us, but too long ago.
    #[error("the authorization link has expired; start again from the connection")]
    Expired,
}

/// A fresh state for `connection_id` and the PKCE verifier that goes with it.
pub fn issue(
    vault: &Vault,
    connection_id: &str,
    org_id: &str,
    now: DateTime<Utc>,
) -> (String, String) {
    let mut nonce = [0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    let nonce = URL_SAFE_NO_PAD.encode(nonce);
    let expires = (now + STATE_TTL).timestamp();
    let payload = format!("{connection_id}|{org_id}|{nonce}|{expires}");
    let tag = vault.sign_state(payload.as_bytes());
    let state = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(tag)
    );
    let verifier = vault.pkce_verifier(&nonce);
    (state, verifier)
}

/// The connection a genuine `state` was issued for, expired or not (to tell where a callback
/// belongs; [`verify`] decides whether it authorizes anything).
pub fn connection_of(vault: &Vault, state: &str) -> Option<String> {
    // Checked as at the earliest time: every genuine state is then unexpired.
    verify(vault, state, DateTime::<Utc>::MIN_UTC)
        .ok()
        .map(|claims| claims.connection_id)
}

/// Checks the signature and expiry of `state` (not its single use: that is the store's job).
pub fn verify(vault: &Vault, state: &str, now: DateTime<Utc>) -> Result<StateClaims, StateError> {
    if state.len() > 1024 {
        return Err(StateError::Forged);
    }
    let (payload, tag) = state.split_once('.').ok_or(StateError::Forged)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| StateError::Forged)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| StateError::Forged)?;
    if !vault.verify_state(&payload, &tag) {
        return Err(StateError::Forged);
    }
    let payload = String::from_utf8(payload).map_err(|_| StateError::Forged)?;
    let mut parts = payload.split('|');
    let (Some(connection_id), Some(org_id), Some(nonce), Some(expires), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(StateError::Forged);
    };
    let expires_at = expires
        .parse::<i64>()
        .ok()
        .and_then(|s| Utc.timestamp_opt(s, 0).single())
        .ok_or(StateError::Forged)?;
    if now >= expires_at {
        return Err(StateError::Expired);
    }
    Ok(StateClaims {
        connection_id: connection_id.to_owned(),
        org_id: org_id.to_owned(),
        nonce: nonce.to_owned(),
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::KeySource;

    fn vault() -> Vault {
        Vault::from_key(&[3; 32], KeySource::Config)
    }

    #[test]
    fn a_state_round_trips_and_derives_its_verifier() {
        let v = vault();
        let now = Utc::now();
        let (state, verifier) = issue(&v, "conn_1", "org_1", now);
        let claims = verify(&v, &state, now).unwrap();
        assert_eq!(claims.connection_id, "conn_1");
        assert_eq!(claims.org_id, "org_1");
        assert_eq!(v.pkce_verifier(&claims.nonce), verifier);
        let (again, _) = issue(&v, "conn_1", "org_1", now);
        assert_ne!(state, again, "each URL gets its own nonce");
    }

    #[test]
    fn forged_tampered_and_expired_states_are_refused() {
        let v = vault();
        let now = Utc::now();
        let (state, _) = issue(&v, "conn_1", "org_1", now);
        assert_eq!(
            verify(&v, &state, now + STATE_TTL),
            Err(StateError::Expired)
        );
        let other = Vault::from_key(&[4; 32], KeySource::Config);
        assert_eq!(verify(&other, &state, now), Err(StateError::Forged));
        let (payload, tag) = state.split_once('.').unwrap();
        let swapped = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap())
                .unwrap()
                .replace("conn_1", "conn_2"),
        );
        assert_eq!(
            verify(&v, &format!("{swapped}.{tag}"), now),
            Err(StateError::Forged)
        );
        for junk in ["", ".", "abc", "a.b", &"x".repeat(5000), "%%%.%%%"] {
            assert_eq!(verify(&v, junk, now), Err(StateError::Forged), "{junk:?}");
        }
    }
}
