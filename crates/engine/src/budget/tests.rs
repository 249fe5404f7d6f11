//! Budget tests run on tokio's paused clock: sleeps complete instantly, in deadline order, so the
//! timings asserted are exact and the tests take milliseconds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, advance, sleep};

use super::*;

const SEC: Duration = Duration::from_secs(1);

fn budgets(per_window: u32, window_secs: u64, concurrent: u32) -> Budgets {
    Budgets::new(BudgetLimits {
        per_window,
        window: Duration::from_secs(window_secs),
        concurrent,
    })
}

/// Seconds elapsed since `start`, exactly (paused time has no drift).
fn secs_since(start: Instant) -> f64 {
    (Instant::now() - start).as_secs_f64()
}

#[test]
fn defaults_stay_under_business_central_limits() {
    let limits = BudgetLimits::default();
    assert_eq!(limits.per_window, 5_400);
    assert_eq!(limits.window, Duration::from_secs(300));
    assert_eq!(limits.concurrent, 5);
    assert_eq!(limits.validate(), Ok(()));
}

#[test]
fn zero_limits_are_refused() {
    let ok = BudgetLimits::default();
    let no_requests = BudgetLimits {
        per_window: 0,
        ..ok
    };
    let no_window = BudgetLimits {
        window: Duration::ZERO,
        ..ok
    };
    let no_slots = BudgetLimits {
        concurrent: 0,
        ..ok
    };
    assert_eq!(no_requests.validate(), Err(InvalidLimits("per_window")));
    assert_eq!(no_window.validate(), Err(InvalidLimits("window")));
    assert_eq!(no_slots.validate(), Err(InvalidLimits("concurrent")));
}

#[tokio::test(start_paused = true)]
async fn at_most_five_requests_in_flight_among_fifty_callers() {
    let budgets = budgets(10_000, 300, 5);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (budgets, in_flight, peak) = (budgets.clone(), in_flight.clone(), peak.clone());
            tokio::spawn(async move {
                let _permit = budgets.acquire("tenant-a").await;
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                sleep(SEC).await; // the request
                in_flight.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 5);
    // 50 one-second requests, 5 at a time: 10 seconds, so slots are reused as soon as freed.
    assert_eq!(secs_since(start), 10.0);
}

#[tokio::test(start_paused = true)]
async fn the_request_past_the_window_limit_waits_for_the_oldest_to_leave() {
    let budgets = budgets(3, 10, 5);
    let start = Instant::now();
    for _ in 0..3 {
        drop(budgets.acquire("p").await); // at 0s, 1s, 2s
        advance(SEC).await;
    }
    assert_eq!(secs_since(start), 3.0);
    drop(budgets.acquire("p").await);
    assert_eq!(
        secs_since(start),
        10.0,
        "the 4th waits until the 1st (0s) leaves the window"
    );
    drop(budgets.acquire("p").await);
    assert_eq!(
        secs_since(start),
        11.0,
        "the 5th waits until the 2nd (1s) leaves"
    );
    drop(budgets.acquire("p").await);
    assert_eq!(secs_since(start), 12.0);
    // The window now holds 10s, 11s, 12s; 3 more seconds free nothing before 20s.
    advance(3 * SEC).await;
    drop(budgets.acquire("p").await);
    assert_eq!(secs_since(start), 20.0);
}

#[tokio::test(start_paused = true)]
async fn window_limit_holds_over_any_window_under_load() {
    let budgets = budgets(20, 60, 5);
    let starts = Arc::new(Mutex::new(Vec::new()));
    let origin = Instant::now();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (budgets, starts) = (budgets.clone(), starts.clone());
            tokio::spawn(async move {
                let _permit = budgets.acquire("p").await;
                starts.lock().unwrap().push(Instant::now() - origin);
                sleep(Duration::from_millis(100)).await;
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut starts = starts.lock().unwrap().clone();
    starts.sort();
    assert_eq!(starts.len(), 100);
    for (i, &start) in starts.iter().enumerate() {
        let in_window = starts[i..]
            .iter()
            .take_while(|&&s| s - start < Duration::from_secs(60));
        assert!(
            in_window.count() <= 20,
            "more than 20 requests within 60s of {start:?}"
        );
    }
    // 100 requests at 20 per minute, 5 at a time for 100ms each: the last window's requests start
    // at 4 minutes, the last of them 300ms later. No slot is left unused.
    assert_eq!(*starts.last().unwrap(), Duration::from_millis(240_300));
}

#[tokio::test(start_paused = true)]
async fn a_throttled_principal_blocks_all_its_callers_but_not_others() {
    let budgets = budgets(100, 300, 5);
    let start = Instant::now();
    budgets.throttled("a", Duration::from_secs(30));
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let budgets = budgets.clone();
            tokio::spawn(async move {
                let _permit = budgets.acquire("a").await;
                Instant::now() - start
            })
        })
        .collect();
    drop(budgets.acquire("b").await);
    assert_eq!(secs_since(start), 0.0, "another principal goes at once");
    for caller in callers {
        assert_eq!(caller.await.unwrap(), Duration::from_secs(30));
    }
}

#[tokio::test(start_paused = true)]
async fn a_throttle_reaches_callers_already_waiting_and_never_shortens() {
    let budgets = budgets(1, 10, 5);
    let start = Instant::now();
    drop(budgets.acquire("a").await);
    // This caller waits for the window (until 10s) when BC throttles the principal until 25s...
    let waiting = tokio::spawn({
        let budgets = budgets.clone();
        async move {
            let _permit = budgets.acquire("a").await;
            Instant::now() - start
        }
    });
    advance(5 * SEC).await;
    budgets.throttled("a", Duration::from_secs(20));
    // ... and a shorter Retry-After arriving later does not cut the pause short.
    budgets.throttled("a", Duration::from_secs(1));
    assert_eq!(waiting.await.unwrap(), Duration::from_secs(25));
}

#[tokio::test(start_paused = true)]
async fn callers_are_served_in_arrival_order() {
    // One slot, each request lasting a second: a fair budget serves callers first come, first served.
    let budgets = budgets(1_000, 300, 1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for caller in 0..10 {
        let (budgets, order) = (budgets.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = budgets.acquire("p").await;
            order.lock().unwrap().push(caller);
            sleep(SEC).await;
        }));
        sleep(Duration::from_millis(1)).await; // caller N asks before caller N+1
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_busy_caller_cannot_starve_a_waiting_one_on_the_window() {
    // A sync looping on requests and another that arrives while the window is full: the newcomer
    // gets the next free window slot, not the looping caller.
    let budgets = budgets(2, 10, 5);
    let start = Instant::now();
    let greedy = tokio::spawn({
        let budgets = budgets.clone();
        async move {
            let mut starts = Vec::new();
            for _ in 0..6 {
                drop(budgets.acquire("p").await);
                starts.push(Instant::now() - start);
            }
            starts
        }
    });
    sleep(Duration::from_millis(1)).await; // greedy has used the window and waits for 10s
    let newcomer = tokio::spawn({
        let budgets = budgets.clone();
        async move {
            drop(budgets.acquire("p").await);
            Instant::now() - start
        }
    });
    let newcomer = newcomer.await.unwrap();
    let greedy = greedy.await.unwrap();
    assert_eq!(greedy[..2], [Duration::ZERO, Duration::ZERO]);
    assert_eq!(
        newcomer,
        Duration::from_secs(10),
        "waited for one window, not for greedy's loop"
    );
    assert_eq!(greedy[2], Duration::from_secs(10));
    assert_eq!(greedy[3..5], [Duration::from_secs(20); 2]);
    assert_eq!(greedy[5], Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn idle_principals_are_forgotten_after_a_window() {
    let budgets = budgets(100, 60, 5);
    for i in 0..1_000 {
        drop(budgets.acquire(&format!("tenant-{i}")).await);
    }
    let held = budgets.acquire("busy").await;
    budgets.throttled("paused", Duration::from_secs(600));
    assert_eq!(budgets.tracked_principals(), 1_002);

    advance(Duration::from_secs(60)).await;
    drop(budgets.acquire("newcomer").await); // the sweep runs on use, once per window
    assert_eq!(
        budgets.tracked_principals(),
        3,
        "only the held, the paused and the new principal remain"
    );
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn a_principal_is_not_forgotten_while_its_requests_count_in_the_window() {
    let budgets = budgets(1, 60, 5);
    let start = Instant::now();
    drop(budgets.acquire("p").await);
    advance(Duration::from_secs(30)).await;
    lock(&budgets.inner.registry).evict_idle(Instant::now(), Duration::from_secs(60));
    assert_eq!(budgets.tracked_principals(), 1);
    // Had it been forgotten, this request would go at 30s and exceed 1 per minute.
    drop(budgets.acquire("p").await);
    assert_eq!(secs_since(start), 60.0);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_acquire_uses_nothing() {
    let budgets = budgets(1, 10, 1);
    let held = budgets.acquire("p").await;
    let gave_up = tokio::time::timeout(SEC, budgets.acquire("p")).await;
    assert!(gave_up.is_err());
    drop(held);
    // Only the first request counts in the window: the next one waits for it, not for the cancelled one.
    let start = Instant::now();
    drop(budgets.acquire("p").await);
    assert_eq!(secs_since(start), 9.0);
}
