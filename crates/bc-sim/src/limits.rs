//! BC operational limits (per principal) and seeded fault injection.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{FaultConfig, LimitsConfig};
use crate::error::ApiError;

#[derive(Debug)]
struct Principal {
    window: Mutex<VecDeque<i64>>,
    sem: Arc<Semaphore>,
    waiting: AtomicUsize,
    running: Arc<AtomicUsize>,
}

/// A slot held while a request is processed.
#[derive(Debug)]
pub struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
    running: Option<Arc<AtomicUsize>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(r) = &self.running {
            r.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Limits state.
#[derive(Debug)]
pub struct Limits {
    /// Current configuration (admin API can change it).
    pub cfg: Mutex<LimitsConfig>,
    per: Mutex<HashMap<String, Arc<Principal>>>,
}

/// Counters of one principal (admin API / tests).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct PrincipalStats {
    /// Requests being processed.
    pub running: usize,
    /// Requests waiting in the queue.
    pub waiting: usize,
    /// Requests in the current window.
    pub in_window: usize,
}

impl Limits {
    /// New limits.
    pub fn new(cfg: LimitsConfig) -> Self {
        Limits {
            cfg: Mutex::new(cfg),
            per: Mutex::new(HashMap::new()),
        }
    }

    fn principal(&self, who: &str, cfg: &LimitsConfig) -> Arc<Principal> {
        let mut per = self.per.lock().expect("limits");
        per.entry(who.to_string())
            .or_insert_with(|| {
                Arc::new(Principal {
                    window: Mutex::new(VecDeque::new()),
                    sem: Arc::new(Semaphore::new(cfg.max_concurrent.max(1))),
                    waiting: AtomicUsize::new(0),
                    running: Arc::new(AtomicUsize::new(0)),
                })
            })
            .clone()
    }

    /// Reset per-principal state (after a config change).
    pub fn reset(&self) {
        self.per.lock().expect("limits").clear();
    }

    /// Stats per principal.
    pub fn stats(&self) -> HashMap<String, PrincipalStats> {
        self.per
            .lock()
            .expect("limits")
            .iter()
            .map(|(k, p)| {
                (
                    k.clone(),
                    PrincipalStats {
                        running: p.running.load(Ordering::SeqCst),
                        waiting: p.waiting.load(Ordering::SeqCst),
                        in_window: p.window.lock().map(|w| w.len()).unwrap_or(0),
                    },
                )
            })
            .collect()
    }

    /// Admit a request of `who` at simulated time `now` (ms), waiting in the queue if needed.
    pub async fn admit(&self, who: &str, now: i64) -> Result<Slot, ApiError> {
        let cfg = self.cfg.lock().expect("limits").clone();
        if !cfg.enabled {
            return Ok(Slot {
                _permit: None,
                running: None,
            });
        }
        let p = self.principal(who, &cfg);
        {
            let mut w = p.window.lock().expect("window");
            let start = now - cfg.window_secs as i64 * 1000;
            while w.front().is_some_and(|t| *t <= start) {
                w.pop_front();
            }
            if w.len() >= cfg.requests_per_window as usize {
                return Err(ApiError::new(
                    429,
                    "Application_TooManyRequests",
                    format!(
                        "Too many requests reached.  Actual ({}). Maximum ({}).",
                        w.len() + 1,
                        cfg.requests_per_window
                    ),
                ));
            }
            w.push_back(now);
        }
        let permit = match p.sem.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if p.waiting.load(Ordering::SeqCst) >= cfg.max_queue {
                    return Err(ApiError::new(
                        429,
                        "Application_TooManyRequests",
                        "Too many requests reached. The request queue is full.",
                    ));
                }
                p.waiting.fetch_add(1, Ordering::SeqCst);
                let r = tokio::time::timeout(
                    Duration::from_millis(cfg.queue_timeout_ms),
                    p.sem.clone().acquire_owned(),
                )
                .await;
                p.waiting.fetch_sub(1, Ordering::SeqCst);
                match r {
                    Ok(Ok(permit)) => permit,
                    _ => {
                        return Err(ApiError::new(
                            503,
                            "Internal_ServiceUnavailable",
                            "The request waited too long in the queue. Please try again later.",
                        )
                        .header("Retry-After", "30"));
                    }
                }
            }
        };
        p.running.fetch_add(1, Ordering::SeqCst);
        Ok(Slot {
            _permit: Some(permit),
            running: Some(p.running.clone()),
        })
    }
}

/// What an injected fault does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No fault.
    None,
    /// Answer with this 5xx status.
    Status5xx(u16),
    /// Answer 429.
    Throttle,
    /// Delay the answer.
    Slow(u64),
    /// Close the connection without answering.
    Drop,
    /// Send half of the body, then close.
    Truncate,
}

/// Seeded fault dice.
#[derive(Debug)]
pub struct Faults {
    /// Current configuration.
    pub cfg: FaultConfig,
    rng: StdRng,
}

impl Faults {
    /// New dice.
    pub fn new(cfg: FaultConfig, seed: u64) -> Self {
        Faults {
            cfg,
            rng: StdRng::seed_from_u64(seed ^ 0xFA17),
        }
    }

    /// Roll for one request.
    pub fn roll(&mut self) -> Fault {
        let c = &self.cfg;
        let total =
            c.error_5xx_rate + c.throttle_rate + c.slow_rate + c.drop_rate + c.truncate_rate;
        if total <= 0.0 {
            return Fault::None;
        }
        let x: f64 = self.rng.random();
        let mut acc = c.error_5xx_rate;
        if x < acc {
            return Fault::Status5xx([500, 502, 503, 504][self.rng.random_range(0..4)]);
        }
        acc += c.throttle_rate;
        if x < acc {
            return Fault::Throttle;
        }
        acc += c.slow_rate;
        if x < acc {
            return Fault::Slow(c.slow_ms);
        }
        acc += c.drop_rate;
        if x < acc {
            return Fault::Drop;
        }
        acc += c.truncate_rate;
        if x < acc {
            return Fault::Truncate;
        }
        Fault::None
    }
}
