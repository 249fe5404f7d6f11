//! The company's local currency: `companyInformation`, and blank currency codes as BC shows them.

mod common;

use bc_sim::{DataConfig, FaultConfig};
use common::*;
use serde_json::{Value, json};
use uuid::Uuid;

async fn put_local_currency(sim: &bc_sim::Sim, company: Uuid, body: Value) -> u16 {
    client()
        .put(format!(
            "{}/_sim/companies/{company}/localCurrency",
            sim.base_url()
        ))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn ledger_url(sim: &bc_sim::Sim) -> String {
    format!(
        "{}/v2.0/{}/{}/api/ledgerlink/ar/v1.0/companies({})/customerLedgerEntries",
        sim.base_url(),
        sim.tenant_id(),
        sim.environment(),
        sim.company_ids()[0]
    )
}

#[tokio::test]
async fn company_information_reports_each_companys_local_currency() {
    let sim = start_with(|c| {
        c.data = DataConfig {
            companies: 2,
            customers: 2,
            invoices: 2,
            credit_memos: 1,
            local_currency: "CAD".into(),
            ..Default::default()
        }
    })
    .await;
    let tok = app_token(&sim).await;
    let [first, second] = [sim.company_ids()[0], sim.company_ids()[1]];
    let info_url = |c: Uuid| format!("{}/companies({c})/companyInformation", sim.api_base());

    let (s, v) = get(&tok, &info_url(first)).await;
    assert_eq!(s, 200, "{v}");
    let all = v["value"].as_array().unwrap();
    assert_eq!(all.len(), 1, "one entity per company: {v}");
    let info = &all[0];
    assert_eq!(info["currencyCode"], "CAD");
    assert!(info["displayName"].as_str().is_some_and(|n| !n.is_empty()));
    for field in ["addressLine1", "city", "state", "country", "postalCode"] {
        assert!(info[field].is_string(), "{field}: {info}");
    }
    assert!(info["lastModifiedDateTime"].is_string());
    let id = info["id"].as_str().unwrap();
    assert_ne!(id, first.to_string(), "its own SystemId, not the company's");
    let (s, one) = get(&tok, &format!("{}({id})", info_url(first))).await;
    assert_eq!((s, &one["currencyCode"]), (200, &json!("CAD")), "{one}");
    let (s, sel) = get(&tok, &format!("{}?$select=currencyCode", info_url(first))).await;
    assert_eq!(s, 200);
    assert_eq!(sel["value"][0]["currencyCode"], "CAD");
    assert!(sel["value"][0].get("city").is_none(), "{sel}");

    // One company's local currency changes; the other's does not.
    assert_eq!(
        put_local_currency(&sim, second, json!({"code": "GBP"})).await,
        200
    );
    assert_eq!(
        put_local_currency(&sim, second, json!({"code": " "})).await,
        400
    );
    assert!(sim.set_local_currency(first, "CAD"));
    assert!(!sim.set_local_currency(Uuid::nil(), "CAD"));
    assert_eq!(
        get(&tok, &info_url(second)).await.1["value"][0]["currencyCode"],
        "GBP"
    );
    assert_eq!(
        get(&tok, &info_url(first)).await.1["value"][0]["currencyCode"],
        "CAD"
    );
    let (_, info) = get(&tok, &format!("{}/_sim/info", sim.base_url())).await;
    assert_eq!(
        info["environments"][0]["companies"][1]["localCurrency"],
        "GBP"
    );
}

#[tokio::test]
async fn blank_codes_show_as_the_lcy_code_in_standard_pages_and_blank_in_the_extension() {
    let sim = start_with(|c| {
        c.data = DataConfig {
            companies: 1,
            customers: 7, // the seventh generated customer invoices in EUR
            invoices: 20,
            credit_memos: 3,
            local_currency: "CAD".into(),
            ..Default::default()
        }
    })
    .await;
    let tok = app_token(&sim).await;
    let co = company_url(&sim);
    let customers = all_pages(&tok, &format!("{co}/customers"), 100).await;
    let foreign: Vec<&Value> = customers
        .iter()
        .filter(|c| c["currencyCode"] != "CAD")
        .collect();
    assert_eq!(foreign.len(), 1, "{customers:?}");
    assert_eq!(foreign[0]["currencyCode"], "EUR");
    assert_ne!(foreign[0]["currencyId"], Uuid::nil().to_string());
    let eur_customer = foreign[0]["id"].as_str().unwrap();
    for c in customers.iter().filter(|c| c["currencyCode"] == "CAD") {
        assert_eq!(
            c["currencyId"],
            Uuid::nil().to_string(),
            "LCY: no currency record"
        );
    }
    for set in ["salesInvoices", "salesCreditMemos"] {
        let docs = all_pages(&tok, &format!("{co}/{set}"), 100).await;
        assert!(!docs.is_empty());
        for d in docs {
            let want = if d["customerId"] == eur_customer {
                "EUR"
            } else {
                "CAD"
            };
            assert_eq!(d["currencyCode"], want, "{set}: {d}");
        }
    }
    let entries = all_pages(&tok, &ledger_url(&sim), 100).await;
    assert!(entries.iter().any(|e| e["customerId"] == eur_customer));
    for e in &entries {
        let want = if e["customerId"] == eur_customer {
            "EUR"
        } else {
            ""
        };
        assert_eq!(e["currencyCode"], want, "the table's own code: {e}");
    }

    // A customer created in the local currency is stored blank: it follows a new LCY code.
    let (s, created) = {
        let r = client()
            .post(format!(
                "{}/_sim/companies/{}/customers",
                sim.base_url(),
                sim.company_ids()[0]
            ))
            .json(&json!({"displayName": "Maple Ltd", "currencyCode": "CAD"}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(s, 200, "{created}");
    let id = created["id"].as_str().unwrap();
    assert!(sim.set_local_currency(sim.company_ids()[0], "USD"));
    let (_, c) = get(&tok, &format!("{co}/customers({id})")).await;
    assert_eq!(c["currencyCode"], "USD");
    let (_, c) = get(&tok, &format!("{co}/customers({eur_customer})")).await;
    assert_eq!(c["currencyCode"], "EUR");
}

#[tokio::test]
async fn company_information_can_be_absent_like_on_old_versions() {
    let sim = start_with(|c| c.data.companies = 1).await;
    let tok = app_token(&sim).await;
    let co = company_url(&sim);
    sim.set_faults(FaultConfig {
        company_information_absent: vec![sim.company_ids()[0]],
        ..Default::default()
    });
    let (s, v) = get(&tok, &format!("{co}/companyInformation")).await;
    assert_eq!(s, 404, "{v}");
    assert_bc_error(&v, "BadRequest_ResourceNotFound");
    assert_eq!(get(&tok, &format!("{co}/customers")).await.0, 200);
    sim.set_faults(FaultConfig::default());
    let (s, v) = get(&tok, &format!("{co}/companyInformation")).await;
    assert_eq!(
        (s, &v["value"][0]["currencyCode"]),
        (200, &json!("USD")),
        "{v}"
    );
}
