//! The setup job: one per connection at a time, queued when a connection is authorized or its
//! environment, company or server changes; retried with backoff while the ERP fails or throttles.

use chrono::{DateTime, Utc};
use ledgerlink_domain::OrgId;
use ledgerlink_store::{Job, NewJob};

use crate::engine::Engine;
use crate::error::EngineError;
use crate::jobs::Outcome;

/// The job kind of setup.
pub const SETUP_KIND: &str = "setup";

/// Setting up one connection ([`Engine::run_setup`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// The connection's organization.
    pub org: OrgId,
    /// The connection.
    pub connection_id: String,
}

impl Setup {
    /// The setup job a claimed job describes (`None` when it names no connection).
    pub fn from_job(job: &Job) -> Option<Setup> {
        Some(Setup {
            org: job.org_id.clone()?,
            connection_id: job.connection_id.clone()?,
        })
    }

    /// The job to queue, runnable at `now`; it merges with a setup of the connection that waits.
    pub fn to_job(&self, now: DateTime<Utc>) -> NewJob {
        NewJob {
            kind: SETUP_KIND.into(),
            unique_key: Some(self.connection_id.clone()),
            org_id: Some(self.org.clone()),
            connection_id: Some(self.connection_id.clone()),
            payload: serde_json::json!({}),
            run_after: now,
        }
    }

    /// Runs setup.
    pub async fn run(self, engine: &Engine) -> Result<Outcome, EngineError> {
        engine.run_setup(&self.org, &self.connection_id).await
    }
}

impl Engine {
    /// Queues the connection's setup (merging with one already waiting).
    pub async fn queue_setup(&self, org: &OrgId, id: &str) -> Result<(), EngineError> {
        let setup = Setup {
            org: org.clone(),
            connection_id: id.to_owned(),
        };
        let now = self.now();
        self.store().enqueue_job(&setup.to_job(now), now).await?;
        Ok(())
    }
}
