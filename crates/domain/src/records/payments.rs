//! `payments`: money received from customers.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Decimal, open_enum};

open_enum! {
    /// Whether the payment is booked yet.
    PaymentStatus {
        /// A payment journal line not posted yet: it can still change or disappear.
        Unposted = "unposted",
        /// Posted to the customer's ledger.
        Posted = "posted",
    }
}

/// A customer payment (model `payments`; BC `customerPayments` in `customerPaymentJournals`).
///
/// Nullable fields are `null` when the ERP has no value: blank text, BC's all-zero GUID (no reference)
/// and `0001-01-01` date, a property BC sends as `null` or omits. Amounts, numbers and flags are `null`
/// only in that last case (BC's metadata allows it; BC itself always sends a value).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct Payment {
    /// Posted or not.
    pub status: PaymentStatus,
    /// Code of the journal (batch) the line is in (BC `journalDisplayName`).
    pub journal_code: Option<String>,
    /// Line number in that journal (BC `lineNumber`); `null` only when the ERP sends none.
    pub line_number: Option<i64>,
    /// The ERP id of the paying customer (BC `customerId`).
    pub customer_remote_id: Option<String>,
    /// Customer number (BC `customerNumber`).
    pub customer_number: Option<String>,
    /// Posting date.
    pub posting_date: Option<NaiveDate>,
    /// Document number (BC `documentNumber`).
    pub document_number: Option<String>,
    /// External reference, e.g. the bank transaction (BC `externalDocumentNumber`).
    pub external_document_number: Option<String>,
    /// Amount received: positive is money received. BC books receipts as negative amounts; the sign
    /// is flipped here. `null` only when the ERP sends no value.
    pub amount: Option<Decimal>,
    /// ISO currency code of `amount`; `null` when the ERP does not say (BC payment journal lines).
    pub currency: Option<String>,
    /// The ERP id of the invoice the payment is applied to (BC `appliesToInvoiceId`); `null` when
    /// unapplied.
    pub applies_to_invoice_remote_id: Option<String>,
    /// Number of that invoice (BC `appliesToInvoiceNumber`).
    pub applies_to_invoice_number: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Comment.
    pub comment: Option<String>,
}
