//! `invoices` and `credit_memos`: sales documents with their lines and dimensions.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Address, Decimal, open_enum};

open_enum! {
    /// Where a sales document is in its life (BC `status`).
    DocumentStatus {
        /// Not posted yet; amounts may still change.
        Draft = "draft",
        /// Not posted, waiting for approval.
        InReview = "in_review",
        /// Posted, with an amount still due.
        Open = "open",
        /// Posted and fully settled.
        Paid = "paid",
        /// Posted, then cancelled by a corrective document.
        Canceled = "canceled",
        /// Posted, then corrected by a credit memo.
        Corrective = "corrective",
    }
}

open_enum! {
    /// What a document line sells (BC `lineType`).
    LineType {
        /// A text-only line without amounts.
        Comment = "comment",
        /// A G/L account.
        Account = "account",
        /// An inventory or service item.
        Item = "item",
        /// A resource (time, machines).
        Resource = "resource",
        /// A fixed asset.
        FixedAsset = "fixed_asset",
        /// An item charge (freight, insurance, …).
        Charge = "charge",
        /// An allocation account (amounts split over several accounts).
        AllocationAccount = "allocation_account",
    }
}

/// A dimension attached to a document or a line (BC `dimensionSetLines`).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct DimensionLine {
    /// Dimension code (BC `code`), e.g. `DEPARTMENT`; never null (`""` if the ERP holds a blank one).
    pub code: String,
    /// Dimension name (BC `displayName`).
    pub name: Option<String>,
    /// Code of the chosen value (BC `valueCode`), e.g. `SALES`.
    pub value_code: Option<String>,
    /// Name of the chosen value (BC `valueDisplayName`).
    pub value_name: Option<String>,
}

/// Who is billed: the bill-to party's name and address.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Default)]
pub struct BillTo {
    /// Bill-to name (BC `billToName`).
    pub name: Option<String>,
    /// Bill-to address (BC `billToAddressLine1`, `billToCity`, `billToPostCode`, …).
    pub address: Address,
}

/// One line of an invoice or credit memo (BC `salesInvoiceLines` / `salesCreditMemoLines`).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct DocumentLine {
    /// The ERP id of the line (BC `id`). BC gives a line a new id when its draft is posted; use
    /// `line_number` to follow a line across posting.
    pub remote_id: String,
    /// Position of the line in the document (BC `sequence`, the Line No.); `null` only when the ERP
    /// sends none (such lines come first).
    pub line_number: Option<i64>,
    /// What the line sells (BC `lineType`); `null` when blank.
    #[serde(rename = "type")]
    pub line_type: Option<LineType>,
    /// Number of the item, account, resource, … sold (BC `lineObjectNumber`).
    pub item_or_account_number: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Quantity. Like every amount of a line, `null` only when the ERP sends no value (BC always sends
    /// a number, `0` on comment lines, but its metadata allows `null`).
    pub quantity: Option<Decimal>,
    /// Unit of measure code (BC `unitOfMeasureCode`), e.g. `PCS`.
    pub unit_of_measure: Option<String>,
    /// Price per unit, in the document currency.
    pub unit_price: Option<Decimal>,
    /// Line discount amount.
    pub discount_amount: Option<Decimal>,
    /// Line discount in percent (`5` = 5 %).
    pub discount_percent: Option<Decimal>,
    /// Line amount excluding tax, after line discount (BC `amountExcludingTax`).
    pub amount_excluding_tax: Option<Decimal>,
    /// Tax rate in percent (BC `taxPercent`).
    pub tax_percent: Option<Decimal>,
    /// Tax amount of the line (BC `totalTaxAmount`).
    pub tax_amount: Option<Decimal>,
    /// Line amount including tax (BC `amountIncludingTax`).
    pub amount_including_tax: Option<Decimal>,
    /// Dimensions of the line; `null` unless the connection's `include_dimension_lines` is on.
    pub dimensions: Option<Vec<DimensionLine>>,
}

/// A sales invoice, draft or posted (model `invoices`; BC `salesInvoices` + `salesInvoiceLines`).
///
/// Nullable fields are `null` when the ERP has no value: blank text, BC's all-zero GUID (no reference)
/// and `0001-01-01` date, a property BC sends as `null` or omits. Amounts, numbers and flags are `null`
/// only in that last case (BC's metadata allows it; BC itself always sends a value).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct Invoice {
    /// Invoice number (BC `number`: the draft number before posting, the posted number after); `null`
    /// when the ERP holds a blank one.
    pub number: Option<String>,
    /// The customer's or another system's reference for it (BC `externalDocumentNumber`).
    pub external_document_number: Option<String>,
    /// Life-cycle status (BC `status`); `null` when BC leaves it blank.
    pub status: Option<DocumentStatus>,
    /// The ERP id of the sell-to customer (BC `customerId`).
    pub customer_remote_id: Option<String>,
    /// Sell-to customer number (BC `customerNumber`).
    pub customer_number: Option<String>,
    /// Sell-to customer name (BC `customerName`).
    pub customer_name: Option<String>,
    /// The ERP id of the bill-to customer (BC `billToCustomerId`).
    pub bill_to_customer_remote_id: Option<String>,
    /// Bill-to name and address.
    pub bill_to: BillTo,
    /// Document date (BC `invoiceDate`).
    pub issue_date: Option<NaiveDate>,
    /// Posting date; `null` until set.
    pub posting_date: Option<NaiveDate>,
    /// Due date.
    pub due_date: Option<NaiveDate>,
    /// The date the customer promised to pay (BC `promisedPayDate`); `null` when none.
    pub promised_pay_date: Option<NaiveDate>,
    /// ISO currency code of the amounts (BC `currencyCode`). A document in the company's local currency
    /// carries that currency's code (BC sends it; a blank code is resolved to it too).
    pub currency: Option<String>,
    /// Whether unit prices include tax (BC `pricesIncludeTax`). Like the amounts below, `null` only
    /// when the ERP sends no value (BC always sends one, but its metadata allows `null`).
    pub prices_include_tax: Option<bool>,
    /// Total excluding tax, after discounts (BC `totalAmountExcludingTax`).
    pub subtotal: Option<Decimal>,
    /// Invoice discount amount (BC `discountAmount`).
    pub discount_amount: Option<Decimal>,
    /// Total tax (BC `totalTaxAmount`).
    pub tax_amount: Option<Decimal>,
    /// Total including tax (BC `totalAmountIncludingTax`).
    pub total_amount: Option<Decimal>,
    /// Amount still due (BC `remainingAmount`: the total for drafts, `0` when canceled).
    pub amount_due: Option<Decimal>,
    /// `total_amount − amount_due` for posted invoices (`open`, `paid`): what payments and applied
    /// credits have settled. `null` for drafts, canceled and corrective invoices, and when either
    /// amount is `null`.
    pub amount_paid: Option<Decimal>,
    /// The customer's purchase order reference (BC `customerPurchaseOrderReference`).
    pub purchase_order_reference: Option<String>,
    /// The ERP id of the payment terms (BC `paymentTermsId`).
    pub payment_terms_id: Option<String>,
    /// Salesperson code (BC `salesperson`).
    pub salesperson: Option<String>,
    /// Dispute status code, when the invoice is disputed (BC `disputeStatus`).
    pub dispute_status: Option<String>,
    /// The lines, in document order.
    pub lines: Vec<DocumentLine>,
    /// Header dimensions; `null` unless the connection's `include_dimension_lines` is on.
    pub dimensions: Option<Vec<DimensionLine>>,
}

/// A sales credit memo, draft or posted (model `credit_memos`; BC `salesCreditMemos` +
/// `salesCreditMemoLines`).
///
/// Nullable fields are `null` when the ERP has no value: blank text, BC's all-zero GUID (no reference)
/// and `0001-01-01` date, a property BC sends as `null` or omits. Amounts, numbers and flags are `null`
/// only in that last case (BC's metadata allows it; BC itself always sends a value).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct CreditMemo {
    /// Credit memo number (BC `number`); `null` when the ERP holds a blank one.
    pub number: Option<String>,
    /// External reference (BC `externalDocumentNumber`).
    pub external_document_number: Option<String>,
    /// Life-cycle status (BC `status`); `null` when BC leaves it blank.
    pub status: Option<DocumentStatus>,
    /// The ERP id of the sell-to customer (BC `customerId`).
    pub customer_remote_id: Option<String>,
    /// Sell-to customer number (BC `customerNumber`).
    pub customer_number: Option<String>,
    /// Sell-to customer name (BC `customerName`).
    pub customer_name: Option<String>,
    /// The ERP id of the bill-to customer (BC `billToCustomerId`).
    pub bill_to_customer_remote_id: Option<String>,
    /// Bill-to name and address.
    pub bill_to: BillTo,
    /// Document date (BC `creditMemoDate`).
    pub credit_memo_date: Option<NaiveDate>,
    /// Posting date; `null` until set.
    pub posting_date: Option<NaiveDate>,
    /// Due date.
    pub due_date: Option<NaiveDate>,
    /// ISO currency code of the amounts (BC `currencyCode`). A document in the company's local currency
    /// carries that currency's code (BC sends it; a blank code is resolved to it too).
    pub currency: Option<String>,
    /// Whether unit prices include tax (BC `pricesIncludeTax`). Like the amounts below, `null` only
    /// when the ERP sends no value (BC always sends one, but its metadata allows `null`).
    pub prices_include_tax: Option<bool>,
    /// Total excluding tax, after discounts (BC `totalAmountExcludingTax`).
    pub subtotal: Option<Decimal>,
    /// Document discount amount (BC `discountAmount`).
    pub discount_amount: Option<Decimal>,
    /// Total tax (BC `totalTaxAmount`).
    pub tax_amount: Option<Decimal>,
    /// Total including tax (BC `totalAmountIncludingTax`).
    pub total_amount: Option<Decimal>,
    /// The ERP id of the invoice this credit memo applies to (BC `invoiceId`); `null` when none.
    pub applies_to_invoice_remote_id: Option<String>,
    /// Number of that invoice (BC `invoiceNumber`).
    pub applies_to_invoice_number: Option<String>,
    /// The ERP id of the return reason (BC `customerReturnReasonId`); `null` when none. Its code and
    /// description are the `customerReturnReasons` entity's.
    pub reason_remote_id: Option<String>,
    /// Payment terms' ERP id (BC `paymentTermsId`).
    pub payment_terms_id: Option<String>,
    /// Salesperson code (BC `salesperson`).
    pub salesperson: Option<String>,
    /// The lines, in document order.
    pub lines: Vec<DocumentLine>,
    /// Header dimensions; `null` unless the connection's `include_dimension_lines` is on.
    pub dimensions: Option<Vec<DimensionLine>>,
}
