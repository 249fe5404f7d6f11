//! Connection credentials (sealed by the engine's vault, stored as ciphertext) and used OAuth state
//! nonces: the [`SecretStore`] trait and its SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::pool::{Backed, on_pool};

/// Credentials as stored: ciphertext only, plus what is not secret.
#[derive(Clone)]
pub struct SealedSecret {
    /// `oauth` or `basic`.
    pub kind: String,
    /// The vault's ciphertext.
    pub sealed: Vec<u8>,
    /// Write counter, for compare-and-swap.
    pub version: i64,
    /// When the access token expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSecret")
            .field("kind", &self.kind)
            .field("version", &self.version)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Credentials and OAuth state.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The connection's sealed credentials.
    ///
    /// Takes no organization, nor do [`SecretStore::put_secret`] and
    /// [`SecretStore::delete_secret`]: the engine calls them only with the id of a connection it
    /// has just read through an organization-scoped call ([`crate::ConnectionStore::get_connection`]
    /// for the caller's organization, or for the organization named by a signed OAuth state or by a
    /// claimed sync), or that [`crate::ConnectionStore::update_connection`] just changed for the
    /// caller's organization. The credentials are also sealed bound to their connection id, so
    /// ciphertext read under another id would not open.
    async fn get_secret(&self, connection_id: &str) -> Result<Option<SealedSecret>>;
    /// Stores sealed credentials. With `expected_version`, only if the stored version is still that one
    /// (compare-and-swap for token refresh; false when another writer won, or nothing is stored), and
    /// the version becomes `expected_version + 1`; without, inserts (at `secret.version`) or replaces
    /// (moving the stored version on, so a refresh that read the old credentials cannot overwrite the
    /// new ones). No organization: see [`SecretStore::get_secret`].
    async fn put_secret(
        &self,
        connection_id: &str,
        secret: &SealedSecret,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Forgets a connection's credentials. No organization: see [`SecretStore::get_secret`].
    async fn delete_secret(&self, connection_id: &str) -> Result<()>;
    /// Marks an OAuth state nonce as used; false when it already was (a replay).
    ///
    /// Takes no organization: nonces are random and global, and `connection_id` (from a state whose
    /// signature was checked, read back through [`crate::ConnectionStore::get_connection`] for the
    /// state's organization) is only recorded with it.
    async fn redeem_oauth_state(
        &self,
        nonce: &str,
        connection_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool>;
}

/// A [`SealedSecret`]'s columns: `$1` connection.
const GET: &str = "SELECT kind, sealed, version, expires_at FROM connection_secrets \
    WHERE connection_id = $1";

/// Inserts or replaces (bumping the version): `$1` connection, `$2` kind, `$3` sealed, `$4` version,
/// `$5` expiry, `$6` now.
const UPSERT: &str = "INSERT INTO connection_secrets \
    (connection_id, kind, sealed, version, expires_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (connection_id) DO UPDATE SET kind = excluded.kind, \
    sealed = excluded.sealed, \
    version = connection_secrets.version + 1, \
    expires_at = excluded.expires_at, updated_at = excluded.updated_at";

/// Compare-and-swap: `$1` kind, `$2` sealed, `$3` new version, `$4` expiry, `$5` now,
/// `$6` connection, `$7` expected version.
const SWAP: &str = "UPDATE connection_secrets SET kind = $1, sealed = $2, version = $3, \
    expires_at = $4, updated_at = $5 WHERE connection_id = $6 AND version = $7";

const DELETE: &str = "DELETE FROM connection_secrets WHERE connection_id = $1";

const FORGET_OLD_STATES: &str = "DELETE FROM oauth_states_used WHERE used_at < $1";

const REDEEM_STATE: &str = "INSERT INTO oauth_states_used (nonce, connection_id, used_at) \
    VALUES ($1, $2, $3) ON CONFLICT (nonce) DO NOTHING";

#[async_trait]
impl<S: Backed> SecretStore for S {
    async fn get_secret(&self, connection_id: &str) -> Result<Option<SealedSecret>> {
        let db = self.db();
        db.count(1);
        let row: Option<(String, Vec<u8>, i64, Option<DateTime<Utc>>)> = on_pool!(db, pool => {
            sqlx::query_as(GET).bind(connection_id).fetch_optional(pool).await?
        });
        Ok(row.map(|(kind, sealed, version, expires_at)| SealedSecret {
            kind,
            sealed,
            version,
            expires_at,
        }))
    }

    async fn put_secret(
        &self,
        connection_id: &str,
        secret: &SealedSecret,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let db = self.db();
        db.count(1);
        let done = on_pool!(db, pool => match expected_version {
            None => sqlx::query(UPSERT)
                .bind(connection_id)
                .bind(&secret.kind)
                .bind(&secret.sealed)
                .bind(secret.version)
                .bind(secret.expires_at)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected(),
            Some(expected) => sqlx::query(SWAP)
                .bind(&secret.kind)
                .bind(&secret.sealed)
                .bind(expected + 1)
                .bind(secret.expires_at)
                .bind(now)
                .bind(connection_id)
                .bind(expected)
                .execute(pool)
                .await?
                .rows_affected(),
        });
        Ok(done > 0)
    }

    async fn delete_secret(&self, connection_id: &str) -> Result<()> {
        let db = self.db();
        db.count(1);
        on_pool!(db, pool => {
            sqlx::query(DELETE).bind(connection_id).execute(pool).await?;
        });
        Ok(())
    }

    async fn redeem_oauth_state(
        &self,
        nonce: &str,
        connection_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let db = self.db();
        db.count(2);
        // States live an hour; a nonce redeemed over a day ago can never come back valid.
        let stale = now - chrono::Duration::days(1);
        let done = on_pool!(db, pool => {
            sqlx::query(FORGET_OLD_STATES).bind(stale).execute(pool).await?;
            sqlx::query(REDEEM_STATE)
                .bind(nonce)
                .bind(connection_id)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }
}
