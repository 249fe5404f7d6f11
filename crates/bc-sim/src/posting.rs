//! Posting a payment journal: apply payments to invoices, write ledger entries.

use uuid::Uuid;

use crate::error::ApiError;
use crate::hooks::Change;
use crate::model::*;
use crate::store::Company;
use crate::value::empty_date;

fn dialog(msg: String) -> ApiError {
    ApiError::new(400, "Application_DialogException", msg)
}

/// BC's `Format` of a decimal in an error text: thousands separators, no trailing zeros
/// (`-1500.00` → `-1,500`, `-1234.50` → `-1,234.5`).
pub fn bc_decimal(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let a = cents.unsigned_abs();
    let int = (a / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let frac = a % 100;
    match frac {
        0 => format!("{sign}{grouped}"),
        f if f.is_multiple_of(10) => format!("{sign}{grouped}.{}", f / 10),
        f => format!("{sign}{grouped}.{f:02}"),
    }
}

/// Post a payment journal batch (`journals({id})/Microsoft.NAV.post`, page 30016 resolves any
/// batch by its SystemId, so a `customerPaymentJournals` id works): every line of the batch is
/// checked, then the batch must balance per document, then each line is posted (applied to its
/// invoice, customer ledger entry + G/L entries written) and removed. All-or-nothing, as BC's
/// posting transaction. The checks and their order follow codeunit 13 "Gen. Jnl.-Post Batch"
/// (`CheckLine` → codeunit 11 `RunCheck`, then `CheckBalance`, then codeunit 12 posting).
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
    let mut lines: Vec<Payment> = co
        .payments
        .rows
        .values()
        .filter(|p| p.journal_id == jid)
        .cloned()
        .collect();
    lines.sort_by_key(|p| p.line_number);
    if lines.is_empty() {
        return Err(dialog("There is nothing to post.".into()));
    }
    let test_key = |p: &Payment| {
        format!(
            "Journal Template Name=CASHRCPT, Journal Batch Name={jcode}, Line No.={}",
            p.line_number
        )
    };
    let key = |p: &Payment| {
        format!(
            "Journal Template Name='CASHRCPT',Journal Batch Name='{jcode}',Line No.='{}'",
            p.line_number
        )
    };
    // 1. CheckLine (codeunit 11 "Gen. Jnl.-Check Line".RunCheck) on every line.
    for p in &lines {
        let out_of_range = co.allow_posting_from.is_some_and(|f| p.posting_date < f)
            || co.allow_posting_to.is_some_and(|t| p.posting_date > t);
        if out_of_range {
            return Err(dialog(format!(
                "Posting Date is not within your range of allowed posting dates in Gen. Journal Line {}.",
                key(p)
            )));
        }
        if p.document_number.is_empty() {
            return Err(ApiError::new(
                400,
                "Application_FieldValidationException",
                format!(
                    "Document No. must have a value in Gen. Journal Line: {}. It cannot be zero or empty.",
                    test_key(p)
                ),
            ));
        }
        let cust = co.customers.get(&p.customer_id);
        let Some(cust) = cust.filter(|_| !p.customer_id.is_nil()) else {
            return Err(ApiError::new(
                400,
                "Application_FieldValidationException",
                format!(
                    "Account No. must have a value in Gen. Journal Line: {}. It cannot be zero or empty.",
                    test_key(p)
                ),
            ));
        };
        if p.amount == 0 {
            continue;
        }
        if cust.blocked == 3 {
            return Err(dialog(format!(
                "You cannot post this type of document when Customer {} is blocked with type All",
                cust.number
            )));
        }
        if p.amount > 0 {
            return Err(dialog(format!(
                "Amount must be negative in Gen. Journal Line {}.",
                key(p)
            )));
        }
    }
    // 2. CheckBalance per document (the cash receipt template forces document balance).
    let mut i = 0;
    while i < lines.len() {
        let (doc, date) = (&lines[i].document_number, lines[i].posting_date);
        let mut bal = 0i64;
        while i < lines.len() && lines[i].document_number == *doc && lines[i].posting_date == date {
            if lines[i].bal_account_no.is_empty() {
                bal += lines[i].amount;
            }
            i += 1;
        }
        if bal != 0 {
            return Err(dialog(format!(
                "Document No. {doc} is out of balance by {}. Please check that Posting Date, Document Type, Document No. and Amount are correct for each line.",
                bc_decimal(bal)
            )));
        }
    }
    // 3. Applies-to: the invoice's customer ledger entry must still be open (codeunit 12
    //    PrepareTempCustLedgEntry: FindFirst on Document No./Type, Customer No., Open = Yes).
    for p in &lines {
        if p.applies_to_invoice_no.is_empty() || p.amount == 0 {
            continue;
        }
        let open = co
            .invoices
            .get(&p.applies_to_invoice_id)
            .and_then(|inv| co.invoice_cle.get(&inv.id))
            .and_then(|k| co.ledger.get(k))
            .is_some_and(|e| e.open && e.customer_id == p.customer_id);
        if !open {
            return Err(ApiError::new(
                400,
                "Internal_DataNotFoundFilter",
                format!(
                    "There is no Cust. Ledger Entry within the filter.  Filters: Customer No.: {}, Document Type: Invoice, Document No.: {}, Open: Yes",
                    p.customer_number, p.applies_to_invoice_no
                ),
            ));
        }
    }
    for p in lines {
        if p.amount != 0 {
            post_payment(co, &PaymentPost::from_line(&p), now, ver, env, changes);
        }
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
    /// Balancing G/L account (`id`, number).
    pub bal_account_id: Uuid,
    pub bal_account_no: Box<str>,
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
            bal_account_id: p.bal_account_id,
            bal_account_no: p.bal_account_no.clone(),
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
    // G/L entries: the receivables account is credited, the balancing account debited; both
    // carry the line's document number and description (codeunit 12 InitGLEntry).
    let recv = GL_ACCOUNTS[RECEIVABLES_ACCOUNT];
    let received = -p.amount;
    for (acc_id, acc_no, debit, credit) in [
        (Uuid::from_u128(recv.0), recv.1.into(), 0, received),
        (p.bal_account_id, p.bal_account_no.clone(), received, 0),
    ] {
        let g = GlEntry {
            id: Uuid::new_v4(),
            ver,
            entry_no: co.next_gl_entry_no,
            posting_date: p.posting_date,
            document_number: p.document_number.clone(),
            doc_type: 1,
            account_id: acc_id,
            account_number: acc_no,
            description: p.description.clone(),
            debit,
            credit,
            modified: now,
        };
        co.next_gl_entry_no += 1;
        co.gl.insert(g.id, g);
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn decimals_are_formatted_as_bc_formats_them() {
        for (c, t) in [
            (-150_000, "-1,500"),
            (-123_450, "-1,234.5"),
            (1_234, "12.34"),
            (5, "0.05"),
            (12_345_678_900, "123,456,789"),
            (0, "0"),
        ] {
            assert_eq!(super::bc_decimal(c), t);
        }
    }
}
