//! `$expand` writers per entity type.

use uuid::Uuid;

use crate::entities::docs::*;
use crate::entities::*;
use crate::error::ApiError;
use crate::model::*;
use crate::odata::Expand;
use crate::serve::{write_nested, write_single};

/// Navigation properties we serve, per entity type.
pub const INVOICE_NAVS: &[&str] = &["salesInvoiceLines", "dimensionSetLines", "customer"];
/// salesInvoiceLine navs.
pub const INVOICE_LINE_NAVS: &[&str] = &["dimensionSetLines"];
/// salesCreditMemo navs.
pub const CRMEMO_NAVS: &[&str] = &["salesCreditMemoLines", "dimensionSetLines", "customer"];
/// salesCreditMemoLine navs.
pub const CRMEMO_LINE_NAVS: &[&str] = &["dimensionSetLines"];
/// customer navs.
pub const CUSTOMER_NAVS: &[&str] = &["customerFinancialDetail"];
/// customerPaymentJournal navs.
pub const JOURNAL_NAVS: &[&str] = &["customerPayments"];
/// customerPayment navs.
pub const PAYMENT_NAVS: &[&str] = &["customer", "dimensionSetLines"];
/// dimension navs.
pub const DIMENSION_NAVS: &[&str] = &["dimensionValues"];
/// dimensionValue navs.
pub const DIMVALUE_NAVS: &[&str] = &["dimension"];
/// No navigation properties.
pub const NONE: &[&str] = &[];

/// Version of a line (derived from its document).
pub fn line_ver(doc_ver: u64, l: &Line) -> u64 {
    doc_ver
        .wrapping_mul(1_000_003)
        .wrapping_add(l.sequence as u64)
}

fn no_exp<T>(_: &mut Vec<u8>, _: &T, _: &Expand, _: &Ctx<'_>) -> Result<(), ApiError> {
    Ok(())
}

/// Write `dimensionSetLines` of a set for a parent.
pub fn dims(
    out: &mut Vec<u8>,
    e: &Expand,
    ctx: &Ctx<'_>,
    set: u32,
    parent: Uuid,
    ptype: &'static str,
) -> Result<(), ApiError> {
    let c2 = Ctx {
        co: ctx.co,
        parent_id: parent,
        parent_type: ptype,
        fin: None,
    };
    let entries = ctx
        .co
        .dim_sets
        .get(set as usize)
        .map(|v| v.as_slice())
        .unwrap_or(&[]);
    write_nested(
        out,
        "dimensionSetLines",
        DIMENSION_SET_LINE,
        "dimensionSetLine",
        e,
        NONE,
        entries
            .iter()
            .map(|d| (d, d.value_id.as_u128() as u64 ^ parent.as_u128() as u64)),
        &c2,
        &no_exp,
    )
}

fn customer(out: &mut Vec<u8>, e: &Expand, ctx: &Ctx<'_>, id: &Uuid) -> Result<(), ApiError> {
    let row = ctx.co.customers.get(id).map(|c| (c, c.ver));
    write_single(out, "customer", CUSTOMER, "customer", e, row, ctx)
}

/// salesInvoice expansions.
pub fn invoice(out: &mut Vec<u8>, d: &SalesDoc, e: &Expand, ctx: &Ctx<'_>) -> Result<(), ApiError> {
    match e.name.as_str() {
        "salesInvoiceLines" => write_nested(
            out,
            "salesInvoiceLines",
            SALES_INVOICE_LINE,
            "salesInvoiceLine",
            e,
            INVOICE_LINE_NAVS,
            d.lines.iter().map(|l| (l, line_ver(d.ver, l))),
            ctx,
            &invoice_line,
        ),
        "dimensionSetLines" => dims(out, e, ctx, d.dim_set, d.id, "Sales_x0020_Invoice"),
        _ => customer(out, e, ctx, &d.customer_id),
    }
}

/// salesInvoiceLine expansions.
pub fn invoice_line(
    out: &mut Vec<u8>,
    l: &Line,
    e: &Expand,
    ctx: &Ctx<'_>,
) -> Result<(), ApiError> {
    dims(
        out,
        e,
        ctx,
        l.dim_set,
        l.id,
        "Sales_x0020_Invoice_x0020_Line",
    )
}

/// salesCreditMemo expansions.
pub fn crmemo(out: &mut Vec<u8>, d: &SalesDoc, e: &Expand, ctx: &Ctx<'_>) -> Result<(), ApiError> {
    match e.name.as_str() {
        "salesCreditMemoLines" => write_nested(
            out,
            "salesCreditMemoLines",
            SALES_CREDIT_MEMO_LINE,
            "salesCreditMemoLine",
            e,
            CRMEMO_LINE_NAVS,
            d.lines.iter().map(|l| (l, line_ver(d.ver, l))),
            ctx,
            &crmemo_line,
        ),
        "dimensionSetLines" => dims(
            out,
            e,
            ctx,
            d.dim_set,
            d.id,
            "Sales_x0020_Credit_x0020_Memo",
        ),
        _ => customer(out, e, ctx, &d.customer_id),
    }
}

/// salesCreditMemoLine expansions.
pub fn crmemo_line(out: &mut Vec<u8>, l: &Line, e: &Expand, ctx: &Ctx<'_>) -> Result<(), ApiError> {
    dims(
        out,
        e,
        ctx,
        l.dim_set,
        l.id,
        "Sales_x0020_Credit_x0020_Memo_x0020_Line",
    )
}

/// customer expansions.
pub fn customer_exp(
    out: &mut Vec<u8>,
    c: &Customer,
    e: &Expand,
    ctx: &Ctx<'_>,
) -> Result<(), ApiError> {
    write_single(
        out,
        "customerFinancialDetail",
        CUSTOMER_FIN,
        "customerFinancialDetail",
        e,
        Some((c, c.ver)),
        ctx,
    )
}

/// customerPaymentJournal expansions.
pub fn journal(
    out: &mut Vec<u8>,
    j: &PaymentJournal,
    e: &Expand,
    ctx: &Ctx<'_>,
) -> Result<(), ApiError> {
    write_nested(
        out,
        "customerPayments",
        PAYMENT,
        "customerPayment",
        e,
        PAYMENT_NAVS,
        ctx.co
            .payments
            .rows
            .values()
            .filter(|p| p.journal_id == j.id)
            .map(|p| (p, p.ver)),
        ctx,
        &payment,
    )
}

/// customerPayment expansions.
pub fn payment(out: &mut Vec<u8>, p: &Payment, e: &Expand, ctx: &Ctx<'_>) -> Result<(), ApiError> {
    match e.name.as_str() {
        "customer" => customer(out, e, ctx, &p.customer_id),
        _ => dims(out, e, ctx, 0, p.id, "Journal_x0020_Line"),
    }
}

/// dimension expansions.
pub fn dimension(
    out: &mut Vec<u8>,
    d: &Dimension,
    e: &Expand,
    ctx: &Ctx<'_>,
) -> Result<(), ApiError> {
    write_nested(
        out,
        "dimensionValues",
        DIMENSION_VALUE,
        "dimensionValue",
        e,
        NONE,
        ctx.co
            .dim_values
            .rows
            .values()
            .filter(|v| v.dimension_id == d.id)
            .map(|v| (v, v.ver)),
        ctx,
        &no_exp,
    )
}

/// dimensionValue expansions.
pub fn dim_value(
    out: &mut Vec<u8>,
    v: &DimValue,
    e: &Expand,
    ctx: &Ctx<'_>,
) -> Result<(), ApiError> {
    let row = ctx.co.dimensions.get(&v.dimension_id).map(|d| (d, d.ver));
    write_single(out, "dimension", DIMENSION, "dimension", e, row, ctx)
}

/// No expansions.
pub fn none<T>(out: &mut Vec<u8>, r: &T, e: &Expand, ctx: &Ctx<'_>) -> Result<(), ApiError> {
    no_exp(out, r, e, ctx)
}
