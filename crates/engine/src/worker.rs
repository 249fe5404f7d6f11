//! A worker process's background loops: the scheduler (due syncs, periodic health checks, the shared
//! budgets' sweep), one job worker, and the sync workers. `serve --role api` starts none of them.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::Engine;
use crate::sync::scheduler::{SCHEDULER_BATCH, SCHEDULER_PERIOD, SCHEDULER_RECHECK};

/// Health checks queued per scheduler tick.
const HEALTH_CHECK_BATCH: u32 = 100;

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

/// Runs the scheduler, one job worker and `n` sync workers (nothing when `n` is 0: an API-only
/// process runs no background work).
pub fn spawn_workers(engine: Arc<Engine>, n: usize) -> Workers {
    let mut handles = Vec::new();
    if n == 0 {
        return Workers {
            engine,
            scheduler: None,
            workers: handles,
        };
    }
    let scheduler = tokio::spawn(schedule(engine.clone()));
    let host = std::process::id();
    let name =
        |what: &str, i: usize| format!("{what}-{host}-{i}-{}", ledgerlink_domain::new_id("w"));
    let jobs = engine.clone();
    let job_worker = name("jobs", 0);
    handles.push(tokio::spawn(async move {
        let poll = jobs.settings().jobs.poll;
        while !jobs.is_stopping() {
            match jobs.run_next_job(&job_worker).await {
                Ok(Some(_)) => continue,
                Ok(None) => tokio::time::sleep(poll).await,
                Err(e) => {
                    tracing::warn!(error = %e, "job worker error");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    }));
    for i in 0..n {
        let engine = engine.clone();
        let worker = name("worker", i);
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

/// The scheduler loop: due syncs every few seconds (at once again after a full batch), periodic
/// health checks, and the shared budgets' sweep.
async fn schedule(engine: Arc<Engine>) {
    let mut swept = tokio::time::Instant::now();
    loop {
        if swept.elapsed() > SCHEDULER_RECHECK {
            engine.sweep_shared_budgets().await;
            swept = tokio::time::Instant::now();
        }
        if let Some(interval) = engine.settings().jobs.health_check_interval {
            match engine
                .store()
                .queue_health_checks(engine.now(), interval, HEALTH_CHECK_BATCH)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(queued = n, "queued periodic health checks"),
                Err(e) => tracing::warn!(error = %e, "queuing health checks failed"),
            }
        }
        match engine.schedule_due(SCHEDULER_BATCH).await {
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
}
