//! Running a sync: claiming it with a lease renewed on a heartbeat, fetching pages within the
//! request budget with retries, and turning the attempt's outcome into how the sync ends.

use std::sync::Arc;

use chrono::SubsecRound;
use std::time::Duration;

use ledgerlink_connectors::{ConnectorError, ErrorKind, PageRequest};
use ledgerlink_domain::SyncStatus;
use ledgerlink_store::{SyncEnd, SyncJob};

use crate::engine::Engine;
use crate::error::EngineError;
use crate::sync::attempt::{Attempt, PAGE_TRIES, err_text};

impl Engine {
    /// Claims one runnable sync and runs it to the end of this attempt. `None` when nothing is due.
    pub async fn run_next_sync(&self, worker: &str) -> Result<Option<SyncStatus>, EngineError> {
        let lease = self.sync_settings().lease;
        let Some(job) = self
            .store()
            .claim_sync(worker, self.now(), self.now() + lease)
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
            let deadline = self.now() + chrono::Duration::days(1);
            self.store_retrying(deadline, || {
                self.store().finish_sync(&job, worker, &end, self.now())
            })
            .await?;
        }
        tracing::info!(status = ?status, "sync attempt ended");
        Ok(Some(status))
    }

    /// Renews `job`'s lease every third of a lease; returns when it finds the lease lost.
    async fn heartbeat(&self, job: &SyncJob, worker: &str) {
        let lease = self.sync_settings().lease;
        crate::jobs::lease::hold(lease, || {
            self.store().renew_lease(job, worker, self.now() + lease)
        })
        .await
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
            let result = self
                .within_budget(principal, connector.fetch_page(session, request))
                .await;
            let err = match result {
                Ok(page) => return Ok((page, errors)),
                Err(e) => e,
            };
            errors.push(err_text(&err));
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
                if let Some(store) = crate::sync::pages::store_transient(&e) {
                    // Our own database failed, not the ERP: try again soon, attempt uncounted.
                    tracing::warn!(error = %store, "sync attempt cut short by the database");
                    return Some(SyncEnd::Deferred {
                        error: store.to_string(),
                        run_after: (self.now() + chrono::Duration::seconds(15)).trunc_subsecs(6),
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
                run_after: (self.now() + chrono::Duration::from_std(d).unwrap_or_default())
                    .trunc_subsecs(6),
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
