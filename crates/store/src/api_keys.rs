//! API keys: random, high-entropy, stored only as hashes; the [`ApiKeyStore`] trait and its SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledgerlink_domain::OrgId;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::pool::{Backed, on_pool};

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

pub use crate::key_cache::KeyOwner;

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

/// API keys of organizations.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Records an API key (only its hash) for an organization, with an optional name.
    async fn insert_api_key(
        &self,
        org: &OrgId,
        key: &ApiKey,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// The key with this hash, if it is active at `now` (not revoked, or revoked from a later
    /// instant). Answers are cached for a moment, but a revocation holds from the next call on in
    /// every process on this host, and within a second on other hosts (see `key_cache.rs`).
    async fn api_key_by_hash(&self, key_hash: &str, now: DateTime<Utc>)
    -> Result<Option<KeyOwner>>;
    /// Stamps the key's `last_used_at` with `now` unless it was stamped after `since`.
    ///
    /// Takes no organization: `id` is the one [`ApiKeyStore::api_key_by_hash`] just returned for
    /// the key presented, and only a timestamp is written.
    async fn touch_api_key(&self, id: &str, now: DateTime<Utc>, since: DateTime<Utc>)
    -> Result<()>;
    /// The organization's keys (every organization's for `None`), newest first, revoked included.
    async fn list_api_keys(&self, org: Option<&OrgId>) -> Result<Vec<ApiKeyInfo>>;
    /// One key by id, in the organization (any organization for `None`).
    async fn get_api_key(&self, org: Option<&OrgId>, id: &str) -> Result<Option<ApiKeyInfo>>;
    /// Makes the key stop working at `at` (sooner if it was to stop later); false when the
    /// organization has no such key active at `at`.
    async fn revoke_api_key(&self, org: &OrgId, id: &str, at: DateTime<Utc>) -> Result<bool>;
    /// In one transaction: records `new` under the name of the organization's active key `id`, and
    /// makes `id` stop working at `old_until` (`now` for at once). False, with nothing changed,
    /// when there is no such active key.
    async fn rotate_api_key(
        &self,
        org: &OrgId,
        id: &str,
        new: &ApiKey,
        now: DateTime<Utc>,
        old_until: DateTime<Utc>,
    ) -> Result<bool>;
}

/// `$1` id, `$2` org, `$3` hash, `$4` prefix, `$5` created, `$6` name.
const INSERT: &str = "INSERT INTO api_keys (id, org_id, key_hash, prefix, created_at, name) \
    VALUES ($1, $2, $3, $4, $5, $6)";

/// Reads a [`KeyOwner`] and when the key stops working: `$1` hash.
const BY_HASH: &str = "SELECT id, org_id, last_used_at, revoked_at FROM api_keys \
    WHERE key_hash = $1";

const TOUCH: &str = "UPDATE api_keys SET last_used_at = $2 \
    WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)";

/// An [`ApiKeyInfo`]'s columns (with its organization's name): `$1` org or null.
const LIST: &str = "SELECT k.id, k.org_id, o.name AS org_name, k.name, \
    k.prefix, k.created_at, k.last_used_at, k.revoked_at \
    FROM api_keys k JOIN organizations o ON o.id = k.org_id \
    WHERE (CAST($1 AS TEXT) IS NULL OR k.org_id = $1)";

/// `$1` org, `$2` id, `$3` when it stops working.
const REVOKE: &str = "UPDATE api_keys SET revoked_at = $3 \
    WHERE org_id = $1 AND id = $2 AND (revoked_at IS NULL OR revoked_at > $3)";

/// Only ever brings the old key's end forward: `$1` org, `$2` id, `$3` now, `$4` old key's end.
const END_FOR_ROTATION: &str = "UPDATE api_keys SET revoked_at = CASE \
    WHEN revoked_at IS NULL OR revoked_at > $4 THEN $4 ELSE revoked_at END \
    WHERE org_id = $1 AND id = $2 AND (revoked_at IS NULL OR revoked_at > $3) \
    RETURNING name";

#[async_trait]
impl<S: Backed> ApiKeyStore for S {
    async fn insert_api_key(
        &self,
        org: &OrgId,
        key: &ApiKey,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let db = self.db();
        db.count(1);
        on_pool!(db, pool => {
            sqlx::query(INSERT)
                .bind(&key.id)
                .bind(org.as_str())
                .bind(&key.hash)
                .bind(&key.prefix)
                .bind(now)
                .bind(name)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn api_key_by_hash(
        &self,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<KeyOwner>> {
        let db = self.db();
        if let Some(answer) = db.keys.get(key_hash, now) {
            return Ok(answer);
        }
        let generation = db.keys.generation();
        db.count(1);
        type Row = (String, String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
        let row: Option<Row> = on_pool!(db, pool => {
            sqlx::query_as(BY_HASH).bind(key_hash).fetch_optional(pool).await?
        });
        let Some((key_id, org_id, last_used_at, revoked_at)) = row else {
            return Ok(None);
        };
        let owner = KeyOwner {
            key_id,
            org_id: OrgId(org_id),
            last_used_at,
        };
        db.keys.put(key_hash, owner.clone(), revoked_at, generation);
        Ok(revoked_at.is_none_or(|at| at > now).then_some(owner))
    }

    async fn touch_api_key(
        &self,
        id: &str,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<()> {
        let db = self.db();
        db.count(1);
        on_pool!(db, pool => {
            sqlx::query(TOUCH).bind(id).bind(now).bind(since).execute(pool).await?;
        });
        db.keys.touched(id, now);
        Ok(())
    }

    async fn list_api_keys(&self, org: Option<&OrgId>) -> Result<Vec<ApiKeyInfo>> {
        let db = self.db();
        db.count(1);
        let sql = format!("{LIST} ORDER BY k.created_at DESC, k.id DESC");
        Ok(on_pool!(db, pool => {
            sqlx::query_as(&sql)
                .bind(org.map(|o| o.as_str()))
                .fetch_all(pool)
                .await?
        }))
    }

    async fn get_api_key(&self, org: Option<&OrgId>, id: &str) -> Result<Option<ApiKeyInfo>> {
        let db = self.db();
        db.count(1);
        let sql = format!("{LIST} AND k.id = $2");
        Ok(on_pool!(db, pool => {
            sqlx::query_as(&sql)
                .bind(org.map(|o| o.as_str()))
                .bind(id)
                .fetch_optional(pool)
                .await?
        }))
    }

    async fn revoke_api_key(&self, org: &OrgId, id: &str, at: DateTime<Utc>) -> Result<bool> {
        let db = self.db();
        db.count(1);
        let revoked = on_pool!(db, pool => {
            sqlx::query(REVOKE)
                .bind(org.as_str())
                .bind(id)
                .bind(at)
                .execute(pool)
                .await?
                .rows_affected()
        }) > 0;
        if revoked {
            db.keys.revoked();
        }
        Ok(revoked)
    }

    async fn rotate_api_key(
        &self,
        org: &OrgId,
        id: &str,
        new: &ApiKey,
        now: DateTime<Utc>,
        old_until: DateTime<Utc>,
    ) -> Result<bool> {
        let db = self.db();
        db.count(2);
        on_pool!(db, pool => {
            let mut tx = pool.begin().await?;
            let name: Option<(Option<String>,)> = sqlx::query_as(END_FOR_ROTATION)
                .bind(org.as_str())
                .bind(id)
                .bind(now)
                .bind(old_until)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((name,)) = name else {
                return Ok(false);
            };
            sqlx::query(INSERT)
                .bind(&new.id)
                .bind(org.as_str())
                .bind(&new.hash)
                .bind(&new.prefix)
                .bind(now)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        db.keys.revoked();
        Ok(true)
    }
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
