//! Amounts that change silently, as in BC: applying a partial payment lowers an invoice's
//! `remainingAmount` without rewriting its row (`lastModifiedDateTime` and etag stay), so an
//! incremental `lastModifiedDateTime gt …` read misses it; the payment that makes it `Paid` moves
//! the stamp. A customer's balance is computed on read and never moves the customer's stamp.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// How a test posts a payment.
#[derive(Clone, Copy, Debug)]
enum Path {
    /// `Sim::apply_payment`.
    Rust,
    /// `POST /_sim/companies/{cid}/salesInvoices/{id}/payments`.
    Admin,
    /// A customer payment journal line, then `journals({id})/Microsoft.NAV.post`.
    Journal,
}

async fn pay(sim: &bc_sim::Sim, tok: &str, path: Path, inv: &Value, amount: f64) {
    let cid = sim.company_ids()[0];
    let id = inv["id"].as_str().unwrap();
    match path {
        Path::Rust => {
            sim.apply_payment(cid, id.parse().unwrap(), amount).unwrap();
        }
        Path::Admin => {
            let (s, v) = admin_call(
                sim,
                reqwest::Method::POST,
                &format!("companies/{cid}/salesInvoices/{id}/payments"),
                json!({"amount": amount, "externalDocumentNumber": "BANK-1"}),
            )
            .await;
            assert_eq!(s, 200, "{v}");
        }
        Path::Journal => {
            let co = company_url(sim);
            let (_, j) = get(tok, &format!("{co}/customerPaymentJournals")).await;
            let jid = j["value"][0]["id"].as_str().unwrap().to_string();
            let r = client()
                .post(format!(
                    "{co}/customerPaymentJournals({jid})/customerPayments"
                ))
                .bearer_auth(tok)
                .json(&json!({"amount": -amount, "appliesToInvoiceId": id}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let r = client()
                .post(format!("{co}/journals({jid})/Microsoft.NAV.post"))
                .bearer_auth(tok)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
        }
    }
}

async fn payments_follow_bc(path: Path) {
    let sim = start_with(|c| {
        c.data.open_payments = 0;
        c.webhook_auto_delivery = false;
    })
    .await;
    let tok = app_token(&sim).await;
    let co = company_url(&sim);
    let cle_url = format!(
        "{}/v2.0/{}/{}/api/ledgerlink/ar/v1.0/companies({})/customerLedgerEntries",
        sim.base_url(),
        sim.tenant_id(),
        sim.environment(),
        sim.company_ids()[0]
    );
    let (_, open) = get(
        &tok,
        &format!("{co}/salesInvoices?$filter=status eq 'Open' and remainingAmount gt 20"),
    )
    .await;
    let inv = open["value"][0].clone();
    let id = inv["id"].as_str().unwrap().to_string();
    let remaining = inv["remainingAmount"].as_f64().unwrap();
    let inv_url = format!("{co}/salesInvoices({id})");
    let cust_url = format!("{co}/customers({})", inv["customerId"].as_str().unwrap());
    let fin_url = format!(
        "{co}/customerFinancialDetails({})",
        inv["customerId"].as_str().unwrap()
    );
    let (_, cust) = get(&tok, &cust_url).await;
    let (_, fin) = get(&tok, &fin_url).await;
    let entries_before = all_pages(&tok, &cle_url, 1000).await.len();

    sim.advance_clock(Duration::from_secs(60));
    let before = sim_now(&sim);
    sim.advance_clock(Duration::from_secs(60));
    pay(&sim, &tok, path, &inv, 10.0).await;

    // Partial: the amount changed, the row did not.
    let (_, got) = get(&tok, &inv_url).await;
    assert!(
        (got["remainingAmount"].as_f64().unwrap() - (remaining - 10.0)).abs() < 0.001,
        "{path:?}: {got}"
    );
    assert_eq!(got["status"], "Open");
    assert_eq!(
        got["lastModifiedDateTime"], inv["lastModifiedDateTime"],
        "{path:?}"
    );
    assert_eq!(got["@odata.etag"], inv["@odata.etag"], "{path:?}");
    assert!(
        modified_after(&tok, &format!("{co}/salesInvoices"), &before)
            .await
            .is_empty(),
        "{path:?}: an incremental read does not see a partial payment"
    );
    // The customer's figures are computed on read: they change, its stamp does not.
    let (_, cust2) = get(&tok, &cust_url).await;
    let (_, fin2) = get(&tok, &fin_url).await;
    assert_eq!(cust2["lastModifiedDateTime"], cust["lastModifiedDateTime"]);
    assert!(
        (fin["balance"].as_f64().unwrap() - fin2["balance"].as_f64().unwrap() - 10.0).abs() < 0.001,
        "{fin} {fin2}"
    );
    assert!(
        modified_after(&tok, &format!("{co}/customers"), &before)
            .await
            .is_empty()
    );
    // The ledger feed shows the payment (and the invoice entry it was applied to).
    let entries = all_pages(&tok, &cle_url, 1000).await;
    assert_eq!(entries.len(), entries_before + 1, "{path:?}");
    let payment = entries.last().unwrap();
    assert_eq!(payment["documentType"], "Payment");
    assert_eq!(payment["amount"], json!(-10));
    assert_eq!(payment["customerId"], inv["customerId"]);
    let inv_entry = entries
        .iter()
        .find(|e| e["documentId"] == id.as_str())
        .unwrap();
    assert_eq!(inv_entry["remainingAmount"], got["remainingAmount"]);
    assert_eq!(inv_entry["open"], true);

    // Full: Open → Paid rewrites the row.
    pay(&sim, &tok, path, &inv, remaining - 10.0).await;
    let (_, paid) = get(&tok, &inv_url).await;
    assert_eq!(paid["status"], "Paid", "{path:?}");
    assert_eq!(paid["remainingAmount"], json!(0));
    assert_ne!(paid["lastModifiedDateTime"], inv["lastModifiedDateTime"]);
    assert_ne!(paid["@odata.etag"], inv["@odata.etag"]);
    assert_eq!(
        modified_after(&tok, &format!("{co}/salesInvoices"), &before).await,
        std::slice::from_ref(&id),
        "{path:?}"
    );
    let entries = all_pages(&tok, &cle_url, 1000).await;
    let inv_entry = entries
        .iter()
        .find(|e| e["documentId"] == id.as_str())
        .unwrap();
    assert_eq!(inv_entry["open"], false);
    assert_eq!(
        inv_entry["closedByEntryNumber"],
        entries.last().unwrap()["entryNumber"]
    );
    let (_, cust3) = get(&tok, &cust_url).await;
    assert_eq!(cust3["lastModifiedDateTime"], cust["lastModifiedDateTime"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_payment_through_the_rust_api_changes_amounts_silently() {
    payments_follow_bc(Path::Rust).await;
}

#[tokio::test]
async fn a_payment_through_the_admin_api_changes_amounts_silently() {
    payments_follow_bc(Path::Admin).await;
}

#[tokio::test]
async fn a_posted_payment_journal_changes_amounts_silently() {
    payments_follow_bc(Path::Journal).await;
}

#[tokio::test]
async fn payments_are_refused_where_bc_would_refuse_them() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let cid = sim.company_ids()[0];
    let (_, open) = get(
        &tok,
        &format!(
            "{}/salesInvoices?$filter=status eq 'Open'&$top=1",
            company_url(&sim)
        ),
    )
    .await;
    let id: uuid::Uuid = open["value"][0]["id"].as_str().unwrap().parse().unwrap();
    assert!(sim.apply_payment(cid, id, 0.0).is_err());
    assert!(sim.apply_payment(cid, id, -5.0).is_err());
    assert!(sim.apply_payment(cid, uuid::Uuid::new_v4(), 5.0).is_err());
    assert!(sim.apply_payment(uuid::Uuid::new_v4(), id, 5.0).is_err());
    let (_, drafts) = get(
        &tok,
        &format!(
            "{}/salesInvoices?$filter=status eq 'Draft'&$top=1",
            company_url(&sim)
        ),
    )
    .await;
    if let Some(d) = drafts["value"].get(0) {
        let draft = d["id"].as_str().unwrap().parse().unwrap();
        let e = sim.apply_payment(cid, draft, 5.0).unwrap_err();
        assert!(e.to_string().contains("not posted"), "{e}");
    }
    let posted = sim
        .apply_payment_with(
            cid,
            id,
            bc_sim::PaymentSpec {
                amount: 1.005,
                document_number: Some("RCPT-7".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(posted.status, "Open");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_admin_paid_amount_follows_the_same_rule() {
    let sim = start_with(|c| c.data.open_payments = 0).await;
    let tok = app_token(&sim).await;
    let cid = sim.company_ids()[0];
    let co = company_url(&sim);
    let (_, open) = get(
        &tok,
        &format!("{co}/salesInvoices?$filter=status eq 'Open' and remainingAmount gt 20&$top=1"),
    )
    .await;
    let inv = open["value"][0].clone();
    let id = inv["id"].as_str().unwrap();
    let total = inv["totalAmountIncludingTax"].as_f64().unwrap();
    sim.advance_clock(Duration::from_secs(60));
    let path = format!("companies/{cid}/salesInvoices/{id}");
    let patch = |paid: f64| {
        admin_call(
            &sim,
            reqwest::Method::PATCH,
            &path,
            json!({"paidAmount": paid}),
        )
    };
    assert_eq!(patch(total - 5.0).await.0, 200);
    let (_, got) = get(&tok, &format!("{co}/salesInvoices({id})")).await;
    assert!((got["remainingAmount"].as_f64().unwrap() - 5.0).abs() < 0.001);
    assert_eq!(got["lastModifiedDateTime"], inv["lastModifiedDateTime"]);
    assert_eq!(patch(total).await.0, 200);
    let (_, got) = get(&tok, &format!("{co}/salesInvoices({id})")).await;
    assert_eq!(got["status"], "Paid");
    assert_ne!(got["lastModifiedDateTime"], inv["lastModifiedDateTime"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_credit_memo_consumed_whole_is_paid() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let cid = sim.company_ids()[0];
    let co = company_url(&sim);
    let (_, open) = get(
        &tok,
        &format!("{co}/salesInvoices?$filter=status eq 'Open' and remainingAmount gt 20&$top=1"),
    )
    .await;
    let inv = open["value"][0].clone();
    let remaining = inv["remainingAmount"].as_f64().unwrap();
    let path = format!("companies/{cid}/salesCreditMemos");
    let memo = |amount: f64| {
        admin_call(
            &sim,
            reqwest::Method::POST,
            &path,
            json!({"invoiceId": inv["id"], "lines": [{"quantity": 1, "unitPrice": amount}]}),
        )
    };
    // Smaller than what is left: consumed whole (Paid); the invoice stays Open.
    let (_, small) = memo(5.0).await;
    let (_, got) = get(
        &tok,
        &format!("{co}/salesCreditMemos({})", small["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(got["status"], "Paid", "{got}");
    // Larger than what is left: part of it stays open; the invoice becomes Paid.
    let (_, big) = memo(remaining + 50.0).await;
    let (_, got) = get(
        &tok,
        &format!("{co}/salesCreditMemos({})", big["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(got["status"], "Open", "{got}");
    let (_, inv2) = get(
        &tok,
        &format!("{co}/salesInvoices({})", inv["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(inv2["status"], "Paid");
    sim.shutdown().await;
}
