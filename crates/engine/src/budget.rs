//! A client-side request budget per Business Central principal.
//!
//! Business Central limits each user or service principal to 6,000 OData requests per 5-minute
//! sliding window and processes 5 of its requests at once; beyond that it answers 429, or 503 when
//! a request waited in its queue for more than 8 minutes. Every sync and worker of a process that
//! talks to the same principal shares one budget here, so we queue on our side, in order, instead of
//! being throttled by BC.
//!
//! A principal is identified by a string chosen by the caller: the Entra tenant id plus client id for
//! cloud connections, the on-premises API URL plus user name for on-prem ones.
//!
//! This budget is per process and never touches the database. Behind it, every request also takes
//! its place in the same budget kept in the store, shared by all processes (`shared_budget.rs`), so
//! several worker processes talking to the same principal stay within BC's limits together.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, sleep_until};

/// How much one principal may ask of Business Central.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetLimits {
    /// Requests allowed to start within any `window`.
    pub per_window: u32,
    /// The length of the sliding window.
    pub window: Duration,
    /// Requests allowed in flight at once.
    pub concurrent: u32,
}

impl Default for BudgetLimits {
    /// 5,400 requests per 5 minutes and 5 at once.
    ///
    /// 10% under BC's 6,000 because we count a request when we send it while BC counts it when it
    /// arrives, on its own clock, and because the same principal may be used by other clients of the
    /// customer (or by another ledgerlink process) that this budget cannot see: the headroom absorbs
    /// those instead of turning them into 429s. Concurrency is exactly BC's 5: BC queues extra
    /// requests rather than rejecting them, so going lower would only cost throughput, and going
    /// higher would make our requests wait in BC's queue, where the 8-minute clock runs.
    fn default() -> Self {
        Self {
            per_window: 5_400,
            window: Duration::from_secs(5 * 60),
            concurrent: 5,
        }
    }
}

/// Limits that would make every request wait forever.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request budget: {0} must be greater than zero")]
pub struct InvalidLimits(&'static str);

impl BudgetLimits {
    /// Checks that every limit lets at least one request through.
    pub fn validate(&self) -> Result<(), InvalidLimits> {
        if self.per_window == 0 {
            return Err(InvalidLimits("per_window"));
        }
        if self.window.is_zero() {
            return Err(InvalidLimits("window"));
        }
        if self.concurrent == 0 {
            return Err(InvalidLimits("concurrent"));
        }
        Ok(())
    }
}

/// The request budgets of every principal this process talks to. Cheap to clone; clones share the
/// budgets.
///
/// Principals nobody has used for a whole window are forgotten, so memory stays bounded by the
/// principals active in the last window (each keeps at most `per_window` timestamps).
#[derive(Debug, Clone)]
pub struct Budgets {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limits: BudgetLimits,
    registry: Mutex<Registry>,
}

#[derive(Debug)]
struct Registry {
    principals: HashMap<String, Arc<Principal>>,
    last_sweep: Instant,
}

#[derive(Debug)]
struct Principal {
    /// Requests in flight. Tokio's semaphore is fair: waiters are served first come, first served.
    slots: Arc<Semaphore>,
    /// Serialises waiting for a window slot, first come first served, so that when a slot frees the
    /// request that has waited longest takes it.
    gate: tokio::sync::Mutex<()>,
    window: Mutex<Window>,
}

/// Start times of the requests in the current window, oldest first, and the end of a pause BC
/// asked for.
#[derive(Debug, Default)]
struct Window {
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

/// The right to send one request to Business Central as a principal. Dropping it frees the
/// principal's concurrency slot; the request keeps counting against the window until the window
/// has slid past its start.
#[derive(Debug)]
#[must_use = "the request budget is released as soon as the permit is dropped"]
pub struct Permit {
    _slot: OwnedSemaphorePermit,
    // Keeps the principal registered (not evicted) while the request is in flight.
    _principal: Arc<Principal>,
}

impl Budgets {
    /// Budgets that give every principal `limits`.
    ///
    /// # Panics
    /// If `limits` is invalid (see [`BudgetLimits::validate`]); validate configuration at start-up.
    pub fn new(limits: BudgetLimits) -> Self {
        if let Err(e) = limits.validate() {
            panic!("{e}");
        }
        let registry = Registry {
            principals: HashMap::new(),
            last_sweep: Instant::now(),
        };
        Self {
            inner: Arc::new(Inner {
                limits,
                registry: Mutex::new(registry),
            }),
        }
    }

    /// The limits every principal gets.
    pub fn limits(&self) -> BudgetLimits {
        self.inner.limits
    }

    /// Waits until `principal` may send one more request, then counts it.
    ///
    /// A request may start when fewer than `concurrent` of the principal's requests are in flight,
    /// fewer than `per_window` started within the last `window`, and no pause asked for by BC is
    /// running. Callers are served in the order they asked. Waiting sleeps on tokio's timer; it
    /// never polls.
    ///
    /// Cancel safe: dropping the future before it completes uses up nothing.
    pub async fn acquire(&self, principal: &str) -> Permit {
        let entry = self.principal(principal);
        let slot = Arc::clone(&entry.slots)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let gate = entry.gate.lock().await;
        loop {
            let admitted = lock(&entry.window).admit(Instant::now(), &self.inner.limits);
            match admitted {
                Ok(()) => break,
                Err(until) => {
                    tracing::debug!(
                        principal,
                        wait_ms =
                            until.saturating_duration_since(Instant::now()).as_millis() as u64,
                        "request budget exhausted, waiting"
                    );
                    sleep_until(until).await;
                }
            }
        }
        drop(gate);
        Permit {
            _slot: slot,
            _principal: entry,
        }
    }

    /// Pauses `principal` for `retry_after` from now: every caller of [`Budgets::acquire`] for that
    /// principal waits until then. Call it when Business Central answered 429 or 503 (with the
    /// `Retry-After` it gave, or a backoff when it gave none). A pause never shortens one already
    /// running. Other principals are unaffected.
    pub fn throttled(&self, principal: &str, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        let entry = self.principal(principal);
        let mut window = lock(&entry.window);
        if window.paused_until.is_none_or(|current| current < until) {
            window.paused_until = Some(until);
        }
        tracing::debug!(
            principal,
            retry_after_ms = retry_after.as_millis() as u64,
            "Business Central throttled a principal; pausing its requests"
        );
    }

    /// How many principals are currently tracked (for metrics and tests).
    pub fn tracked_principals(&self) -> usize {
        lock(&self.inner.registry).principals.len()
    }

    /// The principal's entry, created on first use. Sweeps idle principals once per window.
    fn principal(&self, key: &str) -> Arc<Principal> {
        let now = Instant::now();
        let limits = &self.inner.limits;
        let mut registry = lock(&self.inner.registry);
        if now.saturating_duration_since(registry.last_sweep) >= limits.window {
            registry.evict_idle(now, limits.window);
        }
        if let Some(entry) = registry.principals.get(key) {
            return Arc::clone(entry);
        }
        let entry = Arc::new(Principal::new(limits));
        registry
            .principals
            .insert(key.to_owned(), Arc::clone(&entry));
        entry
    }
}

impl Registry {
    /// Forgets principals that nobody holds or waits for, with no request left in the window and no
    /// pause running: a fresh entry would behave exactly the same.
    fn evict_idle(&mut self, now: Instant, window: Duration) {
        let before = self.principals.len();
        self.principals.retain(|_, entry| {
            // The registry lock is held, so no new clone of `entry` can appear meanwhile.
            Arc::strong_count(entry) > 1 || !lock(&entry.window).is_idle(now, window)
        });
        self.last_sweep = now;
        let evicted = before - self.principals.len();
        if evicted > 0 {
            tracing::debug!(evicted, "forgot idle request budgets");
        }
    }
}

impl Principal {
    fn new(limits: &BudgetLimits) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limits.concurrent as usize)),
            gate: tokio::sync::Mutex::new(()),
            window: Mutex::new(Window::default()),
        }
    }
}

impl Window {
    /// Counts a request starting `now` if the window and any pause allow it; otherwise returns when
    /// to try again.
    fn admit(&mut self, now: Instant, limits: &BudgetLimits) -> Result<(), Instant> {
        self.forget_before(now, limits.window);
        if let Some(until) = self.paused_until {
            if now < until {
                return Err(until);
            }
            self.paused_until = None;
        }
        if self.sent.len() >= limits.per_window as usize {
            let oldest = self.sent.front().copied().expect("per_window > 0");
            return Err(oldest + limits.window);
        }
        self.sent.push_back(now);
        Ok(())
    }

    /// Drops the requests the window has slid past: those that started at least `window` ago.
    fn forget_before(&mut self, now: Instant, window: Duration) {
        while let Some(&oldest) = self.sent.front() {
            if now.saturating_duration_since(oldest) < window {
                break;
            }
            self.sent.pop_front();
        }
    }

    fn is_idle(&mut self, now: Instant, window: Duration) -> bool {
        self.forget_before(now, window);
        self.sent.is_empty() && self.paused_until.is_none_or(|until| until <= now)
    }
}

/// Locks a std mutex, ignoring poisoning: no critical section here can leave the data half-updated.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
