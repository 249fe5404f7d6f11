//! Sessions of the hosted connect page: the [`ConnectSessionStore`] trait and its SQL.
//!
//! A connect link carries a random 256-bit token; only its SHA-256 is stored, like an API key's. The
//! first browser that opens the link claims the session: it gets a second random secret (its cookie),
//! whose hash is stored too, and from then on the link opens nothing new. Both secrets are as
//! unguessable as a signature and, unlike a signature, can be claimed exactly once in one `UPDATE`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledgerlink_domain::OrgId;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::pool::{Backed, on_pool};

/// A connect session as the page uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSession {
    /// Session id (`cs_…`).
    pub id: String,
    /// The organization that asked for the link.
    pub org_id: OrgId,
    /// The connection the page connects.
    pub connection_id: String,
    /// Token every form of the page carries (compared on every POST).
    pub csrf_token: String,
    /// When the link was made.
    pub created_at: DateTime<Utc>,
    /// When a browser opened it (`None`: not yet).
    pub claimed_at: Option<DateTime<Utc>>,
    /// After this the session opens nothing.
    pub expires_at: DateTime<Utc>,
}

/// A link just made: its token (shown once, in the URL) and the session.
#[derive(Clone)]
pub struct NewConnectLink {
    /// The secret part of the URL; never stored.
    pub token: String,
    /// The session it opens.
    pub session: ConnectSession,
}

impl std::fmt::Debug for NewConnectLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewConnectLink")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// What opening a link found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkClaim {
    /// This browser is the first: the session, and the secret to give it as a cookie.
    Claimed {
        /// The session, with its new deadline.
        session: ConnectSession,
        /// The browser's secret; only its hash is stored.
        browser_secret: String,
    },
    /// A browser opened the link before (maybe this one), and the session is still open.
    AlreadyClaimed,
    /// The link's time is over (or its session's).
    Expired,
    /// No such link.
    Unknown,
}

/// A random secret of 256 bits, URL-safe.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Connect sessions.
#[async_trait]
pub trait ConnectSessionStore: Send + Sync {
    /// Makes a link to the connect page of the organization's connection, usable until
    /// `expires_at`; `None` when the organization has no such connection. The connection's
    /// sessions that have ended are deleted.
    async fn create_connect_link(
        &self,
        org: &OrgId,
        connection_id: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<NewConnectLink>>;
    /// Opens a link: the first browser claims its session, which then lasts until `session_until`
    /// (never beyond the time a session may last from the link's making, see the caller).
    async fn claim_connect_link(
        &self,
        token: &str,
        now: DateTime<Utc>,
        session_until: DateTime<Utc>,
    ) -> Result<LinkClaim>;
    /// The open session of the browser holding `browser_secret`.
    async fn connect_session(
        &self,
        browser_secret: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ConnectSession>>;
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    org_id: String,
    connection_id: String,
    csrf_token: String,
    created_at: DateTime<Utc>,
    claimed_at: Option<DateTime<Utc>>,
    expires_at: DateTime<Utc>,
}

impl SessionRow {
    fn into_session(self) -> ConnectSession {
        ConnectSession {
            id: self.id,
            org_id: OrgId(self.org_id),
            connection_id: self.connection_id,
            csrf_token: self.csrf_token,
            created_at: self.created_at,
            claimed_at: self.claimed_at,
            expires_at: self.expires_at,
        }
    }
}

const COLUMNS: &str = "id, org_id, connection_id, csrf_token, created_at, claimed_at, expires_at";

/// `$1` id, `$2` org, `$3` connection, `$4` link hash, `$5` csrf, `$6` now, `$7` expires: only
/// for a connection of that organization.
const INSERT: &str = "INSERT INTO connect_sessions \
    (id, org_id, connection_id, link_hash, csrf_token, created_at, expires_at) \
    SELECT $1, $2, $3, $4, $5, $6, $7 FROM connections WHERE id = $3 AND org_id = $2";

/// Sessions of connection `$1` of organization `$3` that ended before `$2`: forgotten when the
/// next link is made.
const PURGE: &str =
    "DELETE FROM connect_sessions WHERE connection_id = $1 AND expires_at <= $2 AND org_id = $3";

/// `$1` link hash, `$2` browser hash, `$3` now, `$4` session deadline.
const CLAIM: &str = "UPDATE connect_sessions SET browser_hash = $2, claimed_at = $3, expires_at = $4 \
    WHERE link_hash = $1 AND browser_hash IS NULL AND expires_at > $3";

/// `$1` link hash.
const BY_LINK: &str = "SELECT claimed_at, expires_at FROM connect_sessions WHERE link_hash = $1";

#[async_trait]
impl<S: Backed> ConnectSessionStore for S {
    async fn create_connect_link(
        &self,
        org: &OrgId,
        connection_id: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<NewConnectLink>> {
        let db = self.db();
        db.count(2);
        on_pool!(db, pool => {
            sqlx::query(PURGE)
                .bind(connection_id)
                .bind(now)
                .bind(org.as_str())
                .execute(pool)
                .await?;
        });
        let token = random_secret();
        let session = ConnectSession {
            id: ledgerlink_domain::new_id("cs"),
            org_id: org.clone(),
            connection_id: connection_id.to_owned(),
            csrf_token: random_secret(),
            created_at: now,
            claimed_at: None,
            expires_at,
        };
        let inserted = on_pool!(db, pool => {
            sqlx::query(INSERT)
                .bind(&session.id)
                .bind(org.as_str())
                .bind(connection_id)
                .bind(hash(&token))
                .bind(&session.csrf_token)
                .bind(now)
                .bind(expires_at)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok((inserted == 1).then_some(NewConnectLink { token, session }))
    }

    async fn claim_connect_link(
        &self,
        token: &str,
        now: DateTime<Utc>,
        session_until: DateTime<Utc>,
    ) -> Result<LinkClaim> {
        let db = self.db();
        let link_hash = hash(token);
        let browser_secret = random_secret();
        db.count(1);
        let claimed = on_pool!(db, pool => {
            sqlx::query(CLAIM)
                .bind(&link_hash)
                .bind(hash(&browser_secret))
                .bind(now)
                .bind(session_until)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if claimed == 1 {
            let session = self.connect_session(&browser_secret, now).await?;
            return Ok(match session {
                Some(session) => LinkClaim::Claimed {
                    session,
                    browser_secret,
                },
                None => LinkClaim::Expired,
            });
        }
        db.count(1);
        let row: Option<(Option<DateTime<Utc>>, DateTime<Utc>)> = on_pool!(db, pool => {
            sqlx::query_as(BY_LINK).bind(&link_hash).fetch_optional(pool).await?
        });
        Ok(match row {
            None => LinkClaim::Unknown,
            Some((_, expires_at)) if expires_at <= now => LinkClaim::Expired,
            Some((Some(_), _)) => LinkClaim::AlreadyClaimed,
            // Not claimed and not expired, yet the claim changed nothing: another browser won.
            Some((None, _)) => LinkClaim::AlreadyClaimed,
        })
    }

    async fn connect_session(
        &self,
        browser_secret: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ConnectSession>> {
        let db = self.db();
        db.count(1);
        let sql = format!(
            "SELECT {COLUMNS} FROM connect_sessions WHERE browser_hash = $1 AND expires_at > $2"
        );
        let row: Option<SessionRow> = on_pool!(db, pool => {
            sqlx::query_as(&sql)
                .bind(hash(browser_secret))
                .bind(now)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(SessionRow::into_session))
    }
}
