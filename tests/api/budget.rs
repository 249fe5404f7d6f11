//! The request budget every process shares through the store: window, concurrency, pauses.

use ledgerlink_store::{BudgetWait, Quota, Store};
use std::sync::Arc;

use crate::harness::TestApp;

/// A second handle on the app's database, as another process would open it.
async fn other_process(app: &TestApp) -> Arc<dyn Store> {
    ledgerlink::open_store(&app.config).await.unwrap()
}

const QUOTA: Quota = Quota {
    per_window: 6,
    window_ms: 60_000,
    concurrent: 2,
};

#[tokio::test]
async fn two_processes_share_one_window_and_one_set_of_slots() {
    let app = TestApp::start().await;
    let a = app.running.engine.store().clone();
    let b = other_process(&app).await;
    let t = 1_000_000_000_000i64;
    let hold = t + 150_000;

    // Two slots between both processes; a third request waits for one to end.
    assert_eq!(
        a.budget_acquire("tenant-1", "s1", QUOTA, t, hold)
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        b.budget_acquire("tenant-1", "s2", QUOTA, t, hold)
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        b.budget_acquire("tenant-1", "s3", QUOTA, t, hold)
            .await
            .unwrap(),
        Err(BudgetWait::Busy)
    );
    // Another principal has its own budget.
    assert_eq!(
        a.budget_acquire("tenant-2", "x1", QUOTA, t, hold)
            .await
            .unwrap(),
        Ok(())
    );
    a.budget_release("s1").await.unwrap();
    assert_eq!(
        b.budget_acquire("tenant-1", "s3", QUOTA, t + 1, hold)
            .await
            .unwrap(),
        Ok(())
    );

    // Six requests per window in all: s1, s2, s3 and three more, whichever process sends them.
    for (i, store) in [&a, &b, &a].into_iter().enumerate() {
        store
            .budget_release(if i == 0 {
                "s2"
            } else if i == 1 {
                "s3"
            } else {
                "s4"
            })
            .await
            .unwrap();
        let id = format!("s{}", i + 4);
        assert_eq!(
            store
                .budget_acquire("tenant-1", &id, QUOTA, t + 10 + i as i64, hold)
                .await
                .unwrap(),
            Ok(()),
            "request {}",
            i + 4
        );
    }
    for s in ["s5", "s6"] {
        a.budget_release(s).await.unwrap();
    }
    let Err(BudgetWait::Until(at)) = b
        .budget_acquire("tenant-1", "s7", QUOTA, t + 20, hold)
        .await
        .unwrap()
    else {
        panic!("the seventh request within the window must wait");
    };
    // Not before the first request has left the window (at most one bucket later).
    assert!(at >= t + QUOTA.window_ms, "{at}");
    assert!(at <= t + QUOTA.window_ms + 2 * QUOTA.bucket_ms(), "{at}");
    assert_eq!(
        b.budget_acquire("tenant-1", "s7", QUOTA, at, at + 150_000)
            .await
            .unwrap(),
        Ok(())
    );
}

#[tokio::test]
async fn a_crashed_holders_slot_frees_itself_and_pauses_hold_for_everyone() {
    let app = TestApp::start().await;
    let a = app.running.engine.store().clone();
    let b = other_process(&app).await;
    let t = 1_000_000_000_000i64;
    // Process a takes both slots and dies without releasing them.
    for s in ["dead-1", "dead-2"] {
        assert_eq!(
            a.budget_acquire("p", s, QUOTA, t, t + 1_000).await.unwrap(),
            Ok(())
        );
    }
    assert_eq!(
        b.budget_acquire("p", "b1", QUOTA, t + 999, t + 5_000)
            .await
            .unwrap(),
        Err(BudgetWait::Busy)
    );
    assert_eq!(
        b.budget_acquire("p", "b1", QUOTA, t + 1_001, t + 5_000)
            .await
            .unwrap(),
        Ok(())
    );

    // BC asked a to wait 30 s: b waits too; a shorter pause does not shorten it.
    a.budget_pause("p", t + 31_000).await.unwrap();
    b.budget_pause("p", t + 2_000).await.unwrap();
    assert_eq!(
        b.budget_acquire("p", "b2", QUOTA, t + 1_500, t + 5_000)
            .await
            .unwrap(),
        Err(BudgetWait::Until(t + 31_000))
    );
    assert_eq!(
        b.budget_acquire("p", "b2", QUOTA, t + 31_000, t + 40_000)
            .await
            .unwrap(),
        Ok(())
    );
}

/// Many acquirers at once from two handles never hold more than `concurrent` slots.
#[tokio::test]
async fn concurrent_acquirers_never_exceed_the_slots() {
    let app = TestApp::start().await;
    let stores = [
        app.running.engine.store().clone(),
        other_process(&app).await,
    ];
    let t = 1_000_000_000_000i64;
    let quota = Quota {
        per_window: 1_000,
        window_ms: 60_000,
        concurrent: 3,
    };
    let tries = futures::future::join_all((0..24).map(|i| {
        let store = stores[i % 2].clone();
        async move {
            store
                .budget_acquire("busy", &format!("c{i}"), quota, t, t + 60_000)
                .await
                .unwrap()
        }
    }))
    .await;
    let granted = tries.iter().filter(|r| r.is_ok()).count();
    assert_eq!(granted, 3, "{tries:?}");
}
