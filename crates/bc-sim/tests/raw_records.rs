//! Records that break the API's write rules: BC's tables hold what its pages refuse (empty names,
//! zero GUIDs, `0001-01-01`, absent or extra properties), and a test may even serve what no BC
//! could send (`"abc"` for an amount). `patch_raw` / `insert_raw` and their admin routes.

mod common;

use std::time::Duration;

use bc_sim::RawPatch;
use common::*;
use serde_json::{Value, json};
use uuid::Uuid;

const ZERO: &str = "00000000-0000-0000-0000-000000000000";

#[tokio::test]
async fn a_raw_patch_serves_values_verbatim_and_is_a_modification() {
    let sim = start_with(|c| c.webhook_auto_delivery = false).await;
    let tok = app_token(&sim).await;
    let cid = sim.company_ids()[0];
    let co = company_url(&sim);
    let (_, list) = get(&tok, &format!("{co}/customers?$top=1")).await;
    let cust = list["value"][0].clone();
    let id: Uuid = cust["id"].as_str().unwrap().parse().unwrap();
    sim.advance_clock(Duration::from_secs(60));
    let before = sim_now(&sim);
    sim.advance_clock(Duration::from_secs(60));
    sim.patch_raw_with(
        cid,
        "customers",
        id,
        RawPatch::set(json!({
            "displayName": "",
            "currencyId": ZERO,
            "creditLimit": "abc",
            "x_migratedFrom": {"system": "NAV 2009"},
        }))
        .remove(&["email"]),
    )
    .unwrap();
    let (s, got) = get(&tok, &format!("{co}/customers({id})")).await;
    assert_eq!(s, 200);
    assert_eq!(got["displayName"], "");
    assert_eq!(got["currencyId"], ZERO);
    assert_eq!(got["creditLimit"], "abc");
    assert_eq!(got["x_migratedFrom"], json!({"system": "NAV 2009"}));
    assert!(got.get("email").is_none(), "{got}");
    assert_eq!(got["number"], cust["number"], "untouched properties stay");
    assert_ne!(got["lastModifiedDateTime"], cust["lastModifiedDateTime"]);
    assert_ne!(got["@odata.etag"], cust["@odata.etag"]);
    assert_eq!(
        modified_after(&tok, &format!("{co}/customers"), &before).await,
        [id.to_string()]
    );
    // In collections, with $select (no extra properties then), and to $filter.
    let (_, sel) = get(
        &tok,
        &format!("{co}/customers?$filter=displayName eq ''&$select=id,displayName,email"),
    )
    .await;
    let rows = sel["value"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{sel}");
    assert_eq!(rows[0]["displayName"], "");
    assert!(rows[0].get("email").is_none());
    assert!(rows[0].get("x_migratedFrom").is_none());
    let (_, expanded) = get(
        &tok,
        &format!(
            "{co}/salesInvoices?$filter=customerId eq {id}&$top=1&$expand=customer($select=id,displayName)"
        ),
    )
    .await;
    if let Some(inv) = expanded["value"].get(0) {
        assert_eq!(inv["customer"]["displayName"], "");
    }
    // A later patch can restore a property.
    sim.patch_raw(cid, "customers", id, json!({"email": "ap@example.com"}))
        .unwrap();
    let (_, got) = get(&tok, &format!("{co}/customers({id})")).await;
    assert_eq!(got["email"], "ap@example.com");
    assert_eq!(got["displayName"], "");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_silent_raw_patch_leaves_stamp_and_etag() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let cid = sim.company_ids()[0];
    let co = company_url(&sim);
    let (_, list) = get(
        &tok,
        &format!("{co}/salesInvoices?$filter=status eq 'Open'&$top=1"),
    )
    .await;
    let inv = list["value"][0].clone();
    let id: Uuid = inv["id"].as_str().unwrap().parse().unwrap();
    sim.advance_clock(Duration::from_secs(60));
    let before = sim_now(&sim);
    sim.patch_raw_with(
        cid,
        "salesInvoices",
        id,
        RawPatch::set(json!({"remainingAmount": "abc", "dueDate": "0001-01-01"})).silent(),
    )
    .unwrap();
    let (_, got) = get(&tok, &format!("{co}/salesInvoices({id})")).await;
    assert_eq!(got["remainingAmount"], "abc");
    assert_eq!(got["dueDate"], "0001-01-01");
    assert_eq!(got["lastModifiedDateTime"], inv["lastModifiedDateTime"]);
    assert_eq!(got["@odata.etag"], inv["@odata.etag"]);
    assert!(
        modified_after(&tok, &format!("{co}/salesInvoices"), &before)
            .await
            .is_empty()
    );
    // $filter reads the served value.
    let (_, by_due) = get(
        &tok,
        &format!("{co}/salesInvoices?$filter=dueDate eq 0001-01-01&$select=id"),
    )
    .await;
    assert_eq!(by_due["value"].as_array().unwrap().len(), 1, "{by_due}");
    sim.shutdown().await;
}

#[tokio::test]
async fn records_that_break_the_write_rules_can_be_inserted() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let cid = sim.company_ids()[0];
    let co = company_url(&sim);
    let cust = sim
        .insert_raw(
            cid,
            "customers",
            json!({"displayName": "", "blocked": "Bogus"}),
        )
        .unwrap();
    let inv = sim
        .insert_raw(
            cid,
            "salesInvoices",
            json!({
                "customerId": ZERO,
                "invoiceDate": "0001-01-01",
                "totalAmountIncludingTax": "abc",
                "lines": [{"quantity": 2, "unitPrice": 10}],
            }),
        )
        .unwrap();
    let (_, c) = get(&tok, &format!("{co}/customers({cust})")).await;
    assert_eq!(c["displayName"], "");
    assert_eq!(c["blocked"], "Bogus");
    let (_, i) = get(
        &tok,
        &format!("{co}/salesInvoices({inv})?$expand=salesInvoiceLines"),
    )
    .await;
    assert_eq!(i["customerId"], ZERO);
    assert_eq!(i["invoiceDate"], "0001-01-01");
    assert_eq!(i["totalAmountIncludingTax"], "abc");
    assert_eq!(i["salesInvoiceLines"].as_array().unwrap().len(), 1);
    assert!(
        i.get("lines").is_none(),
        "lines shape the record, not the wire"
    );
    let ids: Vec<String> = all_pages(&tok, &format!("{co}/salesInvoices"), 1000)
        .await
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&inv.to_string()));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_admin_routes_patch_and_insert_raw_records() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let cid = sim.company_ids()[0];
    let co = company_url(&sim);
    let (s, created) = admin_call(
        &sim,
        reqwest::Method::POST,
        &format!("companies/{cid}/raw/customers"),
        json!({"displayName": "", "taxAreaId": ZERO}),
    )
    .await;
    assert_eq!(s, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (s, v) = admin_call(
        &sim,
        reqwest::Method::PATCH,
        &format!("companies/{cid}/raw/customers/{id}"),
        json!({"properties": {"balanceDue": "abc"}, "remove": ["phoneNumber"], "touch": false}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (_, got) = get(&tok, &format!("{co}/customers({id})")).await;
    assert_eq!(got["displayName"], "");
    assert_eq!(got["taxAreaId"], ZERO);
    assert_eq!(got["balanceDue"], "abc");
    assert!(got.get("phoneNumber").is_none());
    // Errors: an unknown set, an unknown record, the id itself.
    let cases: [(String, Value, u16); 3] = [
        (format!("companies/{cid}/raw/vendors/{id}"), json!({}), 404),
        (
            format!("companies/{cid}/raw/customers/{}", Uuid::new_v4()),
            json!({"properties": {"displayName": "x"}}),
            404,
        ),
        (
            format!("companies/{cid}/raw/customers/{id}"),
            json!({"properties": {"id": ZERO}}),
            400,
        ),
    ];
    for (path, body, want) in cases {
        let (s, v) = admin_call(&sim, reqwest::Method::PATCH, &path, body).await;
        assert_eq!(s, want, "{path}: {v}");
    }
    sim.shutdown().await;
}
