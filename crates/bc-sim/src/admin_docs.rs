//! Admin creation of credit memos (with their ledger entry).

use serde_json::Value;
use uuid::Uuid;

use crate::model::*;
use crate::store::Company;
use crate::value::{empty_date, parse_dec};

fn dec_of(b: &Value, k: &str) -> Option<i64> {
    b.get(k)
        .and_then(|v| parse_dec(v.to_string().trim_matches('"')))
}

/// `POST /_sim/companies/{cid}/salesCreditMemos`
/// `{customerId?, invoiceId?, creditMemoDate?, lines:[{quantity, unitPrice, taxPercent}]}`:
/// a posted (Open) credit memo; with `invoiceId` it applies to that invoice (lowers its
/// remaining amount) and takes the invoice's customer.
pub fn create_credit_memo(
    co: &mut Company,
    b: &Value,
    now: i64,
    ver: u64,
) -> Result<Uuid, (u16, String)> {
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
    co.credit_memos.insert(id, doc);
    Ok(id)
}
