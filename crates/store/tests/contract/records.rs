//! Records' JSON as stored (compressed or not, see `ledgerlink_store::packed`): what the feed and
//! the sync's look-ups read is the text that was written, byte for byte, and rows written before
//! packing read as they are.

use std::sync::Arc;

use ledgerlink_domain::{Connection, OrgId};
use ledgerlink_store::{FeedRecord, RecordIn, RecordQuery, Store};

use crate::harness::{
    TestDb, at, org, page, queue_invoices, ready_connection, resync_invoices, sync_invoices, t0,
};

/// JSON text no serializer of ours would write: spaces, a trailing zero, keys out of order, escapes
/// and characters beyond ASCII. Long enough to be compressed.
const LONG: &str = r#"{ "number" : "103001",  "total_amount": 12.50, "a": [1, 2 ,3],
  "customer_name": "Sjöberg & Søn \u00e9 \"quoted\"", "lines": [{"description": "ANTWERP Conference Table", "quantity": 3.0}] }"#;

/// Short enough to be kept as it is.
const SHORT: &str = r#"{"b": 1.10, "a":null}"#;

fn record(remote_id: &str, data: &str, raw: &str) -> RecordIn {
    RecordIn {
        remote_id: remote_id.to_owned(),
        data: data.into(),
        raw: raw.into(),
        hash: ledgerlink_store::record_hash(data),
        remote_modified_at: Some(t0()),
    }
}

/// Every record of `c`'s invoices feed, raw and deleted ones included.
async fn invoices_feed(store: &Arc<dyn Store>, o: &OrgId, c: &Connection) -> Vec<FeedRecord> {
    store
        .feed_page(o, &c.id, "invoices", &everything())
        .await
        .unwrap()
}

fn everything() -> RecordQuery {
    RecordQuery {
        limit: 100,
        include_raw: true,
        include_deleted: true,
        ..Default::default()
    }
}

/// Flips the last bytes of the stored `data` and `raw` frames of the record `remote_id`.
async fn damage_both_columns(db: &TestDb, remote_id: &str) {
    db.execute(
        &format!(
            "UPDATE records SET raw = substr(raw, 1, length(raw) - 4) || x'00000000', \
             data = substr(data, 1, length(data) - 4) || x'00000000' WHERE remote_id = '{remote_id}'"
        ),
        &format!(
            "UPDATE records SET raw = overlay(raw placing '\\x00000000'::bytea from length(raw) - 3), \
             data = overlay(data placing '\\x00000000'::bytea from length(data) - 3) \
             WHERE remote_id = '{remote_id}'"
        ),
    )
    .await;
}

#[tokio::test]
async fn stored_json_reads_back_as_the_text_that_was_written() {
    let db = TestDb::new().await;
    let store = &db.store;
    let o = org(store, "acme").await;
    let c = ready_connection(store, &o, "erp").await;
    sync_invoices(
        store,
        &c,
        &[record("long", LONG, LONG), record("short", SHORT, SHORT)],
    )
    .await;

    let feed = invoices_feed(store, &o, &c).await;
    assert_eq!(feed.len(), 2);
    for (r, text) in feed.iter().zip([LONG, SHORT]) {
        assert_eq!(r.data, text, "{}", r.remote_id);
        assert_eq!(r.raw.as_deref(), Some(text), "{}", r.remote_id);
    }
    // Without include_raw the payload is not read at all.
    let q = RecordQuery {
        include_raw: false,
        ..everything()
    };
    let feed = store.feed_page(&o, &c.id, "invoices", &q).await.unwrap();
    assert!(feed.iter().all(|r| r.raw.is_none()));

    // The sync's and the write checks' look-ups parse the same text.
    let ids = ["long", "short", "absent"];
    let raw = store.stored_raw(&c.id, "invoices", &ids).await.unwrap();
    let data = store
        .current_records(&o, &c.id, "invoices", &ids)
        .await
        .unwrap();
    for (id, text) in [("long", LONG), ("short", SHORT)] {
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(raw[id], value);
        assert_eq!(data[id], value);
    }
    assert_eq!(raw.len(), 2);

    // Seen again unchanged: no new feed position.
    sync_invoices(store, &c, &[record("long", LONG, LONG)]).await;
    let again = invoices_feed(store, &o, &c).await;
    assert_eq!(
        again.iter().map(|r| r.seq).max(),
        feed.iter().map(|r| r.seq).max()
    );
}

/// Rows stored before records were packed hold their JSON as text (SQLite) or, after migration
/// 0012 on Postgres, as the bytes of jsonb's text: they read as they are.
#[tokio::test]
async fn rows_stored_as_plain_text_read_as_they_are() {
    let db = TestDb::new().await;
    let store = &db.store;
    let o = org(store, "acme").await;
    let c = ready_connection(store, &o, "erp").await;
    sync_invoices(store, &c, &[record("old", LONG, LONG)]).await;
    let old =
        r#"{"a": 1, "number": "103001", "customer_name": "Sjöberg & Søn", "total_amount": 12.50}"#;
    db.execute(
        &format!("UPDATE records SET data = '{old}', raw = '{old}'"),
        &format!("UPDATE records SET data = convert_to('{old}', 'UTF8'), raw = convert_to('{old}', 'UTF8')"),
    )
    .await;
    let feed = invoices_feed(store, &o, &c).await;
    assert_eq!(feed[0].data, old);
    assert_eq!(feed[0].raw.as_deref(), Some(old));
    let listed = store
        .list_records(&o, &c.id, "invoices", &everything())
        .await
        .unwrap();
    assert_eq!(listed[0].data["total_amount"].to_string(), "12.50");
}

/// A damaged row is an error naming it, never a panic or text that is not JSON; and the next sync
/// that reads the record writes it anew, at a new place in the feed.
#[tokio::test]
async fn a_damaged_row_is_reported_not_served_and_the_next_sync_repairs_it() {
    let db = TestDb::new().await;
    let store = &db.store;
    let o = org(store, "acme").await;
    let c = ready_connection(store, &o, "erp").await;
    sync_invoices(store, &c, &[record("long", LONG, LONG)]).await;
    let before = invoices_feed(store, &o, &c).await;
    // A compressed frame with its last bytes flipped.
    db.execute(
        "UPDATE records SET data = substr(data, 1, length(data) - 4) || x'00000000'",
        "UPDATE records SET data = overlay(data placing '\\x00000000'::bytea from length(data) - 3)",
    )
    .await;
    let err = store
        .feed_page(&o, &c.id, "invoices", &everything())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ledgerlink_store::StoreError::Damaged { what, newly_found: true }
            if what.contains(&before[0].id)),
        "{err}"
    );
    // Found once: a second read reports it as known.
    let again = store
        .feed_page(&o, &c.id, "invoices", &everything())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &again,
            ledgerlink_store::StoreError::Damaged {
                newly_found: false,
                ..
            }
        ),
        "{again}"
    );
    // The ERP sends the same record again: stored as it was before the damage, at a new position.
    sync_invoices(store, &c, &[record("long", LONG, LONG)]).await;
    let after = invoices_feed(store, &o, &c).await;
    assert_eq!(after.len(), 1);
    assert_eq!(
        (&after[0].data, &after[0].raw),
        (&before[0].data, &before[0].raw)
    );
    assert_eq!(after[0].id, before[0].id);
    assert!(
        after[0].seq > before[0].seq,
        "{} after {}",
        after[0].seq,
        before[0].seq
    );
}

/// A damaged row the ERP no longer has: a complete full pass finds it gone and marks it deleted, and
/// no sync will read it again to repair it. The feed serves its deletion with `{}` for its content
/// and `null` for the payload, at the deletion's position, instead of answering the damage for
/// ever to every client that reads deletions; clients that do not read them never meet it.
#[tokio::test]
async fn a_damaged_row_the_erp_deleted_is_served_as_a_deletion_without_its_content() {
    let db = TestDb::new().await;
    let store = &db.store;
    let o = org(store, "acme").await;
    let c = ready_connection(store, &o, "erp").await;
    let kept = record("kept", SHORT, SHORT);
    sync_invoices(store, &c, &[record("gone", LONG, LONG), kept.clone()]).await;
    damage_both_columns(&db, "gone").await;
    // A full pass that no longer finds it.
    let job = resync_invoices(store, &c).await;
    let state = serde_json::json!({});
    let kept_page = [kept.clone()];
    store
        .save_sync_page(&job, "w", page(&kept_page, &state), at(11), at(70))
        .await
        .unwrap();
    let complete = ledgerlink_store::SyncEnd::Complete { reconcile: true };
    assert!(
        store
            .finish_sync(&job, "w", &complete, at(12))
            .await
            .unwrap()
    );

    // Read with and without the payload, twice: the same deletion at the same position.
    let gone = |feed: &[FeedRecord]| feed.iter().find(|r| r.remote_id == "gone").cloned();
    let without_raw = RecordQuery {
        include_raw: false,
        ..everything()
    };
    let first = store
        .feed_page(&o, &c.id, "invoices", &without_raw)
        .await
        .unwrap();
    let first = gone(&first).expect("the deletion is served");
    assert!(first.is_deleted && first.remote_deleted_at.is_some());
    assert_eq!((first.data.as_str(), first.raw.as_deref()), ("{}", None));
    let second = gone(&invoices_feed(store, &o, &c).await).unwrap();
    assert_eq!(
        (second.data.as_str(), second.raw.as_deref()),
        ("{}", Some("null"))
    );
    assert_eq!((second.id, second.seq), (first.id.clone(), first.seq));
    let listed = store
        .list_records(&o, &c.id, "invoices", &everything())
        .await
        .unwrap();
    let listed = listed.iter().find(|r| r.remote_id == "gone").unwrap();
    assert_eq!(listed.data, serde_json::json!({}));
    // Clients that do not read deletions never meet it.
    let live = RecordQuery {
        include_deleted: false,
        ..everything()
    };
    let live = store.feed_page(&o, &c.id, "invoices", &live).await.unwrap();
    assert_eq!(
        live.iter()
            .map(|r| r.remote_id.as_str())
            .collect::<Vec<_>>(),
        ["kept"]
    );

    // Should the ERP send it again, it is written anew, as itself, at a new position.
    sync_invoices(store, &c, &[record("gone", LONG, LONG), kept]).await;
    let back = gone(&invoices_feed(store, &o, &c).await).unwrap();
    assert!(!back.is_deleted);
    assert_eq!(
        (back.data.as_str(), back.raw.as_deref()),
        (LONG, Some(LONG))
    );
    assert_eq!(back.id, first.id);
    assert!(back.seq > first.seq);
}

/// A damaged row met by a sync's look-up of stored payloads (the re-check of silently changing
/// amounts) is left out, not an error that would fail every sync; it is marked, so the next sync that
/// reads the record writes it anew. A write's look-up of current data answers the damage.
#[tokio::test]
async fn a_damaged_row_met_by_a_lookup_is_left_out_and_repaired_by_the_next_sync() {
    let db = TestDb::new().await;
    let store = &db.store;
    let o = org(store, "acme").await;
    let c = ready_connection(store, &o, "erp").await;
    let rows = [record("long", LONG, LONG), record("other", LONG, LONG)];
    sync_invoices(store, &c, &rows).await;
    let before = invoices_feed(store, &o, &c).await;
    damage_both_columns(&db, "long").await;
    let stored = store
        .stored_raw(&c.id, "invoices", &["long", "other"])
        .await
        .unwrap();
    assert_eq!(stored.keys().collect::<Vec<_>>(), ["other"]);
    let err = store
        .current_records(&o, &c.id, "invoices", &["long"])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ledgerlink_store::StoreError::Damaged { what, newly_found: false }
            if what.contains("long")),
        "{err}"
    );
    sync_invoices(store, &c, &rows).await;
    let after = invoices_feed(store, &o, &c).await;
    let long = |page: &[ledgerlink_store::FeedRecord]| {
        page.iter()
            .find(|r| r.remote_id == "long")
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (long(&after).data, long(&after).raw),
        (long(&before).data, long(&before).raw)
    );
    assert!(long(&after).seq > before.iter().map(|r| r.seq).max().unwrap());
    assert_eq!(after.len(), 2);
}

/// On Postgres a process that wrote 50,000 records has the planner's statistics of `records`
/// refreshed (a first sync outgrows them long before autovacuum, if it runs, re-analyzes).
#[tokio::test]
async fn postgres_statistics_follow_a_growing_table() {
    let db = TestDb::new().await;
    let store = &db.store;
    let o = org(store, "acme").await;
    let c = ready_connection(store, &o, "erp").await;
    let analyzed = "SELECT last_analyze::text FROM pg_stat_user_tables WHERE relname = 'records'";
    if db.postgres_text(analyzed).await.is_none() {
        return; // SQLite plans the look-up by its primary key without statistics.
    }
    let records: Vec<RecordIn> = (0..50_000)
        .map(|i| record(&format!("{i:08}"), r#"{"n":1}"#, r#"{"id":1}"#))
        .collect();
    sync_invoices(store, &c, &records).await;
    for _ in 0..100 {
        if db.postgres_text(analyzed).await.flatten().is_some() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("records was not analyzed after 50,000 records were written");
}

/// A sync's write may gather several pages (`stage_records`, then `save_staged`): each id is what
/// its last staged occurrence says — a record changed on one page and back as stored on a later one
/// is not rewritten, one changed last is, once — and a record the write in flight stores (unsettled)
/// counts as stored.
#[tokio::test]
async fn a_staged_record_is_its_last_occurrence_and_an_unsettled_one_counts_as_stored() {
    use std::collections::HashMap;

    let db = TestDb::new().await;
    let store = &db.store;
    let o = org(store, "acme").await;
    let c = ready_connection(store, &o, "erp").await;
    sync_invoices(
        store,
        &c,
        &[record("a", LONG, LONG), record("b", LONG, LONG)],
    )
    .await;
    let before = invoices_feed(store, &o, &c).await;
    let none = HashMap::new();
    let c = &c;
    let second_sync = |n: i64| async move {
        queue_invoices(store, c).await;
        store
            .claim_sync("w", at(10 * n), at(10 * n + 60))
            .await
            .unwrap()
            .expect("a runnable sync")
    };

    // `a` changed on one page, back as stored on a later one; `c` new, its write still in flight.
    let job = second_sync(1).await;
    let mut staged = store
        .stage_records(
            &job,
            &[record("a", SHORT, SHORT), record("b", LONG, LONG)],
            &none,
            None,
        )
        .await
        .unwrap();
    let unsettled = HashMap::from([("c".to_owned(), record("c", LONG, LONG).hash)]);
    let later = [record("a", LONG, LONG), record("c", LONG, LONG)];
    staged.append(
        store
            .stage_records(&job, &later, &unsettled, None)
            .await
            .unwrap(),
    );
    assert_eq!(staged.len(), 4);
    let state = serde_json::json!({ "pages": 2 });
    let outcome = store
        .save_staged(&job, "w", &staged, &[], &state, at(11), at(70))
        .await
        .unwrap();
    assert_eq!((outcome.written, outcome.unchanged), (0, 3));
    let after = invoices_feed(store, &o, c).await;
    assert_eq!(after, before, "nothing rewritten, nothing added");
    let complete = ledgerlink_store::SyncEnd::Complete { reconcile: false };
    assert!(
        store
            .finish_sync(&job, "w", &complete, at(12))
            .await
            .unwrap()
    );

    // `a` as stored on one page, changed on a later one: written once, at a new position.
    let job = second_sync(2).await;
    let mut staged = store
        .stage_records(&job, &[record("a", LONG, LONG)], &none, None)
        .await
        .unwrap();
    staged.append(
        store
            .stage_records(&job, &[record("a", SHORT, SHORT)], &none, None)
            .await
            .unwrap(),
    );
    let outcome = store
        .save_staged(&job, "w", &staged, &[], &state, at(21), at(80))
        .await
        .unwrap();
    assert_eq!((outcome.written, outcome.unchanged), (1, 0));
    let after = invoices_feed(store, &o, c).await;
    let ids: Vec<&str> = after.iter().map(|r| r.remote_id.as_str()).collect();
    assert_eq!(ids, ["b", "a"], "a once, after b");
    assert_eq!(after[1].data, SHORT);
}

/// A model's first load stages what it has not seen without looking it up, and still finds what it
/// has written: a record seen again (unchanged or changed) is not given a second row or a spurious
/// feed position. A model with any record stored (of this connection) has no first load.
#[tokio::test]
async fn a_first_load_skips_look_ups_of_new_records_yet_finds_what_it_wrote() {
    use std::collections::HashMap;

    let db = TestDb::new().await;
    let store = &db.store;
    let o = org(store, "acme").await;
    let c = ready_connection(store, &o, "erp").await;
    let other = ready_connection(store, &o, "erp-2").await;
    sync_invoices(store, &other, &[record("a", LONG, LONG)]).await;
    queue_invoices(store, &c).await;
    let job = store
        .claim_sync("w", at(0), at(60))
        .await
        .unwrap()
        .expect("a runnable sync");
    let first = store
        .first_load(&job)
        .await
        .unwrap()
        .expect("no invoice of this connection is stored");
    let none = HashMap::new();
    let state = serde_json::json!({ "pages": 1 });

    let page = [record("a", LONG, LONG), record("b", LONG, LONG)];
    let staged = store
        .stage_records(&job, &page, &none, Some(&first))
        .await
        .unwrap();
    let outcome = store
        .save_staged(&job, "w", &staged, &[], &state, at(1), at(61))
        .await
        .unwrap();
    assert_eq!((outcome.written, outcome.unchanged), (2, 0));
    // The pages shifted: `b` again as stored, `a` changed, `c` new.
    let page = [
        record("b", LONG, LONG),
        record("a", SHORT, SHORT),
        record("c", LONG, LONG),
    ];
    let staged = store
        .stage_records(&job, &page, &none, Some(&first))
        .await
        .unwrap();
    let outcome = store
        .save_staged(&job, "w", &staged, &[], &state, at(2), at(62))
        .await
        .unwrap();
    assert_eq!((outcome.written, outcome.unchanged), (2, 1));
    let feed = invoices_feed(store, &o, &c).await;
    let ids: Vec<&str> = feed.iter().map(|r| r.remote_id.as_str()).collect();
    assert_eq!(ids, ["b", "a", "c"], "one row each; a moved once");
    assert_eq!(feed[1].data, SHORT);

    assert!(
        store.first_load(&job).await.unwrap().is_none(),
        "the model has records now"
    );
}

/// A write made again after it committed (its acknowledgement lost, the store call retried) leaves
/// the records it wrote at their feed positions: a client that read in between does not see them
/// twice. A record changed since is still moved.
#[tokio::test]
async fn a_write_made_again_after_it_committed_moves_nothing() {
    use std::collections::HashMap;

    let db = TestDb::new().await;
    let store = &db.store;
    let o = org(store, "acme").await;
    let c = ready_connection(store, &o, "erp").await;
    sync_invoices(store, &c, &[record("a", LONG, LONG)]).await;
    let job = resync_invoices(store, &c).await;
    let none = HashMap::new();
    let state = serde_json::json!({ "pages": 1 });
    let page = [record("a", SHORT, SHORT), record("b", LONG, LONG)];
    let staged = store.stage_records(&job, &page, &none, None).await.unwrap();
    store
        .save_staged(&job, "w", &staged, &[], &state, at(11), at(71))
        .await
        .unwrap();
    let once = invoices_feed(store, &o, &c).await;
    store
        .save_staged(&job, "w", &staged, &[], &state, at(12), at(72))
        .await
        .unwrap();
    let again = invoices_feed(store, &o, &c).await;
    assert_eq!(again, once, "the same rows at the same positions");
    let ids: Vec<&str> = again.iter().map(|r| r.remote_id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(again[0].data, SHORT);
}

/// Records stored before record hashes were BLAKE3 hold SHA-256's: read again unchanged, they are
/// not taken for changed (no new feed position), while a changed one is written and then holds
/// BLAKE3's hash.
#[tokio::test]
async fn a_record_stored_with_a_sha256_hash_is_unchanged_when_read_again_as_it_was() {
    use sha2::Digest as _;

    let db = TestDb::new().await;
    let store = &db.store;
    let o = org(store, "acme").await;
    let c = ready_connection(store, &o, "erp").await;
    let sha256 = |id: &str, data: &str| RecordIn {
        hash: hex::encode(sha2::Sha256::digest(data.as_bytes())),
        ..record(id, data, data)
    };
    sync_invoices(store, &c, &[sha256("a", LONG), sha256("b", LONG)]).await;
    let before = invoices_feed(store, &o, &c).await;
    let job = resync_invoices(store, &c).await;
    let state = serde_json::json!({ "pages": 1 });
    let again = [record("a", LONG, LONG), record("b", SHORT, SHORT)];
    let outcome = store
        .save_sync_page(&job, "w", page(&again, &state), at(11), at(71))
        .await
        .unwrap();
    assert_eq!((outcome.written, outcome.unchanged), (1, 1));
    let after = invoices_feed(store, &o, &c).await;
    assert_eq!(after[0], before[0], "`a` kept its place");
    assert_eq!(after[1].remote_id, "b");
    assert!(after[1].seq > before[1].seq, "`b` moved");
    assert_eq!(after[1].data, SHORT);
    // `b` now holds BLAKE3's hash: read again as it is, it is unchanged.
    let outcome = store
        .save_sync_page(&job, "w", page(&again, &state), at(12), at(72))
        .await
        .unwrap();
    assert_eq!((outcome.written, outcome.unchanged), (0, 2));
}
