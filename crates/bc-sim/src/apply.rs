//! Applying a payment to a posted invoice through the admin / Rust API: posted as BC posts a cash
//! receipt (a Payment ledger entry applied to the invoice's entry).

use uuid::Uuid;

use crate::entities::docs::remaining;
use crate::hooks::Change;
use crate::model::*;
use crate::posting::{PaymentPost, post_payment};
use crate::records::{PaymentPosted, PaymentSpec};
use crate::store::Company;

/// Post `spec` against invoice `inv_id`.
pub fn apply_to_invoice(
    co: &mut Company,
    inv_id: Uuid,
    spec: &PaymentSpec,
    now: i64,
    ver: u64,
    env: usize,
    changes: &mut Vec<Change>,
) -> Result<PaymentPosted, (u16, String)> {
    let cents = (spec.amount * 100.0).round() as i64;
    if !spec.amount.is_finite() || cents <= 0 {
        return Err((400, "the amount received must be positive".into()));
    }
    let inv = co
        .invoices
        .get(&inv_id)
        .ok_or((404, "no such invoice".to_string()))?;
    if inv.status == INV_DRAFT || inv.status == 2 {
        return Err((400, format!("The invoice {} is not posted.", inv.number)));
    }
    let today = chrono::DateTime::from_timestamp_millis(now)
        .unwrap_or_default()
        .date_naive();
    let p = PaymentPost {
        customer_id: inv.customer_id,
        customer_number: inv.customer_number.clone(),
        posting_date: spec.posting_date.unwrap_or(today),
        document_number: spec
            .document_number
            .clone()
            .unwrap_or_else(|| format!("PMT{}", co.next_entry_no))
            .into(),
        external_doc_no: spec
            .external_document_number
            .clone()
            .unwrap_or_default()
            .into(),
        description: format!("Payment {}", inv.number).into(),
        amount: -cents,
        applies_to: inv_id,
        bal_account_id: Uuid::from_u128(0xBA4C),
        bal_account_no: "2910".into(),
    };
    let entry_number = co.next_entry_no;
    let key = post_payment(co, &p, now, ver, env, changes);
    let inv = co.invoices.get(&inv_id).expect("still there");
    Ok(PaymentPosted {
        ledger_entry_id: key,
        entry_number,
        remaining_amount: remaining(inv) as f64 / 100.0,
        status: INVOICE_STATUS[inv.status as usize % 7].replace("_x0020_", " "),
    })
}
