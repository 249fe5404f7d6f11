//! Every model read from a real bc-sim over HTTP (the connector's own `fetch_page`, with the `$expand`
//! of `models.rs`) and mapped, checked against the simulator's values.

use bc_sim::{DataConfig, Sim, SimConfig};
use ledgerlink_domain::records::{Decimal, Invoice};
use serde_json::Value;

use super::*;
use crate::business_central::{BcConfig, BusinessCentral};
use crate::{Connector, Credentials, PageRequest, Session, SsrfPolicy, Target};

async fn fetch_all(bc: &BusinessCentral, session: &Session, model: &str) -> Vec<Value> {
    let req = PageRequest {
        model: model.into(),
        include_dimension_lines: true,
        ..Default::default()
    };
    fetch_all_with(bc, session, req).await
}

/// Every record `req` (its first page) leads to, in pages of 5.
pub(super) async fn fetch_all_with(
    bc: &BusinessCentral,
    session: &Session,
    mut req: PageRequest,
) -> Vec<Value> {
    req.page_size = Some(5);
    let model = req.model.clone();
    let mut records = Vec::new();
    for _ in 0..100 {
        let page = bc.fetch_page(session, &req).await.expect(&model);
        records.extend(page.records);
        match page.next {
            Some(next) => req.cursor = Some(next),
            None => return records,
        }
    }
    panic!("{model}: paging does not end");
}

pub(super) async fn start() -> (Sim, BusinessCentral, Session) {
    let data = DataConfig {
        companies: 1,
        customers: 6,
        invoices: 15,
        credit_memos: 4,
        ..Default::default()
    };
    let sim = Sim::start(SimConfig {
        data,
        ..Default::default()
    })
    .await
    .expect("bc-sim starts");
    let base: url::Url = sim.base_url().parse().unwrap();
    let bc = BusinessCentral::new(BcConfig {
        login_base_url: base.clone(),
        api_base_url: base,
        app: Some(crate::business_central::EntraApp::new(
            sim.client_id(),
            sim.client_secret().into(),
            sim.redirect_uri().parse().unwrap(),
        )),
        ssrf: SsrfPolicy::default().with_http(true).allow("127.0.0.1"),
        ..Default::default()
    })
    .unwrap();
    let tokens = bc
        .client_credentials(&sim.tenant_id().to_string())
        .await
        .unwrap();
    let session = Session {
        target: Target {
            api_url: None,
            tenant_id: Some(sim.tenant_id().to_string()),
            environment: Some(sim.environment()),
            company_id: Some(sim.company_ids()[0].to_string()),
        },
        credentials: Credentials::Bearer(tokens.access_token),
    };
    (sim, bc, session)
}

/// `lastModifiedDateTime` → `remote_modified_at`, with BC's "never" stamp as `None`.
fn check_stamp(raw: &Value, mapped: &MappedRecord) {
    match raw["lastModifiedDateTime"].as_str() {
        None => assert_eq!(mapped.remote_modified_at, None),
        Some(never) if never.starts_with("0001-01-01") => {
            assert_eq!(mapped.remote_modified_at, None)
        }
        Some(stamp) => {
            let at = mapped.remote_modified_at.expect("a stamp");
            assert_eq!(at, chrono::DateTime::parse_from_rfc3339(stamp).unwrap());
        }
    }
}

#[tokio::test]
async fn every_bc_sim_record_maps_to_its_unified_shape() {
    let (_sim, bc, session) = start().await;
    let ctx = MappingContext {
        local_currency: Some("USD".into()),
    };
    let mut counts = std::collections::BTreeMap::new();
    for spec in crate::business_central::models::MODELS {
        let raws = fetch_all(&bc, &session, spec.name).await;
        let mut mapped_count = 0;
        for raw in &raws {
            let mapped = map_fetched(spec.name, raw, &ctx)
                .unwrap_or_else(|e| panic!("{}: {e}\n{raw:#}", spec.name));
            if spec.name == "payments" {
                check_payments(raw, &mapped);
            } else {
                assert_eq!(mapped.len(), 1);
                assert_eq!(mapped[0].remote_id, raw["id"].as_str().unwrap());
                check_stamp(raw, &mapped[0]);
            }
            if spec.name == "invoices" {
                check_invoice(raw, &mapped[0]);
            }
            if spec.name != "payments" && spec.name != "contacts" && spec.name != "dimensions" {
                // BC's blank local currency (the extension's ledger entries send it) is resolved.
                let cur = &mapped[0].data["currency"];
                assert!(
                    cur.as_str().is_some_and(|c| !c.is_empty()),
                    "{}: {cur}",
                    spec.name
                );
            }
            mapped_count += mapped.len();
        }
        counts.insert(spec.name, mapped_count);
    }
    assert_eq!(counts["customers"], 6, "{counts:?}");
    assert_eq!(counts["invoices"], 15, "{counts:?}");
    assert_eq!(counts["credit_memos"], 4, "{counts:?}");
    assert!(counts["payments"] > 0, "{counts:?}");
    assert!(counts["customer_ledger_entries"] >= 19, "{counts:?}");
    assert!(
        counts["contacts"] > 0 && counts["dimensions"] > 0,
        "{counts:?}"
    );
}

fn check_invoice(raw: &Value, mapped: &MappedRecord) {
    let invoice: Invoice = serde_json::from_value(mapped.data.clone()).unwrap();
    assert_eq!(
        invoice.lines.len(),
        raw["salesInvoiceLines"].as_array().unwrap().len()
    );
    // bc-sim, like BC, always sends the amounts.
    let lines_total: Decimal = invoice
        .lines
        .iter()
        .map(|l| l.amount_including_tax.unwrap())
        .sum();
    assert_eq!(
        invoice.total_amount,
        Some(lines_total),
        "{:?}",
        invoice.number
    );
    let lines_subtotal: Decimal = invoice
        .lines
        .iter()
        .map(|l| l.amount_excluding_tax.unwrap())
        .sum();
    assert_eq!(
        invoice.subtotal,
        Some(lines_subtotal),
        "{:?}",
        invoice.number
    );
    // Exactly BC's digits, not a float's.
    assert_eq!(
        mapped.data["total_amount"].to_string(),
        raw["totalAmountIncludingTax"].to_string()
    );
    assert_eq!(raw["promisedPayDate"], "0001-01-01");
    assert_eq!(invoice.promised_pay_date, None);
    assert!(invoice.issue_date.is_some() && invoice.dimensions.is_some());
    assert_eq!(invoice.currency.as_deref(), raw["currencyCode"].as_str());
    if raw["status"] == "Paid" {
        assert_eq!(invoice.amount_paid, invoice.total_amount);
    }
}

fn check_payments(journal: &Value, mapped: &[MappedRecord]) {
    let lines = journal["customerPayments"].as_array().unwrap();
    assert_eq!(mapped.len(), lines.len());
    for (raw, record) in lines.iter().zip(mapped) {
        assert_eq!(record.remote_id, raw["id"].as_str().unwrap());
        let bc_amount = Decimal::parse(&raw["amount"].to_string()).unwrap();
        assert_eq!(
            record.data["amount"],
            serde_json::to_value(-bc_amount).unwrap()
        );
        assert!(
            bc_amount < Decimal::ZERO,
            "bc-sim books receipts as negative amounts"
        );
        check_stamp(raw, record);
    }
}

/// A streamed page sends the same records as the page read whole, and each maps to the same JSON
/// text as the mapped record serialized (so stored hashes do not change with the way of reading).
#[tokio::test]
async fn streamed_pages_hold_the_same_records_and_map_to_the_same_text() {
    let (_sim, bc, session) = start().await;
    let ctx = MappingContext::default();
    for spec in crate::business_central::models::MODELS {
        let mut req = PageRequest {
            model: spec.name.into(),
            include_dimension_lines: true,
            page_size: Some(4),
            ..Default::default()
        };
        let mut streamed: Vec<Value> = Vec::new();
        let mut whole: Vec<Value> = Vec::new();
        loop {
            let page = bc.fetch_page(&session, &req).await.unwrap();
            let (tx, mut rx) = tokio::sync::mpsc::channel(1000);
            let end = bc.stream_page(&session, &req, &tx).await.unwrap();
            drop(tx);
            while let Some(event) = rx.recv().await {
                let crate::PageEvent::Records(raws) = event else {
                    panic!("only records")
                };
                let values = raws.iter().map(|r| serde_json::from_str(r).unwrap());
                streamed.extend(values);
            }
            assert_eq!((&end.next, end.total), (&page.next, page.total));
            whole.extend(page.records);
            match end.next {
                Some(next) => req.cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(streamed, whole, "{}", spec.name);
        assert!(!whole.is_empty(), "{}", spec.name);
        for raw in &whole {
            let text = map_fetched_text(spec.name, &raw.to_string(), &ctx).unwrap();
            let value = map_fetched_each(spec.name, raw, &ctx);
            assert_eq!(text.len(), value.len());
            for (t, v) in text.iter().zip(&value) {
                let (t, v) = (t.as_ref().unwrap(), v.as_ref().unwrap());
                assert_eq!(&*t.data, v.data.to_string(), "{}", spec.name);
                assert_eq!(t.remote_id, v.remote_id);
            }
        }
    }
}
