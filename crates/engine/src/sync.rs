//! Running syncs: requesting and scheduling them, claiming them with a lease, fetching pages within
//! the per-principal budget, writing each page and its resume state in one transaction, retrying,
//! and reconciling deletions after a completed full pass.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ledgerlink_connectors::{ConnectorError, ErrorKind, PageRequest};
use ledgerlink_domain::{Connection, HealthStatus, OrgId, Sync, SyncStatus, now};
use ledgerlink_store::{NewSync, ScheduleTick, StoreError, SyncEnd, SyncJob};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::connections::{Engine, EngineError};

/// How often a due model whose connection cannot sync is looked at again.
pub const SCHEDULER_RECHECK: Duration = Duration::from_secs(5 * 60);

/// Due models queued per scheduler tick; a full tick is followed at once by another.
pub(crate) const SCHEDULER_BATCH: u32 = 1_000;

/// Pause between scheduler ticks that found less than a full batch.
const SCHEDULER_PERIOD: Duration = Duration::from_secs(5);

/// Page-level retries of a transient failure before the attempt ends.
const PAGE_TRIES: u32 = 4;

/// How one attempt of a sync ended.
pub(crate) enum Attempt {
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
        // The lease is renewed on a heartbeat, whatever the attempt is doing (a page can take longer
        // than a lease through retries and ERP pauses). A renewal that finds the lease gone stops the
        // attempt at once — its in-flight request is dropped — and nothing is reported for a sync this
        // worker no longer holds.
        let outcome = tokio::select! {
            outcome = self.attempt(&job, worker) => outcome,
            () = self.heartbeat(&job, worker) => {
                tracing::warn!("lost the sync's lease; stopping this attempt");
                Ok(Attempt::LeaseLost)
            }
        };
        let end = self.conclude(&job, outcome).await;
        let status = match &end {
            None => return Ok(Some(SyncStatus::Running)),
            Some(SyncEnd::Complete { .. }) => SyncStatus::Complete,
            Some(SyncEnd::Retry { .. } | SyncEnd::Deferred { .. }) => SyncStatus::PendingRetry,
            Some(SyncEnd::Failed { .. }) => SyncStatus::Failed,
            Some(SyncEnd::Cancelled) => SyncStatus::Cancelled,
            Some(SyncEnd::Released) => SyncStatus::Queued,
        };
        if let Some(end) = end {
            // Record the outcome even through a database restart or a full disk (the write only
            // lands while this worker still holds the sync, so waiting longer is harmless).
            let deadline = now() + chrono::Duration::days(1);
            self.store_retrying(deadline, || {
                self.store().finish_sync(&job, worker, &end, now())
            })
            .await?;
        }
        tracing::info!(status = ?status, "sync attempt ended");
        Ok(Some(status))
    }

    /// Renews `job`'s lease every third of a lease; returns when it finds the lease lost.
    async fn heartbeat(&self, job: &SyncJob, worker: &str) {
        let lease = self.sync_settings().lease;
        let every = (lease / 3)
            .to_std()
            .unwrap_or(Duration::from_secs(40))
            .max(Duration::from_millis(50));
        loop {
            tokio::time::sleep(every).await;
            match self.store().renew_lease(job, worker, now() + lease).await {
                Ok(true) => {}
                Ok(false) => return,
                // The database may be back before the lease runs out: keep beating.
                Err(e) => tracing::warn!(error = %e, "could not renew the sync's lease"),
            }
        }
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
        self.run_pages(job, worker, &conn, &session).await
    }

    /// Runs a store call again while it fails for a reason that passes (the database restarting or
    /// unreachable, its disk full), with backoff, until `deadline` (e.g. the end of a lease).
    pub(crate) async fn store_retrying<T, F, Fut>(
        &self,
        deadline: chrono::DateTime<Utc>,
        mut call: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut wait = Duration::from_millis(250);
        loop {
            match call().await {
                Err(e)
                    if e.is_transient() && Utc::now() + wait < deadline && !self.is_stopping() =>
                {
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "database call failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    pub(crate) async fn fetch_with_retries(
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
            Err(e) => {
                if let Some(store) = crate::sync_pages::store_transient(&e) {
                    // Our own database failed, not the ERP: try again soon, attempt uncounted.
                    tracing::warn!(error = %store, "sync attempt cut short by the database");
                    return Some(SyncEnd::Deferred {
                        error: store.to_string(),
                        run_after: Utc::now() + chrono::Duration::seconds(15),
                    });
                }
                ConnectorError::transient(format!("ledgerlink: {e}"))
            }
        };
        tracing::warn!(error = %err, "sync attempt failed");
        if err.kind() == ErrorKind::Rejected {
            // The ERP refused the request itself (a 400): asking again will not change its answer.
            return Some(SyncEnd::Failed {
                error: err.to_string(),
            });
        }
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
pub(crate) fn principal(conn: &Connection) -> String {
    conn.tenant_id
        .clone()
        .or_else(|| conn.api_url.clone())
        .unwrap_or_else(|| conn.id.clone())
}

/// SHA-256 of a record's unified JSON (serde_json keeps key order, so equal records hash equal).
pub(crate) fn record_hash(data: &Value) -> String {
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
