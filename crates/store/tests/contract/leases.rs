//! Leases: a claimed sync belongs to its worker until the lease runs out; then another worker takes
//! it over and everything the first one still tries to write is refused.

use ledgerlink_domain::SyncStatus;
use ledgerlink_store::{RecordQuery, StoreError, SyncEnd};
use serde_json::json;

use crate::harness::{TestDb, at, org, page, queue_invoices, ready_connection, record};

#[tokio::test]
async fn an_expired_lease_passes_to_another_worker_and_the_first_is_refused() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let c = ready_connection(s, &acme, "Acme").await;
    let queued = queue_invoices(s, &c).await;

    // A claims with a lease until t+30.
    let a = s
        .claim_sync("A", at(1), at(30))
        .await
        .unwrap()
        .expect("A claims");
    assert_eq!(a.sync.id, queued.id);
    assert_eq!(a.sync.status, SyncStatus::Running);
    assert_eq!(a.sync.attempt, 1);
    assert_eq!(a.locked_by.as_deref(), Some("A"));

    // Before the lease ends nobody else gets it — not even at its last instant.
    assert!(s.claim_sync("B", at(10), at(40)).await.unwrap().is_none());
    assert!(s.claim_sync("B", at(30), at(60)).await.unwrap().is_none());

    // After it, B takes the same sync over (another attempt).
    let b = s
        .claim_sync("B", at(31), at(90))
        .await
        .unwrap()
        .expect("B takes over");
    assert_eq!(b.sync.id, queued.id);
    assert_eq!(b.sync.attempt, 2);
    assert_eq!(b.locked_by.as_deref(), Some("B"));

    // A's late page, heartbeat and conclusion are all refused, and write nothing.
    let state = json!({ "records": 1 });
    let late = [record("INV-A", json!({ "n": "from A" }))];
    let err = s
        .save_sync_page(&a, "A", page(&late, &state), at(32), at(120))
        .await
        .expect_err("A's page must be refused");
    assert!(matches!(err, StoreError::NotHeld), "got {err:?}");
    assert!(!s.renew_lease(&a, "A", at(200)).await.unwrap());
    assert!(
        !s.finish_sync(&a, "A", &SyncEnd::Complete { reconcile: true }, at(33))
            .await
            .unwrap()
    );
    let feed = |q: RecordQuery| {
        let s = s.clone();
        let org = acme.clone();
        let conn = c.id.clone();
        async move { s.list_records(&org, &conn, "invoices", &q).await.unwrap() }
    };
    let all = RecordQuery {
        limit: 100,
        include_deleted: true,
        ..Default::default()
    };
    assert!(
        feed(all.clone()).await.is_empty(),
        "A's refused page wrote records"
    );
    let job = s.get_sync(&acme, &queued.id).await.unwrap().unwrap();
    assert_eq!(job.sync.status, SyncStatus::Running);
    assert_eq!(job.locked_by.as_deref(), Some("B"));
    assert_eq!(
        job.locked_until,
        Some(at(90)),
        "A's renewal moved B's lease"
    );

    // B's writes succeed.
    let mine = [record("INV-B", json!({ "n": "from B" }))];
    let out = s
        .save_sync_page(&b, "B", page(&mine, &state), at(34), at(100))
        .await
        .unwrap();
    assert_eq!(out.written, 1);
    assert!(s.renew_lease(&b, "B", at(110)).await.unwrap());
    assert!(
        s.finish_sync(&b, "B", &SyncEnd::Complete { reconcile: false }, at(35))
            .await
            .unwrap()
    );
    let done = s.get_sync(&acme, &queued.id).await.unwrap().unwrap();
    assert_eq!(done.sync.status, SyncStatus::Complete);
    assert_eq!(done.locked_by, None);
    let records = feed(all).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].remote_id, "INV-B");

    // A finished sync is no longer claimable, whatever the time.
    assert!(
        s.claim_sync("C", at(10_000), at(10_030))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn pages_and_heartbeats_extend_the_lease() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let c = ready_connection(s, &acme, "Acme").await;
    queue_invoices(s, &c).await;

    let a = s.claim_sync("A", at(1), at(30)).await.unwrap().unwrap();
    let state = json!({ "records": 0 });
    s.save_sync_page(&a, "A", page(&[], &state), at(20), at(60))
        .await
        .unwrap();
    assert!(
        s.claim_sync("B", at(45), at(90)).await.unwrap().is_none(),
        "a page written should have extended A's lease to t+60"
    );
    assert!(s.renew_lease(&a, "A", at(120)).await.unwrap());
    assert!(
        s.claim_sync("B", at(100), at(130)).await.unwrap().is_none(),
        "a heartbeat should have extended A's lease to t+120"
    );
    let b = s.claim_sync("B", at(121), at(150)).await.unwrap();
    assert!(b.is_some(), "the lease ran out at t+120");
}

#[tokio::test]
async fn one_sync_goes_to_one_of_several_workers_claiming_at_once() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let c = ready_connection(s, &acme, "Acme").await;
    let queued = queue_invoices(s, &c).await;
    let other = db.second_handle().await;

    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = if i % 2 == 0 { s.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .claim_sync(&format!("w{i}"), at(1), at(30))
                .await
                .unwrap()
        }));
    }
    let mut claimed = Vec::new();
    for t in tasks {
        if let Some(job) = t.await.unwrap() {
            claimed.push(job);
        }
    }
    assert_eq!(
        claimed.len(),
        1,
        "claimed by {:?}",
        claimed.iter().map(|j| &j.locked_by).collect::<Vec<_>>()
    );
    assert_eq!(claimed[0].sync.id, queued.id);
    assert_eq!(claimed[0].sync.attempt, 1);
}
