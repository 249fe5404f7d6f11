//! Setup: discover the environments and companies a sign-in reaches, pick them when there is one of
//! each, probe the companion extension, check health and schedule the first syncs. Runs as a
//! background job ([`crate::jobs::setup`]), retried with backoff when the ERP fails for a while.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ledgerlink_connectors::{ConnectorError, Discovery};
use ledgerlink_domain::{
    Connection, Discovered, DiscoveredCompany, DiscoveredJournal, HealthStatus, OrgId,
};

use crate::engine::Engine;
use crate::error::EngineError;
use crate::jobs::Outcome;
use crate::lifecycle::health::{record_failure, schedule_unscheduled};
use crate::lifecycle::session::target_of;

/// Whether a failed ERP call may succeed if tried again later (setup is then retried).
fn passes(err: &ConnectorError) -> bool {
    use ledgerlink_connectors::ErrorKind;
    matches!(
        err.kind(),
        ErrorKind::Transient | ErrorKind::RateLimited | ErrorKind::Unreachable
    )
}

impl Engine {
    /// Runs setup again (after the user chose an environment, company or server).
    pub async fn restart_setup(
        self: &Arc<Self>,
        org: &OrgId,
        id: &str,
    ) -> Result<Connection, EngineError> {
        let conn = self.load(org, id).await?;
        self.begin_setup(conn).await
    }

    pub(crate) async fn begin_setup(
        self: &Arc<Self>,
        mut conn: Connection,
    ) -> Result<Connection, EngineError> {
        conn.is_authentication_pending = false;
        conn.is_running_setup = true;
        // Until setup proves otherwise, what is not chosen is missing (so a failed setup never
        // leaves a connection that looks configured).
        conn.missing_settings = unset_settings(&conn);
        if let Some(found) = conn.discovery.as_mut() {
            // The journals are the chosen company's: read again for whatever setup settles on, and
            // meanwhile none can be chosen from a company that may no longer be the one.
            found.payment_journals = None;
        }
        conn.health_status = HealthStatus::MissingSettings;
        conn.health_message = Some(
            "Setup is running: finding the environments and companies this sign-in can reach."
                .into(),
        );
        conn.health_checked_at = self.now();
        self.save(&conn).await?;
        self.queue_setup(&conn.org_id, &conn.id).await?;
        self.reload(&conn).await
    }

    /// Setup: discover environments and companies, pick them when there is exactly one, probe the
    /// companion extension, then check health and queue the first syncs. A failure that passes (the
    /// ERP throttled, failed or could not be reached) is recorded on the connection and asks for a
    /// retry; the job runs setup again with backoff.
    pub async fn run_setup(&self, org: &OrgId, id: &str) -> Result<Outcome, EngineError> {
        // One setup per connection at a time in this process (the queue keeps it so across
        // processes); a later one waits and then sees the latest choices.
        let lock = self.setup_locks.lock_for(id);
        let _held = lock.lock().await;
        let conn = self.load(org, id).await?;
        if conn.is_authentication_pending {
            // Credentials were withdrawn (the server changed) since this setup was queued.
            return Ok(Outcome::Done);
        }
        let target = target_of(&conn).ok();
        let outcome = match self.session(&conn).await {
            Ok(session) => match self.connector_for(conn.provider_name.as_str()) {
                Ok(connector) => connector.discover(&session).await,
                Err(_) => Err(ConnectorError::Unsupported("no connector".into())),
            },
            Err(err) => Err(err),
        };
        // Re-read: the user may have changed the connection while discovery ran.
        let mut conn = self.load(org, id).await?;
        if target_of(&conn).ok() != target {
            // Discovery answered for a target that is no longer chosen; the setup queued by that
            // change runs next and answers for the new one.
            return Ok(Outcome::Done);
        }
        conn.is_running_setup = false;
        let mut retry = None;
        match outcome {
            Ok(found) => {
                apply_discovery(&mut conn, found, self.now());
                if conn.missing_settings.is_empty() {
                    if let Err(err) = self.check(&mut conn).await
                        && passes(&err)
                    {
                        retry = Some(err);
                    }
                    schedule_unscheduled(&mut conn, self.now());
                } else {
                    conn.health_status = HealthStatus::MissingSettings;
                    conn.health_message = Some(missing_message(&conn));
                    conn.health_checked_at = self.now();
                }
            }
            Err(err) => {
                record_failure(&mut conn, &err, self.now());
                if passes(&err) {
                    retry = Some(err);
                }
            }
        }
        self.save(&conn).await?;
        if let Some((company, code)) = only_journal(&conn) {
            // The company's only payment journal is the one payments follow; several wait for the
            // user's choice (listed in missing_settings while payment writes are enabled).
            self.store()
                .pick_payment_journal(org, id, &company, &code)
                .await?;
        }
        tracing::info!(connection_id = %id, health = conn.health_status.as_str(), "setup finished");
        if conn.is_configured() && conn.health_status == HealthStatus::Healthy {
            // The first syncs start now, not at the scheduler's next tick.
            if let Err(e) = self
                .schedule_due(crate::sync::scheduler::SCHEDULER_BATCH)
                .await
            {
                tracing::warn!(error = %e, "could not queue the first syncs; the scheduler will");
            }
        }
        Ok(match retry {
            Some(err) => Outcome::Retry {
                error: err.to_string(),
                retry_after: err.retry_after(),
            },
            None => Outcome::Done,
        })
    }
}

impl Engine {
    /// Reads the company's customer payment journals again (a finance user may have added one since
    /// setup) and keeps them in the connection's discovery. The connection as it was when they
    /// cannot be read now.
    pub async fn refresh_payment_journals(
        &self,
        org: &OrgId,
        id: &str,
    ) -> Result<Connection, EngineError> {
        let conn = self.load(org, id).await?;
        if !conn.is_configured() || conn.company.is_none() {
            return Ok(conn);
        }
        let connector = self.connector_for(conn.provider_name.as_str())?.clone();
        let listed = async {
            let session = self.session(&conn).await?;
            let principal = crate::sync::attempt::principal(&conn);
            self.within_budget(&principal, connector.payment_journals(&session))
                .await
        }
        .await;
        let journals = match listed {
            Ok(journals) => journals,
            Err(err) => {
                tracing::warn!(connection_id = %id, error = %err, "could not list payment journals");
                return Ok(conn);
            }
        };
        let mut conn = conn;
        if let Some(found) = conn.discovery.as_mut() {
            found.payment_journals = Some(discovered_journals(journals));
        }
        self.save(&conn).await?;
        self.reload(&conn).await
    }
}

/// The company and code of its only payment journal, when it has exactly one with a balancing
/// account and none is chosen.
fn only_journal(conn: &Connection) -> Option<(String, String)> {
    if conn.payment_journal.is_some() {
        return None;
    }
    let company = conn.company.clone()?;
    match conn.discovery.as_ref()?.payment_journals.as_deref()? {
        [only] if only.has_balancing_account => Some((company, only.code.clone())),
        _ => None,
    }
}

/// The journals a connection may choose from: ledgerlink's own batches left out.
fn discovered_journals(
    journals: Vec<ledgerlink_connectors::JournalInfo>,
) -> Vec<DiscoveredJournal> {
    journals
        .into_iter()
        .filter(|j| !crate::jobs::write_payment::is_own_batch(j))
        .map(|j| DiscoveredJournal {
            has_balancing_account: j.balancing_account_id.is_some(),
            code: j.code,
            name: j.display_name,
        })
        .collect()
}

/// The settings a connection has not chosen yet.
fn unset_settings(conn: &Connection) -> Vec<String> {
    let mut missing = Vec::new();
    if !conn.is_on_premise && conn.environment.is_none() {
        missing.push("environment".to_owned());
    }
    if conn.company.is_none() {
        missing.push("company".to_owned());
    }
    missing
}

fn apply_discovery(conn: &mut Connection, found: Discovery, at: DateTime<Utc>) {
    if found.tenant_id.is_some() {
        conn.tenant_id = found.tenant_id;
    }
    conn.environment = found.environment;
    conn.company = found.company_id.clone();
    conn.company_name = found.company_id.as_ref().and_then(|id| {
        found
            .companies
            .iter()
            .find(|c| &c.id == id)
            .map(|c| c.display_name.clone())
    });
    conn.missing_settings = unset_settings(conn);
    conn.discovery = Some(Discovered {
        environments: found.environments.into_iter().map(|e| e.name).collect(),
        companies: found
            .companies
            .into_iter()
            .map(|c| DiscoveredCompany {
                id: c.id,
                name: c.display_name,
            })
            .collect(),
        local_currency: found.local_currency,
        payment_journals: found.payment_journals.map(discovered_journals),
    });

    if let Some(installed) = found.extension_installed {
        conn.set_extension_installed(installed, at);
    }
}

fn missing_message(conn: &Connection) -> String {
    let found = conn.discovery.clone().unwrap_or_default();
    if conn.missing_settings.iter().any(|s| s == "environment") {
        if found.environments.is_empty() {
            return "This sign-in can reach no Business Central environment.".into();
        }
        return format!(
            "Several environments were found; choose one with PATCH (environment): {}.",
            found.environments.join(", ")
        );
    }
    if found.companies.is_empty() {
        return "The environment has no company this sign-in can read.".into();
    }
    let names: Vec<String> = found
        .companies
        .iter()
        .map(|c| format!("{} ({})", c.name, c.id))
        .collect();
    format!(
        "Several companies were found; choose one with PATCH (company): {}.",
        names.join(", ")
    )
}
