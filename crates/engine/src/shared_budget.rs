//! The request budget shared by every process on one database.
//!
//! [`crate::Budgets`] queues a process's own requests, in order and without touching the database.
//! Behind it, each request also takes its place in the principal's budget kept in the store
//! ([`ledgerlink_store::BudgetStore`]), so that several worker processes talking to the same
//! Business Central principal stay within one window and one set of concurrency slots together, and
//! a pause BC asked of one process holds for all.
//!
//! When the store cannot be reached the request goes ahead on the process's own budget alone (and
//! a warning is logged): a database hiccup should not stop a sync that the local budget already
//! keeps within BC's limits for this process.

use std::sync::Arc;
use std::time::Duration;

use ledgerlink_connectors::ConnectorError;
use ledgerlink_store::{BudgetWait, Quota, Store};

use crate::engine::Engine;

/// How long a slot is held when its holder never releases it (it crashed): a little longer than
/// the longest request.
const SLOT_HOLD: Duration = Duration::from_secs(150);

/// A wait longer than this ends the sync attempt instead (it is retried after the wait): the
/// sync's lease must not run out while it waits.
const LONGEST_WAIT: Duration = Duration::from_secs(10);

/// How long to keep asking for a slot while all are busy before giving up for this attempt.
const LONGEST_BUSY: Duration = Duration::from_secs(60);

/// A request's place in the shared budget. [`SharedSlot::release`] frees its concurrency slot;
/// dropping it unreleased (the future was cancelled) frees it in the background.
#[must_use = "release the slot when the request ends"]
pub(crate) struct SharedSlot {
    store: Option<(Arc<dyn Store>, String)>,
}

impl SharedSlot {
    /// Frees the slot now, so the next request (of any process) can take it at once.
    pub(crate) async fn release(mut self) {
        if let Some((store, id)) = self.store.take() {
            release(store, id).await;
        }
    }
}

async fn release(store: Arc<dyn Store>, id: String) {
    if let Err(e) = store.budget_release(&id).await {
        tracing::warn!(error = %e, "could not release a shared request slot; it frees itself later");
    }
}

impl Drop for SharedSlot {
    fn drop(&mut self) {
        if let Some((store, id)) = self.store.take() {
            // Without a runtime (shutting down) the slot frees itself after SLOT_HOLD.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                drop(handle.spawn(release(store, id)));
            }
        }
    }
}

fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

impl Engine {
    /// Waits until `principal` may send one more request according to the budget every process
    /// shares, then holds one of its slots until released. `Err(wait)` when that would take longer
    /// than the attempt may wait (BC asked for a long pause, the window is spent, or every slot
    /// stayed busy): the caller ends the attempt and retries after `wait`.
    /// Runs one ERP call within `principal`'s request budget — this process's and the one shared
    /// through the database — and makes a `Retry-After` the ERP answers hold for every process.
    pub(crate) async fn within_budget<T>(
        &self,
        principal: &str,
        call: impl std::future::Future<Output = Result<T, ConnectorError>>,
    ) -> Result<T, ConnectorError> {
        let result = {
            let _permit = self.budgets().acquire(principal).await;
            match self.shared_slot(principal).await {
                Ok(slot) => {
                    let out = call.await;
                    slot.release().await;
                    out
                }
                Err(wait) => Err(ConnectorError::RateLimited {
                    retry_after: Some(wait),
                }),
            }
        };
        if let Err(err) = &result
            && let Some(wait) = err.retry_after()
        {
            self.budgets().throttled(principal, wait);
            self.shared_pause(principal, wait).await;
        }
        result
    }

    pub(crate) async fn shared_slot(&self, principal: &str) -> Result<SharedSlot, Duration> {
        let limits = self.budgets().limits();
        let quota = Quota {
            per_window: limits.per_window,
            window_ms: i64::try_from(limits.window.as_millis()).unwrap_or(i64::MAX),
            concurrent: limits.concurrent,
        };
        let started = tokio::time::Instant::now();
        let mut busy_wait = Duration::from_millis(10);
        loop {
            if self.is_stopping() {
                // Shutting down: this page goes ahead on the process's own budget and the sync is
                // handed back after it.
                return Ok(SharedSlot { store: None });
            }
            let id = ledgerlink_domain::new_id("slot");
            let now = self.now();
            let hold = now + chrono::Duration::from_std(SLOT_HOLD).unwrap_or_default();
            let wait = match self
                .store()
                .budget_acquire(principal, &id, quota, millis(now), millis(hold))
                .await
            {
                Ok(Ok(())) => {
                    return Ok(SharedSlot {
                        store: Some((self.store().clone(), id)),
                    });
                }
                Ok(Err(BudgetWait::Until(at))) => {
                    let wait = Duration::from_millis(u64::try_from(at - millis(now)).unwrap_or(0));
                    if wait > LONGEST_WAIT {
                        return Err(wait);
                    }
                    wait
                }
                Ok(Err(BudgetWait::Busy)) => {
                    if started.elapsed() > LONGEST_BUSY {
                        return Err(LONGEST_WAIT);
                    }
                    // Jittered so that waiters of several processes do not ask in lockstep.
                    let wait = busy_wait.mul_f64(0.5 + rand::random::<f64>());
                    busy_wait = (busy_wait * 2).min(Duration::from_millis(100));
                    wait
                }
                Err(e) => {
                    tracing::warn!(error = %e, principal, "shared request budget unavailable; using this process's own");
                    return Ok(SharedSlot { store: None });
                }
            };
            tracing::debug!(
                principal,
                wait_ms = wait.as_millis() as u64,
                "shared request budget: waiting"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Tells every process that BC asked `principal` to wait `retry_after`.
    pub(crate) async fn shared_pause(&self, principal: &str, retry_after: Duration) {
        let until = self.now() + chrono::Duration::from_std(retry_after).unwrap_or_default();
        if let Err(e) = self.store().budget_pause(principal, millis(until)).await {
            tracing::warn!(error = %e, "could not share a pause BC asked for");
        }
    }

    /// Forgets expired slots and budgets nobody used for a day.
    pub(crate) async fn sweep_shared_budgets(&self) {
        let now = millis(self.now());
        match self.store().budget_sweep(now, 24 * 3600 * 1000).await {
            Ok(0) => {}
            Ok(rows) => tracing::debug!(rows, "swept shared request budgets"),
            Err(e) => tracing::warn!(error = %e, "could not sweep shared request budgets"),
        }
    }
}
