//! Idempotent scheduling: asking twice, or from several schedulers at once, queues one sync per model.

use std::collections::HashMap;

use chrono::Duration;
use ledgerlink_domain::{Connection, OrgId, SyncStatus};
use ledgerlink_store::{NewSync, ScheduleTick, Store};

use crate::harness::{TestDb, at, model, org, queue_invoices, ready_connection};

const OVERLAP: Duration = Duration::seconds(60);
const RECHECK: Duration = Duration::seconds(300);

/// The connection's syncs with this status (stored ones; planned ones only for `Scheduled`).
async fn syncs(
    s: &std::sync::Arc<dyn Store>,
    org: &OrgId,
    c: &Connection,
    status: SyncStatus,
) -> Vec<ledgerlink_domain::Sync> {
    s.list_syncs(org, &c.id, None, Some(status), 1000)
        .await
        .unwrap()
}

/// Makes every read-enabled model of `c` due at `when`; returns their ids.
async fn make_due(
    s: &std::sync::Arc<dyn Store>,
    c: &Connection,
    when: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    let mut ids = Vec::new();
    for m in c.models.iter().filter(|m| m.is_read_enabled) {
        assert!(
            s.update_model(
                &c.org_id,
                &c.id,
                &m.id,
                None,
                None,
                None,
                None,
                Some(when),
                at(0)
            )
            .await
            .unwrap()
        );
        ids.push(m.id.clone());
    }
    ids
}

#[tokio::test]
async fn enqueueing_twice_returns_the_active_sync() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let c = ready_connection(s, &acme, "Acme").await;

    let first = queue_invoices(s, &c).await;
    let second = queue_invoices(s, &c).await;
    assert_eq!(second.id, first.id);
    assert_eq!(second.status, SyncStatus::Queued);
    let queued = syncs(s, &acme, &c, SyncStatus::Queued).await;
    assert_eq!(queued.len(), 1, "{queued:?}");

    // Twice in one request: still one.
    let m = model(&c, "invoices");
    let want = NewSync::queued(&m.id, &m.name, None, None, at(0), OVERLAP, None, true);
    let both = s
        .enqueue_syncs(&acme, &c.id, &[want.clone(), want.clone()], at(1))
        .await
        .unwrap();
    assert!(both.iter().all(|x| x.id == first.id), "{both:?}");

    // Still the one while it runs; a new one once it has ended.
    let job = s.claim_sync("w", at(2), at(60)).await.unwrap().unwrap();
    let again = s
        .enqueue_syncs(&acme, &c.id, std::slice::from_ref(&want), at(3))
        .await
        .unwrap();
    assert_eq!(again[0].id, first.id);
    assert_eq!(again[0].status, SyncStatus::Running);
    assert!(
        s.finish_sync(
            &job,
            "w",
            &ledgerlink_store::SyncEnd::Complete { reconcile: false },
            at(4)
        )
        .await
        .unwrap()
    );
    let next = s.enqueue_syncs(&acme, &c.id, &[want], at(5)).await.unwrap();
    assert_ne!(next[0].id, first.id);
    assert_eq!(next[0].status, SyncStatus::Queued);
    assert_eq!(syncs(s, &acme, &c, SyncStatus::Queued).await.len(), 1);
}

#[tokio::test]
async fn concurrent_requests_for_one_model_get_one_sync() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let c = ready_connection(s, &acme, "Acme").await;
    let other = db.second_handle().await;
    let m = model(&c, "invoices");
    let want = NewSync::queued(&m.id, &m.name, None, None, at(0), OVERLAP, None, true);

    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = if i % 2 == 0 { s.clone() } else { other.clone() };
        let (org, conn, want) = (acme.clone(), c.id.clone(), want.clone());
        tasks.push(tokio::spawn(async move {
            store
                .enqueue_syncs(&org, &conn, &[want], at(1))
                .await
                .unwrap()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap()[0].id.clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(syncs(s, &acme, &c, SyncStatus::Queued).await.len(), 1);
}

#[tokio::test]
async fn a_tick_repeated_at_the_same_instant_queues_once() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let c = ready_connection(s, &acme, "Acme").await;
    let inv = model(&c, "invoices");
    assert!(
        s.update_model(
            &acme,
            &c.id,
            &inv.id,
            None,
            None,
            None,
            None,
            Some(at(0)),
            at(0)
        )
        .await
        .unwrap()
    );
    // Not due yet.
    assert_eq!(
        s.schedule_due(at(-1), 100, OVERLAP, RECHECK).await.unwrap(),
        ScheduleTick::default()
    );

    let tick = s.schedule_due(at(10), 100, OVERLAP, RECHECK).await.unwrap();
    assert_eq!(
        (tick.due, tick.queued, tick.already_active, tick.deferred),
        (1, 1, 0, 0)
    );
    let again = s.schedule_due(at(10), 100, OVERLAP, RECHECK).await.unwrap();
    assert_eq!(
        again,
        ScheduleTick::default(),
        "the model was moved on: nothing due"
    );
    let queued = syncs(s, &acme, &c, SyncStatus::Queued).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].model_id, inv.id);

    // Due again while that one is still queued: nothing more is queued.
    let later = at(10 + inv.sync_frequency_secs.max(60));
    let tick = s.schedule_due(later, 100, OVERLAP, RECHECK).await.unwrap();
    assert_eq!((tick.due, tick.queued, tick.already_active), (1, 0, 1));
    assert_eq!(syncs(s, &acme, &c, SyncStatus::Queued).await.len(), 1);
}

#[tokio::test]
async fn concurrent_schedulers_queue_each_due_model_once() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let globex = org(s, "globex").await;
    let mut connections = Vec::new();
    let mut due = Vec::new();
    for (o, name) in [(&acme, "A1"), (&acme, "A2"), (&globex, "G1")] {
        let c = ready_connection(s, o, name).await;
        due.extend(make_due(s, &c, at(0)).await);
        connections.push(c);
    }
    assert!(
        due.len() >= 6,
        "expected several read-enabled models, got {}",
        due.len()
    );
    let other = db.second_handle().await;

    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = if i % 2 == 0 { s.clone() } else { other.clone() };
        // Small limits: the schedulers take the due models in several bites, in parallel.
        tasks.push(tokio::spawn(async move {
            let mut total = ScheduleTick::default();
            loop {
                let t = store
                    .schedule_due(at(10), 2, OVERLAP, RECHECK)
                    .await
                    .unwrap();
                if t.due == 0 {
                    return total;
                }
                total.due += t.due;
                total.queued += t.queued;
                total.already_active += t.already_active;
            }
        }));
    }
    let mut queued = 0;
    let mut taken = 0;
    for t in tasks {
        let tick = t.await.unwrap();
        queued += tick.queued;
        taken += tick.due;
    }
    assert_eq!(taken, due.len(), "each due model taken by exactly one tick");
    assert_eq!(queued, due.len());

    let mut per_model: HashMap<String, usize> = HashMap::new();
    for c in &connections {
        for x in syncs(s, &c.org_id, c, SyncStatus::Queued).await {
            *per_model.entry(x.model_id).or_default() += 1;
        }
    }
    assert_eq!(per_model.len(), due.len());
    assert!(per_model.values().all(|n| *n == 1), "{per_model:?}");
}
