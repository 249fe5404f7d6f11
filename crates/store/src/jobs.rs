//! The background-job queue (everything that runs in the background and is not a sync): types, the
//! [`JobStore`] trait and its SQL.
//!
//! A job is claimed with a lease by any worker process, renewed on a heartbeat, and ends done
//! (deleted), retried later (queued again with a `run_after`) or failed (kept, with its error, for a
//! week). A job with a `unique_key` has at most one copy waiting per kind, and the claim never starts
//! a job while another of the same kind and key runs under a live lease: one setup per connection at
//! a time, one health check per connection at a time, however many processes claim.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledgerlink_domain::OrgId;
use serde_json::Value;

use crate::Result;

/// A job to queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// What runs it (`setup`, `health_check`, …).
    pub kind: String,
    /// At most one job of this kind and key waits at a time (None: no limit).
    pub unique_key: Option<String>,
    /// The organization whose data it touches, if any.
    pub org_id: Option<OrgId>,
    /// The connection it works on, if any (its jobs go when it is deleted).
    pub connection_id: Option<String>,
    /// The job's own arguments.
    pub payload: Value,
    /// Not claimable before this.
    pub run_after: DateTime<Utc>,
}

/// A claimed job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// `job_…`.
    pub id: String,
    /// What runs it.
    pub kind: String,
    /// Its uniqueness key.
    pub unique_key: Option<String>,
    /// Its organization.
    pub org_id: Option<OrgId>,
    /// Its connection.
    pub connection_id: Option<String>,
    /// Its arguments.
    pub payload: Value,
    /// `queued`, `running` or `failed`.
    pub status: String,
    /// Attempts started, this one included once claimed.
    pub attempt: i32,
    /// When it may run.
    pub run_after: DateTime<Utc>,
    /// The worker holding it.
    pub locked_by: Option<String>,
    /// Until when that worker's lease holds.
    pub locked_until: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

/// How an attempt of a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEnd {
    /// Finished: the job is removed.
    Done,
    /// Try again at `run_after` (dropped instead when a copy is already waiting).
    Retry {
        /// Why this attempt failed.
        error: String,
        /// When to try again.
        run_after: DateTime<Utc>,
    },
    /// Given up: kept as `failed` with its error (pruned after [`FAILED_JOBS_KEPT_DAYS`]).
    Failed {
        /// Why.
        error: String,
    },
}

/// How long failed jobs are kept for inspection.
pub const FAILED_JOBS_KEPT_DAYS: i64 = 7;

/// The background-job queue.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Queues a job and returns its id. When a job of the same kind and unique key is already
    /// waiting, that one is kept (with the earlier `run_after` of the two and the new payload) and
    /// its id returned.
    async fn enqueue_job(&self, job: &NewJob, now: DateTime<Utc>) -> Result<String>;
    /// Claims the next runnable job — first one whose worker's lease ran out, then the longest
    /// waiting — leasing it to `worker` until `lease_until`. A job whose kind and key has another
    /// job running under a live lease is not claimable until that one ends.
    async fn claim_job(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Job>>;
    /// Extends the lease; false when `worker` no longer holds the job.
    async fn renew_job_lease(
        &self,
        id: &str,
        worker: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<bool>;
    /// Ends `worker`'s attempt of the job; false (and nothing changes) when it no longer holds it.
    async fn finish_job(
        &self,
        id: &str,
        worker: &str,
        end: &JobEnd,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Periodic health checks: queues a `health_check` job (unique per connection) for up to `limit`
    /// connections whose last check is older than `interval` and whose next check is due, and moves
    /// their next check `interval` on in the same transaction — so however many processes tick, each
    /// connection gets one check per interval. Connections whose setup never found anything
    /// (`discovery` unset) are included: their check runs setup again. Also prunes old failed jobs.
    /// Returns how many were queued.
    async fn queue_health_checks(
        &self,
        now: DateTime<Utc>,
        interval: chrono::Duration,
        limit: u32,
    ) -> Result<usize>;
    /// The jobs of one connection of the organization, oldest first (waiting, running and failed).
    async fn connection_jobs(&self, org: &OrgId, connection_id: &str) -> Result<Vec<Job>>;
}

/// The kind of the periodic health check jobs [`JobStore::queue_health_checks`] queues.
pub const HEALTH_CHECK_KIND: &str = "health_check";

pub(crate) const JOB_COLUMNS: &str = "id, kind, unique_key, org_id, connection_id, payload, status, \
    attempt, run_after, locked_by, locked_until, last_error, created_at";

/// A claimable job, by claim order: `{a}` is the alias of the jobs row, `$3` now. Each matches a
/// partial index in its order.
pub(crate) const CLAIMABLE: [(&str, &str); 2] = [
    (
        "{a}.status = 'running' AND {a}.locked_until < $3",
        "locked_until",
    ),
    (
        "{a}.status = 'queued' AND {a}.run_after <= $3",
        "run_after, id",
    ),
];

/// No other job of the same kind and key runs under a live lease (`{a}`: the candidate's alias).
pub(crate) const NONE_RUNNING: &str = "NOT EXISTS (SELECT 1 FROM jobs r WHERE r.status = 'running' \
    AND r.kind = {a}.kind AND r.unique_key = {a}.unique_key AND r.id <> {a}.id \
    AND r.locked_until >= $3)";

/// Connections due a periodic health check (`$1` now, `$2` checked before, `$3` limit).
pub(crate) const HEALTH_DUE: &str = "SELECT id FROM connections \
    WHERE NOT is_authentication_pending AND NOT is_running_setup \
    AND (company IS NOT NULL OR discovery IS NULL) \
    AND health_checked_at < $2 \
    AND (next_health_check_at IS NULL OR next_health_check_at <= $1) \
    ORDER BY health_checked_at LIMIT $3";

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: String,
    kind: String,
    unique_key: Option<String>,
    org_id: Option<String>,
    connection_id: Option<String>,
    payload: sqlx::types::Json<Value>,
    status: String,
    attempt: i32,
    run_after: DateTime<Utc>,
    locked_by: Option<String>,
    locked_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<JobRow> for Job {
    fn from(r: JobRow) -> Job {
        Job {
            id: r.id,
            kind: r.kind,
            unique_key: r.unique_key,
            org_id: r.org_id.map(OrgId),
            connection_id: r.connection_id,
            payload: r.payload.0,
            status: r.status,
            attempt: r.attempt,
            run_after: r.run_after,
            locked_by: r.locked_by,
            locked_until: r.locked_until,
            last_error: r.last_error,
            created_at: r.created_at,
        }
    }
}

/// Implements [`JobStore`] for a store with `pool` and `count`; `$claim_lock` is the row lock a
/// claim's subquery takes (Postgres: `FOR UPDATE SKIP LOCKED`), `$begin` the write transaction start.
macro_rules! impl_job_store {
    ($store:ty, $claim_lock:literal, $begin:literal) => {
        #[async_trait::async_trait]
        impl $crate::JobStore for $store {
            async fn enqueue_job(
                &self,
                job: &$crate::NewJob,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<String> {
                self.count(1);
                let id: String = sqlx::query_scalar(
                    "INSERT INTO jobs (id, kind, unique_key, org_id, connection_id, payload, status, \
                     attempt, run_after, created_at, modified_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $8, $8) \
                     ON CONFLICT (kind, unique_key) WHERE status = 'queued' DO UPDATE SET \
                     run_after = CASE WHEN excluded.run_after < jobs.run_after \
                     THEN excluded.run_after ELSE jobs.run_after END, \
                     payload = excluded.payload, modified_at = excluded.modified_at \
                     RETURNING id",
                )
                .bind(ledgerlink_domain::new_id("job"))
                .bind(&job.kind)
                .bind(&job.unique_key)
                .bind(job.org_id.as_ref().map(|o| o.as_str()))
                .bind(&job.connection_id)
                .bind(sqlx::types::Json(&job.payload))
                .bind(job.run_after)
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
                Ok(id)
            }

            async fn claim_job(
                &self,
                worker: &str,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Option<$crate::Job>> {
                use $crate::jobs::{CLAIMABLE, JOB_COLUMNS, JobRow, NONE_RUNNING};
                for (claimable, order) in CLAIMABLE {
                    self.count(1);
                    let inner = format!(
                        "{} AND {}",
                        claimable.replace("{a}", "j"),
                        NONE_RUNNING.replace("{a}", "j")
                    );
                    let outer = format!(
                        "{} AND {}",
                        claimable.replace("{a}", "jobs"),
                        NONE_RUNNING.replace("{a}", "jobs")
                    );
                    let sql = format!(
                        "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, \
                         attempt = attempt + 1, modified_at = $3 \
                         WHERE id = (SELECT j.id FROM jobs j WHERE {inner} \
                         ORDER BY {order} LIMIT 1{}) AND {outer} \
                         RETURNING {JOB_COLUMNS}",
                        $claim_lock
                    );
                    let row: Option<JobRow> = sqlx::query_as(&sql)
                        .bind(worker)
                        .bind(lease_until)
                        .bind(now)
                        .fetch_optional(&self.pool)
                        .await?;
                    if let Some(row) = row {
                        return Ok(Some(row.into()));
                    }
                }
                Ok(None)
            }

            async fn renew_job_lease(
                &self,
                id: &str,
                worker: &str,
                lease_until: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<bool> {
                self.count(1);
                let done = sqlx::query(
                    "UPDATE jobs SET locked_until = $1 \
                     WHERE id = $2 AND locked_by = $3 AND status = 'running'",
                )
                .bind(lease_until)
                .bind(id)
                .bind(worker)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn finish_job(
                &self,
                id: &str,
                worker: &str,
                end: &$crate::JobEnd,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<bool> {
                const HELD: &str = "id = $1 AND locked_by = $2 AND status = 'running'";
                self.count(1);
                let done = match end {
                    $crate::JobEnd::Done => {
                        sqlx::query(&format!("DELETE FROM jobs WHERE {HELD}"))
                            .bind(id)
                            .bind(worker)
                            .execute(&self.pool)
                            .await?
                    }
                    $crate::JobEnd::Failed { error } => {
                        sqlx::query(&format!(
                            "UPDATE jobs SET status = 'failed', locked_by = NULL, \
                             locked_until = NULL, last_error = $3, modified_at = $4 WHERE {HELD}"
                        ))
                        .bind(id)
                        .bind(worker)
                        .bind(error)
                        .bind(now)
                        .execute(&self.pool)
                        .await?
                    }
                    $crate::JobEnd::Retry { error, run_after } => {
                        let requeue = sqlx::query(&format!(
                            "UPDATE jobs SET status = 'queued', locked_by = NULL, \
                             locked_until = NULL, last_error = $3, run_after = $4, \
                             modified_at = $5 WHERE {HELD}"
                        ))
                        .bind(id)
                        .bind(worker)
                        .bind(error)
                        .bind(run_after)
                        .bind(now)
                        .execute(&self.pool)
                        .await;
                        match requeue {
                            Ok(done) => done,
                            // A copy was queued while this one ran: it does the work.
                            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                                self.count(1);
                                sqlx::query(&format!("DELETE FROM jobs WHERE {HELD}"))
                                    .bind(id)
                                    .bind(worker)
                                    .execute(&self.pool)
                                    .await?
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                };
                Ok(done.rows_affected() == 1)
            }

            async fn queue_health_checks(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                interval: chrono::Duration,
                limit: u32,
            ) -> $crate::Result<usize> {
                use $crate::jobs::{FAILED_JOBS_KEPT_DAYS, HEALTH_CHECK_KIND, HEALTH_DUE};
                self.count(3);
                let mut tx = self.pool.begin_with($begin).await?;
                let due: Vec<(String, String)> = sqlx::query_as(&format!(
                    "UPDATE connections SET next_health_check_at = $4 \
                     WHERE id IN ({HEALTH_DUE}{}) RETURNING org_id, id",
                    $claim_lock
                ))
                .bind(now)
                .bind(now - interval)
                .bind(i64::from(limit))
                .bind(now + interval)
                .fetch_all(&mut *tx)
                .await?;
                for (org, id) in &due {
                    self.count(1);
                    sqlx::query(
                        "INSERT INTO jobs (id, kind, unique_key, org_id, connection_id, payload, \
                         status, attempt, run_after, created_at, modified_at) \
                         VALUES ($1, $2, $3, $4, $3, $5, 'queued', 0, $6, $6, $6) \
                         ON CONFLICT (kind, unique_key) WHERE status = 'queued' DO NOTHING",
                    )
                    .bind(ledgerlink_domain::new_id("job"))
                    .bind(HEALTH_CHECK_KIND)
                    .bind(id)
                    .bind(org)
                    .bind(sqlx::types::Json(serde_json::json!({})))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query("DELETE FROM jobs WHERE status = 'failed' AND modified_at < $1")
                    .bind(now - chrono::Duration::days(FAILED_JOBS_KEPT_DAYS))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(due.len())
            }

            async fn connection_jobs(
                &self,
                org: &ledgerlink_domain::OrgId,
                connection_id: &str,
            ) -> $crate::Result<Vec<$crate::Job>> {
                use $crate::jobs::{JOB_COLUMNS, JobRow};
                self.count(1);
                let rows: Vec<JobRow> = sqlx::query_as(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE org_id = $1 AND connection_id = $2 \
                     ORDER BY created_at, id"
                ))
                .bind(org.as_str())
                .bind(connection_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }
    };
}

pub(crate) use impl_job_store;
