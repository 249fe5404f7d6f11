//! The BC properties the mapping reads, per model: what a sync asks BC for with `$select`.

/// The top-level Business Central properties [`map_fetched`](super::map_fetched) reads for a unified
/// `model` (plus `id`, and `lastModifiedDateTime` where the entity has one): pass them as
/// [`PageRequest::fields`](crate::PageRequest::fields) and BC sends only these, which the mapping turns
/// into the same unified records as the whole entity. `None` for a model BC does not serve.
///
/// `$expand`ed navigation properties (`salesInvoiceLines`, `dimensionSetLines`,
/// `customerFinancialDetail`, `dimensionValues`, `customerPayments`) are not listed: OData v4 returns
/// an expanded property whether or not it is in `$select`, so expanded children arrive whole. For
/// `payments` the page records are `customerPaymentJournals`, so the list applies to the journal (only
/// its `id` is read) and the payment lines come whole inside `customerPayments`.
///
/// Every property here exists on BC's API v2.0 entity (or the extension's `customerLedgerEntry`): BC
/// answers `$select` of an unknown property with a 400. That is why `contacts` has no
/// `lastModifiedDateTime` (`customerContact` has none).
///
/// Keep it in step with the mapping: a read of a property missing here fails
/// `selecting_the_listed_fields_maps_the_same` (mapping_select_tests.rs).
pub fn selected_fields(model: &str) -> Option<&'static [&'static str]> {
    Some(match model {
        "customers" => CUSTOMERS,
        "contacts" => CONTACTS,
        "invoices" => INVOICES,
        "credit_memos" => CREDIT_MEMOS,
        "payments" => PAYMENT_JOURNALS,
        "customer_ledger_entries" => LEDGER_ENTRIES,
        "dimensions" => DIMENSIONS,
        _ => return None,
    })
}

/// The fields of a model's records that Business Central changes without moving their
/// `lastModifiedDateTime` and that the mapping reads (paths: `a`, or `a/b` into an expanded child):
/// a partial payment lowers an invoice's `remainingAmount` (BC's invoice aggregate row is rewritten
/// only when its status changes), a customer's balances are computed when read. Incremental syncs
/// compare these with their copy ([`ReadScope::Volatile`](crate::ReadScope::Volatile) reads them)
/// and re-read the records that differ. Empty for other models.
pub fn silently_changing(model: &str) -> &'static [&'static str] {
    match model {
        "customers" => &["balanceDue", "customerFinancialDetail/overdueAmount"],
        "invoices" => &["remainingAmount"],
        _ => &[],
    }
}

const CUSTOMERS: &[&str] = &[
    "id",
    "number",
    "displayName",
    "type",
    "addressLine1",
    "addressLine2",
    "city",
    "state",
    "country",
    "postalCode",
    "phoneNumber",
    "email",
    "website",
    "salespersonCode",
    "balanceDue",
    "creditLimit",
    "taxRegistrationNumber",
    "currencyCode",
    "paymentTermsId",
    "blocked",
    "lastModifiedDateTime",
];

const CONTACTS: &[&str] = &[
    "id",
    "customerId",
    "customerName",
    "firstName",
    "lastName",
    "email",
    "primaryPhoneNumber",
    "professionalTitle",
];

const INVOICES: &[&str] = &[
    "id",
    "number",
    "externalDocumentNumber",
    "invoiceDate",
    "postingDate",
    "dueDate",
    "promisedPayDate",
    "customerPurchaseOrderReference",
    "customerId",
    "customerNumber",
    "customerName",
    "billToName",
    "billToCustomerId",
    "billToAddressLine1",
    "billToAddressLine2",
    "billToCity",
    "billToCountry",
    "billToState",
    "billToPostCode",
    "currencyCode",
    "paymentTermsId",
    "salesperson",
    "disputeStatus",
    "pricesIncludeTax",
    "remainingAmount",
    "discountAmount",
    "totalAmountExcludingTax",
    "totalTaxAmount",
    "totalAmountIncludingTax",
    "status",
    "lastModifiedDateTime",
];

const CREDIT_MEMOS: &[&str] = &[
    "id",
    "number",
    "externalDocumentNumber",
    "creditMemoDate",
    "postingDate",
    "dueDate",
    "customerId",
    "customerNumber",
    "customerName",
    "billToName",
    "billToCustomerId",
    "billToAddressLine1",
    "billToAddressLine2",
    "billToCity",
    "billToCountry",
    "billToState",
    "billToPostCode",
    "currencyCode",
    "paymentTermsId",
    "salesperson",
    "pricesIncludeTax",
    "discountAmount",
    "totalAmountExcludingTax",
    "totalTaxAmount",
    "totalAmountIncludingTax",
    "status",
    "lastModifiedDateTime",
    "invoiceId",
    "invoiceNumber",
    "customerReturnReasonId",
];

// The journal's own fields are not mapped (its `lastModifiedDateTime` included: payments are always a
// full pass); its `id` is checked, and the payments come expanded.
const PAYMENT_JOURNALS: &[&str] = &["id"];

const LEDGER_ENTRIES: &[&str] = &[
    "id",
    "entryNumber",
    "customerId",
    "customerNumber",
    "postingDate",
    "dueDate",
    "documentType",
    "documentNumber",
    "externalDocumentNumber",
    "description",
    "currencyCode",
    "amount",
    "remainingAmount",
    "open",
    "closedAtDate",
    "documentId",
    "lastModifiedDateTime",
];

const DIMENSIONS: &[&str] = &["id", "code", "displayName", "lastModifiedDateTime"];
