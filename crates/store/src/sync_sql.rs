//! [`crate::SyncStore`] for both backends. The SQL is shared; only claiming differs (Postgres skips
//! rows other workers hold locked).

use chrono::{DateTime, Utc};
use ledgerlink_domain::{OrgId, Sync, SyncStatus};
use serde_json::Value;
use sqlx::types::Json;

use crate::StoreError;
use crate::syncs::SyncJob;

pub(crate) const SYNC_COLUMNS: &str = "id, org_id, connection_id, model_id, model_name, status, \
    attempt, batch_id, entity_id, error, is_initial_sync, is_one_off, pagination_state, \
    timerange_start, timerange_end, run_after, locked_by, locked_until, cancel_requested, \
    started_at, completed_at, created_at, modified_at";

/// Statuses in which a model's sync counts as active (at most one per model).
pub(crate) const ACTIVE: &str = "('queued', 'running', 'pending_retry')";

/// Most rows in one multi-row statement (SQLite allows 32,766 bound values).
pub(crate) const CHUNK: usize = 1_000;

/// A model whose `next_sync_at` has come, as the scheduler reads it.
#[derive(sqlx::FromRow)]
pub(crate) struct DueRow {
    #[sqlx(rename = "id")]
    pub model_id: String,
    #[sqlx(rename = "name")]
    pub model_name: String,
    #[sqlx(rename = "c_id")]
    pub connection_id: String,
    pub org_id: String,
    pub company: Option<String>,
    #[sqlx(rename = "sync_frequency_secs")]
    pub frequency_secs: i64,
    /// When this sync was planned for (its id derives from it).
    pub next_sync_at: DateTime<Utc>,
    /// The connection can sync this model now.
    pub eligible: bool,
    /// The end of the window of the model's last complete sync.
    pub synced_until: Option<DateTime<Utc>>,
    /// How often the model runs a full pass (which finds deletions).
    pub full_sync_frequency_secs: i64,
    /// When its next full pass is due (`None`: not planned yet).
    pub next_full_sync_at: Option<DateTime<Utc>>,
}

impl DueRow {
    /// Whether this tick's sync is a scheduled full pass.
    pub(crate) fn full_pass_due(&self, now: DateTime<Utc>) -> bool {
        self.next_full_sync_at.is_some_and(|t| t <= now)
    }

    /// When the full pass after this tick is due: a frequency on from now once one ran; for a model
    /// that has none planned yet (its first sync is a full pass anyway), one to two periods on,
    /// spread by the model's id so that many connections set up together do not all run their
    /// later full passes at the same moment.
    pub(crate) fn next_full_pass(&self, now: DateTime<Utc>) -> DateTime<Utc> {
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
pub(crate) fn model_seed(model_id: &str) -> u128 {
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
    pub(crate) fn sync_id(&self) -> String {
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

#[derive(sqlx::FromRow)]
pub(crate) struct RecordRow {
    id: String,
    remote_id: String,
    seq: i64,
    data: Json<Value>,
    raw: Json<Value>,
    is_deleted: bool,
    remote_deleted_at: Option<DateTime<Utc>>,
    remote_modified_at: Option<DateTime<Utc>>,
    modified_at: DateTime<Utc>,
}

impl RecordRow {
    pub(crate) fn into_out(self, include_raw: bool) -> crate::RecordOut {
        crate::RecordOut {
            id: self.id,
            remote_id: self.remote_id,
            seq: self.seq,
            data: self.data.0,
            raw: include_raw.then_some(self.raw.0),
            is_deleted: self.is_deleted,
            remote_deleted_at: self.remote_deleted_at,
            remote_modified_at: self.remote_modified_at,
            modified_at: self.modified_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SyncRow {
    id: String,
    org_id: String,
    connection_id: String,
    model_id: String,
    model_name: String,
    status: String,
    attempt: i32,
    batch_id: Option<String>,
    entity_id: Option<String>,
    error: Option<String>,
    is_initial_sync: bool,
    is_one_off: bool,
    pagination_state: Json<Value>,
    timerange_start: Option<DateTime<Utc>>,
    timerange_end: Option<DateTime<Utc>>,
    run_after: DateTime<Utc>,
    locked_by: Option<String>,
    locked_until: Option<DateTime<Utc>>,
    cancel_requested: bool,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    modified_at: DateTime<Utc>,
}

impl SyncRow {
    pub(crate) fn into_job(self) -> Result<SyncJob, StoreError> {
        let status = parse_status(&self.status)?;
        let progress = ledgerlink_domain::SyncProgress::from_state(&self.pagination_state.0);
        Ok(SyncJob {
            sync: Sync {
                created_at: self.created_at,
                modified_at: Some(self.modified_at),
                id: self.id,
                status,
                attempt: self.attempt,
                batch_id: self.batch_id.and_then(|b| b.parse().ok()),
                completed_at: self.completed_at,
                entity_id: self.entity_id,
                error: self.error,
                file_id: None,
                is_initial_sync: self.is_initial_sync,
                is_one_off: self.is_one_off,
                model_id: self.model_id,
                pagination_state: self.pagination_state.0,
                progress,
                started_at: self.started_at,
                timerange_end: self.timerange_end,
                timerange_start: self.timerange_start,
                object: "integration_sync",
            },
            org_id: OrgId(self.org_id),
            connection_id: self.connection_id,
            model_name: self.model_name,
            run_after: self.run_after,
            locked_by: self.locked_by,
            locked_until: self.locked_until,
            cancel_requested: self.cancel_requested,
        })
    }
}

pub(crate) fn parse_status(s: &str) -> Result<SyncStatus, StoreError> {
    serde_json::from_value(Value::String(s.to_owned()))
        .map_err(|_| StoreError::Corrupt(format!("unknown sync status {s:?}")))
}

pub(crate) fn status_str(s: SyncStatus) -> String {
    match serde_json::to_value(s) {
        Ok(Value::String(v)) => v,
        _ => unreachable!("SyncStatus serializes as a string"),
    }
}

/// Implements [`crate::SyncStore`]; `$claim_lock` is appended to the claim's inner SELECT,
/// `$schedule_lock` to the scheduler's SELECT of due models, whose transaction starts with
/// `$schedule_begin` (SQLite takes the write lock at once: a read-then-write transaction would
/// otherwise fail when another writer commits in between).
macro_rules! impl_sync_store {
    ($store:ty, $db:ty, $claim_lock:literal, $schedule_begin:literal, $schedule_lock:literal) => {
        #[async_trait::async_trait]
        impl $crate::SyncStore for $store {
            async fn enqueue_syncs(
                &self,
                org: &ledgerlink_domain::OrgId,
                connection_id: &str,
                wants: &[$crate::NewSync],
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Vec<ledgerlink_domain::Sync>> {
                use $crate::sync_sql::{ACTIVE, SYNC_COLUMNS, SyncRow, status_str};
                self.count(2 + 2 * wants.len() as u64);
                let mut tx = self.pool.begin_with(Self::WRITE_BEGIN).await?;
                // Only models of this organization's connection: the sync row carries `org` and
                // takes the model's one active slot, so another organization's model must not get one.
                let owned: Vec<String> = sqlx::query_scalar(
                    "SELECT m.id FROM models m JOIN connections c ON c.id = m.connection_id \
                     WHERE c.org_id = $1 AND c.id = $2",
                )
                .bind(org.as_str())
                .bind(connection_id)
                .fetch_all(&mut *tx)
                .await?;
                let mut out = Vec::with_capacity(wants.len());
                for w in wants.iter().filter(|w| owned.contains(&w.model_id)) {
                    // Insert unless the model has an active sync (the partial unique index
                    // `syncs_one_active`); then return that one. On Postgres a concurrent request's
                    // uncommitted insert makes this one wait and then do nothing, so the SELECT
                    // after it sees the winner — never a unique violation. If the active sync ended
                    // in between, try again.
                    let mut found = None;
                    for _ in 0..3 {
                        let id = ledgerlink_domain::new_id("sync");
                        let sql = format!(
                            "INSERT INTO syncs ({SYNC_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, 0, \
                             $7, $8, NULL, $9, $10, $11, $12, $13, $14, NULL, NULL, false, NULL, \
                             NULL, $14, $14) ON CONFLICT DO NOTHING RETURNING {SYNC_COLUMNS}"
                        );
                        let inserted: Option<SyncRow> = sqlx::query_as(&sql)
                            .bind(&id)
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
                        let sql = format!(
                            "SELECT {SYNC_COLUMNS} FROM syncs WHERE model_id = $1 AND org_id = $2 \
                             AND status IN {ACTIVE} ORDER BY id DESC LIMIT 1"
                        );
                        found = sqlx::query_as(&sql)
                            .bind(&w.model_id)
                            .bind(org.as_str())
                            .fetch_optional(&mut *tx)
                            .await?;
                        if found.is_some() {
                            break;
                        }
                    }
                    let row = found.ok_or_else(|| {
                        $crate::StoreError::Unavailable(
                            "the model's syncs kept changing; try again".into(),
                        )
                    })?;
                    out.push(row.into_job()?.sync);
                }
                tx.commit().await?;
                Ok(out)
            }

            async fn get_sync(
                &self,
                org: &ledgerlink_domain::OrgId,
                id: &str,
            ) -> $crate::Result<Option<$crate::SyncJob>> {
                use $crate::sync_sql::{SYNC_COLUMNS, SyncRow};
                self.count(1);
                let sql = format!("SELECT {SYNC_COLUMNS} FROM syncs WHERE org_id = $1 AND id = $2");
                let row: Option<SyncRow> = sqlx::query_as(&sql)
                    .bind(org.as_str())
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                if let Some(row) = row {
                    return row.into_job().map(Some);
                }
                Ok(self.planned_sync(org, id).await?.map(|p| p.into_job()))
            }

            async fn list_syncs(
                &self,
                org: &ledgerlink_domain::OrgId,
                connection_id: &str,
                model: Option<&str>,
                status: Option<ledgerlink_domain::SyncStatus>,
                limit: u32,
            ) -> $crate::Result<Vec<ledgerlink_domain::Sync>> {
                use $crate::sync_sql::{ELIGIBLE, PLANNED_COLUMNS, PlannedRow, SYNC_COLUMNS, SyncRow, status_str};
                let mut out = Vec::new();
                if status != Some(ledgerlink_domain::SyncStatus::Scheduled) {
                    self.count(1);
                    let sql = format!(
                        "SELECT {SYNC_COLUMNS} FROM syncs WHERE org_id = $1 AND connection_id = $2 \
                         AND (CAST($3 AS TEXT) IS NULL OR model_name = $3) \
                         AND (CAST($4 AS TEXT) IS NULL OR status = $4) ORDER BY id DESC LIMIT $5"
                    );
                    let rows: Vec<SyncRow> = sqlx::query_as(&sql)
                        .bind(org.as_str())
                        .bind(connection_id)
                        .bind(model)
                        .bind(status.map(status_str))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                    for r in rows {
                        out.push(r.into_job()?.sync);
                    }
                }
                if matches!(status, None | Some(ledgerlink_domain::SyncStatus::Scheduled)) {
                    // Each model's next scheduled sync (none while the connection cannot sync).
                    self.count(1);
                    let sql = format!(
                        "SELECT {PLANNED_COLUMNS} FROM models m JOIN connections c \
                         ON c.id = m.connection_id WHERE c.org_id = $1 AND c.id = $2 \
                         AND (CAST($3 AS TEXT) IS NULL OR m.name = $3) \
                         AND m.next_sync_at IS NOT NULL AND {ELIGIBLE}"
                    );
                    let planned: Vec<PlannedRow> = sqlx::query_as(&sql)
                        .bind(org.as_str())
                        .bind(connection_id)
                        .bind(model)
                        .fetch_all(&self.pool)
                        .await?;
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
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Option<$crate::SyncJob>> {
                use $crate::sync_sql::{SYNC_COLUMNS, SyncRow};
                // First a sync whose worker's lease ran out (it crashed or hung: resume it), then
                // the longest-waiting runnable one. Each condition matches a partial index in its
                // order, so a claim reads one index entry however long the queue is. The outer
                // WHERE repeats the condition: a row another worker claimed meanwhile no longer
                // matches when this UPDATE gets to it.
                for (claimable, order) in [
                    ("status = 'running' AND locked_until < $3", "locked_until"),
                    (
                        "status IN ('queued', 'pending_retry') AND run_after <= $3",
                        "run_after, id",
                    ),
                ] {
                    self.count(1);
                    let sql = format!(
                        "UPDATE syncs SET status = 'running', locked_by = $1, locked_until = $2, \
                         attempt = attempt + 1, started_at = $3, modified_at = $3, error = NULL \
                         WHERE id = (SELECT id FROM syncs WHERE {claimable} \
                         ORDER BY {order} LIMIT 1{}) AND {claimable} \
                         RETURNING {SYNC_COLUMNS}",
                        $claim_lock
                    );
                    let row: Option<SyncRow> = sqlx::query_as(&sql)
                        .bind(worker)
                        .bind(lease_until)
                        .bind(now)
                        .fetch_optional(&self.pool)
                        .await?;
                    if let Some(row) = row {
                        return row.into_job().map(Some);
                    }
                }
                Ok(None)
            }

            async fn save_sync_page(
                &self,
                job: &$crate::SyncJob,
                worker: &str,
                page: $crate::PageWrite<'_>,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<$crate::PageOutcome> {
                use $crate::sync_sql::CHUNK;
                let records = page.records;
                let pagination_state = page.pagination_state;
                self.count(4 + 3 * (records.len() / CHUNK + 1) as u64);
                let mut tx = self.pool.begin_with(Self::WRITE_BEGIN).await?;
                let cancel: Option<bool> = sqlx::query_scalar(
                    "UPDATE syncs SET pagination_state = $1, locked_until = $2, modified_at = $3 \
                     WHERE id = $4 AND locked_by = $5 AND status = 'running' \
                     RETURNING cancel_requested",
                )
                .bind(sqlx::types::Json(pagination_state))
                .bind(lease_until)
                .bind(now)
                .bind(&job.sync.id)
                .bind(worker)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(cancel_requested) = cancel else {
                    return Err($crate::StoreError::NotHeld);
                };
                // The last occurrence of an id in a page wins.
                let mut latest: std::collections::HashMap<&str, &$crate::RecordIn> =
                    std::collections::HashMap::with_capacity(records.len());
                for r in records {
                    latest.insert(r.remote_id.as_str(), r);
                }
                let mut stored: std::collections::HashMap<String, (String, bool)> =
                    std::collections::HashMap::with_capacity(latest.len());
                let ids: Vec<&str> = latest.keys().copied().collect();
                for chunk in ids.chunks(CHUNK) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "SELECT remote_id, hash, is_deleted FROM records WHERE connection_id = ",
                    );
                    q.push_bind(&job.connection_id)
                        .push(" AND model = ")
                        .push_bind(&job.model_name)
                        .push(" AND remote_id IN (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    q.push(")");
                    let rows: Vec<(String, String, bool)> =
                        q.build_query_as().fetch_all(&mut *tx).await?;
                    for (id, hash, deleted) in rows {
                        stored.insert(id, (hash, deleted));
                    }
                }
                let mut changed: Vec<&$crate::RecordIn> = latest
                    .values()
                    .copied()
                    .filter(|r| match stored.get(&r.remote_id) {
                        Some((hash, deleted)) => *deleted || hash != &r.hash,
                        None => true,
                    })
                    .collect();
                // Feed order follows the page's order.
                let order: std::collections::HashMap<&str, usize> = records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (r.remote_id.as_str(), i))
                    .collect();
                changed.sort_by_key(|r| order[r.remote_id.as_str()]);
                let changed_ids: std::collections::HashSet<&str> =
                    changed.iter().map(|c| c.remote_id.as_str()).collect();
                let unchanged: Vec<&str> = latest
                    .keys()
                    .copied()
                    .filter(|id| !changed_ids.contains(id))
                    .collect();
                if !changed.is_empty() {
                    let end: i64 = sqlx::query_scalar(
                        "UPDATE connections SET record_seq = record_seq + $1 WHERE id = $2 \
                         RETURNING record_seq",
                    )
                    .bind(changed.len() as i64)
                    .bind(&job.connection_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    let first = end - changed.len() as i64 + 1;
                    for (n, chunk) in changed.chunks(CHUNK).enumerate() {
                        let mut q = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO records (id, connection_id, model, remote_id, seq, data, \
                             raw, hash, is_deleted, remote_modified_at, seen_sync_id, modified_at) ",
                        );
                        q.push_values(chunk.iter().enumerate(), |mut row, (i, r)| {
                            row.push_bind(ledgerlink_domain::new_id("rec"))
                                .push_bind(&job.connection_id)
                                .push_bind(&job.model_name)
                                .push_bind(&r.remote_id)
                                .push_bind(first + (n * CHUNK + i) as i64)
                                .push_bind(sqlx::types::Json(&r.data))
                                .push_bind(sqlx::types::Json(&r.raw))
                                .push_bind(&r.hash)
                                .push_bind(false)
                                .push_bind(r.remote_modified_at)
                                .push_bind(&job.sync.id)
                                .push_bind(now);
                        });
                        q.push(
                            " ON CONFLICT (connection_id, model, remote_id) DO UPDATE SET \
                             seq = excluded.seq, data = excluded.data, raw = excluded.raw, \
                             hash = excluded.hash, is_deleted = false, remote_deleted_at = NULL, \
                             remote_modified_at = excluded.remote_modified_at, \
                             seen_sync_id = excluded.seen_sync_id, modified_at = excluded.modified_at",
                        );
                        q.build().execute(&mut *tx).await?;
                    }
                }
                for chunk in unchanged.chunks(CHUNK) {
                    let mut q = sqlx::QueryBuilder::<$db>::new("UPDATE records SET seen_sync_id = ");
                    q.push_bind(&job.sync.id)
                        .push(" WHERE connection_id = ")
                        .push_bind(&job.connection_id)
                        .push(" AND model = ")
                        .push_bind(&job.model_name)
                        .push(" AND remote_id IN (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    q.push(")");
                    q.build().execute(&mut *tx).await?;
                }
                // Skips: forget those that are over, remember new ones (and keep the stored
                // versions of skipped records from being taken for deleted by this sync).
                if !page.forget_skips.is_empty() {
                    self.count(1);
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "DELETE FROM record_skips WHERE connection_id = ",
                    );
                    q.push_bind(&job.connection_id)
                        .push(" AND model = ")
                        .push_bind(&job.model_name)
                        .push(" AND remote_id IN (");
                    let mut list = q.separated(", ");
                    for id in page.forget_skips {
                        list.push_bind(id);
                    }
                    q.push(")");
                    q.build().execute(&mut *tx).await?;
                }
                for skip in page.skipped {
                    let Some(remote_id) = skip.remote_id.as_deref() else {
                        continue;
                    };
                    self.count(2);
                    sqlx::query(
                        "INSERT INTO record_skips (connection_id, model, remote_id, reason, \
                         sync_id, skipped_at) VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (connection_id, model, remote_id) \
                         DO UPDATE SET reason = excluded.reason, sync_id = excluded.sync_id, \
                         skipped_at = excluded.skipped_at",
                    )
                    .bind(&job.connection_id)
                    .bind(&job.model_name)
                    .bind(remote_id)
                    .bind(&skip.reason)
                    .bind(&job.sync.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE records SET seen_sync_id = $1 \
                         WHERE connection_id = $2 AND model = $3 AND remote_id = $4",
                    )
                    .bind(&job.sync.id)
                    .bind(&job.connection_id)
                    .bind(&job.model_name)
                    .bind(remote_id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok($crate::PageOutcome {
                    written: changed.len() as u64,
                    unchanged: unchanged.len() as u64,
                    cancel_requested,
                })
            }

            async fn finish_sync(
                &self,
                job: &$crate::SyncJob,
                worker: &str,
                end: &$crate::SyncEnd,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<bool> {
                self.count(3);
                let mut tx = self.pool.begin_with(Self::WRITE_BEGIN).await?;
                let (status, error, run_after, completed) = match end {
                    $crate::SyncEnd::Complete { .. } => ("complete", None, None, Some(now)),
                    $crate::SyncEnd::Retry { error, run_after } => {
                        ("pending_retry", Some(error.clone()), Some(*run_after), None)
                    }
                    $crate::SyncEnd::Failed { error } => ("failed", Some(error.clone()), None, Some(now)),
                    $crate::SyncEnd::Deferred { error, run_after } => {
                        ("pending_retry", Some(error.clone()), Some(*run_after), None)
                    }
                    $crate::SyncEnd::Cancelled => ("cancelled", None, None, Some(now)),
                    $crate::SyncEnd::Released => ("queued", None, Some(now), None),
                };
                // An attempt our own database cut short does not count.
                let uncount = i32::from(matches!(end, $crate::SyncEnd::Deferred { .. }));
                let done = sqlx::query(
                    "UPDATE syncs SET status = $1, error = $2, run_after = COALESCE($3, run_after), \
                     completed_at = $4, locked_by = NULL, locked_until = NULL, modified_at = $5, \
                     attempt = attempt - $8 \
                     WHERE id = $6 AND locked_by = $7 AND status = 'running'",
                )
                .bind(status)
                .bind(error)
                .bind(run_after)
                .bind(completed)
                .bind(now)
                .bind(&job.sync.id)
                .bind(worker)
                .bind(uncount)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                if let $crate::SyncEnd::Complete { reconcile: true } = end {
                    let gone: Vec<String> = sqlx::query_scalar(
                        "SELECT remote_id FROM records WHERE connection_id = $1 AND model = $2 \
                         AND NOT is_deleted AND (seen_sync_id IS NULL OR seen_sync_id <> $3) \
                         ORDER BY remote_id",
                    )
                    .bind(&job.connection_id)
                    .bind(&job.model_name)
                    .bind(&job.sync.id)
                    .fetch_all(&mut *tx)
                    .await?;
                    if !gone.is_empty() {
                        let end: i64 = sqlx::query_scalar(
                            "UPDATE connections SET record_seq = record_seq + $1 WHERE id = $2 \
                             RETURNING record_seq",
                        )
                        .bind(gone.len() as i64)
                        .bind(&job.connection_id)
                        .fetch_one(&mut *tx)
                        .await?;
                        let first = end - gone.len() as i64 + 1;
                        for (i, id) in gone.iter().enumerate() {
                            sqlx::query(
                                "UPDATE records SET is_deleted = true, remote_deleted_at = $2, \
                                 seq = $1, modified_at = $2 \
                                 WHERE connection_id = $3 AND model = $4 AND remote_id = $5",
                            )
                            .bind(first + i as i64)
                            .bind(now)
                            .bind(&job.connection_id)
                            .bind(&job.model_name)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn cancel_sync(
                &self,
                org: &ledgerlink_domain::OrgId,
                id: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Option<ledgerlink_domain::Sync>> {
                self.count(2);
                let done = sqlx::query(
                    "UPDATE syncs SET status = 'cancelled', completed_at = $1, modified_at = $1 \
                     WHERE org_id = $2 AND id = $3 AND status IN ('scheduled', 'queued', 'pending_retry')",
                )
                .bind(now)
                .bind(org.as_str())
                .bind(id)
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 0 {
                    sqlx::query(
                        "UPDATE syncs SET cancel_requested = true, modified_at = $1 \
                         WHERE org_id = $2 AND id = $3 AND status = 'running'",
                    )
                    .bind(now)
                    .bind(org.as_str())
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                }
                if let Some(planned) = self.planned_sync(org, id).await? {
                    // A planned sync cancelled: that run is skipped (the model's next one is planned
                    // a frequency later) and the cancelled sync is kept in the history.
                    self.cancel_planned(planned, now).await?;
                }
                Ok($crate::SyncStore::get_sync(self, org, id).await?.map(|j| j.sync))
            }

            async fn stored_raw(
                &self,
                connection_id: &str,
                model: &str,
                remote_ids: &[&str],
            ) -> $crate::Result<std::collections::HashMap<String, serde_json::Value>> {
                use $crate::sync_sql::CHUNK;
                let mut out = std::collections::HashMap::with_capacity(remote_ids.len());
                for chunk in remote_ids.chunks(CHUNK) {
                    self.count(1);
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "SELECT remote_id, raw FROM records WHERE connection_id = ",
                    );
                    q.push_bind(connection_id)
                        .push(" AND model = ")
                        .push_bind(model)
                        .push(" AND NOT is_deleted AND remote_id IN (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    q.push(")");
                    let rows: Vec<(String, sqlx::types::Json<serde_json::Value>)> =
                        q.build_query_as().fetch_all(&self.pool).await?;
                    out.extend(rows.into_iter().map(|(id, raw)| (id, raw.0)));
                }
                Ok(out)
            }

            async fn skipped_records(
                &self,
                connection_id: &str,
                model: &str,
                limit: u32,
            ) -> $crate::Result<Vec<String>> {
                self.count(1);
                Ok(sqlx::query_scalar(
                    "SELECT remote_id FROM record_skips WHERE connection_id = $1 AND model = $2 \
                     ORDER BY skipped_at, remote_id LIMIT $3",
                )
                .bind(connection_id)
                .bind(model)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?)
            }

            async fn renew_lease(
                &self,
                job: &$crate::SyncJob,
                worker: &str,
                lease_until: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<bool> {
                self.count(1);
                let done = sqlx::query(
                    "UPDATE syncs SET locked_until = $1 \
                     WHERE id = $2 AND locked_by = $3 AND status = 'running'",
                )
                .bind(lease_until)
                .bind(&job.sync.id)
                .bind(worker)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn synced_until(
                &self,
                model_id: &str,
            ) -> $crate::Result<Option<chrono::DateTime<chrono::Utc>>> {
                self.count(1);
                let row: Option<(Option<chrono::DateTime<chrono::Utc>>,)> = sqlx::query_as(
                    "SELECT timerange_end FROM syncs WHERE model_id = $1 AND status = 'complete' \
                     ORDER BY id DESC LIMIT 1",
                )
                .bind(model_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.and_then(|(t,)| t))
            }

            async fn list_records(
                &self,
                org: &ledgerlink_domain::OrgId,
                connection_id: &str,
                model: &str,
                q: &$crate::RecordQuery,
            ) -> $crate::Result<Vec<$crate::RecordOut>> {
                self.count(1);
                let rows: Vec<$crate::sync_sql::RecordRow> = sqlx::query_as(
                    "SELECT r.id, r.remote_id, r.seq, r.data, r.raw, r.is_deleted, r.remote_deleted_at, \
                     r.remote_modified_at, r.modified_at \
                     FROM records r JOIN connections c ON c.id = r.connection_id \
                     WHERE c.org_id = $1 AND r.connection_id = $2 AND r.model = $3 AND r.seq > $4 \
                     AND ($5 OR NOT r.is_deleted) \
                     AND ($6 IS NULL OR r.remote_modified_at > $6) \
                     ORDER BY r.seq LIMIT $7",
                )
                .bind(org.as_str())
                .bind(connection_id)
                .bind(model)
                .bind(q.after_seq)
                .bind(q.include_deleted)
                .bind(q.modified_after)
                .bind(i64::from(q.limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|r| r.into_out(q.include_raw)).collect())
            }

            async fn schedule_due(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: u32,
                overlap: chrono::Duration,
                recheck: chrono::Duration,
            ) -> $crate::Result<$crate::ScheduleTick> {
                use $crate::sync_sql::{CHUNK, DueRow, status_str};
                self.count(1);
                let mut tx = self.pool.begin_with($schedule_begin).await?;
                let sql = format!(
                    "SELECT m.id, m.name, c.id AS c_id, c.org_id, c.company, m.sync_frequency_secs, \
                     m.next_sync_at, m.full_sync_frequency_secs, m.next_full_sync_at, \
                     (m.is_read_enabled AND c.health_status = 'healthy' AND NOT c.is_sync_disabled \
                      AND NOT c.is_authentication_pending AND NOT c.is_running_setup \
                      AND c.company IS NOT NULL) AS eligible, \
                     (SELECT s.timerange_end FROM syncs s WHERE s.model_id = m.id \
                      AND s.status = 'complete' ORDER BY s.id DESC LIMIT 1) AS synced_until \
                     FROM models m JOIN connections c ON c.id = m.connection_id \
                     WHERE m.next_sync_at IS NOT NULL AND m.next_sync_at <= $1 \
                     ORDER BY m.next_sync_at LIMIT $2{}",
                    $schedule_lock
                );
                let due: Vec<DueRow> = sqlx::query_as(&sql)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                let mut tick = $crate::ScheduleTick {
                    due: due.len(),
                    ..Default::default()
                };
                if due.is_empty() {
                    tx.commit().await?;
                    return Ok(tick);
                }
                let wants: Vec<(String, String, $crate::NewSync, String)> = due
                    .iter()
                    .filter(|d| d.eligible)
                    .map(|d| {
                        let since = if d.full_pass_due(now) { None } else { d.synced_until };
                        let want = $crate::NewSync::queued(
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
                        let id = ledgerlink_domain::planned_sync_id(
                            d.next_sync_at,
                            $crate::sync_sql::model_seed(&d.model_id),
                        );
                        (d.org_id.clone(), d.connection_id.clone(), want, id)
                    })
                    .collect();
                tick.deferred = due.len() - wants.len();
                // Models in id order, as requested syncs are queued: two transactions inserting for
                // the same models then wait for each other in the same order (no deadlock).
                let mut wants = wants;
                wants.sort_by(|a, b| a.2.model_id.cmp(&b.2.model_id));
                let mut queued = std::collections::HashSet::new();
                for chunk in wants.chunks(CHUNK) {
                    self.count(1);
                    let mut insert = sqlx::QueryBuilder::<$db>::new(format!(
                        "INSERT INTO syncs ({}) ",
                        $crate::sync_sql::SYNC_COLUMNS
                    ));
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
                    // The partial unique index keeps one active sync per model.
                    insert.push(" ON CONFLICT DO NOTHING RETURNING model_id");
                    let done: Vec<(String,)> = insert.build_query_as().fetch_all(&mut *tx).await?;
                    tick.queued += done.len();
                    queued.extend(done.into_iter().map(|(m,)| m));
                }
                tick.already_active = wants.len() - tick.queued;
                for chunk in due.chunks(CHUNK) {
                    self.count(1);
                    let mut update =
                        sqlx::QueryBuilder::<$db>::new("WITH v (id, at, full_at) AS (");
                    update.push_values(chunk, |mut b, d| {
                        let every = chrono::Duration::seconds(d.frequency_secs.max(60));
                        let next = if d.eligible { every } else { every.min(recheck) };
                        // A full pass that could not be queued now (the connection cannot sync, or
                        // the model has a sync running) stays due.
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
                    update.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(tick)
            }
        }
    };
}

pub(crate) use impl_sync_store;

/// The planned-sync helpers both backends share (an inherent `impl`, next to the trait's).
macro_rules! impl_planned_syncs {
    ($store:ty) => {
        impl $store {
            /// The planned (`scheduled`) sync with this id, if a model of the organization has one.
            async fn planned_sync(
                &self,
                org: &ledgerlink_domain::OrgId,
                id: &str,
            ) -> $crate::Result<Option<$crate::sync_sql::PlannedRow>> {
                use $crate::sync_sql::{ELIGIBLE, PLANNED_COLUMNS, PlannedRow};
                if !ledgerlink_domain::is_id("sync", id) {
                    return Ok(None);
                }
                let Some(at) = ledgerlink_domain::id_time(id) else {
                    return Ok(None);
                };
                self.count(1);
                let sql = format!(
                    "SELECT {PLANNED_COLUMNS} FROM models m JOIN connections c \
                     ON c.id = m.connection_id WHERE c.org_id = $1 \
                     AND m.next_sync_at >= $2 AND m.next_sync_at < $3 AND {ELIGIBLE}"
                );
                let candidates: Vec<PlannedRow> = sqlx::query_as(&sql)
                    .bind(org.as_str())
                    .bind(at)
                    .bind(at + chrono::Duration::milliseconds(1))
                    .fetch_all(&self.pool)
                    .await?;
                Ok(candidates.into_iter().find(|p| p.sync_id() == id))
            }

            async fn cancel_planned(
                &self,
                planned: $crate::sync_sql::PlannedRow,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<()> {
                use $crate::sync_sql::{SYNC_COLUMNS, status_str};
                let job = planned.into_job();
                let next = job.run_after
                    + chrono::Duration::seconds(
                        (job.run_after - job.sync.created_at).num_seconds().max(60),
                    );
                self.count(3);
                let mut tx = self.pool.begin_with(Self::WRITE_BEGIN).await?;
                let moved = sqlx::query(
                    "UPDATE models SET next_sync_at = $1 WHERE id = $2 AND next_sync_at = $3",
                )
                .bind(next)
                .bind(&job.sync.model_id)
                .bind(job.run_after)
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() == 1 {
                    let sql = format!(
                        "INSERT INTO syncs ({SYNC_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, 0, \
                         NULL, $7, NULL, $8, false, $9, NULL, $10, $10, NULL, NULL, false, NULL, \
                         $11, $11, $11) ON CONFLICT DO NOTHING"
                    );
                    sqlx::query(&sql)
                        .bind(&job.sync.id)
                        .bind(job.org_id.as_str())
                        .bind(&job.connection_id)
                        .bind(&job.sync.model_id)
                        .bind(&job.model_name)
                        .bind(status_str(ledgerlink_domain::SyncStatus::Cancelled))
                        .bind(&job.sync.entity_id)
                        .bind(job.sync.is_initial_sync)
                        .bind(sqlx::types::Json(serde_json::json!({})))
                        .bind(job.run_after)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_planned_syncs;
