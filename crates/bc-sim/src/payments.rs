//! Customer payment journal lines: create, update, delete (with `If-Match`).

use axum::http::StatusCode;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::entities::*;
use crate::error::ApiError;
use crate::expand;
use crate::model::*;
use crate::respond::{ctx_url, single};
use crate::routed::{Out, Rc};
use crate::store::Company;
use crate::write_body::{body_obj, check_if_match, dec, gid, s};

fn payment_url(rc: &Rc, co: &Company) -> String {
    format!(
        "{}/$entity",
        ctx_url(rc, true, &format!("companies({})/customerPayments", co.id))
    )
}

fn apply_payment_fields(
    co: &Company,
    p: &mut Payment,
    m: &Map<String, Value>,
) -> Result<(), ApiError> {
    if let Some(cid) = gid(m, "customerId")? {
        let c = co.customers.get(&cid).ok_or_else(|| {
            ApiError::new(
                400,
                "Internal_RecordNotFound",
                format!(
                    "The Customer does not exist. Identification fields and values: Id='{cid}'"
                ),
            )
        })?;
        p.customer_id = c.id;
        p.customer_number = c.number.clone();
    }
    if let Some(no) = s(m, "customerNumber").filter(|x| !x.is_empty()) {
        let c = co
            .customers
            .rows
            .values()
            .find(|c| *c.number == *no)
            .ok_or_else(|| {
                ApiError::new(
                    400,
                    "Internal_RecordNotFound",
                    format!(
                        "The Customer does not exist. Identification fields and values: No.='{no}'"
                    ),
                )
            })?;
        if m.contains_key("customerId") && c.id != p.customer_id {
            return Err(ApiError::new(
                400,
                "Application_DialogException",
                "The customer number and the customer id do not match.",
            ));
        }
        p.customer_id = c.id;
        p.customer_number = c.number.clone();
    }
    let inv_by_id = gid(m, "appliesToInvoiceId")?;
    let inv_by_no = s(m, "appliesToInvoiceNumber").filter(|x| !x.is_empty());
    if inv_by_id.is_some() || inv_by_no.is_some() {
        let inv = match (inv_by_id, &inv_by_no) {
            (Some(id), _) => co.invoices.get(&id),
            (None, Some(no)) => co.invoices.rows.values().find(|d| *d.number == **no),
            _ => None,
        }
        .ok_or_else(|| {
            ApiError::new(
                400,
                "Application_DialogException",
                "The invoice does not exist.",
            )
        })?;
        if let (Some(no), Some(_)) = (&inv_by_no, inv_by_id)
            && *inv.number != **no
        {
            {
                return Err(ApiError::new(
                    400,
                    "Application_DialogException",
                    "The appliesToInvoiceNumber and appliesToInvoiceId do not match.",
                ));
            }
        }
        if inv.status == INV_DRAFT || inv.status == 2 {
            return Err(ApiError::new(
                400,
                "Application_DialogException",
                format!("The invoice {} is not posted.", inv.number),
            ));
        }
        if p.customer_id.is_nil() {
            p.customer_id = inv.customer_id;
            p.customer_number = inv.customer_number.clone();
        } else if p.customer_id != inv.customer_id {
            return Err(ApiError::new(
                400,
                "Application_DialogException",
                "The customer of the invoice is not the same as the customer of the payment.",
            ));
        }
        p.applies_to_invoice_id = inv.id;
        p.applies_to_invoice_no = inv.number.clone();
    }
    // Validating "Account No." runs Customer.CheckBlockedCustOnJnls(…, Transaction = false).
    let names_customer = [
        "customerId",
        "customerNumber",
        "appliesToInvoiceId",
        "appliesToInvoiceNumber",
    ]
    .iter()
    .any(|k| m.contains_key(*k));
    if names_customer
        && let Some(c) = co.customers.get(&p.customer_id)
        && c.blocked == 3
    {
        return Err(ApiError::new(
            400,
            "Application_DialogException",
            format!(
                "You cannot create this type of document when Customer {} is blocked with type All",
                c.number
            ),
        ));
    }
    if let Some(a) = dec(m, "amount")? {
        p.amount = a;
    }
    if let Some(d) = s(m, "postingDate") {
        p.posting_date = chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| {
            ApiError::new(
                400,
                "BadRequest",
                format!("Cannot convert the literal '{d}' to the expected type 'Edm.Date'."),
            )
        })?;
    }
    for (k, f) in [
        ("documentNumber", 20usize),
        ("externalDocumentNumber", 35),
        ("description", 100),
        ("comment", 250),
    ] {
        if let Some(v) = s(m, k) {
            if v.chars().count() > f {
                return Err(ApiError::new(
                    400,
                    "Application_StringExceededLength",
                    format!(
                        "The length of the string is {}, but it must be less than or equal to {f} characters. Value: {v}",
                        v.chars().count()
                    ),
                ));
            }
            let b: Box<str> = v.into();
            match k {
                "documentNumber" => p.document_number = b,
                "externalDocumentNumber" => p.external_doc_no = b,
                "description" => p.description = b,
                _ => p.comment = b,
            }
        }
    }
    Ok(())
}

pub(crate) fn create(
    rc: &Rc,
    co: &mut Company,
    jid: Uuid,
    m: &Map<String, Value>,
    now: i64,
    ver: u64,
) -> Result<Out, ApiError> {
    let Some(journal) = co.journals.get(&jid) else {
        return Err(ApiError::new(
            400,
            "Application_DialogException",
            format!("The journal batch with id '{jid}' does not exist."),
        ));
    };
    let (bal_account_id, bal_account_no) = (journal.bal_account_id, journal.bal_account_no.clone());
    let last = co
        .payments
        .rows
        .values()
        .filter(|p| p.journal_id == jid)
        .map(|p| p.line_number)
        .max()
        .unwrap_or(0);
    let today = chrono::DateTime::from_timestamp_millis(now)
        .unwrap_or_default()
        .date_naive();
    let mut p = Payment {
        id: Uuid::new_v4(),
        ver,
        journal_id: jid,
        line_number: last + 10000,
        customer_id: Uuid::nil(),
        customer_number: "".into(),
        posting_date: today,
        document_number: format!("G{:05}", co.payments.len() + 1).into(),
        external_doc_no: "".into(),
        amount: 0,
        applies_to_invoice_id: Uuid::nil(),
        applies_to_invoice_no: "".into(),
        description: "".into(),
        comment: "".into(),
        bal_account_id,
        bal_account_no,
        modified: now,
    };
    apply_payment_fields(co, &mut p, m)?;
    if let Some(n) = m.get("lineNumber").and_then(|v| v.as_i64()) {
        p.line_number = n;
    }
    let id = p.id;
    co.payments.insert(id, p);
    let co: &Company = co;
    let p = co.payments.get(&id).expect("inserted");
    let mut o = single(
        rc,
        payment_url(rc, co),
        PAYMENT,
        "customerPayment",
        expand::PAYMENT_NAVS,
        p,
        p.ver,
        &Ctx::new(co),
        &expand::payment,
    )?;
    o.status = StatusCode::CREATED;
    o.headers.push((
        "Location",
        format!(
            "{}{}/api/v2.0/companies({})/customerPayments({})",
            rc.base, rc.prefix, co.id, id
        ),
    ));
    Ok(o)
}

pub(crate) fn patch(
    rc: &Rc,
    co: &mut Company,
    id: Uuid,
    now: i64,
    ver: u64,
) -> Result<Out, ApiError> {
    let cur = co
        .payments
        .get(&id)
        .ok_or_else(|| ApiError::not_found("customerPayment", &id.to_string()))?;
    check_if_match(rc, cur.ver)?;
    let m = body_obj(
        rc,
        &PAYMENT.iter().map(|f| f.name).collect::<Vec<_>>(),
        "customerPayment",
    )?;
    let mut p = cur.clone();
    apply_payment_fields(co, &mut p, &m)?;
    p.ver = ver;
    p.modified = now;
    *co.payments.get_mut(&id).expect("exists") = p;
    let co: &Company = co;
    let p = co.payments.get(&id).expect("exists");
    single(
        rc,
        payment_url(rc, co),
        PAYMENT,
        "customerPayment",
        expand::PAYMENT_NAVS,
        p,
        p.ver,
        &Ctx::new(co),
        &expand::payment,
    )
}

pub(crate) fn delete(rc: &Rc, co: &mut Company, id: Uuid) -> Result<Out, ApiError> {
    let cur = co
        .payments
        .get(&id)
        .ok_or_else(|| ApiError::not_found("customerPayment", &id.to_string()))?;
    check_if_match(rc, cur.ver)?;
    co.payments.remove(&id);
    Ok(Out::no_content())
}

/// `DELETE customerPaymentJournals({id})`: as BC's Gen. Journal Batch `OnDelete`, its unposted
/// lines go with it.
pub(crate) fn delete_journal(rc: &Rc, co: &mut Company, id: Uuid) -> Result<Out, ApiError> {
    let cur = co
        .journals
        .get(&id)
        .ok_or_else(|| ApiError::not_found("customerPaymentJournal", &id.to_string()))?;
    check_if_match(rc, cur.ver)?;
    co.journals.remove(&id);
    let lines: Vec<Uuid> = co
        .payments
        .rows
        .values()
        .filter(|p| p.journal_id == id)
        .map(|p| p.id)
        .collect();
    for line in lines {
        co.payments.remove(&line);
    }
    Ok(Out::no_content())
}
