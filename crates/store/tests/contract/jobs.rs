//! The background-job queue: one waiting copy per kind and key, never two running at once, leases
//! taken back after they run out, and late reports refused.

use ledgerlink_store::{JobEnd, NewJob};
use serde_json::json;

use crate::harness::{TestDb, at, org, ready_connection};

fn setup_of(c: &ledgerlink_domain::Connection, run_after_secs: i64) -> NewJob {
    NewJob {
        kind: "setup".into(),
        unique_key: Some(c.id.clone()),
        org_id: Some(c.org_id.clone()),
        connection_id: Some(c.id.clone()),
        payload: json!({"n": run_after_secs}),
        run_after: at(run_after_secs),
    }
}

#[tokio::test]
async fn a_waiting_job_absorbs_its_copies_and_starts_its_attempts_afresh() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let c = ready_connection(s, &acme, "Acme").await;
    let first = s.enqueue_job(&setup_of(&c, 50), at(0)).await.unwrap();
    let again = s.enqueue_job(&setup_of(&c, 20), at(1)).await.unwrap();
    let later = s.enqueue_job(&setup_of(&c, 90), at(2)).await.unwrap();
    assert_eq!(
        (first.as_str(), again.as_str()),
        (later.as_str(), later.as_str())
    );
    let jobs = s.connection_jobs(&acme, &c.id).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].run_after, at(20), "the earlier run_after wins");
    assert_eq!(jobs[0].payload, json!({"n": 90}), "the newest payload");

    // An attempt fails and is retried later; a new request resets its count.
    let j = s.claim_job("A", at(20), at(80)).await.unwrap().unwrap();
    assert_eq!(j.attempt, 1);
    let retry = JobEnd::Retry {
        error: "throttled".into(),
        run_after: at(500),
    };
    assert!(s.finish_job(&j.id, "A", &retry, at(21)).await.unwrap());
    s.enqueue_job(&setup_of(&c, 30), at(30)).await.unwrap();
    let jobs = s.connection_jobs(&acme, &c.id).await.unwrap();
    assert_eq!((jobs[0].attempt, jobs[0].run_after), (0, at(30)));
    assert_eq!(jobs[0].last_error, None);
}

#[tokio::test]
async fn two_jobs_of_one_key_never_run_at_once_even_after_a_lease_ran_out() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let c = ready_connection(s, &acme, "Acme").await;
    s.enqueue_job(&setup_of(&c, 0), at(0)).await.unwrap();
    let x = s.claim_job("A", at(1), at(30)).await.unwrap().unwrap();
    // A copy queued while X runs waits for X, whatever X's lease says.
    let y_id = s.enqueue_job(&setup_of(&c, 2), at(2)).await.unwrap();
    assert_ne!(x.id, y_id);
    assert!(s.claim_job("B", at(10), at(40)).await.unwrap().is_none());
    // After X's lease ran out, X is taken back first — and Y still waits.
    let back = s.claim_job("B", at(31), at(60)).await.unwrap().unwrap();
    assert_eq!((back.id.as_str(), back.attempt), (x.id.as_str(), 2));
    assert!(s.claim_job("C", at(32), at(60)).await.unwrap().is_none());
    // A's late report is refused; B's counts.
    assert!(
        !s.finish_job(&x.id, "A", &JobEnd::Done, at(33))
            .await
            .unwrap()
    );
    assert!(!s.renew_job_lease(&x.id, "A", at(90)).await.unwrap());
    assert!(
        s.finish_job(&x.id, "B", &JobEnd::Done, at(34))
            .await
            .unwrap()
    );
    let y = s.claim_job("C", at(35), at(60)).await.unwrap().unwrap();
    assert_eq!(y.id, y_id);
}

#[tokio::test]
async fn a_retry_gives_way_to_a_copy_already_waiting() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let c = ready_connection(s, &acme, "Acme").await;
    s.enqueue_job(&setup_of(&c, 0), at(0)).await.unwrap();
    let x = s.claim_job("A", at(1), at(30)).await.unwrap().unwrap();
    let y_id = s.enqueue_job(&setup_of(&c, 2), at(2)).await.unwrap();
    let retry = JobEnd::Retry {
        error: "throttled".into(),
        run_after: at(100),
    };
    assert!(s.finish_job(&x.id, "A", &retry, at(3)).await.unwrap());
    let jobs = s.connection_jobs(&acme, &c.id).await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].id, y_id);
}

#[tokio::test]
async fn of_many_workers_claiming_at_once_one_gets_each_job() {
    let db = TestDb::new().await;
    let acme = org(&db.store, "acme").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let c = ready_connection(&db.store, &acme, &format!("Acme {i}")).await;
        ids.push(db.store.enqueue_job(&setup_of(&c, 0), at(0)).await.unwrap());
    }
    let other = db.second_handle().await;
    let mut claims = Vec::new();
    for w in 0..8 {
        let s = if w % 2 == 0 {
            db.store.clone()
        } else {
            other.clone()
        };
        claims.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(j) = s.claim_job(&format!("w{w}"), at(1), at(60)).await.unwrap() {
                got.push(j.id);
            }
            got
        }));
    }
    let mut got: Vec<String> = Vec::new();
    for c in claims {
        got.extend(c.await.unwrap());
    }
    got.sort();
    ids.sort();
    assert_eq!(got, ids, "each job claimed exactly once");
}

#[tokio::test]
async fn health_checks_are_queued_once_per_interval_however_many_tick() {
    let db = TestDb::new().await;
    let acme = org(&db.store, "acme").await;
    let c = ready_connection(&db.store, &acme, "Acme").await;
    let other = db.second_handle().await;
    let hour = chrono::Duration::hours(1);
    let now = c.health_checked_at + hour + chrono::Duration::seconds(1);
    let mut ticks = Vec::new();
    for i in 0..6 {
        let s = if i % 2 == 0 {
            db.store.clone()
        } else {
            other.clone()
        };
        ticks.push(tokio::spawn(async move {
            s.queue_health_checks(now, hour, 10).await.unwrap()
        }));
    }
    let mut queued = 0;
    for t in ticks {
        queued += t.await.unwrap();
    }
    assert_eq!(queued, 1);
    let jobs = db.store.connection_jobs(&acme, &c.id).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].kind, "health_check");
    // A process whose clock read a moment earlier ticks after the one that queued: not again.
    let earlier = now - chrono::Duration::milliseconds(5);
    assert_eq!(
        other.queue_health_checks(earlier, hour, 10).await.unwrap(),
        0
    );
}
