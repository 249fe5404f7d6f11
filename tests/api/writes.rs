//! Payments written back to Business Central: one payment across several invoices, posted exactly
//! once through crashes and lost answers, idempotency keys, validation against our copy, BC's
//! refusals, cancelling.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::harness::{Reply, TestApp, reply};

/// A connected, synced connection with payments write-enabled.
async fn writable(app: &TestApp) -> String {
    let id = app.connected().await;
    app.running.engine.drain_syncs("w").await.unwrap();
    enable_writes(app, &id).await;
    id
}

/// Switches writing payments on for the connection.
async fn enable_writes(app: &TestApp, id: &str) {
    let models = app
        .get(&format!("/v2/integrations/connections/{id}/models"))
        .await
        .json;
    let payments = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "payments")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .patch(
            &format!("/v2/integrations/connections/{id}/models/{payments}"),
            r#"{"is_write_enabled": true}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .map_or_else(|| v.to_string().parse().unwrap(), |s| s.parse().unwrap())
}

/// Open invoices from our feed, by customer: (invoice id, amount due).
async fn open_invoices(app: &TestApp, id: &str) -> BTreeMap<String, Vec<(String, Decimal)>> {
    let feed = app
        .get(&format!(
            "/v2/integrations/connections/{id}/records/invoices?limit=1000"
        ))
        .await
        .json;
    let mut by_customer: BTreeMap<String, Vec<(String, Decimal)>> = BTreeMap::new();
    for r in feed["data"].as_array().unwrap() {
        let d = &r["data"];
        let due = if d["amount_due"].is_null() {
            Decimal::ZERO
        } else {
            dec(&d["amount_due"])
        };
        if due > Decimal::ONE && d["status"] == "open" && d["customer_remote_id"].is_string() {
            by_customer
                .entry(d["customer_remote_id"].as_str().unwrap().to_owned())
                .or_default()
                .push((r["remote_id"].as_str().unwrap().to_owned(), due));
        }
    }
    by_customer
}

/// A customer with at least `n` open invoices, and `n` of them.
async fn customer_with(app: &TestApp, id: &str, n: usize) -> (String, Vec<(String, Decimal)>) {
    let (customer, invoices) = open_invoices(app, id)
        .await
        .into_iter()
        .find(|(_, inv)| inv.len() >= n)
        .expect("a customer with enough open invoices");
    (customer, invoices.into_iter().take(n).collect())
}

/// A payment of `customer` paying half (rounded to cents) of each invoice.
fn payment(customer: &str, invoices: &[(String, Decimal)]) -> Value {
    let applied: Vec<(String, Decimal)> = invoices
        .iter()
        .map(|(id, due)| (id.clone(), (due / Decimal::TWO).round_dp(2)))
        .collect();
    let total: Decimal = applied.iter().map(|(_, a)| *a).sum();
    json!({
        "customer_remote_id": customer,
        "amount": total.to_string(),
        "payment_date": "2026-11-28",
        "reference": "bank-tx-881",
        "description": "Lockbox 2026-11-28",
        "applied_to": applied.iter().map(|(id, a)| json!({"invoice_remote_id": id, "amount": a.to_string()})).collect::<Vec<_>>(),
    })
}

async fn post_payment(app: &TestApp, id: &str, key: Option<&str>, body: &Value) -> Reply {
    let mut req = app
        .client
        .post(app.url(&format!(
            "/v2/integrations/connections/{id}/records/payments"
        )))
        .bearer_auth(&app.key)
        .json(body);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    reply(req.send().await.unwrap()).await
}

fn posts(app: &TestApp) -> u64 {
    app.sim()
        .request_counts()
        .iter()
        .filter(|(k, _)| k.starts_with("POST ") && k.ends_with("Microsoft.NAV.post"))
        .map(|(_, n)| n)
        .sum()
}

async fn write(app: &TestApp, wid: &str) -> Value {
    let r = app.get(&format!("/v2/integrations/writes/{wid}")).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.json
}

/// The next posting request meets `fault` in bc-sim.
fn on_next_posting(app: &TestApp, fault: bc_sim::TargetFault) {
    app.sim().set_faults(bc_sim::FaultConfig {
        targeted: vec![bc_sim::TargetedFault {
            method: "POST".into(),
            path_contains: "Microsoft.NAV.post".into(),
            fault,
            times: 1,
        }],
        ..Default::default()
    });
}

/// Each invoice's amount due in our feed dropped by exactly the half [`payment`] paid: once.
async fn assert_paid_once(app: &TestApp, id: &str, invoices: &[(String, Decimal)]) {
    for (inv, due) in invoices {
        let paid = (*due / Decimal::TWO).round_dp(2);
        assert_eq!(due_now(app, id, inv).await, *due - paid, "paid once: {inv}");
    }
}

/// No batch of a payment write is left in BC, only the seeded journal.
fn assert_only_the_general_journal(app: &TestApp) {
    let company = app.sim().company_ids()[0];
    let journals = app.sim().payment_journals(company);
    let codes: Vec<&str> = journals.iter().map(|j| j.0.as_str()).collect();
    assert_eq!(codes, ["GENERAL"], "{journals:?}");
}

/// Runs the write's job (and its retries, moving the clock past each backoff).
async fn run_writes(app: &TestApp) {
    for _ in 0..10 {
        app.running.engine.drain_jobs("w").await.unwrap();
        app.clock.advance(chrono::Duration::hours(1));
    }
}

/// The invoices' amount due in our feed after the write's re-read.
async fn due_now(app: &TestApp, id: &str, invoice: &str) -> Decimal {
    app.running.engine.drain_syncs("w").await.unwrap();
    let feed = app
        .get(&format!(
            "/v2/integrations/connections/{id}/records/invoices?limit=1000"
        ))
        .await
        .json;
    let rec = feed["data"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r["remote_id"] == invoice)
        .unwrap()
        .clone();
    dec(&rec["data"]["amount_due"])
}

#[tokio::test]
async fn a_payment_across_three_invoices_is_posted_once_and_reaches_the_feed() {
    let app = TestApp::with_sim(dataset).await;
    let id = writable(&app).await;
    let (customer, invoices) = customer_with(&app, &id, 3).await;
    let body = payment(&customer, &invoices);
    let r = post_payment(&app, &id, Some("pay-1"), &body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let w = r.json;
    assert_eq!(w["object"], "integration_write");
    assert_eq!(w["status"], "queued");
    assert_eq!(w["model"], "payments");
    assert!(w["id"].as_str().unwrap().starts_with("wr_"));
    let wid = w["id"].as_str().unwrap().to_owned();

    run_writes(&app).await;
    let done = write(&app, &wid).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["result"]["posted"], true, "{done}");
    assert_eq!(done["attempt"], 1);
    assert_eq!(posts(&app), 1, "posted once");
    assert_paid_once(&app, &id, &invoices).await;
    assert_eq!(done["result"]["journal_removed"], true, "{done}");
    assert_only_the_general_journal(&app);

    // The same request again: the same write, nothing new in BC.
    let again = post_payment(&app, &id, Some("pay-1"), &body).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{again:?}");
    assert_eq!(again.json["id"], wid.as_str());
    assert_eq!(again.headers["idempotent-replayed"], "true");
    // The same key with another body is refused.
    let mut other = body.clone();
    other["description"] = json!("something else");
    let refused = post_payment(&app, &id, Some("pay-1"), &other).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{refused:?}");
    assert!(refused.text.contains(&wid), "{refused:?}");
    run_writes(&app).await;
    assert_eq!(posts(&app), 1);

    let list = app
        .get(&format!(
            "/v2/integrations/connections/{id}/writes?status=complete"
        ))
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_posting_that_failed_before_taking_effect_is_retried_with_the_lines_reused() {
    let app = TestApp::with_sim(dataset).await;
    let id = writable(&app).await;
    let (customer, invoices) = customer_with(&app, &id, 3).await;
    // The posting call fails before it takes effect (as if the worker died right before it).
    on_next_posting(&app, bc_sim::TargetFault::Unavailable);
    let r = post_payment(&app, &id, Some("crash-1"), &payment(&customer, &invoices)).await;
    let wid = r.json["id"].as_str().unwrap().to_owned();
    app.running.engine.drain_jobs("w").await.unwrap();
    let w = write(&app, &wid).await;
    assert_eq!(w["status"], "pending_retry", "{w}");
    assert_eq!(w["reached_erp"], true);
    // It reached BC: it can no longer be cancelled.
    let c = app
        .post(&format!("/v2/integrations/writes/{wid}/cancel"), "")
        .await;
    assert_eq!(c.status, StatusCode::CONFLICT, "{c:?}");
    let batches = |app: &TestApp| -> u64 {
        app.sim()
            .request_counts()
            .iter()
            .filter(|(k, _)| k.starts_with("POST ") && k.ends_with("$batch"))
            .map(|(_, n)| n)
            .sum()
    };
    let batches_before = batches(&app);
    assert_eq!(
        batches_before, 1,
        "the first attempt created its three lines in one $batch"
    );

    run_writes(&app).await;
    let w = write(&app, &wid).await;
    assert_eq!(w["status"], "complete", "{w}");
    assert_eq!(w["attempt"], 2);
    assert_eq!(
        batches(&app),
        batches_before,
        "the lines of the first attempt were reused, not created again"
    );
    assert_paid_once(&app, &id, &invoices).await;
}

#[tokio::test]
async fn a_worker_killed_between_creating_the_lines_and_posting_leaves_one_posting() {
    let app = TestApp::with_sim(dataset).await;
    let id = writable(&app).await;
    let (customer, invoices) = customer_with(&app, &id, 3).await;
    // The posting request hangs in BC; meanwhile the worker is killed.
    on_next_posting(&app, bc_sim::TargetFault::Hang);
    let r = post_payment(&app, &id, Some("kill-1"), &payment(&customer, &invoices)).await;
    let wid = r.json["id"].as_str().unwrap().to_owned();
    let engine = app.running.engine.clone();
    let doomed = tokio::spawn(async move { engine.run_next_job("doomed").await });
    let mut in_flight = false;
    for _ in 0..200 {
        if posts(&app) == 1 {
            in_flight = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(in_flight, "the posting request reached BC");
    doomed.abort();
    let _ = doomed.await;
    let w = write(&app, &wid).await;
    assert_eq!(
        (w["status"].as_str(), w["reached_erp"].as_bool()),
        (Some("running"), Some(true))
    );

    // Another worker takes the write over after the dead one's lease.
    let lease = app.running.engine.settings().jobs.lease;
    app.clock.advance(lease + chrono::Duration::seconds(1));
    run_writes(&app).await;
    let w = write(&app, &wid).await;
    assert_eq!(w["status"], "complete", "{w}");
    assert_eq!(w["attempt"], 2);
    assert_paid_once(&app, &id, &invoices).await;
}

#[tokio::test]
async fn a_posting_whose_answer_is_lost_is_recognised_not_repeated() {
    let app = TestApp::with_sim(dataset).await;
    let id = writable(&app).await;
    let (customer, invoices) = customer_with(&app, &id, 2).await;
    // BC posts, then the answer never arrives (as if the worker died before recording it).
    on_next_posting(&app, bc_sim::TargetFault::DropAfter);
    let r = post_payment(&app, &id, Some("lost-1"), &payment(&customer, &invoices)).await;
    let wid = r.json["id"].as_str().unwrap().to_owned();
    run_writes(&app).await;
    let w = write(&app, &wid).await;
    assert_eq!(w["status"], "complete", "{w}");
    assert_eq!(
        posts(&app),
        1,
        "the second attempt found the posted payment"
    );
    assert_paid_once(&app, &id, &invoices).await;
    assert_eq!(w["result"]["journal_removed"], true, "{w}");
    assert_only_the_general_journal(&app);
}

#[tokio::test]
async fn bc_refusing_the_posting_fails_the_write_with_its_message() {
    let app = TestApp::with_sim(dataset).await;
    let id = writable(&app).await;
    let (customer, invoices) = customer_with(&app, &id, 1).await;
    let body = payment(&customer, &invoices);
    let r = post_payment(&app, &id, Some("closed-1"), &body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let wid = r.json["id"].as_str().unwrap().to_owned();
    // Meanwhile someone closes the invoice in BC (our copy does not know yet).
    let company = app.sim().company_ids()[0];
    let (inv, due) = &invoices[0];
    app.sim()
        .apply_payment(
            company,
            inv.parse().unwrap(),
            due.to_string().parse::<f64>().unwrap(),
        )
        .unwrap();
    run_writes(&app).await;
    let w = write(&app, &wid).await;
    assert_eq!(w["status"], "failed", "{w}");
    assert_eq!(w["attempt"], 1, "a refusal is not retried");
    assert!(
        w["error"].as_str().unwrap().contains("Cust. Ledger Entry"),
        "BC's own words: {w}"
    );
    assert!(
        w["error"]
            .as_str()
            .unwrap()
            .contains("journal lines were removed"),
        "nothing left for someone to post by hand: {w}"
    );
    let c = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    assert_eq!(
        c["health"]["status_code"], "healthy",
        "one refused write is not a health problem"
    );
}

#[tokio::test]
async fn a_write_is_cancelled_only_before_it_reaches_bc() {
    let app = TestApp::with_sim(dataset).await;
    let id = writable(&app).await;
    let (customer, invoices) = customer_with(&app, &id, 2).await;
    let r = post_payment(&app, &id, Some("c-1"), &payment(&customer, &invoices[..1])).await;
    let first = r.json["id"].as_str().unwrap().to_owned();
    let c = app
        .post(&format!("/v2/integrations/writes/{first}/cancel"), "")
        .await;
    assert_eq!(c.status, StatusCode::OK, "{c:?}");
    assert_eq!(c.json["status"], "cancelled");
    run_writes(&app).await;
    assert_eq!(posts(&app), 0, "nothing reached BC");

    let r = post_payment(&app, &id, Some("c-2"), &payment(&customer, &invoices[1..])).await;
    let second = r.json["id"].as_str().unwrap().to_owned();
    run_writes(&app).await;
    let c = app
        .post(&format!("/v2/integrations/writes/{second}/cancel"), "")
        .await;
    assert_eq!(c.status, StatusCode::CONFLICT, "{c:?}");
    assert_eq!(write(&app, &second).await["status"], "complete");
}

#[tokio::test]
async fn payments_are_checked_against_the_synced_data_before_anything_reaches_bc() {
    let app = TestApp::with_sim(dataset).await;
    let id = app.connected().await;
    app.running.engine.drain_syncs("w").await.unwrap();
    let (customer, invoices) = customer_with(&app, &id, 2).await;
    let good = payment(&customer, &invoices);

    // Writes not enabled yet.
    let r = post_payment(&app, &id, Some("k"), &good).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    enable_writes(&app, &id).await;

    let loc_of = |r: &Reply| -> Vec<Value> {
        r.json["detail"]
            .as_array()
            .unwrap_or_else(|| panic!("{r:?}"))
            .iter()
            .map(|d| d["loc"].clone())
            .collect()
    };
    // No Idempotency-Key.
    let r = post_payment(&app, &id, None, &good).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(loc_of(&r), [json!(["header", "Idempotency-Key"])]);

    let cases: Vec<(Value, Value)> = vec![
        (
            json!({"customer_remote_id": "00000000-0000-0000-0000-000000000000"}),
            json!(["body", "customer_remote_id"]),
        ),
        (json!({"amount": "1.005"}), json!(["body", "amount"])),
        (json!({"amount": -5}), json!(["body", "amount"])),
        (
            json!({"payment_date": "28/11/2026"}),
            json!(["body", "payment_date"]),
        ),
        (json!({"currency": "usd"}), json!(["body", "currency"])),
        // bc-sim's invoices are in the local currency (USD, blank in BC): not payable in EUR.
        (
            json!({"currency": "EUR"}),
            json!(["body", "applied_to", 0, "invoice_remote_id"]),
        ),
        (json!({"applied_to": []}), json!(["body", "applied_to"])),
        (json!({"surprise": 1}), json!(["body", "surprise"])),
    ];
    for (patch, loc) in cases {
        let mut body = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = post_payment(&app, &id, Some("v"), &body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{patch}: {r:?}");
        assert!(loc_of(&r).contains(&loc), "{patch}: {r:?}");
    }
    // More than the invoice's amount due; the same invoice twice; a sum that is not the amount.
    let (inv0, due0) = &invoices[0];
    let too_much = json!({
        "customer_remote_id": customer, "amount": (due0 + Decimal::ONE).to_string(),
        "payment_date": "2026-11-28",
        "applied_to": [{"invoice_remote_id": inv0, "amount": (due0 + Decimal::ONE).to_string()}],
    });
    let r = post_payment(&app, &id, Some("v"), &too_much).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(loc_of(&r), [json!(["body", "applied_to", 0, "amount"])]);
    let twice = json!({
        "customer_remote_id": customer, "amount": "2.00", "payment_date": "2026-11-28",
        "applied_to": [{"invoice_remote_id": inv0, "amount": "1.00"}, {"invoice_remote_id": inv0, "amount": "1.00"}],
    });
    let r = post_payment(&app, &id, Some("v"), &twice).await;
    assert_eq!(
        loc_of(&r),
        [json!(["body", "applied_to", 1, "invoice_remote_id"])]
    );
    let short = json!({
        "customer_remote_id": customer, "amount": "5.00", "payment_date": "2026-11-28",
        "applied_to": [{"invoice_remote_id": inv0, "amount": "1.00"}],
    });
    let r = post_payment(&app, &id, Some("v"), &short).await;
    assert_eq!(loc_of(&r), [json!(["body", "applied_to"])]);
    // Another customer's invoice.
    let others = open_invoices(&app, &id).await;
    let (_, theirs) = others.iter().find(|(c, _)| **c != customer).unwrap();
    let foreign = json!({
        "customer_remote_id": customer, "amount": "1.00", "payment_date": "2026-11-28",
        "applied_to": [{"invoice_remote_id": theirs[0].0, "amount": "1.00"}],
    });
    let r = post_payment(&app, &id, Some("v"), &foreign).await;
    assert_eq!(
        loc_of(&r),
        [json!(["body", "applied_to", 0, "invoice_remote_id"])]
    );
    // Other models do not take writes.
    let r = app
        .client
        .post(app.url(&format!(
            "/v2/integrations/connections/{id}/records/invoices"
        )))
        .bearer_auth(&app.key)
        .header("idempotency-key", "x")
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    run_writes(&app).await;
    assert_eq!(posts(&app), 0, "nothing refused reached BC");
    let list = app
        .get(&format!("/v2/integrations/connections/{id}/writes"))
        .await;
    assert!(list.json.as_array().unwrap().is_empty(), "{list:?}");
}

/// Few customers with many invoices each, so one has several open ones.
fn dataset(c: &mut bc_sim::SimConfig) {
    c.data.customers = 3;
    c.data.invoices = 30;
}

#[tokio::test]
async fn a_posting_date_bc_does_not_allow_fails_the_write_with_bcs_words() {
    let app = TestApp::with_sim(dataset).await;
    let id = writable(&app).await;
    let (customer, invoices) = customer_with(&app, &id, 2).await;
    let company = app.sim().company_ids()[0];
    let from = chrono::NaiveDate::from_ymd_opt(2026, 12, 1);
    assert!(app.sim().set_allowed_posting_dates(company, from, None));
    let r = post_payment(&app, &id, Some("date-1"), &payment(&customer, &invoices)).await;
    let wid = r.json["id"].as_str().unwrap().to_owned();
    run_writes(&app).await;
    let w = write(&app, &wid).await;
    assert_eq!(w["status"], "failed", "{w}");
    assert!(
        w["error"]
            .as_str()
            .unwrap()
            .contains("Posting Date is not within your range"),
        "{w}"
    );
    assert!(
        w["error"]
            .as_str()
            .unwrap()
            .contains("its 2 journal lines were removed"),
        "{w}"
    );
    assert_eq!(w["attempt"], 1, "not retried");
    for (inv, due) in &invoices {
        assert_eq!(due_now(&app, &id, inv).await, *due, "nothing posted: {inv}");
    }
    assert_only_the_general_journal(&app);
}

#[tokio::test]
async fn a_customer_blocked_in_bc_meanwhile_fails_the_write_with_bcs_words() {
    let app = TestApp::with_sim(dataset).await;
    let id = writable(&app).await;
    let (customer, invoices) = customer_with(&app, &id, 2).await;
    let r = post_payment(&app, &id, Some("blocked-1"), &payment(&customer, &invoices)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let wid = r.json["id"].as_str().unwrap().to_owned();
    // Blocked for everything in BC after our last sync.
    let company = app.sim().company_ids()[0];
    let blocked = reqwest::Client::new()
        .patch(format!(
            "{}/_sim/companies/{company}/customers/{customer}",
            app.sim().base_url()
        ))
        .json(&json!({"blocked": "All"}))
        .send()
        .await
        .unwrap();
    assert!(blocked.status().is_success(), "{blocked:?}");
    run_writes(&app).await;
    let w = write(&app, &wid).await;
    assert_eq!(w["status"], "failed", "{w}");
    assert!(w["error"].as_str().unwrap().contains("blocked"), "{w}");
    assert_eq!(posts(&app), 0, "nothing posted");
}

#[tokio::test]
async fn a_write_refused_403_marks_health_and_completes_once_permitted_again() {
    let app = TestApp::with_sim(dataset).await;
    let id = writable(&app).await;
    let (customer, invoices) = customer_with(&app, &id, 1).await;
    let r = post_payment(&app, &id, Some("auth-1"), &payment(&customer, &invoices)).await;
    let wid = r.json["id"].as_str().unwrap().to_owned();
    app.sim().set_faults(bc_sim::FaultConfig {
        forbidden: true,
        ..Default::default()
    });
    app.running.engine.drain_jobs("w").await.unwrap();
    let w = write(&app, &wid).await;
    assert_eq!(w["status"], "pending_retry", "{w}");
    let c = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    assert_eq!(
        c["health"]["status_code"], "permission_denied",
        "{}",
        c["health"]
    );
    // Permissions granted again: the retry completes it, posted once.
    app.sim().set_faults(bc_sim::FaultConfig::default());
    run_writes(&app).await;
    let w = write(&app, &wid).await;
    assert_eq!(w["status"], "complete", "{w}");
    assert_eq!(posts(&app), 1);
    assert_paid_once(&app, &id, &invoices).await;
}

#[tokio::test]
async fn a_company_with_several_payment_journals_waits_for_the_choice_and_payments_follow_it() {
    let app = TestApp::with_sim(dataset).await;
    let company = app.sim().company_ids()[0];
    let sim = app.sim();
    assert!(
        sim.add_payment_journal(company, "BANK", "Bank receipts", Some("2920"))
            .is_some()
    );
    assert!(
        sim.add_payment_journal(company, "NOBAL", "No balancing", None)
            .is_some()
    );
    let id = app.connected().await;
    app.running.engine.drain_syncs("w").await.unwrap();
    let conn = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    // Several journals, writes off: nothing to choose yet, reading goes on.
    assert_eq!(conn["missing_settings"], json!([]), "{conn}");
    assert_eq!(conn["health"]["status_code"], "healthy", "{conn}");

    enable_writes(&app, &id).await;
    let conn = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    assert_eq!(
        conn["missing_settings"],
        json!(["payment_journal"]),
        "{conn}"
    );
    assert_eq!(
        conn["is_configured"], true,
        "reading is not held up: {conn}"
    );
    // Health is about syncing, which goes on; the payment write is what waits.
    assert_eq!(conn["health"]["status_code"], "healthy", "{conn}");
    assert_eq!(conn["requires_setup"], false, "{conn}");
    let (customer, invoices) = customer_with(&app, &id, 2).await;
    let body = payment(&customer, &invoices);
    let r = post_payment(&app, &id, Some("journal-1"), &body).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    assert!(r.text.contains("payment_journal"), "{r:?}");
    assert!(r.text.contains("GENERAL (Default Journal Batch)"), "{r:?}");
    assert!(r.text.contains("BANK (Bank receipts)"), "{r:?}");
    // Reading is not held up: a sync requested now runs.
    app.running.engine.drain_syncs("w").await.unwrap();
    let synced = app
        .post(&format!("/v2/integrations/connections/{id}/sync"), "")
        .await;
    assert!(synced.status.is_success(), "{synced:?}");

    // Only a discovered journal with a balancing account can be chosen.
    let path = format!("/v2/integrations/connections/{id}");
    let r = app.patch(&path, r#"{"payment_journal": "NOPE"}"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert!(
        r.text.contains("GENERAL, BANK") || r.text.contains("BANK, GENERAL"),
        "{r:?}"
    );
    let r = app.patch(&path, r#"{"payment_journal": "nobal"}"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert!(r.text.contains("no balancing account"), "{r:?}");
    let r = app.patch(&path, r#"{"payment_journal": " bank "}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.json["missing_settings"], json!([]), "{r:?}");
    // Cleared: missing again; chosen again.
    let r = app.patch(&path, r#"{"payment_journal": null}"#).await;
    assert_eq!(
        r.json["missing_settings"],
        json!(["payment_journal"]),
        "{r:?}"
    );
    let r = app.patch(&path, r#"{"payment_journal": "BANK"}"#).await;
    assert_eq!(r.json["missing_settings"], json!([]), "{r:?}");

    // The payment's own batch is balanced like BANK (account 2920), not like GENERAL (2910): seen
    // while its first posting fails and it waits for the retry.
    on_next_posting(&app, bc_sim::TargetFault::Unavailable);
    let r = post_payment(&app, &id, Some("journal-1"), &body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let wid = r.json["id"].as_str().unwrap().to_owned();
    app.running.engine.drain_jobs("w").await.unwrap();
    let journals = app.sim().payment_journals(company);
    let own = journals
        .iter()
        .find(|j| j.1 == "ledgerlink payment")
        .unwrap_or_else(|| panic!("the write's batch: {journals:?}"))
        .clone();
    assert_eq!(own.2, "2920", "{journals:?}");

    // A setup run meanwhile (a new sign-in, say) neither offers our batch nor overrides the choice.
    let org = app.default_org().await;
    app.running.engine.restart_setup(&org, &id).await.unwrap();
    let conn = app.settled(&id).await;
    assert_eq!(
        conn["missing_settings"],
        json!([]),
        "the choice stands: {conn}"
    );
    let own_code = &own.0;
    let r = app
        .patch(&path, &format!(r#"{{"payment_journal": "{own_code}"}}"#))
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "our own batch is no choice: {r:?}"
    );

    run_writes(&app).await;
    let w = write(&app, &wid).await;
    assert_eq!(w["status"], "complete", "{w}");
    assert_eq!(
        w["result"]["payment_journal"], "BANK",
        "as BC spells it: {w}"
    );
    assert_eq!(w["result"]["journal_code"], own.0.as_str(), "{w}");
    assert_eq!(posts(&app), 2, "one failed posting, one that took effect");
    assert_paid_once(&app, &id, &invoices).await;
    let codes: Vec<String> = app
        .sim()
        .payment_journals(company)
        .into_iter()
        .map(|j| j.0)
        .collect();
    assert_eq!(
        codes,
        ["BANK", "GENERAL", "NOBAL"],
        "the write's batch is gone"
    );
}

#[tokio::test]
async fn a_company_with_one_payment_journal_has_it_chosen_by_setup() {
    let app = TestApp::with_sim(dataset).await;
    let id = writable(&app).await;
    let conn = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    assert_eq!(conn["missing_settings"], json!([]), "{conn}");
    assert_eq!(conn["requires_setup"], false, "{conn}");
    let (customer, invoices) = customer_with(&app, &id, 1).await;
    let r = post_payment(&app, &id, Some("one-1"), &payment(&customer, &invoices)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let wid = r.json["id"].as_str().unwrap().to_owned();
    run_writes(&app).await;
    let w = write(&app, &wid).await;
    assert_eq!(w["result"]["payment_journal"], "GENERAL", "{w}");
}

#[tokio::test]
async fn a_write_whose_access_token_was_revoked_signs_in_again_and_completes() {
    let app = TestApp::with_sim(dataset).await;
    let id = writable(&app).await;
    let (customer, invoices) = customer_with(&app, &id, 1).await;
    let r = post_payment(&app, &id, Some("token-1"), &payment(&customer, &invoices)).await;
    let wid = r.json["id"].as_str().unwrap().to_owned();
    // Every access token issued so far refused (401): the refresh token gets a new one.
    app.sim().revoke_access_tokens();
    // Retries minutes apart, well before the access token would expire and be renewed anyway.
    for _ in 0..5 {
        app.running.engine.drain_jobs("w").await.unwrap();
        app.clock.advance(chrono::Duration::minutes(2));
    }
    let w = write(&app, &wid).await;
    assert_eq!(w["status"], "complete", "{w}");
    assert_eq!(posts(&app), 1);
    assert_paid_once(&app, &id, &invoices).await;
}

#[tokio::test]
async fn a_write_whose_consent_was_withdrawn_waits_and_says_so() {
    let app = TestApp::with_sim(dataset).await;
    let id = writable(&app).await;
    let (customer, invoices) = customer_with(&app, &id, 1).await;
    let r = post_payment(&app, &id, Some("consent-1"), &payment(&customer, &invoices)).await;
    let wid = r.json["id"].as_str().unwrap().to_owned();
    let tenant = app.sim().tenant_id();
    app.sim().revoke_consent(tenant);
    app.sim().revoke_tokens();
    app.running.engine.drain_jobs("w").await.unwrap();
    let w = write(&app, &wid).await;
    assert_eq!(w["status"], "pending_retry", "{w}");
    assert_eq!(posts(&app), 0);
    let c = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    assert_eq!(c["is_healthy"], false, "{}", c["health"]);
}

#[tokio::test]
async fn a_payment_journal_created_in_bc_after_setup_can_be_chosen() {
    let app = TestApp::with_sim(dataset).await;
    let id = writable(&app).await;
    let company = app.sim().company_ids()[0];
    let path = format!("/v2/integrations/connections/{id}");
    let r = app.patch(&path, r#"{"payment_journal": "LOCKBOX"}"#).await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not in BC yet: {r:?}"
    );
    // A finance user adds it in BC: the choice looks in BC again before refusing.
    let sim = app.sim();
    assert!(
        sim.add_payment_journal(company, "LOCKBOX", "Lockbox receipts", Some("2920"))
            .is_some()
    );
    let r = app.patch(&path, r#"{"payment_journal": "lockbox"}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let (customer, invoices) = customer_with(&app, &id, 1).await;
    let r = post_payment(&app, &id, Some("lockbox-1"), &payment(&customer, &invoices)).await;
    let wid = r.json["id"].as_str().unwrap().to_owned();
    run_writes(&app).await;
    let w = write(&app, &wid).await;
    assert_eq!(w["result"]["payment_journal"], "LOCKBOX", "{w}");
}
