//! Sales document children: nested lines and dimension set lines, top-level line sets.

use uuid::Uuid;

use crate::entities::docs::*;
use crate::entities::*;
use crate::error::ApiError;
use crate::expand::{self, *};
use crate::model::*;
use crate::respond::*;
use crate::routed::{Out, Rc};
use crate::serve::ExpandFn;
use crate::store::Company;

fn base(rc: &Rc, co: &Company, set: &str) -> String {
    ctx_url(rc, true, &format!("companies({})/{}", co.id, set))
}

/// `salesInvoices({id})/…` and `salesCreditMemos({id})/…`.
pub fn children(
    rc: &Rc,
    co: &Company,
    name: &str,
    key: Option<&str>,
    rest: &[&str],
) -> Result<Out, ApiError> {
    let ctx = Ctx::new(co);
    let base = |set: &str| base(rc, co, set);
    let inv = name == "salesInvoices";
    let t = if inv { &co.invoices } else { &co.credit_memos };
    let id = key.ok_or_else(|| ApiError::no_segment(rest[1]))?;
    let d = t.get(&guid(id)?).ok_or_else(|| {
        ApiError::not_found(
            if inv {
                "salesInvoice"
            } else {
                "salesCreditMemo"
            },
            id,
        )
    })?;
    let lines_name = if inv {
        "salesInvoiceLines"
    } else {
        "salesCreditMemoLines"
    };
    let ptype = if inv {
        "Sales_x0020_Invoice"
    } else {
        "Sales_x0020_Credit_x0020_Memo"
    };
    let lptype = if inv {
        "Sales_x0020_Invoice_x0020_Line"
    } else {
        "Sales_x0020_Credit_x0020_Memo_x0020_Line"
    };
    let (sub, subkey) = seg(rest[1]);
    let url = format!("{}({})/{}", base(name), d.id, sub);
    match (sub, subkey, rest.len()) {
        (s, None, 2) if s == lines_name => lines_page(rc, url, d, inv, &ctx),
        (s, Some(lid), 2) if s == lines_name => {
            let l = Company::doc_line(d, &guid(lid)?)
                .ok_or_else(|| ApiError::not_found(lines_name, lid))?;
            let (f, ty, navs, exp): (_, _, _, ExpandFn<'_, Line>) = if inv {
                (
                    SALES_INVOICE_LINE,
                    "salesInvoiceLine",
                    INVOICE_LINE_NAVS,
                    &expand::invoice_line,
                )
            } else {
                (
                    SALES_CREDIT_MEMO_LINE,
                    "salesCreditMemoLine",
                    CRMEMO_LINE_NAVS,
                    &expand::crmemo_line,
                )
            };
            single(
                rc,
                format!("{url}/$entity"),
                f,
                ty,
                navs,
                l,
                line_ver(d.ver, l),
                &ctx,
                exp,
            )
        }
        ("dimensionSetLines", None, 2) => dim_lines(rc, url, co, d.dim_set, d.id, ptype),
        (s, Some(lid), 3) if s == lines_name && rest[2] == "dimensionSetLines" => {
            let l = Company::doc_line(d, &guid(lid)?)
                .ok_or_else(|| ApiError::not_found(lines_name, lid))?;
            dim_lines(
                rc,
                format!("{url}({lid})/dimensionSetLines"),
                co,
                l.dim_set,
                l.id,
                lptype,
            )
        }
        _ => Err(ApiError::no_segment(sub)),
    }
}

/// Top-level `salesInvoiceLines` / `salesCreditMemoLines` (need a `documentId` filter, as BC).
pub fn top_lines(rc: &Rc, co: &Company, name: &str, key: Option<&str>) -> Result<Out, ApiError> {
    let ctx = Ctx::new(co);
    let base = |set: &str| base(rc, co, set);
    let inv = name == "salesInvoiceLines";
    let t = if inv { &co.invoices } else { &co.credit_memos };
    if let Some(lid) = key {
        let lid = guid(lid)?;
        let (d, l) = t
            .rows
            .values()
            .find_map(|d| Company::doc_line(d, &lid).map(|l| (d, l)))
            .ok_or_else(|| ApiError::not_found(name, &lid.to_string()))?;
        let (f, ty, navs, exp): (_, _, _, ExpandFn<'_, Line>) = if inv {
            (
                SALES_INVOICE_LINE,
                "salesInvoiceLine",
                INVOICE_LINE_NAVS,
                &expand::invoice_line,
            )
        } else {
            (
                SALES_CREDIT_MEMO_LINE,
                "salesCreditMemoLine",
                CRMEMO_LINE_NAVS,
                &expand::crmemo_line,
            )
        };
        return single(
            rc,
            format!("{}/$entity", base(name)),
            f,
            ty,
            navs,
            l,
            line_ver(d.ver, l),
            &ctx,
            exp,
        );
    }
    let doc = filter_eq(&rc.q.filter, "documentId").ok_or_else(|| {
        ApiError::new(
            400,
            "Application_DialogException",
            "You must specify a document id to get the lines.",
        )
    })?;
    let d = t
        .get(&guid(&doc)?)
        .ok_or_else(|| ApiError::not_found(name, &doc))?;
    lines_page(rc, base(name), d, inv, &ctx)
}

pub(crate) fn lines_page<'r>(
    rc: &Rc,
    url: String,
    d: &'r SalesDoc,
    inv: bool,
    ctx: &Ctx<'_>,
) -> Result<Out, ApiError> {
    let rows = d.lines.iter().enumerate().map(|(i, l)| (i as u64, l));
    let after = move |k: u64| -> Box<dyn Iterator<Item = (u64, &'r Line)> + 'r> {
        Box::new(
            d.lines
                .iter()
                .enumerate()
                .skip(k as usize + 1)
                .map(|(i, l)| (i as u64, l)),
        )
    };
    if inv {
        list(
            rc,
            url,
            SALES_INVOICE_LINE,
            "salesInvoiceLine",
            INVOICE_LINE_NAVS,
            rows,
            after,
            move |l: &Line| line_ver(d.ver, l),
            ctx,
            &expand::invoice_line,
        )
    } else {
        list(
            rc,
            url,
            SALES_CREDIT_MEMO_LINE,
            "salesCreditMemoLine",
            CRMEMO_LINE_NAVS,
            rows,
            after,
            move |l: &Line| line_ver(d.ver, l),
            ctx,
            &expand::crmemo_line,
        )
    }
}

pub(crate) fn dim_lines(
    rc: &Rc,
    url: String,
    co: &Company,
    set: u32,
    parent: Uuid,
    ptype: &'static str,
) -> Result<Out, ApiError> {
    let ctx = Ctx {
        co,
        parent_id: parent,
        parent_type: ptype,
        fin: None,
    };
    let entries: &[DimEntry] = co
        .dim_sets
        .get(set as usize)
        .map(|v| v.as_slice())
        .unwrap_or(&[]);
    let rows = entries.iter().enumerate().map(|(i, e)| (i as u64, e));
    list(
        rc,
        url,
        DIMENSION_SET_LINE,
        "dimensionSetLine",
        NONE,
        rows,
        move |k| {
            Box::new(
                entries
                    .iter()
                    .enumerate()
                    .skip(k as usize + 1)
                    .map(|(i, e)| (i as u64, e)),
            )
        },
        |e| e.value_id.as_u128() as u64,
        &ctx,
        &expand::none,
    )
}
