//! Hand-written BC JSON, with every quirk the mapping has to clean up.

use serde_json::{Value, json};

use super::fields::snake_member;
use super::*;
use crate::ErrorKind;

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

fn lcy() -> MappingContext {
    MappingContext {
        local_currency: Some("USD".into()),
    }
}

fn map(model: &str, raw: &Value) -> MappedRecord {
    map_record(model, raw, &lcy()).unwrap()
}

/// `data[key]` as the exact JSON text it serializes to.
fn num(data: &Value, key: &str) -> String {
    data[key].to_string()
}

const ZERO_GUID: &str = "00000000-0000-0000-0000-000000000000";

pub(super) fn customer_json() -> Value {
    parse(&format!(
        r#"{{
        "@odata.etag": "W/\"JzE5OzE=\"",
        "id": "5D115C9C-44E3-EA11-BB43-000D3A2FECA1",
        "number": "10000", "displayName": "Adatum Corporation", "type": "Company",
        "addressLine1": "192 Market Square", "addressLine2": "", "city": "Atlanta", "state": "GA",
        "country": "US", "postalCode": "31772", "phoneNumber": "", "email": "robert@adatum.example",
        "website": "", "salespersonCode": "PS", "balanceDue": 12345678901.235, "creditLimit": 0,
        "taxLiable": true, "taxAreaId": "{ZERO_GUID}", "taxRegistrationNumber": "",
        "currencyId": "{ZERO_GUID}", "currencyCode": "", "paymentTermsId": "{ZERO_GUID}",
        "shipmentMethodId": "{ZERO_GUID}", "paymentMethodId": "{ZERO_GUID}",
        "blocked": "_x0020_", "lastModifiedDateTime": "0001-01-01T00:00:00Z",
        "customerFinancialDetail": {{"id": "5d115c9c-44e3-ea11-bb43-000d3a2feca1", "number": "10000",
            "balance": 20.10, "totalSalesExcludingTax": 0, "overdueAmount": 7.05,
            "lastModifiedDateTime": "0001-01-01T00:00:00Z"}}
    }}"#
    ))
}

#[test]
fn customers_turn_bc_empties_into_nulls() {
    let r = map("customers", &customer_json());
    assert_eq!(
        r.remote_id, "5d115c9c-44e3-ea11-bb43-000d3a2feca1",
        "lower-cased GUID"
    );
    assert_eq!(r.remote_modified_at, None, "never-modified stamp");
    let d = &r.data;
    assert_eq!(d["type"], json!("company"));
    assert_eq!(d["blocked"], json!("none"));
    assert_eq!(d["phone"], json!(null));
    assert_eq!(d["tax_registration_number"], json!(null));
    assert_eq!(d["payment_terms_id"], json!(null), "all-zero GUID");
    assert_eq!(d["currency"], json!("USD"), "blank currency = LCY");
    assert_eq!(num(d, "balance_due"), "12345678901.235");
    assert_eq!(num(d, "credit_limit"), "0");
    assert_eq!(num(d, "overdue_amount"), "7.05");
    assert_eq!(
        d["address"],
        json!({"line1": "192 Market Square", "line2": null, "city": "Atlanta", "state": "GA",
               "postal_code": "31772", "country": "US"})
    );

    let mut raw = customer_json();
    raw.as_object_mut()
        .unwrap()
        .remove("customerFinancialDetail");
    raw["blocked"] = json!("Invoice");
    raw["type"] = json!("_x0020_");
    raw["lastModifiedDateTime"] = json!("2025-03-04T05:06:07.123Z");
    let r = map_record("customers", &raw, &MappingContext::default()).unwrap();
    assert_eq!(r.data["overdue_amount"], json!(null), "not expanded");
    assert_eq!(r.data["currency"], json!(null), "LCY unknown");
    assert_eq!(r.data["blocked"], json!("invoice"));
    assert_eq!(r.data["type"], json!(null));
    assert_eq!(
        r.remote_modified_at.unwrap().to_rfc3339(),
        "2025-03-04T05:06:07.123+00:00"
    );
}

pub(super) fn invoice_json() -> Value {
    parse(&format!(
        r#"{{
        "id": "b2d9f8a6-1c2e-4f3a-9d5b-6a7c8e9f0a1b", "number": "103001",
        "externalDocumentNumber": "", "invoiceDate": "2025-01-15", "postingDate": "2025-01-15",
        "dueDate": "2025-02-14", "promisedPayDate": "0001-01-01",
        "customerPurchaseOrderReference": "PO-77", "customerId": "5d115c9c-44e3-ea11-bb43-000d3a2feca1",
        "customerNumber": "10000", "customerName": "Adatum", "billToName": "Adatum HQ",
        "billToCustomerId": "5d115c9c-44e3-ea11-bb43-000d3a2feca1", "billToCustomerNumber": "10000",
        "billToAddressLine1": "1 Main St", "billToAddressLine2": "", "billToCity": "Atlanta",
        "billToCountry": "US", "billToState": "", "billToPostCode": "31772",
        "currencyId": "{ZERO_GUID}", "currencyCode": "USD", "paymentTermsId": "{ZERO_GUID}",
        "salesperson": "", "disputeStatusId": "{ZERO_GUID}", "disputeStatus": "",
        "pricesIncludeTax": false, "remainingAmount": 1000.10, "discountAmount": 0,
        "totalAmountExcludingTax": 2000.16, "totalTaxAmount": 500.04,
        "totalAmountIncludingTax": 2500.20, "status": "Open",
        "lastModifiedDateTime": "2025-01-15T10:00:00Z",
        "salesInvoiceLines": [
            {{"id": "11111111-2222-3333-4444-555555555552", "sequence": 20, "lineType": "Fixed_x0020_Asset",
             "lineObjectNumber": "FA-1", "description": "Forklift", "unitOfMeasureCode": "",
             "quantity": 1, "unitPrice": 1000.08, "discountAmount": 0, "discountPercent": 0,
             "amountExcludingTax": 1000.08, "taxPercent": 25, "totalTaxAmount": 250.02,
             "amountIncludingTax": 1250.10}},
            {{"id": "11111111-2222-3333-4444-555555555551", "sequence": 10, "lineType": "Item",
             "lineObjectNumber": "1896-S", "description": "Desk", "unitOfMeasureCode": "PCS",
             "quantity": 3.5, "unitPrice": 285.737142857142857, "discountAmount": 0.00001,
             "discountPercent": 0, "amountExcludingTax": 1000.08, "taxPercent": 25,
             "totalTaxAmount": 250.02, "amountIncludingTax": 1250.10}}
        ]
    }}"#
    ))
}

#[test]
fn invoices_map_lines_statuses_and_exact_amounts() {
    let r = map("invoices", &invoice_json());
    let d = &r.data;
    assert_eq!(d["status"], json!("open"));
    assert_eq!(d["issue_date"], json!("2025-01-15"));
    assert_eq!(d["promised_pay_date"], json!(null), "0001-01-01");
    assert_eq!(d["external_document_number"], json!(null));
    assert_eq!(d["bill_to"]["name"], json!("Adatum HQ"));
    assert_eq!(d["bill_to"]["address"]["state"], json!(null));
    assert_eq!(
        num(d, "total_amount"),
        "2500.20",
        "the ERP's precision is kept"
    );
    assert_eq!(num(d, "amount_due"), "1000.10");
    assert_eq!(
        num(d, "amount_paid"),
        "1500.10",
        "2500.20 − 1000.10, exactly"
    );
    assert_eq!(d["dimensions"], json!(null), "not requested");
    let lines = d["lines"].as_array().unwrap();
    assert_eq!(lines[0]["line_number"], json!(10), "sorted by sequence");
    assert_eq!(lines[0]["unit_price"].to_string(), "285.737142857142857");
    assert_eq!(lines[0]["discount_amount"].to_string(), "0.00001");
    assert_eq!(lines[0]["unit_of_measure"], json!("PCS"));
    assert_eq!(lines[1]["type"], json!("fixed_asset"));
    assert_eq!(lines[1]["unit_of_measure"], json!(null));
    assert_eq!(
        lines[1]["remote_id"],
        json!("11111111-2222-3333-4444-555555555552")
    );
    assert_eq!(lines[0]["dimensions"], json!(null));
}

#[test]
fn document_currencies_are_kept_and_a_blank_one_is_the_local_currency() {
    let mut raw = invoice_json();
    raw["currencyCode"] = json!("EUR");
    assert_eq!(map("invoices", &raw).data["currency"], json!("EUR"));
    raw["currencyCode"] = json!("");
    assert_eq!(map("invoices", &raw).data["currency"], json!("USD"));
    let unknown = map_record("invoices", &raw, &MappingContext::default()).unwrap();
    assert_eq!(unknown.data["currency"], json!(null));
}

#[test]
fn invoice_statuses_and_amount_paid() {
    for (wire, unified, paid) in [
        ("Draft", json!("draft"), "null"),
        ("In_x0020_Review", json!("in_review"), "null"),
        ("Paid", json!("paid"), "1500.10"),
        ("Canceled", json!("canceled"), "null"),
        ("_x0020_", json!(null), "null"),
        (
            "Pending_x0020_Prepayment",
            json!("pending_prepayment"),
            "null",
        ),
    ] {
        let mut raw = invoice_json();
        raw["status"] = json!(wire);
        let d = map("invoices", &raw).data;
        assert_eq!(d["status"], unified, "{wire}");
        assert_eq!(num(&d, "amount_paid"), paid, "{wire}");
    }
}

#[test]
fn dimension_lines_appear_when_expanded() {
    let mut raw = invoice_json();
    let dims = json!([{"id": "aaaaaaaa-0000-0000-0000-000000000001", "code": "DEPARTMENT",
        "displayName": "Department", "valueId": "aaaaaaaa-0000-0000-0000-000000000002",
        "valueCode": "SALES", "valueDisplayName": "Sales", "parentType": "Sales_x0020_Invoice"}]);
    raw["dimensionSetLines"] = dims.clone();
    raw["salesInvoiceLines"][0]["dimensionSetLines"] = json!([]);
    let d = map("invoices", &raw).data;
    assert_eq!(
        d["dimensions"],
        json!([{"code": "DEPARTMENT", "name": "Department", "value_code": "SALES", "value_name": "Sales"}])
    );
    let fixed_asset_line = &d["lines"][1];
    assert_eq!(fixed_asset_line["dimensions"], json!([]));
}

pub(super) fn credit_memo_json() -> Value {
    let mut raw = invoice_json();
    let o = raw.as_object_mut().unwrap();
    for key in [
        "invoiceDate",
        "promisedPayDate",
        "remainingAmount",
        "customerPurchaseOrderReference",
    ] {
        o.remove(key);
    }
    let lines = o.remove("salesInvoiceLines").unwrap();
    o.insert("salesCreditMemoLines".into(), lines);
    o.insert("creditMemoDate".into(), json!("2025-01-20"));
    o.insert("invoiceId".into(), json!(ZERO_GUID));
    o.insert("invoiceNumber".into(), json!(""));
    o.insert(
        "customerReturnReasonId".into(),
        json!("cccccccc-0000-0000-0000-000000000001"),
    );
    o.insert("status".into(), json!("Corrective"));
    raw
}

#[test]
fn credit_memos_link_their_invoice_and_reason() {
    let mut raw = credit_memo_json();
    let d = map("credit_memos", &raw).data;
    assert_eq!(d["credit_memo_date"], json!("2025-01-20"));
    assert_eq!(d["status"], json!("corrective"));
    assert_eq!(d["applies_to_invoice_remote_id"], json!(null));
    assert_eq!(d["applies_to_invoice_number"], json!(null));
    assert_eq!(
        d["reason_remote_id"],
        json!("cccccccc-0000-0000-0000-000000000001")
    );
    assert!(
        d.get("reason").is_none(),
        "the never-expanded reason text is not part of the shape"
    );
    assert_eq!(d["lines"].as_array().unwrap().len(), 2);

    raw["invoiceId"] = json!("b2d9f8a6-1c2e-4f3a-9d5b-6a7c8e9f0a1b");
    raw["invoiceNumber"] = json!("103001");
    let d = map("credit_memos", &raw).data;
    assert_eq!(
        d["applies_to_invoice_remote_id"],
        json!("b2d9f8a6-1c2e-4f3a-9d5b-6a7c8e9f0a1b")
    );
    assert_eq!(d["applies_to_invoice_number"], json!("103001"));
}

pub(super) fn journal_json() -> Value {
    parse(&format!(
        r#"{{"id": "dddddddd-0000-0000-0000-000000000001", "code": "GENERAL",
        "displayName": "Default journal", "lastModifiedDateTime": "2025-01-01T00:00:00Z",
        "balancingAccountId": "{ZERO_GUID}", "balancingAccountNumber": "",
        "customerPayments": [
            {{"id": "eeeeeeee-0000-0000-0000-000000000001", "journalId": "dddddddd-0000-0000-0000-000000000001",
             "journalDisplayName": "GENERAL", "lineNumber": 10000,
             "customerId": "5d115c9c-44e3-ea11-bb43-000d3a2feca1", "customerNumber": "10000",
             "postingDate": "2025-02-01", "documentNumber": "G00001", "externalDocumentNumber": "",
             "amount": -1500.10, "appliesToInvoiceId": "b2d9f8a6-1c2e-4f3a-9d5b-6a7c8e9f0a1b",
             "appliesToInvoiceNumber": "103001", "description": "Payment 103001", "comment": "",
             "lastModifiedDateTime": "2025-02-01T08:00:00Z"}},
            {{"id": "eeeeeeee-0000-0000-0000-000000000002", "journalId": "dddddddd-0000-0000-0000-000000000001",
             "journalDisplayName": "GENERAL", "lineNumber": 20000, "customerId": "{ZERO_GUID}",
             "customerNumber": "", "postingDate": "0001-01-01", "documentNumber": "G00002",
             "externalDocumentNumber": "BANK-9", "amount": 0.01, "appliesToInvoiceId": "{ZERO_GUID}",
             "appliesToInvoiceNumber": "", "description": "", "comment": "refund?",
             "lastModifiedDateTime": "0001-01-01T00:00:00Z"}}
        ]}}"#
    ))
}

#[test]
fn payment_journals_fan_out_into_positive_receipts() {
    let records = map_fetched("payments", &journal_json(), &lcy()).unwrap();
    assert_eq!(records.len(), 2);
    let (first, second) = (&records[0], &records[1]);
    assert_eq!(first.remote_id, "eeeeeeee-0000-0000-0000-000000000001");
    assert_eq!(
        first.remote_modified_at.unwrap().to_rfc3339(),
        "2025-02-01T08:00:00+00:00"
    );
    assert_eq!(first.data["status"], json!("unposted"));
    assert_eq!(first.data["journal_code"], json!("GENERAL"));
    assert_eq!(first.data["line_number"], json!(10000));
    assert_eq!(
        num(&first.data, "amount"),
        "1500.10",
        "BC's negative receipt, normalised"
    );
    assert_eq!(first.data["currency"], json!(null));
    assert_eq!(first.data["applies_to_invoice_number"], json!("103001"));
    assert_eq!(num(&second.data, "amount"), "-0.01");
    assert_eq!(second.data["customer_remote_id"], json!(null));
    assert_eq!(second.data["posting_date"], json!(null));
    assert_eq!(second.data["applies_to_invoice_remote_id"], json!(null));
    assert_eq!(second.remote_modified_at, None);

    let mut empty = journal_json();
    empty["customerPayments"] = json!([]);
    assert!(map_fetched("payments", &empty, &lcy()).unwrap().is_empty());
    // A single customerPayment (webhook, write-back answer) maps on its own.
    let single = map("payments", &journal_json()["customerPayments"][0]);
    assert_eq!(single, records[0]);
}

pub(super) fn ledger_json() -> Value {
    parse(
        r#"{"id": "ffffffff-0000-0000-0000-000000000001", "entryNumber": 1234,
        "customerId": "5d115c9c-44e3-ea11-bb43-000d3a2feca1", "customerNumber": "10000",
        "postingDate": "2025-01-20", "dueDate": "2025-01-20", "documentType": "Credit_x0020_Memo",
        "documentNumber": "CM-1", "externalDocumentNumber": "", "description": "Credit",
        "currencyCode": "", "amount": -250.5, "remainingAmount": -0.50, "open": true,
        "closedByEntryNumber": 0, "closedAtDate": "0001-01-01",
        "documentId": "00000000-0000-0000-0000-000000000000",
        "lastModifiedDateTime": "2025-01-20T12:00:00Z"}"#,
    )
}

#[test]
fn ledger_entries_keep_the_ledger_sign_and_name_document_types() {
    let raw = ledger_json();
    let d = map("customer_ledger_entries", &raw).data;
    assert_eq!(d["entry_number"], json!(1234));
    assert_eq!(d["document_type"], json!("credit_memo"));
    assert_eq!(num(&d, "amount"), "-250.5");
    assert_eq!(num(&d, "remaining_amount"), "-0.50");
    assert_eq!(d["open"], json!(true));
    assert_eq!(d["closed_at"], json!(null));
    assert_eq!(d["document_remote_id"], json!(null));
    assert_eq!(d["currency"], json!("USD"));
    for (wire, unified) in [
        ("Finance_x0020_Charge_x0020_Memo", json!("finance_charge")),
        ("Refund", json!("refund")),
        ("_x0020_", json!(null)),
    ] {
        let mut raw = raw.clone();
        raw["documentType"] = json!(wire);
        assert_eq!(
            map("customer_ledger_entries", &raw).data["document_type"],
            unified
        );
    }
}

pub(super) fn contact_json() -> Value {
    parse(
        r#"{"id": "99999999-0000-0000-0000-000000000001", "email": "", "firstName": "Robert",
        "lastName": "Townes", "professionalTitle": "CFO",
        "customerId": "5d115c9c-44e3-ea11-bb43-000d3a2feca1", "customerName": "Adatum",
        "primaryPhoneNumber": "+1 555 0100"}"#,
    )
}

pub(super) fn dimension_json() -> Value {
    parse(
        r#"{"id": "88888888-0000-0000-0000-000000000001", "code": "AREA", "displayName": "",
        "consolidationCode": "", "lastModifiedDateTime": "2024-06-01T00:00:00Z",
        "dimensionValues": [{"id": "88888888-0000-0000-0000-000000000002", "code": "EU",
            "dimensionId": "88888888-0000-0000-0000-000000000001", "displayName": "Europe",
            "consolidationCode": "", "lastModifiedDateTime": "2024-06-01T00:00:00Z"}]}"#,
    )
}

#[test]
fn contacts_and_dimensions() {
    let r = map("contacts", &contact_json());
    assert_eq!(r.remote_modified_at, None, "customerContacts have no stamp");
    assert_eq!(
        r.data,
        json!({"customer_remote_id": "5d115c9c-44e3-ea11-bb43-000d3a2feca1",
               "customer_name": "Adatum", "first_name": "Robert", "last_name": "Townes",
               "email": null, "phone": "+1 555 0100", "job_title": "CFO"})
    );

    let d = map("dimensions", &dimension_json()).data;
    assert_eq!(
        d,
        json!({"code": "AREA", "name": null, "values": [
            {"remote_id": "88888888-0000-0000-0000-000000000002", "code": "EU", "name": "Europe"}]})
    );
}

#[test]
fn broken_records_are_errors_with_a_location() {
    let err = |model: &str, raw: &Value| map_record(model, raw, &lcy()).unwrap_err();
    let mut no_id = customer_json();
    no_id.as_object_mut().unwrap().remove("id");
    assert_eq!(
        err("customers", &no_id),
        MappingError::Missing { field: "id".into() }
    );
    let mut zero_id = customer_json();
    zero_id["id"] = json!(ZERO_GUID);
    assert_eq!(
        err("customers", &zero_id),
        MappingError::Missing { field: "id".into() }
    );
    let mut bad_id = customer_json();
    bad_id["id"] = json!("not-a-guid");
    assert!(matches!(
        err("customers", &bad_id),
        MappingError::Invalid {
            expected: "GUID",
            ..
        }
    ));
    assert_eq!(
        err("customers", &json!([1])),
        MappingError::NotAnObject {
            field: "record".into(),
            found: "an array"
        }
    );
    assert_eq!(
        err("vendors", &customer_json()),
        MappingError::UnknownModel("vendors".into())
    );

    let mut text_amount = invoice_json();
    text_amount["salesInvoiceLines"][1]["quantity"] = json!("3.5");
    assert_eq!(
        err("invoices", &text_amount),
        MappingError::WrongType {
            field: "salesInvoiceLines[1].quantity".into(),
            expected: "a number",
            found: "a string"
        }
    );
    let mut bad_date = invoice_json();
    bad_date["dueDate"] = json!("2025-02-30");
    let e = err("invoices", &bad_date);
    assert_eq!(
        e.to_string(),
        r#"dueDate: "2025-02-30" is not a valid date (YYYY-MM-DD)"#
    );
    let mut no_lines = invoice_json();
    no_lines
        .as_object_mut()
        .unwrap()
        .remove("salesInvoiceLines");
    assert_eq!(
        err("invoices", &no_lines),
        MappingError::Missing {
            field: "salesInvoiceLines".into()
        }
    );
    let mut text_total = invoice_json();
    text_total["totalAmountIncludingTax"] = json!("lots");
    assert_eq!(
        err("invoices", &text_total).to_string(),
        "totalAmountIncludingTax: expected a number, found a string"
    );
    let mut bad_stamp = invoice_json();
    bad_stamp["lastModifiedDateTime"] = json!(20250115);
    assert!(matches!(
        err("invoices", &bad_stamp),
        MappingError::WrongType { .. }
    ));

    let mut bad_payment = journal_json();
    bad_payment["customerPayments"][1]["amount"] = json!(true);
    let e = map_fetched("payments", &bad_payment, &lcy()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Business Central record eeeeeeee-0000-0000-0000-000000000002: \
         customerPayments[1].amount: expected a number, found a boolean"
    );
    let mut not_expanded = journal_json();
    not_expanded
        .as_object_mut()
        .unwrap()
        .remove("customerPayments");
    assert!(map_fetched("payments", &not_expanded, &lcy()).is_err());

    let connector_error: ConnectorError = e.into();
    assert_eq!(connector_error.kind(), ErrorKind::Invalid);
}

#[test]
fn enum_members_become_snake_case() {
    for (wire, snake) in [
        ("In_x0020_Review", "in_review"),
        ("Credit_x0020_Memo", "credit_memo"),
        ("Allocation_x0020_Account", "allocation_account"),
        ("G_x002F_L_x0020_Account", "g_l_account"),
        ("_x0020_", ""),
        ("Open", "open"),
        ("Odd_xZZ_Name", "odd_xzz_name"),
        ("Trailing_x", "trailing_x"),
    ] {
        assert_eq!(snake_member(wire), snake, "{wire}");
    }
}

#[test]
fn a_value_nested_deeper_than_serde_json_reads_is_an_error_never_a_panic() {
    // Only a `Value` built by hand can be this deep (serde_json refuses such text).
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let raw = json!({"id": "5d115c9c-44e3-ea11-bb43-000d3a2feca1", "x": deep});
    let e = map_record("customers", &raw, &lcy()).unwrap_err();
    assert!(e.to_string().contains("record"), "{e}");
    let each = map_fetched_each("customers", &raw, &lcy());
    assert!(matches!(
        &each[..],
        [Err(MapError {
            remote_id: None,
            ..
        })]
    ));
}

#[test]
fn record_text_maps_as_its_value_does() {
    let text = r#"{"id":"5D115C9C-44E3-EA11-BB43-000D3A2FECA1","number":"10000","displayName":"Adatum \"A\" Corp","type":"Company","creditLimit":1e3,"balanceDue":12.50,"blocked":"_x0020_","lastModifiedDateTime":"2024-03-01T10:00:00Z"}"#;
    let from_text = map_fetched_text("customers", text, &lcy()).unwrap();
    let from_value = map_fetched_each("customers", &parse(text), &lcy());
    let [Ok(a)] = &from_text[..] else {
        panic!("{from_text:?}")
    };
    let [Ok(b)] = &from_value[..] else {
        panic!("{from_value:?}")
    };
    assert_eq!(
        (&*a.data, &a.remote_id),
        (b.data.to_string().as_str(), &b.remote_id)
    );
    assert!(
        a.data.contains(r#""name":"Adatum \"A\" Corp""#),
        "{}",
        a.data
    );
    assert!(map_fetched_text("customers", r#"{"id":"#, &lcy()).is_err());
}
