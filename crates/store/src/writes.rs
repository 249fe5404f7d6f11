//! Writes to the ERP and their idempotency keys: the [`WriteStore`] trait, its SQL and rows.
//!
//! Accepting a write is one transaction: the idempotency key is looked up (the same key and request
//! give back the same write; the same key with another request is refused), then the write, its
//! key and its job (kind given by the caller, unique key the write's id) are inserted together — so
//! a write is never accepted without the job that carries it out, nor twice for one key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledgerlink_domain::{OrgId, Write, WriteStatus};
use serde_json::Value;

use crate::error::{Result, StoreError};
use crate::pool::{Backed, Db, Tx, on_pool, on_tx};

/// A write to accept.
#[derive(Debug, Clone)]
pub struct NewWrite {
    /// The connection written to.
    pub connection_id: String,
    /// The model written (`payments`).
    pub model: String,
    /// What is done (`create`).
    pub operation: String,
    /// What was asked, as accepted.
    pub request: Value,
    /// The client's idempotency key for it.
    pub idempotency: IdempotencyKey,
    /// The kind of the job that carries it out.
    pub job_kind: String,
}

/// An idempotency key as the client sent it, with what it protects.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// Where the key applies (e.g. the route and the connection): the same key may be used
    /// elsewhere for something else.
    pub scope: String,
    /// The client's key.
    pub key: String,
    /// A hash of the request it was first used with.
    pub request_hash: String,
    /// Kept at least until then.
    pub keep_until: DateTime<Utc>,
}

/// What accepting a write did.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// A new write, queued.
    New(Write),
    /// The key was used before with the same request: that write.
    Replayed(Write),
    /// The key was used before with another request (that write's id): nothing was done.
    KeyReused {
        /// The write the key belongs to.
        write_id: String,
    },
    /// The organization has no such connection: nothing was done.
    UnknownConnection,
}

/// How an attempt of a write ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteEnd {
    /// Done in the ERP.
    Complete {
        /// What the ERP created.
        result: Value,
    },
    /// Failed for a reason that passes; the job tries again.
    Retry {
        /// Why.
        error: String,
    },
    /// Refused or given up.
    Failed {
        /// Why, in words a finance person understands.
        error: String,
    },
}

/// What a cancel did.
#[derive(Debug, Clone, PartialEq)]
pub enum Cancel {
    /// Cancelled: it had not reached the ERP, and its job is gone.
    Cancelled(Write),
    /// Too late: it reached the ERP, is being carried out, or has ended (as it is now).
    TooLate(Write),
    /// No such write in the organization.
    NotFound,
}

/// Writes and their idempotency keys.
#[async_trait]
pub trait WriteStore: Send + Sync {
    /// Accepts a write for the organization's connection (with its key and its job), or answers
    /// from the key's earlier use. See [`Accepted`].
    async fn create_write(
        &self,
        org: &OrgId,
        new: &NewWrite,
        now: DateTime<Utc>,
    ) -> Result<Accepted>;
    /// The write an idempotency key (still kept) belongs to, with the hash of the request it was
    /// first used with.
    async fn write_for_key(
        &self,
        org: &OrgId,
        scope: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, Write)>>;
    /// The organization's write `id`.
    async fn get_write(&self, org: &OrgId, id: &str) -> Result<Option<Write>>;
    /// The writes of the organization's connection, newest first, optionally of one status and
    /// after the write `starting_after` (by id).
    async fn list_writes(
        &self,
        org: &OrgId,
        connection_id: &str,
        status: Option<WriteStatus>,
        starting_after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Write>>;
    /// Cancels the write if it has not reached the ERP and no worker is carrying it out.
    async fn cancel_write(&self, org: &OrgId, id: &str, now: DateTime<Utc>) -> Result<Cancel>;
    /// A worker starts attempt number `attempt` (its job's): `running`, with that attempt number.
    /// `None` when the write has ended, is not the organization's, or a later attempt already
    /// started (this one is stale: its job's lease ran out and another worker has it).
    async fn write_started(
        &self,
        org: &OrgId,
        id: &str,
        attempt: i32,
        now: DateTime<Utc>,
    ) -> Result<Option<Write>>;
    /// Attempt `attempt` is about to change something in the ERP: from now on the write cannot be
    /// cancelled. False when a later attempt has taken over.
    async fn write_reached_erp(
        &self,
        org: &OrgId,
        id: &str,
        attempt: i32,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Records how attempt `attempt` ended (`pending_retry` for [`WriteEnd::Retry`]); `None` (and
    /// nothing changes) when the write has ended or a later attempt has taken over. `attempt`
    /// `None`: whatever attempt holds it (a job that gave up).
    async fn finish_write(
        &self,
        org: &OrgId,
        id: &str,
        attempt: Option<i32>,
        end: &WriteEnd,
        now: DateTime<Utc>,
    ) -> Result<Option<Write>>;
    /// Forgets idempotency keys kept long enough; returns how many.
    async fn prune_idempotency_keys(&self, now: DateTime<Utc>) -> Result<u64>;
}

const WRITE_COLUMNS: &str = "id, connection_id, model, operation, status, attempt, request, \
    result, error, reached_erp, created_at, modified_at, completed_at";

/// A write as stored.
#[derive(sqlx::FromRow)]
struct WriteRow {
    id: String,
    connection_id: String,
    model: String,
    operation: String,
    status: String,
    attempt: i32,
    request: sqlx::types::Json<Value>,
    result: Option<sqlx::types::Json<Value>>,
    error: Option<String>,
    reached_erp: bool,
    created_at: DateTime<Utc>,
    modified_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

impl TryFrom<WriteRow> for Write {
    type Error = StoreError;

    fn try_from(r: WriteRow) -> Result<Write> {
        let status = WriteStatus::parse(&r.status)
            .ok_or_else(|| StoreError::Corrupt(format!("write status {:?}", r.status)))?;
        Ok(Write {
            id: r.id,
            object: "integration_write",
            connection_id: r.connection_id,
            model: r.model,
            operation: r.operation,
            status,
            attempt: r.attempt,
            request: r.request.0,
            result: r.result.map(|j| j.0),
            error: r.error,
            reached_erp: r.reached_erp,
            created_at: r.created_at,
            modified_at: r.modified_at,
            completed_at: r.completed_at,
        })
    }
}

/// `$1` org, `$2` scope, `$3` key, `$4` now.
const FORGET_EXPIRED_KEY: &str = "DELETE FROM idempotency_keys \
    WHERE org_id = $1 AND scope = $2 AND key = $3 AND expires_at <= $4";
const FIND_KEY: &str = "SELECT request_hash, write_id FROM idempotency_keys \
    WHERE org_id = $1 AND scope = $2 AND key = $3";
/// The organization's connection (`$1` org, `$2` id) exists.
const OWN_CONNECTION: &str = "SELECT id FROM connections WHERE org_id = $1 AND id = $2";
const INSERT_WRITE: &str = "INSERT INTO writes (id, org_id, connection_id, model, operation, \
    status, attempt, request, reached_erp, created_at, modified_at) \
    VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, FALSE, $7, $7)";
const INSERT_KEY: &str = "INSERT INTO idempotency_keys \
    (org_id, scope, key, request_hash, write_id, created_at, expires_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// The write's job: `$1` id, `$2` kind, `$3` write id, `$4` org, `$5` connection, `$6` payload,
/// `$7` now.
const INSERT_JOB: &str = "INSERT INTO jobs (id, kind, unique_key, org_id, connection_id, payload, \
    status, attempt, run_after, created_at, modified_at) \
    VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $7, $7)";
/// A write can be cancelled while not final, not reached the ERP, and its job waits.
const CANCEL_JOB: &str = "DELETE FROM jobs WHERE unique_key = $1 AND org_id = $2 \
    AND status = 'queued' AND EXISTS (SELECT 1 FROM writes w WHERE w.id = $1 AND w.org_id = $2 \
    AND NOT w.reached_erp AND w.status IN ('queued', 'pending_retry'))";

async fn write_in(tx: &mut Tx, org: &OrgId, id: &str) -> Result<Option<Write>> {
    let sql = format!("SELECT {WRITE_COLUMNS} FROM writes WHERE org_id = $1 AND id = $2");
    let row: Option<WriteRow> = on_tx!(tx, conn => {
        sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
    });
    row.map(Write::try_from).transpose()
}

/// Accepting a write, on one transaction.
async fn accept(db: &Db, org: &OrgId, new: &NewWrite, now: DateTime<Utc>) -> Result<Accepted> {
    let key = &new.idempotency;
    db.count(6);
    let mut tx = db.begin_write().await?;
    let found: Option<(String, String)> = on_tx!(&mut tx, conn => {
        sqlx::query(FORGET_EXPIRED_KEY)
            .bind(org.as_str())
            .bind(&key.scope)
            .bind(&key.key)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        sqlx::query_as(FIND_KEY)
            .bind(org.as_str())
            .bind(&key.scope)
            .bind(&key.key)
            .fetch_optional(&mut *conn)
            .await?
    });
    if let Some((hash, write_id)) = found {
        if hash != key.request_hash {
            return Ok(Accepted::KeyReused { write_id });
        }
        let write = write_in(&mut tx, org, &write_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("idempotency key of {write_id}")))?;
        tx.commit().await?;
        return Ok(Accepted::Replayed(write));
    }
    let id = ledgerlink_domain::new_id("wr");
    let owned: Option<String> = on_tx!(&mut tx, conn => {
        sqlx::query_scalar(OWN_CONNECTION)
            .bind(org.as_str())
            .bind(&new.connection_id)
            .fetch_optional(&mut *conn)
            .await?
    });
    if owned.is_none() {
        return Ok(Accepted::UnknownConnection);
    }
    on_tx!(&mut tx, conn => {
        sqlx::query(INSERT_WRITE)
            .bind(&id)
            .bind(org.as_str())
            .bind(&new.connection_id)
            .bind(&new.model)
            .bind(&new.operation)
            .bind(sqlx::types::Json(&new.request))
            .bind(now)
            .execute(&mut *conn)
            .await?;
        sqlx::query(INSERT_KEY)
            .bind(org.as_str())
            .bind(&key.scope)
            .bind(&key.key)
            .bind(&key.request_hash)
            .bind(&id)
            .bind(now)
            .bind(key.keep_until)
            .execute(&mut *conn)
            .await?;
        sqlx::query(INSERT_JOB)
            .bind(ledgerlink_domain::new_id("job"))
            .bind(&new.job_kind)
            .bind(&id)
            .bind(org.as_str())
            .bind(&new.connection_id)
            .bind(sqlx::types::Json(serde_json::json!({ "write_id": id })))
            .bind(now)
            .execute(&mut *conn)
            .await?;
    });
    let write = write_in(&mut tx, org, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("write {id} just inserted")))?;
    tx.commit().await?;
    Ok(Accepted::New(write))
}

#[async_trait]
impl<S: Backed> WriteStore for S {
    async fn create_write(
        &self,
        org: &OrgId,
        new: &NewWrite,
        now: DateTime<Utc>,
    ) -> Result<Accepted> {
        match accept(self.db(), org, new, now).await {
            // Another request with the same key committed first (Postgres): answer from it.
            Err(StoreError::Conflict(_)) => accept(self.db(), org, new, now).await,
            other => other,
        }
    }

    async fn write_for_key(
        &self,
        org: &OrgId,
        scope: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, Write)>> {
        let db = self.db();
        db.count(1);
        let found: Option<(String, String)> = on_pool!(db, pool => {
            sqlx::query_as(
                "SELECT request_hash, write_id FROM idempotency_keys \
                 WHERE org_id = $1 AND scope = $2 AND key = $3 AND expires_at > $4",
            )
            .bind(org.as_str())
            .bind(scope)
            .bind(key)
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        let Some((hash, write_id)) = found else {
            return Ok(None);
        };
        Ok(self.get_write(org, &write_id).await?.map(|w| (hash, w)))
    }

    async fn get_write(&self, org: &OrgId, id: &str) -> Result<Option<Write>> {
        let db = self.db();
        db.count(1);
        let sql = format!("SELECT {WRITE_COLUMNS} FROM writes WHERE org_id = $1 AND id = $2");
        let row: Option<WriteRow> = on_pool!(db, pool => {
            sqlx::query_as(&sql)
                .bind(org.as_str())
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.map(Write::try_from).transpose()
    }

    async fn list_writes(
        &self,
        org: &OrgId,
        connection_id: &str,
        status: Option<WriteStatus>,
        starting_after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Write>> {
        let db = self.db();
        db.count(1);
        let sql = format!(
            "SELECT {WRITE_COLUMNS} FROM writes WHERE org_id = $1 AND connection_id = $2 \
             AND (CAST($3 AS TEXT) IS NULL OR status = $3) \
             AND (CAST($4 AS TEXT) IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5"
        );
        let rows: Vec<WriteRow> = on_pool!(db, pool => {
            sqlx::query_as(&sql)
                .bind(org.as_str())
                .bind(connection_id)
                .bind(status.map(WriteStatus::as_str))
                .bind(starting_after)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(Write::try_from).collect()
    }

    async fn cancel_write(&self, org: &OrgId, id: &str, now: DateTime<Utc>) -> Result<Cancel> {
        let db = self.db();
        db.count(3);
        let mut tx = db.begin_write().await?;
        let removed = on_tx!(&mut tx, conn => {
            sqlx::query(CANCEL_JOB)
                .bind(id)
                .bind(org.as_str())
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        if removed == 1 {
            on_tx!(&mut tx, conn => {
                sqlx::query(
                    "UPDATE writes SET status = 'cancelled', modified_at = $3, completed_at = $3 \
                     WHERE id = $1 AND org_id = $2",
                )
                .bind(id)
                .bind(org.as_str())
                .bind(now)
                .execute(&mut *conn)
                .await?;
            });
        }
        let write = write_in(&mut tx, org, id).await?;
        tx.commit().await?;
        Ok(match write {
            None => Cancel::NotFound,
            Some(w) if removed == 1 => Cancel::Cancelled(w),
            Some(w) => Cancel::TooLate(w),
        })
    }

    async fn write_started(
        &self,
        org: &OrgId,
        id: &str,
        attempt: i32,
        now: DateTime<Utc>,
    ) -> Result<Option<Write>> {
        let db = self.db();
        db.count(1);
        let sql = format!(
            "UPDATE writes SET status = 'running', attempt = $3, modified_at = $4 \
             WHERE id = $1 AND org_id = $2 AND status IN ('queued', 'running', 'pending_retry') \
             AND attempt < $3 \
             RETURNING {WRITE_COLUMNS}"
        );
        let row: Option<WriteRow> = on_pool!(db, pool => {
            sqlx::query_as(&sql)
                .bind(id)
                .bind(org.as_str())
                .bind(attempt)
                .bind(now)
                .fetch_optional(pool)
                .await?
        });
        row.map(Write::try_from).transpose()
    }

    async fn write_reached_erp(
        &self,
        org: &OrgId,
        id: &str,
        attempt: i32,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let db = self.db();
        db.count(1);
        let done = on_pool!(db, pool => {
            sqlx::query(
                "UPDATE writes SET reached_erp = TRUE, modified_at = $4 \
                 WHERE id = $1 AND org_id = $2 AND attempt = $3 AND status = 'running'",
            )
            .bind(id)
            .bind(org.as_str())
            .bind(attempt)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    async fn finish_write(
        &self,
        org: &OrgId,
        id: &str,
        attempt: Option<i32>,
        end: &WriteEnd,
        now: DateTime<Utc>,
    ) -> Result<Option<Write>> {
        let db = self.db();
        db.count(1);
        let (status, result, error, completed) = match end {
            WriteEnd::Complete { result } => ("complete", Some(result), None, Some(now)),
            WriteEnd::Retry { error } => ("pending_retry", None, Some(error.as_str()), None),
            WriteEnd::Failed { error } => ("failed", None, Some(error.as_str()), Some(now)),
        };
        let sql = format!(
            "UPDATE writes SET status = $3, result = $4, error = $5, completed_at = $6, \
             modified_at = $7 \
             WHERE id = $1 AND org_id = $2 AND status IN ('queued', 'running', 'pending_retry') \
             AND (CAST($8 AS INTEGER) IS NULL OR attempt = $8) \
             RETURNING {WRITE_COLUMNS}"
        );
        let row: Option<WriteRow> = on_pool!(db, pool => {
            sqlx::query_as(&sql)
                .bind(id)
                .bind(org.as_str())
                .bind(status)
                .bind(result.map(sqlx::types::Json))
                .bind(error)
                .bind(completed)
                .bind(now)
                .bind(attempt)
                .fetch_optional(pool)
                .await?
        });
        row.map(Write::try_from).transpose()
    }

    async fn prune_idempotency_keys(&self, now: DateTime<Utc>) -> Result<u64> {
        let db = self.db();
        db.count(1);
        Ok(on_pool!(db, pool => {
            sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}
