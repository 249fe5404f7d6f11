//! [`selected_fields`] is complete and minimal, checked on every record of a bc-sim company: BC's
//! answer to the `$select` is the whole entity cut down to the list (expanded children whole), it maps
//! to the same unified records, and every property the mapping reads (changing or dropping it changes
//! the result) is listed, and nothing else is.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use serde_json::{Value, json};

use super::sim_tests::{fetch_all_with, start};
use super::*;
use crate::PageRequest;
use crate::business_central::models::{self, MODELS};

/// The navigation properties an `$expand` names at its top level (`a($expand=b),c` → `a`, `c`).
fn expanded(expand: Option<&str>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let (mut depth, mut name) = (0, String::new());
    for c in expand.unwrap_or("").chars().chain([',']) {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 && !name.is_empty() => {
                names.insert(std::mem::take(&mut name));
            }
            c if depth == 0 && c != ',' => name.push(c),
            _ => {}
        }
    }
    names
}

/// The entity with only the listed properties, the expanded children and the `@odata.*` annotations.
fn reduce(entity: &Value, fields: &[&str], expanded: &BTreeSet<String>) -> Value {
    let kept = entity.as_object().unwrap().iter().filter(|(k, _)| {
        fields.contains(&k.as_str()) || expanded.contains(*k) || k.starts_with("@odata.")
    });
    Value::Object(kept.map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// Another value of the same kind (GUID, date, date-time, text or enum member, number, boolean), so a
/// mapping that reads the property maps something else (or fails).
fn perturb(value: &Value) -> Value {
    let other = |s: &str, a: &str, b: &str| json!(if s.eq_ignore_ascii_case(a) { b } else { a });
    match value {
        Value::Bool(b) => json!(!b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => json!(i.wrapping_add(1)),
            None => json!(n.as_f64().unwrap() + 1.0),
        },
        Value::String(s) if s.len() == 36 && s.matches('-').count() == 4 => other(
            s,
            "0badc0de-0000-4000-8000-000000000001",
            "0badc0de-0000-4000-8000-000000000002",
        ),
        Value::String(s) if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => {
            other(s, "2031-07-15", "2031-07-16")
        }
        Value::String(s) if DateTime::parse_from_rfc3339(s).is_ok() => {
            other(s, "2031-07-15T01:02:03Z", "2031-07-16T01:02:03Z")
        }
        Value::String(s) => json!(format!("{s}Perturbed")),
        other => json!(format!("{other}Perturbed")),
    }
}

/// The top-level properties of `entity` the mapping reads: changing or dropping one changes what
/// `map_fetched` returns.
fn read_properties(
    model: &str,
    entity: &Value,
    expanded: &BTreeSet<String>,
    ctx: &MappingContext,
) -> BTreeSet<String> {
    let mapped = map_fetched(model, entity, ctx);
    let mut read = BTreeSet::new();
    for (key, value) in entity.as_object().unwrap() {
        if expanded.contains(key) || key.starts_with('@') {
            continue;
        }
        let mut changed = entity.clone();
        changed[key] = perturb(value);
        let mut dropped = entity.clone();
        dropped.as_object_mut().unwrap().remove(key);
        if map_fetched(model, &changed, ctx) != mapped
            || map_fetched(model, &dropped, ctx) != mapped
        {
            read.insert(key.clone());
        }
    }
    read
}

#[test]
fn every_model_has_a_selection_with_its_id() {
    for m in MODELS {
        let fields = selected_fields(m.name).unwrap_or_else(|| panic!("{}", m.name));
        assert!(fields.contains(&"id"), "{}", m.name);
        let stamped = fields.contains(&"lastModifiedDateTime");
        assert!(
            stamped || !m.incremental,
            "{}: incremental needs the stamp",
            m.name
        );
    }
    assert_eq!(selected_fields("vendors"), None);
}

#[tokio::test]
async fn selecting_the_listed_fields_maps_the_same() {
    let (_sim, bc, session) = start().await;
    let ctx = MappingContext {
        local_currency: Some("USD".into()),
    };
    for m in MODELS {
        let model = m.name;
        let fields = selected_fields(model).unwrap();
        for dims in [false, true] {
            let expanded = expanded(models::spec(model).unwrap().expand_for(dims));
            let req = |fields: Option<Vec<String>>| PageRequest {
                model: model.into(),
                include_dimension_lines: dims,
                fields,
                ..Default::default()
            };
            let whole = fetch_all_with(&bc, &session, req(None)).await;
            let listed = fields.iter().map(|f| f.to_string()).collect();
            let selected = fetch_all_with(&bc, &session, req(Some(listed))).await;
            assert!(!whole.is_empty(), "{model}: the dataset has records");
            assert_eq!(selected.len(), whole.len(), "{model}");
            let mut read = BTreeSet::new();
            for (entity, answer) in whole.iter().zip(&selected) {
                let reduced = reduce(entity, fields, &expanded);
                assert_eq!(
                    answer, &reduced,
                    "{model}: the `$select` answer is the entity cut to the list, expanded children whole"
                );
                let mapped = map_fetched(model, entity, &ctx);
                assert!(mapped.is_ok(), "{model}: {mapped:?}");
                assert_eq!(map_fetched(model, &reduced, &ctx), mapped, "{model}");
                read.extend(read_properties(model, entity, &expanded, &ctx));
            }
            let missing: Vec<_> = read
                .iter()
                .filter(|k| !fields.contains(&k.as_str()))
                .collect();
            assert!(
                missing.is_empty(),
                "{model}: the mapping reads {missing:?}, which `selected_fields` does not list"
            );
            let unread: Vec<_> = fields.iter().filter(|f| !read.contains(**f)).collect();
            assert!(
                unread.is_empty(),
                "{model}: `selected_fields` lists {unread:?}, which the mapping does not read"
            );
        }
    }
}

#[test]
fn expand_names_are_read_at_the_top_level() {
    let names = expanded(Some(
        "salesInvoiceLines($expand=dimensionSetLines),dimensionSetLines",
    ));
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["dimensionSetLines", "salesInvoiceLines"]
    );
    assert!(expanded(None).is_empty());
}
