use super::*;

const CUSTOMER: &str = "11111111-2222-3333-4444-555555555555";
const INVOICE: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

fn line() -> NewPaymentLine {
    NewPaymentLine {
        customer_id: CUSTOMER.into(),
        applies_to_invoice_id: INVOICE.into(),
        amount: Decimal::from_str("1500.25").unwrap(),
        posting_date: NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
        document_number: "ll-01j9zk".into(),
        external_document_number: "bank tx 42".into(),
        description: "Payment".into(),
    }
}

#[test]
fn a_line_goes_out_negative_with_upper_case_codes() {
    let body = line_body(&line()).unwrap();
    assert_eq!(body["amount"].to_string(), "-1500.25", "exact, negated");
    assert_eq!(body["documentNumber"], "LL-01J9ZK");
    assert_eq!(body["externalDocumentNumber"], "BANK TX 42");
    assert_eq!(body["postingDate"], "2026-06-30");
    assert_eq!(body["customerId"], CUSTOMER);
    assert_eq!(body["appliesToInvoiceId"], INVOICE);
    assert!(body.get("journalId").is_none(), "the URL names the journal");
}

#[test]
fn bad_lines_are_refused_before_anything_is_sent() {
    let refused = |change: fn(&mut NewPaymentLine)| {
        let mut l = line();
        change(&mut l);
        line_body(&l).unwrap_err()
    };
    assert!(refused(|l| l.amount = Decimal::ZERO).contains("not positive"));
    assert!(refused(|l| l.amount = Decimal::from(-5)).contains("not positive"));
    assert!(refused(|l| l.document_number = "X".repeat(21)).contains("longer than 20"));
    assert!(refused(|l| l.document_number = "  ".into()).contains("empty"));
    // `ß` upper-cases to `SS`: 20 characters as given, 21 as BC would store them.
    assert!(refused(|l| l.document_number = format!("{}ß", "X".repeat(19))).contains("20"));
    assert!(refused(|l| l.external_document_number = "E".repeat(36)).contains("35"));
    assert!(refused(|l| l.customer_id = "C0001".into()).contains("customer id"));
    assert!(refused(|l| l.applies_to_invoice_id = "x'y".into()).contains("invoice id"));
    let mut exact = line();
    exact.document_number = "D".repeat(20);
    exact.external_document_number = "E".repeat(35);
    line_body(&exact).unwrap();
}

#[test]
fn descriptions_are_cut_on_character_boundaries() {
    let mut l = line();
    l.description = "é".repeat(150);
    let body = line_body(&l).unwrap();
    let description = body["description"].as_str().unwrap();
    assert_eq!(description.chars().count(), 100);
    assert!(description.chars().all(|c| c == 'é'));
    l.description = "👍".repeat(101);
    let body = line_body(&l).unwrap();
    assert_eq!(body["description"].as_str().unwrap().chars().count(), 100);
}

#[test]
fn string_literals_double_quotes_and_escape_the_query() {
    assert_eq!(string_literal("PAY-1"), "'PAY-1'");
    assert_eq!(string_literal("O'BRIEN"), "'O''BRIEN'");
    assert_eq!(string_literal("''"), "''''''");
    assert_eq!(string_literal("A&B #1+%"), "'A%26B%20%231%2B%25'");
    assert_eq!(string_literal("Ä"), "'%C3%84'");
    let mut url = Url::parse("https://bc.example.com/api/v2.0/x").unwrap();
    Query {
        filter: Some(format!("documentNumber eq {}", string_literal("A'&$top=1"))),
        ..Default::default()
    }
    .apply_to(&mut url);
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        pairs,
        vec![(
            "$filter".to_owned(),
            "documentNumber eq 'A''&$top=1'".to_owned()
        )],
        "one parameter, decoded back to the literal"
    );
}

#[test]
fn lines_are_read_back_positive_and_nil_guids_are_none() {
    let record = json!({
        "id": "99999999-2222-3333-4444-555555555555",
        "customerId": CUSTOMER,
        "appliesToInvoiceId": NIL_GUID,
        "documentNumber": "PAY-1",
        "externalDocumentNumber": "",
        "description": "d",
        "amount": -12.5,
        "postingDate": "0001-01-01",
    });
    let parsed = parse_line(&record).unwrap();
    assert_eq!(parsed.amount, Decimal::from_str("12.5").unwrap());
    assert_eq!(parsed.customer_id.as_deref(), Some(CUSTOMER));
    assert_eq!(parsed.applies_to_invoice_id, None);
    assert_eq!(parsed.posting_date, None);
    let mut garbage = record.clone();
    garbage["amount"] = json!("twelve");
    assert!(parse_line(&garbage).is_err());
}

#[test]
fn journals_without_a_balancing_account_say_so() {
    let j = parse_journal(&json!({
        "id": INVOICE, "code": "LL", "displayName": "ledgerlink", "balancingAccountId": NIL_GUID
    }))
    .unwrap();
    assert_eq!(j.balancing_account_id, None);
    assert_eq!(j.code, "LL");
    assert!(journal_body("TOO-LONG-CODE", "x", None).is_err());
    assert!(journal_body("LL", "x", Some("not a guid")).is_err());
    assert_eq!(journal_body("ll", "x", None).unwrap()["code"], "LL");
}

#[test]
fn posted_payments_sum_credits_and_sort_entries() {
    let entries = vec![
        json!({"entryNumber": 12, "postingDate": "2026-06-30", "documentNumber": "PAY-1",
               "debitAmount": 0, "creditAmount": 100.10}),
        json!({"entryNumber": 11, "postingDate": "2026-06-30", "documentNumber": "PAY-1",
               "debitAmount": 300.30, "creditAmount": 0}),
        json!({"entryNumber": 13, "postingDate": "2026-06-30", "documentNumber": "PAY-1",
               "debitAmount": 0, "creditAmount": 200.20}),
    ];
    let posted = posted_from_entries("PAY-1", &entries).unwrap().unwrap();
    assert_eq!(posted.entry_numbers, vec![11, 12, 13]);
    assert_eq!(posted.amount, Decimal::from_str("300.30").unwrap());
    assert_eq!(
        posted.posting_date,
        NaiveDate::from_ymd_opt(2026, 6, 30).unwrap()
    );
    assert_eq!(posted_from_entries("PAY-1", &[]).unwrap(), None);
}
