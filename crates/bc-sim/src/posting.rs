//! Posting a payment journal: apply payments to invoices, write ledger entries.

use uuid::Uuid;

use crate::error::ApiError;
use crate::hooks::Change;
use crate::model::*;
use crate::store::Company;
use crate::value::empty_date;

/// Post a payment journal batch: apply each line to its invoice, write ledger entries,
/// remove the lines. All-or-nothing, as BC's posting transaction.
pub fn post_journal(
    co: &mut Company,
    jid: Uuid,
    now: i64,
    ver: u64,
    changes: &mut Vec<Change>,
    env: usize,
) -> Result<(), ApiError> {
    let j = co
        .journals
        .get(&jid)
        .ok_or_else(|| ApiError::not_found("journal", &jid.to_string()))?;
    let jcode = j.code.clone();
    let lines: Vec<Payment> = co
        .payments
        .rows
        .values()
        .filter(|p| p.journal_id == jid)
        .cloned()
        .collect();
    if lines.is_empty() {
        return Err(ApiError::new(
            400,
            "Application_DialogException",
            "There is nothing to post.",
        ));
    }
    for p in &lines {
        if p.customer_id.is_nil() || co.customers.get(&p.customer_id).is_none() {
            return Err(ApiError::new(
                400,
                "Application_DialogException",
                format!(
                    "Account No. must have a value in Gen. Journal Line: Journal Template Name=CASHRCPT, Journal Batch Name={jcode}, Line No.={}. It cannot be zero or empty.",
                    p.line_number
                ),
            ));
        }
        if p.amount >= 0 {
            return Err(ApiError::new(
                400,
                "Application_DialogException",
                format!(
                    "Amount must be negative in Gen. Journal Line Journal Template Name='CASHRCPT',Journal Batch Name='{jcode}',Line No.='{}'.",
                    p.line_number
                ),
            ));
        }
    }
    for p in lines {
        post_payment(co, &PaymentPost::from_line(&p), now, ver, env, changes);
        co.payments.remove(&p.id);
    }
    Ok(())
}

/// One payment to post: a journal line, or a payment applied through the admin / Rust API.
pub struct PaymentPost {
    pub customer_id: Uuid,
    pub customer_number: Box<str>,
    pub posting_date: chrono::NaiveDate,
    pub document_number: Box<str>,
    pub external_doc_no: Box<str>,
    pub description: Box<str>,
    /// Negative (money received), hundredths.
    pub amount: i64,
    /// Invoice the payment applies to (nil: none).
    pub applies_to: Uuid,
}

impl PaymentPost {
    fn from_line(p: &Payment) -> Self {
        PaymentPost {
            customer_id: p.customer_id,
            customer_number: p.customer_number.clone(),
            posting_date: p.posting_date,
            document_number: p.document_number.clone(),
            external_doc_no: p.external_doc_no.clone(),
            description: p.description.clone(),
            amount: p.amount,
            applies_to: p.applies_to_invoice_id,
        }
    }
}

/// Post one payment as BC does: a Payment ledger entry, applied to its invoice's entry (which
/// closes when nothing remains). The invoice's `remainingAmount` follows; its row (stamp, etag)
/// changes only when its status does (`Open` → `Paid`), as the Sales Invoice Aggregator's
/// `UpdateStatusIfChanged` modifies the aggregate only on a status change. Returns the id of the
/// payment's ledger entry.
pub fn post_payment(
    co: &mut Company,
    p: &PaymentPost,
    now: i64,
    ver: u64,
    env: usize,
    changes: &mut Vec<Change>,
) -> Uuid {
    let cid = co.id;
    let mut left = -p.amount;
    let entry_no = co.next_entry_no;
    let mut currency: Box<str> = "".into();
    if let Some(inv) = co.invoices.get_mut(&p.applies_to) {
        let total = inv.totals().incl;
        let remaining = if inv.status == INV_CANCELED {
            0
        } else {
            total - inv.paid
        };
        let applied = left.min(remaining.max(0));
        inv.paid += applied;
        left -= applied;
        currency = inv.currency_code.clone();
        if inv.paid >= total && inv.status == INV_OPEN {
            inv.status = INV_PAID;
            inv.modified = now;
            inv.ver = ver;
            changes.push(Change::new(
                env,
                cid,
                "salesInvoices",
                inv.id,
                "updated",
                now,
            ));
        }
        let inv_id = inv.id;
        if let Some(cle_id) = co.invoice_cle.get(&inv_id).copied()
            && let Some(e) = co.ledger.get_mut(&cle_id)
        {
            e.remaining -= applied;
            e.open = e.remaining != 0;
            if !e.open {
                e.closed_by_entry_no = entry_no;
                e.closed_at = p.posting_date;
            }
            e.modified = now;
            e.ver = ver;
        }
    }
    let e = LedgerEntry {
        id: Uuid::new_v4(),
        ver,
        entry_no,
        customer_id: p.customer_id,
        customer_number: p.customer_number.clone(),
        posting_date: p.posting_date,
        due_date: p.posting_date,
        doc_type: 1,
        document_number: p.document_number.clone(),
        external_doc_no: p.external_doc_no.clone(),
        description: p.description.clone(),
        currency_code: currency,
        amount: p.amount,
        remaining: -left,
        open: left != 0,
        closed_by_entry_no: 0,
        closed_at: if left == 0 {
            p.posting_date
        } else {
            empty_date()
        },
        document_id: Uuid::nil(),
        modified: now,
    };
    co.next_entry_no += 1;
    let id = e.id;
    co.ledger.insert(id, e);
    id
}

/// Create the ledger entry of a posted invoice (and a closed payment entry for what is paid).
pub fn add_invoice_cle(c: &mut Company, doc: &SalesDoc, total: i64, ver: u64) {
    let id = Uuid::from_u128(doc.id.as_u128() ^ 0x5A5A_5A5A);
    let remaining = if doc.status == INV_CANCELED {
        0
    } else {
        total - doc.paid
    };
    let e = LedgerEntry {
        id,
        ver,
        entry_no: c.next_entry_no,
        customer_id: doc.customer_id,
        customer_number: doc.customer_number.clone(),
        posting_date: doc.posting_date,
        due_date: doc.due_date,
        doc_type: 2,
        document_number: doc.number.clone(),
        external_doc_no: doc.external_doc_no.clone(),
        description: format!("Invoice {}", doc.number).into(),
        currency_code: doc.currency_code.clone(),
        amount: total,
        remaining,
        open: remaining != 0,
        closed_by_entry_no: if remaining == 0 {
            c.next_entry_no + 1
        } else {
            0
        },
        closed_at: if remaining == 0 {
            doc.posting_date
        } else {
            empty_date()
        },
        document_id: doc.id,
        modified: doc.modified,
    };
    c.next_entry_no += 1;
    c.invoice_cle.insert(doc.id, id);
    c.ledger.insert(id, e);
    if doc.paid != 0 && doc.status != INV_CANCELED {
        let pid = Uuid::from_u128(doc.id.as_u128() ^ 0xA5A5_A5A5);
        let p = LedgerEntry {
            id: pid,
            ver,
            entry_no: c.next_entry_no,
            customer_id: doc.customer_id,
            customer_number: doc.customer_number.clone(),
            posting_date: doc.due_date,
            due_date: doc.due_date,
            doc_type: 1,
            document_number: format!("PMT{}", doc.number).into(),
            external_doc_no: "".into(),
            description: format!("Payment {}", doc.number).into(),
            currency_code: doc.currency_code.clone(),
            amount: -doc.paid,
            remaining: 0,
            open: false,
            closed_by_entry_no: 0,
            closed_at: doc.due_date,
            document_id: Uuid::nil(),
            modified: doc.modified,
        };
        c.next_entry_no += 1;
        c.ledger.insert(pid, p);
    }
}

/// `salesInvoices({id})/Microsoft.NAV.post` on a draft: the header id survives, the number
/// becomes the posted number, line ids change (as BC), a ledger entry is written.
pub fn post_draft_invoice(co: &mut Company, id: Uuid, now: i64, ver: u64) -> Result<(), ApiError> {
    let no = co.next_invoice_no;
    let d = co
        .invoices
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("salesInvoice", &id.to_string()))?;
    if d.status != INV_DRAFT {
        return Err(ApiError::new(
            400,
            "Application_DialogException",
            format!("The invoice {} is already posted.", d.number),
        ));
    }
    if d.lines.is_empty() {
        return Err(ApiError::new(
            400,
            "Application_DialogException",
            "There is nothing to post.",
        ));
    }
    d.status = INV_OPEN;
    d.number = format!("{no}").into();
    d.posting_date = chrono::DateTime::from_timestamp_millis(now)
        .unwrap_or_default()
        .date_naive();
    d.modified = now;
    d.ver = ver;
    for l in d.lines.iter_mut() {
        l.id = Uuid::new_v4();
    }
    let doc = d.clone();
    co.next_invoice_no += 1;
    let total = doc.totals().incl;
    add_invoice_cle(co, &doc, total, ver);
    Ok(())
}
