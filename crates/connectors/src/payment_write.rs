//! What writing a customer payment back to the ERP needs from a provider: a journal of payment lines
//! we own, lines that apply a payment to invoices, posting the journal, and finding a posted payment
//! again by its document number (so a write interrupted after posting is recognised, not repeated).
//!
//! Amounts are positive here, as ledgerlink thinks of a payment received; a provider converts them to
//! its own sign convention (Business Central wants customer payments negative).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Longest `document_number` of a payment line (BC `Code[20]`).
pub const MAX_DOCUMENT_NUMBER_CHARS: usize = 20;
/// Longest `external_document_number` of a payment line (BC `Code[35]`).
pub const MAX_EXTERNAL_DOCUMENT_NUMBER_CHARS: usize = 35;
/// Longest `description` of a payment line (BC `Text[100]`); longer ones are cut.
pub const MAX_DESCRIPTION_CHARS: usize = 100;
/// Longest journal `code` (BC `Code[10]`, the batch name).
pub const MAX_JOURNAL_CODE_CHARS: usize = 10;
/// Longest journal `display_name` (BC `Text[100]`).
pub const MAX_JOURNAL_NAME_CHARS: usize = 100;

/// A customer payment journal (BC: a batch of the cash receipt journal template).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalInfo {
    /// The provider's id (BC: a GUID).
    pub id: String,
    /// Short code (BC: the batch name, upper case, at most 10 characters).
    pub code: String,
    /// Display name.
    pub display_name: String,
    /// The account the payments are balanced against (BC: a G/L or bank account id); `None` when the
    /// journal has none (posting its lines would then be unbalanced).
    pub balancing_account_id: Option<String>,
}

/// One unposted payment line of a journal, as the provider has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentLineInfo {
    /// The line's id.
    pub id: String,
    /// The paying customer, when set.
    pub customer_id: Option<String>,
    /// The invoice the line is applied to, when set.
    pub applies_to_invoice_id: Option<String>,
    /// Document number (BC upper-cases it).
    pub document_number: String,
    /// External document number (BC upper-cases it).
    pub external_document_number: String,
    /// Description.
    pub description: String,
    /// The amount received, positive (BC's negative journal amount, negated).
    pub amount: Decimal,
    /// Posting date, when set.
    pub posting_date: Option<NaiveDate>,
}

/// A payment line to create: part of one payment, applied to one invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPaymentLine {
    /// The paying customer.
    pub customer_id: String,
    /// The invoice this part of the payment settles.
    pub applies_to_invoice_id: String,
    /// The amount applied, positive; the connector converts it to the provider's sign.
    pub amount: Decimal,
    /// Posting date.
    pub posting_date: NaiveDate,
    /// Document number, at most [`MAX_DOCUMENT_NUMBER_CHARS`] characters (BC stores it upper case; the
    /// connector sends it so, and [`crate::Connector::find_posted_payment`] searches for it so).
    pub document_number: String,
    /// External document number, at most [`MAX_EXTERNAL_DOCUMENT_NUMBER_CHARS`] characters (upper case
    /// as for `document_number`).
    pub external_document_number: String,
    /// Description; cut to [`MAX_DESCRIPTION_CHARS`] characters.
    pub description: String,
}

/// A payment the ERP has posted, found by its document number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostedPayment {
    /// The document number searched for, as the ERP has it.
    pub document_number: String,
    /// The ledger entries the posting wrote (BC: G/L entry numbers), ascending.
    pub entry_numbers: Vec<i64>,
    /// The posting date (the earliest, should the entries differ).
    pub posting_date: NaiveDate,
    /// The amount posted, positive (BC: the credit side of the G/L entries, i.e. what left receivables).
    pub amount: Decimal,
}
