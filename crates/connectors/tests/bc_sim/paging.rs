use std::collections::HashSet;

use chrono::{Duration, Utc};
use ledgerlink_connectors::business_central::BusinessCentral;
use ledgerlink_connectors::{
    Connector, ConnectorError, ErrorKind, HttpSettings, Page, PageRequest, Session, TimeWindow,
};
use serde_json::Value;

use crate::{authorize, cloud, config, connector, first_company, on_prem, sim};

/// Reads every page of a model; returns the records and the number of pages.
async fn read_all(
    bc: &BusinessCentral,
    session: &Session,
    mut req: PageRequest,
) -> (Vec<Value>, usize) {
    let mut records = Vec::new();
    let mut pages = 0;
    loop {
        let Page {
            records: mut page,
            next,
            ..
        } = bc.fetch_page(session, &req).await.unwrap();
        records.append(&mut page);
        pages += 1;
        match next {
            Some(next) => req.cursor = Some(next),
            None => return (records, pages),
        }
        assert!(pages < 1000, "paging does not end");
    }
}

fn request(model: &str, page_size: u32) -> PageRequest {
    PageRequest {
        model: model.into(),
        page_size: Some(page_size),
        ..Default::default()
    }
}

fn ids(records: &[Value]) -> HashSet<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn invoices_page_through_next_links_with_lines() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let session = cloud(&sim, &tokens, Some(first_company(&sim)));
    let (records, pages) = read_all(&bc, &session, request("invoices", 7)).await;
    assert_eq!(records.len(), 100);
    assert_eq!(ids(&records).len(), 100, "no record twice");
    assert_eq!(pages, 15);
    assert!(records.iter().all(|r| {
        r["salesInvoiceLines"]
            .as_array()
            .is_some_and(|l| l.len() == 3)
    }));
    assert!(records[0].get("dimensionSetLines").is_none());
}

#[tokio::test]
async fn dimension_lines_are_expanded_on_request() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let session = cloud(&sim, &tokens, Some(first_company(&sim)));
    let mut req = request("credit_memos", 50);
    req.include_dimension_lines = true;
    let page = bc.fetch_page(&session, &req).await.unwrap();
    assert!(!page.records.is_empty());
    let memo = &page.records[0];
    assert!(memo["dimensionSetLines"].is_array());
    assert!(memo["salesCreditMemoLines"][0]["dimensionSetLines"].is_array());
}

#[tokio::test]
async fn every_model_reads_in_the_cloud_and_on_prem() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let sessions = [
        cloud(&sim, &tokens, Some(first_company(&sim))),
        on_prem(&sim, Some(sim.onprem_company_ids()[0].to_string())),
    ];
    for session in &sessions {
        for model in bc.models() {
            let (records, _) = read_all(&bc, session, request(model.name, 500)).await;
            assert!(!records.is_empty(), "{} read nothing", model.name);
        }
        let (customers, _) = read_all(&bc, session, request("customers", 500)).await;
        assert_eq!(customers.len(), 20);
        assert!(customers[0]["customerFinancialDetail"].is_object());
        let (journals, _) = read_all(&bc, session, request("payments", 500)).await;
        let payments: usize = journals
            .iter()
            .map(|j| j["customerPayments"].as_array().unwrap().len())
            .sum();
        assert_eq!(payments, 3);
        let (dims, _) = read_all(&bc, session, request("dimensions", 500)).await;
        assert_eq!(dims.len(), 2);
        assert_eq!(dims[0]["dimensionValues"].as_array().unwrap().len(), 4);
    }
}

#[tokio::test]
async fn an_incremental_window_filters_on_last_modified() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let session = cloud(&sim, &tokens, Some(first_company(&sim)));
    let mut req = request("invoices", 1000);
    req.window = TimeWindow {
        modified_after: Some(Utc::now() + Duration::days(3650)),
        modified_until: None,
    };
    assert!(
        bc.fetch_page(&session, &req)
            .await
            .unwrap()
            .records
            .is_empty()
    );
    req.window = TimeWindow {
        modified_after: Some(Utc::now() - Duration::days(36500)),
        modified_until: Some(Utc::now() + Duration::days(1)),
    };
    let (records, _) = read_all(&bc, &session, req).await;
    assert_eq!(records.len(), 100);
}

#[tokio::test]
async fn the_extension_model_is_not_found_without_the_extension() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let session = cloud(&sim, &tokens, Some(first_company(&sim)));
    sim.set_extension(sim.company_ids()[0], false);
    let err = bc
        .fetch_page(&session, &request("customer_ledger_entries", 10))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn a_next_link_elsewhere_is_refused() {
    let sim = sim().await;
    let bc = connector(&sim);
    let session = on_prem(&sim, Some(sim.onprem_company_ids()[0].to_string()));
    let mut req = request("customers", 5);
    let first = bc.fetch_page(&session, &req).await.unwrap();
    let next = first.next.expect("more pages");
    let port = sim.addr().port();
    req.cursor = Some(next.replace(&format!(":{port}/BC/"), &format!(":{port}/other/")));
    let err = bc.fetch_page(&session, &req).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Invalid { .. }), "{err}");
    req.cursor = Some("http://169.254.169.254/latest/meta-data".into());
    assert!(bc.fetch_page(&session, &req).await.is_err());
}

#[tokio::test]
async fn bodies_over_the_cap_are_invalid() {
    let sim = sim().await;
    let mut cfg = config(&sim);
    cfg.http = HttpSettings {
        max_body_bytes: 4096,
        ..Default::default()
    };
    let bc = BusinessCentral::new(cfg).unwrap();
    let session = on_prem(&sim, Some(sim.onprem_company_ids()[0].to_string()));
    let err = bc
        .fetch_page(&session, &request("invoices", 100))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Invalid { .. }), "{err}");
}

#[tokio::test]
async fn fields_restrict_the_payload() {
    let sim = sim().await;
    let bc = connector(&sim);
    let session = on_prem(&sim, Some(sim.onprem_company_ids()[0].to_string()));
    let mut req = request("invoices", 5);
    req.fields = Some(vec![
        "id".into(),
        "number".into(),
        "lastModifiedDateTime".into(),
    ]);
    let page = bc.fetch_page(&session, &req).await.unwrap();
    let invoice = page.records[0].as_object().unwrap();
    assert!(invoice.contains_key("number") && invoice.contains_key("salesInvoiceLines"));
    assert!(!invoice.contains_key("customerName"));
    req.fields = Some(vec!["noSuchField".into()]);
    let err = bc.fetch_page(&session, &req).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
}
