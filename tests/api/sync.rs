//! Syncing from bc-sim and the change feed: full then incremental, faults, deletions.

use std::collections::BTreeMap;
use std::time::Duration;

use ledgerlink_connectors::business_central::mapping::{
    MappingContext, map_fetched, selected_fields,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::TestApp;

const MODELS: [&str; 7] = [
    "customers",
    "contacts",
    "invoices",
    "credit_memos",
    "payments",
    "customer_ledger_entries",
    "dimensions",
];

/// Entity set and `$expand` the connector uses per model (for reading bc-sim directly).
fn source(model: &str) -> (&'static str, Option<&'static str>) {
    match model {
        "customers" => ("customers", Some("customerFinancialDetail")),
        "contacts" => ("customerContacts", None),
        "invoices" => ("salesInvoices", Some("salesInvoiceLines")),
        "credit_memos" => ("salesCreditMemos", Some("salesCreditMemoLines")),
        "payments" => ("customerPaymentJournals", Some("customerPayments")),
        "dimensions" => ("dimensions", Some("dimensionValues")),
        _ => ("customerLedgerEntries", None),
    }
}

async fn connected(tweak: impl FnOnce(&mut bc_sim::SimConfig)) -> (TestApp, String) {
    connected_and(tweak, |_| {}).await
}

/// [`connected`], with the server's configuration tweaked too.
async fn connected_and(
    tweak: impl FnOnce(&mut bc_sim::SimConfig),
    tweak_server: impl FnOnce(&mut ledgerlink::Config),
) -> (TestApp, String) {
    let app = TestApp::with_sim_and(tweak, tweak_server).await;
    let created = app.create_connection("Acme").await;
    app.authorize(&created).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let c = app.settled(&id).await;
    assert_eq!(c["health"]["status_code"], "healthy", "{}", c["health"]);
    (app, id)
}

/// A first sync of `invoices` invoices alone, on a server configured by `tweak_server`: the
/// statements it took, the invoices sync's resume state (it completed), the app and connection.
async fn first_invoices_sync(
    invoices: usize,
    tweak_server: impl FnOnce(&mut ledgerlink::Config),
) -> (u64, Value, TestApp, String) {
    let (app, id) = connected_and(
        |s| {
            s.data.invoices = invoices;
            s.data.customers = 12;
        },
        tweak_server,
    )
    .await;
    invoices_only(&app, &id).await;
    let before = app.running.store.queries_executed();
    let syncs = settle(&app, &id).await;
    let statements = app.running.store.queries_executed() - before;
    assert!(syncs.iter().all(|s| s["status"] == "complete"), "{syncs:?}");
    let model = model_id(&app, &id, "invoices").await;
    let sync = syncs
        .iter()
        .find(|s| s["model_id"] == model)
        .unwrap_or_else(|| panic!("an invoices sync: {syncs:?}"));
    let state = sync["pagination_state"].clone();
    (statements, state, app, id)
}

/// Runs queued syncs until every sync of the connection has ended (retries included): the server's
/// clock is moved past each backoff instead of waiting for it.
async fn settle(app: &TestApp, id: &str) -> Vec<Value> {
    for _ in 0..200 {
        app.running.engine.drain_syncs("test-worker").await.unwrap();
        let syncs = app
            .get(&format!(
                "/v2/integrations/connections/{id}/syncs?limit=200"
            ))
            .await
            .json;
        let open = syncs.as_array().unwrap().iter().any(|s| {
            !matches!(
                s["status"].as_str(),
                Some("complete" | "failed" | "cancelled" | "scheduled")
            )
        });
        if !open {
            // Each model's next planned sync (`scheduled`) is not a sync that ran.
            return syncs
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["status"] != "scheduled")
                .cloned()
                .collect();
        }
        app.clock.advance(chrono::Duration::seconds(20));
    }
    panic!("syncs did not settle");
}

/// Switches reading off for every model but invoices (their queued first syncs with it).
async fn invoices_only(app: &TestApp, id: &str) {
    let conn = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    for m in conn["models"].as_array().unwrap() {
        if m["name"] != "invoices" {
            app.set_read(id, &m["id"], false).await;
        }
    }
}

/// The id of a connection's model, by name.
async fn model_id(app: &TestApp, id: &str, name: &str) -> Value {
    let conn = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    conn["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("a model {name}: {conn}"))["id"]
        .clone()
}

/// Reads a model's whole feed from `cursor`; returns the records and the last cursor.
async fn feed(
    app: &TestApp,
    id: &str,
    model: &str,
    cursor: Option<&str>,
    deleted: bool,
) -> (Vec<Value>, Option<String>) {
    let mut out = Vec::new();
    let mut cursor = cursor.map(str::to_owned);
    loop {
        let mut path = format!(
            "/v2/integrations/connections/{id}/records/{model}?limit=4&include_deleted={deleted}"
        );
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let page = r.json["data"].as_array().unwrap().clone();
        let next = r.json["next_cursor"].as_str().map(str::to_owned);
        if page.is_empty() {
            return (out, next.or(cursor));
        }
        out.extend(page);
        cursor = next;
    }
}

/// Every record of a model as bc-sim serves it now, mapped the way a sync maps it, by remote id.
async fn truth(app: &TestApp, model: &str) -> BTreeMap<String, Value> {
    let sim = app.sim();
    let ctx = MappingContext {
        local_currency: local_currency(sim, sim.company_ids()[0]),
    };
    let mut out = BTreeMap::new();
    for raw in sim_entities(app, model).await {
        for m in map_fetched(model, &raw, &ctx).unwrap() {
            out.insert(m.remote_id, m.data);
        }
    }
    out
}

/// Each model's whole feed (deletions left out) equals bc-sim's data mapped, record for record.
async fn feed_equals_erp(app: &TestApp, id: &str, models: &[&str], when: &str) {
    for &model in models {
        let (records, _) = feed(app, id, model, None, false).await;
        assert_eq!(
            by_remote_id(&records),
            truth(app, model).await,
            "{model} {when}"
        );
    }
}

/// Every entity of a model as bc-sim serves it now: all properties, expanded as a sync expands them.
async fn sim_entities(app: &TestApp, model: &str) -> Vec<Value> {
    let sim = app.sim();
    let company = sim.company_ids()[0];
    let (set, expand) = source(model);
    let base = if model == "customer_ledger_entries" {
        format!(
            "{}/v2.0/{}/{}/api/ledgerlink/ar/v1.0",
            sim.base_url(),
            sim.tenant_id(),
            sim.environment()
        )
    } else {
        sim.api_base()
    };
    let mut url = format!("{base}/companies({company})/{set}");
    if let Some(e) = expand {
        url.push_str(&format!("?$expand={e}"));
    }
    let token = token(app).await;
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    let mut next = Some(url);
    while let Some(u) = next {
        let body: Value = client
            .get(&u)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out.extend(body["value"].as_array().unwrap().iter().cloned());
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
    }
    out
}

/// A bc-sim company's local currency (what its `companyInformation` reports).
fn local_currency(sim: &bc_sim::Sim, company: impl std::fmt::Display) -> Option<String> {
    let info = sim.info();
    let companies = info["environments"][0]["companies"].as_array().unwrap();
    let found = companies
        .iter()
        .find(|c| c["id"] == company.to_string())
        .expect("a company of the first environment");
    found["localCurrency"].as_str().map(str::to_owned)
}

async fn token(app: &TestApp) -> String {
    let sim = app.sim();
    let r: Value = reqwest::Client::new()
        .post(sim.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &sim.client_id()),
            ("client_secret", &sim.client_secret()),
            ("scope", "https://api.businesscentral.dynamics.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().expect("a token").to_owned()
}

fn by_remote_id(records: &[Value]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for r in records {
        let prev = out.insert(
            r["remote_id"].as_str().unwrap().to_owned(),
            r["data"].clone(),
        );
        assert!(
            prev.is_none(),
            "{} appears twice in one pass over the feed",
            r["remote_id"]
        );
    }
    out
}

async fn admin(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req =
        reqwest::Client::new().request(method, format!("{}/_sim{path}", app.sim().base_url()));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

/// A synced invoice's `raw` is bc-sim's entity cut to `selected_fields` with its lines whole: the sync
/// sent `$select` over HTTP, and BC kept the `$expand`ed lines.
async fn raw_is_bc_payload_of_the_selected_fields(app: &TestApp, id: &str) {
    let fields = selected_fields("invoices").unwrap();
    let entities: BTreeMap<String, Value> = sim_entities(app, "invoices")
        .await
        .into_iter()
        .map(|e| (e["id"].as_str().unwrap().to_lowercase(), e))
        .collect();
    let path =
        format!("/v2/integrations/connections/{id}/records/invoices?limit=20&include_raw=true");
    let r = app.get(&path).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let records = r.json["data"].as_array().unwrap();
    assert!(!records.is_empty());
    for record in records {
        let raw = record["raw"]
            .as_object()
            .expect("raw with include_raw=true");
        let entity = entities[record["remote_id"].as_str().unwrap()]
            .as_object()
            .unwrap();
        let expected: serde_json::Map<String, Value> = entity
            .iter()
            .filter(|(k, _)| {
                fields.contains(&k.as_str())
                    || *k == "salesInvoiceLines"
                    || k.starts_with("@odata.")
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(
            raw, &expected,
            "raw holds the selected fields and the lines"
        );
        assert!(
            entity.contains_key("shipToName") && !raw.contains_key("shipToName"),
            "an unmapped property is not fetched"
        );
    }
}

/// A record whose stored copy is damaged (here: one invoice's compressed JSON, its checksum broken
/// behind the server's back): the feed answers 503 naming it rather than serving a page that passes it
/// by, and queues a full pass of the model; once that has run the feed is whole and equal to the ERP.
#[tokio::test]
async fn a_damaged_stored_record_is_refused_then_read_again_from_the_erp() {
    let (app, id) = connected(|_| {}).await;
    settle(&app, &id).await;
    let (before, _) = feed(&app, &id, "invoices", None, false).await;
    let damaged = before[before.len() / 2]["id"].as_str().unwrap().to_owned();
    app.run_sql_per_backend(
        &format!(
            "UPDATE records SET data = substr(data, 1, length(data) - 4) || x'00000000' \
             WHERE id = '{damaged}'"
        ),
        &format!(
            "UPDATE records SET data = overlay(data placing '\\x00000000'::bytea \
             from length(data) - 3) WHERE id = '{damaged}'"
        ),
    )
    .await;
    let path = format!("/v2/integrations/connections/{id}/records/invoices?limit=1000");
    let r = app.get(&path).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
    assert_eq!(r.json["code"], "service_unavailable", "{r:?}");
    let detail = r.json["detail"].as_str().unwrap();
    assert!(
        detail.contains(&damaged) && detail.contains("full sync"),
        "{detail}"
    );
    // Records before it are still served (a cursor short of it).
    let first = before[0]["id"].as_str().unwrap();
    assert_ne!(first, damaged);
    let r = app.get(&format!("{path}&limit=1")).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    // Asked again before the repair: the same answer, and no second full pass.
    let r = app.get(&path).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
    let queued = app
        .get(&format!(
            "/v2/integrations/connections/{id}/syncs?status=queued"
        ))
        .await
        .json;
    let models: Vec<&Value> = queued
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["model_id"])
        .collect();
    assert_eq!(models, [&model_id(&app, &id, "invoices").await], "{queued}");
    settle(&app, &id).await;
    feed_equals_erp(&app, &id, &["invoices"], "after the repair").await;
    let (after, _) = feed(&app, &id, "invoices", None, false).await;
    assert_eq!(after.len(), before.len());
    let repaired = after.iter().find(|r| r["id"] == damaged.as_str()).unwrap();
    assert_eq!(
        repaired,
        after.last().unwrap(),
        "written anew: last in the feed"
    );
}

#[tokio::test]
async fn a_full_then_incremental_sync_makes_the_feed_equal_to_the_erp() {
    let (app, id) = connected(|_| {}).await;
    // Setup queued each model's first sync at once; let those run, then ask for full passes.
    for s in settle(&app, &id).await {
        assert_eq!(s["status"], "complete", "{s}");
        assert_eq!(
            (s["is_initial_sync"].as_bool(), s["is_one_off"].as_bool()),
            (Some(true), Some(false))
        );
    }
    let r = app
        .post(
            &format!("/v2/integrations/connections/{id}/sync?full_pass=true"),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let syncs = r.json.as_array().unwrap().clone();
    assert_eq!(syncs.len(), 7, "one per enabled model");
    let batch = &syncs[0]["batch_id"];
    assert!(batch.is_string());
    for s in &syncs {
        assert_eq!(&s["batch_id"], batch);
        assert_eq!(s["status"], "queued");
        assert_eq!(s["is_one_off"], true);
        assert_eq!(s["is_initial_sync"], true);
        assert_eq!(s["object"], "integration_sync");
    }
    let again = app
        .post(
            &format!("/v2/integrations/connections/{id}/sync?full_pass=true"),
            "",
        )
        .await
        .json;
    let ids = |v: &[Value]| v.iter().map(|s| s["id"].clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(again.as_array().unwrap()),
        ids(&syncs),
        "queued syncs are returned, not duplicated"
    );

    for s in settle(&app, &id).await {
        assert_eq!(s["status"], "complete", "{s}");
        assert_eq!(s["attempt"], 1);
    }
    let mut cursors = BTreeMap::new();
    for model in MODELS {
        let (records, cursor) = feed(&app, &id, model, None, false).await;
        let expected = truth(&app, model).await;
        assert!(!expected.is_empty(), "{model}: the dataset has records");
        assert_eq!(
            by_remote_id(&records),
            expected,
            "{model}: the feed equals bc-sim, field for field"
        );
        cursors.insert(model, cursor);
    }
    raw_is_bc_payload_of_the_selected_fields(&app, &id).await;
    let c = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    for m in c["models"].as_array().unwrap() {
        assert!(m["next_sync_at"].is_string(), "scheduled after setup: {m}");
        assert_eq!(m["last_sync"]["status"], "complete", "{m}");
        assert_eq!(m["last_sync"]["model_id"], m["id"]);
    }
    let listed = app.get("/v2/integrations/connections").await.json;
    assert_eq!(
        listed[0]["models"], c["models"],
        "the list shows the same last syncs"
    );

    // Changes at the ERP between syncs.
    let company = app.sim().company_ids()[0];
    let created = admin(
        &app,
        reqwest::Method::POST,
        &format!("/companies/{company}/customers"),
        Some(json!({"displayName": "Newco Ltd", "email": "ap@newco.example"})),
    )
    .await;
    let invoice = truth(&app, "invoices").await.into_keys().next().unwrap();
    admin(
        &app,
        reqwest::Method::PATCH,
        &format!("/companies/{company}/salesInvoices/{invoice}"),
        Some(json!({"externalDocumentNumber": "PO-CHANGED-1"})),
    )
    .await;

    let r = app
        .post(&format!("/v2/integrations/connections/{id}/sync"), "")
        .await;
    let second = r.json.as_array().unwrap();
    assert_eq!(second.len(), 7);
    for s in second {
        assert_eq!(
            s["is_initial_sync"], false,
            "incremental after the first sync: {s}"
        );
        assert!(
            s["timerange_start"].is_string() && s["timerange_end"].is_string(),
            "{s}"
        );
        assert!(s["timerange_start"].as_str() < s["timerange_end"].as_str());
    }
    for s in settle(&app, &id).await {
        assert_eq!(s["status"], "complete", "{s}");
    }
    let (new_customers, _) = feed(
        &app,
        &id,
        "customers",
        cursors["customers"].as_deref(),
        false,
    )
    .await;
    let new_ids: Vec<&str> = new_customers
        .iter()
        .map(|r| r["remote_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        new_ids,
        [created["id"].as_str().unwrap().to_lowercase()],
        "only the new customer is new in the feed"
    );
    let (changed, _) = feed(&app, &id, "invoices", cursors["invoices"].as_deref(), false).await;
    assert_eq!(changed.len(), 1, "only the changed invoice: {changed:?}");
    assert_eq!(changed[0]["remote_id"], invoice.as_str());
    for model in ["dimensions", "credit_memos"] {
        let (nothing, _) = feed(&app, &id, model, cursors[model].as_deref(), false).await;
        assert!(
            nothing.is_empty(),
            "{model}: unchanged records are not rewritten"
        );
    }
    feed_equals_erp(&app, &id, &MODELS, "after the incremental sync").await;
}

#[tokio::test]
async fn a_completed_full_pass_records_deletions_and_a_failed_one_deletes_nothing() {
    let (app, id) = connected(|_| {}).await;
    app.post(&format!("/v2/integrations/connections/{id}/sync"), "")
        .await;
    settle(&app, &id).await;
    let (before, cursor) = feed(&app, &id, "credit_memos", None, true).await;
    let victim = before[0]["remote_id"].as_str().unwrap().to_owned();
    let company = app.sim().company_ids()[0];
    admin(
        &app,
        reqwest::Method::DELETE,
        &format!("/companies/{company}/salesCreditMemos/{victim}"),
        None,
    )
    .await;

    // A full pass that fails (every call forbidden) deletes nothing.
    app.sim().set_faults(bc_sim::FaultConfig {
        forbidden: true,
        ..Default::default()
    });
    app.post(
        &format!("/v2/integrations/connections/{id}/sync?full_pass=true"),
        "",
    )
    .await;
    let syncs = settle(&app, &id).await;
    assert!(
        syncs
            .iter()
            .any(|s| s["status"] == "failed" && s["error"].is_string()),
        "{syncs:?}"
    );
    let (after_failure, _) = feed(&app, &id, "credit_memos", cursor.as_deref(), true).await;
    assert!(after_failure.is_empty(), "nothing deleted by a failed pass");
    let c = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    assert_eq!(c["health"]["status_code"], "permission_denied");

    app.sim().set_faults(bc_sim::FaultConfig::default());
    let c = app
        .call(
            reqwest::Method::POST,
            &format!("/v2/integrations/connections/{id}/health-check"),
            None,
        )
        .await
        .json;
    assert_eq!(c["health"]["status_code"], "healthy");
    app.post(
        &format!("/v2/integrations/connections/{id}/sync?full_pass=true"),
        "",
    )
    .await;
    settle(&app, &id).await;
    let (tail, _) = feed(&app, &id, "credit_memos", cursor.as_deref(), true).await;
    assert_eq!(tail.len(), 1, "{tail:?}");
    assert_eq!(tail[0]["remote_id"], victim.as_str());
    assert!(tail[0]["remote_deleted_at"].is_string());
    let (live, _) = feed(&app, &id, "credit_memos", None, false).await;
    assert!(
        live.iter().all(|r| r["remote_id"] != victim.as_str()),
        "hidden without include_deleted"
    );
    assert_eq!(by_remote_id(&live), truth(&app, "credit_memos").await);
}

#[tokio::test]
async fn syncs_finish_exactly_right_through_injected_faults() {
    let (app, id) = connected(|s| {
        s.data.invoices = 40;
        s.data.customers = 12;
    })
    .await;
    app.sim().set_faults(bc_sim::FaultConfig {
        error_5xx_rate: 0.03,
        throttle_rate: 0.03,
        drop_rate: 0.02,
        truncate_rate: 0.02,
        ..Default::default()
    });
    app.post(&format!("/v2/integrations/connections/{id}/sync"), "")
        .await;
    let syncs = settle(&app, &id).await;
    app.sim().set_faults(bc_sim::FaultConfig::default());
    for s in &syncs {
        assert_eq!(s["status"], "complete", "{s}");
    }
    let retried: u64 = syncs
        .iter()
        .map(|s| {
            s["pagination_state"]["retried_errors"]
                .as_u64()
                .unwrap_or(0)
                + s["attempt"].as_u64().unwrap()
                - 1
        })
        .sum();
    assert!(retried > 0, "faults happened and were retried: {syncs:?}");
    assert!(
        syncs
            .iter()
            .any(|s| s["pagination_state"]["last_error"].is_string() || s["error"].is_string()),
        "what happened is shown"
    );
    feed_equals_erp(&app, &id, &MODELS, "despite faults").await;
}

/// A chunk is written once its records hold `sync_write_chunk_bytes` of JSON, before it has
/// `sync_write_chunk` records (memory bounded by bytes, whatever the records' size): at one byte,
/// each record of the one page is its own write — four statements at least each — where the default
/// writes the page whole; and the feed is the ERP's all the same.
#[tokio::test]
async fn chunks_are_written_by_bytes_before_they_fill_up_with_records() {
    let first_sync =
        |bytes: usize| first_invoices_sync(40, move |c| c.sync_write_chunk_bytes = bytes);
    let (whole, _, _, _) = first_sync(16 << 20).await;
    let (by_record, _, app, id) = first_sync(1).await;
    assert!(
        by_record >= whole + 4 * 39,
        "{by_record} statements written by record, {whole} by page"
    );
    feed_equals_erp(&app, &id, &["invoices"], "written record by record").await;
}

/// On a fast ERP one write covers several pages: with `sync_write_interval_ms` not yet passed at a
/// page's end, a first sync of 60 invoices in pages of 7 is written at its end, in fewer statements
/// than page by page (at 0 ms) — with the same pages and records counted, and the feed the ERP's.
#[tokio::test]
async fn one_write_covers_several_pages_until_the_interval_passes() {
    let first_sync =
        |interval_ms: u64| first_invoices_sync(60, move |c| c.sync_write_interval_ms = interval_ms);
    let (by_page, by_page_state) = {
        let (n, state, _, _) = first_sync(0).await;
        (n, state)
    };
    // The test clock stands still: a minute never passes.
    let (spanning, state, app, id) = first_sync(60_000).await;
    assert!(
        spanning + 4 * 8 <= by_page,
        "{spanning} statements written across pages, {by_page} page by page"
    );
    for key in ["pages", "records"] {
        assert_eq!(
            state[key], by_page_state[key],
            "{key}: {state} / {by_page_state}"
        );
    }
    assert_eq!(state["pages"], 9, "{state}");
    feed_equals_erp(&app, &id, &["invoices"], "written across pages").await;
}

/// A body cut off on the wire (gzipped, as BC sends it) delivers the records before the cut: those
/// of chunks already complete are stored before the page fails, and the page read again whole later
/// stores each record once.
#[tokio::test]
async fn records_before_a_cut_are_stored_and_the_page_read_again_adds_no_duplicates() {
    let (app, id) = connected_and(
        |s| {
            s.data.invoices = 300;
            s.data.customers = 12;
        },
        |c| {
            // One page, cut in half: ~150 records arrive, in batches of 64.
            c.sync_page_size = 1_000;
            c.sync_write_chunk = 10;
            // One attempt per drain: the retry is not due before the faults are lifted.
            c.sync_retry_base_ms = 3_600_000;
        },
    )
    .await;
    invoices_only(&app, &id).await;
    app.sim().set_faults(bc_sim::FaultConfig {
        truncate_rate: 1.0,
        ..Default::default()
    });
    app.running.engine.drain_syncs("w").await.unwrap();
    let (stored, _) = feed(&app, &id, "invoices", None, false).await;
    assert!(
        !stored.is_empty() && stored.len() < 300,
        "part of the one page stored before its cut: {}",
        stored.len()
    );
    app.sim().set_faults(bc_sim::FaultConfig::default());
    app.clock.advance(chrono::Duration::hours(3));
    settle(&app, &id).await;
    feed_equals_erp(&app, &id, &["invoices"], "once the page arrives whole").await;
    let (all, _) = feed(&app, &id, "invoices", None, false).await;
    assert_eq!(all.len(), 300, "each invoice once in the feed");
}

/// Pages are written in chunks as they stream in: bodies cut off after some chunks were written are
/// read again from the page's start, and the records written twice are in the feed once.
#[tokio::test]
async fn pages_cut_off_after_some_of_their_chunks_were_written_leave_no_duplicates() {
    let (app, id) = connected_and(
        |s| {
            s.data.invoices = 40;
            s.data.customers = 12;
        },
        |c| c.sync_write_chunk = 2,
    )
    .await;
    app.sim().set_faults(bc_sim::FaultConfig {
        truncate_rate: 0.3,
        ..Default::default()
    });
    app.post(&format!("/v2/integrations/connections/{id}/sync"), "")
        .await;
    let syncs = settle(&app, &id).await;
    app.sim().set_faults(bc_sim::FaultConfig::default());
    let model = model_id(&app, &id, "invoices").await;
    let invoices = syncs
        .iter()
        .find(|s| s["model_id"] == model)
        .unwrap_or_else(|| panic!("an invoices sync: {syncs:?}"));
    assert_eq!(invoices["status"], "complete", "{invoices}");
    let state = &invoices["pagination_state"];
    assert!(
        state["retried_errors"].as_u64().unwrap_or(0) + invoices["attempt"].as_u64().unwrap() > 1,
        "bodies were cut off: {state}"
    );
    assert_eq!(state["records"], 40, "each invoice counted once: {state}");
    let (all, _) = feed(&app, &id, "invoices", None, false).await;
    assert_eq!(all.len(), 40, "each invoice once in the feed");
    feed_equals_erp(&app, &id, &MODELS, "despite cut-off pages").await;
}

#[tokio::test]
async fn sync_requests_are_refused_until_the_connection_is_ready_and_can_be_cancelled() {
    let app = TestApp::with_sim(|_| {}).await;
    let c = app.create_connection("Pending").await;
    let id = c["id"].as_str().unwrap();
    let r = app
        .post(&format!("/v2/integrations/connections/{id}/sync"), "")
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    app.authorize(&c).await;
    app.settled(id).await;
    app.patch(
        &format!("/v2/integrations/connections/{id}"),
        r#"{"is_sync_disabled":true}"#,
    )
    .await;
    let r = app
        .post(&format!("/v2/integrations/connections/{id}/sync"), "")
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "paused: {r:?}");
    app.patch(
        &format!("/v2/integrations/connections/{id}"),
        r#"{"is_sync_disabled":false}"#,
    )
    .await;
    let syncs = app
        .post(&format!("/v2/integrations/connections/{id}/sync"), "")
        .await
        .json;
    let first = syncs[0]["id"].as_str().unwrap();
    let r = app
        .post(&format!("/v2/integrations/syncs/{first}/cancel"), "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.json["status"], "cancelled");
    let got = app.get(&format!("/v2/integrations/syncs/{first}")).await;
    assert_eq!(got.json["status"], "cancelled");
    let other = app.key_for_org("other").await;
    let r = app
        .call_as(
            &other,
            reqwest::Method::GET,
            &format!("/v2/integrations/syncs/{first}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .call_as(
            &other,
            reqwest::Method::GET,
            &format!("/v2/integrations/connections/{id}/records/invoices"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .get(&format!(
            "/v2/integrations/connections/{id}/records/bananas"
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .get(&format!(
            "/v2/integrations/connections/{id}/records/invoices?cursor=-4"
        ))
        .await;
    assert_eq!(crate::harness::locs(&r), ["query.cursor"]);
    settle(&app, id).await;
}

#[tokio::test]
async fn models_can_be_switched_and_rescheduled() {
    let (app, id) = connected(|_| {}).await;
    let models = app
        .get(&format!("/v2/integrations/connections/{id}/models"))
        .await;
    assert_eq!(models.status, StatusCode::OK, "{models:?}");
    let list = models.json.as_array().unwrap();
    assert_eq!(list.len(), 7);
    let contacts = list.iter().find(|m| m["name"] == "contacts").unwrap();
    assert!(contacts["sync_frequency_secs"].as_i64().unwrap() >= 300);
    let path = format!(
        "/v2/integrations/connections/{id}/models/{}",
        contacts["id"].as_str().unwrap()
    );

    let r = app
        .patch(
            &path,
            r#"{"is_read_enabled":false,"sync_frequency_secs":600}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.json["is_read_enabled"], false);
    assert_eq!(r.json["sync_frequency_secs"], 600);
    let r = app.patch(&path, r#"{"is_write_enabled":true}"#).await;
    assert_eq!(
        crate::harness::locs(&r),
        ["body.is_write_enabled"],
        "contacts cannot be written back"
    );
    for bad in [
        r#"{"sync_frequency_secs":5}"#,
        r#"{"sync_frequency_secs":"hourly"}"#,
        r#"{"is_read_enabled":null}"#,
        r#"{"colour":1}"#,
    ] {
        let r = app.patch(&path, bad).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {r:?}");
    }
    // A disabled model is not synced (setup's first syncs aside).
    settle(&app, &id).await;
    let contact_syncs = format!("/v2/integrations/connections/{id}/syncs?model=contacts&limit=200");
    let before = app.get(&contact_syncs).await.json.as_array().unwrap().len();
    let syncs = app
        .post(&format!("/v2/integrations/connections/{id}/sync"), "")
        .await
        .json;
    assert_eq!(syncs.as_array().unwrap().len(), 6, "contacts is off");
    settle(&app, &id).await;
    let after = app.get(&contact_syncs).await.json.as_array().unwrap().len();
    assert_eq!(after, before, "no sync of contacts");
    let r = app
        .patch(
            &format!("/v2/integrations/connections/{id}/models/mdl_00000000000000000000000000"),
            "{}",
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_running_sync_stops_after_its_current_page_when_cancelled() {
    // Each page's end written (the test clock stands still: no write interval would pass), so that
    // the cancel comes once the first page is in.
    let (app, id) = connected_and(|s| s.data.invoices = 60, |c| c.sync_write_interval_ms = 0).await;
    let invoices = model_id(&app, &id, "invoices").await;
    let syncs = app
        .post(&format!("/v2/integrations/connections/{id}/sync"), "")
        .await
        .json;
    let sync = syncs
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["model_id"] == invoices)
        .unwrap();
    let sync_id = sync["id"].as_str().unwrap().to_owned();
    // Slow pages; run the queue in the background and cancel once the invoices sync is running.
    app.sim().set_faults(bc_sim::FaultConfig {
        slow_rate: 1.0,
        slow_ms: 50,
        ..Default::default()
    });
    let engine = app.running.engine.clone();
    let runner = tokio::spawn(async move { engine.drain_syncs("w").await.unwrap() });
    loop {
        let s = app
            .get(&format!("/v2/integrations/syncs/{sync_id}"))
            .await
            .json;
        if s["status"] == "running" && s["pagination_state"]["pages"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(!runner.is_finished(), "the queue ended before the sync ran");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = app
        .post(&format!("/v2/integrations/syncs/{sync_id}/cancel"), "")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    runner.await.unwrap();
    let s = app
        .get(&format!("/v2/integrations/syncs/{sync_id}"))
        .await
        .json;
    assert_eq!(s["status"], "cancelled", "{s}");
    let pages = s["pagination_state"]["pages"].as_u64().unwrap();
    assert!(pages < 60 / 7 + 1, "stopped before the end: {s}");
    let (written, _) = feed(&app, &id, "invoices", None, true).await;
    assert_eq!(
        written.len() as u64,
        s["pagination_state"]["records"].as_u64().unwrap(),
        "the pages written are kept"
    );
}

fn instant(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("not a timestamp: {v}"))
        .into()
}

#[tokio::test]
async fn the_scheduler_queues_each_due_model_once_and_defers_paused_connections() {
    let (app, id) = connected(|_| {}).await;
    let store = app.running.engine.store().clone();
    let overlap = chrono::Duration::minutes(5);
    let recheck = chrono::Duration::minutes(5);
    // Later than any model's default frequency (at most 6 hours): every model is due again, and
    // before any model's first scheduled full pass (a day or more after setup).
    let later = chrono::Duration::hours(7);
    let models = app
        .get(&format!("/v2/integrations/connections/{id}/models"))
        .await
        .json;
    let models = models.as_array().unwrap();
    let reading = models
        .iter()
        .filter(|m| m["is_read_enabled"] == true)
        .count();
    assert!(reading >= 6, "{models:?}");

    // Setup queued one scheduled sync per readable model at once, without waiting for a tick.
    // (Microseconds: what Postgres keeps.)
    let t0 = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
    let queued_by_setup = app
        .get(&format!(
            "/v2/integrations/connections/{id}/syncs?status=queued&limit=200"
        ))
        .await
        .json;
    assert_eq!(queued_by_setup.as_array().unwrap().len(), reading);
    let again = store
        .schedule_due(t0, 1_000, overlap, recheck)
        .await
        .unwrap();
    assert_eq!(again.due, 0, "next_sync_at moved on: {again:?}");
    let first = settle(&app, &id).await;
    assert_eq!(first.len(), reading);
    for s in &first {
        assert_eq!(s["status"], "complete", "{s}");
        assert_eq!(s["is_one_off"], false, "{s}");
        assert_eq!(s["is_initial_sync"], true, "{s}");
        assert_eq!(s["batch_id"], Value::Null, "{s}");
    }

    // Due again: incremental from the end of the last complete window, less the overlap.
    let t1 = t0 + later;
    let tick = store
        .schedule_due(t1, 1_000, overlap, recheck)
        .await
        .unwrap();
    assert_eq!((tick.queued, tick.already_active), (reading, 0), "{tick:?}");
    let queued = app
        .get(&format!(
            "/v2/integrations/connections/{id}/syncs?status=queued&limit=200"
        ))
        .await
        .json;
    let queued = queued.as_array().unwrap();
    assert_eq!(queued.len(), reading);
    for s in queued {
        let before = first
            .iter()
            .find(|f| f["model_id"] == s["model_id"])
            .unwrap();
        assert_eq!(s["is_initial_sync"], false, "{s}");
        assert_eq!(
            instant(&s["timerange_start"]),
            instant(&before["timerange_end"]) - overlap,
            "{s}"
        );
        assert_eq!(instant(&s["timerange_end"]), t1, "{s}");
    }

    // Due once more while those are still queued: nothing is queued twice.
    let t2 = t1 + later;
    let tick = store
        .schedule_due(t2, 1_000, overlap, recheck)
        .await
        .unwrap();
    assert_eq!((tick.queued, tick.already_active), (0, reading), "{tick:?}");
    // (They would run at t1, days from now: cancel them.)
    for s in queued {
        let r = app
            .post(
                &format!(
                    "/v2/integrations/syncs/{}/cancel",
                    s["id"].as_str().unwrap()
                ),
                "",
            )
            .await;
        assert_eq!(r.json["status"], "cancelled", "{r:?}");
    }

    // A paused connection is not synced; its models are looked at again after `recheck`.
    let r = app
        .patch(
            &format!("/v2/integrations/connections/{id}"),
            r#"{"is_sync_disabled":true}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let t3 = t2 + later;
    let tick = store
        .schedule_due(t3, 1_000, overlap, recheck)
        .await
        .unwrap();
    assert_eq!(
        (tick.due, tick.queued, tick.deferred),
        (7, 0, 7),
        "{tick:?}"
    );
    let models = app
        .get(&format!("/v2/integrations/connections/{id}/models"))
        .await
        .json;
    for m in models.as_array().unwrap() {
        assert_eq!(instant(&m["next_sync_at"]), t3 + recheck, "{m}");
    }
    let syncs = app
        .get(&format!(
            "/v2/integrations/connections/{id}/syncs?limit=200"
        ))
        .await
        .json;
    assert_eq!(syncs.as_array().unwrap().len(), 2 * reading);
}

/// Two schedulers ticking at once (two worker processes) queue each due model exactly once.
#[tokio::test]
async fn concurrent_scheduler_ticks_queue_each_model_once() {
    let (app, id) = connected(|_| {}).await;
    let store = app.running.engine.store().clone();
    // Setup's first syncs run; then every model is due again at once.
    let first = settle(&app, &id).await.len();
    let t = chrono::Utc::now() + chrono::Duration::hours(7);
    let d = chrono::Duration::minutes(5);
    let ticks = futures::future::join_all((0..4).map(|_| {
        let store = store.clone();
        async move { store.schedule_due(t, 1_000, d, d).await.unwrap() }
    }))
    .await;
    let queued: usize = ticks.iter().map(|t| t.queued).sum();
    let due: usize = ticks.iter().map(|t| t.due).sum();
    let active: usize = ticks.iter().map(|t| t.already_active).sum();
    // Each due model was taken by exactly one tick (another tick never saw it).
    assert_eq!((due, active), (7, 0), "{ticks:?}");
    let syncs = app
        .get(&format!(
            "/v2/integrations/connections/{id}/syncs?limit=200"
        ))
        .await
        .json;
    let ran_or_queued = syncs
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] != "scheduled")
        .count();
    assert_eq!(queued, ran_or_queued - first, "{ticks:?}");
    assert!(queued >= 6, "{ticks:?}");
}

/// The raw ledger entries of a bc-sim company, as the companion extension serves them.
async fn raw_ledger_entries(app: &TestApp, company: impl std::fmt::Display) -> Vec<Value> {
    let sim = app.sim();
    let url = format!(
        "{}/v2.0/{}/{}/api/ledgerlink/ar/v1.0/companies({company})/customerLedgerEntries",
        sim.base_url(),
        sim.tenant_id(),
        sim.environment()
    );
    let body: Value = reqwest::Client::new()
        .get(url)
        .bearer_auth(token(app).await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["@odata.nextLink"].is_null(), "one page is enough here");
    body["value"].as_array().unwrap().clone()
}

/// Ledger entries in the feed whose ERP record left the currency blank, by the currency they show.
async fn blank_entry_currencies(
    app: &TestApp,
    id: &str,
    company: String,
) -> BTreeMap<Option<String>, usize> {
    let raw = raw_ledger_entries(app, &company).await;
    let (records, _) = feed(app, id, "customer_ledger_entries", None, false).await;
    let feed = by_remote_id(&records);
    let mut shown = BTreeMap::new();
    for e in raw.iter().filter(|e| e["currencyCode"] == "") {
        let data = &feed[e["id"].as_str().unwrap()];
        let currency = data["currency"].as_str().map(str::to_owned);
        *shown.entry(currency).or_insert(0) += 1;
    }
    shown
}

#[tokio::test]
async fn blank_currency_codes_are_the_companys_local_currency_and_follow_the_company() {
    let app = TestApp::with_sim(|s| {
        s.data.companies = 2;
        s.data.customers = 7; // the seventh generated customer is invoiced in EUR
        s.data.local_currency = "CAD".into();
    })
    .await;
    let companies: Vec<String> = app
        .sim()
        .company_ids()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert!(
        app.sim()
            .set_local_currency(app.sim().company_ids()[1], "GBP")
    );
    let created = app.create_connection("Maple").await;
    app.authorize(&created).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let c = app.settled(&id).await;
    assert_eq!(c["missing_settings"], json!(["company"]));
    let path = format!("/v2/integrations/connections/{id}");
    let r = app
        .patch(&path, &json!({"company": companies[0]}).to_string())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let c = app.settled(&id).await;
    assert_eq!(c["health"]["status_code"], "healthy", "{}", c["health"]);
    // At the ERP: one more customer in the local currency (stored blank) and one in euros.
    for body in [
        json!({"displayName": "Loonie Ltd"}),
        json!({"displayName": "Euro GmbH", "currencyCode": "EUR"}),
    ] {
        admin(
            &app,
            reqwest::Method::POST,
            &format!("/companies/{}/customers", companies[0]),
            Some(body),
        )
        .await;
    }

    app.post(&format!("{path}/sync"), "").await;
    for s in settle(&app, &id).await {
        assert_eq!(s["status"], "complete", "{s}");
    }
    let (customers, _) = feed(&app, &id, "customers", None, false).await;
    let currency_of = |name: &str| {
        let c = customers.iter().find(|c| c["data"]["name"] == name);
        c.map(|c| c["data"]["currency"].clone())
    };
    assert_eq!(currency_of("Loonie Ltd"), Some(json!("CAD")));
    assert_eq!(currency_of("Euro GmbH"), Some(json!("EUR")));
    let mut counts = BTreeMap::new();
    for c in &customers {
        let currency = c["data"]["currency"].as_str().map(str::to_owned);
        *counts.entry(currency).or_insert(0) += 1;
    }
    assert_eq!(
        counts,
        BTreeMap::from([(Some("CAD".to_owned()), 7), (Some("EUR".to_owned()), 2)]),
        "no customer without a currency"
    );
    // The extension's ledger entries leave the local currency blank; the feed names it.
    let blank = blank_entry_currencies(&app, &id, companies[0].clone()).await;
    let cad = Some("CAD".to_owned());
    assert_eq!(blank.keys().collect::<Vec<_>>(), [&cad], "{blank:?}");
    assert!(blank[&cad] > 0);
    let (entries, _) = feed(&app, &id, "customer_ledger_entries", None, false).await;
    assert!(
        entries.iter().any(|e| e["data"]["currency"] == "EUR"),
        "foreign entries keep their currency"
    );
    let documents = [
        "customers",
        "invoices",
        "credit_memos",
        "customer_ledger_entries",
    ];
    feed_equals_erp(&app, &id, &documents, "in the first company").await;

    // Another company: setup reads its local currency again, and the next sync uses it.
    let r = app
        .patch(&path, &json!({"company": companies[1]}).to_string())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let c = app.settled(&id).await;
    assert_eq!(c["company"], companies[1]);
    assert_eq!(c["health"]["status_code"], "healthy", "{}", c["health"]);
    app.post(&format!("{path}/sync?full_pass=true"), "").await;
    for s in settle(&app, &id).await {
        assert_eq!(s["status"], "complete", "{s}");
    }
    let blank = blank_entry_currencies(&app, &id, companies[1].clone()).await;
    let gbp = Some("GBP".to_owned());
    assert_eq!(blank.keys().collect::<Vec<_>>(), [&gbp], "{blank:?}");
}

/// Every page fetched by a sync is counted in the budget all processes share, and its slot is
/// given back.
#[tokio::test]
async fn syncs_spend_the_shared_request_budget_and_give_slots_back() {
    let (app, id) = connected(|_| {}).await;
    let conn = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    let principal = conn["tenant_id"].as_str().unwrap().to_owned();
    app.post(&format!("/v2/integrations/connections/{id}/sync"), "")
        .await;
    let syncs = settle(&app, &id).await;
    let pages: i64 = syncs
        .iter()
        .map(|s| s["pagination_state"]["pages"].as_i64().unwrap())
        .sum();
    assert!(pages >= 6, "{syncs:?}");
    let store = app.running.engine.store().clone();
    let now = chrono::Utc::now().timestamp_millis();
    let quota = |per_window: i64| ledgerlink_store::Quota {
        per_window: per_window as u32,
        window_ms: 5 * 60_000,
        concurrent: 1,
    };
    // A budget of exactly the pages fetched is spent; one more request fits in pages + 1.
    let r = store
        .budget_acquire(&principal, "probe-1", quota(pages), now, now + 1_000)
        .await
        .unwrap();
    assert!(
        matches!(r, Err(ledgerlink_store::BudgetWait::Until(_))),
        "{r:?}"
    );
    // Slots are released in the background once a request ends: none stays held.
    let mut r = Err(ledgerlink_store::BudgetWait::Busy);
    for _ in 0..100 {
        r = store
            .budget_acquire(&principal, "probe-2", quota(pages + 1), now, now + 1_000)
            .await
            .unwrap();
        if r.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(r, Ok(()), "a slot stayed held after the syncs ended");
}

/// An older Business Central without a property we `$select` refuses the request (400); the sync
/// reads every property instead and still maps every record.
#[tokio::test]
async fn a_server_refusing_the_field_selection_is_read_whole() {
    let (app, id) = connected(|_| {}).await;
    app.sim().set_faults(bc_sim::FaultConfig {
        unknown_properties: vec!["disputeStatus".into()],
        ..Default::default()
    });
    app.post(&format!("/v2/integrations/connections/{id}/sync"), "")
        .await;
    let syncs = settle(&app, &id).await;
    for s in &syncs {
        assert_eq!(s["status"], "complete", "{s}");
        assert_eq!(s["attempt"], 1, "{s}");
    }
    let (invoices, _) = feed(&app, &id, "invoices", None, false).await;
    let truth = truth(&app, "invoices").await;
    assert_eq!(invoices.len(), truth.len());
    assert!(!invoices.is_empty());
    for r in &invoices {
        assert_eq!(&r["data"], &truth[r["remote_id"].as_str().unwrap()], "{r}");
    }
    // Read whole: the raw payload has properties we do not select.
    let raw = app
        .get(&format!(
            "/v2/integrations/connections/{id}/records/invoices?include_raw=true&limit=1"
        ))
        .await
        .json;
    assert!(raw["data"][0]["raw"].get("shipToName").is_some(), "{raw}");
}
