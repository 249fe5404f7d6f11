//! POST / PATCH / DELETE and bound actions (customer payments, journal posting).

use axum::http::{Method, StatusCode};
use uuid::Uuid;

use crate::entities::*;
use crate::error::ApiError;
use crate::expand;
use crate::hooks::Change;
use crate::model::*;
use crate::respond::{company_not_found, ctx_url, guid, seg, single};
use crate::routed::{Out, Rc};
use crate::state::State;
use crate::write_body::{body_obj, gid, s};

pub(crate) fn not_allowed(m: &Method, set: &str) -> ApiError {
    ApiError::new(
        405,
        "BadRequest_MethodNotAllowed",
        format!(
            "'{m}' requests for '{set}' of EdmType 'Entity' are not allowed within Dynamics 365 Business Central OData web services."
        ),
    )
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
            crate::payments::create(rc, co, jid, &m, now, ver)
        }
        (Method::POST, ("customerPaymentJournals", Some(j)), 2)
            if rest[1] == "customerPayments" =>
        {
            let m = body_obj(
                rc,
                &PAYMENT.iter().map(|f| f.name).collect::<Vec<_>>(),
                "customerPayment",
            )?;
            crate::payments::create(rc, co, guid(j)?, &m, now, ver)
        }
        (Method::POST, ("customers", None), 1) => {
            let (o, id) = crate::customer_writes::create(rc, co, now, ver)?;
            changes.push(Change::new(env_idx, cid, "customers", id, "created", now));
            Ok(o)
        }
        (Method::PATCH, ("customers", Some(id)), 1) => {
            let id = guid(id)?;
            let o = crate::customer_writes::patch(rc, co, id, now, ver)?;
            changes.push(Change::new(env_idx, cid, "customers", id, "updated", now));
            Ok(o)
        }
        (Method::DELETE, ("customers", Some(id)), 1) => {
            let id = guid(id)?;
            let o = crate::customer_writes::delete(rc, co, id)?;
            changes.push(Change::new(env_idx, cid, "customers", id, "deleted", now));
            Ok(o)
        }
        (Method::PATCH, ("customerPayments", Some(id)), 1) => {
            crate::payments::patch(rc, co, guid(id)?, now, ver)
        }
        (Method::PATCH, ("customerPaymentJournals", Some(_)), 2)
            if seg(rest[1]).0 == "customerPayments" =>
        {
            let id = seg(rest[1])
                .1
                .ok_or_else(|| not_allowed(&rc.method, "customerPayments"))?;
            crate::payments::patch(rc, co, guid(id)?, now, ver)
        }
        (Method::DELETE, ("customerPayments", Some(id)), 1) => {
            crate::payments::delete(rc, co, guid(id)?)
        }
        (Method::DELETE, ("customerPaymentJournals", Some(_)), 2)
            if seg(rest[1]).0 == "customerPayments" =>
        {
            let id = seg(rest[1])
                .1
                .ok_or_else(|| not_allowed(&rc.method, "customerPayments"))?;
            crate::payments::delete(rc, co, guid(id)?)
        }
        (Method::DELETE, ("customerPaymentJournals", Some(id)), 1) => {
            crate::payments::delete_journal(rc, co, guid(id)?)
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
            // Gen. Journal Batch.BalAccountId: a G/L account's SystemId (or nil: none).
            let bal = gid(&m, "balancingAccountId")?.unwrap_or_default();
            let (bal_account_id, bal_account_no) = if bal.is_nil() {
                (bal, "".into())
            } else {
                let (id, no) = gl_account_by_id(bal).ok_or_else(|| {
                    ApiError::new(
                        400,
                        "Application_DialogException",
                        "The \"balancingAccountNumber\" does not match to a G/L Account.",
                    )
                })?;
                (id, no.into())
            };
            let j = PaymentJournal {
                id: Uuid::new_v4(),
                ver,
                code: code.to_uppercase().into(),
                name: s(&m, "displayName").unwrap_or_default().into(),
                bal_account_id,
                bal_account_no,
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
        (Method::POST, ("salesInvoices", Some(id)), 2) if rest[1] == "Microsoft.NAV.post" => {
            let id = guid(id)?;
            crate::posting::post_draft_invoice(co, id, now, ver)?;
            changes.push(Change::new(
                env_idx,
                cid,
                "salesInvoices",
                id,
                "updated",
                now,
            ));
            Ok(Out::no_content())
        }
        (Method::POST, ("salesInvoices", Some(_)), 2) if rest[1].starts_with("Microsoft.NAV.") => {
            Err(ApiError::new(
                501,
                "BadRequest_MethodNotImplemented",
                format!(
                    "The bound action '{}' is not supported by the simulator.",
                    rest[1]
                ),
            ))
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
