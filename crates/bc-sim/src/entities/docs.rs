//! Sales invoices, credit memos and their lines.

use uuid::Uuid;

use super::{Ctx, Field, field};
use crate::model::*;
use crate::value::V;

const LINE_TYPE: [&str; 7] = [
    "Comment",
    "Account",
    "Item",
    "Resource",
    "Fixed_x0020_Asset",
    "Charge",
    "Allocation_x0020_Account",
];

/// `remainingAmount` of an invoice (BC: Amount Including VAT for drafts, 0 if canceled).
pub fn remaining(r: &SalesDoc) -> i64 {
    match r.status {
        INV_DRAFT => r.totals().incl,
        INV_CANCELED => 0,
        _ => r.totals().incl - r.paid,
    }
}

fn item<'a>(r: &Line, c: &'a Ctx<'a>) -> &'a Item {
    &c.co.items[r.item as usize % c.co.items.len()]
}

/// `salesInvoice`.
pub static SALES_INVOICE: &[Field<SalesDoc>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.id)),
    field!("number", Str, |r, _c| V::Str(&r.number)),
    field!("externalDocumentNumber", Str, |r, _c| V::Str(
        &r.external_doc_no
    )),
    field!("invoiceDate", Date, |r, _c| V::Date(r.doc_date)),
    field!("postingDate", Date, |r, _c| V::Date(r.posting_date)),
    field!("dueDate", Date, |r, _c| V::Date(r.due_date)),
    field!("promisedPayDate", Date, |r, _c| V::Date(
        r.promised_pay_date
    )),
    field!("customerPurchaseOrderReference", Str, |r, _c| V::Str(
        &r.your_reference
    )),
    field!("customerId", Guid, |r, _c| V::Guid(r.customer_id)),
    field!("customerNumber", Str, |r, _c| V::Str(&r.customer_number)),
    field!("customerName", Str, |r, _c| V::Str(&r.party.name)),
    field!("billToName", Str, |r, _c| V::Str(&r.party.name)),
    field!("billToCustomerId", Guid, |r, _c| V::Guid(r.customer_id)),
    field!("billToCustomerNumber", Str, |r, _c| V::Str(
        &r.customer_number
    )),
    field!("shipToName", Str, |r, _c| V::Str(&r.party.name)),
    field!("shipToContact", Str, |r, _c| V::Str(&r.party.contact)),
    field!("sellToAddressLine1", Str, |r, _c| V::Str(&r.party.addr1)),
    field!("sellToAddressLine2", Str, |r, _c| V::Str(&r.party.addr2)),
    field!("sellToCity", Str, |r, _c| V::Str(&r.party.city)),
    field!("sellToCountry", Str, |r, _c| V::Str(&r.party.country)),
    field!("sellToState", Str, |r, _c| V::Str(&r.party.state)),
    field!("sellToPostCode", Str, |r, _c| V::Str(&r.party.post_code)),
    field!("billToAddressLine1", Str, |r, _c| V::Str(&r.party.addr1)),
    field!("billToAddressLine2", Str, |r, _c| V::Str(&r.party.addr2)),
    field!("billToCity", Str, |r, _c| V::Str(&r.party.city)),
    field!("billToCountry", Str, |r, _c| V::Str(&r.party.country)),
    field!("billToState", Str, |r, _c| V::Str(&r.party.state)),
    field!("billToPostCode", Str, |r, _c| V::Str(&r.party.post_code)),
    field!("shipToAddressLine1", Str, |r, _c| V::Str(&r.party.addr1)),
    field!("shipToAddressLine2", Str, |r, _c| V::Str(&r.party.addr2)),
    field!("shipToCity", Str, |r, _c| V::Str(&r.party.city)),
    field!("shipToCountry", Str, |r, _c| V::Str(&r.party.country)),
    field!("shipToState", Str, |r, _c| V::Str(&r.party.state)),
    field!("shipToPostCode", Str, |r, _c| V::Str(&r.party.post_code)),
    field!("currencyId", Guid, |r, _c| V::Guid(r.currency_id)),
    field!("shortcutDimension1Code", Str, |r, _c| V::Str(&r.dim1)),
    field!("shortcutDimension2Code", Str, |r, _c| V::Str(&r.dim2)),
    field!("currencyCode", Str, |r, c| V::Str(c.cur(&r.currency_code))),
    field!("orderId", Guid, |_r, _c| V::Guid(Uuid::nil())),
    field!("orderNumber", Str, |_r, _c| V::Str("")),
    field!("paymentTermsId", Guid, |r, _c| V::Guid(r.payment_terms_id)),
    field!("shipmentMethodId", Guid, |r, _c| V::Guid(
        r.shipment_method_id
    )),
    field!("salesperson", Str, |r, _c| V::Str(&r.salesperson)),
    field!("disputeStatusId", Guid, |_r, _c| V::Guid(Uuid::nil())),
    field!("disputeStatus", Str, |_r, _c| V::Str("")),
    field!("pricesIncludeTax", Bool, |_r, _c| V::Bool(false)),
    field!("remainingAmount", Dec, |r, _c| V::Dec(remaining(r))),
    field!("discountAmount", Dec, |_r, _c| V::Dec(0)),
    field!("discountAppliedBeforeTax", Bool, |_r, _c| V::Bool(false)),
    field!("totalAmountExcludingTax", Dec, |r, _c| V::Dec(
        r.totals().excl
    )),
    field!("totalTaxAmount", Dec, |r, _c| V::Dec(r.totals().tax)),
    field!("totalAmountIncludingTax", Dec, |r, _c| V::Dec(
        r.totals().incl
    )),
    field!("status", Enum, |r, _c| V::Enum(
        INVOICE_STATUS[r.status as usize % 7]
    )),
    field!("lastModifiedDateTime", Dt, |r, _c| V::Dt(r.modified)),
    field!("phoneNumber", Str, |r, _c| V::Str(&r.party.phone)),
    field!("email", Str, |r, _c| V::Str(&r.party.email)),
];

/// `salesCreditMemo`.
pub static SALES_CREDIT_MEMO: &[Field<SalesDoc>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.id)),
    field!("number", Str, |r, _c| V::Str(&r.number)),
    field!("externalDocumentNumber", Str, |r, _c| V::Str(
        &r.external_doc_no
    )),
    field!("creditMemoDate", Date, |r, _c| V::Date(r.doc_date)),
    field!("postingDate", Date, |r, _c| V::Date(r.posting_date)),
    field!("dueDate", Date, |r, _c| V::Date(r.due_date)),
    field!("customerId", Guid, |r, _c| V::Guid(r.customer_id)),
    field!("customerNumber", Str, |r, _c| V::Str(&r.customer_number)),
    field!("customerName", Str, |r, _c| V::Str(&r.party.name)),
    field!("billToName", Str, |r, _c| V::Str(&r.party.name)),
    field!("billToCustomerId", Guid, |r, _c| V::Guid(r.customer_id)),
    field!("billToCustomerNumber", Str, |r, _c| V::Str(
        &r.customer_number
    )),
    field!("sellToAddressLine1", Str, |r, _c| V::Str(&r.party.addr1)),
    field!("sellToAddressLine2", Str, |r, _c| V::Str(&r.party.addr2)),
    field!("sellToCity", Str, |r, _c| V::Str(&r.party.city)),
    field!("sellToCountry", Str, |r, _c| V::Str(&r.party.country)),
    field!("sellToState", Str, |r, _c| V::Str(&r.party.state)),
    field!("sellToPostCode", Str, |r, _c| V::Str(&r.party.post_code)),
    field!("billToAddressLine1", Str, |r, _c| V::Str(&r.party.addr1)),
    field!("billToAddressLine2", Str, |r, _c| V::Str(&r.party.addr2)),
    field!("billToCity", Str, |r, _c| V::Str(&r.party.city)),
    field!("billToCountry", Str, |r, _c| V::Str(&r.party.country)),
    field!("billToState", Str, |r, _c| V::Str(&r.party.state)),
    field!("billToPostCode", Str, |r, _c| V::Str(&r.party.post_code)),
    field!("shortcutDimension1Code", Str, |r, _c| V::Str(&r.dim1)),
    field!("shortcutDimension2Code", Str, |r, _c| V::Str(&r.dim2)),
    field!("currencyId", Guid, |r, _c| V::Guid(r.currency_id)),
    field!("currencyCode", Str, |r, c| V::Str(c.cur(&r.currency_code))),
    field!("paymentTermsId", Guid, |r, _c| V::Guid(r.payment_terms_id)),
    field!("shipmentMethodId", Guid, |r, _c| V::Guid(
        r.shipment_method_id
    )),
    field!("salesperson", Str, |r, _c| V::Str(&r.salesperson)),
    field!("pricesIncludeTax", Bool, |_r, _c| V::Bool(false)),
    field!("discountAmount", Dec, |_r, _c| V::Dec(0)),
    field!("discountAppliedBeforeTax", Bool, |_r, _c| V::Bool(false)),
    field!("totalAmountExcludingTax", Dec, |r, _c| V::Dec(
        r.totals().excl
    )),
    field!("totalTaxAmount", Dec, |r, _c| V::Dec(r.totals().tax)),
    field!("totalAmountIncludingTax", Dec, |r, _c| V::Dec(
        r.totals().incl
    )),
    field!("status", Enum, |r, _c| V::Enum(
        CRMEMO_STATUS[r.status as usize % 6]
    )),
    field!("lastModifiedDateTime", Dt, |r, _c| V::Dt(r.modified)),
    field!("invoiceId", Guid, |r, _c| V::Guid(
        r.applies_to.as_ref().map(|a| a.0).unwrap_or_default()
    )),
    field!("invoiceNumber", Str, |r, _c| V::Str(
        r.applies_to.as_ref().map(|a| &*a.1).unwrap_or("")
    )),
    field!("phoneNumber", Str, |r, _c| V::Str(&r.party.phone)),
    field!("email", Str, |r, _c| V::Str(&r.party.email)),
    field!(
        "customerReturnReasonId",
        Guid,
        |_r, _c| V::Guid(Uuid::nil())
    ),
];

/// `salesInvoiceLine`.
pub static SALES_INVOICE_LINE: &[Field<Line>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.id)),
    field!("documentId", Guid, |r, _c| V::Guid(r.document_id)),
    field!("sequence", Int, |r, _c| V::Int(r.sequence as i64)),
    field!("itemId", Guid, |r, c| V::Guid(item(r, c).id)),
    field!("accountId", Guid, |_r, _c| V::Guid(Uuid::nil())),
    field!("lineType", Enum, |r, _c| V::Enum(
        LINE_TYPE[r.line_type as usize % 7]
    )),
    field!("lineObjectNumber", Str, |r, c| V::Str(&item(r, c).number)),
    field!("description", Str, |r, c| V::Str(&item(r, c).description)),
    field!("description2", Str, |_r, _c| V::Str("")),
    field!("unitOfMeasureId", Guid, |r, c| V::Guid(item(r, c).uom_id)),
    field!("unitOfMeasureCode", Str, |r, c| V::Str(
        &item(r, c).uom_code
    )),
    field!("quantity", Dec, |r, _c| V::Dec(r.quantity)),
    field!("unitPrice", Dec, |r, _c| V::Dec(r.unit_price)),
    field!("discountAmount", Dec, |r, _c| V::Dec(r.amounts().discount)),
    field!("discountPercent", Dec, |r, _c| V::Dec(r.discount_pct)),
    field!("discountAppliedBeforeTax", Bool, |_r, _c| V::Bool(false)),
    field!("amountExcludingTax", Dec, |r, _c| V::Dec(r.amounts().excl)),
    field!("taxCode", Str, |r, _c| V::Str(if r.tax_pct == 0 {
        "NOVAT"
    } else {
        "VAT25"
    })),
    field!("taxPercent", Dec, |r, _c| V::Dec(r.tax_pct)),
    field!("totalTaxAmount", Dec, |r, _c| V::Dec(r.amounts().tax)),
    field!("amountIncludingTax", Dec, |r, _c| V::Dec(r.amounts().incl)),
    field!("invoiceDiscountAllocation", Dec, |_r, _c| V::Dec(0)),
    field!("netAmount", Dec, |r, _c| V::Dec(r.amounts().excl)),
    field!("netTaxAmount", Dec, |r, _c| V::Dec(r.amounts().tax)),
    field!("netAmountIncludingTax", Dec, |r, _c| V::Dec(
        r.amounts().incl
    )),
    field!("shipmentDate", Date, |r, _c| V::Date(r.shipment_date)),
    field!("itemVariantId", Guid, |_r, _c| V::Guid(Uuid::nil())),
    field!("locationId", Guid, |_r, _c| V::Guid(Uuid::nil())),
];

/// `salesCreditMemoLine`.
pub static SALES_CREDIT_MEMO_LINE: &[Field<Line>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.id)),
    field!("documentId", Guid, |r, _c| V::Guid(r.document_id)),
    field!("sequence", Int, |r, _c| V::Int(r.sequence as i64)),
    field!("itemId", Guid, |r, c| V::Guid(item(r, c).id)),
    field!("accountId", Guid, |_r, _c| V::Guid(Uuid::nil())),
    field!("lineType", Enum, |r, _c| V::Enum(
        LINE_TYPE[r.line_type as usize % 7]
    )),
    field!("lineObjectNumber", Str, |r, c| V::Str(&item(r, c).number)),
    field!("description", Str, |r, c| V::Str(&item(r, c).description)),
    field!("description2", Str, |_r, _c| V::Str("")),
    field!("unitOfMeasureId", Guid, |r, c| V::Guid(item(r, c).uom_id)),
    field!("unitOfMeasureCode", Str, |r, c| V::Str(
        &item(r, c).uom_code
    )),
    field!("unitPrice", Dec, |r, _c| V::Dec(r.unit_price)),
    field!("quantity", Dec, |r, _c| V::Dec(r.quantity)),
    field!("discountAmount", Dec, |r, _c| V::Dec(r.amounts().discount)),
    field!("discountPercent", Dec, |r, _c| V::Dec(r.discount_pct)),
    field!("discountAppliedBeforeTax", Bool, |_r, _c| V::Bool(false)),
    field!("amountExcludingTax", Dec, |r, _c| V::Dec(r.amounts().excl)),
    field!("taxCode", Str, |r, _c| V::Str(if r.tax_pct == 0 {
        "NOVAT"
    } else {
        "VAT25"
    })),
    field!("taxPercent", Dec, |r, _c| V::Dec(r.tax_pct)),
    field!("totalTaxAmount", Dec, |r, _c| V::Dec(r.amounts().tax)),
    field!("amountIncludingTax", Dec, |r, _c| V::Dec(r.amounts().incl)),
    field!("invoiceDiscountAllocation", Dec, |_r, _c| V::Dec(0)),
    field!("netAmount", Dec, |r, _c| V::Dec(r.amounts().excl)),
    field!("netTaxAmount", Dec, |r, _c| V::Dec(r.amounts().tax)),
    field!("netAmountIncludingTax", Dec, |r, _c| V::Dec(
        r.amounts().incl
    )),
    field!("shipmentDate", Date, |r, _c| V::Date(r.shipment_date)),
    field!("itemVariantId", Guid, |_r, _c| V::Guid(Uuid::nil())),
    field!("locationId", Guid, |_r, _c| V::Guid(Uuid::nil())),
];
