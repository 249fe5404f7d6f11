//! Verbatim record overrides: what BC's tables hold but its API pages would refuse on write
//! (`displayName: ""`, zero GUIDs, `0001-01-01`, absent or extra properties, even values no BC
//! could send). Kept beside the typed records and applied when a record is written to the wire
//! and when `$filter` / `$orderby` read it.

use chrono::NaiveDate;
use serde_json::Value;
use uuid::Uuid;

use crate::entities::{Ctx, Field};
use crate::records::RawPatch;
use crate::store::{Company, RawRecord};
use crate::value::{Key, Kind, V, parse_dec, parse_dt, push_value, write_str};

/// Entity sets whose records can be overridden, with their entity type and the webhook resource
/// a modification notifies.
const SETS: &[(&str, &str, Option<&str>)] = &[
    ("customers", "customer", Some("customers")),
    (
        "customerFinancialDetails",
        "customerFinancialDetail",
        Some("customers"),
    ),
    ("customerContacts", "customerContact", None),
    ("salesInvoices", "salesInvoice", Some("salesInvoices")),
    (
        "salesInvoiceLines",
        "salesInvoiceLine",
        Some("salesInvoices"),
    ),
    (
        "salesCreditMemos",
        "salesCreditMemo",
        Some("salesCreditMemos"),
    ),
    (
        "salesCreditMemoLines",
        "salesCreditMemoLine",
        Some("salesCreditMemos"),
    ),
    ("customerPayments", "customerPayment", None),
    (
        "customerPaymentJournals",
        "customerPaymentJournal",
        Some("customerPaymentJournals"),
    ),
    ("dimensions", "dimension", Some("dimensions")),
    ("dimensionValues", "dimensionValue", None),
    ("customerLedgerEntries", "customerLedgerEntry", None),
];

/// Names of the entity sets `patch_raw` accepts.
pub fn set_names() -> Vec<&'static str> {
    SETS.iter().map(|s| s.0).collect()
}

fn bad_set(set: &str) -> (u16, String) {
    (
        404,
        format!(
            "raw overrides are not supported for '{set}' (supported: {})",
            set_names().join(", ")
        ),
    )
}

/// The overrides of a row being served, if any (rows keyed by their `id` property).
pub fn of_row<'a, T>(
    fields: &'static [Field<T>],
    ty: &str,
    row: &T,
    ctx: &Ctx<'a>,
) -> Option<&'a RawRecord> {
    if ctx.co.raw.is_empty() {
        return None;
    }
    let f = fields.first().filter(|f| f.name == "id")?;
    match (f.get)(row, ctx) {
        V::Guid(id) => ctx.co.raw.get(ty)?.get(&id),
        _ => None,
    }
}

/// The `$filter` / `$orderby` key of a property, reading the override if there is one.
pub fn key_of<T>(
    fields: &'static [Field<T>],
    i: usize,
    row: &T,
    ctx: &Ctx<'_>,
    raw: Option<&RawRecord>,
) -> Key {
    let f = &fields[i];
    if let Some(r) = raw {
        if r.removed.contains(f.name) {
            return Key::Null;
        }
        if let Some(v) = r.set.get(f.name) {
            return json_key(v, f.kind);
        }
    }
    (f.get)(row, ctx).key()
}

fn json_key(v: &Value, kind: Kind) -> Key {
    let s = match v {
        Value::Null | Value::Array(_) | Value::Object(_) => return Key::Null,
        Value::Bool(b) => return Key::Bool(*b),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
    };
    let parsed = match kind {
        Kind::Dec | Kind::Int => parse_dec(&s).map(|c| Key::Num(c as i128)),
        Kind::Dt => parse_dt(&s).map(|ms| Key::Num(ms as i128)),
        Kind::Date => NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| Key::Num(d.and_utc().timestamp_millis() as i128)),
        Kind::Guid => Uuid::parse_str(&s).ok().map(Key::Guid),
        Kind::Bool | Kind::Str | Kind::Enum => None,
    };
    parsed.unwrap_or_else(|| Key::Str(s.replace("_x0020_", " ").to_lowercase()))
}

/// Write the selected properties of an overridden row (after its `@odata.etag`); with no
/// `$select` the extra properties follow.
pub fn write_fields<T>(
    out: &mut Vec<u8>,
    fields: &'static [Field<T>],
    sel: &[usize],
    all: bool,
    row: &T,
    ctx: &Ctx<'_>,
    r: &RawRecord,
) {
    for &i in sel {
        let f = &fields[i];
        if r.removed.contains(f.name) {
            continue;
        }
        out.extend_from_slice(f.key.as_bytes());
        match r.set.get(f.name) {
            Some(v) => push_json(out, v),
            None => push_value(out, &(f.get)(row, ctx)),
        }
    }
    if !all {
        return;
    }
    for (k, v) in &r.set {
        if fields.iter().any(|f| f.name == k) {
            continue;
        }
        out.push(b',');
        write_str(out, k);
        out.push(b':');
        push_json(out, v);
    }
}

fn push_json(out: &mut Vec<u8>, v: &Value) {
    // Writing a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// Apply a patch to a record of `set`; a modification (`touch`) moves its stamp and version.
/// Returns the webhook resource to notify (`None` when silent or not notifiable).
pub fn apply(
    co: &mut Company,
    set: &str,
    id: Uuid,
    patch: &RawPatch,
    now: i64,
    ver: u64,
) -> Result<Option<&'static str>, (u16, String)> {
    let &(_, ty, hook) = SETS
        .iter()
        .find(|s| s.0 == set)
        .ok_or_else(|| bad_set(set))?;
    if patch.properties.contains_key("id") || patch.remove.iter().any(|r| r == "id") {
        return Err((400, "the id of a record cannot be overridden".into()));
    }
    if !touch(co, ty, id, now, ver, patch.touch) {
        return Err((404, format!("no {ty} with id {id}")));
    }
    let r = co.raw.entry(ty).or_default().entry(id).or_default();
    for (k, v) in &patch.properties {
        r.removed.remove(k);
        r.set.insert(k.clone(), v.clone());
    }
    for k in &patch.remove {
        r.set.remove(k);
        r.removed.insert(k.clone());
    }
    Ok(hook.filter(|_| patch.touch))
}

/// Whether the record exists; with `touch`, move its `lastModifiedDateTime` and version (a line
/// moves its document's).
fn touch(co: &mut Company, ty: &str, id: Uuid, now: i64, ver: u64, touch: bool) -> bool {
    macro_rules! stamp {
        ($row:expr) => {{
            match $row {
                Some(r) => {
                    if touch {
                        r.modified = now;
                        r.ver = ver;
                    }
                    true
                }
                None => false,
            }
        }};
    }
    match ty {
        "customer" | "customerFinancialDetail" => stamp!(co.customers.get_mut(&id)),
        "salesInvoice" => stamp!(co.invoices.get_mut(&id)),
        "salesCreditMemo" => stamp!(co.credit_memos.get_mut(&id)),
        "salesInvoiceLine" => stamp!(
            co.invoices
                .rows
                .values_mut()
                .find(|d| d.lines.iter().any(|l| l.id == id))
        ),
        "salesCreditMemoLine" => stamp!(
            co.credit_memos
                .rows
                .values_mut()
                .find(|d| d.lines.iter().any(|l| l.id == id))
        ),
        "customerPayment" => stamp!(co.payments.get_mut(&id)),
        "customerPaymentJournal" => stamp!(co.journals.get_mut(&id)),
        "dimension" => stamp!(co.dimensions.get_mut(&id)),
        "dimensionValue" => stamp!(co.dim_values.get_mut(&id)),
        "customerLedgerEntry" => stamp!(co.ledger.get_mut(&id)),
        "customerContact" => match co.contacts.get_mut(&id) {
            Some(c) => {
                if touch {
                    c.ver = ver;
                }
                true
            }
            None => false,
        },
        _ => false,
    }
}
