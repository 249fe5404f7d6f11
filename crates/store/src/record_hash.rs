//! A record's hash: how a sync tells a record it read from the one stored (equal hashes: unchanged,
//! no new place in the change feed).
//!
//! It is BLAKE3 of the record's unified JSON text, written `b3:` and 64 hex digits. Records stored
//! before (issue #12) hold SHA-256's 64 hex digits: a record read again is compared with such a
//! hash by SHA-256 of its text, so an upgrade does not take every stored record for changed. On a
//! CPU without SHA extensions SHA-256 ran at ~100 MB/s and took 15 % of a sync's CPU; BLAKE3 runs
//! at ~1.1 GB/s on the same core.

use sha2::{Digest, Sha256};

const PREFIX: &str = "b3:";

/// The hash of a record's unified JSON text (serialized from the typed record, fields in their
/// declared order, so equal records hash equal).
pub fn record_hash(data: &str) -> String {
    format!("{PREFIX}{}", blake3::hash(data.as_bytes()).to_hex())
}

/// Whether a record whose text is `data` and whose hash is `hash` (from [`record_hash`]) is the
/// one stored with `stored` (an empty hash — a damaged row's — matches nothing).
pub(crate) fn same(stored: &str, hash: &str, data: &str) -> bool {
    if stored == hash {
        return !stored.is_empty();
    }
    is_sha256(stored)
        && hash.starts_with(PREFIX)
        && hex::encode(Sha256::digest(data.as_bytes())) == stored
}

/// A hash stored before BLAKE3: SHA-256, 64 lower-case hex digits.
fn is_sha256(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_blake3_of_the_text_in_hex_after_its_prefix() {
        // BLAKE3's published test vector for the empty input.
        assert_eq!(
            record_hash(""),
            "b3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        let h = record_hash(r#"{"number":"1001"}"#);
        assert_eq!(h.len(), 67);
        assert_ne!(h, record_hash(r#"{"number":"1002"}"#));
    }

    #[test]
    fn a_record_matches_its_own_hash_and_a_sha256_stored_before_but_nothing_else() {
        let data = r#"{"number":"1001","total":"12.50"}"#;
        let hash = record_hash(data);
        assert!(same(&hash, &hash, data));
        let sha256 = hex::encode(Sha256::digest(data.as_bytes()));
        assert!(same(&sha256, &hash, data), "a hash stored before BLAKE3");
        let other = r#"{"number":"1001","total":"12.51"}"#;
        assert!(!same(&sha256, &record_hash(other), other), "changed since");
        assert!(!same(&record_hash(other), &hash, data));
        assert!(!same("", &hash, data), "a damaged row's cleared hash");
        assert!(!same("", "", data));
        let upper = sha256.to_uppercase();
        assert!(!same(&upper, &hash, data), "not a hash this code wrote");
    }
}
