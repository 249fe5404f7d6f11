//! Business Central JSON → ledgerlink's unified records ([`ledgerlink_domain::records`]).
//!
//! BC's quirks become clean values here: `_x0020_` enum members → snake_case (`In_x0020_Review` →
//! `in_review`, unknown members kept), `0001-01-01` dates and `0001-01-01T00:00:00Z` stamps → `null`,
//! the all-zero GUID → `null`, `""` → `null` for optional text, decimals parsed exactly (never via
//! `f64`), customer payments' negative amounts → positive receipts. A record without an id or with a
//! field of the wrong type is a [`MappingError`], never a panic.
//!
//! [`selected_fields`] lists, per model, the top-level BC properties read here: syncs `$select` them.
//! A new read must be added there too (a test fails otherwise).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use ledgerlink_domain::records::{
    Address, BillTo, Blocked, Contact, CreditMemo, Customer, CustomerLedgerEntry, CustomerType,
    Decimal, Dimension, DimensionLine, DimensionValue, DocumentLine, DocumentStatus, Invoice,
    LedgerDocumentType, LineType, Payment, PaymentStatus,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ConnectorError;

/// One unified record made from a BC entity.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedRecord {
    /// BC's `id` (a lower-case GUID): the record's `remote_id`.
    pub remote_id: String,
    /// The unified fields (the record's `data`), serialized from the typed record.
    pub data: Value,
    /// BC's `lastModifiedDateTime`; `None` when BC sends none or its "never" stamp `0001-01-01T00:00:00Z`.
    pub remote_modified_at: Option<DateTime<Utc>>,
}

/// What the mapping needs to know about the company beyond the record itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingContext {
    /// The company's local currency code (BC "LCY Code", e.g. `USD`, from `companyInformation` at
    /// setup). BC's tables store a blank currency code for the local currency; the standard API v2.0
    /// pages (customers, salesInvoices, salesCreditMemos) send the LCY code instead, but the companion
    /// extension's ledger entries send the blank. With this set, blanks become this code, without it
    /// they stay `null`.
    pub local_currency: Option<String>,
}

/// Why a BC entity could not be mapped. `field` is a path into the BC JSON
/// (`salesInvoiceLines[2].quantity`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The model has no BC mapping.
    #[error("no Business Central mapping for model `{0}`")]
    UnknownModel(String),
    /// The entity is not a JSON object.
    #[error("{field}: expected a JSON object, found {found}")]
    NotAnObject {
        /// Where.
        field: String,
        /// What was there instead.
        found: &'static str,
    },
    /// A field the unified record needs is absent or null.
    #[error("{field}: missing")]
    Missing {
        /// Where.
        field: String,
    },
    /// A field has the wrong JSON type.
    #[error("{field}: expected {expected}, found {found}")]
    WrongType {
        /// Where.
        field: String,
        /// The JSON type wanted.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A field has the right JSON type but a value that cannot be read (bad date, GUID, number).
    #[error("{field}: {value:?} is not a valid {expected}")]
    Invalid {
        /// Where.
        field: String,
        /// What it should be.
        expected: &'static str,
        /// The offending value, cut to 60 characters.
        value: String,
    },
}

impl From<MappingError> for ConnectorError {
    fn from(err: MappingError) -> Self {
        ConnectorError::invalid(format!("cannot map Business Central record: {err}"))
    }
}

/// Maps one BC entity of `model` (as [`fetch_page`](crate::Connector::fetch_page) returns them, but for
/// `payments` one `customerPayment`, not its journal) to its unified record.
pub fn map_record(
    model: &str,
    raw: &Value,
    ctx: &MappingContext,
) -> Result<MappedRecord, MappingError> {
    let obj = Obj::root(raw)?;
    let remote_id = obj.id()?;
    let remote_modified_at = obj.datetime("lastModifiedDateTime")?;
    let data = match model {
        "customers" => to_value(customer(&obj, ctx)?),
        "contacts" => to_value(contact(&obj)?),
        "invoices" => to_value(invoice(&obj, ctx)?),
        "credit_memos" => to_value(credit_memo(&obj, ctx)?),
        "payments" => to_value(payment(&obj)?),
        "customer_ledger_entries" => to_value(ledger_entry(&obj, ctx)?),
        "dimensions" => to_value(dimension(&obj)?),
        other => return Err(MappingError::UnknownModel(other.to_owned())),
    };
    Ok(MappedRecord {
        remote_id,
        data,
        remote_modified_at,
    })
}

/// Maps one record of a fetched page to the unified records it holds: one, except for `payments`, whose
/// page records are `customerPaymentJournals` with their `customerPayments` expanded (one record per
/// payment line, none for an empty journal).
pub fn map_fetched(
    model: &str,
    raw: &Value,
    ctx: &MappingContext,
) -> Result<Vec<MappedRecord>, MappingError> {
    if model != "payments" {
        return map_record(model, raw, ctx).map(|r| vec![r]);
    }
    let journal = Obj::root(raw)?;
    journal.id()?;
    journal
        .array("customerPayments")?
        .iter()
        .enumerate()
        .map(|(i, p)| {
            map_record(model, p, ctx).map_err(|e| e.within(&format!("customerPayments[{i}]")))
        })
        .collect()
}

fn to_value<T: Serialize>(record: T) -> Value {
    serde_json::to_value(record).expect("unified records serialize to JSON")
}

fn customer(o: &Obj, ctx: &MappingContext) -> Result<Customer, MappingError> {
    let overdue_amount = match o.child("customerFinancialDetail")? {
        Some(fin) => Some(fin.decimal("overdueAmount")?),
        None => None,
    };
    Ok(Customer {
        number: o.required_text("number")?,
        name: o.required_text("displayName")?,
        customer_type: o.member("type")?.map(|v| CustomerType::parse(&v)),
        email: o.text("email")?,
        phone: o.text("phoneNumber")?,
        website: o.text("website")?,
        address: address(
            o,
            "addressLine1",
            "addressLine2",
            "city",
            "state",
            "postalCode",
            "country",
        )?,
        currency: currency(o.text("currencyCode")?, ctx),
        credit_limit: o.decimal("creditLimit")?,
        balance_due: o.decimal("balanceDue")?,
        overdue_amount,
        payment_terms_id: o.guid("paymentTermsId")?,
        salesperson_code: o.text("salespersonCode")?,
        tax_registration_number: o.text("taxRegistrationNumber")?,
        // BC's blank member means "not blocked".
        blocked: o
            .member("blocked")?
            .map_or(Blocked::None, |v| Blocked::parse(&v)),
    })
}

fn contact(o: &Obj) -> Result<Contact, MappingError> {
    Ok(Contact {
        customer_remote_id: o.guid("customerId")?,
        customer_name: o.text("customerName")?,
        first_name: o.text("firstName")?,
        last_name: o.text("lastName")?,
        email: o.text("email")?,
        phone: o.text("primaryPhoneNumber")?,
        job_title: o.text("professionalTitle")?,
    })
}

fn invoice(o: &Obj, ctx: &MappingContext) -> Result<Invoice, MappingError> {
    let status = o.member("status")?.map(|v| DocumentStatus::parse(&v));
    let total_amount = o.decimal("totalAmountIncludingTax")?;
    let amount_due = o.decimal("remainingAmount")?;
    let amount_paid = match status {
        Some(DocumentStatus::Open | DocumentStatus::Paid) => Some(total_amount - amount_due),
        _ => None,
    };
    Ok(Invoice {
        number: o.required_text("number")?,
        external_document_number: o.text("externalDocumentNumber")?,
        status,
        customer_remote_id: o.guid("customerId")?,
        customer_number: o.text("customerNumber")?,
        customer_name: o.text("customerName")?,
        bill_to_customer_remote_id: o.guid("billToCustomerId")?,
        bill_to: bill_to(o)?,
        issue_date: o.date("invoiceDate")?,
        posting_date: o.date("postingDate")?,
        due_date: o.date("dueDate")?,
        promised_pay_date: o.date("promisedPayDate")?,
        currency: currency(o.text("currencyCode")?, ctx),
        prices_include_tax: o.boolean("pricesIncludeTax")?,
        subtotal: o.decimal("totalAmountExcludingTax")?,
        discount_amount: o.decimal("discountAmount")?,
        tax_amount: o.decimal("totalTaxAmount")?,
        total_amount,
        amount_due,
        amount_paid,
        purchase_order_reference: o.text("customerPurchaseOrderReference")?,
        payment_terms_id: o.guid("paymentTermsId")?,
        salesperson: o.text("salesperson")?,
        dispute_status: o.text("disputeStatus")?,
        lines: lines(o, "salesInvoiceLines")?,
        dimensions: dimension_lines(o)?,
    })
}

fn credit_memo(o: &Obj, ctx: &MappingContext) -> Result<CreditMemo, MappingError> {
    let reason = match o.child("customerReturnReason")? {
        Some(r) => r.text("description")?.or(r.text("code")?),
        None => None,
    };
    Ok(CreditMemo {
        number: o.required_text("number")?,
        external_document_number: o.text("externalDocumentNumber")?,
        status: o.member("status")?.map(|v| DocumentStatus::parse(&v)),
        customer_remote_id: o.guid("customerId")?,
        customer_number: o.text("customerNumber")?,
        customer_name: o.text("customerName")?,
        bill_to_customer_remote_id: o.guid("billToCustomerId")?,
        bill_to: bill_to(o)?,
        credit_memo_date: o.date("creditMemoDate")?,
        posting_date: o.date("postingDate")?,
        due_date: o.date("dueDate")?,
        currency: currency(o.text("currencyCode")?, ctx),
        prices_include_tax: o.boolean("pricesIncludeTax")?,
        subtotal: o.decimal("totalAmountExcludingTax")?,
        discount_amount: o.decimal("discountAmount")?,
        tax_amount: o.decimal("totalTaxAmount")?,
        total_amount: o.decimal("totalAmountIncludingTax")?,
        applies_to_invoice_remote_id: o.guid("invoiceId")?,
        applies_to_invoice_number: o.text("invoiceNumber")?,
        reason_remote_id: o.guid("customerReturnReasonId")?,
        reason,
        payment_terms_id: o.guid("paymentTermsId")?,
        salesperson: o.text("salesperson")?,
        lines: lines(o, "salesCreditMemoLines")?,
        dimensions: dimension_lines(o)?,
    })
}

fn bill_to(o: &Obj) -> Result<BillTo, MappingError> {
    Ok(BillTo {
        name: o.text("billToName")?,
        address: address(
            o,
            "billToAddressLine1",
            "billToAddressLine2",
            "billToCity",
            "billToState",
            "billToPostCode",
            "billToCountry",
        )?,
    })
}

fn address(
    o: &Obj,
    l1: &str,
    l2: &str,
    city: &str,
    state: &str,
    post: &str,
    country: &str,
) -> Result<Address, MappingError> {
    Ok(Address {
        line1: o.text(l1)?,
        line2: o.text(l2)?,
        city: o.text(city)?,
        state: o.text(state)?,
        postal_code: o.text(post)?,
        country: o.text(country)?,
    })
}

/// The expanded lines, ordered by `sequence`. Absent lines are an error: an invoice without its
/// lines would silently read as an empty invoice.
fn lines(o: &Obj, set: &str) -> Result<Vec<DocumentLine>, MappingError> {
    let mut lines = o
        .objects(set)?
        .ok_or_else(|| o.missing(set))?
        .iter()
        .map(line)
        .collect::<Result<Vec<_>, _>>()?;
    lines.sort_by_key(|l| l.line_number);
    Ok(lines)
}

fn line(o: &Obj) -> Result<DocumentLine, MappingError> {
    Ok(DocumentLine {
        remote_id: o.id()?,
        line_number: o.integer("sequence")?,
        line_type: o.member("lineType")?.map(|v| LineType::parse(&v)),
        item_or_account_number: o.text("lineObjectNumber")?,
        description: o.text("description")?,
        quantity: o.decimal("quantity")?,
        unit_of_measure: o.text("unitOfMeasureCode")?,
        unit_price: o.decimal("unitPrice")?,
        discount_amount: o.decimal("discountAmount")?,
        discount_percent: o.decimal("discountPercent")?,
        amount_excluding_tax: o.decimal("amountExcludingTax")?,
        tax_percent: o.decimal("taxPercent")?,
        tax_amount: o.decimal("totalTaxAmount")?,
        amount_including_tax: o.decimal("amountIncludingTax")?,
        dimensions: dimension_lines(o)?,
    })
}

/// `dimensionSetLines` when expanded (the connection's `include_dimension_lines`), else `None`.
fn dimension_lines(o: &Obj) -> Result<Option<Vec<DimensionLine>>, MappingError> {
    let Some(entries) = o.objects("dimensionSetLines")? else {
        return Ok(None);
    };
    let dims = entries.iter().map(|d| {
        Ok(DimensionLine {
            code: d.required_text("code")?,
            name: d.text("displayName")?,
            value_code: d.text("valueCode")?,
            value_name: d.text("valueDisplayName")?,
        })
    });
    dims.collect::<Result<_, _>>().map(Some)
}

fn payment(o: &Obj) -> Result<Payment, MappingError> {
    Ok(Payment {
        // The standard API only serves journal lines; posted payments are ledger entries.
        status: PaymentStatus::Unposted,
        journal_code: o.text("journalDisplayName")?,
        line_number: o.integer("lineNumber")?,
        customer_remote_id: o.guid("customerId")?,
        customer_number: o.text("customerNumber")?,
        posting_date: o.date("postingDate")?,
        document_number: o.text("documentNumber")?,
        external_document_number: o.text("externalDocumentNumber")?,
        // BC books a receipt as a negative amount on the customer account.
        amount: -o.decimal("amount")?,
        currency: None,
        applies_to_invoice_remote_id: o.guid("appliesToInvoiceId")?,
        applies_to_invoice_number: o.text("appliesToInvoiceNumber")?,
        description: o.text("description")?,
        comment: o.text("comment")?,
    })
}

fn ledger_entry(o: &Obj, ctx: &MappingContext) -> Result<CustomerLedgerEntry, MappingError> {
    Ok(CustomerLedgerEntry {
        entry_number: o.integer("entryNumber")?,
        customer_remote_id: o.guid("customerId")?,
        customer_number: o.text("customerNumber")?,
        document_type: o.member("documentType")?.map(|v| ledger_document_type(&v)),
        document_number: o.text("documentNumber")?,
        document_remote_id: o.guid("documentId")?,
        external_document_number: o.text("externalDocumentNumber")?,
        description: o.text("description")?,
        posting_date: o.date("postingDate")?,
        due_date: o.date("dueDate")?,
        amount: o.decimal("amount")?,
        remaining_amount: o.decimal("remainingAmount")?,
        open: o.boolean("open")?,
        currency: currency(o.text("currencyCode")?, ctx),
        closed_at: o.date("closedAtDate")?,
    })
}

/// BC's Gen. Journal Document Type members, named as UNIFIED-MODELS.md names them.
fn ledger_document_type(member: &str) -> LedgerDocumentType {
    match member {
        "finance_charge_memo" => LedgerDocumentType::FinanceCharge,
        other => LedgerDocumentType::parse(other),
    }
}

fn dimension(o: &Obj) -> Result<Dimension, MappingError> {
    let values = o
        .objects("dimensionValues")?
        .ok_or_else(|| o.missing("dimensionValues"))?
        .iter()
        .map(|v| {
            Ok(DimensionValue {
                remote_id: v.id()?,
                code: v.required_text("code")?,
                name: v.text("displayName")?,
            })
        })
        .collect::<Result<_, MappingError>>()?;
    Ok(Dimension {
        code: o.required_text("code")?,
        name: o.text("displayName")?,
        values,
    })
}

fn currency(code: Option<String>, ctx: &MappingContext) -> Option<String> {
    code.or_else(|| ctx.local_currency.clone())
}

#[path = "mapping_fields.rs"]
mod fields;
use fields::Obj;

#[path = "mapping_select.rs"]
mod select;
pub use select::selected_fields;

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "mapping_sim_tests.rs"]
mod sim_tests;

#[cfg(test)]
#[path = "mapping_select_tests.rs"]
mod select_tests;
