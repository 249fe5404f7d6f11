//! Every property name and type served must match the real `$metadata` (metadata.xml).

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::Value;

/// entity type -> (property -> type), enum type -> members. A tiny hand-written scan.
type Types = HashMap<String, Vec<(String, String)>>;
type Enums = HashMap<String, Vec<String>>;

fn parse_edmx(xml: &str) -> (Types, Enums) {
    let mut types = HashMap::new();
    let mut enums = HashMap::new();
    let attr = |tag: &str, name: &str| -> Option<String> {
        let k = format!("{name}=\"");
        let i = tag.find(&k)? + k.len();
        Some(tag[i..i + tag[i..].find('"')?].to_string())
    };
    let mut rest = xml;
    while let Some(i) = rest.find("<EntityType ") {
        rest = &rest[i..];
        let end = rest.find("</EntityType>").unwrap();
        let block = &rest[..end];
        let name = attr(block, "Name").unwrap();
        let props: Vec<(String, String)> = block
            .split("<Property ")
            .skip(1)
            .map(|t| (attr(t, "Name").unwrap(), attr(t, "Type").unwrap()))
            .collect();
        types.insert(name, props);
        rest = &rest[end..];
    }
    let mut rest = xml;
    while let Some(i) = rest.find("<EnumType ") {
        rest = &rest[i..];
        let end = rest.find("</EnumType>").unwrap();
        let block = &rest[..end];
        let name = attr(block, "Name").unwrap();
        enums.insert(
            name,
            block
                .split("<Member ")
                .skip(1)
                .map(|t| attr(t, "Name").unwrap())
                .collect(),
        );
        rest = &rest[end..];
    }
    (types, enums)
}

fn is_guid(s: &str) -> bool {
    uuid_like(s)
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit() && !c.is_ascii_uppercase()
            }
        })
}

fn check_value(ty: &str, v: &Value, enums: &HashMap<String, Vec<String>>) -> Result<(), String> {
    let ok = match ty {
        "Edm.Guid" => v.as_str().is_some_and(is_guid),
        "Edm.String" => v.is_string(),
        "Edm.Date" => v.as_str().is_some_and(|s| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() && s.len() == 10
        }),
        "Edm.DateTimeOffset" => v
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z')),
        "Edm.Decimal" => v.is_number(),
        "Edm.Int32" | "Edm.Int64" => v.is_i64() || v.is_u64(),
        "Edm.Boolean" => v.is_boolean(),
        t if t.starts_with("Microsoft.NAV.") => {
            let e = &t["Microsoft.NAV.".len()..];
            let members = enums.get(e).ok_or(format!("unknown enum {e}"))?;
            v.as_str().is_some_and(|s| members.iter().any(|m| m == s))
        }
        other => return Err(format!("unhandled type {other}")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("value {v} is not a {ty}"))
    }
}

/// Check an entity object against its type; recurse into expanded navigation properties.
fn check_entity(
    ty: &str,
    obj: &Value,
    nav: &HashMap<&str, &str>,
    types: &HashMap<String, Vec<(String, String)>>,
    enums: &HashMap<String, Vec<String>>,
    seen: &mut HashMap<String, usize>,
) {
    let props = types
        .get(ty)
        .unwrap_or_else(|| panic!("no entity type {ty} in metadata"));
    let m = obj.as_object().unwrap();
    assert!(
        m.get("@odata.etag")
            .and_then(|e| e.as_str())
            .is_some_and(|e| e.starts_with("W/\"")),
        "{ty} without @odata.etag"
    );
    for (k, v) in m {
        if k.starts_with('@') {
            continue;
        }
        if let Some(child) = nav.get(k.as_str()) {
            match v {
                Value::Array(items) => items
                    .iter()
                    .for_each(|i| check_entity(child, i, nav, types, enums, seen)),
                Value::Object(_) => check_entity(child, v, nav, types, enums, seen),
                Value::Null => {}
                _ => panic!("navigation {k} is not an object/array"),
            }
            continue;
        }
        let (_, t) = props
            .iter()
            .find(|(n, _)| n == k)
            .unwrap_or_else(|| panic!("{ty}.{k} is not in $metadata"));
        check_value(t, v, enums).unwrap_or_else(|e| panic!("{ty}.{k}: {e}"));
    }
    // Completeness: every metadata property is served.
    for (n, _) in props {
        assert!(m.contains_key(n), "{ty}.{n} missing from the response");
    }
    *seen.entry(ty.to_string()).or_default() += 1;
}

#[tokio::test]
async fn every_served_property_matches_metadata() {
    let xml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/metadata.xml")).unwrap();
    // The served document is the real one.
    let reference = "/work/shared/reference/business-central/metadata.xml";
    if let Ok(r) = std::fs::read_to_string(reference) {
        assert_eq!(
            r, xml,
            "data/metadata.xml must be a verbatim copy of the reference"
        );
    }
    let (types, enums) = parse_edmx(&xml);
    let sim = start().await;
    let tok = app_token(&sim).await;
    let served = reqwest::Client::new()
        .get(format!("{}/$metadata", sim.api_base()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(served, xml);

    let nav: HashMap<&str, &str> = [
        ("salesInvoiceLines", "salesInvoiceLine"),
        ("salesCreditMemoLines", "salesCreditMemoLine"),
        ("dimensionSetLines", "dimensionSetLine"),
        ("customer", "customer"),
        ("customerFinancialDetail", "customerFinancialDetail"),
        ("customerPayments", "customerPayment"),
        ("dimensionValues", "dimensionValue"),
        ("dimension", "dimension"),
    ]
    .into_iter()
    .collect();
    let co = company_url(&sim);
    let (_, jr) = get(&tok, &format!("{co}/customerPaymentJournals")).await;
    let jid = jr["value"][0]["id"].as_str().unwrap().to_string();
    let sets: Vec<(String, &str)> = vec![
        (format!("{}/companies", sim.api_base()), "company"),
        (
            format!("{co}/customers?$expand=customerFinancialDetail"),
            "customer",
        ),
        (
            format!("{co}/customerFinancialDetails"),
            "customerFinancialDetail",
        ),
        (format!("{co}/customerContacts"), "customerContact"),
        (
            format!(
                "{co}/salesInvoices?$expand=salesInvoiceLines($expand=dimensionSetLines),dimensionSetLines,customer"
            ),
            "salesInvoice",
        ),
        (
            format!(
                "{co}/salesCreditMemos?$expand=salesCreditMemoLines($expand=dimensionSetLines),dimensionSetLines,customer"
            ),
            "salesCreditMemo",
        ),
        (
            format!(
                "{co}/customerPaymentJournals?$expand=customerPayments($expand=customer,dimensionSetLines)"
            ),
            "customerPaymentJournal",
        ),
        (
            format!("{co}/customerPayments?$filter=journalId eq {jid}"),
            "customerPayment",
        ),
        (
            format!("{co}/dimensions?$expand=dimensionValues"),
            "dimension",
        ),
        (
            format!("{co}/dimensionValues?$expand=dimension"),
            "dimensionValue",
        ),
    ];
    let mut seen = HashMap::new();
    for (url, ty) in &sets {
        let (s, v) = get(&tok, url).await;
        assert_eq!(s, 200, "{url}: {v}");
        assert!(
            v["@odata.context"].as_str().unwrap().contains("$metadata#"),
            "{url}"
        );
        let items = v["value"].as_array().unwrap();
        assert!(!items.is_empty(), "{url} returned nothing");
        for i in items {
            check_entity(ty, i, &nav, &types, &enums, &mut seen);
        }
    }
    // Nested paths and singles.
    let (_, inv) = get(&tok, &format!("{co}/salesInvoices?$top=1")).await;
    let iid = inv["value"][0]["id"].as_str().unwrap();
    let (_, lines) = get(
        &tok,
        &format!("{co}/salesInvoices({iid})/salesInvoiceLines"),
    )
    .await;
    for l in lines["value"].as_array().unwrap() {
        check_entity("salesInvoiceLine", l, &nav, &types, &enums, &mut seen);
    }
    let (_, one) = get(&tok, &format!("{co}/salesInvoices({iid})")).await;
    check_entity("salesInvoice", &one, &nav, &types, &enums, &mut seen);
    // A posted payment journal: its G/L entries, and the batch seen through `journals`.
    let r = client()
        .post(format!("{co}/journals({jid})/Microsoft.NAV.post"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (_, gl) = get(&tok, &format!("{co}/generalLedgerEntries")).await;
    assert!(!gl["value"].as_array().unwrap().is_empty(), "{gl}");
    for g in gl["value"].as_array().unwrap() {
        check_entity("generalLedgerEntry", g, &nav, &types, &enums, &mut seen);
    }
    let (_, j) = get(&tok, &format!("{co}/journals({jid})")).await;
    check_entity("journal", &j, &nav, &types, &enums, &mut seen);
    // Subscriptions (empty list is fine; shape checked in the webhook test).
    for ty in [
        "company",
        "customer",
        "customerFinancialDetail",
        "customerContact",
        "salesInvoice",
        "salesInvoiceLine",
        "dimensionSetLine",
        "salesCreditMemo",
        "salesCreditMemoLine",
        "customerPaymentJournal",
        "customerPayment",
        "dimension",
        "dimensionValue",
        "generalLedgerEntry",
        "journal",
    ] {
        assert!(seen.get(ty).copied().unwrap_or(0) > 0, "{ty} never checked");
    }
    sim.shutdown().await;
}

#[test]
fn checker_rejects_wrong_types() {
    let xml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/metadata.xml")).unwrap();
    let (_, enums) = parse_edmx(&xml);
    assert!(check_value("Edm.Decimal", &serde_json::json!("1.5"), &enums).is_err());
    assert!(check_value("Edm.Guid", &serde_json::json!("not-a-guid"), &enums).is_err());
    assert!(
        check_value(
            "Microsoft.NAV.invoiceEntityAggregateStatus",
            &serde_json::json!("In Review"),
            &enums
        )
        .is_err()
    );
    assert!(
        check_value(
            "Microsoft.NAV.invoiceEntityAggregateStatus",
            &serde_json::json!("In_x0020_Review"),
            &enums
        )
        .is_ok()
    );
    assert!(check_value("Edm.Date", &serde_json::json!("0001-01-01"), &enums).is_ok());
}

#[tokio::test]
async fn extension_entities_match_their_own_metadata() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let base = format!(
        "{}/v2.0/{}/{}/api/ledgerlink/ar/v1.0",
        sim.base_url(),
        sim.tenant_id(),
        sim.environment()
    );
    let xml = reqwest::Client::new()
        .get(format!("{base}/$metadata"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (types, enums) = parse_edmx(&xml);
    let (s, v) = get(
        &tok,
        &format!(
            "{base}/companies({})/customerLedgerEntries",
            sim.company_ids()[0]
        ),
    )
    .await;
    assert_eq!(s, 200);
    let mut seen = HashMap::new();
    for e in v["value"].as_array().unwrap() {
        check_entity(
            "customerLedgerEntry",
            e,
            &HashMap::new(),
            &types,
            &enums,
            &mut seen,
        );
    }
    assert!(seen["customerLedgerEntry"] > 0);
    sim.shutdown().await;
}
