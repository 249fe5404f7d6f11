use serde_json::json;
use utoipa::{PartialSchema, ToSchema};

use super::*;

#[test]
fn decimals_keep_their_precision_both_ways() {
    let parsed: Decimal = serde_json::from_str("1234567890123.10").unwrap();
    assert_eq!(serde_json::to_string(&parsed).unwrap(), "1234567890123.10");
    let sum: Decimal = ["0.1", "0.2"]
        .iter()
        .map(|d| Decimal::parse(d).unwrap())
        .sum();
    assert_eq!(serde_json::to_value(sum).unwrap(), json!(0.3));
    assert_eq!(Decimal::parse("1e-2").unwrap().to_string(), "0.01");
    assert!(Decimal::parse("twelve").is_none());
    assert!(serde_json::from_str::<Decimal>("true").is_err());
}

#[test]
fn open_enums_keep_unknown_values() {
    assert_eq!(DocumentStatus::parse("in_review"), DocumentStatus::InReview);
    assert_eq!(
        serde_json::to_value(DocumentStatus::InReview).unwrap(),
        json!("in_review")
    );
    let other: DocumentStatus = serde_json::from_value(json!("on_hold")).unwrap();
    assert_eq!(other, DocumentStatus::Other("on_hold".into()));
    assert_eq!(serde_json::to_value(&other).unwrap(), json!("on_hold"));
    assert_eq!(Blocked::KNOWN, ["none", "ship", "invoice", "all"]);
}

#[test]
fn records_round_trip_through_json() {
    let memo = CreditMemo {
        number: Some("CM-1".into()),
        external_document_number: None,
        status: Some(DocumentStatus::Open),
        customer_remote_id: Some("5d115c9c-44e3-ea11-bb43-000d3a2feca1".into()),
        customer_number: Some("10000".into()),
        customer_name: Some("Adatum".into()),
        bill_to_customer_remote_id: None,
        bill_to: BillTo::default(),
        credit_memo_date: chrono::NaiveDate::from_ymd_opt(2025, 1, 31),
        posting_date: None,
        due_date: None,
        currency: Some("EUR".into()),
        prices_include_tax: Some(false),
        subtotal: Decimal::parse("100.00"),
        discount_amount: Some(Decimal::ZERO),
        tax_amount: Decimal::parse("25"),
        total_amount: None,
        applies_to_invoice_remote_id: None,
        applies_to_invoice_number: None,
        reason_remote_id: None,
        payment_terms_id: None,
        salesperson: None,
        lines: vec![],
        dimensions: None,
    };
    let value = serde_json::to_value(&memo).unwrap();
    assert_eq!(value["credit_memo_date"], json!("2025-01-31"));
    assert_eq!(value["subtotal"].to_string(), "100.00");
    assert_eq!(value["total_amount"], json!(null), "no value from the ERP");
    assert_eq!(value["bill_to"]["address"]["line1"], json!(null));
    let back: CreditMemo = serde_json::from_value(value).unwrap();
    assert_eq!(back, memo);
}

#[test]
fn schemas_document_numbers_and_open_enums() {
    let decimal = serde_json::to_value(Decimal::schema()).unwrap();
    assert_eq!(decimal["type"], json!("number"));
    let status = serde_json::to_value(DocumentStatus::schema()).unwrap();
    assert_eq!(status["type"], json!("string"));
    let text = status["description"].as_str().unwrap();
    assert!(
        text.starts_with("Where a sales document is in its life"),
        "{text}"
    );
    assert!(
        text.contains("`in_review`") && text.contains("passed through"),
        "{text}"
    );

    let invoice = serde_json::to_value(Invoice::schema()).unwrap();
    let props = &invoice["properties"];
    // Amounts are nullable (BC's metadata allows null): a Decimal or null, not required.
    let total = props["total_amount"]["oneOf"].as_array().unwrap();
    assert_eq!(total[0], json!({"type": "null"}));
    assert_eq!(total[1]["$ref"], json!("#/components/schemas/Decimal"));
    assert!(props["lines"].is_object() && props["amount_paid"].is_object());
    let required = invoice["required"].as_array().unwrap();
    assert!(required.contains(&json!("lines")), "{invoice}");
    assert!(!required.contains(&json!("total_amount")), "{invoice}");
    assert!(!required.contains(&json!("number")), "{invoice}");
    // A customer's name is never null, but may be "" (BC's blank display name).
    let customer = serde_json::to_value(Customer::schema()).unwrap();
    assert_eq!(customer["properties"]["name"]["type"], json!("string"));
    let name_doc = customer["properties"]["name"]["description"]
        .as_str()
        .unwrap();
    assert!(name_doc.contains("`\"\"`"), "{name_doc}");
    assert!(
        customer["required"]
            .as_array()
            .unwrap()
            .contains(&json!("name"))
    );
    let mut nested = Vec::new();
    Invoice::schemas(&mut nested);
    let names: Vec<&str> = nested.iter().map(|(n, _)| n.as_str()).collect();
    for name in [
        "Decimal",
        "DocumentLine",
        "DocumentStatus",
        "BillTo",
        "Address",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}
