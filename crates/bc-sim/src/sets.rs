//! GET routing of entity sets (standard API v2.0 and the companion extension).

use axum::http::Method;
use uuid::Uuid;

use crate::doc_sets::dim_lines;
use crate::entities::docs::*;
use crate::entities::*;
use crate::error::ApiError;
use crate::expand::{self, *};
use crate::model::*;
use crate::respond::*;
use crate::routed::{Out, Rc};
use crate::state::State;
use crate::store::Company;

/// Route a request (reads here, writes delegated).
pub fn route(state: &State, rc: Rc) -> Result<Out, ApiError> {
    let segs = rc.segs.clone();
    let s: Vec<&str> = segs
        .iter()
        .map(|x| x.as_str())
        .filter(|x| !x.is_empty())
        .collect();
    let (std_api, rest) = match s.as_slice() {
        ["v2.0", rest @ ..] => (true, rest),
        ["ledgerlink", "ar", "v1.0", rest @ ..] => (false, rest),
        [first, ..] => return Err(ApiError::no_segment(first)),
        [] => return Err(ApiError::no_segment("api")),
    };
    let rest: Vec<&str> = rest.to_vec();
    match rest.as_slice() {
        [] => return Ok(service_doc(&rc, std_api)),
        ["$metadata"] => return Ok(metadata(std_api)),
        ["$batch"] if std_api && rc.method == Method::POST => {
            return crate::batch::handle(state, &rc, route);
        }
        _ => {}
    }
    if rc.method != Method::GET {
        return crate::writes::route(state, &rc, std_api, &rest);
    }
    let w = state.world.read().expect("world");
    let mut rc = rc;
    rc.world_ver = w.ver;
    let env = &w.envs[rc.env];
    let (co, rest2): (&Company, Vec<&str>) = match seg(rest[0]) {
        ("companies", None) if rest.len() == 1 => {
            let url = ctx_url(&rc, std_api, "companies");
            return list(
                &rc,
                url,
                COMPANY,
                "company",
                NONE,
                env.companies.rows.iter().map(|(k, v)| (*k, v)),
                |k| Box::new(env.companies.rows.range(k + 1..).map(|(k, v)| (*k, v))),
                |c| c.ver,
                &Ctx::new(&NO_COMPANY),
                &expand::none,
            );
        }
        ("companies", Some(id)) => {
            let co = find_company(env, id)?;
            if rest.len() == 1 {
                let url = format!("{}/$entity", ctx_url(&rc, std_api, "companies"));
                return single(
                    &rc,
                    url,
                    COMPANY,
                    "company",
                    NONE,
                    co,
                    co.ver,
                    &Ctx::new(&NO_COMPANY),
                    &expand::none,
                );
            }
            (co, rest[1..].to_vec())
        }
        (name, _) => match &rc.q.company {
            Some(c) => {
                let co = env
                    .companies
                    .rows
                    .values()
                    .find(|x| {
                        x.id.to_string().eq_ignore_ascii_case(c) || x.name.eq_ignore_ascii_case(c)
                    })
                    .ok_or_else(|| company_not_found(c))?;
                (co, rest.clone())
            }
            None if std_api
                && matches!(
                    name,
                    "customers"
                        | "salesInvoices"
                        | "salesCreditMemos"
                        | "customerPayments"
                        | "customerPaymentJournals"
                        | "dimensions"
                        | "dimensionValues"
                        | "customerContacts"
                        | "customerFinancialDetails"
                        | "salesInvoiceLines"
                        | "salesCreditMemoLines"
                        | "companyInformation"
                        | "generalLedgerEntries"
                        | "journals"
                ) =>
            {
                return Err(ApiError::new(
                    400,
                    "Internal_CompanyNotFound",
                    "Cannot process the request because the default company cannot be found. You can specify a default company in the service configuration file, or specify one for each tenant, or you can add a query string in the form of company=[name].",
                ));
            }
            None => return Err(ApiError::no_segment(name)),
        },
    };
    if std_api {
        company_get(&rc, co, &rest2)
    } else {
        crate::extension::get(&rc, co, &rest2)
    }
}

fn company_get(rc: &Rc, co: &Company, rest: &[&str]) -> Result<Out, ApiError> {
    if rest.len() > 1 && rest.last() == Some(&"$count") {
        return count_path(rc, co, &rest[..rest.len() - 1]);
    }
    let base = |set: &str| ctx_url(rc, true, &format!("companies({})/{}", co.id, set));
    let ctx = Ctx::new(co);
    let (name, key) = seg(rest[0]);
    macro_rules! table {
        ($tbl:expr, $fields:expr, $ty:literal, $navs:expr, $ctx:expr, $exp:expr) => {{
            let t = &$tbl;
            match key {
                None if rest.len() == 1 => {
                    return list(
                        rc,
                        base(name),
                        $fields,
                        $ty,
                        $navs,
                        t.rows.iter().map(|(k, v)| (*k, v)),
                        |k| Box::new(t.rows.range(k + 1..).map(|(k, v)| (*k, v))),
                        |r| r.ver,
                        $ctx,
                        $exp,
                    );
                }
                Some(id) if rest.len() == 1 => {
                    let r = t
                        .get(&guid(id)?)
                        .ok_or_else(|| ApiError::not_found($ty, id))?;
                    return single(
                        rc,
                        format!("{}/$entity", base(name)),
                        $fields,
                        $ty,
                        $navs,
                        r,
                        r.ver,
                        $ctx,
                        $exp,
                    );
                }
                _ => {}
            }
        }};
    }
    match name {
        "customers" | "customerFinancialDetails" => {
            let fin = customer_fin_cached(co, rc.today, rc.world_ver);
            let ctx = Ctx {
                fin: Some(&fin),
                ..Ctx::new(co)
            };
            if name == "customers" {
                table!(
                    co.customers,
                    CUSTOMER,
                    "customer",
                    CUSTOMER_NAVS,
                    &ctx,
                    &expand::customer_exp
                );
            } else {
                table!(
                    co.customers,
                    CUSTOMER_FIN,
                    "customerFinancialDetail",
                    NONE,
                    &ctx,
                    &expand::none
                );
            }
            Err(ApiError::no_segment(rest[1]))
        }
        "customerContacts" => {
            table!(
                co.contacts,
                CUSTOMER_CONTACT,
                "customerContact",
                NONE,
                &ctx,
                &expand::none
            );
            Err(ApiError::no_segment(rest[1]))
        }
        "salesInvoices" | "salesCreditMemos" => {
            let inv = name == "salesInvoices";
            if rest.len() == 1 {
                if inv {
                    table!(
                        co.invoices,
                        SALES_INVOICE,
                        "salesInvoice",
                        INVOICE_NAVS,
                        &ctx,
                        &expand::invoice
                    );
                } else {
                    table!(
                        co.credit_memos,
                        SALES_CREDIT_MEMO,
                        "salesCreditMemo",
                        CRMEMO_NAVS,
                        &ctx,
                        &expand::crmemo
                    );
                }
            }
            crate::doc_sets::children(rc, co, name, key, rest)
        }
        "salesInvoiceLines" | "salesCreditMemoLines" => {
            crate::doc_sets::top_lines(rc, co, name, key)
        }
        "companyInformation" => crate::company_info::get(rc, co, key, rest),
        "customerPaymentJournals" => {
            table!(
                co.journals,
                PAYMENT_JOURNAL,
                "customerPaymentJournal",
                JOURNAL_NAVS,
                &ctx,
                &expand::journal
            );
            let jid = guid(key.unwrap_or_default())?;
            let j = co
                .journals
                .get(&jid)
                .ok_or_else(|| ApiError::not_found("customerPaymentJournal", &jid.to_string()))?;
            let (sub, subkey) = seg(rest[1]);
            if sub != "customerPayments" || rest.len() > 2 {
                return Err(ApiError::no_segment(sub));
            }
            payments(
                rc,
                format!("{}({})/customerPayments", base(name), jid),
                co,
                j.id,
                subkey,
            )
        }
        "customerPayments" => {
            if let Some(id) = key {
                let p = co
                    .payments
                    .get(&guid(id)?)
                    .ok_or_else(|| ApiError::not_found("customerPayment", id))?;
                return match rest.get(1) {
                    None => single(
                        rc,
                        format!("{}/$entity", base(name)),
                        PAYMENT,
                        "customerPayment",
                        PAYMENT_NAVS,
                        p,
                        p.ver,
                        &ctx,
                        &expand::payment,
                    ),
                    Some(&"dimensionSetLines") => dim_lines(
                        rc,
                        format!("{}({})/dimensionSetLines", base(name), p.id),
                        co,
                        0,
                        p.id,
                        "Journal_x0020_Line",
                    ),
                    Some(s) => Err(ApiError::no_segment(s)),
                };
            }
            let jid = match (
                filter_eq(&rc.q.filter, "journalId"),
                filter_eq(&rc.q.filter, "journalDisplayName"),
            ) {
                (Some(j), _) => guid(&j)?,
                (None, Some(code)) => co
                    .journals
                    .rows
                    .values()
                    .find(|j| j.code.eq_ignore_ascii_case(&code))
                    .map(|j| j.id)
                    .ok_or_else(|| ApiError::not_found("customerPaymentJournal", &code))?,
                _ => {
                    return Err(ApiError::new(
                        400,
                        "Application_DialogException",
                        "You must specify a journal batch ID or a journal ID to get a journal line.",
                    ));
                }
            };
            payments(rc, base(name), co, jid, None)
        }
        "dimensions" => {
            table!(
                co.dimensions,
                DIMENSION,
                "dimension",
                DIMENSION_NAVS,
                &ctx,
                &expand::dimension
            );
            let did = guid(key.unwrap_or_default())?;
            if rest.get(1) != Some(&"dimensionValues") || rest.len() > 2 {
                return Err(ApiError::no_segment(rest[1]));
            }
            let vals: Vec<(u64, &DimValue)> = co
                .dim_values
                .rows
                .iter()
                .filter(|(_, v)| v.dimension_id == did)
                .map(|(k, v)| (*k, v))
                .collect();
            let vals2 = vals.clone();
            list(
                rc,
                format!("{}({})/dimensionValues", base(name), did),
                DIMENSION_VALUE,
                "dimensionValue",
                DIMVALUE_NAVS,
                vals.into_iter(),
                move |k| Box::new(vals2.clone().into_iter().filter(move |(x, _)| *x > k)),
                |r| r.ver,
                &ctx,
                &expand::dim_value,
            )
        }
        "dimensionValues" => {
            table!(
                co.dim_values,
                DIMENSION_VALUE,
                "dimensionValue",
                DIMVALUE_NAVS,
                &ctx,
                &expand::dim_value
            );
            Err(ApiError::no_segment(rest[1]))
        }
        "generalLedgerEntries" => {
            table!(
                co.gl,
                GL_ENTRY,
                "generalLedgerEntry",
                expand::NONE,
                &ctx,
                &expand::none
            );
            Err(ApiError::no_segment(rest[1]))
        }
        "journals" => {
            // Page 30016: with an id, OnFindRecord returns GetBySystemId (any template); a list is
            // the default (GENERAL) template's batches unless `templateDisplayName` is filtered.
            // The simulator has only cash receipt batches: they are listed when the filter names
            // the template, and `GET journals` alone is empty.
            if let Some(id) = key {
                if rest.len() > 1 {
                    return Err(ApiError::no_segment(rest[1]));
                }
                let j = co
                    .journals
                    .get(&guid(id)?)
                    .ok_or_else(|| ApiError::not_found("journal", id))?;
                return single(
                    rc,
                    format!("{}/$entity", base(name)),
                    JOURNAL,
                    "journal",
                    NONE,
                    j,
                    j.ver,
                    &ctx,
                    &expand::none,
                );
            }
            if rest.len() > 1 {
                return Err(ApiError::no_segment(rest[1]));
            }
            let names_template =
                rc.q.filter
                    .as_ref()
                    .is_some_and(|f| mentions(f, "templateDisplayName"));
            let t = &co.journals;
            let none = names_template;
            list(
                rc,
                base(name),
                JOURNAL,
                "journal",
                NONE,
                t.rows.iter().filter(move |_| none).map(|(k, v)| (*k, v)),
                move |k| {
                    Box::new(
                        t.rows
                            .range(k + 1..)
                            .filter(move |_| none)
                            .map(|(k, v)| (*k, v)),
                    )
                },
                |r| r.ver,
                &ctx,
                &expand::none,
            )
        }
        _ => Err(ApiError::no_segment(name)),
    }
}

/// Whether a `$filter` compares `field`.
fn mentions(e: &crate::filter::Expr, field: &str) -> bool {
    use crate::filter::Expr::*;
    match e {
        Cmp(f, _, _) => f == field,
        And(a, b) | Or(a, b) => mentions(a, field) || mentions(b, field),
        Not(a) => mentions(a, field),
    }
}

fn payments(
    rc: &Rc,
    url: String,
    co: &Company,
    jid: Uuid,
    key: Option<&str>,
) -> Result<Out, ApiError> {
    let ctx = Ctx::new(co);
    if let Some(id) = key {
        let p = co
            .payments
            .get(&guid(id)?)
            .filter(|p| p.journal_id == jid)
            .ok_or_else(|| ApiError::not_found("customerPayment", id))?;
        return single(
            rc,
            format!("{url}/$entity"),
            PAYMENT,
            "customerPayment",
            PAYMENT_NAVS,
            p,
            p.ver,
            &ctx,
            &expand::payment,
        );
    }
    let rows = co
        .payments
        .rows
        .iter()
        .filter(move |(_, p)| p.journal_id == jid)
        .map(|(k, v)| (*k, v));
    list(
        rc,
        url,
        PAYMENT,
        "customerPayment",
        PAYMENT_NAVS,
        rows,
        move |k| {
            Box::new(
                co.payments
                    .rows
                    .range(k + 1..)
                    .filter(move |(_, p)| p.journal_id == jid)
                    .map(|(k, v)| (*k, v)),
            )
        },
        |r| r.ver,
        &ctx,
        &expand::payment,
    )
}

/// `…/{set}/$count`: the number of matching entities as `text/plain`.
fn count_path(rc: &Rc, co: &Company, rest: &[&str]) -> Result<Out, ApiError> {
    if seg(rest[rest.len() - 1]).1.is_some() {
        return Err(ApiError::no_segment("$count"));
    }
    count_of(rc, |rc2| company_get(rc2, co, rest))
}
