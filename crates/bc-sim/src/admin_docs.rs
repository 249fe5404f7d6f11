//! Admin creation of credit memos (with their ledger entry).

use std::sync::Arc;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::model::*;
use crate::store::Company;
use crate::value::{empty_date, parse_dec};

fn str_of(b: &Value, k: &str) -> Option<Box<str>> {
    b.get(k).and_then(|v| v.as_str()).map(|s| s.into())
}

fn date_of(b: &Value, k: &str) -> Result<Option<chrono::NaiveDate>, (u16, String)> {
    match b.get(k).and_then(|v| v.as_str()) {
        None => Ok(None),
        Some(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| (400, format!("bad date {s}"))),
    }
}

fn dec_of(b: &Value, k: &str) -> Option<i64> {
    b.get(k)
        .and_then(|v| parse_dec(v.to_string().trim_matches('"')))
}

/// `POST /_sim/companies/{cid}/salesCreditMemos`
/// `{customerId?, invoiceId?, creditMemoDate?, lines:[{quantity, unitPrice, taxPercent}]}`:
/// a posted (Open) credit memo; with `invoiceId` it applies to that invoice (lowers its
/// remaining amount) and takes the invoice's customer. A credit memo consumed whole is `Paid`, as
/// BC's aggregator shows a memo whose ledger entry is closed. Returns the memo's id and the
/// invoice it made `Paid`, if any.
pub fn create_credit_memo(
    co: &mut Company,
    b: &Value,
    now: i64,
    ver: u64,
) -> Result<(Uuid, Option<Uuid>), (u16, String)> {
    let inv_id = b
        .get("invoiceId")
        .and_then(|v| v.as_str())
        .and_then(|s| Uuid::parse_str(s).ok());
    let inv = match inv_id {
        Some(i) => Some(
            co.invoices
                .get(&i)
                .ok_or((400, "no such invoice".to_string()))?
                .clone(),
        ),
        None => None,
    };
    let cust_id = inv.as_ref().map(|i| i.customer_id).or_else(|| {
        b.get("customerId")
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok())
    });
    let cust = match cust_id {
        Some(id) => co.customers.get(&id),
        None => co.customers.rows.values().next(),
    }
    .ok_or((400, "no such customer".to_string()))?
    .clone();
    let date = match b.get("creditMemoDate").and_then(|v| v.as_str()) {
        Some(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| (400, format!("bad date {s}")))?,
        None => chrono::DateTime::from_timestamp_millis(now)
            .unwrap_or_default()
            .date_naive(),
    };
    let id = Uuid::new_v4();
    let specs = b
        .get("lines")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_else(|| vec![serde_json::json!({})]);
    let lines = specs
        .iter()
        .enumerate()
        .map(|(i, l)| Line {
            id: Uuid::new_v4(),
            document_id: id,
            sequence: 10000 * (i as u32 + 1),
            line_type: 2,
            item: 0,
            quantity: dec_of(l, "quantity").unwrap_or(100),
            unit_price: dec_of(l, "unitPrice").unwrap_or(1000),
            discount_pct: 0,
            tax_pct: dec_of(l, "taxPercent").unwrap_or(0),
            shipment_date: empty_date(),
            dim_set: 0,
        })
        .collect();
    let number: Box<str> = format!("CM{}", 104_001 + co.credit_memos.len()).into();
    let doc = SalesDoc {
        id,
        ver,
        number: number.clone(),
        external_doc_no: "".into(),
        doc_date: date,
        posting_date: date,
        due_date: date,
        promised_pay_date: empty_date(),
        your_reference: "".into(),
        customer_id: cust.id,
        customer_number: cust.number.clone(),
        party: cust.party.clone(),
        currency_code: cust.currency_code.clone(),
        currency_id: cust.currency_id,
        dim1: "".into(),
        dim2: "".into(),
        payment_terms_id: cust.payment_terms_id,
        shipment_method_id: Uuid::nil(),
        salesperson: cust.salesperson.clone(),
        status: 2,
        paid: 0,
        applies_to: inv.as_ref().map(|i| (i.id, i.number.clone())),
        modified: now,
        dim_set: 0,
        lines,
    };
    let total = doc.totals().incl;
    let mut remaining = -total;
    let mut paid = None;
    if let Some(i) = &inv {
        // Apply to the invoice: its remaining amount drops by the credit.
        let applied = total.min(i.totals().incl - i.paid).max(0);
        remaining += applied;
        if let Some(d) = co.invoices.get_mut(&i.id) {
            d.paid += applied;
            if d.paid >= d.totals().incl && d.status == INV_OPEN {
                d.status = INV_PAID;
                d.modified = now;
                d.ver = ver;
                paid = Some(d.id);
            }
        }
        if let Some(cle) = co.invoice_cle.get(&i.id).copied()
            && let Some(e) = co.ledger.get_mut(&cle)
        {
            e.remaining -= applied;
            e.open = e.remaining != 0;
            e.modified = now;
            e.ver = ver;
        }
    }
    let e = LedgerEntry {
        id: Uuid::new_v4(),
        ver,
        entry_no: co.next_entry_no,
        customer_id: cust.id,
        customer_number: cust.number.clone(),
        posting_date: date,
        due_date: date,
        doc_type: 3,
        document_number: number,
        external_doc_no: "".into(),
        description: "Credit Memo".into(),
        currency_code: cust.currency_code.clone(),
        amount: -total,
        remaining,
        open: remaining != 0,
        closed_by_entry_no: 0,
        closed_at: if remaining == 0 { date } else { empty_date() },
        document_id: id,
        modified: now,
    };
    co.next_entry_no += 1;
    co.ledger.insert(e.id, e);
    let mut doc = doc;
    if remaining == 0 {
        doc.status = CRMEMO_PAID;
    }
    co.credit_memos.insert(id, doc);
    Ok((id, paid))
}

/// `POST /_sim/companies/{cid}/customers` `{displayName, email, phoneNumber, addressLine1, city,
/// country, number, currencyCode, creditLimit}` (every property optional; wrong types ignored).
pub fn create_customer(co: &mut Company, b: &Value, now: i64, ver: u64) -> Uuid {
    let id = Uuid::new_v4();
    let n = co.customers.len();
    // Stored as BC stores it: blank for the local currency.
    let currency = str_of(b, "currencyCode")
        .filter(|c| **c != *co.lcy)
        .unwrap_or_default();
    let party = Party {
        name: str_of(b, "displayName").unwrap_or_else(|| "New Customer".into()),
        email: str_of(b, "email").unwrap_or_default(),
        phone: str_of(b, "phoneNumber").unwrap_or_default(),
        addr1: str_of(b, "addressLine1").unwrap_or_default(),
        city: str_of(b, "city").unwrap_or_default(),
        country: str_of(b, "country").unwrap_or_else(|| "US".into()),
        ..Default::default()
    };
    let c = Customer {
        id,
        ver,
        number: str_of(b, "number").unwrap_or_else(|| format!("C{:06}", n + 1).into()),
        party: Arc::new(party),
        kind: 0,
        website: "".into(),
        salesperson: "".into(),
        credit_limit: dec_of(b, "creditLimit").unwrap_or(0),
        tax_liable: false,
        tax_reg_no: "".into(),
        currency_id: crate::datagen::currency_id(&currency),
        currency_code: currency,
        payment_terms_id: Uuid::nil(),
        shipment_method_id: Uuid::nil(),
        payment_method_id: Uuid::nil(),
        blocked: 0,
        modified: now,
    };
    co.customers.insert(id, c);
    id
}

/// `POST /_sim/companies/{cid}/salesInvoices` `{customerId, invoiceDate, dueDate,
/// externalDocumentNumber, number, status, lines:[{quantity, unitPrice, taxPercent,
/// discountPercent}]}`: a posted invoice (Open unless `status` says otherwise) with its ledger
/// entry.
pub fn create_invoice(
    co: &mut Company,
    b: &Value,
    now: i64,
    ver: u64,
) -> Result<Uuid, (u16, String)> {
    let cust_id = b
        .get("customerId")
        .and_then(|v| v.as_str())
        .and_then(|s| Uuid::parse_str(s).ok());
    let cust = match cust_id {
        Some(id) => co.customers.get(&id),
        None => co.customers.rows.values().next(),
    }
    .ok_or((400, "no such customer".to_string()))?
    .clone();
    let id = Uuid::new_v4();
    let date = date_of(b, "invoiceDate")?.unwrap_or_else(|| {
        chrono::DateTime::from_timestamp_millis(now)
            .unwrap_or_default()
            .date_naive()
    });
    let mut lines = Vec::new();
    let specs = b
        .get("lines")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_else(|| vec![json!({"quantity": 1, "unitPrice": 100})]);
    for (i, l) in specs.iter().enumerate() {
        lines.push(Line {
            id: Uuid::new_v4(),
            document_id: id,
            sequence: 10000 * (i as u32 + 1),
            line_type: 2,
            item: (i % co.items.len().max(1)) as u32,
            quantity: dec_of(l, "quantity").unwrap_or(100),
            unit_price: dec_of(l, "unitPrice").unwrap_or(10_000),
            discount_pct: dec_of(l, "discountPercent").unwrap_or(0),
            tax_pct: dec_of(l, "taxPercent").unwrap_or(0),
            shipment_date: date,
            dim_set: 0,
        });
    }
    let status = match b.get("status").and_then(|v| v.as_str()) {
        Some(s) => INVOICE_STATUS
            .iter()
            .position(|x| *x == s)
            .ok_or((400, format!("bad status {s}")))? as u8,
        None => INV_OPEN,
    };
    let no = co.next_invoice_no;
    co.next_invoice_no += 1;
    let doc = SalesDoc {
        id,
        ver,
        number: str_of(b, "number").unwrap_or_else(|| format!("{no}").into()),
        external_doc_no: str_of(b, "externalDocumentNumber").unwrap_or_default(),
        doc_date: date,
        posting_date: date,
        due_date: date_of(b, "dueDate")?.unwrap_or(date + chrono::Days::new(30)),
        promised_pay_date: empty_date(),
        your_reference: "".into(),
        customer_id: cust.id,
        customer_number: cust.number.clone(),
        party: cust.party.clone(),
        currency_code: cust.currency_code.clone(),
        currency_id: cust.currency_id,
        dim1: "".into(),
        dim2: "".into(),
        payment_terms_id: cust.payment_terms_id,
        shipment_method_id: Uuid::nil(),
        salesperson: cust.salesperson.clone(),
        status,
        paid: 0,
        applies_to: None,
        modified: now,
        dim_set: 0,
        lines,
    };
    if status != INV_DRAFT {
        let total = doc.totals().incl;
        crate::datagen::add_invoice_cle(co, &doc, total, ver);
    }
    co.invoices.insert(id, doc);
    Ok(id)
}

/// `PATCH /_sim/companies/{cid}/salesInvoices/{id}` `{externalDocumentNumber, dueDate, status,
/// paidAmount}`. `paidAmount` overrides the applied amount as a data fix would (the invoice's
/// ledger entry follows; no payment entry is written): like BC's aggregator, the row is rewritten
/// (stamp, etag, webhook) only when a served header field or the status changes, so a partial
/// amount alone changes `remainingAmount` silently. Returns whether the row was rewritten.
pub fn patch_invoice(
    co: &mut Company,
    id: Uuid,
    b: &Value,
    now: i64,
    ver: u64,
) -> Result<bool, (u16, String)> {
    let d = co
        .invoices
        .get_mut(&id)
        .ok_or((404, "no such invoice".to_string()))?;
    let before = (d.external_doc_no.clone(), d.due_date, d.status);
    if let Some(v) = str_of(b, "externalDocumentNumber") {
        d.external_doc_no = v;
    }
    if let Some(v) = date_of(b, "dueDate")? {
        d.due_date = v;
    }
    if let Some(p) = dec_of(b, "paidAmount") {
        d.paid = p;
        let total = d.totals().incl;
        if d.status == INV_OPEN && d.paid >= total {
            d.status = INV_PAID;
        } else if d.status == INV_PAID && d.paid < total {
            d.status = INV_OPEN;
        }
        let remaining = crate::entities::docs::remaining(d);
        if let Some(cle) = co.invoice_cle.get(&id).copied()
            && let Some(e) = co.ledger.get_mut(&cle)
        {
            e.remaining = remaining;
            e.open = remaining != 0;
            e.modified = now;
            e.ver = ver;
        }
    }
    let d = co.invoices.get_mut(&id).expect("exists");
    if let Some(s) = b.get("status").and_then(|v| v.as_str()) {
        d.status = INVOICE_STATUS
            .iter()
            .position(|x| *x == s)
            .ok_or((400, format!("bad status {s}")))? as u8;
    }
    let rewritten = before != (d.external_doc_no.clone(), d.due_date, d.status);
    if rewritten {
        d.modified = now;
        d.ver = ver;
    }
    Ok(rewritten)
}

/// `POST /_sim/companies/{cid}/raw/{set}`: a customer, posted invoice or credit memo built from
/// whatever the body holds. Properties the simulator can type shape the record (customer, lines,
/// dates); every property except `lines` is then served verbatim, so the record can carry what
/// BC's API would refuse (`displayName: ""`, zero GUIDs, `0001-01-01`, strings for amounts).
/// Returns the id and the webhook resource.
pub fn insert_raw(
    co: &mut Company,
    set: &str,
    b: &Value,
    now: i64,
    ver: u64,
) -> Result<(Uuid, &'static str), (u16, String)> {
    let Value::Object(props) = b else {
        return Err((400, "the body must be a JSON object".into()));
    };
    let mut typed = props.clone();
    let usable_customer = |k: &str, m: &serde_json::Map<String, Value>| {
        m.get(k)
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok())
            .is_some_and(|id| co.customers.get(&id).is_some())
    };
    if !usable_customer("customerId", props) {
        typed.remove("customerId");
    }
    if let Some(inv) = props.get("invoiceId").and_then(|v| v.as_str())
        && Uuid::parse_str(inv)
            .ok()
            .and_then(|i| co.invoices.get(&i))
            .is_none()
    {
        typed.remove("invoiceId");
    }
    for k in ["invoiceDate", "dueDate", "creditMemoDate"] {
        if date_of(b, k).is_err() {
            typed.remove(k);
        }
    }
    if let Some(s) = props.get("status").and_then(|v| v.as_str())
        && !INVOICE_STATUS.contains(&s)
    {
        typed.remove("status");
    }
    let typed = Value::Object(typed);
    let (id, hook) = match set {
        "customers" => (create_customer(co, &typed, now, ver), "customers"),
        "salesInvoices" => (create_invoice(co, &typed, now, ver)?, "salesInvoices"),
        "salesCreditMemos" => (
            create_credit_memo(co, &typed, now, ver)?.0,
            "salesCreditMemos",
        ),
        _ => {
            return Err((
                404,
                format!(
                    "raw inserts are for customers, salesInvoices and salesCreditMemos, not '{set}'"
                ),
            ));
        }
    };
    let mut verbatim = props.clone();
    verbatim.remove("lines");
    verbatim.remove("id");
    let patch = crate::records::RawPatch {
        properties: verbatim,
        remove: Vec::new(),
        touch: false,
    };
    crate::raw::apply(co, set, id, &patch, now, ver)?;
    Ok((id, hook))
}
