//! OData behaviour: paging (stable under writes), filters, select, expand, top, orderby, errors.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use serde_json::{Value, json};

async fn admin(sim: &bc_sim::Sim, method: reqwest::Method, path: &str, body: Value) -> Value {
    let r = client()
        .request(method, format!("{}/_sim/{path}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test]
async fn paging_is_stable_while_records_are_inserted_updated_deleted() {
    let sim = start_with(|c| c.data.invoices = 500).await;
    let tok = app_token(&sim).await;
    let cid = sim.company_ids()[0];
    let co = company_url(&sim);
    let before: Vec<String> = all_pages(&tok, &format!("{co}/salesInvoices?$select=id"), 20_000)
        .await
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(before.len(), 500);

    // Page through with 37 per page, mutating between pages.
    let mut seen: Vec<String> = Vec::new();
    let mut deleted: HashSet<String> = HashSet::new();
    let mut inserted: Vec<String> = Vec::new();
    let mut next = Some(format!("{co}/salesInvoices?$select=id,number"));
    let mut page = 0;
    while let Some(u) = next {
        let (s, v) = get_paged(&tok, &u, 37).await;
        assert_eq!(s, 200, "{v}");
        let items = v["value"].as_array().unwrap();
        assert!(items.len() <= 37);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        next = v["@odata.nextLink"].as_str().map(|s| s.to_string());
        if let Some(n) = &next {
            assert!(n.contains("$skiptoken="), "{n}");
            // Delete one already served and one not yet served, update one, insert one.
            let done = seen[seen.len() / 2].clone();
            let ahead = before
                .iter()
                .rev()
                .find(|id| !seen.contains(id) && !deleted.contains(*id))
                .cloned();
            for id in [Some(done), ahead].into_iter().flatten() {
                if deleted.insert(id.clone()) {
                    admin(
                        &sim,
                        reqwest::Method::DELETE,
                        &format!("companies/{cid}/salesInvoices/{id}"),
                        json!({}),
                    )
                    .await;
                }
            }
            let upd = before.iter().find(|id| !deleted.contains(*id)).unwrap();
            admin(
                &sim,
                reqwest::Method::PATCH,
                &format!("companies/{cid}/salesInvoices/{upd}"),
                json!({"externalDocumentNumber": format!("UPD{page}")}),
            )
            .await;
            let v = admin(
                &sim,
                reqwest::Method::POST,
                &format!("companies/{cid}/salesInvoices"),
                json!({"lines": [{"quantity": 1, "unitPrice": 10}]}),
            )
            .await;
            inserted.push(v["id"].as_str().unwrap().to_string());
        }
        page += 1;
        assert!(page < 100, "paging does not terminate");
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &seen {
        *counts.entry(id).or_default() += 1;
    }
    assert!(counts.values().all(|c| *c == 1), "duplicates across pages");
    for id in &before {
        if !deleted.contains(id) {
            assert_eq!(
                counts.get(id.as_str()),
                Some(&1),
                "record {id} present throughout was skipped"
            );
        }
    }
    // Deleted before being reached: never served.
    let served_deleted = deleted
        .iter()
        .filter(|d| counts.contains_key(d.as_str()))
        .count();
    assert!(
        served_deleted <= page,
        "only ids deleted after being served may appear"
    );
    // Inserted during the scan land after the cursor, so they are served.
    for id in &inserted {
        assert!(counts.contains_key(id.as_str()), "inserted {id} not served");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn paging_under_concurrent_writers() {
    let sim = start_with(|c| c.data.invoices = 400).await;
    let tok = app_token(&sim).await;
    let cid = sim.company_ids()[0];
    let co = company_url(&sim);
    let base = sim.base_url();
    let writer = tokio::spawn(async move {
        let c = client();
        let mut ids = Vec::new();
        for _ in 0..60 {
            let v: Value = c
                .post(format!("{base}/_sim/companies/{cid}/salesInvoices"))
                .json(&json!({}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            ids.push(v["id"].as_str().unwrap().to_string());
        }
        ids
    });
    let seen: Vec<String> = all_pages(&tok, &format!("{co}/salesInvoices?$select=id"), 25)
        .await
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    let _ = writer.await.unwrap();
    let uniq: HashSet<&String> = seen.iter().collect();
    assert_eq!(
        uniq.len(),
        seen.len(),
        "duplicates under concurrent inserts"
    );
    assert!(seen.len() >= 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn page_size_cap_top_and_orderby() {
    let sim = start_with(|c| {
        c.data.invoices = 120;
        c.limits.max_page_size = 50;
    })
    .await;
    let tok = app_token(&sim).await;
    let co = company_url(&sim);
    let (_, v) = get_paged(&tok, &format!("{co}/salesInvoices"), 100_000).await;
    assert_eq!(
        v["value"].as_array().unwrap().len(),
        50,
        "capped at the server max page size"
    );
    let (_, v) = get(&tok, &format!("{co}/salesInvoices")).await;
    assert_eq!(v["value"].as_array().unwrap().len(), 50);
    // $count=true counts every match, independent of paging and $top.
    let (_, v) = get_paged(&tok, &format!("{co}/salesInvoices?$count=true&$top=3"), 2).await;
    assert_eq!(v["@odata.count"], 120);
    assert_eq!(v["value"].as_array().unwrap().len(), 2);
    let (_, v) = get(
        &tok,
        &format!("{co}/salesInvoices?$count=true&$filter=status eq 'Open'"),
    )
    .await;
    let open = all_pages(
        &tok,
        &format!("{co}/salesInvoices?$filter=status eq 'Open'"),
        1000,
    )
    .await
    .len();
    assert_eq!(v["@odata.count"].as_u64().unwrap() as usize, open);
    let r = client()
        .get(format!("{co}/salesInvoices/$count"))
        .bearer_auth(&tok)
        .query(&[("$filter", "status eq 'Open'")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap().parse::<usize>().unwrap(), open);
    // $top across pages.
    let all = all_pages(&tok, &format!("{co}/salesInvoices?$top=70"), 30).await;
    assert_eq!(all.len(), 70);
    // $orderby with paging keeps order and completeness.
    let all = all_pages(&tok, &format!("{co}/salesInvoices?$orderby=totalAmountIncludingTax desc&$select=id,totalAmountIncludingTax"), 17).await;
    assert_eq!(all.len(), 120);
    let amounts: Vec<f64> = all
        .iter()
        .map(|v| v["totalAmountIncludingTax"].as_f64().unwrap())
        .collect();
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]), "not sorted desc");
    let ids: HashSet<&str> = all.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 120);
    sim.shutdown().await;
}

#[tokio::test]
async fn filters_select_and_bc_quirks() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let co = company_url(&sim);
    let all = all_pages(&tok, &format!("{co}/salesInvoices"), 1000).await;
    // lastModifiedDateTime gt
    let mut stamps: Vec<&str> = all
        .iter()
        .map(|v| v["lastModifiedDateTime"].as_str().unwrap())
        .collect();
    stamps.sort();
    let mid = stamps[stamps.len() / 2];
    let (s, v) = get(
        &tok,
        &format!("{co}/salesInvoices?$filter=lastModifiedDateTime gt {mid}"),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let got = v["value"].as_array().unwrap();
    assert_eq!(got.len(), stamps.iter().filter(|x| **x > mid).count());
    assert!(
        got.iter()
            .all(|i| i["lastModifiedDateTime"].as_str().unwrap() > mid)
    );
    // eq on id, or on one field.
    let a = all[0]["id"].as_str().unwrap();
    let b = all[5]["id"].as_str().unwrap();
    let (_, v) = get(
        &tok,
        &format!("{co}/salesInvoices?$filter=id eq {a} or id eq {b}"),
    )
    .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 2);
    // eq on a number
    let n = all[3]["number"].as_str().unwrap();
    let (_, v) = get(&tok, &format!("{co}/salesInvoices?$filter=number eq '{n}'")).await;
    assert_eq!(v["value"][0]["id"], all[3]["id"]);
    let amt = &all[3]["totalAmountIncludingTax"];
    let (_, v) = get(
        &tok,
        &format!("{co}/salesInvoices?$filter=totalAmountIncludingTax eq {amt}"),
    )
    .await;
    assert!(
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == all[3]["id"])
    );
    // and + enum
    let (_, v) = get(
        &tok,
        &format!(
            "{co}/salesInvoices?$filter=status eq 'Open' and customerNumber eq '{}'",
            all[0]["customerNumber"].as_str().unwrap()
        ),
    )
    .await;
    assert!(
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "Open")
    );
    // or across fields refused as BC refuses it.
    let (s, v) = get(
        &tok,
        &format!("{co}/salesInvoices?$filter=id eq {a} or number eq '{n}'"),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("The 'OR' operator is not supported on distinct fields"),
        "{v}"
    );
    // Unknown property / syntax error.
    let (s, v) = get(&tok, &format!("{co}/salesInvoices?$filter=nope eq 1")).await;
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Could not find a property named 'nope'")
    );
    let (s, _) = get(&tok, &format!("{co}/salesInvoices?$filter=number eq")).await;
    assert_eq!(s, 400);
    // $select
    let (_, v) = get(
        &tok,
        &format!("{co}/salesInvoices?$select=id,number&$top=1"),
    )
    .await;
    let keys: HashSet<&str> = v["value"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(keys, HashSet::from(["@odata.etag", "id", "number"]));
    assert!(
        v["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/salesInvoices(id,number)"),
        "{v}"
    );
    // Quirks: empty dates, zero GUIDs, never-modified stamp, decimals as numbers.
    assert!(all.iter().any(|i| i["promisedPayDate"] == "0001-01-01"));
    assert!(
        all.iter()
            .any(|i| i["orderId"] == "00000000-0000-0000-0000-000000000000")
    );
    assert!(all.iter().all(|i| i["totalAmountIncludingTax"].is_number()));
    let custs = all_pages(&tok, &format!("{co}/customers"), 1000).await;
    assert!(
        custs
            .iter()
            .any(|c| c["lastModifiedDateTime"] == "0001-01-01T00:00:00Z")
    );
    assert!(custs.iter().any(|c| c["blocked"] == "_x0020_"));
    sim.shutdown().await;
}

#[tokio::test]
async fn nested_paths_expand_and_errors() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let co = company_url(&sim);
    let (_, v) = get(
        &tok,
        &format!("{co}/salesInvoices?$top=1&$expand=salesInvoiceLines($select=id,sequence)"),
    )
    .await;
    let inv = &v["value"][0];
    let id = inv["id"].as_str().unwrap();
    let lines = inv["salesInvoiceLines"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0].as_object().unwrap().len(), 3);
    let (s, v) = get(&tok, &format!("{co}/salesInvoices({id})/salesInvoiceLines")).await;
    assert_eq!(s, 200);
    assert_eq!(v["value"].as_array().unwrap().len(), 3);
    let lid = v["value"][0]["id"].as_str().unwrap();
    let (s, v) = get(
        &tok,
        &format!("{co}/salesInvoices({id})/salesInvoiceLines({lid})"),
    )
    .await;
    assert_eq!(s, 200);
    assert!(v["@odata.context"].as_str().unwrap().ends_with("$entity"));
    let (s, _) = get(
        &tok,
        &format!("{co}/salesInvoiceLines?$filter=documentId eq {id}"),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = get(&tok, &format!("{co}/salesInvoices({id})/dimensionSetLines")).await;
    assert_eq!(s, 200, "{v}");
    // Errors in BC's shape.
    let (s, v) = get(&tok, &format!("{co}/salesInvoicez")).await;
    assert_eq!(s, 404);
    assert_bc_error(&v, "BadRequest_ResourceNotFound");
    let (s, v) = get(
        &tok,
        &format!("{co}/salesInvoices(00000000-0000-0000-0000-000000000001)"),
    )
    .await;
    assert_eq!(s, 404);
    assert!(v["error"]["code"].is_string());
    let (s, _) = get(&tok, &format!("{co}/salesInvoices?$expand=nope")).await;
    assert_eq!(s, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn extension_ledger_entries_switchable() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let cid = sim.company_ids()[0];
    let url = format!(
        "{}/v2.0/{}/{}/api/ledgerlink/ar/v1.0/companies({cid})/customerLedgerEntries",
        sim.base_url(),
        sim.tenant_id(),
        sim.environment()
    );
    let all = all_pages(&tok, &url, 50).await;
    assert!(!all.is_empty());
    assert!(
        all.iter()
            .all(|e| e["remainingAmount"].is_number() && e["@odata.etag"].is_string())
    );
    sim.set_extension(cid, false);
    let (s, v) = get(&tok, &url).await;
    assert_eq!(s, 404);
    assert_bc_error(&v, "BadRequest_ResourceNotFound");
    // Other company unaffected; on-prem prefix works too.
    let other = sim.company_ids()[1];
    assert_eq!(
        get(&tok, &url.replace(&cid.to_string(), &other.to_string()))
            .await
            .0,
        200
    );
    let (user, key) = sim.onprem_credentials().unwrap();
    let op = format!(
        "{}/BC/api/ledgerlink/ar/v1.0/companies({})/customerLedgerEntries",
        sim.base_url(),
        sim.onprem_company_ids()[0]
    );
    let r = client()
        .get(op)
        .basic_auth(user, Some(key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn large_pages_are_streamed_intact() {
    let sim = start_with(|c| {
        c.data.companies = 1;
        c.data.invoices = 1500;
        c.data.lines_per_invoice = 5;
    })
    .await;
    let tok = app_token(&sim).await;
    let co = company_url(&sim);
    // ~10 MB per page: several streamed chunks; the JSON must still be one valid document.
    let all = all_pages(
        &tok,
        &format!("{co}/salesInvoices?$expand=salesInvoiceLines"),
        1000,
    )
    .await;
    assert_eq!(all.len(), 1500);
    assert!(
        all.iter()
            .all(|i| i["salesInvoiceLines"].as_array().unwrap().len() == 5)
    );
    let ids: HashSet<&str> = all.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1500);
    sim.shutdown().await;
}
