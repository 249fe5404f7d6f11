//! Entity types: field lists in `$metadata` order with getters (straight to wire values).

pub mod docs;

use std::collections::HashMap;
use std::sync::LazyLock;

use uuid::Uuid;

use crate::model::*;
use crate::store::{Company, Fin, FinMap};
use crate::value::{Kind, V};

/// Reads one field of a record.
pub type Getter<T> = for<'a> fn(&'a T, &'a Ctx<'a>) -> V<'a>;

/// One property of an entity type.
pub struct Field<T: 'static> {
    /// JSON / `$metadata` property name.
    pub name: &'static str,
    /// `,"name":` — the bytes written before the value.
    pub key: &'static str,
    /// Wire type.
    pub kind: Kind,
    /// Getter.
    pub get: Getter<T>,
}

/// Customer figures, recomputed only when the world changed (`world_ver`) or the day did.
pub fn customer_fin_cached(
    co: &Company,
    today: chrono::NaiveDate,
    world_ver: u64,
) -> std::sync::Arc<FinMap> {
    let mut c = co.fin_cache.lock().expect("fin cache");
    if let Some((v, d, m)) = &*c
        && *v == world_ver
        && *d == today
    {
        return m.clone();
    }
    let m = std::sync::Arc::new(customer_fin(co, today));
    *c = Some((world_ver, today, m.clone()));
    m
}

/// Serialization context.
pub struct Ctx<'a> {
    /// The company the records belong to.
    pub co: &'a Company,
    /// Parent id (dimension set lines).
    pub parent_id: Uuid,
    /// Parent type member (dimension set lines).
    pub parent_type: &'static str,
    /// Customer figures (customers, customerFinancialDetails).
    pub fin: Option<&'a HashMap<Uuid, Fin>>,
}

/// An empty company for contexts that have none (companies, subscriptions).
pub static NO_COMPANY: LazyLock<Company> = LazyLock::new(Company::default);

impl<'a> Ctx<'a> {
    /// Plain context.
    pub fn new(co: &'a Company) -> Self {
        Ctx {
            co,
            parent_id: Uuid::nil(),
            parent_type: "_x0020_",
            fin: None,
        }
    }
    /// Figures of a customer.
    pub fn fin(&self, id: &Uuid) -> Fin {
        self.fin
            .and_then(|m| m.get(id))
            .copied()
            .unwrap_or_default()
    }
    /// Currency code as the standard API v2.0 pages show it: the company's LCY code for a blank one
    /// (`TranslateNAVCurrencyCodeToCurrencyCode` in customers, salesInvoices, salesCreditMemos).
    pub fn cur(&self, code: &'a str) -> &'a str {
        if code.is_empty() { &self.co.lcy } else { code }
    }
}

/// Build a field.
macro_rules! field {
    ($n:literal, $k:ident, |$r:ident, $c:ident| $e:expr) => {
        $crate::entities::Field {
            name: $n,
            key: concat!(",\"", $n, "\":"),
            kind: $crate::value::Kind::$k,
            get: |$r, $c| $e,
        }
    };
}
pub(crate) use field;

/// Compute customer figures for a company.
pub fn customer_fin(co: &Company, today: chrono::NaiveDate) -> HashMap<Uuid, Fin> {
    let mut m: HashMap<Uuid, Fin> = HashMap::with_capacity(co.customers.len());
    for e in co.ledger.rows.values() {
        let f = m.entry(e.customer_id).or_default();
        f.balance += e.remaining;
        // "Balance Due": remaining amounts whose due date is up to today (all signs, as the
        // FlowField over detailed entries with Initial Entry Due Date ..today).
        if e.due_date <= today {
            f.overdue += e.remaining;
        }
    }
    for d in co.invoices.rows.values() {
        if d.status != INV_DRAFT && d.status != INV_CANCELED {
            m.entry(d.customer_id).or_default().sales += d.totals().excl;
        }
    }
    for d in co.credit_memos.rows.values() {
        m.entry(d.customer_id).or_default().sales -= d.totals().excl;
    }
    m
}

/// `company`.
pub static COMPANY: &[Field<Company>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.id)),
    field!("systemVersion", Str, |_r, _c| V::Str("26.0.30643.32578")),
    field!("timestamp", Int, |r, _c| V::Int(r.ver as i64)),
    field!("name", Str, |r, _c| V::Str(&r.name)),
    field!("displayName", Str, |r, _c| V::Str(&r.display_name)),
    field!("businessProfileId", Str, |_r, _c| V::Str("")),
    field!("systemCreatedAt", Dt, |r, _c| V::Dt(r.created)),
    field!("systemCreatedBy", Guid, |_r, _c| V::Guid(Uuid::nil())),
    field!("systemModifiedAt", Dt, |r, _c| V::Dt(r.modified)),
    field!("systemModifiedBy", Guid, |_r, _c| V::Guid(Uuid::nil())),
];

/// `companyInformation` (page 30011): one entity per company. `currencyCode` is General Ledger
/// Setup's "LCY Code"; the address is CRONUS's.
pub static COMPANY_INFORMATION: &[Field<Company>] = &[
    field!("id", Guid, |r, _c| V::Guid(company_information_id(r))),
    field!("displayName", Str, |r, _c| V::Str(&r.display_name)),
    field!("addressLine1", Str, |_r, _c| V::Str(
        "7122 South Ashford Street"
    )),
    field!("addressLine2", Str, |_r, _c| V::Str("Westminster")),
    field!("city", Str, |_r, _c| V::Str("Atlanta")),
    field!("state", Str, |_r, _c| V::Str("GA")),
    field!("country", Str, |_r, _c| V::Str("US")),
    field!("postalCode", Str, |_r, _c| V::Str("31772")),
    field!("phoneNumber", Str, |_r, _c| V::Str("+1 425 555 0100")),
    field!("faxNumber", Str, |_r, _c| V::Str("")),
    field!("email", Str, |_r, _c| V::Str("")),
    field!("website", Str, |_r, _c| V::Str("")),
    field!("taxRegistrationNumber", Str, |_r, _c| V::Str("")),
    field!("currencyCode", Str, |r, _c| V::Str(&r.lcy)),
    field!("currentFiscalYearStartDate", Date, |_r, _c| V::Date(
        chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date")
    )),
    field!("industry", Str, |_r, _c| V::Str("")),
    field!("experience", Str, |_r, _c| V::Str("Essential")),
    field!("lastModifiedDateTime", Dt, |r, _c| V::Dt(r.modified)),
];

/// The SystemId of a company's Company Information record (not the company's own id).
pub fn company_information_id(co: &Company) -> Uuid {
    Uuid::from_u128(co.id.as_u128() ^ 0xC0_1F0)
}

const CONTACT_TYPE: [&str; 2] = ["Company", "Person"];
const BLOCKED: [&str; 4] = ["_x0020_", "Ship", "Invoice", "All"];

/// `customer`.
pub static CUSTOMER: &[Field<Customer>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.id)),
    field!("number", Str, |r, _c| V::Str(&r.number)),
    field!("displayName", Str, |r, _c| V::Str(&r.party.name)),
    field!("type", Enum, |r, _c| V::Enum(
        CONTACT_TYPE[r.kind as usize % 2]
    )),
    field!("addressLine1", Str, |r, _c| V::Str(&r.party.addr1)),
    field!("addressLine2", Str, |r, _c| V::Str(&r.party.addr2)),
    field!("city", Str, |r, _c| V::Str(&r.party.city)),
    field!("state", Str, |r, _c| V::Str(&r.party.state)),
    field!("country", Str, |r, _c| V::Str(&r.party.country)),
    field!("postalCode", Str, |r, _c| V::Str(&r.party.post_code)),
    field!("phoneNumber", Str, |r, _c| V::Str(&r.party.phone)),
    field!("email", Str, |r, _c| V::Str(&r.party.email)),
    field!("website", Str, |r, _c| V::Str(&r.website)),
    field!("salespersonCode", Str, |r, _c| V::Str(&r.salesperson)),
    field!("balanceDue", Dec, |r, c| V::Dec(c.fin(&r.id).overdue)),
    field!("creditLimit", Dec, |r, _c| V::Dec(r.credit_limit)),
    field!("taxLiable", Bool, |r, _c| V::Bool(r.tax_liable)),
    field!("taxAreaId", Guid, |_r, _c| V::Guid(Uuid::nil())),
    field!("taxAreaDisplayName", Str, |_r, _c| V::Str("")),
    field!("taxRegistrationNumber", Str, |r, _c| V::Str(&r.tax_reg_no)),
    field!("currencyId", Guid, |r, _c| V::Guid(r.currency_id)),
    field!("currencyCode", Str, |r, c| V::Str(c.cur(&r.currency_code))),
    field!("paymentTermsId", Guid, |r, _c| V::Guid(r.payment_terms_id)),
    field!("shipmentMethodId", Guid, |r, _c| V::Guid(
        r.shipment_method_id
    )),
    field!("paymentMethodId", Guid, |r, _c| V::Guid(
        r.payment_method_id
    )),
    field!("blocked", Enum, |r, _c| V::Enum(
        BLOCKED[r.blocked as usize % 4]
    )),
    field!("lastModifiedDateTime", Dt, |r, _c| V::Dt(r.modified)),
];

/// `customerFinancialDetail`.
pub static CUSTOMER_FIN: &[Field<Customer>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.id)),
    field!("number", Str, |r, _c| V::Str(&r.number)),
    field!("balance", Dec, |r, c| V::Dec(c.fin(&r.id).balance)),
    field!("totalSalesExcludingTax", Dec, |r, c| V::Dec(
        c.fin(&r.id).sales
    )),
    field!("overdueAmount", Dec, |r, c| V::Dec(c.fin(&r.id).overdue)),
    field!("lastModifiedDateTime", Dt, |r, _c| V::Dt(r.modified)),
];

/// `customerContact`.
pub static CUSTOMER_CONTACT: &[Field<Contact>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.id)),
    field!("email", Str, |r, _c| V::Str(&r.email)),
    field!("firstName", Str, |r, _c| V::Str(&r.first_name)),
    field!("lastName", Str, |r, _c| V::Str(&r.last_name)),
    field!("professionalTitle", Str, |r, _c| V::Str(&r.title)),
    field!("customerId", Guid, |r, _c| V::Guid(r.customer_id)),
    field!("customerName", Str, |r, c| V::Str(
        c.co.customers
            .get(&r.customer_id)
            .map(|x| &*x.party.name)
            .unwrap_or("")
    )),
    field!("primaryPhoneNumber", Str, |r, _c| V::Str(&r.phone)),
];

/// `dimension`.
pub static DIMENSION: &[Field<Dimension>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.id)),
    field!("code", Str, |r, _c| V::Str(&r.code)),
    field!("displayName", Str, |r, _c| V::Str(&r.name)),
    field!("consolidationCode", Str, |r, _c| V::Str(&r.consolidation)),
    field!("lastModifiedDateTime", Dt, |r, _c| V::Dt(r.modified)),
];

/// `dimensionValue`.
pub static DIMENSION_VALUE: &[Field<DimValue>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.id)),
    field!("code", Str, |r, _c| V::Str(&r.code)),
    field!("dimensionId", Guid, |r, _c| V::Guid(r.dimension_id)),
    field!("displayName", Str, |r, _c| V::Str(&r.name)),
    field!("consolidationCode", Str, |r, _c| V::Str(&r.consolidation)),
    field!("lastModifiedDateTime", Dt, |r, _c| V::Dt(r.modified)),
];

/// `dimensionSetLine` (parent comes from the context).
pub static DIMENSION_SET_LINE: &[Field<DimEntry>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.dim_id)),
    field!("code", Str, |r, _c| V::Str(&r.code)),
    field!("consolidationCode", Str, |r, _c| V::Str(&r.consolidation)),
    field!("parentId", Guid, |_r, c| V::Guid(c.parent_id)),
    field!("parentType", Enum, |_r, c| V::Enum(c.parent_type)),
    field!("displayName", Str, |r, _c| V::Str(&r.name)),
    field!("valueId", Guid, |r, _c| V::Guid(r.value_id)),
    field!("valueCode", Str, |r, _c| V::Str(&r.value_code)),
    field!("valueConsolidationCode", Str, |r, _c| V::Str(
        &r.value_consolidation
    )),
    field!("valueDisplayName", Str, |r, _c| V::Str(&r.value_name)),
];

/// `customerPaymentJournal`.
pub static PAYMENT_JOURNAL: &[Field<PaymentJournal>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.id)),
    field!("code", Str, |r, _c| V::Str(&r.code)),
    field!("displayName", Str, |r, _c| V::Str(&r.name)),
    field!("lastModifiedDateTime", Dt, |r, _c| V::Dt(r.modified)),
    field!("balancingAccountId", Guid, |r, _c| V::Guid(
        r.bal_account_id
    )),
    field!("balancingAccountNumber", Str, |r, _c| V::Str(
        &r.bal_account_no
    )),
];

/// `journal` (page 30016 "APIV2 - Journals") over the simulator's batches, which all live in the
/// cash receipt template.
pub static JOURNAL: &[Field<PaymentJournal>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.id)),
    field!("code", Str, |r, _c| V::Str(&r.code)),
    field!("displayName", Str, |r, _c| V::Str(&r.name)),
    field!("templateDisplayName", Str, |_r, _c| V::Str(
        CASH_RECEIPT_TEMPLATE
    )),
    field!("lastModifiedDateTime", Dt, |r, _c| V::Dt(r.modified)),
    field!("balancingAccountId", Guid, |r, _c| V::Guid(
        r.bal_account_id
    )),
    field!("balancingAccountNumber", Str, |r, _c| V::Str(
        &r.bal_account_no
    )),
];

/// Name of the default cash receipt journal template (W1 CRONUS).
pub const CASH_RECEIPT_TEMPLATE: &str = "CASHRCPT";

/// `customerPayment`.
pub static PAYMENT: &[Field<Payment>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.id)),
    field!("journalId", Guid, |r, _c| V::Guid(r.journal_id)),
    field!("journalDisplayName", Str, |r, c| V::Str(
        c.co.journals
            .get(&r.journal_id)
            .map(|j| &*j.code)
            .unwrap_or("")
    )),
    field!("lineNumber", Int, |r, _c| V::Int(r.line_number)),
    field!("customerId", Guid, |r, _c| V::Guid(r.customer_id)),
    field!("customerNumber", Str, |r, _c| V::Str(&r.customer_number)),
    field!("postingDate", Date, |r, _c| V::Date(r.posting_date)),
    field!("documentNumber", Str, |r, _c| V::Str(&r.document_number)),
    field!("externalDocumentNumber", Str, |r, _c| V::Str(
        &r.external_doc_no
    )),
    field!("amount", Dec, |r, _c| V::Dec(r.amount)),
    field!("appliesToInvoiceId", Guid, |r, _c| V::Guid(
        r.applies_to_invoice_id
    )),
    field!("appliesToInvoiceNumber", Str, |r, _c| V::Str(
        &r.applies_to_invoice_no
    )),
    field!("description", Str, |r, _c| V::Str(&r.description)),
    field!("comment", Str, |r, _c| V::Str(&r.comment)),
    field!("lastModifiedDateTime", Dt, |r, _c| V::Dt(r.modified)),
];

/// `subscriptions`.
pub static SUBSCRIPTION: &[Field<Subscription>] = &[
    field!("subscriptionId", Str, |r, _c| V::Str(&r.id)),
    field!("notificationUrl", Str, |r, _c| V::Str(&r.notification_url)),
    field!("resource", Str, |r, _c| V::Str(&r.resource)),
    field!("timestamp", Int, |r, _c| V::Int(r.ver as i64)),
    field!("userId", Guid, |r, _c| V::Guid(r.user_id)),
    field!("lastModifiedDateTime", Dt, |r, _c| V::Dt(r.modified)),
    field!("clientState", Str, |r, _c| V::Str(&r.client_state)),
    field!("expirationDateTime", Dt, |r, _c| V::Dt(r.expires)),
    field!("systemCreatedAt", Dt, |r, _c| V::Dt(r.created)),
    field!("systemCreatedBy", Guid, |r, _c| V::Guid(r.user_id)),
    field!("systemModifiedAt", Dt, |r, _c| V::Dt(r.modified)),
    field!("systemModifiedBy", Guid, |r, _c| V::Guid(r.user_id)),
];

/// `customerLedgerEntry` of the companion extension (`api/ledgerlink/ar/v1.0`).
/// `generalLedgerEntry` (page 30018 "APIV2 - G/L Entries"), in `$metadata` order.
pub static GL_ENTRY: &[Field<GlEntry>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.id)),
    field!("entryNumber", Int, |r, _c| V::Int(r.entry_no)),
    field!("postingDate", Date, |r, _c| V::Date(r.posting_date)),
    field!("documentNumber", Str, |r, _c| V::Str(&r.document_number)),
    field!("documentType", Enum, |r, _c| V::Enum(
        GEN_JNL_DOC_TYPE[r.doc_type as usize % 7]
    )),
    field!("accountId", Guid, |r, _c| V::Guid(r.account_id)),
    field!("accountNumber", Str, |r, _c| V::Str(&r.account_number)),
    field!("description", Str, |r, _c| V::Str(&r.description)),
    field!("debitAmount", Dec, |r, _c| V::Dec(r.debit)),
    field!("creditAmount", Dec, |r, _c| V::Dec(r.credit)),
    // No additional reporting currency in the simulator.
    field!("additionalCurrencyDebitAmount", Dec, |_r, _c| V::Dec(0)),
    field!("additionalCurrencyCreditAmount", Dec, |_r, _c| V::Dec(0)),
    field!("lastModifiedDateTime", Dt, |r, _c| V::Dt(r.modified)),
];

pub static LEDGER_ENTRY: &[Field<LedgerEntry>] = &[
    field!("id", Guid, |r, _c| V::Guid(r.id)),
    field!("entryNumber", Int, |r, _c| V::Int(r.entry_no)),
    field!("customerId", Guid, |r, _c| V::Guid(r.customer_id)),
    field!("customerNumber", Str, |r, _c| V::Str(&r.customer_number)),
    field!("postingDate", Date, |r, _c| V::Date(r.posting_date)),
    field!("dueDate", Date, |r, _c| V::Date(r.due_date)),
    field!("documentType", Enum, |r, _c| V::Enum(
        CLE_DOC_TYPE[r.doc_type as usize % 4]
    )),
    field!("documentNumber", Str, |r, _c| V::Str(&r.document_number)),
    field!("externalDocumentNumber", Str, |r, _c| V::Str(
        &r.external_doc_no
    )),
    field!("description", Str, |r, _c| V::Str(&r.description)),
    // The table's own "Currency Code": blank for the local currency (the standard pages translate it).
    field!("currencyCode", Str, |r, _c| V::Str(&r.currency_code)),
    field!("amount", Dec, |r, _c| V::Dec(r.amount)),
    field!("remainingAmount", Dec, |r, _c| V::Dec(r.remaining)),
    field!("open", Bool, |r, _c| V::Bool(r.open)),
    field!("closedByEntryNumber", Int, |r, _c| V::Int(
        r.closed_by_entry_no
    )),
    field!("closedAtDate", Date, |r, _c| V::Date(r.closed_at)),
    field!("documentId", Guid, |r, _c| V::Guid(r.document_id)),
    field!("lastModifiedDateTime", Dt, |r, _c| V::Dt(r.modified)),
];
