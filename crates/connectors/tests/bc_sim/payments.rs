//! Payment write-back against bc-sim: our own journal, one payment's lines across three invoices in
//! one `$batch`, posting, finding the posted payment again, BC's business refusals.

use std::collections::BTreeMap;
use std::str::FromStr;

use bc_sim::Sim;
use chrono::{DateTime, NaiveDate};
use ledgerlink_connectors::business_central::BusinessCentral;
use ledgerlink_connectors::{
    Connector, ConnectorError, ErrorKind, NewPaymentLine, PageRequest, ReadScope, Session,
};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::{authorize, cloud, connector, first_company, on_prem, sim};

const BATCH: &str = "POST /api/v2.0/$batch";
const LINES: &str = "POST /api/v2.0/companies/customerPaymentJournals/customerPayments";

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn count(sim: &Sim, key: &str) -> u64 {
    sim.request_counts().get(key).copied().unwrap_or(0)
}

fn today(sim: &Sim) -> NaiveDate {
    DateTime::from_timestamp_millis(sim.now_ms())
        .unwrap()
        .date_naive()
}

/// Open invoices (remaining amount > 0) by customer id.
async fn open_invoices(bc: &BusinessCentral, session: &Session) -> BTreeMap<String, Vec<Value>> {
    let mut by_customer: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut req = PageRequest {
        model: "invoices".into(),
        page_size: Some(500),
        ..Default::default()
    };
    loop {
        let page = bc.fetch_page(session, &req).await.unwrap();
        for invoice in page.records {
            let remaining = Decimal::from_str(&invoice["remainingAmount"].to_string()).unwrap();
            if invoice["status"] == "Open" && remaining > dec("30") {
                let customer = invoice["customerId"].as_str().unwrap().to_owned();
                by_customer.entry(customer).or_default().push(invoice);
            }
        }
        match page.next {
            Some(next) => req.cursor = Some(next),
            None => return by_customer,
        }
    }
}

/// A customer with at least three open invoices, and three of them.
async fn customer_with_three_invoices(
    bc: &BusinessCentral,
    session: &Session,
) -> (String, Vec<Value>) {
    let (customer, invoices) = open_invoices(bc, session)
        .await
        .into_iter()
        .find(|(_, invoices)| invoices.len() >= 3)
        .expect("a customer with three open invoices");
    (customer, invoices.into_iter().take(3).collect())
}

async fn remaining(bc: &BusinessCentral, session: &Session, invoice_id: &str) -> Decimal {
    let req = PageRequest {
        model: "invoices".into(),
        scope: ReadScope::Ids(vec![invoice_id.to_owned()]),
        ..Default::default()
    };
    let page = bc.fetch_page(session, &req).await.unwrap();
    Decimal::from_str(&page.records[0]["remainingAmount"].to_string()).unwrap()
}

/// Our own journal, balanced against the account the sim's default journal uses.
async fn our_journal(bc: &BusinessCentral, session: &Session, code: &str) -> String {
    let existing = bc.payment_journals(session).await.unwrap();
    let balancing = existing.iter().find_map(|j| j.balancing_account_id.clone());
    let journal = bc
        .create_payment_journal(session, code, "ledgerlink payments", balancing.as_deref())
        .await
        .unwrap();
    assert_eq!(journal.code, code.to_uppercase());
    assert_eq!(journal.display_name, "ledgerlink payments");
    assert_eq!(journal.balancing_account_id, balancing);
    journal.id
}

fn line(
    customer: &str,
    invoice: &Value,
    amount: Decimal,
    date: NaiveDate,
    doc: &str,
) -> NewPaymentLine {
    NewPaymentLine {
        customer_id: customer.to_owned(),
        applies_to_invoice_id: invoice["id"].as_str().unwrap().to_owned(),
        amount,
        posting_date: date,
        document_number: doc.to_owned(),
        external_document_number: "bank-tx-7781".into(),
        description: format!("ledgerlink payment for invoice {}", invoice["number"]),
    }
}

#[tokio::test]
async fn one_payment_across_three_invoices_is_written_in_one_batch_and_posted() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let session = cloud(&sim, &tokens, Some(first_company(&sim)));
    let journal = our_journal(&bc, &session, "ll-pay").await;
    let listed = bc.payment_journals(&session).await.unwrap();
    assert!(listed.iter().any(|j| j.id == journal && j.code == "LL-PAY"));
    assert!(
        bc.journal_payment_lines(&session, &journal)
            .await
            .unwrap()
            .is_empty()
    );

    let (customer, invoices) = customer_with_three_invoices(&bc, &session).await;
    let amounts = [dec("10.00"), dec("20.50"), dec("0.01")];
    let mut before = Vec::new();
    for invoice in &invoices {
        before.push(remaining(&bc, &session, invoice["id"].as_str().unwrap()).await);
    }
    let date = today(&sim);
    let lines: Vec<NewPaymentLine> = invoices
        .iter()
        .zip(amounts)
        .map(|(invoice, amount)| line(&customer, invoice, amount, date, "ll-wr-01j9zk"))
        .collect();
    let (batches, posts) = (count(&sim, BATCH), count(&sim, LINES));
    let ids = bc
        .create_payment_lines(&session, &journal, &lines)
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);
    assert_eq!(count(&sim, BATCH), batches + 1, "one $batch request");
    assert_eq!(count(&sim, LINES), posts, "no line posted on its own");

    let in_bc = bc.journal_payment_lines(&session, &journal).await.unwrap();
    assert_eq!(in_bc.len(), 3);
    for (id, (invoice, amount)) in ids.iter().zip(invoices.iter().zip(amounts)) {
        let l = in_bc
            .iter()
            .find(|l| &l.id == id)
            .expect("created line listed");
        assert_eq!(l.amount, amount, "positive again, exactly");
        assert_eq!(l.customer_id.as_deref(), Some(customer.as_str()));
        assert_eq!(l.applies_to_invoice_id.as_deref(), invoice["id"].as_str());
        assert_eq!(l.document_number, "LL-WR-01J9ZK");
        assert_eq!(l.external_document_number, "BANK-TX-7781");
        assert_eq!(l.posting_date, Some(date));
    }

    assert_eq!(
        bc.find_posted_payment(&session, "ll-wr-01j9zk")
            .await
            .unwrap(),
        None
    );
    bc.post_payment_journal(&session, &journal).await.unwrap();
    assert!(
        bc.journal_payment_lines(&session, &journal)
            .await
            .unwrap()
            .is_empty()
    );

    let posted = bc
        .find_posted_payment(&session, "ll-wr-01j9zk")
        .await
        .unwrap()
        .expect("the posted payment is found by its document number");
    assert_eq!(posted.document_number, "LL-WR-01J9ZK");
    assert_eq!(posted.amount, dec("30.51"));
    assert_eq!(posted.posting_date, date);
    assert!(!posted.entry_numbers.is_empty());
    for ((invoice, amount), was) in invoices.iter().zip(amounts).zip(before) {
        let now = remaining(&bc, &session, invoice["id"].as_str().unwrap()).await;
        assert_eq!(now, was - amount, "invoice {}", invoice["number"]);
    }

    let err = bc
        .post_payment_journal(&session, &journal)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Business, "{err}");
    assert!(
        err.to_string().contains("There is nothing to post."),
        "{err}"
    );
}

#[tokio::test]
async fn a_single_line_is_a_plain_post_on_prem_too() {
    let sim = sim().await;
    let bc = connector(&sim);
    let session = on_prem(&sim, Some(sim.onprem_company_ids()[0].to_string()));
    let journal = our_journal(&bc, &session, "LL1").await;
    let (customer, invoices) = customer_with_three_invoices(&bc, &session).await;
    let batches = count(&sim, BATCH);
    let one = line(&customer, &invoices[0], dec("1"), today(&sim), "LL-ONE");
    let ids = bc
        .create_payment_lines(&session, &journal, &[one])
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(count(&sim, BATCH), batches, "no $batch for one line");
    let listed = bc.journal_payment_lines(&session, &journal).await.unwrap();
    assert_eq!(
        listed.iter().map(|l| &l.id).collect::<Vec<_>>(),
        vec![&ids[0]]
    );
    assert!(
        bc.create_payment_lines(&session, &journal, &[])
            .await
            .unwrap()
            .is_empty()
    );
    let two: Vec<NewPaymentLine> = invoices[1..]
        .iter()
        .map(|invoice| line(&customer, invoice, dec("1"), today(&sim), "LL-TWO"))
        .collect();
    let ids = bc
        .create_payment_lines(&session, &journal, &two)
        .await
        .unwrap();
    assert_eq!(count(&sim, BATCH), batches + 1, "on-prem batches too");
    assert_eq!(
        bc.journal_payment_lines(&session, &journal)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(ids.len(), 2);
}

#[tokio::test]
async fn business_refusals_carry_bcs_message_and_are_not_retryable() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let session = cloud(&sim, &tokens, Some(first_company(&sim)));
    let journal = our_journal(&bc, &session, "LLERR").await;
    let invoices = open_invoices(&bc, &session).await;
    let mut customers = invoices.iter();
    let (customer, theirs) = customers.next().unwrap();
    let (_, others) = customers.next().unwrap();
    // The second line applies to another customer's invoice: BC refuses it.
    let lines = vec![
        line(customer, &theirs[0], dec("5"), today(&sim), "LL-BAD"),
        line(customer, &others[0], dec("5"), today(&sim), "LL-BAD"),
    ];
    let err = bc
        .create_payment_lines(&session, &journal, &lines)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Business, "{err}");
    assert!(!err.is_retryable());
    assert_eq!(err.provider_code(), Some("Application_DialogException"));
    let ConnectorError::Business { message, .. } = &err else {
        unreachable!()
    };
    assert_eq!(
        message,
        "The customer of the invoice is not the same as the customer of the payment."
    );

    let err = bc
        .create_payment_journal(&session, "LLERR", "again", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Business, "{err}");
    assert_eq!(
        err.provider_code(),
        Some("Internal_EntityWithSameKeyExists")
    );

    let mut bad = line(customer, &theirs[0], dec("5"), today(&sim), "LL-BAD");
    bad.document_number = "X".repeat(21);
    let err = bc
        .create_payment_lines(&session, &journal, &[bad])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "refused before BC: {err}");
}

#[tokio::test]
async fn document_numbers_with_quotes_are_searched_for_literally() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let session = cloud(&sim, &tokens, Some(first_company(&sim)));
    for odd in ["O'BRIEN", "'", "A'' OR 1 EQ 1", "X&$TOP=1#%+"] {
        let found = bc.find_posted_payment(&session, odd).await.unwrap();
        assert_eq!(found, None, "{odd}");
    }
    let journal = our_journal(&bc, &session, "LLQ").await;
    let (customer, invoices) = customer_with_three_invoices(&bc, &session).await;
    let doc = "O'BRIEN & 'SONS' #1";
    let lines: Vec<NewPaymentLine> = invoices[..2]
        .iter()
        .map(|invoice| line(&customer, invoice, dec("2.5"), today(&sim), doc))
        .collect();
    bc.create_payment_lines(&session, &journal, &lines)
        .await
        .unwrap();
    bc.post_payment_journal(&session, &journal).await.unwrap();
    let posted = bc
        .find_posted_payment(&session, doc)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(posted.document_number, doc.to_uppercase());
    assert_eq!(posted.amount, dec("5"));
    assert_eq!(
        bc.find_posted_payment(&session, "O'BRIEN").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn throttling_and_outages_stay_retryable_for_writes() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let session = cloud(&sim, &tokens, Some(first_company(&sim)));
    let journal = our_journal(&bc, &session, "LLRETRY").await;
    let (customer, invoices) = customer_with_three_invoices(&bc, &session).await;
    let lines: Vec<NewPaymentLine> = invoices
        .iter()
        .map(|invoice| line(&customer, invoice, dec("1"), today(&sim), "LL-RETRY"))
        .collect();
    for (faults, want) in [
        (
            bc_sim::FaultConfig {
                throttle_rate: 1.0,
                ..Default::default()
            },
            [ErrorKind::RateLimited].as_slice(),
        ),
        (
            bc_sim::FaultConfig {
                error_5xx_rate: 1.0,
                ..Default::default()
            },
            &[ErrorKind::Transient, ErrorKind::RateLimited],
        ),
        (
            bc_sim::FaultConfig {
                forbidden: true,
                ..Default::default()
            },
            &[ErrorKind::Forbidden],
        ),
        (
            bc_sim::FaultConfig {
                tokens_expired: true,
                ..Default::default()
            },
            &[ErrorKind::Unauthorized],
        ),
    ] {
        sim.set_faults(faults);
        let err = bc
            .create_payment_lines(&session, &journal, &lines)
            .await
            .unwrap_err();
        assert!(want.contains(&err.kind()), "{err}");
        let err = bc
            .post_payment_journal(&session, &journal)
            .await
            .unwrap_err();
        assert!(want.contains(&err.kind()), "{err}");
    }
    sim.set_faults(bc_sim::FaultConfig::default());
    assert!(
        bc.journal_payment_lines(&session, &journal)
            .await
            .unwrap()
            .is_empty()
    );
}
