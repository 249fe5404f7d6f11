//! POST / PATCH / DELETE and bound actions (customer payments, journal posting).

use axum::http::{Method, StatusCode, header};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::State;
use crate::api::{Out, Rc};
use crate::entities::*;
use crate::error::ApiError;
use crate::expand;
use crate::model::*;
use crate::sets::{company_not_found, ctx_url, guid, seg, single};
use crate::store::Company;
use crate::value::{etag, parse_dec};
use crate::webhooks::Change;

fn not_allowed(m: &Method, set: &str) -> ApiError {
    ApiError::new(
        405,
        "BadRequest_MethodNotAllowed",
        format!(
            "'{m}' requests for '{set}' of EdmType 'Entity' are not allowed within Dynamics 365 Business Central OData web services."
        ),
    )
}

/// Check `If-Match` against the current version.
pub fn check_if_match(rc: &Rc, ver: u64) -> Result<(), ApiError> {
    let Some(v) = rc
        .headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(ApiError::new(
            400,
            "BadRequest_InvalidToken",
            "Could not validate the client concurrency token required by the service. Please provide a valid token in the client request.",
        ));
    };
    let v = v.trim();
    if v == "*" || v == etag(ver) || format!("W/{v}") == etag(ver) {
        return Ok(());
    }
    if !v.starts_with("W/\"") && !v.starts_with('"') {
        return Err(ApiError::new(
            400,
            "BadRequest_InvalidToken",
            "Could not validate the client concurrency token required by the service. Please provide a valid token in the client request.",
        ));
    }
    Err(ApiError::new(
        409,
        "Request_EntityChanged",
        "Another user has already changed the record.",
    ))
}

fn body_obj(rc: &Rc, fields: &[&str], ty: &str) -> Result<Map<String, Value>, ApiError> {
    let v: Value = serde_json::from_slice(&rc.body).map_err(|e| {
        ApiError::new(
            400,
            "BadRequest",
            format!("Invalid JSON in the request body: {e}"),
        )
    })?;
    let Value::Object(m) = v else {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "The request body must be a JSON object.",
        ));
    };
    for k in m.keys() {
        if !fields.contains(&k.as_str()) && !k.starts_with('@') {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!(
                    "The property '{k}' does not exist on type 'Microsoft.NAV.{ty}'. Make sure to only use property names that are defined by the type."
                ),
            ));
        }
    }
    Ok(m)
}

fn s(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(|v| v.as_str()).map(|s| s.to_string())
}

fn dec(m: &Map<String, Value>, k: &str) -> Result<Option<i64>, ApiError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse_dec(v.to_string().trim_matches('"'))
            .map(Some)
            .ok_or_else(|| {
                ApiError::new(
                    400,
                    "BadRequest",
                    format!("Cannot convert the literal '{v}' to the expected type 'Edm.Decimal'."),
                )
            }),
    }
}

fn gid(m: &Map<String, Value>, k: &str) -> Result<Option<Uuid>, ApiError> {
    match s(m, k) {
        None => Ok(None),
        Some(x) => Uuid::parse_str(&x).map(Some).map_err(|_| {
            ApiError::new(
                400,
                "Application_InvalidGUID",
                format!("Invalid GUID '{x}' for '{k}'."),
            )
        }),
    }
}

/// Route a write.
pub fn route(state: &State, rc: &Rc, std_api: bool, rest: &[&str]) -> Result<Out, ApiError> {
    if !std_api {
        return Err(not_allowed(
            &rc.method,
            seg(rest.last().copied().unwrap_or("")).0,
        ));
    }
    let now = state.clock.now_ms();
    let mut w = state.world.write().expect("world");
    w.ver += 1;
    let ver = w.ver;
    let env = &mut w.envs[rc.env];
    let (cid, rest): (Uuid, &[&str]) = match seg(rest[0]) {
        ("companies", Some(id)) if rest.len() > 1 => (guid(id)?, &rest[1..]),
        ("companies", _) => return Err(not_allowed(&rc.method, "companies")),
        _ => match &rc.q.company {
            Some(c) => (
                env.companies
                    .rows
                    .values()
                    .find(|x| {
                        x.id.to_string().eq_ignore_ascii_case(c) || x.name.eq_ignore_ascii_case(c)
                    })
                    .map(|x| x.id)
                    .ok_or_else(|| company_not_found(c))?,
                rest,
            ),
            None => return Err(ApiError::no_segment(rest[0])),
        },
    };
    let co = env
        .companies
        .get_mut(&cid)
        .ok_or_else(|| company_not_found(&cid.to_string()))?;
    let env_idx = rc.env;
    let mut changes = Vec::new();
    let out = match (rc.method.clone(), seg(rest[0]), rest.len()) {
        (Method::POST, ("customerPayments", None), 1) => {
            let m = body_obj(
                rc,
                &PAYMENT.iter().map(|f| f.name).collect::<Vec<_>>(),
                "customerPayment",
            )?;
            let jid = gid(&m, "journalId")?.ok_or_else(|| {
                ApiError::new(
                    400,
                    "Application_DialogException",
                    "You must specify a journal batch ID or a journal ID to get a journal line.",
                )
            })?;
            create_payment(rc, co, jid, &m, now, ver)
        }
        (Method::POST, ("customerPaymentJournals", Some(j)), 2)
            if rest[1] == "customerPayments" =>
        {
            let m = body_obj(
                rc,
                &PAYMENT.iter().map(|f| f.name).collect::<Vec<_>>(),
                "customerPayment",
            )?;
            create_payment(rc, co, guid(j)?, &m, now, ver)
        }
        (Method::PATCH, ("customerPayments", Some(id)), 1) => {
            patch_payment(rc, co, guid(id)?, now, ver)
        }
        (Method::PATCH, ("customerPaymentJournals", Some(_)), 2)
            if seg(rest[1]).0 == "customerPayments" =>
        {
            let id = seg(rest[1])
                .1
                .ok_or_else(|| not_allowed(&rc.method, "customerPayments"))?;
            patch_payment(rc, co, guid(id)?, now, ver)
        }
        (Method::DELETE, ("customerPayments", Some(id)), 1) => delete_payment(rc, co, guid(id)?),
        (Method::DELETE, ("customerPaymentJournals", Some(_)), 2)
            if seg(rest[1]).0 == "customerPayments" =>
        {
            let id = seg(rest[1])
                .1
                .ok_or_else(|| not_allowed(&rc.method, "customerPayments"))?;
            delete_payment(rc, co, guid(id)?)
        }
        (Method::POST, ("customerPaymentJournals", None), 1) => {
            let m = body_obj(
                rc,
                &PAYMENT_JOURNAL.iter().map(|f| f.name).collect::<Vec<_>>(),
                "customerPaymentJournal",
            )?;
            let code = s(&m, "code").filter(|c| !c.is_empty()).ok_or_else(|| {
                ApiError::new(
                    400,
                    "BadRequest_RequiredParamNotProvided",
                    "Field 'code' must not be blank.",
                )
            })?;
            if code.len() > 10 {
                return Err(ApiError::new(
                    400,
                    "Application_StringExceededLength",
                    format!(
                        "The length of the string is {}, but it must be less than or equal to 10 characters. Value: {code}",
                        code.len()
                    ),
                ));
            }
            if co
                .journals
                .rows
                .values()
                .any(|j| j.code.eq_ignore_ascii_case(&code))
            {
                return Err(ApiError::new(
                    400,
                    "Internal_EntityWithSameKeyExists",
                    format!(
                        "The record already exists. Identification fields and values: Journal Template Name='CASHRCPT',Name='{}'",
                        code.to_uppercase()
                    ),
                ));
            }
            let j = PaymentJournal {
                id: Uuid::new_v4(),
                ver,
                code: code.to_uppercase().into(),
                name: s(&m, "displayName").unwrap_or_default().into(),
                bal_account_id: gid(&m, "balancingAccountId")?.unwrap_or_default(),
                bal_account_no: "".into(),
                modified: now,
            };
            let id = j.id;
            co.journals.insert(id, j);
            changes.push(Change::new(
                env_idx,
                cid,
                "customerPaymentJournals",
                id,
                "created",
                now,
            ));
            let j = co.journals.get(&id).expect("inserted");
            let url = format!(
                "{}/$entity",
                ctx_url(
                    rc,
                    true,
                    &format!("companies({cid})/customerPaymentJournals")
                )
            );
            created(single(
                rc,
                url,
                PAYMENT_JOURNAL,
                "customerPaymentJournal",
                expand::JOURNAL_NAVS,
                j,
                j.ver,
                &Ctx::new(co),
                &expand::journal,
            )?)
        }
        (Method::POST, ("journals", Some(j)), 2) if rest[1] == "Microsoft.NAV.post" => {
            crate::posting::post_journal(co, guid(j)?, now, ver, &mut changes, env_idx)?;
            Ok(Out::no_content())
        }
        (m, (name, _), _) => Err(not_allowed(&m, name)),
    };
    drop(w);
    for c in changes {
        state.hooks.push(c);
    }
    out
}

fn created(mut o: Out) -> Result<Out, ApiError> {
    o.status = StatusCode::CREATED;
    Ok(o)
}

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

fn create_payment(
    rc: &Rc,
    co: &mut Company,
    jid: Uuid,
    m: &Map<String, Value>,
    now: i64,
    ver: u64,
) -> Result<Out, ApiError> {
    if co.journals.get(&jid).is_none() {
        return Err(ApiError::new(
            400,
            "Application_DialogException",
            format!("The journal batch with id '{jid}' does not exist."),
        ));
    }
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

fn patch_payment(rc: &Rc, co: &mut Company, id: Uuid, now: i64, ver: u64) -> Result<Out, ApiError> {
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

fn delete_payment(rc: &Rc, co: &mut Company, id: Uuid) -> Result<Out, ApiError> {
    let cur = co
        .payments
        .get(&id)
        .ok_or_else(|| ApiError::not_found("customerPayment", &id.to_string()))?;
    check_if_match(rc, cur.ver)?;
    co.payments.remove(&id);
    Ok(Out::no_content())
}
