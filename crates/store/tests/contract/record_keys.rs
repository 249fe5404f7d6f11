//! Records are found by a 64-bit key of their identity, or — when another record holds that key —
//! by the identity itself (the store's `record_keys`). With keys narrowed to a few bits most records
//! share one, and each must still be stored once, found, updated, kept and deleted as itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ledgerlink_domain::{Connection, OrgId};
use ledgerlink_store::{FeedRecord, RecordIn, RecordQuery, SkippedRecord, Store, SyncEnd};
use serde_json::{Value, json};

use crate::harness::{TestDb, at, org, ready_connection, record, resync_invoices, sync_invoices};

/// The connection's invoices feed, everything in it, by remote id (each must be there once).
async fn feed(store: &Arc<dyn Store>, o: &OrgId, c: &Connection) -> BTreeMap<String, FeedRecord> {
    let q = RecordQuery {
        limit: 1000,
        include_raw: true,
        include_deleted: true,
        ..Default::default()
    };
    let page = store.feed_page(o, &c.id, "invoices", &q).await.unwrap();
    let n = page.len();
    let by_id: BTreeMap<_, _> = page.into_iter().map(|r| (r.remote_id.clone(), r)).collect();
    assert_eq!(by_id.len(), n, "a record twice in the feed");
    by_id
}

fn version(i: usize, generation: u32) -> Value {
    json!({ "n": i, "generation": generation })
}

fn data(r: &FeedRecord) -> Value {
    serde_json::from_str(&r.data).unwrap()
}

#[tokio::test]
async fn records_sharing_keys_are_each_stored_updated_kept_and_deleted_as_themselves() {
    let db = TestDb::new().await;
    let store = &db.store;
    // Four keys for 45 records.
    store.narrow_record_keys(2);
    let o = org(store, "acme").await;
    let c = ready_connection(store, &o, "erp").await;
    let id = |i: usize| format!("r{i}");

    // A first pass writes 40 records in one write: most share a key with one written before them
    // in the same statement.
    let first: Vec<RecordIn> = (0..40).map(|i| record(&id(i), version(i, 1))).collect();
    sync_invoices(store, &c, &first).await;
    let before = feed(store, &o, &c).await;
    assert_eq!(before.len(), 40);
    for i in 0..40 {
        assert_eq!(data(&before[&id(i)]), version(i, 1));
    }
    let ids: Vec<String> = (0..40).map(id).chain(["absent".to_owned()]).collect();
    let asked: Vec<&str> = ids.iter().map(String::as_str).collect();
    let current = store
        .current_records(&o, &c.id, "invoices", &asked)
        .await
        .unwrap();
    let raw = store.stored_raw(&c.id, "invoices", &asked).await.unwrap();
    assert_eq!((current.len(), raw.len()), (40, 40));
    for i in 0..40 {
        assert_eq!(current[&id(i)], version(i, 1));
        assert_eq!(raw[&id(i)], json!({ "id": id(i) }));
        // Asked alone, each is found alone (not the record that holds its key, if another does).
        let one = [id(i)];
        let one: Vec<&str> = one.iter().map(String::as_str).collect();
        let alone = store.stored_raw(&c.id, "invoices", &one).await.unwrap();
        assert_eq!(alone.keys().collect::<Vec<_>>(), [&id(i)]);
    }

    // A second full pass in two writes: r0–r9 changed, r10–r33 as stored, r34 skipped (it could not
    // be mapped), r35–r39 gone, r40–r44 new (their keys all held by now).
    let job = resync_invoices(store, &c).await;
    let none = HashMap::new();
    let state = json!({ "pages": 1 });
    let page1: Vec<RecordIn> = (0..20)
        .map(|i| record(&id(i), version(i, if i < 10 { 2 } else { 1 })))
        .collect();
    let staged = store
        .stage_records(&job, &page1, &none, None)
        .await
        .unwrap();
    let outcome = store
        .save_staged(&job, "w", &staged, &[], &state, at(11), at(70))
        .await
        .unwrap();
    assert_eq!((outcome.written, outcome.unchanged), (10, 10));
    let page2: Vec<RecordIn> = (20..34)
        .chain(40..45)
        .map(|i| record(&id(i), version(i, 1)))
        .collect();
    let mut staged = store
        .stage_records(&job, &page2, &none, None)
        .await
        .unwrap();
    staged.skip(&[SkippedRecord {
        remote_id: Some(id(34)),
        reason: "unreadable".into(),
    }]);
    let outcome = store
        .save_staged(&job, "w", &staged, &[], &state, at(12), at(70))
        .await
        .unwrap();
    assert_eq!((outcome.written, outcome.unchanged), (5, 14));
    let complete = SyncEnd::Complete { reconcile: true };
    assert!(
        store
            .finish_sync(&job, "w", &complete, at(13))
            .await
            .unwrap()
    );

    let after = feed(store, &o, &c).await;
    assert_eq!(after.len(), 45);
    for i in 0..45 {
        let r = &after[&id(i)];
        let deleted = (35..40).contains(&i);
        assert_eq!(r.is_deleted, deleted, "{}", id(i));
        let generation = if i < 10 { 2 } else { 1 };
        assert_eq!(data(r), version(i, generation), "{}", id(i));
        if let Some(was) = before.get(&id(i)) {
            assert_eq!(r.id, was.id, "{} keeps our id", id(i));
            let moved = i < 10 || deleted;
            assert_eq!(
                r.seq != was.seq,
                moved,
                "{} moves in the feed when changed",
                id(i)
            );
        }
    }

    // A third pass finds r35 back: written anew, as itself.
    let back = [record(&id(35), version(35, 3))];
    sync_invoices(store, &c, &back).await;
    let last = feed(store, &o, &c).await;
    assert_eq!(last.len(), 45);
    assert!(!last[&id(35)].is_deleted);
    assert_eq!(last[&id(35)].id, before[&id(35)].id);
    assert_eq!(data(&last[&id(35)]), version(35, 3));
}

#[tokio::test]
async fn a_record_its_write_in_flight_stored_without_a_key_is_found_by_the_next_write() {
    let db = TestDb::new().await;
    let store = &db.store;
    // Two keys: another connection's records hold both.
    store.narrow_record_keys(1);
    let o = org(store, "acme").await;
    let other = ready_connection(store, &o, "other").await;
    let others: Vec<RecordIn> = (0..8)
        .map(|i| record(&format!("o{i}"), json!({ "i": i })))
        .collect();
    sync_invoices(store, &other, &others).await;
    let c = ready_connection(store, &o, "erp").await;
    let job = resync_invoices(store, &c).await;
    assert_eq!(job.connection_id, c.id);

    // `x` staged for a write, and again (changed) while that write is in flight.
    let none = HashMap::new();
    let first = store
        .stage_records(&job, &[record("x", json!({ "v": 1 }))], &none, None)
        .await
        .unwrap();
    let second = store
        .stage_records(
            &job,
            &[record("x", json!({ "v": 2 }))],
            &first.hashes(),
            None,
        )
        .await
        .unwrap();
    let state = json!({ "pages": 1 });
    let outcome = store
        .save_staged(&job, "w", &first, &[], &state, at(11), at(70))
        .await
        .unwrap();
    assert_eq!(
        outcome.written, 1,
        "stored without a key: the other connection holds it"
    );
    // The key is free again before the second write: `x` must not be stored twice.
    assert!(store.delete_connection(&o, &other.id).await.unwrap());
    let outcome = store
        .save_staged(&job, "w", &second, &[], &state, at(12), at(70))
        .await
        .unwrap();
    assert_eq!(outcome.written, 1);
    let stored = feed(store, &o, &c).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(data(&stored["x"]), json!({ "v": 2 }));
}
