//! Writes and their idempotency keys: one write per key and request, the key refused for another
//! request, a write never without its job, cancel only before a worker has it, organization scoping.

use ledgerlink_domain::WriteStatus;
use ledgerlink_store::{Accepted, Cancel, IdempotencyKey, NewWrite, WriteEnd};
use serde_json::json;

use crate::harness::{TestDb, at, org, ready_connection};

fn payment(c: &ledgerlink_domain::Connection, key: &str, amount: &str) -> NewWrite {
    NewWrite {
        connection_id: c.id.clone(),
        model: "payments".into(),
        operation: "create".into(),
        request: json!({"amount": amount}),
        idempotency: IdempotencyKey {
            scope: format!("payments:{}", c.id),
            key: key.into(),
            request_hash: format!("hash-of-{amount}"),
            keep_until: at(7 * 86_400),
        },
        job_kind: "write".into(),
    }
}

#[tokio::test]
async fn one_key_one_write_and_another_body_is_refused() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let c = ready_connection(s, &acme, "Acme").await;
    let Accepted::New(w) = s
        .create_write(&acme, &payment(&c, "k1", "10.00"), at(1))
        .await
        .unwrap()
    else {
        panic!("a new write")
    };
    assert_eq!(
        (w.status, w.attempt, w.reached_erp),
        (WriteStatus::Queued, 0, false)
    );
    assert!(w.id.starts_with("wr_"));
    let jobs = s.connection_jobs(&acme, &c.id).await.unwrap();
    assert_eq!(jobs.len(), 1, "the write's job is queued with it");
    assert_eq!(jobs[0].unique_key.as_deref(), Some(w.id.as_str()));

    let again = s
        .create_write(&acme, &payment(&c, "k1", "10.00"), at(2))
        .await
        .unwrap();
    assert_eq!(again, Accepted::Replayed(w.clone()));
    let other = s
        .create_write(&acme, &payment(&c, "k1", "99.00"), at(3))
        .await
        .unwrap();
    assert_eq!(
        other,
        Accepted::KeyReused {
            write_id: w.id.clone()
        }
    );
    assert_eq!(s.connection_jobs(&acme, &c.id).await.unwrap().len(), 1);

    // Another organization's same key is its own; it cannot write to this connection.
    let globex = org(s, "globex").await;
    assert_eq!(
        s.create_write(&globex, &payment(&c, "k1", "10.00"), at(4))
            .await
            .unwrap(),
        Accepted::UnknownConnection
    );
    assert!(s.get_write(&globex, &w.id).await.unwrap().is_none());
    assert!(
        s.list_writes(&globex, &c.id, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.cancel_write(&globex, &w.id, at(5)).await.unwrap(),
        Cancel::NotFound
    );

    // After the key's time, it may be used again.
    assert_eq!(s.prune_idempotency_keys(at(7 * 86_400)).await.unwrap(), 1);
    assert!(matches!(
        s.create_write(&acme, &payment(&c, "k1", "99.00"), at(7 * 86_400 + 1))
            .await
            .unwrap(),
        Accepted::New(_)
    ));
}

#[tokio::test]
async fn concurrent_requests_with_one_key_make_one_write() {
    let db = TestDb::new().await;
    let acme = org(&db.store, "acme").await;
    let c = ready_connection(&db.store, &acme, "Acme").await;
    let other = db.second_handle().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = if i % 2 == 0 {
            db.store.clone()
        } else {
            other.clone()
        };
        let (acme, new) = (acme.clone(), payment(&c, "same", "10.00"));
        tasks.push(tokio::spawn(async move {
            s.create_write(&acme, &new, at(1)).await.unwrap()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Accepted::New(w) | Accepted::Replayed(w) => ids.push(w.id),
            other => panic!("{other:?}"),
        }
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(
        db.store
            .list_writes(&acme, &c.id, None, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_write_is_cancelled_only_before_a_worker_has_it() {
    let db = TestDb::new().await;
    let s = &db.store;
    let acme = org(s, "acme").await;
    let c = ready_connection(s, &acme, "Acme").await;
    let Accepted::New(first) = s
        .create_write(&acme, &payment(&c, "a", "1.00"), at(1))
        .await
        .unwrap()
    else {
        panic!()
    };
    let Cancel::Cancelled(w) = s.cancel_write(&acme, &first.id, at(2)).await.unwrap() else {
        panic!("cancelled while waiting")
    };
    assert_eq!(w.status, WriteStatus::Cancelled);
    assert!(
        s.connection_jobs(&acme, &c.id).await.unwrap().is_empty(),
        "its job is gone"
    );

    let Accepted::New(second) = s
        .create_write(&acme, &payment(&c, "b", "2.00"), at(3))
        .await
        .unwrap()
    else {
        panic!()
    };
    let job = s.claim_job("A", at(4), at(60)).await.unwrap().unwrap();
    assert_eq!(job.unique_key.as_deref(), Some(second.id.as_str()));
    let started = s
        .write_started(&acme, &second.id, 1, at(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((started.status, started.attempt), (WriteStatus::Running, 1));
    assert!(matches!(
        s.cancel_write(&acme, &second.id, at(6)).await.unwrap(),
        Cancel::TooLate(w) if w.status == WriteStatus::Running
    ));
    assert!(
        s.write_reached_erp(&acme, &second.id, 1, at(7))
            .await
            .unwrap()
    );
    // A stale attempt (its job's lease ran out; attempt 2 took over) changes nothing.
    let taken = s
        .write_started(&acme, &second.id, 2, at(7))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.attempt, 2);
    assert!(
        s.write_started(&acme, &second.id, 1, at(7))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !s.write_reached_erp(&acme, &second.id, 1, at(7))
            .await
            .unwrap()
    );
    let stale = WriteEnd::Complete { result: json!({}) };
    assert!(
        s.finish_write(&acme, &second.id, Some(1), &stale, at(7))
            .await
            .unwrap()
            .is_none()
    );
    let retry = WriteEnd::Retry {
        error: "BC throttled".into(),
    };
    let w = s
        .finish_write(&acme, &second.id, Some(2), &retry, at(8))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((w.status, w.reached_erp), (WriteStatus::PendingRetry, true));
    assert!(
        matches!(
            s.cancel_write(&acme, &second.id, at(9)).await.unwrap(),
            Cancel::TooLate(_)
        ),
        "it reached the ERP"
    );
    let done = WriteEnd::Complete {
        result: json!({"documentNumber": "LL-1"}),
    };
    assert!(
        s.write_started(&acme, &second.id, 3, at(9))
            .await
            .unwrap()
            .is_some()
    );
    let w = s
        .finish_write(&acme, &second.id, Some(3), &done, at(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(w.status, WriteStatus::Complete);
    assert_eq!(w.completed_at, Some(at(10)));
    assert_eq!(w.result, Some(json!({"documentNumber": "LL-1"})));
    // An ended write stays as it ended.
    let late = WriteEnd::Failed {
        error: "late".into(),
    };
    assert!(
        s.finish_write(&acme, &second.id, None, &late, at(11))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.write_started(&acme, &second.id, 4, at(12))
            .await
            .unwrap()
            .is_none()
    );

    let listed = s.list_writes(&acme, &c.id, None, None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        [second.id.as_str(), first.id.as_str()]
    );
    let done_only = s
        .list_writes(&acme, &c.id, Some(WriteStatus::Complete), None, 10)
        .await
        .unwrap();
    assert_eq!(done_only.len(), 1);
    let after = s
        .list_writes(&acme, &c.id, None, Some(&second.id), 10)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, first.id);
}
