//! Whatever Business Central can legitimately send maps (blank text, `null` and absent properties,
//! unknown extras); only a record that truly cannot be read fails, on its own, with its remote id.

use serde_json::{Value, json};

use super::tests::{
    contact_json, credit_memo_json, customer_json, dimension_json, invoice_json, journal_json,
    ledger_json,
};
use super::*;

fn ctx() -> MappingContext {
    MappingContext {
        local_currency: Some("USD".into()),
    }
}

/// One realistic entity per model, as a page holds it.
fn fixtures() -> Vec<(&'static str, Value)> {
    vec![
        ("customers", customer_json()),
        ("contacts", contact_json()),
        ("invoices", invoice_json()),
        ("credit_memos", credit_memo_json()),
        ("payments", journal_json()),
        ("customer_ledger_entries", ledger_json()),
        ("dimensions", dimension_json()),
    ]
}

/// Rewrites every scalar property but `id`, in the entity and its expanded children: `f` returns the
/// new value, or `None` to remove the property.
fn rewrite(v: &mut Value, f: &dyn Fn(&Value) -> Option<Value>) {
    let Value::Object(map) = v else { return };
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let child = map.get_mut(&key).expect("listed key");
        match child {
            Value::Array(items) => items.iter_mut().for_each(|i| rewrite(i, f)),
            Value::Object(_) => rewrite(child, f),
            _ if key == "id" => {}
            _ => match f(child) {
                Some(new) => *child = new,
                None => {
                    map.remove(&key);
                }
            },
        }
    }
}

/// Maps every unified record of `raw`, failing the test with the reason when one does not map.
fn map_all(model: &str, raw: &Value) -> Vec<MappedRecord> {
    map_fetched(model, raw, &ctx()).unwrap_or_else(|e| panic!("{model}: {e}\n{raw:#}"))
}

#[test]
fn every_nullable_property_may_be_null() {
    for (model, mut raw) in fixtures() {
        let before = map_all(model, &raw).len();
        rewrite(&mut raw, &|_| Some(Value::Null));
        let records = map_all(model, &raw);
        assert_eq!(records.len(), before, "{model}");
        assert!(records.iter().all(|r| r.remote_modified_at.is_none()));
    }
    let mut invoice = invoice_json();
    rewrite(&mut invoice, &|_| Some(Value::Null));
    let d = &map_all("invoices", &invoice)[0].data;
    for key in [
        "number",
        "total_amount",
        "amount_due",
        "amount_paid",
        "prices_include_tax",
    ] {
        assert_eq!(d[key], json!(null), "{key}");
    }
    assert_eq!(d["currency"], json!("USD"), "blank currency = LCY");
    assert_eq!(d["lines"][0]["quantity"], json!(null));
    assert_eq!(d["lines"][0]["line_number"], json!(null));
    let mut customer = customer_json();
    rewrite(&mut customer, &|_| Some(Value::Null));
    let d = &map_all("customers", &customer)[0].data;
    assert_eq!(d["name"], json!(""), "never null in the unified shape");
    assert_eq!(d["balance_due"], json!(null));
    assert_eq!(d["overdue_amount"], json!(null));
    assert_eq!(d["blocked"], json!("none"));
    let mut journal = journal_json();
    rewrite(&mut journal, &|_| Some(Value::Null));
    let payments = map_all("payments", &journal);
    assert_eq!(payments[0].data["amount"], json!(null), "no sign to flip");
}

#[test]
fn every_text_may_be_blank() {
    for (model, mut raw) in fixtures() {
        let before = map_all(model, &raw).len();
        rewrite(&mut raw, &|v| {
            Some(if v.is_string() { json!("") } else { v.clone() })
        });
        assert_eq!(map_all(model, &raw).len(), before, "{model}");
    }
    // The issue's customer: created in the web client without a name (and, here, a number).
    let mut nameless = customer_json();
    nameless["displayName"] = json!("");
    nameless["number"] = json!("");
    let d = &map_all("customers", &nameless)[0].data;
    assert_eq!(d["name"], json!(""));
    assert_eq!(d["number"], json!(null));
    let mut dimension = dimension_json();
    dimension["code"] = json!("");
    dimension["dimensionValues"][0]["code"] = json!("");
    let d = &map_all("dimensions", &dimension)[0].data;
    assert_eq!(
        (&d["code"], &d["values"][0]["code"]),
        (&json!(""), &json!(""))
    );
}

#[test]
fn every_optional_property_may_be_absent() {
    for (model, mut raw) in fixtures() {
        let before = map_all(model, &raw).len();
        rewrite(&mut raw, &|_| None);
        let records = map_all(model, &raw);
        assert_eq!(records.len(), before, "{model}");
        for r in &records {
            assert!(!r.remote_id.is_empty(), "{model}");
        }
    }
}

#[test]
fn unknown_properties_are_ignored() {
    for (model, raw) in fixtures() {
        let mut extended = raw.clone();
        extended["someFutureProperty"] = json!({"nested": [1, "x", null]});
        extended["otherFutureProperty@odata.type"] = json!("#Edm.String");
        extended["aNumber"] = json!(1.5);
        assert_eq!(map_all(model, &extended), map_all(model, &raw), "{model}");
    }
}

#[test]
fn blank_references_and_dates_are_null() {
    let mut invoice = invoice_json();
    invoice["customerId"] = json!("00000000-0000-0000-0000-000000000000");
    invoice["billToCustomerId"] = json!("");
    invoice["dueDate"] = json!("0001-01-01");
    invoice["status"] = json!("_x0020_");
    let d = &map_all("invoices", &invoice)[0].data;
    for key in [
        "customer_remote_id",
        "bill_to_customer_remote_id",
        "due_date",
        "status",
    ] {
        assert_eq!(d[key], json!(null), "{key}");
    }
}

#[test]
fn a_broken_record_fails_alone_with_its_remote_id_and_reason() {
    let mut bad_amount = invoice_json();
    bad_amount["totalAmountIncludingTax"] = json!("12,50");
    let results = map_fetched_each("invoices", &bad_amount, &ctx());
    assert_eq!(
        results,
        vec![Err(MapError {
            remote_id: Some("b2d9f8a6-1c2e-4f3a-9d5b-6a7c8e9f0a1b".into()),
            reason: "totalAmountIncludingTax: expected a number, found a string".into(),
        })]
    );

    let mut no_id = customer_json();
    no_id.as_object_mut().unwrap().remove("id");
    let err = map_fetched("customers", &no_id, &ctx()).unwrap_err();
    assert_eq!(err.remote_id, None);
    assert_eq!(
        err.to_string(),
        "Business Central record without a usable id: id: missing"
    );
    let mut upper = customer_json();
    upper["creditLimit"] = json!(false);
    let err = map_fetched("customers", &upper, &ctx()).unwrap_err();
    assert_eq!(
        err.remote_id.as_deref(),
        Some("5d115c9c-44e3-ea11-bb43-000d3a2feca1"),
        "lower-cased like a mapped record's"
    );

    // One bad payment line costs only itself, not its journal's other payments.
    let mut journal = journal_json();
    journal["customerPayments"][0]["postingDate"] = json!("yesterday");
    let results = map_fetched_each("payments", &journal, &ctx());
    assert_eq!(results.len(), 2);
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(
        err.remote_id.as_deref(),
        Some("eeeeeeee-0000-0000-0000-000000000001")
    );
    assert_eq!(
        err.reason,
        r#"customerPayments[0].postingDate: "yesterday" is not a valid date (YYYY-MM-DD)"#
    );
    let ok = results[1].as_ref().unwrap();
    assert_eq!(ok.remote_id, "eeeeeeee-0000-0000-0000-000000000002");
    assert!(
        map_fetched("payments", &journal, &ctx()).is_err(),
        "all or nothing"
    );

    // A journal that cannot be read at all names the journal, but no payment id.
    let mut unexpanded = journal_json();
    unexpanded
        .as_object_mut()
        .unwrap()
        .remove("customerPayments");
    let results = map_fetched_each("payments", &unexpanded, &ctx());
    assert_eq!(
        results,
        vec![Err(MapError {
            remote_id: None,
            reason:
                "payment journal dddddddd-0000-0000-0000-000000000001: customerPayments: missing"
                    .into(),
        })]
    );
    let as_connector: ConnectorError = results[0].clone().unwrap_err().into();
    assert_eq!(as_connector.kind(), crate::ErrorKind::Invalid);
}
