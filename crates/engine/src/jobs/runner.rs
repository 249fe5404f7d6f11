//! Claiming and running jobs: one claim, the kind's `run` under a held lease, and the end recorded
//! only while this worker still holds the job.

use chrono::SubsecRound;
use ledgerlink_store::{HEALTH_CHECK_KIND, Job, JobEnd};

use crate::engine::Engine;
use crate::error::EngineError;
use crate::jobs::Outcome;
use crate::jobs::health_check::HealthCheck;
use crate::jobs::lease::run_holding;
use crate::jobs::setup::{SETUP_KIND, Setup};
use crate::jobs::write_payment::{WRITE_PAYMENT_KIND, WritePayment};

/// What became of a claimed job.
#[derive(Debug, PartialEq)]
pub enum JobRun {
    /// It ended this way.
    Ended(JobEnd),
    /// Its lease ran out before it ended (another worker has it; nothing was recorded).
    LeaseLost,
}

impl Engine {
    /// Claims one runnable job and runs it. `None` when no job is runnable.
    pub async fn run_next_job(&self, worker: &str) -> Result<Option<JobRun>, EngineError> {
        let lease = self.settings().jobs.lease;
        let now = self.now();
        let Some(job) = self.store().claim_job(worker, now, now + lease).await? else {
            return Ok(None);
        };
        let span = tracing::info_span!(
            "job",
            job_id = %job.id,
            kind = %job.kind,
            connection_id = job.connection_id.as_deref().unwrap_or(""),
            attempt = job.attempt,
        );
        tracing::Instrument::instrument(self.run_claimed_job(job, worker), span).await
    }

    async fn run_claimed_job(&self, job: Job, worker: &str) -> Result<Option<JobRun>, EngineError> {
        let lease = self.settings().jobs.lease;
        let renew = || {
            self.store()
                .renew_job_lease(&job.id, worker, self.now() + lease)
        };
        let Some(outcome) = run_holding(lease, renew, self.dispatch(&job)).await else {
            tracing::warn!("lost the job's lease; stopped it");
            return Ok(Some(JobRun::LeaseLost));
        };
        let end = self.job_end(&job, outcome);
        let deadline = self.now() + lease;
        let held = self
            .store_retrying(deadline, || {
                self.store().finish_job(&job.id, worker, &end, self.now())
            })
            .await?;
        if !held {
            tracing::warn!("the job's lease ran out before it ended; another worker has it");
            return Ok(Some(JobRun::LeaseLost));
        }
        if let JobEnd::Failed { error } = &end
            && job.kind == WRITE_PAYMENT_KIND
            && let Some(write) = WritePayment::from_job(&job)
        {
            // The job gave up for a reason of its own (our database, say): the write must not
            // stay `running` or `pending_retry` for ever.
            let failed = ledgerlink_store::WriteEnd::Failed {
                error: format!(
                    "ledgerlink could not complete the write ({error}); it may have reached the \
                     ERP: look for document number {} there",
                    crate::jobs::write_payment::marker(&write.write_id)
                ),
            };
            if let Err(e) = self
                .store()
                .finish_write(&write.org, &write.write_id, None, &failed, self.now())
                .await
            {
                tracing::error!(error = %e, "could not record a payment write as failed");
            }
        }

        match &end {
            JobEnd::Done => tracing::info!("job done"),
            JobEnd::Retry { error, run_after } => {
                tracing::warn!(error, retry_at = %run_after, "job failed; will retry")
            }
            JobEnd::Failed { error } => tracing::error!(error, "job failed for good"),
        }
        Ok(Some(JobRun::Ended(end)))
    }

    async fn dispatch(&self, job: &Job) -> Outcome {
        let result = match job.kind.as_str() {
            SETUP_KIND => match Setup::from_job(job) {
                Some(setup) => setup.run(self).await,
                None => return Outcome::Failed("a setup job without its connection".into()),
            },
            HEALTH_CHECK_KIND => match HealthCheck::from_job(job) {
                Some(check) => check.run(self).await,
                None => return Outcome::Failed("a health check without its connection".into()),
            },
            WRITE_PAYMENT_KIND => match WritePayment::from_job(job) {
                Some(write) => write.run(self).await,
                None => return Outcome::Failed("a payment write without its write".into()),
            },
            other => return Outcome::Failed(format!("no job kind {other:?} on this server")),
        };
        match result {
            Ok(outcome) => outcome,
            // Our own database failed (or the connection went meanwhile): try again.
            Err(EngineError::NotFound) => Outcome::Done,
            Err(e) => Outcome::Retry {
                error: e.to_string(),
                retry_after: None,
            },
        }
    }

    fn job_end(&self, job: &Job, outcome: Outcome) -> JobEnd {
        match outcome {
            Outcome::Done => JobEnd::Done,
            Outcome::Failed(error) => JobEnd::Failed { error },
            Outcome::Retry { error, retry_after } => {
                let delay = self.settings().jobs.retry.next_delay(
                    job.attempt.max(1) as u32,
                    retry_after,
                    &mut rand::rng(),
                );
                match delay {
                    Some(d) => JobEnd::Retry {
                        error,
                        run_after: (self.now() + chrono::Duration::from_std(d).unwrap_or_default())
                            .trunc_subsecs(6),
                    },
                    None => JobEnd::Failed {
                        error: format!("gave up after {} attempts: {error}", job.attempt),
                    },
                }
            }
        }
    }

    /// Runs jobs until none is runnable now (tests and `serve` drain the queue this way).
    pub async fn drain_jobs(&self, worker: &str) -> Result<usize, EngineError> {
        let mut n = 0;
        while self.run_next_job(worker).await?.is_some() {
            n += 1;
        }
        Ok(n)
    }
}
