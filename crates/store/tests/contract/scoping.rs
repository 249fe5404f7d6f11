//! Organization scoping: through every method that takes an organization, a second organization can
//! neither see nor change the first one's rows.
//!
//! Methods taking an `&OrgId` (or a value carrying one) and where they are covered:
//! - `insert_api_key`, `list_api_keys`, `get_api_key`, `revoke_api_key`, `rotate_api_key`:
//!   [`api_keys_are_the_organizations_own`]
//! - `get_connection`, `list_connections`, `update_connection`, `delete_connection`, `update_model`,
//!   `save_connection_state` (the organization is the connection's `org_id`):
//!   [`connections_and_models_are_the_organizations_own`]
//! - `get_sync`, `list_syncs`, `cancel_sync` (stored and planned syncs), `enqueue_syncs`:
//!   [`syncs_are_the_organizations_own`]
//! - `list_records`: [`the_change_feed_is_the_organizations_own`]
//! - `insert_connection` takes the organization from the connection it stores; nothing to read.
//!
//! Methods reaching tenant rows by id alone, by design (each documents why in the trait): the secret
//! calls, `synced_until`, `stored_raw`, `skipped_records`, `redeem_oauth_state`, `touch_api_key`, the
//! worker's lease calls (`claim_sync`, `save_sync_page`, `renew_lease`, `finish_sync`), and the
//! cross-organization sweeps (`schedule_due`, `connections_running_setup`,
//! `connections_due_for_health_check`, `api_key_by_hash`), which return each row's organization.

use ledgerlink_domain::{Connection, ConnectionChanges, HealthStatus, OrgId, SyncStatus};
use ledgerlink_store::{ListConnections, NewSync, RecordQuery, Store, generate_api_key};
use serde_json::json;
use std::sync::Arc;

use crate::harness::{
    TestDb, at, model, org, queue_invoices, ready_connection, record, sync_invoices,
};

/// Two organizations, each with a connection; Acme's has synced records, a running sync, a queued
/// one and a planned (scheduled) one.
struct World {
    db: TestDb,
    acme: OrgId,
    globex: OrgId,
    a: Connection,
    b: Connection,
}

impl World {
    async fn new() -> World {
        let db = TestDb::new().await;
        let s = &db.store;
        let acme = org(s, "acme").await;
        let globex = org(s, "globex").await;
        let a = ready_connection(s, &acme, "Acme BC").await;
        let b = ready_connection(s, &globex, "Globex BC").await;
        World {
            db,
            acme,
            globex,
            a,
            b,
        }
    }

    fn s(&self) -> &Arc<dyn Store> {
        &self.db.store
    }
}

#[tokio::test]
async fn connections_and_models_are_the_organizations_own() {
    let w = World::new().await;
    let s = w.s();
    let (acme, globex, a, b) = (&w.acme, &w.globex, &w.a, &w.b);

    // get_connection
    assert!(s.get_connection(globex, &a.id).await.unwrap().is_none());
    assert!(s.get_connection(acme, &a.id).await.unwrap().is_some());

    // list_connections: only the org's own, with or without filters and positions.
    let all = ListConnections {
        limit: 100,
        ..Default::default()
    };
    let ids = |v: Vec<Connection>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.list_connections(globex, &all).await.unwrap()),
        vec![b.id.clone()]
    );
    assert_eq!(
        ids(s.list_connections(acme, &all).await.unwrap()),
        vec![a.id.clone()]
    );
    let by_provider = ListConnections {
        provider_name: Some("ms-dynamics-bc".into()),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        ids(s.list_connections(globex, &by_provider).await.unwrap()),
        vec![b.id.clone()]
    );
    // A position taken from the other org's connection still lists only the org's own.
    let after_other = ListConnections {
        starting_after: Some(format!("{}~", b.id)),
        limit: 100,
        ..Default::default()
    };
    assert!(
        s.list_connections(acme, &after_other)
            .await
            .unwrap()
            .iter()
            .all(|c| c.org_id == *acme)
    );

    // update_connection
    let rename = ConnectionChanges {
        name: Some(Some("taken over".into())),
        is_sync_disabled: Some(true),
        ..Default::default()
    };
    assert!(
        s.update_connection(globex, &a.id, &rename, at(5))
            .await
            .unwrap()
            .is_none()
    );
    let still = s.get_connection(acme, &a.id).await.unwrap().unwrap();
    assert_eq!(still.name.as_deref(), Some("Acme BC"));
    assert!(!still.is_sync_disabled);

    // update_model: neither through A's connection nor by pairing A's model with B's connection.
    let inv = model(a, "invoices");
    let when = Some(at(100));
    assert!(
        !s.update_model(
            globex,
            &a.id,
            &inv.id,
            Some(false),
            Some(true),
            Some(61),
            Some(3601),
            when,
            at(5)
        )
        .await
        .unwrap()
    );
    assert!(
        !s.update_model(
            globex,
            &b.id,
            &inv.id,
            Some(false),
            Some(true),
            Some(61),
            Some(3601),
            when,
            at(5)
        )
        .await
        .unwrap()
    );
    let m = s.get_connection(acme, &a.id).await.unwrap().unwrap();
    let m = model(&m, "invoices");
    assert!(m.is_read_enabled && !m.is_write_enabled);
    assert_eq!(m.sync_frequency_secs, inv.sync_frequency_secs);
    assert_eq!(m.full_sync_frequency_secs, inv.full_sync_frequency_secs);
    assert_eq!(m.next_sync_at, None);

    // save_connection_state with the other org's id on A's connection.
    let mut forged = still.clone();
    forged.org_id = globex.clone();
    forged.health_status = HealthStatus::AuthenticationFailed;
    forged.company = Some("other".into());
    assert!(!s.save_connection_state(&forged, at(6)).await.unwrap());
    let still = s.get_connection(acme, &a.id).await.unwrap().unwrap();
    assert_eq!(still.health_status, HealthStatus::Healthy);
    assert_eq!(still.company.as_deref(), Some("company-1"));

    // delete_connection
    assert!(!s.delete_connection(globex, &a.id).await.unwrap());
    assert!(s.get_connection(acme, &a.id).await.unwrap().is_some());
    // …and the owner can.
    assert!(s.delete_connection(acme, &a.id).await.unwrap());
    assert!(s.get_connection(acme, &a.id).await.unwrap().is_none());
    assert!(s.get_connection(globex, &b.id).await.unwrap().is_some());
}

#[tokio::test]
async fn syncs_are_the_organizations_own() {
    let w = World::new().await;
    let s = w.s();
    let (acme, globex, a, b) = (&w.acme, &w.globex, &w.a, &w.b);
    // A running sync (invoices), a queued one (customers) and a planned one (payments).
    let running = queue_invoices(s, a).await;
    let job = s.claim_sync("w", at(1), at(600)).await.unwrap().unwrap();
    assert_eq!(job.sync.id, running.id);
    let cust = model(a, "customers");
    let want = NewSync::queued(
        &cust.id,
        &cust.name,
        None,
        None,
        at(2),
        chrono::Duration::zero(),
        None,
        true,
    );
    let queued = s
        .enqueue_syncs(acme, &a.id, std::slice::from_ref(&want), at(2))
        .await
        .unwrap()
        .remove(0);
    let pay = model(a, "payments");
    assert!(
        s.update_model(
            acme,
            &a.id,
            &pay.id,
            None,
            None,
            None,
            None,
            Some(at(3600)),
            at(2)
        )
        .await
        .unwrap()
    );
    let planned = s
        .list_syncs(
            acme,
            &a.id,
            Some("payments"),
            Some(SyncStatus::Scheduled),
            10,
        )
        .await
        .unwrap();
    assert_eq!(planned.len(), 1, "the payments model has a planned sync");
    let planned = planned[0].clone();
    let a_ids = [running.id.clone(), queued.id.clone(), planned.id.clone()];

    // get_sync
    for id in &a_ids {
        assert!(s.get_sync(globex, id).await.unwrap().is_none(), "{id}");
        assert!(s.get_sync(acme, id).await.unwrap().is_some(), "{id}");
    }

    // list_syncs, with every status filter.
    let mut statuses = vec![None];
    statuses.extend(
        [
            SyncStatus::Scheduled,
            SyncStatus::Queued,
            SyncStatus::Running,
            SyncStatus::Complete,
        ]
        .map(Some),
    );
    for status in statuses {
        assert!(
            s.list_syncs(globex, &a.id, None, status, 100)
                .await
                .unwrap()
                .is_empty(),
            "{status:?}"
        );
        assert!(
            s.list_syncs(globex, &b.id, None, status, 100)
                .await
                .unwrap()
                .iter()
                .all(|x| !a_ids.contains(&x.id))
        );
    }
    assert_eq!(
        s.list_syncs(acme, &a.id, None, None, 100)
            .await
            .unwrap()
            .len(),
        3
    );

    // cancel_sync: not the queued one, not the running one, not the planned one.
    for id in &a_ids {
        assert!(
            s.cancel_sync(globex, id, at(4)).await.unwrap().is_none(),
            "{id}"
        );
    }
    let q = s.get_sync(acme, &queued.id).await.unwrap().unwrap();
    assert_eq!(q.sync.status, SyncStatus::Queued);
    let r = s.get_sync(acme, &running.id).await.unwrap().unwrap();
    assert_eq!(r.sync.status, SyncStatus::Running);
    assert!(!r.cancel_requested);
    let p = s.get_sync(acme, &planned.id).await.unwrap().unwrap();
    assert_eq!(p.sync.status, SyncStatus::Scheduled);
    let conn = s.get_connection(acme, &a.id).await.unwrap().unwrap();
    assert_eq!(model(&conn, "payments").next_sync_at, Some(at(3600)));
    // The running sync's worker sees no cancel request either.
    let state = json!({});
    let out = s
        .save_sync_page(&job, "w", crate::harness::page(&[], &state), at(5), at(600))
        .await
        .unwrap();
    assert!(!out.cancel_requested);

    // enqueue_syncs: another org cannot queue syncs on A's connection, nor get A's active sync back.
    // Entries for models that are not the org's connection's are left out.
    let got = s
        .enqueue_syncs(globex, &a.id, &[want], at(6))
        .await
        .unwrap();
    assert!(
        got.is_empty(),
        "another org was handed A's active sync: {got:?}"
    );
    assert!(
        s.list_syncs(globex, &a.id, None, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let inv = model(a, "invoices");
    let other_want = NewSync::queued(
        &inv.id,
        &inv.name,
        None,
        None,
        at(6),
        chrono::Duration::zero(),
        None,
        true,
    );
    let got = s
        .enqueue_syncs(globex, &b.id, &[other_want], at(6))
        .await
        .unwrap();
    assert!(
        got.is_empty(),
        "another org was handed A's running sync: {got:?}"
    );
    // A model of A's with no active sync: nothing may be queued for it under another org either,
    // through A's connection or through the other org's own.
    let contacts = model(a, "contacts");
    let idle = NewSync::queued(
        &contacts.id,
        &contacts.name,
        None,
        None,
        at(6),
        chrono::Duration::zero(),
        None,
        true,
    );
    for conn in [&a.id, &b.id] {
        let got = s
            .enqueue_syncs(globex, conn, std::slice::from_ref(&idle), at(7))
            .await
            .unwrap();
        assert!(
            got.is_empty(),
            "another org queued a sync of A's model: {got:?}"
        );
    }
    assert_eq!(
        s.list_syncs(acme, &a.id, None, None, 100)
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(
        s.list_syncs(globex, &a.id, None, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.list_syncs(globex, &b.id, None, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    // A can still queue its own model.
    let mine = s.enqueue_syncs(acme, &a.id, &[idle], at(8)).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].model_id, contacts.id);
}

#[tokio::test]
async fn the_change_feed_is_the_organizations_own() {
    let w = World::new().await;
    let s = w.s();
    let (acme, globex, a, b) = (&w.acme, &w.globex, &w.a, &w.b);
    let records = [record("INV-1", json!({ "number": "INV-1" }))];
    sync_invoices(s, a, &records).await;
    let q = RecordQuery {
        limit: 100,
        include_deleted: true,
        include_raw: true,
        ..Default::default()
    };
    assert_eq!(
        s.list_records(acme, &a.id, "invoices", &q)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.list_records(globex, &a.id, "invoices", &q)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.list_records(globex, &b.id, "invoices", &q)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn api_keys_are_the_organizations_own() {
    let w = World::new().await;
    let s = w.s();
    let (acme, globex) = (&w.acme, &w.globex);
    let ka = generate_api_key();
    let kb = generate_api_key();
    s.insert_api_key(acme, &ka, Some("acme key"), at(0))
        .await
        .unwrap();
    s.insert_api_key(globex, &kb, Some("globex key"), at(0))
        .await
        .unwrap();

    // list_api_keys / get_api_key
    let listed: Vec<String> = s
        .list_api_keys(Some(globex))
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, vec![kb.id.clone()]);
    assert!(s.get_api_key(Some(globex), &ka.id).await.unwrap().is_none());
    assert_eq!(
        s.get_api_key(Some(acme), &ka.id)
            .await
            .unwrap()
            .unwrap()
            .org_id,
        acme.as_str()
    );
    // Without an org (operator tools) every key is seen.
    assert_eq!(s.list_api_keys(None).await.unwrap().len(), 2);

    // revoke_api_key
    assert!(!s.revoke_api_key(globex, &ka.id, at(1)).await.unwrap());
    let owner = s
        .api_key_by_hash(&ka.hash, at(2))
        .await
        .unwrap()
        .expect("A's key still works");
    assert_eq!(owner.org_id, *acme);
    assert!(
        s.get_api_key(Some(acme), &ka.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );

    // rotate_api_key: nothing recorded, nothing revoked.
    let new = generate_api_key();
    assert!(
        !s.rotate_api_key(globex, &ka.id, &new, at(3), at(3))
            .await
            .unwrap()
    );
    assert!(s.api_key_by_hash(&new.hash, at(4)).await.unwrap().is_none());
    assert!(s.api_key_by_hash(&ka.hash, at(4)).await.unwrap().is_some());
    assert_eq!(s.list_api_keys(Some(globex)).await.unwrap().len(), 1);
    assert_eq!(s.list_api_keys(Some(acme)).await.unwrap().len(), 1);

    // The owner can.
    assert!(s.revoke_api_key(acme, &ka.id, at(5)).await.unwrap());
    assert!(s.api_key_by_hash(&ka.hash, at(6)).await.unwrap().is_none());
    assert!(s.api_key_by_hash(&kb.hash, at(6)).await.unwrap().is_some());
}
