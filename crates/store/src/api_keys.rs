//! API keys: random, high-entropy, stored only as hashes.

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
}
