//! Each organization's API request budget: a token bucket per organization, in this process.
//! `rate` requests per second sustained, bursts of up to twice that; beyond it the request is
//! answered 429 with `Retry-After` (see [`crate::error::ApiError::RateLimited`]) before any work.
//!
//! Several API processes each keep their own buckets, so an organization may reach `rate` per
//! process; the point is to keep one tenant from starving the others, not exact accounting.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The buckets of every organization seen.
#[derive(Debug)]
pub struct TenantLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl TenantLimiter {
    /// `rate` requests per second (more than 0), bursts of `2 × rate`.
    pub fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Self {
            rate,
            burst: 2.0 * rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `count` requests a minute, all of them at once at most (no more over any minute).
    pub fn per_minute(count: u32) -> Self {
        let count = f64::from(count.max(1));
        Self {
            rate: count / 60.0,
            burst: count,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `org` now; `Err(wait)` when its budget is spent.
    pub fn check(&self, org: &str) -> Result<(), Duration> {
        self.check_at(org, Instant::now())
    }

    fn check_at(&self, org: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets.entry(org.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_sustains_the_rate_per_organization() {
        let limiter = TenantLimiter::new(10);
        let t0 = Instant::now();
        for i in 0..20 {
            assert!(limiter.check_at("org_a", t0).is_ok(), "burst request {i}");
        }
        let wait = limiter.check_at("org_a", t0).unwrap_err();
        assert!(
            wait > Duration::from_millis(90) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        // Another organization is not affected.
        assert!(limiter.check_at("org_b", t0).is_ok());
        // A second later, 10 more.
        let t1 = t0 + Duration::from_secs(1);
        for i in 0..10 {
            assert!(
                limiter.check_at("org_a", t1).is_ok(),
                "refilled request {i}"
            );
        }
        assert!(limiter.check_at("org_a", t1).is_err());
    }
}
