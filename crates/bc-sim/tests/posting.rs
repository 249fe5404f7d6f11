//! Posting a customer payment journal as BC does (see README "Payment posting, as found"):
//! `journals({cpj id})/Microsoft.NAV.post`, the G/L entries it writes, BC's business errors, and
//! `$batch` with several payment lines.

mod common;

use common::*;
use serde_json::{Value, json};

async fn send(tok: &str, m: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = client().request(m, url).bearer_auth(tok);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let s = r.status().as_u16();
    let b = r.bytes().await.unwrap();
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

async fn post(tok: &str, url: &str, body: Value) -> (u16, Value) {
    send(tok, reqwest::Method::POST, url, Some(body)).await
}

/// A batch of our own whose balancing account is copied from the company's first payment journal.
async fn own_journal(tok: &str, co: &str, code: &str) -> (String, Value) {
    let (_, js) = get(tok, &format!("{co}/customerPaymentJournals")).await;
    let other = &js["value"][0];
    let (s, j) = post(
        tok,
        &format!("{co}/customerPaymentJournals"),
        json!({"code": code, "displayName": "ledgerlink", "balancingAccountId": other["balancingAccountId"]}),
    )
    .await;
    assert_eq!(s, 201, "{j}");
    assert_eq!(j["balancingAccountNumber"], other["balancingAccountNumber"]);
    (j["id"].as_str().unwrap().to_string(), j)
}

async fn open_invoices(tok: &str, co: &str, n: usize) -> Vec<Value> {
    let (_, v) = get(
        tok,
        &format!("{co}/salesInvoices?$filter=status eq 'Open'&$top={n}"),
    )
    .await;
    v["value"].as_array().unwrap().clone()
}

async fn post_batch(tok: &str, co: &str, jid: &str) -> (u16, Value) {
    send(
        tok,
        reqwest::Method::POST,
        &format!("{co}/journals({jid})/Microsoft.NAV.post"),
        None,
    )
    .await
}

async fn lines(tok: &str, co: &str, jid: &str) -> Vec<Value> {
    let (s, v) = get(
        tok,
        &format!("{co}/customerPaymentJournals({jid})/customerPayments"),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["value"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_payment_journal_posts_through_journals_and_leaves_gl_entries() {
    let sim = start_with(|c| c.data.open_payments = 0).await;
    let tok = app_token(&sim).await;
    let co = company_url(&sim);
    let (jid, _) = own_journal(&tok, &co, "LL").await;
    // journals({id}) finds the cash receipt batch (GetBySystemId); the plain list is GENERAL only.
    let (s, j) = get(&tok, &format!("{co}/journals({jid})")).await;
    assert_eq!(s, 200, "{j}");
    assert_eq!(j["templateDisplayName"], "CASHRCPT");
    assert_eq!(j["code"], "LL");
    let (_, all) = get(&tok, &format!("{co}/journals")).await;
    assert_eq!(all["value"].as_array().unwrap().len(), 0, "{all}");
    let (_, cr) = get(
        &tok,
        &format!("{co}/journals?$filter=templateDisplayName eq 'CASHRCPT'"),
    )
    .await;
    assert!(
        cr["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == jid.as_str())
    );
    let inv = open_invoices(&tok, &co, 1).await.remove(0);
    let (s, l) = post(
        &tok,
        &format!("{co}/customerPaymentJournals({jid})/customerPayments"),
        json!({"customerId": inv["customerId"], "postingDate": "2026-11-29", "documentNumber": "LL-WR1",
               "externalDocumentNumber": "bank-tx-1", "amount": -12.34, "appliesToInvoiceId": inv["id"],
               "description": "ledgerlink wr_1"}),
    )
    .await;
    assert_eq!(s, 201, "{l}");
    assert_eq!(lines(&tok, &co, &jid).await.len(), 1);
    let (s, v) = post_batch(&tok, &co, &jid).await;
    assert_eq!(s, 204, "{v}");
    assert!(lines(&tok, &co, &jid).await.is_empty());
    let (_, gl) = get(
        &tok,
        &format!("{co}/generalLedgerEntries?$filter=documentNumber eq 'LL-WR1'"),
    )
    .await;
    let gl = gl["value"].as_array().unwrap().clone();
    assert_eq!(gl.len(), 2, "{gl:?}");
    for g in &gl {
        assert_eq!(g["documentType"], "Payment");
        assert_eq!(g["description"], "ledgerlink wr_1");
        assert_eq!(g["postingDate"], "2026-11-29");
    }
    assert_eq!(gl[0]["accountNumber"], "2310");
    assert_eq!(gl[0]["creditAmount"], json!(12.34));
    assert_eq!(gl[0]["debitAmount"], json!(0));
    assert_eq!(gl[1]["accountNumber"], "2910");
    assert_eq!(gl[1]["debitAmount"], json!(12.34));
    // One by id, $select, $top, filters on entryNumber and postingDate.
    let id = gl[1]["id"].as_str().unwrap();
    let (s, one) = get(&tok, &format!("{co}/generalLedgerEntries({id})")).await;
    assert_eq!((s, &one["entryNumber"]), (200, &gl[1]["entryNumber"]));
    let (_, sel) = get(
        &tok,
        &format!("{co}/generalLedgerEntries?$select=entryNumber,documentNumber&$top=1"),
    )
    .await;
    let first = &sel["value"][0];
    assert_eq!(first.as_object().unwrap().len(), 3, "{first}"); // + @odata.etag
    let n = gl[0]["entryNumber"].as_i64().unwrap();
    let (_, by_no) = get(
        &tok,
        &format!("{co}/generalLedgerEntries?$filter=entryNumber gt {n}"),
    )
    .await;
    assert_eq!(by_no["value"].as_array().unwrap().len(), 1);
    let (_, by_date) = get(
        &tok,
        &format!("{co}/generalLedgerEntries?$filter=postingDate eq 2026-11-29"),
    )
    .await;
    assert_eq!(by_date["value"].as_array().unwrap().len(), 2);
    // The invoice's remaining amount dropped.
    let (_, inv2) = get(
        &tok,
        &format!("{co}/salesInvoices({})", inv["id"].as_str().unwrap()),
    )
    .await;
    let drop = inv["remainingAmount"].as_f64().unwrap() - inv2["remainingAmount"].as_f64().unwrap();
    assert!((drop - 12.34).abs() < 0.001, "{inv2}");
    sim.shutdown().await;
}

#[tokio::test]
async fn posting_posts_every_line_of_the_batch_including_foreign_ones() {
    let sim = start_with(|c| c.data.open_payments = 0).await;
    let tok = app_token(&sim).await;
    let co = company_url(&sim);
    let (jid, _) = own_journal(&tok, &co, "SHARED").await;
    let invs = open_invoices(&tok, &co, 2).await;
    for (i, inv) in invs.iter().enumerate() {
        // Line 0 is "ours", line 1 someone else's: to BC both are just lines of the batch.
        let (s, v) = post(
            &tok,
            &format!("{co}/customerPaymentJournals({jid})/customerPayments"),
            json!({"documentNumber": format!("DOC-{i}"), "amount": -1, "appliesToInvoiceId": inv["id"]}),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    assert_eq!(lines(&tok, &co, &jid).await.len(), 2);
    assert_eq!(post_batch(&tok, &co, &jid).await.0, 204);
    assert!(lines(&tok, &co, &jid).await.is_empty());
    for i in 0..2 {
        let (_, gl) = get(
            &tok,
            &format!("{co}/generalLedgerEntries?$filter=documentNumber eq 'DOC-{i}'"),
        )
        .await;
        assert_eq!(gl["value"].as_array().unwrap().len(), 2, "{gl}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn business_errors_are_bcs_and_post_nothing() {
    let sim = start_with(|c| c.data.open_payments = 0).await;
    let tok = app_token(&sim).await;
    let co = company_url(&sim);
    let cid = sim.company_ids()[0];
    let invs = open_invoices(&tok, &co, 3).await;
    let line_url = |jid: &str| format!("{co}/customerPaymentJournals({jid})/customerPayments");

    // A balancing account id that is no G/L account is refused.
    let (s, v) = post(
        &tok,
        &format!("{co}/customerPaymentJournals"),
        json!({"code": "BAD", "balancingAccountId": "11111111-2222-3333-4444-555555555555"}),
    )
    .await;
    assert_eq!(s, 400);
    assert_bc_error(&v, "Application_DialogException");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("The \"balancingAccountNumber\" does not match to a G/L Account.")
    );

    // No balancing account on the batch → the document is out of balance.
    let (s, j) = post(
        &tok,
        &format!("{co}/customerPaymentJournals"),
        json!({"code": "NOBAL"}),
    )
    .await;
    assert_eq!(s, 201);
    let nobal = j["id"].as_str().unwrap().to_string();
    let (s, _) = post(
        &tok,
        &line_url(&nobal),
        json!({"documentNumber": "NB-1", "amount": -1500, "appliesToInvoiceId": invs[0]["id"]}),
    )
    .await;
    assert_eq!(s, 201);
    let (s, v) = post_batch(&tok, &co, &nobal).await;
    assert_eq!(s, 400);
    assert_bc_error(&v, "Application_DialogException");
    assert!(v["error"]["message"].as_str().unwrap().starts_with(
        "Document No. NB-1 is out of balance by -1,500. Please check that Posting Date, Document Type, Document No. and Amount are correct for each line."
    ), "{v}");
    assert_eq!(lines(&tok, &co, &nobal).await.len(), 1, "nothing posted");

    // Posting date outside the allowed range (General Ledger Setup).
    let (jid, _) = own_journal(&tok, &co, "LL").await;
    let (s, _) = post(
        &tok,
        &line_url(&jid),
        json!({"documentNumber": "D-1", "postingDate": "2025-12-31", "amount": -1, "appliesToInvoiceId": invs[0]["id"]}),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = admin_call(
        &sim,
        reqwest::Method::PUT,
        &format!("companies/{cid}/allowedPostingDates"),
        json!({"from": "2026-01-01", "to": null}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = post_batch(&tok, &co, &jid).await;
    assert_eq!(s, 400);
    assert_bc_error(&v, "Application_DialogException");
    assert!(v["error"]["message"].as_str().unwrap().starts_with(
        "Posting Date is not within your range of allowed posting dates in Gen. Journal Line Journal Template Name='CASHRCPT',Journal Batch Name='LL',Line No.='10000'."
    ), "{v}");
    assert!(sim.set_allowed_posting_dates(cid, None, None));
    assert_eq!(post_batch(&tok, &co, &jid).await.0, 204);

    // A blocked customer: creating a line fails; blocking after the line exists fails posting.
    let cust = invs[1]["customerId"].as_str().unwrap().to_string();
    let block = |b: &'static str| {
        let sim = &sim;
        let cust = cust.clone();
        async move {
            admin_call(
                sim,
                reqwest::Method::PATCH,
                &format!("companies/{cid}/customers/{cust}"),
                json!({"blocked": b}),
            )
            .await
            .0
        }
    };
    let (s, _) = post(
        &tok,
        &line_url(&jid),
        json!({"documentNumber": "D-2", "amount": -1, "appliesToInvoiceId": invs[1]["id"]}),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(block("All").await, 200);
    let (s, v) = post(
        &tok,
        &line_url(&jid),
        json!({"documentNumber": "D-3", "amount": -1, "appliesToInvoiceId": invs[1]["id"]}),
    )
    .await;
    assert_eq!(s, 400);
    assert_bc_error(&v, "Application_DialogException");
    let no = get(&tok, &format!("{co}/customers({cust})")).await.1["number"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(v["error"]["message"].as_str().unwrap().starts_with(&format!(
        "You cannot create this type of document when Customer {no} is blocked with type All"
    )));
    let (s, v) = post_batch(&tok, &co, &jid).await;
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "You cannot post this type of document when Customer {no} is blocked with type All"
            )),
        "{v}"
    );
    // Blocked for invoices only does not stop a payment.
    assert_eq!(block("Invoice").await, 200);
    assert_eq!(post_batch(&tok, &co, &jid).await.0, 204);
    assert_eq!(block("_x0020_").await, 200);

    // The applied invoice was closed meanwhile (paid in full elsewhere).
    let inv = &invs[2];
    let (s, _) = post(
        &tok,
        &line_url(&jid),
        json!({"documentNumber": "D-4", "amount": -1, "appliesToInvoiceId": inv["id"]}),
    )
    .await;
    assert_eq!(s, 201);
    let rem = inv["remainingAmount"].as_f64().unwrap();
    sim.apply_payment(cid, inv["id"].as_str().unwrap().parse().unwrap(), rem)
        .unwrap();
    let (s, v) = post_batch(&tok, &co, &jid).await;
    assert_eq!(s, 400);
    assert_bc_error(&v, "Internal_DataNotFoundFilter");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("There is no Cust. Ledger Entry within the filter."),
        "{v}"
    );
    assert!(msg.contains(&format!(
        "Document No.: {}",
        inv["number"].as_str().unwrap()
    )));
    assert_eq!(lines(&tok, &co, &jid).await.len(), 1);
    // A paid invoice is still accepted on a new line (Open, Paid, Corrective or Canceled).
    let (s, _) = post(
        &tok,
        &line_url(&jid),
        json!({"documentNumber": "D-5", "amount": -1, "appliesToInvoiceId": inv["id"]}),
    )
    .await;
    assert_eq!(s, 201);
    sim.shutdown().await;
}

#[tokio::test]
async fn batch_creates_several_payment_lines_then_posts() {
    let sim = start_with(|c| c.data.open_payments = 0).await;
    let tok = app_token(&sim).await;
    let co = company_url(&sim);
    let cid = sim.company_ids()[0];
    let (jid, _) = own_journal(&tok, &co, "BATCH").await;
    let invs = open_invoices(&tok, &co, 3).await;
    let requests: Vec<Value> = invs
        .iter()
        .enumerate()
        .map(|(i, inv)| {
            json!({"id": format!("{i}"), "method": "POST",
                   "url": format!("companies({cid})/customerPaymentJournals({jid})/customerPayments"),
                   "headers": {"Content-Type": "application/json"},
                   "body": {"documentNumber": "LL-B", "description": format!("line {i}"), "amount": -2.5,
                            "appliesToInvoiceId": inv["id"]}})
        })
        .collect();
    let (s, v) = post(
        &tok,
        &format!("{}/$batch", sim.api_base()),
        json!({ "requests": requests }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let r = v["responses"].as_array().unwrap();
    assert_eq!(r.len(), 3);
    let mut line_nos: Vec<i64> = r
        .iter()
        .map(|x| {
            assert_eq!(x["status"], 201, "{x}");
            x["body"]["lineNumber"].as_i64().unwrap()
        })
        .collect();
    line_nos.dedup();
    assert_eq!(line_nos, vec![10000, 20000, 30000]);
    assert_eq!(lines(&tok, &co, &jid).await.len(), 3);
    assert_eq!(post_batch(&tok, &co, &jid).await.0, 204);
    let (_, gl) = get(
        &tok,
        &format!("{co}/generalLedgerEntries?$filter=documentNumber eq 'LL-B'"),
    )
    .await;
    assert_eq!(gl["value"].as_array().unwrap().len(), 6);
    sim.shutdown().await;
}
