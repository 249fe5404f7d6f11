//! The sync queue: enqueueing, listing and cancelling syncs (planned ones included), and a
//! worker's claim, lease and conclusion ([`SyncStore`]), with their SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledgerlink_domain::{OrgId, Sync, SyncStatus};

use crate::error::{Result, StoreError};
use crate::pages::mark_unseen_deleted;
use crate::pool::{Backed, on_pool, on_tx};
use crate::schedule::{ELIGIBLE, PLANNED_COLUMNS, PlannedRow, cancel_planned, planned_sync};
use crate::sync_rows::{NewSync, SYNC_COLUMNS, SyncJob, SyncRow, status_str};

/// How a sync ended.
#[derive(Debug, Clone)]
pub enum SyncEnd {
    /// Every page written. `reconcile`: a full pass, so records it did not see are deleted.
    Complete {
        /// Mark unseen records deleted.
        reconcile: bool,
    },
    /// Failed; try again at `run_after`.
    Retry {
        /// What went wrong.
        error: String,
        /// When to try again.
        run_after: DateTime<Utc>,
    },
    /// Failed for good.
    Failed {
        /// What went wrong.
        error: String,
    },
    /// The attempt was cut short by our own database (restarting, unreachable, disk full), not by
    /// the ERP: try again at `run_after` without counting the attempt.
    Deferred {
        /// What went wrong.
        error: String,
        /// When to try again.
        run_after: DateTime<Utc>,
    },
    /// Stopped on request.
    Cancelled,
    /// Handed back unfinished (the worker is shutting down): queued again at once, resuming from its
    /// saved page.
    Released,
}

/// The sync queue.
#[async_trait]
pub trait SyncStore: Send + std::marker::Sync {
    /// Creates one sync per entry, except where the model already has one queued, running or waiting
    /// to retry: that one is returned instead. Entries naming a model that is not one of this
    /// organization's connection's are left out (nothing is created for them). Atomic.
    async fn enqueue_syncs(
        &self,
        org: &OrgId,
        connection_id: &str,
        wants: &[NewSync],
        now: DateTime<Utc>,
    ) -> Result<Vec<Sync>>;
    /// One sync of the organization.
    async fn get_sync(&self, org: &OrgId, id: &str) -> Result<Option<SyncJob>>;
    /// A connection's syncs, newest first.
    async fn list_syncs(
        &self,
        org: &OrgId,
        connection_id: &str,
        model: Option<&str>,
        status: Option<SyncStatus>,
        limit: u32,
    ) -> Result<Vec<Sync>>;
    /// Claims the next runnable sync (queued or due for retry, or running with an expired lease) for
    /// `worker` until `lease_until`; increments `attempt`.
    async fn claim_sync(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<SyncJob>>;
    /// Extends the lease of a sync `worker` holds (a heartbeat while a page takes long); false when
    /// it no longer holds it.
    async fn renew_lease(
        &self,
        job: &SyncJob,
        worker: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<bool>;
    /// Ends a sync (if `worker` still holds it); a complete full pass also reconciles deletions.
    async fn finish_sync(
        &self,
        job: &SyncJob,
        worker: &str,
        end: &SyncEnd,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Cancels a sync: at once when it is not running, at its next page when it is.
    async fn cancel_sync(&self, org: &OrgId, id: &str, now: DateTime<Utc>) -> Result<Option<Sync>>;
    /// The end of the window of the model's last complete sync (where the next incremental one starts).
    ///
    /// Takes no organization: the engine calls it only with the id of a model of a connection it has
    /// just read through [`crate::ConnectionStore::get_connection`] for the caller's organization,
    /// and it returns only a timestamp.
    async fn synced_until(&self, model_id: &str) -> Result<Option<DateTime<Utc>>>;
}

/// Inserts a sync unless its model has an active one (the partial unique index
/// `syncs_one_active`): `$1` id, `$2` org, `$3` connection, `$4` model id, `$5` model name,
/// `$6` status, `$7` batch, `$8` entity, `$9` full pass, `$10` one-off, `$11` state,
/// `$12`/`$13` window, `$14` now.
const ENQUEUE_VALUES: &str = "VALUES ($1, $2, $3, $4, $5, $6, 0, \
    $7, $8, NULL, $9, $10, $11, $12, $13, $14, NULL, NULL, false, NULL, \
    NULL, $14, $14) ON CONFLICT DO NOTHING";

/// The models of connection `$2` of organization `$1`.
const OWNED_MODELS: &str = "SELECT m.id FROM models m JOIN connections c \
    ON c.id = m.connection_id WHERE c.org_id = $1 AND c.id = $2";

/// Statuses in which a model's sync counts as active (at most one per model).
const ACTIVE: &str = "('queued', 'running', 'pending_retry')";

/// The model `$1`'s active sync in organization `$2`.
const ACTIVE_OF_MODEL: &str = "WHERE model_id = $1 AND org_id = $2 AND status IN";

/// A connection's stored syncs: `$1` org, `$2` connection, `$3` model or null, `$4` status or
/// null, `$5` limit.
const LIST_FILTER: &str = "WHERE org_id = $1 AND connection_id = $2 \
    AND (CAST($3 AS TEXT) IS NULL OR model_name = $3) \
    AND (CAST($4 AS TEXT) IS NULL OR status = $4) ORDER BY id DESC LIMIT $5";

/// Each model's next scheduled sync of connection `$2` (none while it cannot sync): `$1` org,
/// `$3` model or null.
const PLANNED_FILTER: &str = "FROM models m JOIN connections c \
    ON c.id = m.connection_id WHERE c.org_id = $1 AND c.id = $2 \
    AND (CAST($3 AS TEXT) IS NULL OR m.name = $3) AND m.next_sync_at IS NOT NULL";

/// What a claim may take, in order, with the order matching its partial index: first a sync whose
/// worker's lease ran out (it crashed or hung: resume it), then the longest-waiting runnable one.
const CLAIMABLE: [(&str, &str); 2] = [
    ("status = 'running' AND locked_until < $3", "locked_until"),
    (
        "status IN ('queued', 'pending_retry') AND run_after <= $3",
        "run_after, id",
    ),
];

const RENEW: &str = "UPDATE syncs SET locked_until = $1 \
    WHERE id = $2 AND locked_by = $3 AND status = 'running'";

/// `$1` status, `$2` error, `$3` run after, `$4` completed, `$5` now, `$6` sync, `$7` worker,
/// `$8` 1 when the attempt does not count.
const FINISH: &str = "UPDATE syncs SET status = $1, error = $2, \
    run_after = COALESCE($3, run_after), completed_at = $4, locked_by = NULL, \
    locked_until = NULL, modified_at = $5, attempt = attempt - $8 \
    WHERE id = $6 AND locked_by = $7 AND status = 'running'";

const CANCEL_WAITING: &str = "UPDATE syncs SET status = 'cancelled', completed_at = $1, \
    modified_at = $1 WHERE org_id = $2 AND id = $3 \
    AND status IN ('scheduled', 'queued', 'pending_retry')";

const CANCEL_RUNNING: &str = "UPDATE syncs SET cancel_requested = true, modified_at = $1 \
    WHERE org_id = $2 AND id = $3 AND status = 'running'";

const SYNCED_UNTIL: &str = "SELECT timerange_end FROM syncs \
    WHERE model_id = $1 AND status = 'complete' ORDER BY id DESC LIMIT 1";

/// What [`SyncStore::finish_sync`] sets for an end: the status, the error, when to run again
/// (`None`: unchanged) and when it completed.
struct Ending {
    status: &'static str,
    error: Option<String>,
    run_after: Option<DateTime<Utc>>,
    completed: Option<DateTime<Utc>>,
}

impl Ending {
    fn of(end: &SyncEnd, now: DateTime<Utc>) -> Self {
        let (status, error, run_after, completed) = match end {
            SyncEnd::Complete { .. } => ("complete", None, None, Some(now)),
            SyncEnd::Retry { error, run_after } | SyncEnd::Deferred { error, run_after } => {
                ("pending_retry", Some(error.clone()), Some(*run_after), None)
            }
            SyncEnd::Failed { error } => ("failed", Some(error.clone()), None, Some(now)),
            SyncEnd::Cancelled => ("cancelled", None, None, Some(now)),
            SyncEnd::Released => ("queued", None, Some(now), None),
        };
        Ending {
            status,
            error,
            run_after,
            completed,
        }
    }
}

#[async_trait]
impl<S: Backed> SyncStore for S {
    async fn enqueue_syncs(
        &self,
        org: &OrgId,
        connection_id: &str,
        wants: &[NewSync],
        now: DateTime<Utc>,
    ) -> Result<Vec<Sync>> {
        let db = self.db();
        db.count(2 + 2 * wants.len() as u64);
        let insert =
            format!("INSERT INTO syncs ({SYNC_COLUMNS}) {ENQUEUE_VALUES} RETURNING {SYNC_COLUMNS}");
        let active = format!(
            "SELECT {SYNC_COLUMNS} FROM syncs {ACTIVE_OF_MODEL} {ACTIVE} ORDER BY id DESC LIMIT 1"
        );
        let mut out = Vec::with_capacity(wants.len());
        on_pool!(db, pool => {
            let mut tx = pool.begin_with(db.dialect.write_begin).await?;
            // Only models of this organization's connection: the sync row carries `org` and
            // takes the model's one active slot, so another organization's model must not get one.
            let owned: Vec<String> = sqlx::query_scalar(OWNED_MODELS)
                .bind(org.as_str())
                .bind(connection_id)
                .fetch_all(&mut *tx)
                .await?;
            for w in wants.iter().filter(|w| owned.contains(&w.model_id)) {
                // On Postgres a concurrent request's uncommitted insert makes this one wait and
                // then do nothing, so the SELECT after it sees the winner — never a unique
                // violation. If the active sync ended in between, try again.
                let mut found = None;
                for _ in 0..3 {
                    let inserted: Option<SyncRow> = sqlx::query_as(&insert)
                        .bind(ledgerlink_domain::new_id("sync"))
                        .bind(org.as_str())
                        .bind(connection_id)
                        .bind(&w.model_id)
                        .bind(&w.model_name)
                        .bind(status_str(w.status))
                        .bind(w.batch_id.map(|b| b.to_string()))
                        .bind(&w.entity_id)
                        .bind(w.is_initial_sync)
                        .bind(w.is_one_off)
                        .bind(sqlx::types::Json(serde_json::json!({})))
                        .bind(w.timerange_start)
                        .bind(w.timerange_end)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some(row) = inserted {
                        found = Some(row);
                        break;
                    }
                    found = sqlx::query_as(&active)
                        .bind(&w.model_id)
                        .bind(org.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    if found.is_some() {
                        break;
                    }
                }
                let row = found.ok_or_else(|| {
                    StoreError::Unavailable("the model's syncs kept changing; try again".into())
                })?;
                out.push(row.into_job()?.sync);
            }
            tx.commit().await?;
        });
        Ok(out)
    }

    async fn get_sync(&self, org: &OrgId, id: &str) -> Result<Option<SyncJob>> {
        let db = self.db();
        db.count(1);
        let sql = format!("SELECT {SYNC_COLUMNS} FROM syncs WHERE org_id = $1 AND id = $2");
        let row: Option<SyncRow> = on_pool!(db, pool => {
            sqlx::query_as(&sql).bind(org.as_str()).bind(id).fetch_optional(pool).await?
        });
        if let Some(row) = row {
            return row.into_job().map(Some);
        }
        Ok(planned_sync(db, org, id).await?.map(|p| p.into_job()))
    }

    async fn list_syncs(
        &self,
        org: &OrgId,
        connection_id: &str,
        model: Option<&str>,
        status: Option<SyncStatus>,
        limit: u32,
    ) -> Result<Vec<Sync>> {
        let db = self.db();
        let mut out = Vec::new();
        if status != Some(SyncStatus::Scheduled) {
            db.count(1);
            let sql = format!("SELECT {SYNC_COLUMNS} FROM syncs {LIST_FILTER}");
            let rows: Vec<SyncRow> = on_pool!(db, pool => {
                sqlx::query_as(&sql)
                    .bind(org.as_str())
                    .bind(connection_id)
                    .bind(model)
                    .bind(status.map(status_str))
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
            });
            for r in rows {
                out.push(r.into_job()?.sync);
            }
        }
        if matches!(status, None | Some(SyncStatus::Scheduled)) {
            db.count(1);
            let sql = format!("SELECT {PLANNED_COLUMNS} {PLANNED_FILTER} AND {ELIGIBLE}");
            let planned: Vec<PlannedRow> = on_pool!(db, pool => {
                sqlx::query_as(&sql)
                    .bind(org.as_str())
                    .bind(connection_id)
                    .bind(model)
                    .fetch_all(pool)
                    .await?
            });
            out.extend(planned.into_iter().map(|p| p.into_job().sync));
        }
        // Newest first: planned syncs (due later) lead. A stored sync wins over a planned
        // one of the same id (stable sort: stored rows were pushed first).
        out.sort_by(|a, b| b.id.cmp(&a.id));
        out.dedup_by(|a, b| a.id == b.id);
        out.truncate(limit as usize);
        Ok(out)
    }

    async fn claim_sync(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<SyncJob>> {
        let db = self.db();
        db.count(1);
        let [(expired, by_expiry), (runnable, by_age)] = CLAIMABLE;
        let lock = db.dialect.claim_lock;
        // One statement, one round trip: each question matches a partial index in its order, so a
        // claim reads one index entry however long the queue is, and the second is asked only when
        // the first finds nothing (COALESCE stops at the first non-null). The outer WHERE repeats
        // the conditions: a row another worker claimed meanwhile no longer matches when this UPDATE
        // gets to it.
        let sql = format!(
            "UPDATE syncs SET status = 'running', locked_by = $1, locked_until = $2, \
             attempt = attempt + 1, started_at = $3, modified_at = $3, error = NULL \
             WHERE id = COALESCE(\
             (SELECT id FROM syncs WHERE {expired} ORDER BY {by_expiry} LIMIT 1{lock}), \
             (SELECT id FROM syncs WHERE {runnable} ORDER BY {by_age} LIMIT 1{lock})) \
             AND (({expired}) OR ({runnable})) \
             RETURNING {SYNC_COLUMNS}"
        );
        let row: Option<SyncRow> = on_pool!(db, pool => {
            sqlx::query_as(&sql)
                .bind(worker)
                .bind(lease_until)
                .bind(now)
                .fetch_optional(pool)
                .await?
        });
        row.map(SyncRow::into_job).transpose()
    }

    async fn renew_lease(
        &self,
        job: &SyncJob,
        worker: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        let db = self.db();
        db.count(1);
        let done = on_pool!(db, pool => {
            sqlx::query(RENEW)
                .bind(lease_until)
                .bind(&job.sync.id)
                .bind(worker)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    async fn finish_sync(
        &self,
        job: &SyncJob,
        worker: &str,
        end: &SyncEnd,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let db = self.db();
        db.count(3);
        let ending = Ending::of(end, now);
        // An attempt our own database cut short does not count.
        let uncount = i32::from(matches!(end, SyncEnd::Deferred { .. }));
        let mut tx = db.begin_write().await?;
        let done = on_tx!(&mut tx, conn => {
            sqlx::query(FINISH)
                .bind(ending.status)
                .bind(&ending.error)
                .bind(ending.run_after)
                .bind(ending.completed)
                .bind(now)
                .bind(&job.sync.id)
                .bind(worker)
                .bind(uncount)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Ok(false);
        }
        if let SyncEnd::Complete { reconcile: true } = end {
            mark_unseen_deleted(&mut tx, job, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn cancel_sync(&self, org: &OrgId, id: &str, now: DateTime<Utc>) -> Result<Option<Sync>> {
        let db = self.db();
        db.count(2);
        on_pool!(db, pool => {
            let done = sqlx::query(CANCEL_WAITING)
                .bind(now)
                .bind(org.as_str())
                .bind(id)
                .execute(pool)
                .await?;
            if done.rows_affected() == 0 {
                sqlx::query(CANCEL_RUNNING)
                    .bind(now)
                    .bind(org.as_str())
                    .bind(id)
                    .execute(pool)
                    .await?;
            }
        });
        if let Some(planned) = planned_sync(db, org, id).await? {
            cancel_planned(db, planned, now).await?;
        }
        Ok(self.get_sync(org, id).await?.map(|j| j.sync))
    }

    async fn synced_until(&self, model_id: &str) -> Result<Option<DateTime<Utc>>> {
        let db = self.db();
        db.count(1);
        let row: Option<(Option<DateTime<Utc>>,)> = on_pool!(db, pool => {
            sqlx::query_as(SYNCED_UNTIL).bind(model_id).fetch_optional(pool).await?
        });
        Ok(row.and_then(|(t,)| t))
    }
}
