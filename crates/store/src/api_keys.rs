//! API keys: random, high-entropy, stored only as hashes.

use chrono::{DateTime, Utc};
use ledgerlink_domain::OrgId;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of every key, so leaked keys are recognisable by secret scanners.
pub const KEY_PREFIX: &str = "llk_";

/// A freshly generated key: the plaintext (shown once) and what is stored.
pub struct ApiKey {
    /// The key itself. Shown to the operator once, never stored.
    pub plaintext: String,
    /// SHA-256 of the key, hex.
    pub hash: String,
    /// A short recognisable start of the key.
    pub prefix: String,
    /// Identifier of the key record.
    pub id: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// An API key as listed: everything but the key itself (which is never stored).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKeyInfo {
    /// Identifier of the key (`key_…`).
    pub id: String,
    /// The organization it belongs to.
    pub org_id: String,
    /// That organization's name.
    pub org_name: String,
    /// What the key is for, as its creator named it.
    pub name: Option<String>,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last used (stamped at most about once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops (or stopped) working; `None` while it has not been revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyInfo {
    /// Whether the key is accepted at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none_or(|at| at > now)
    }
}

/// The owner of a presented key that is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    /// The key's id.
    pub key_id: String,
    /// The organization it authenticates.
    pub org_id: OrgId,
    /// When it was last stamped as used.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// How long a key's `last_used_at` may lag behind its real last use: a key is stamped at most once
/// per this interval, so authentication costs no write on most requests.
pub const LAST_USED_GRANULARITY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Whether a key last stamped at `last_used_at` should be stamped again at `now`.
pub fn needs_touch(last_used_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used_at.is_none_or(|at| now - at >= LAST_USED_GRANULARITY)
}

/// A new key with 256 bits of entropy.
pub fn generate_api_key() -> ApiKey {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let plaintext = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    ApiKey {
        hash: hash_api_key(&plaintext),
        prefix: plaintext[..KEY_PREFIX.len() + 6].to_owned(),
        plaintext,
        id: ledgerlink_domain::new_id("key"),
    }
}

/// The stored form of a presented key. Keys carry 256 bits of entropy, so a fast hash is enough.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_only_their_hash_is_kept() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert_ne!(a.plaintext, b.plaintext);
        assert_eq!(a.plaintext.len(), KEY_PREFIX.len() + 64);
        assert_eq!(a.hash, hash_api_key(&a.plaintext));
        assert!(!a.hash.contains(&a.plaintext[KEY_PREFIX.len()..]));
        assert!(!format!("{a:?}").contains(&a.plaintext));
    }

    #[test]
    fn last_use_is_stamped_at_most_once_a_minute() {
        let now = chrono::Utc::now();
        assert!(needs_touch(None, now));
        assert!(!needs_touch(
            Some(now - chrono::TimeDelta::seconds(59)),
            now
        ));
        assert!(needs_touch(Some(now - chrono::TimeDelta::seconds(60)), now));
    }
}
