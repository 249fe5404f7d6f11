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

use ledgerlink_store::{BudgetWait, Quota, Store};

use crate::connections::Engine;

/// How long a slot is held when its holder never releases it (it crashed): a little longer than
/// the longest request.
const SLOT_HOLD: Duration = Duration::from_secs(150);

/// Longest single wait before asking the store again.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// A request's place in the shared budget; dropping it frees the concurrency slot.
#[must_use = "the shared slot is released as soon as it is dropped"]
pub(crate) struct SharedSlot {
    store: Option<(Arc<dyn Store>, String)>,
}

impl Drop for SharedSlot {
    fn drop(&mut self) {
        if let Some((store, id)) = self.store.take() {
            let release = async move {
                if let Err(e) = store.budget_release(&id).await {
                    tracing::warn!(error = %e, "could not release a shared request slot");
                }
            };
            // Without a runtime (shutting down) the slot frees itself after SLOT_HOLD.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                drop(handle.spawn(release));
            }
        }
    }
}

fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

impl Engine {
    /// Waits until `principal` may send one more request according to the budget every process
    /// shares, then holds one of its slots until the returned value is dropped.
    pub(crate) async fn shared_slot(&self, principal: &str) -> SharedSlot {
        let limits = self.budgets().limits();
        let quota = Quota {
            per_window: limits.per_window,
            window_ms: i64::try_from(limits.window.as_millis()).unwrap_or(i64::MAX),
            concurrent: limits.concurrent,
        };
        let mut busy_wait = Duration::from_millis(20);
        loop {
            let id = ledgerlink_domain::new_id("slot");
            let now = ledgerlink_domain::now();
            let hold = now + chrono::Duration::from_std(SLOT_HOLD).unwrap_or_default();
            let wait = match self
                .store()
                .budget_acquire(principal, &id, quota, millis(now), millis(hold))
                .await
            {
                Ok(Ok(())) => {
                    return SharedSlot {
                        store: Some((self.store().clone(), id)),
                    };
                }
                Ok(Err(BudgetWait::Until(at))) => {
                    let ms = u64::try_from(at - millis(now)).unwrap_or(0);
                    Duration::from_millis(ms).min(MAX_WAIT)
                }
                Ok(Err(BudgetWait::Busy)) => {
                    let wait = busy_wait;
                    busy_wait = (busy_wait * 2).min(Duration::from_millis(500));
                    wait
                }
                Err(e) => {
                    tracing::warn!(error = %e, principal, "shared request budget unavailable; using this process's own");
                    return SharedSlot { store: None };
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
        let until =
            ledgerlink_domain::now() + chrono::Duration::from_std(retry_after).unwrap_or_default();
        if let Err(e) = self.store().budget_pause(principal, millis(until)).await {
            tracing::warn!(error = %e, "could not share a pause BC asked for");
        }
    }
}
