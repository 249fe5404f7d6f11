//! The periodic health check: queued by the scheduler for each set-up connection once per
//! `health_check_interval_secs` across every process ([`ledgerlink_store::JobStore::queue_health_checks`]).
//! A connection whose setup never finished gets its setup queued again instead.

use ledgerlink_domain::{HealthStatus, OrgId};
use ledgerlink_store::Job;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::jobs::Outcome;
use crate::jobs::setup::SETUP_KIND;

/// Checking one connection's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// The connection's organization.
    pub org: OrgId,
    /// The connection.
    pub connection_id: String,
}

impl HealthCheck {
    /// The health check a claimed job describes (`None` when it names no connection).
    pub fn from_job(job: &Job) -> Option<HealthCheck> {
        Some(HealthCheck {
            org: job.org_id.clone()?,
            connection_id: job.connection_id.clone()?,
        })
    }

    /// Checks health and records the verdict (a failing ERP is a verdict, not a failed job); for a
    /// connection whose setup never completed, queues setup unless one waits or runs.
    pub async fn run(self, engine: &Engine) -> Result<Outcome, EngineError> {
        let (org, id) = (&self.org, self.connection_id.as_str());
        let conn = engine.load(org, id).await?;
        if conn.is_authentication_pending {
            return Ok(Outcome::Done);
        }
        if conn.is_running_setup || conn.discovery.is_none() {
            if matches!(
                conn.health_status,
                HealthStatus::AuthenticationFailed | HealthStatus::PermissionDenied
            ) && !conn.is_running_setup
            {
                // Setup was refused for good: running it again cannot help until the user
                // authorizes again (which queues a setup of its own).
                return Ok(Outcome::Done);
            }
            let jobs = engine.store().connection_jobs(org, id).await?;
            let pending = jobs
                .iter()
                .any(|j| j.kind == SETUP_KIND && j.status != "failed");
            if !pending {
                tracing::info!(connection_id = %id, "setup never completed; queuing it again");
                engine.queue_setup(org, id).await?;
            }
            return Ok(Outcome::Done);
        }
        engine.check_health(org, id).await?;
        Ok(Outcome::Done)
    }
}

impl Engine {
    /// Queues the periodic health checks that are due (connections last checked more than
    /// `max_age` ago, at most `batch`) and runs the queued jobs in this process. Returns how many
    /// checks were queued.
    pub async fn check_stale(
        &self,
        max_age: chrono::Duration,
        batch: u32,
    ) -> Result<usize, EngineError> {
        let queued = self
            .store()
            .queue_health_checks(self.now(), max_age, batch)
            .await?;
        self.drain_jobs(&format!(
            "health-checker-{}",
            ledgerlink_domain::new_id("w")
        ))
        .await?;
        Ok(queued)
    }
}
