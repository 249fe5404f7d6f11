//! Business Central as it really behaves: amounts that change without the modification stamp
//! moving, records the API pages would refuse, 400s, the user's choices against discovery's
//! defaults, and each model's upcoming sync.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::TestApp;

/// Runs every runnable sync; returns the syncs that ran or wait (not the planned ones).
async fn drain(app: &TestApp, id: &str) -> Vec<Value> {
    app.running.engine.drain_syncs("w").await.unwrap();
    app.get(&format!(
        "/v2/integrations/connections/{id}/syncs?limit=200"
    ))
    .await
    .json
    .as_array()
    .unwrap()
    .iter()
    .filter(|s| s["status"] != "scheduled")
    .cloned()
    .collect()
}

async fn records(app: &TestApp, id: &str, model: &str) -> BTreeMap<String, Value> {
    let r = app
        .get(&format!(
            "/v2/integrations/connections/{id}/records/{model}?limit=1000&include_deleted=true"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["remote_id"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

/// Every model due again, `hours_on` hours on (7 is past each model's default frequency and before
/// its first scheduled full pass; each later call must go further).
async fn next_scheduled_syncs(app: &TestApp, id: &str, hours_on: i64) -> Vec<Value> {
    let store = app.running.engine.store().clone();
    let at = chrono::Utc::now() + chrono::Duration::hours(hours_on);
    let d = chrono::Duration::minutes(5);
    store.schedule_due(at, 1_000, d, d).await.unwrap();
    // They are due at `at`: bring that moment to now.
    app.run_sql("UPDATE syncs SET run_after = '2000-01-01 00:00:00+00:00' WHERE status = 'queued'")
        .await;
    drain(app, id).await
}

fn decimal(v: &Value) -> f64 {
    v.as_str()
        .map(|s| s.parse().unwrap())
        .or_else(|| v.as_f64())
        .unwrap_or_else(|| panic!("a decimal: {v}"))
}

/// A partial payment lowers an invoice's remaining amount in BC without moving its
/// `lastModifiedDateTime`; the next scheduled syncs still bring `amount_due`, `amount_paid` and the
/// customer's balance up to date.
#[tokio::test]
async fn a_partial_payment_reaches_the_feed_at_the_next_scheduled_sync() {
    let app = TestApp::with_sim(|_| {}).await;
    let id = app.connected().await;
    // The first full syncs report their progress: records written of the total BC counted.
    let first = drain(&app, &id).await;
    let counted: Vec<&Value> = first
        .iter()
        .filter(|s| s["progress"]["total"].is_u64())
        .collect();
    assert!(counted.len() >= 5, "{first:#?}");
    for s in counted {
        assert_eq!(s["progress"]["records"], s["progress"]["total"], "{s}");
    }
    let invoices = records(&app, &id, "invoices").await;
    let (invoice_id, invoice) = invoices
        .iter()
        .find(|(_, r)| r["data"]["status"] == "open" && decimal(&r["data"]["amount_due"]) > 10.0)
        .expect("an open invoice");
    let due_before = decimal(&invoice["data"]["amount_due"]);
    let customer_id = invoice["data"]["customer_remote_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let balance_before =
        decimal(&records(&app, &id, "customers").await[&customer_id]["data"]["balance_due"]);
    let sim = app.sim();
    let company = sim.company_ids()[0];
    let posted = sim
        .apply_payment(company, invoice_id.parse().unwrap(), 10.0)
        .unwrap();
    assert_eq!(posted.status, "Open", "a partial payment");

    let ran = next_scheduled_syncs(&app, &id, 7).await;
    assert!(ran.iter().all(|s| s["status"] == "complete"), "{ran:#?}");
    let after = &records(&app, &id, "invoices").await[invoice_id];
    assert_eq!(
        decimal(&after["data"]["amount_due"]),
        posted.remaining_amount
    );
    assert!((decimal(&after["data"]["amount_due"]) - (due_before - 10.0)).abs() < 0.005);
    let paid = decimal(&after["data"]["total_amount"]) - posted.remaining_amount;
    assert!(
        (decimal(&after["data"]["amount_paid"]) - paid).abs() < 0.005,
        "{after}"
    );
    let customer = &records(&app, &id, "customers").await[&customer_id];
    assert!(
        (decimal(&customer["data"]["balance_due"]) - (balance_before - 10.0)).abs() < 0.005,
        "{customer}"
    );
    // Found by re-checking the open invoices' amounts, not by their stamps.
    let invoice_sync = ran
        .iter()
        .filter(|s| s["is_initial_sync"] == false)
        .find(|s| s["pagination_state"]["rechecked"].as_u64() == Some(1));
    assert!(invoice_sync.is_some(), "{ran:#?}");
    // Nothing changed since: the next re-check re-reads nothing (what BC computes beside the mapped
    // fields — a customer's total sales — never counts as a change).
    app.run_sql("UPDATE syncs SET status = 'cancelled' WHERE status = 'queued'")
        .await;
    let again = next_scheduled_syncs(&app, &id, 14).await;
    let new: Vec<&Value> = again
        .iter()
        .filter(|s| s["status"] == "complete" && !ran.iter().any(|r| r["id"] == s["id"]))
        .collect();
    assert!(new.len() >= 6, "{again:#?}");
    let rechecked: u64 = new
        .iter()
        .filter_map(|s| s["pagination_state"]["rechecked"].as_u64())
        .sum();
    assert_eq!(rechecked, 0, "{new:#?}");
}

/// Each model runs a full pass on its own cadence (daily by default): deletions are found without
/// anyone asking.
#[tokio::test]
async fn scheduled_full_passes_find_deletions() {
    let app = TestApp::with_sim(|_| {}).await;
    let id = app.connected().await;
    drain(&app, &id).await;
    let store = app.running.engine.store().clone();
    let d = chrono::Duration::minutes(5);
    // Three days on, every model's first scheduled full pass (one to two days after setup) is due.
    let at = chrono::Utc::now() + chrono::Duration::days(3);
    let tick = store.schedule_due(at, 1_000, d, d).await.unwrap();
    assert!(tick.queued >= 6, "{tick:?}");
    let queued = app
        .get(&format!(
            "/v2/integrations/connections/{id}/syncs?status=queued&limit=200"
        ))
        .await
        .json;
    let queued = queued.as_array().unwrap();
    assert_eq!(queued.len(), tick.queued);
    for s in queued {
        assert_eq!(s["is_initial_sync"], true, "a scheduled full pass: {s}");
        assert_eq!(s["is_one_off"], false, "{s}");
    }
    // The next tick after it is incremental again.
    app.run_sql("UPDATE syncs SET status = 'cancelled' WHERE status = 'queued'")
        .await;
    let tick = store
        .schedule_due(at + chrono::Duration::hours(7), 1_000, d, d)
        .await
        .unwrap();
    assert!(tick.queued >= 6, "{tick:?}");
    let queued = app
        .get(&format!(
            "/v2/integrations/connections/{id}/syncs?status=queued&limit=200"
        ))
        .await
        .json;
    let incremental = queued
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["is_initial_sync"] == false)
        .count();
    // Contacts and payments have no modification stamp: every pass of theirs is full.
    assert!(incremental >= 4, "{queued:#?}");

    // The cadence is the user's to change, per model, within 1 hour – 30 days.
    let models = app
        .get(&format!("/v2/integrations/connections/{id}/models"))
        .await
        .json;
    let invoices = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "invoices")
        .unwrap();
    assert_eq!(
        invoices["full_sync_frequency_secs"], 86_400,
        "daily by default"
    );
    let path = format!(
        "/v2/integrations/connections/{id}/models/{}",
        invoices["id"].as_str().unwrap()
    );
    let r = app
        .patch(&path, r#"{"full_sync_frequency_secs": 7200}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.json["full_sync_frequency_secs"], 7200);
    for bad in ["60", "null", "\"daily\"", "9999999999"] {
        let r = app
            .patch(&path, &format!(r#"{{"full_sync_frequency_secs": {bad}}}"#))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {r:?}");
    }
}

/// A record BC serves that cannot be mapped is skipped, shown on the sync, kept as it was in the
/// feed, and re-read at the next sync; what BC may legitimately send (an empty name) maps.
#[tokio::test]
async fn one_bad_record_never_stops_a_model() {
    let app = TestApp::with_sim(|_| {}).await;
    let id = app.connected().await;
    drain(&app, &id).await;
    let sim = app.sim();
    let company = sim.company_ids()[0];
    let customers = records(&app, &id, "customers").await;
    let mut ids = customers.keys();
    let empty_name = ids.next().unwrap().clone();
    let broken = ids.next().unwrap().clone();
    sim.patch_raw(
        company,
        "customers",
        empty_name.parse().unwrap(),
        json!({"displayName": ""}),
    )
    .unwrap();
    sim.patch_raw(
        company,
        "customers",
        broken.parse().unwrap(),
        json!({"balanceDue": "abc"}),
    )
    .unwrap();

    for full_pass in [false, true] {
        let r = app
            .post(
                &format!("/v2/integrations/connections/{id}/sync?full_pass={full_pass}"),
                "",
            )
            .await;
        assert!(r.status.is_success(), "{r:?}");
        let ran = drain(&app, &id).await;
        let sync = ran
            .iter()
            .find(|s| s["is_one_off"] == true && s["pagination_state"]["skipped_count"].is_u64())
            .unwrap_or_else(|| panic!("the customers sync lists its skip: {ran:#?}"));
        assert_eq!(sync["status"], "complete", "{sync}");
        assert_eq!(sync["pagination_state"]["skipped_count"], 1, "{sync}");
        let skip = &sync["pagination_state"]["skipped"][0];
        assert_eq!(skip["remote_id"], broken.as_str(), "{sync}");
        assert!(
            skip["reason"].as_str().unwrap().contains("balanceDue"),
            "{sync}"
        );
        let now = records(&app, &id, "customers").await;
        assert_eq!(now[&empty_name]["data"]["name"], "", "an empty name maps");
        assert_eq!(
            now[&broken]["remote_deleted_at"],
            Value::Null,
            "{full_pass}: kept, not deleted"
        );
        assert_eq!(
            now[&broken]["data"], customers[&broken]["data"],
            "kept as it was"
        );
        // Settle the one-off syncs before the next round.
        for s in &ran {
            assert_ne!(s["status"], "failed", "{s}");
        }
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let skipped: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ledgerlink_records_skipped_total{model=\"customers\"} "))
        .unwrap_or_else(|| panic!("a skip metric: {metrics}"))
        .parse()
        .unwrap();
    assert!(skipped >= 2, "{skipped}");

    // Mended in BC without its stamp moving: the next sync re-reads it by id.
    sim.patch_raw_with(
        company,
        "customers",
        broken.parse().unwrap(),
        bc_sim::RawPatch::set(json!({"balanceDue": 12.5})).silent(),
    )
    .unwrap();
    next_scheduled_syncs(&app, &id, 7).await;
    let now = records(&app, &id, "customers").await;
    assert_eq!(decimal(&now[&broken]["data"]["balance_due"]), 12.5);
}

/// A 400 from Business Central (a request it will never accept) fails the sync at once, without
/// retries; the amounts re-check, being best effort, does not fail the sync that wrote its pages.
#[tokio::test]
async fn a_request_business_central_refuses_fails_at_once() {
    // Each page's end written (the test clock stands still: no write interval would pass), so that
    // the faults can change once the first page is in.
    let app =
        TestApp::with_sim_and(|s| s.data.invoices = 40, |c| c.sync_write_interval_ms = 0).await;
    let id = app.connected().await;
    drain(&app, &id).await;
    let sim = app.sim();

    // An older BC without `remainingAmount`: the window is read whole instead, the re-check says why
    // it could not run.
    let mut faults = sim.config().faults.clone();
    faults.unknown_properties = vec!["remainingAmount".into()];
    sim.set_faults(faults.clone());
    let ran = next_scheduled_syncs(&app, &id, 7).await;
    assert!(ran.iter().all(|s| s["status"] == "complete"), "{ran:#?}");
    assert!(
        ran.iter().any(|s| s["pagination_state"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("remainingAmount"))),
        "{ran:#?}"
    );

    // A page that BC refuses mid-sync (its next link asks for a property it does not have): failed
    // at once, attempt 1.
    sim.set_faults(bc_sim::FaultConfig {
        slow_rate: 1.0,
        slow_ms: 150,
        ..Default::default()
    });
    let r = app
        .post(
            &format!("/v2/integrations/connections/{id}/sync?full_pass=true"),
            "",
        )
        .await;
    assert!(r.status.is_success(), "{r:?}");
    let models = app
        .get(&format!("/v2/integrations/connections/{id}/models"))
        .await
        .json;
    let invoices_model = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "invoices")
        .unwrap()["id"]
        .clone();
    let sync_id = r
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["model_id"] == invoices_model)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let engine = app.running.engine.clone();
    let worker = tokio::spawn(async move { engine.drain_syncs("w").await });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let s = app
            .get(&format!("/v2/integrations/syncs/{sync_id}"))
            .await
            .json;
        if s["pagination_state"]["pages"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{s}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    faults.slow_rate = 1.0;
    faults.slow_ms = 150;
    sim.set_faults(faults);
    worker.await.unwrap().unwrap();
    let s = app
        .get(&format!("/v2/integrations/syncs/{sync_id}"))
        .await
        .json;
    assert_eq!(s["status"], "failed", "{s}");
    assert_eq!(s["attempt"], 1, "not retried: {s}");
    assert!(
        s["error"].as_str().unwrap().contains("remainingAmount"),
        "{s}"
    );
}

/// A model the user switched off before consent stays off when setup finds it readable.
#[tokio::test]
async fn the_users_choice_wins_over_discovery() {
    let app = TestApp::with_sim(|s| s.extension_installed = true).await;
    let created = app.create_connection("Acme").await;
    let id = created["id"].as_str().unwrap();
    let cle = created["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "customer_ledger_entries")
        .unwrap()
        .clone();
    app.set_read(id, &cle["id"], false).await;
    app.authorize(&created).await;
    let c = app.settled(id).await;
    assert_eq!(c["is_bc_extension_installed"], true);
    let cle = c["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "customer_ledger_entries")
        .unwrap();
    assert_eq!(cle["is_read_supported"], true, "{cle}");
    assert_eq!(cle["is_read_enabled"], false, "the user said no: {cle}");
    drain(&app, id).await;
    let synced = app
        .get(&format!(
            "/v2/integrations/connections/{id}/syncs?model=customer_ledger_entries&limit=10"
        ))
        .await
        .json;
    assert_eq!(synced.as_array().unwrap().len(), 0, "{synced}");
}

/// Each enabled model shows its upcoming sync as `scheduled`; it becomes `queued` under the same id
/// when due; switching the model off or pausing the connection removes it.
#[tokio::test]
async fn each_model_shows_its_upcoming_sync() {
    let app = TestApp::with_sim(|_| {}).await;
    let id = app.connected().await;
    drain(&app, &id).await;
    let path = format!("/v2/integrations/connections/{id}/syncs?status=scheduled&limit=200");
    let planned = app.get(&path).await.json;
    let planned = planned.as_array().unwrap().clone();
    let c = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    let reading: Vec<&Value> = c["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["is_read_enabled"] == true)
        .collect();
    assert_eq!(planned.len(), reading.len(), "{planned:#?}");
    for s in &planned {
        assert_eq!(s["status"], "scheduled");
        let model = reading.iter().find(|m| m["id"] == s["model_id"]).unwrap();
        assert_eq!(s["timerange_end"], model["next_sync_at"], "{s}");
        let one = app
            .get(&format!(
                "/v2/integrations/syncs/{}",
                s["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(one.status, StatusCode::OK, "{one:?}");
        assert_eq!(one.json["status"], "scheduled");
    }
    // Due: the same sync is queued.
    let invoices = planned
        .iter()
        .find(|s| {
            reading
                .iter()
                .any(|m| m["id"] == s["model_id"] && m["name"] == "invoices")
        })
        .unwrap();
    let store = app.running.engine.store().clone();
    let d = chrono::Duration::minutes(5);
    store
        .schedule_due(chrono::Utc::now() + chrono::Duration::hours(7), 1_000, d, d)
        .await
        .unwrap();
    let same = app
        .get(&format!(
            "/v2/integrations/syncs/{}",
            invoices["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(same.json["status"], "queued", "{same:?}");
    drain(&app, &id).await;

    // Switched off: no upcoming sync for it. Paused: none at all.
    app.set_read(&id, &invoices["model_id"], false).await;
    let planned = app.get(&path).await.json;
    assert_eq!(planned.as_array().unwrap().len(), reading.len() - 1);
    assert!(
        planned
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["model_id"] != invoices["model_id"])
    );
    app.patch(
        &format!("/v2/integrations/connections/{id}"),
        r#"{"is_sync_disabled": true}"#,
    )
    .await;
    let planned = app.get(&path).await.json;
    assert_eq!(planned.as_array().unwrap().len(), 0, "{planned}");
}

/// A cloud connection on a server without an Entra app says the operator must act, and how.
#[tokio::test]
async fn without_an_entra_app_the_operator_is_told_what_to_set() {
    let app = TestApp::start_with(|c| c.set_entra(None)).await;
    let c = app.create_connection("Acme").await;
    let resolution = c["health"]["suggested_resolution"].as_str().unwrap();
    assert!(resolution.contains("operator"), "{resolution}");
    assert!(resolution.contains("entra_client_id"), "{resolution}");
    assert!(!resolution.contains("PATCH"), "{resolution}");
}
