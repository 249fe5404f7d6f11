//! Customer payments (POST / PATCH / DELETE with If-Match) and posting a payment journal.

mod common;

use common::*;
use serde_json::{Value, json};

async fn send(
    tok: &str,
    m: reqwest::Method,
    url: &str,
    if_match: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, Option<String>) {
    let mut r = client().request(m, url).bearer_auth(tok);
    if let Some(e) = if_match {
        r = r.header("If-Match", e);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let s = r.status().as_u16();
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    let b = r.bytes().await.unwrap();
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null), etag)
}

#[tokio::test]
async fn payment_crud_with_if_match() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let co = company_url(&sim);
    let (_, j) = get(&tok, &format!("{co}/customerPaymentJournals")).await;
    let jid = j["value"][0]["id"].as_str().unwrap().to_string();
    let (_, inv) = get(
        &tok,
        &format!("{co}/salesInvoices?$filter=status eq 'Open'&$top=1"),
    )
    .await;
    let inv = &inv["value"][0];
    let (s, p, _) = send(
        &tok,
        reqwest::Method::POST,
        &format!("{co}/customerPaymentJournals({jid})/customerPayments"),
        None,
        Some(json!({"customerId": inv["customerId"], "amount": -12.5, "appliesToInvoiceId": inv["id"], "externalDocumentNumber": "LL-1", "postingDate": "2025-06-30"})),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(p["amount"], json!(-12.5));
    assert_eq!(p["appliesToInvoiceNumber"], inv["number"]);
    assert_eq!(p["journalId"], jid);
    let pid = p["id"].as_str().unwrap().to_string();
    let etag = p["@odata.etag"].as_str().unwrap().to_string();
    let purl = format!("{co}/customerPayments({pid})");
    // PATCH without If-Match → refused; stale → 409; current → 200 with a new etag.
    let (s, v, _) = send(
        &tok,
        reqwest::Method::PATCH,
        &purl,
        None,
        Some(json!({"description": "x"})),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    let (s, v, _) = send(
        &tok,
        reqwest::Method::PATCH,
        &purl,
        Some(&etag),
        Some(json!({"description": "first"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let etag2 = v["@odata.etag"].as_str().unwrap().to_string();
    assert_ne!(etag, etag2);
    let (s, v, _) = send(
        &tok,
        reqwest::Method::PATCH,
        &purl,
        Some(&etag),
        Some(json!({"description": "second"})),
    )
    .await;
    assert_eq!(s, 409);
    assert_bc_error(&v, "Request_EntityChanged");
    // Unknown property.
    let (s, _, _) = send(
        &tok,
        reqwest::Method::PATCH,
        &purl,
        Some("*"),
        Some(json!({"bogus": 1})),
    )
    .await;
    assert_eq!(s, 400);
    // GET needs a journal filter at top level.
    let (s, v) = get(&tok, &format!("{co}/customerPayments")).await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = get(
        &tok,
        &format!("{co}/customerPayments?$filter=journalId eq {jid}"),
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == pid.as_str())
    );
    // DELETE with If-Match.
    let (s, _, _) = send(&tok, reqwest::Method::DELETE, &purl, Some(&etag2), None).await;
    assert_eq!(s, 204);
    assert_eq!(get(&tok, &purl).await.0, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn posting_a_payment_journal_lowers_remaining_amount() {
    let sim = start_with(|c| c.data.open_payments = 0).await;
    let tok = app_token(&sim).await;
    let co = company_url(&sim);
    let (s, j, _) = send(
        &tok,
        reqwest::Method::POST,
        &format!("{co}/customerPaymentJournals"),
        None,
        Some(
            json!({"code": "LEDGERLINK", "displayName": "ledgerlink", "balancingAccountId": "00000000-0000-0000-0000-00000000ba4c"}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{j}");
    let jid = j["id"].as_str().unwrap().to_string();
    // Nothing to post yet.
    let (s, v, _) = send(
        &tok,
        reqwest::Method::POST,
        &format!("{co}/journals({jid})/Microsoft.NAV.post"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing to post")
    );
    let (_, invs) = get(
        &tok,
        &format!("{co}/salesInvoices?$filter=status eq 'Open'&$top=2"),
    )
    .await;
    let a = invs["value"][0].clone();
    let b = invs["value"][1].clone();
    let ra = a["remainingAmount"].as_f64().unwrap();
    let cust_url = format!(
        "{co}/customers({})?$expand=customerFinancialDetail",
        a["customerId"].as_str().unwrap()
    );
    let (_, cust_before) = get(&tok, &cust_url).await;
    let rb = b["remainingAmount"].as_f64().unwrap();
    // Partial payment of a, full payment of b (by number).
    let pay = |inv: &Value, amount: f64, by_number: bool| {
        let mut m = json!({"amount": -amount, "documentNumber": "PAY1"});
        if by_number {
            m["appliesToInvoiceNumber"] = inv["number"].clone();
        } else {
            m["appliesToInvoiceId"] = inv["id"].clone();
        }
        m
    };
    for body in [pay(&a, 10.0, false), pay(&b, rb, true)] {
        let (s, v, _) = send(
            &tok,
            reqwest::Method::POST,
            &format!("{co}/customerPaymentJournals({jid})/customerPayments"),
            None,
            Some(body),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    let (s, v, _) = send(
        &tok,
        reqwest::Method::POST,
        &format!("{co}/journals({jid})/Microsoft.NAV.post"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 204, "{v}");
    let (_, a2) = get(
        &tok,
        &format!("{co}/salesInvoices({})", a["id"].as_str().unwrap()),
    )
    .await;
    let (_, b2) = get(
        &tok,
        &format!("{co}/salesInvoices({})", b["id"].as_str().unwrap()),
    )
    .await;
    assert!(
        (a2["remainingAmount"].as_f64().unwrap() - (ra - 10.0)).abs() < 0.001,
        "{a2}"
    );
    assert_eq!(a2["status"], "Open");
    assert_eq!(
        a2["lastModifiedDateTime"], a["lastModifiedDateTime"],
        "partial payment does not bump lastModifiedDateTime"
    );
    assert_eq!(b2["remainingAmount"].as_f64().unwrap(), 0.0);
    assert_eq!(b2["status"], "Paid");
    // Customer figures follow (cached per world version, so a change must invalidate them).
    let (_, cust_after) = get(&tok, &cust_url).await;
    let paid_for_a = if a["customerId"] == b["customerId"] {
        10.0 + rb
    } else {
        10.0
    };
    let drop =
        cust_before["balanceDue"].as_f64().unwrap() - cust_after["balanceDue"].as_f64().unwrap();
    assert!(
        (drop - paid_for_a).abs() < 0.001,
        "{cust_before} {cust_after}"
    );
    assert_eq!(
        cust_after["balanceDue"],
        cust_after["customerFinancialDetail"]["overdueAmount"]
    );
    assert_ne!(b2["lastModifiedDateTime"], b["lastModifiedDateTime"]);
    // Lines are gone after posting.
    let (_, v) = get(
        &tok,
        &format!("{co}/customerPaymentJournals({jid})/customerPayments"),
    )
    .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 0);
    // A positive amount is refused at posting and nothing is posted.
    let (s, _, _) = send(
        &tok,
        reqwest::Method::POST,
        &format!("{co}/customerPaymentJournals({jid})/customerPayments"),
        None,
        Some(json!({"amount": 5, "appliesToInvoiceId": a["id"]})),
    )
    .await;
    assert_eq!(s, 201);
    let (s, v, _) = send(
        &tok,
        reqwest::Method::POST,
        &format!("{co}/journals({jid})/Microsoft.NAV.post"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must be negative"),
        "{v}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn posting_a_draft_invoice_keeps_the_id_and_changes_number_and_line_ids() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let co = company_url(&sim);
    let cid = sim.company_ids()[0];
    let v: Value = client()
        .post(format!("{}/_sim/companies/{cid}/salesInvoices", sim.base_url()))
        .json(&json!({"status": "Draft", "number": "S-INV-NEW", "lines": [{"quantity": 1, "unitPrice": 10}, {"quantity": 2, "unitPrice": 5}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    let (_, d) = get(
        &tok,
        &format!("{co}/salesInvoices({id})?$expand=salesInvoiceLines"),
    )
    .await;
    assert_eq!(d["status"], "Draft");
    assert_eq!(d["remainingAmount"], json!(20));
    let (s, v, _) = send(
        &tok,
        reqwest::Method::POST,
        &format!("{co}/salesInvoices({id})/Microsoft.NAV.post"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 204, "{v}");
    let (_, p) = get(
        &tok,
        &format!("{co}/salesInvoices({id})?$expand=salesInvoiceLines"),
    )
    .await;
    assert_eq!(p["id"], d["id"]);
    assert_eq!(p["status"], "Open");
    assert_ne!(p["number"], d["number"]);
    assert_ne!(
        p["salesInvoiceLines"][0]["id"],
        d["salesInvoiceLines"][0]["id"]
    );
    assert_eq!(
        p["salesInvoiceLines"][0]["sequence"],
        d["salesInvoiceLines"][0]["sequence"]
    );
    let (s, _, _) = send(
        &tok,
        reqwest::Method::POST,
        &format!("{co}/salesInvoices({id})/Microsoft.NAV.post"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn json_batch_runs_operations_in_order() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let cid = sim.company_ids()[0];
    let (_, j) = get(
        &tok,
        &format!("{}/customerPaymentJournals", company_url(&sim)),
    )
    .await;
    let jid = j["value"][0]["id"].as_str().unwrap().to_string();
    let (_, inv) = get(
        &tok,
        &format!(
            "{}/salesInvoices?$filter=status eq 'Open'&$top=1",
            company_url(&sim)
        ),
    )
    .await;
    let iid = inv["value"][0]["id"].as_str().unwrap().to_string();
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": format!("companies({cid})/customers?$top=1")},
        {"id": "2", "method": "POST", "url": format!("companies({cid})/customerPaymentJournals({jid})/customerPayments"),
         "headers": {"Content-Type": "application/json"}, "body": {"amount": -1, "appliesToInvoiceId": iid}},
        {"id": "3", "method": "GET", "url": "customers?$top=1", "headers": {"Company": "CRONUS USA, Inc."}},
        {"id": "4", "method": "GET", "url": format!("companies({cid})/nope")},
    ]});
    let (s, v, _) = send(
        &tok,
        reqwest::Method::POST,
        &format!("{}/$batch", sim.api_base()),
        None,
        Some(batch),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let r = v["responses"].as_array().unwrap();
    assert_eq!(r.len(), 4);
    assert_eq!(
        (r[0]["id"].as_str(), r[0]["status"].as_u64()),
        (Some("1"), Some(200))
    );
    assert_eq!(r[0]["body"]["value"].as_array().unwrap().len(), 1);
    assert_eq!(r[1]["status"], 201, "{}", r[1]);
    assert_eq!(r[1]["body"]["appliesToInvoiceId"], iid.as_str());
    assert_eq!(r[2]["status"], 200, "{}", r[2]);
    assert_eq!(r[3]["status"], 404);
    assert_eq!(r[3]["body"]["error"]["code"], "BadRequest_ResourceNotFound");
    sim.shutdown().await;
}
