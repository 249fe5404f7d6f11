//! Running syncs: requesting and scheduling them, claiming them with a lease, fetching pages within
//! the per-principal budget, writing each page and its resume state in one transaction, retrying,
//! and reconciling deletions after a completed full pass.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ledgerlink_connectors::business_central::mapping::{
    MappingContext, map_fetched, selected_fields,
};
use ledgerlink_connectors::{ConnectorError, ErrorKind, PageRequest, TimeWindow};
use ledgerlink_domain::{Connection, HealthStatus, OrgId, Sync, SyncStatus, now};
use ledgerlink_store::{NewSync, RecordIn, ScheduleTick, StoreError, SyncEnd, SyncJob};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::connections::{Engine, EngineError};

/// How often a due model whose connection cannot sync is looked at again.
pub const SCHEDULER_RECHECK: Duration = Duration::from_secs(5 * 60);

/// Due models queued per scheduler tick; a full tick is followed at once by another.
const SCHEDULER_BATCH: u32 = 1_000;

/// Pause between scheduler ticks that found less than a full batch.
const SCHEDULER_PERIOD: Duration = Duration::from_secs(5);

/// Page-level retries of a transient failure before the attempt ends.
const PAGE_TRIES: u32 = 4;

/// How one attempt of a sync ended.
enum Attempt {
    Done { full: bool },
    Cancelled,
    Released,
    LeaseLost,
    Failed(ConnectorError),
}

impl Engine {
    /// Queues a one-off sync of every read-enabled model (one shared `batch_id`); a model that already
    /// has a sync queued, running or waiting to retry gets that one back instead. `full_pass` forces
    /// full passes (which also detect deletions).
    pub async fn request_sync(
        &self,
        org: &OrgId,
        id: &str,
        full_pass: bool,
    ) -> Result<Vec<Sync>, EngineError> {
        let conn = self
            .store()
            .get_connection(org, id)
            .await?
            .ok_or(EngineError::NotFound)?;
        if conn.is_sync_disabled {
            return Err(EngineError::NotReady(
                "syncs are paused for this connection (is_sync_disabled)".into(),
            ));
        }
        if !conn.is_configured() || conn.health_status != HealthStatus::Healthy {
            return Err(EngineError::NotReady(format!(
                "the connection is not configured and healthy (health: {})",
                conn.health().status_code.as_str()
            )));
        }
        let batch = uuid::Uuid::new_v4();
        let mut wants = Vec::new();
        for m in conn.models.iter().filter(|m| m.is_read_enabled) {
            wants.push(
                self.new_sync(&conn, &m.id, &m.name, full_pass, Some(batch), true)
                    .await?,
            );
        }
        Ok(self.store().enqueue_syncs(org, id, &wants, now()).await?)
    }

    async fn new_sync(
        &self,
        conn: &Connection,
        model_id: &str,
        model_name: &str,
        full_pass: bool,
        batch_id: Option<uuid::Uuid>,
        one_off: bool,
    ) -> Result<NewSync, EngineError> {
        let since = if full_pass {
            None
        } else {
            self.store().synced_until(model_id).await?
        };
        Ok(NewSync::queued(
            model_id,
            model_name,
            conn.company.clone(),
            since,
            now(),
            self.sync_settings().overlap,
            batch_id,
            one_off,
        ))
    }

    /// One scheduler tick: queues the scheduled syncs that are due (at most `limit`) and moves each
    /// model's `next_sync_at` on. Models of connections that cannot sync now (unhealthy, paused,
    /// not configured) are looked at again after [`SCHEDULER_RECHECK`] (or their frequency, if
    /// shorter) rather than on every tick.
    pub async fn schedule_due(&self, limit: u32) -> Result<ScheduleTick, EngineError> {
        Ok(self
            .store()
            .schedule_due(
                now(),
                limit,
                self.sync_settings().overlap,
                chrono::Duration::from_std(SCHEDULER_RECHECK).unwrap_or(chrono::Duration::MAX),
            )
            .await?)
    }

    /// Claims one runnable sync and runs it to the end of this attempt. `None` when nothing is due.
    pub async fn run_next_sync(&self, worker: &str) -> Result<Option<SyncStatus>, EngineError> {
        let lease = self.sync_settings().lease;
        let Some(job) = self
            .store()
            .claim_sync(worker, now(), now() + lease)
            .await?
        else {
            return Ok(None);
        };
        let span = tracing::info_span!(
            "sync",
            sync_id = %job.sync.id,
            connection_id = %job.connection_id,
            model = %job.model_name,
            attempt = job.sync.attempt,
        );
        tracing::Instrument::instrument(self.run_claimed(job, worker), span).await
    }

    async fn run_claimed(
        &self,
        job: SyncJob,
        worker: &str,
    ) -> Result<Option<SyncStatus>, EngineError> {
        let outcome = self.attempt(&job, worker).await;
        let end = self.conclude(&job, outcome).await;
        let status = match &end {
            None => return Ok(Some(SyncStatus::Running)),
            Some(SyncEnd::Complete { .. }) => SyncStatus::Complete,
            Some(SyncEnd::Retry { .. }) => SyncStatus::PendingRetry,
            Some(SyncEnd::Failed { .. }) => SyncStatus::Failed,
            Some(SyncEnd::Cancelled) => SyncStatus::Cancelled,
            Some(SyncEnd::Released) => SyncStatus::Queued,
        };
        if let Some(end) = end {
            self.store().finish_sync(&job, worker, &end, now()).await?;
        }
        tracing::info!(status = ?status, "sync attempt ended");
        Ok(Some(status))
    }

    /// Runs syncs until none is runnable (tests drain the queue this way instead of sleeping).
    pub async fn drain_syncs(&self, worker: &str) -> Result<usize, EngineError> {
        let mut n = 0;
        while self.run_next_sync(worker).await?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    async fn attempt(&self, job: &SyncJob, worker: &str) -> Result<Attempt, EngineError> {
        let Some(conn) = self
            .store()
            .get_connection(&job.org_id, &job.connection_id)
            .await?
        else {
            return Ok(Attempt::Failed(ConnectorError::NotConfigured(
                "the connection was deleted".into(),
            )));
        };
        let session = match self.session(&conn).await {
            Ok(s) => s,
            Err(e) => return Ok(Attempt::Failed(e)),
        };
        let connector = self.connector_for(&conn.provider_name)?;
        let incremental = connector
            .models()
            .iter()
            .find(|m| m.name == job.model_name)
            .is_some_and(|m| m.incremental);
        let full = job.sync.is_initial_sync || !incremental;
        let window = if full {
            TimeWindow::default()
        } else {
            TimeWindow {
                modified_after: job.sync.timerange_start,
                modified_until: job.sync.timerange_end,
            }
        };
        let principal = principal(&conn);
        let state = &job.sync.pagination_state;
        let mut cursor = state["cursor"].as_str().map(str::to_owned);
        let mut pages = state["pages"].as_u64().unwrap_or(0);
        let mut records = state["records"].as_u64().unwrap_or(0);
        let mut retried = state["retried_errors"].as_u64().unwrap_or(0);
        let mut last_error = state["last_error"].as_str().map(str::to_owned);
        if pages > 0 && cursor.is_none() {
            // Every page was written before the last attempt ended: only the ending is left.
            return Ok(Attempt::Done { full });
        }
        // Setup read the company's local currency: BC's blank currency codes stand for it.
        let mut select = selected_fields(&job.model_name);
        let ctx = MappingContext {
            local_currency: conn
                .discovery
                .as_ref()
                .and_then(|d| d.local_currency.clone()),
        };
        loop {
            let request = PageRequest {
                model: job.model_name.clone(),
                cursor: cursor.clone(),
                window,
                page_size: Some(self.sync_settings().page_size),
                include_dimension_lines: conn.include_dimension_lines,
                fields: select.map(|f| f.iter().map(|s| s.to_string()).collect()),
            };
            let page = match self
                .fetch_with_retries(connector, &principal, &session, &request)
                .await
            {
                Ok((page, errors)) => {
                    if let Some(e) = errors.last() {
                        retried += errors.len() as u64;
                        last_error = Some(e.clone());
                    }
                    page
                }
                // An older Business Central may lack a property we select and refuse the whole
                // request (400): read every property instead. (Later pages follow BC's next link,
                // which carries the selection of the first.)
                Err(e)
                    if e.kind() == ErrorKind::Rejected && select.is_some() && cursor.is_none() =>
                {
                    tracing::warn!(error = %e, "Business Central refused the field selection; reading all fields");
                    select = None;
                    continue;
                }
                Err(e) => return Ok(Attempt::Failed(e)),
            };
            let mut batch = Vec::with_capacity(page.records.len());
            for raw in &page.records {
                let mapped = match map_fetched(&job.model_name, raw, &ctx) {
                    Ok(m) => m,
                    Err(e) => return Ok(Attempt::Failed(e.into())),
                };
                for m in mapped {
                    batch.push(RecordIn {
                        hash: hash(&m.data),
                        remote_id: m.remote_id,
                        data: m.data,
                        raw: raw.clone(),
                        remote_modified_at: m.remote_modified_at,
                    });
                }
            }
            pages += 1;
            records += batch.len() as u64;
            let next_state = json!({
                "cursor": page.next,
                "pages": pages,
                "records": records,
                "retried_errors": retried,
                "last_error": last_error,
            });
            let saved = self
                .store()
                .save_sync_page(
                    job,
                    worker,
                    &batch,
                    &next_state,
                    now(),
                    now() + self.sync_settings().lease,
                )
                .await;
            match saved {
                Ok(outcome) if outcome.cancel_requested => return Ok(Attempt::Cancelled),
                Ok(_) if self.is_stopping() && page.next.is_some() => return Ok(Attempt::Released),
                Ok(_) => {}
                Err(StoreError::Conflict(_)) => return Ok(Attempt::LeaseLost),
                Err(e) => return Err(e.into()),
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(Attempt::Done { full }),
            }
        }
    }

    async fn fetch_with_retries(
        &self,
        connector: &Arc<dyn ledgerlink_connectors::Connector>,
        principal: &str,
        session: &ledgerlink_connectors::Session,
        request: &PageRequest,
    ) -> Result<(ledgerlink_connectors::Page, Vec<String>), ConnectorError> {
        let mut tries = 0;
        let mut errors = Vec::new();
        loop {
            tries += 1;
            let result = {
                let _permit = self.budgets().acquire(principal).await;
                match self.shared_slot(principal).await {
                    Ok(slot) => {
                        let page = connector.fetch_page(session, request).await;
                        slot.release().await;
                        page
                    }
                    Err(wait) => Err(ConnectorError::RateLimited {
                        retry_after: Some(wait),
                    }),
                }
            };
            let err = match result {
                Ok(page) => return Ok((page, errors)),
                Err(e) => e,
            };
            errors.push(err_text(&err));
            if let Some(wait) = err.retry_after() {
                self.budgets().throttled(principal, wait);
                self.shared_pause(principal, wait).await;
            }
            let retryable = matches!(err.kind(), ErrorKind::Transient | ErrorKind::RateLimited);
            let wait = err
                .retry_after()
                .unwrap_or(Duration::from_millis(100 * 2u64.pow(tries)));
            if !retryable || tries >= PAGE_TRIES || wait > Duration::from_secs(10) {
                return Err(err);
            }
            tracing::debug!(error = %err, tries, "page fetch failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// Turns an attempt's outcome into how the sync ends (`None`: leave it, another worker has it).
    async fn conclude(
        &self,
        job: &SyncJob,
        outcome: Result<Attempt, EngineError>,
    ) -> Option<SyncEnd> {
        let err = match outcome {
            Ok(Attempt::Done { full }) => return Some(SyncEnd::Complete { reconcile: full }),
            Ok(Attempt::Cancelled) => return Some(SyncEnd::Cancelled),
            Ok(Attempt::Released) => return Some(SyncEnd::Released),
            Ok(Attempt::LeaseLost) => return None,
            Ok(Attempt::Failed(e)) => e,
            Err(e) => ConnectorError::transient(format!("ledgerlink: {e}")),
        };
        tracing::warn!(error = %err, "sync attempt failed");
        let permanent = matches!(
            err.kind(),
            ErrorKind::Unauthorized
                | ErrorKind::Forbidden
                | ErrorKind::NotFound
                | ErrorKind::NotConfigured
        );
        if permanent {
            if let Ok(Some(conn)) = self
                .store()
                .get_connection(&job.org_id, &job.connection_id)
                .await
            {
                let _ = self.record_call_failure(&conn, &err).await;
            }
            return Some(SyncEnd::Failed {
                error: err.to_string(),
            });
        }
        let delay = self.sync_settings().retry.next_delay(
            job.sync.attempt.max(1) as u32,
            err.retry_after(),
            &mut rand::rng(),
        );
        match delay {
            Some(d) => Some(SyncEnd::Retry {
                error: err.to_string(),
                run_after: Utc::now() + chrono::Duration::from_std(d).unwrap_or_default(),
            }),
            None => {
                if let Ok(Some(conn)) = self
                    .store()
                    .get_connection(&job.org_id, &job.connection_id)
                    .await
                {
                    let failing = ConnectorError::Rejected {
                        status: 0,
                        code: None,
                        message: format!("a sync failed after all retries: {err}"),
                    };
                    let _ = self.record_call_failure(&conn, &failing).await;
                }
                Some(SyncEnd::Failed {
                    error: err.to_string(),
                })
            }
        }
    }
}

fn err_text(e: &ConnectorError) -> String {
    e.to_string()
}

/// Whose request budget a connection's calls spend (BC counts per user/app and tenant).
fn principal(conn: &Connection) -> String {
    conn.tenant_id
        .clone()
        .or_else(|| conn.api_url.clone())
        .unwrap_or_else(|| conn.id.clone())
}

/// SHA-256 of a record's unified JSON (serde_json keeps key order, so equal records hash equal).
fn hash(data: &Value) -> String {
    hex_encode(&Sha256::digest(data.to_string().as_bytes()))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Tunables of syncing.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Records per page requested from the ERP.
    pub page_size: u32,
    /// How long a claimed sync stays leased without a heartbeat (each page extends it).
    pub lease: chrono::Duration,
    /// How far back an incremental sync re-reads before the previous one's end.
    pub overlap: chrono::Duration,
    /// When a failed attempt is tried again.
    pub retry: crate::RetryPolicy,
    /// Workers per process (0: this process runs no syncs).
    pub workers: usize,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            page_size: 1_000,
            lease: chrono::Duration::seconds(120),
            overlap: chrono::Duration::minutes(5),
            retry: crate::RetryPolicy::default(),
            workers: 2,
        }
    }
}

/// The running workers and scheduler of a process.
pub struct Workers {
    engine: Arc<Engine>,
    scheduler: Option<tokio::task::JoinHandle<()>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Workers {
    /// Graceful stop: no new claims; each worker finishes the page it is writing, hands its sync back
    /// (queued, resuming from the saved page) and exits. Waits up to `grace`, then aborts.
    pub async fn stop(self, grace: Duration) {
        self.engine.stop_workers();
        if let Some(s) = self.scheduler {
            s.abort();
        }
        let all = futures_join(self.workers);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(
                "workers did not stop in time; their leases will expire and others resume"
            );
        }
    }
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

/// Runs `n` workers and the scheduler (none when `n` is 0).
pub fn spawn_workers(engine: Arc<Engine>, n: usize) -> Workers {
    let mut handles = Vec::new();
    if n == 0 {
        return Workers {
            engine,
            scheduler: None,
            workers: handles,
        };
    }
    let scheduler = engine.clone();
    let scheduler = tokio::spawn(async move {
        let mut swept = tokio::time::Instant::now();
        loop {
            if swept.elapsed() > SCHEDULER_RECHECK {
                scheduler.sweep_shared_budgets().await;
                swept = tokio::time::Instant::now();
            }
            match scheduler.schedule_due(SCHEDULER_BATCH).await {
                Ok(tick) if tick.due > 0 => {
                    tracing::info!(
                        queued = tick.queued,
                        already_active = tick.already_active,
                        deferred = tick.deferred,
                        "scheduled due syncs"
                    );
                    if tick.due == SCHEDULER_BATCH as usize {
                        continue;
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "scheduling failed"),
            }
            tokio::time::sleep(SCHEDULER_PERIOD).await;
        }
    });
    let host = std::process::id();
    for i in 0..n {
        let engine = engine.clone();
        let worker = format!("worker-{host}-{i}-{}", ledgerlink_domain::new_id("w"));
        handles.push(tokio::spawn(async move {
            while !engine.is_stopping() {
                match engine.run_next_sync(&worker).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => tokio::time::sleep(Duration::from_millis(500)).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "worker error");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
        }));
    }
    Workers {
        engine,
        scheduler: Some(scheduler),
        workers: handles,
    }
}
