//! Holding a lease: every leased piece of work (a sync attempt, a job) renews its lease on a
//! heartbeat independent of its progress, and stops as soon as a renewal finds the lease lost.

use std::future::Future;
use std::time::Duration;

use ledgerlink_store::StoreError;

/// Renews a lease of length `lease` every third of it by calling `renew` (true: still held).
/// Returns only when a renewal finds the lease lost; a failing database is retried at the next beat
/// (it may be back before the lease runs out).
pub async fn hold<F, Fut>(lease: chrono::Duration, mut renew: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, StoreError>>,
{
    let every = (lease / 3)
        .to_std()
        .unwrap_or(Duration::from_secs(40))
        .max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(every).await;
        match renew().await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => tracing::warn!(error = %e, "could not renew a lease"),
        }
    }
}

/// Runs `work` while holding its lease; `None` when the lease was lost first (the work was dropped,
/// cancelling whatever request it had in flight).
pub async fn run_holding<T, F, Fut>(
    lease: chrono::Duration,
    renew: F,
    work: impl Future<Output = T>,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, StoreError>>,
{
    tokio::select! {
        out = work => Some(out),
        () = hold(lease, renew) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn work_stops_when_a_renewal_finds_the_lease_lost() {
        let renewals = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let out = run_holding(
            chrono::Duration::milliseconds(300),
            || async {
                // Held at the first beat, lost at the second.
                Ok(renewals.fetch_add(1, Ordering::SeqCst) == 0)
            },
            tokio::time::sleep(Duration::from_secs(30)),
        )
        .await;
        assert_eq!(out, None, "the work was dropped");
        assert_eq!(renewals.load(Ordering::SeqCst), 2);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn work_that_ends_first_returns_its_output_and_a_failing_database_is_not_a_lost_lease() {
        let out = run_holding(
            chrono::Duration::milliseconds(150),
            || async { Err(StoreError::Unavailable("restarting".into())) },
            async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                7
            },
        )
        .await;
        assert_eq!(out, Some(7));
    }
}
