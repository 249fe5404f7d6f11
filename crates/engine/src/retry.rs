//! When, and whether, a failed sync is tried again.
//!
//! A sync that failed with a retryable error (throttled, transient) goes to `pending_retry` with the
//! delay [`RetryPolicy::next_delay`] gives, or to `failed` when it gives none.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with full jitter, bounded in attempts and in delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included: after this many the sync has failed.
    pub max_attempts: u32,
    /// The backoff ceiling after the first failed attempt; it doubles with each further one.
    pub base: Duration,
    /// The highest backoff ceiling. A server's `Retry-After` may still ask for longer.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 6 attempts, backoff ceilings of 30s, 1, 2, 4 and 8 minutes: about a quarter of an hour of
    /// retries at most (the usual interval between syncs of a model) before the sync fails and the
    /// connection's health shows it.
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base: Duration::from_secs(30),
            max_delay: Duration::from_secs(15 * 60),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before trying again after attempt number `attempt` (1 for the first, as in
    /// a sync's `attempt`) failed, or `None` when that was the last allowed attempt.
    ///
    /// The delay is drawn uniformly between zero and `min(max_delay, base × 2^(attempt − 1))`
    /// ("full jitter"): syncs that fail together, say because their principal was throttled,
    /// come back spread out instead of all at once. It is never shorter than `retry_after`, the
    /// server's `Retry-After`, even when that exceeds `max_delay`: trying earlier would only be
    /// refused again.
    pub fn next_delay<R: Rng + ?Sized>(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut R,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let ceiling = self.ceiling(attempt);
        let jittered = ceiling.mul_f64(rng.random::<f64>());
        Some(jittered.max(retry_after.unwrap_or_default()))
    }

    /// The backoff ceiling after attempt `attempt` failed: `base × 2^(attempt − 1)`, capped.
    fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.max(1) - 1;
        let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            base: 10 * SEC,
            max_delay: 300 * SEC,
        }
    }

    /// Mean and largest of 1,000 delays after `attempt`, from a fixed seed.
    fn sample(policy: &RetryPolicy, attempt: u32) -> (Duration, Duration) {
        let mut rng = StdRng::seed_from_u64(7);
        let delays: Vec<_> = (0..1_000)
            .map(|_| policy.next_delay(attempt, None, &mut rng).unwrap())
            .collect();
        (
            delays.iter().sum::<Duration>() / 1_000,
            *delays.iter().max().unwrap(),
        )
    }

    #[test]
    fn ceilings_double_then_cap() {
        let ceilings: Vec<_> = (1..=7).map(|a| policy().ceiling(a).as_secs()).collect();
        assert_eq!(ceilings, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(
            policy().ceiling(0),
            10 * SEC,
            "attempt 0 is treated as the first"
        );
        assert_eq!(policy().ceiling(u32::MAX), 300 * SEC, "no overflow");
    }

    #[test]
    fn delays_grow_with_attempts_and_stay_under_the_cap() {
        let policy = policy();
        let mut previous_mean = Duration::ZERO;
        for attempt in 1..=5 {
            let (mean, max) = sample(&policy, attempt);
            assert!(max <= policy.ceiling(attempt), "attempt {attempt}: {max:?}");
            assert!(
                mean > previous_mean,
                "attempt {attempt}: mean {mean:?} did not grow"
            );
            // Full jitter: the mean sits near half the ceiling, the largest near the ceiling.
            let half = policy.ceiling(attempt) / 2;
            assert!(
                mean > half.mul_f64(0.9) && mean < half.mul_f64(1.1),
                "{mean:?}"
            );
            assert!(max > policy.ceiling(attempt).mul_f64(0.95), "{max:?}");
            previous_mean = mean;
        }
        for attempt in 6..=9 {
            let (_, max) = sample(&policy, attempt);
            assert!(max <= policy.max_delay, "attempt {attempt}: {max:?}");
        }
    }

    #[test]
    fn delays_are_jittered() {
        let mut rng = StdRng::seed_from_u64(1);
        let delays: Vec<_> = (0..20)
            .map(|_| policy().next_delay(3, None, &mut rng).unwrap())
            .collect();
        let mut distinct = delays.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), delays.len(), "{delays:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (1..10)
                .map(|a| policy().next_delay(a, None, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn never_sooner_than_retry_after() {
        let mut rng = StdRng::seed_from_u64(3);
        for attempt in 1..=9 {
            for _ in 0..100 {
                let delay = policy()
                    .next_delay(attempt, Some(45 * SEC), &mut rng)
                    .unwrap();
                assert!(delay >= 45 * SEC, "attempt {attempt}: {delay:?}");
            }
        }
    }

    #[test]
    fn retry_after_beyond_the_cap_is_honoured() {
        let mut rng = StdRng::seed_from_u64(4);
        let delay = policy().next_delay(1, Some(3_600 * SEC), &mut rng);
        assert_eq!(delay, Some(3_600 * SEC));
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..policy()
        };
        let mut rng = StdRng::seed_from_u64(5);
        assert!(policy.next_delay(1, None, &mut rng).is_some());
        assert!(policy.next_delay(2, None, &mut rng).is_some());
        assert_eq!(policy.next_delay(3, None, &mut rng), None);
        assert_eq!(
            policy.next_delay(4, Some(SEC), &mut rng),
            None,
            "Retry-After does not revive it"
        );
    }

    #[test]
    fn the_default_policy_retries_for_about_a_quarter_hour() {
        let policy = RetryPolicy::default();
        let worst: Duration = (1..policy.max_attempts).map(|a| policy.ceiling(a)).sum();
        assert_eq!(worst, Duration::from_secs(30 + 60 + 120 + 240 + 480));
        let mut rng = StdRng::seed_from_u64(6);
        assert_eq!(policy.next_delay(policy.max_attempts, None, &mut rng), None);
    }
}
