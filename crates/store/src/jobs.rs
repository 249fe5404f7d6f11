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

use crate::error::Result;
use crate::pool::{Backed, on_pool};

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
    /// waiting, that one is kept (with the earlier `run_after` of the two, the new payload, and its attempts
    /// counted from zero again: a new request deserves its own retries) and
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

/// Every column of `jobs` that [`JobRow`] reads, in its order.
const JOB_COLUMNS: &str = "id, kind, unique_key, org_id, connection_id, payload, status, \
    attempt, run_after, locked_by, locked_until, last_error, created_at";

/// A claimable job, by claim order, with what must not be running meanwhile: `{a}` is the alias
/// of the jobs row, `$3` now. Each condition matches a partial index in its order. A job whose
/// worker's lease ran out is taken back unless another job of its kind and key runs under a live
/// lease; a waiting one only when no job of its kind and key is running at all — not even one
/// whose lease ran out (that one is taken back first), so two workers never run a key at once.
const CLAIMABLE: [(&str, &str, &str); 2] = [
    (
        "{a}.status = 'running' AND {a}.locked_until < $3",
        "locked_until",
        "AND r.locked_until >= $3",
    ),
    (
        "{a}.status = 'queued' AND {a}.run_after <= $3",
        "run_after, id",
        "",
    ),
];

/// No other job of the same kind and key runs (`{a}`: the candidate's alias, `{live}`: a further
/// condition on the running one).
const NONE_RUNNING: &str = "NOT EXISTS (SELECT 1 FROM jobs r WHERE r.status = 'running' \
    AND r.kind = {a}.kind AND r.unique_key = {a}.unique_key AND r.id <> {a}.id {live})";

/// Connections due a periodic health check (`$1` now, `$2` checked before, `$3` limit, `$5` two
/// intervals from now: a due date beyond it was set under a longer interval — not merely by another
/// process whose clock read a moment later): set-up ones,
/// and those whose setup never completed or looks stuck (`is_running_setup` set longer than an
/// interval: a process that stopped between saving the flag and queuing the job), whose check
/// queues setup again unless a setup job waits or runs.
const HEALTH_DUE: &str = "SELECT id FROM connections \
    WHERE NOT is_authentication_pending \
    AND (company IS NOT NULL OR discovery IS NULL OR is_running_setup) \
    AND health_checked_at < $2 \
    AND (next_health_check_at IS NULL OR next_health_check_at <= $1 \
    OR next_health_check_at > $5) \
    ORDER BY health_checked_at LIMIT $3";

/// A job as stored.
#[derive(sqlx::FromRow)]
struct JobRow {
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

/// Queues a job, or merges it into the waiting copy of its kind and key (the earlier `run_after`
/// of the two, the new payload): `$1` id, `$2` kind, `$3` key, `$4` org, `$5` connection,
/// `$6` payload, `$7` run after, `$8` now.
const ENQUEUE: &str = "INSERT INTO jobs (id, kind, unique_key, org_id, connection_id, payload, \
    status, attempt, run_after, created_at, modified_at) \
    VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $8, $8) \
    ON CONFLICT (kind, unique_key) WHERE status = 'queued' DO UPDATE SET \
    run_after = CASE WHEN excluded.run_after < jobs.run_after \
    THEN excluded.run_after ELSE jobs.run_after END, \
    payload = excluded.payload, modified_at = excluded.modified_at, \
    attempt = 0, last_error = NULL \
    RETURNING id";

const RENEW: &str = "UPDATE jobs SET locked_until = $1 \
    WHERE id = $2 AND locked_by = $3 AND status = 'running'";

/// The job `$1` while `$2` holds it.
const HELD: &str = "id = $1 AND locked_by = $2 AND status = 'running'";

/// `$3` error, `$4` now.
const FAIL: &str = "UPDATE jobs SET status = 'failed', locked_by = NULL, locked_until = NULL, \
    last_error = $3, modified_at = $4 WHERE";

/// `$3` error, `$4` run after, `$5` now.
const REQUEUE: &str = "UPDATE jobs SET status = 'queued', locked_by = NULL, locked_until = NULL, \
    last_error = $3, run_after = $4, modified_at = $5 WHERE";

/// A connection's periodic check, unless one is waiting: `$1` id, `$2` kind, `$3` connection (its
/// unique key too), `$4` org, `$5` payload, `$6` now.
const QUEUE_HEALTH_CHECK: &str = "INSERT INTO jobs (id, kind, unique_key, org_id, connection_id, \
    payload, status, attempt, run_after, created_at, modified_at) \
    VALUES ($1, $2, $3, $4, $3, $5, 'queued', 0, $6, $6, $6) \
    ON CONFLICT (kind, unique_key) WHERE status = 'queued' DO NOTHING";

const PRUNE_FAILED: &str = "DELETE FROM jobs WHERE status = 'failed' AND modified_at < $1";

/// The claim of the first job matching `claimable` in `order`, with the dialect's `lock` on the
/// candidate row. The outer WHERE repeats the condition: a job another worker claimed meanwhile
/// no longer matches when this UPDATE gets to it.
fn claim_sql(claimable: &str, order: &str, live: &str, lock: &str) -> String {
    let none_running = NONE_RUNNING.replace("{live}", live);
    let inner = format!(
        "{} AND {}",
        claimable.replace("{a}", "j"),
        none_running.replace("{a}", "j")
    );
    let outer = format!(
        "{} AND {}",
        claimable.replace("{a}", "jobs"),
        none_running.replace("{a}", "jobs")
    );
    format!(
        "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, \
         attempt = attempt + 1, modified_at = $3 \
         WHERE id = (SELECT j.id FROM jobs j WHERE {inner} \
         ORDER BY {order} LIMIT 1{lock}) AND {outer} \
         RETURNING {JOB_COLUMNS}"
    )
}

#[async_trait]
impl<S: Backed> JobStore for S {
    async fn enqueue_job(&self, job: &NewJob, now: DateTime<Utc>) -> Result<String> {
        let db = self.db();
        db.count(1);
        Ok(on_pool!(db, pool => {
            sqlx::query_scalar(ENQUEUE)
                .bind(ledgerlink_domain::new_id("job"))
                .bind(&job.kind)
                .bind(&job.unique_key)
                .bind(job.org_id.as_ref().map(|o| o.as_str()))
                .bind(&job.connection_id)
                .bind(sqlx::types::Json(&job.payload))
                .bind(job.run_after)
                .bind(now)
                .fetch_one(pool)
                .await?
        }))
    }

    async fn claim_job(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Job>> {
        let db = self.db();
        for (claimable, order, live) in CLAIMABLE {
            db.count(1);
            let sql = claim_sql(claimable, order, live, db.dialect.claim_lock);
            let row: Option<JobRow> = on_pool!(db, pool => {
                sqlx::query_as(&sql)
                    .bind(worker)
                    .bind(lease_until)
                    .bind(now)
                    .fetch_optional(pool)
                    .await?
            });
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
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        let db = self.db();
        db.count(1);
        let done = on_pool!(db, pool => {
            sqlx::query(RENEW)
                .bind(lease_until)
                .bind(id)
                .bind(worker)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    async fn finish_job(
        &self,
        id: &str,
        worker: &str,
        end: &JobEnd,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let db = self.db();
        db.count(1);
        let delete = format!("DELETE FROM jobs WHERE {HELD}");
        let done = on_pool!(db, pool => match end {
            JobEnd::Done => {
                sqlx::query(&delete).bind(id).bind(worker).execute(pool).await?.rows_affected()
            }
            JobEnd::Failed { error } => sqlx::query(&format!("{FAIL} {HELD}"))
                .bind(id)
                .bind(worker)
                .bind(error)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected(),
            JobEnd::Retry { error, run_after } => {
                let requeue = sqlx::query(&format!("{REQUEUE} {HELD}"))
                    .bind(id)
                    .bind(worker)
                    .bind(error)
                    .bind(run_after)
                    .bind(now)
                    .execute(pool)
                    .await;
                match requeue {
                    Ok(done) => done.rows_affected(),
                    // A copy was queued while this one ran: it does the work.
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        db.count(1);
                        sqlx::query(&delete)
                            .bind(id)
                            .bind(worker)
                            .execute(pool)
                            .await?
                            .rows_affected()
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        });
        Ok(done == 1)
    }

    async fn queue_health_checks(
        &self,
        now: DateTime<Utc>,
        interval: chrono::Duration,
        limit: u32,
    ) -> Result<usize> {
        let db = self.db();
        db.count(2);
        let take_due = format!(
            "UPDATE connections SET next_health_check_at = $4 \
             WHERE id IN ({HEALTH_DUE}{}) RETURNING org_id, id",
            db.dialect.row_lock
        );
        on_pool!(db, pool => {
            let mut tx = pool.begin_with(db.dialect.write_begin).await?;
            let due: Vec<(String, String)> = sqlx::query_as(&take_due)
                .bind(now)
                .bind(now - interval)
                .bind(i64::from(limit))
                .bind(now + interval)
                .bind(now + interval + interval)
                .fetch_all(&mut *tx)
                .await?;
            let mut queued = 0;
            for (org, id) in &due {
                db.count(1);
                queued += sqlx::query(QUEUE_HEALTH_CHECK)
                    .bind(ledgerlink_domain::new_id("job"))
                    .bind(HEALTH_CHECK_KIND)
                    .bind(id)
                    .bind(org)
                    .bind(sqlx::types::Json(serde_json::json!({})))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected() as usize;
            }
            sqlx::query(PRUNE_FAILED)
                .bind(now - chrono::Duration::days(FAILED_JOBS_KEPT_DAYS))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(queued)
        })
    }

    async fn connection_jobs(&self, org: &OrgId, connection_id: &str) -> Result<Vec<Job>> {
        let db = self.db();
        db.count(1);
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE org_id = $1 AND connection_id = $2 \
             ORDER BY created_at, id"
        );
        let rows: Vec<JobRow> = on_pool!(db, pool => {
            sqlx::query_as(&sql)
                .bind(org.as_str())
                .bind(connection_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
