//! `customer_ledger_entries`: the customer sub-ledger.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Decimal, open_enum};

open_enum! {
    /// The kind of document that created a ledger entry (BC `documentType`).
    LedgerDocumentType {
        /// A sales invoice.
        Invoice = "invoice",
        /// A payment received.
        Payment = "payment",
        /// A sales credit memo.
        CreditMemo = "credit_memo",
        /// Money paid back to the customer.
        Refund = "refund",
        /// A finance charge memo (interest, fees).
        FinanceCharge = "finance_charge",
        /// A payment reminder.
        Reminder = "reminder",
    }
}

/// One entry of a customer's ledger (model `customer_ledger_entries`; BC companion extension).
///
/// Nullable fields are `null` when the ERP has no value: blank text, BC's all-zero GUID (no reference)
/// and `0001-01-01` date, a property BC sends as `null` or omits. Amounts, numbers and flags are `null`
/// only in that last case (BC's metadata allows it; BC itself always sends a value).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct CustomerLedgerEntry {
    /// Entry number, increasing in posting order (BC `entryNumber`). Like the amounts and `open`,
    /// `null` only when the ERP sends no value.
    pub entry_number: Option<i64>,
    /// The ERP id of the customer (BC `customerId`).
    pub customer_remote_id: Option<String>,
    /// Customer number (BC `customerNumber`).
    pub customer_number: Option<String>,
    /// Kind of document; `null` when BC leaves it blank (e.g. opening balances).
    pub document_type: Option<LedgerDocumentType>,
    /// Number of the document (BC `documentNumber`).
    pub document_number: Option<String>,
    /// The ERP id of the document when known (BC `documentId`), e.g. the invoice's `remote_id`.
    pub document_remote_id: Option<String>,
    /// External reference (BC `externalDocumentNumber`).
    pub external_document_number: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Posting date.
    pub posting_date: Option<NaiveDate>,
    /// Due date.
    pub due_date: Option<NaiveDate>,
    /// Original amount, signed as in the ledger: positive raises what the customer owes (invoices),
    /// negative lowers it (payments, credit memos).
    pub amount: Option<Decimal>,
    /// What is still open of `amount`, same sign convention.
    pub remaining_amount: Option<Decimal>,
    /// Whether the entry is still open.
    pub open: Option<bool>,
    /// ISO currency code of the amounts (BC `currencyCode`). BC leaves it blank for the company's local
    /// currency; it is given as that currency's code (BC's "LCY Code", read at setup), `null` only if
    /// the ERP reports no local currency.
    pub currency: Option<String>,
    /// The date the entry was closed (fully applied); `null` while open.
    pub closed_at: Option<NaiveDate>,
}
