//! The scheduler's side of the queue: models whose next sync is due ([`ScheduleStore`]), and the
//! planned (`scheduled`) syncs a model shows until then, with their SQL and rows.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledgerlink_domain::{OrgId, Sync, SyncStatus};
use serde_json::Value;

use crate::dialect::{CHUNK, keep_prepared};
use crate::error::Result;
use crate::pool::{Backed, Db, Tx, on_pool, on_tx};
use crate::sync_rows::{NewSync, SYNC_COLUMNS, SyncJob, status_str};

/// What one scheduler tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleTick {
    /// Due models taken this tick (at most the limit asked for).
    pub due: usize,
    /// Syncs queued.
    pub queued: usize,
    /// Due models that already had a sync queued, running or waiting to retry (nothing queued).
    pub already_active: usize,
    /// Due models whose connection cannot sync now (unhealthy, paused, not configured, reads off):
    /// looked at again after the recheck interval instead of every tick.
    pub deferred: usize,
}

/// The scheduler.
#[async_trait]
pub trait ScheduleStore: Send + std::marker::Sync {
    /// One scheduler tick, in one transaction: takes up to `limit` models whose `next_sync_at` has
    /// come (on Postgres skipping those another scheduler holds), queues a sync for each whose
    /// connection can sync (read-enabled, healthy, configured, unpaused; incremental from the last
    /// complete sync less `overlap`) unless one is already active, and moves each `next_sync_at` on:
    /// by the model's frequency, or by at most `recheck` for those that could not sync.
    async fn schedule_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        overlap: chrono::Duration,
        recheck: chrono::Duration,
    ) -> Result<ScheduleTick>;
}

/// A model whose `next_sync_at` has come, as the scheduler reads it.
#[derive(sqlx::FromRow)]
struct DueRow {
    #[sqlx(rename = "id")]
    model_id: String,
    #[sqlx(rename = "name")]
    model_name: String,
    #[sqlx(rename = "c_id")]
    connection_id: String,
    org_id: String,
    company: Option<String>,
    #[sqlx(rename = "sync_frequency_secs")]
    frequency_secs: i64,
    /// When this sync was planned for (its id derives from it).
    next_sync_at: DateTime<Utc>,
    /// The connection can sync this model now.
    eligible: bool,
    /// The end of the window of the model's last complete sync.
    synced_until: Option<DateTime<Utc>>,
    /// How often the model runs a full pass (which finds deletions).
    full_sync_frequency_secs: i64,
    /// When its next full pass is due (`None`: not planned yet).
    next_full_sync_at: Option<DateTime<Utc>>,
}

impl DueRow {
    /// Whether this tick's sync is a scheduled full pass.
    fn full_pass_due(&self, now: DateTime<Utc>) -> bool {
        self.next_full_sync_at.is_some_and(|t| t <= now)
    }

    /// When the full pass after this tick is due: a frequency on from now once one ran; for a model
    /// that has none planned yet (its first sync is a full pass anyway), one to two periods on,
    /// spread by the model's id so that many connections set up together do not all run their
    /// later full passes at the same moment.
    fn next_full_pass(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let every = self.full_sync_frequency_secs.max(3600);
        match self.next_full_sync_at {
            Some(t) if t > now => t,
            Some(_) => now + chrono::Duration::seconds(every),
            None => {
                let spread = self
                    .model_id
                    .bytes()
                    .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                    })
                    % every as u64;
                now + chrono::Duration::seconds(every + spread as i64)
            }
        }
    }
}

/// The condition under which a connection's model is synced on schedule (`m` models, `c` connections).
pub(crate) const ELIGIBLE: &str = "(m.is_read_enabled AND c.health_status = 'healthy' \
    AND NOT c.is_sync_disabled AND NOT c.is_authentication_pending AND NOT c.is_running_setup \
    AND c.company IS NOT NULL)";

/// Tells models apart in the ids of their planned syncs.
fn model_seed(model_id: &str) -> u128 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(model_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes)
}

/// A model's next scheduled sync, as a `scheduled` Sync: shown until it is due, when the scheduler
/// queues it under the same id.
#[derive(sqlx::FromRow)]
pub(crate) struct PlannedRow {
    id: String,
    org_id: String,
    connection_id: String,
    name: String,
    company: Option<String>,
    sync_frequency_secs: i64,
    next_sync_at: DateTime<Utc>,
    next_full_sync_at: Option<DateTime<Utc>>,
    has_synced: bool,
}

/// The columns of [`PlannedRow`], for `FROM models m JOIN connections c ON c.id = m.connection_id`.
pub(crate) const PLANNED_COLUMNS: &str = "m.id, c.org_id, c.id AS connection_id, m.name, \
    c.company, m.sync_frequency_secs, m.next_sync_at, m.next_full_sync_at, \
    EXISTS (SELECT 1 FROM syncs s WHERE s.model_id = m.id AND s.status = 'complete') AS has_synced";

impl PlannedRow {
    fn sync_id(&self) -> String {
        ledgerlink_domain::planned_sync_id(self.next_sync_at, model_seed(&self.id))
    }

    pub(crate) fn into_job(self) -> SyncJob {
        let id = self.sync_id();
        let full = !self.has_synced
            || self
                .next_full_sync_at
                .is_some_and(|t| t <= self.next_sync_at);
        let planned_at = self.next_sync_at - chrono::Duration::seconds(self.sync_frequency_secs);
        SyncJob {
            sync: Sync {
                created_at: planned_at,
                modified_at: Some(planned_at),
                id,
                status: SyncStatus::Scheduled,
                attempt: 0,
                batch_id: None,
                completed_at: None,
                entity_id: self.company,
                error: None,
                file_id: None,
                is_initial_sync: full,
                is_one_off: false,
                model_id: self.id,
                pagination_state: Value::Object(Default::default()),
                progress: None,
                started_at: None,
                timerange_end: Some(self.next_sync_at),
                timerange_start: None,
                object: "integration_sync",
            },
            org_id: OrgId(self.org_id),
            connection_id: self.connection_id,
            model_name: self.name,
            run_after: self.next_sync_at,
            locked_by: None,
            locked_until: None,
            cancel_requested: false,
        }
    }
}

/// Planned syncs whose `next_sync_at` lies in `[$2, $3)`, of organization `$1`.
const PLANNED_AT: &str = "FROM models m JOIN connections c ON c.id = m.connection_id \
    WHERE c.org_id = $1 AND m.next_sync_at >= $2 AND m.next_sync_at < $3";

/// The planned (`scheduled`) sync with this id, if a model of the organization has one.
pub(crate) async fn planned_sync(db: &Db, org: &OrgId, id: &str) -> Result<Option<PlannedRow>> {
    if !ledgerlink_domain::is_id("sync", id) {
        return Ok(None);
    }
    let Some(at) = ledgerlink_domain::id_time(id) else {
        return Ok(None);
    };
    db.count(1);
    let sql = format!("SELECT {PLANNED_COLUMNS} {PLANNED_AT} AND {ELIGIBLE}");
    let until = at + chrono::Duration::milliseconds(1);
    let candidates: Vec<PlannedRow> = on_pool!(db, pool => {
        sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(at)
            .bind(until)
            .fetch_all(pool)
            .await?
    });
    Ok(candidates.into_iter().find(|p| p.sync_id() == id))
}

/// Moves the model's next sync on by one period if it is still this one: `$1` next, `$2` model,
/// `$3` the planned time.
const SKIP_PLANNED: &str =
    "UPDATE models SET next_sync_at = $1 WHERE id = $2 AND next_sync_at = $3";

/// Keeps a cancelled planned sync in the history (its columns in [`SYNC_COLUMNS`] order).
const INSERT_CANCELLED: &str = "VALUES ($1, $2, $3, $4, $5, $6, 0, \
    NULL, $7, NULL, $8, false, $9, NULL, $10, $10, NULL, NULL, false, NULL, \
    $11, $11, $11) ON CONFLICT DO NOTHING";

/// Cancels a planned sync: that run is skipped (the model's next one is planned a frequency later)
/// and the cancelled sync is kept in the history.
pub(crate) async fn cancel_planned(db: &Db, planned: PlannedRow, now: DateTime<Utc>) -> Result<()> {
    let job = planned.into_job();
    let period = (job.run_after - job.sync.created_at).num_seconds().max(60);
    let next = job.run_after + chrono::Duration::seconds(period);
    db.count(3);
    let insert = format!("INSERT INTO syncs ({SYNC_COLUMNS}) {INSERT_CANCELLED}");
    on_pool!(db, pool => {
        let mut tx = pool.begin_with(db.dialect.write_begin).await?;
        let moved = sqlx::query(SKIP_PLANNED)
            .bind(next)
            .bind(&job.sync.model_id)
            .bind(job.run_after)
            .execute(&mut *tx)
            .await?;
        if moved.rows_affected() == 1 {
            sqlx::query(&insert)
                .bind(&job.sync.id)
                .bind(job.org_id.as_str())
                .bind(&job.connection_id)
                .bind(&job.sync.model_id)
                .bind(&job.model_name)
                .bind(status_str(SyncStatus::Cancelled))
                .bind(&job.sync.entity_id)
                .bind(job.sync.is_initial_sync)
                .bind(sqlx::types::Json(serde_json::json!({})))
                .bind(job.run_after)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// The due models as [`DueRow`]s: `$1` now, `$2` limit; the dialect's schedule lock follows.
const DUE: &str = "SELECT m.id, m.name, c.id AS c_id, c.org_id, c.company, m.sync_frequency_secs, \
    m.next_sync_at, m.full_sync_frequency_secs, m.next_full_sync_at, \
    (m.is_read_enabled AND c.health_status = 'healthy' AND NOT c.is_sync_disabled \
     AND NOT c.is_authentication_pending AND NOT c.is_running_setup \
     AND c.company IS NOT NULL) AS eligible, \
    (SELECT s.timerange_end FROM syncs s WHERE s.model_id = m.id \
     AND s.status = 'complete' ORDER BY s.id DESC LIMIT 1) AS synced_until \
    FROM models m JOIN connections c ON c.id = m.connection_id \
    WHERE m.next_sync_at IS NOT NULL AND m.next_sync_at <= $1 \
    ORDER BY m.next_sync_at LIMIT $2";

/// A sync to queue: organization, connection, what, and its id (the planned sync's).
type Want = (String, String, NewSync, String);

/// The syncs to queue for the due models that can sync, in model id order: two transactions
/// inserting for the same models then wait for each other in the same order (no deadlock).
fn wants(due: &[DueRow], now: DateTime<Utc>, overlap: chrono::Duration) -> Vec<Want> {
    let mut wants: Vec<Want> = due
        .iter()
        .filter(|d| d.eligible)
        .map(|d| {
            let since = if d.full_pass_due(now) {
                None
            } else {
                d.synced_until
            };
            let want = NewSync::queued(
                &d.model_id,
                &d.model_name,
                d.company.clone(),
                since,
                now,
                overlap,
                None,
                false,
            );
            // The planned sync becomes this one: same id.
            let id = ledgerlink_domain::planned_sync_id(d.next_sync_at, model_seed(&d.model_id));
            (d.org_id.clone(), d.connection_id.clone(), want, id)
        })
        .collect();
    wants.sort_by(|a, b| a.2.model_id.cmp(&b.2.model_id));
    wants
}

/// Queues the syncs (each under its planned sync's id) unless their model has one active (the
/// partial unique index keeps one active sync per model): the number queued and their models.
async fn queue(
    db: &Db,
    tx: &mut Tx,
    wants: &[Want],
    now: DateTime<Utc>,
) -> Result<(usize, HashSet<String>)> {
    let (mut count, mut queued) = (0, HashSet::new());
    for chunk in wants.chunks(CHUNK) {
        db.count(1);
        let done: Vec<(String,)> = on_tx!(tx, conn, DB => {
            let mut insert =
                sqlx::QueryBuilder::<DB>::new(format!("INSERT INTO syncs ({SYNC_COLUMNS}) "));
            insert.push_values(chunk, |mut b, (org, connection, w, id)| {
                b.push_bind(id.clone())
                    .push_bind(org.clone())
                    .push_bind(connection.clone())
                    .push_bind(w.model_id.clone())
                    .push_bind(w.model_name.clone())
                    .push_bind(status_str(w.status))
                    .push("0")
                    .push_bind(w.batch_id.map(|b| b.to_string()))
                    .push_bind(w.entity_id.clone())
                    .push("NULL")
                    .push_bind(w.is_initial_sync)
                    .push_bind(w.is_one_off)
                    .push_bind(sqlx::types::Json(serde_json::json!({})))
                    .push_bind(w.timerange_start)
                    .push_bind(w.timerange_end)
                    .push_bind(now)
                    .push("NULL, NULL, false, NULL, NULL")
                    .push_bind(now)
                    .push_bind(now);
            });
            insert.push(" ON CONFLICT DO NOTHING RETURNING model_id");
            let insert = insert.build_query_as().persistent(keep_prepared(chunk.len()));
            insert.fetch_all(&mut *conn).await?
        });
        count += done.len();
        queued.extend(done.into_iter().map(|(m,)| m));
    }
    Ok((count, queued))
}

/// Moves each due model's next sync on: by its frequency, or by at most `recheck` when its
/// connection cannot sync; and its next full pass, unless one was due and could not be queued.
async fn move_on(
    db: &Db,
    tx: &mut Tx,
    due: &[DueRow],
    queued: &HashSet<String>,
    now: DateTime<Utc>,
    recheck: chrono::Duration,
) -> Result<()> {
    for chunk in due.chunks(CHUNK) {
        db.count(1);
        on_tx!(tx, conn, DB => {
            let mut update = sqlx::QueryBuilder::<DB>::new("WITH v (id, at, full_at) AS (");
            update.push_values(chunk, |mut b, d| {
                let every = chrono::Duration::seconds(d.frequency_secs.max(60));
                let next = if d.eligible { every } else { every.min(recheck) };
                // A full pass that could not be queued now (the connection cannot sync, or the
                // model has a sync running) stays due.
                let full_at = if queued.contains(&d.model_id) || !d.full_pass_due(now) {
                    d.next_full_pass(now)
                } else {
                    d.next_full_sync_at.unwrap_or_else(|| d.next_full_pass(now))
                };
                b.push_bind(d.model_id.clone())
                    .push_bind(now + next)
                    .push_bind(full_at);
            });
            update.push(
                ") UPDATE models SET next_sync_at = v.at, next_full_sync_at = v.full_at \
                 FROM v WHERE models.id = v.id",
            );
            let update = update.build().persistent(keep_prepared(chunk.len()));
            update.execute(&mut *conn).await?;
        });
    }
    Ok(())
}

#[async_trait]
impl<S: Backed> ScheduleStore for S {
    async fn schedule_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        overlap: chrono::Duration,
        recheck: chrono::Duration,
    ) -> Result<ScheduleTick> {
        let db = self.db();
        db.count(1);
        let sql = format!("{DUE}{}", db.dialect.schedule_lock);
        let mut tx = db.begin_write().await?;
        let due: Vec<DueRow> = on_tx!(&mut tx, conn => {
            sqlx::query_as(&sql)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?
        });
        let mut tick = ScheduleTick {
            due: due.len(),
            ..Default::default()
        };
        if due.is_empty() {
            tx.commit().await?;
            return Ok(tick);
        }
        let wants = wants(&due, now, overlap);
        tick.deferred = due.len() - wants.len();
        let (count, queued) = queue(db, &mut tx, &wants, now).await?;
        tick.queued = count;
        tick.already_active = wants.len() - count;
        move_on(db, &mut tx, &due, &queued, now, recheck).await?;
        tx.commit().await?;
        Ok(tick)
    }
}
