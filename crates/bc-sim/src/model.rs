//! Compact in-memory records (plain structs; derived fields are computed at serialization).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use chrono::NaiveDate;
use uuid::Uuid;

/// Hasher for (random, v4-shaped) UUID keys: folds the bytes, no SipHash rounds.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // Mix so that both hashbrown's top bits (control bytes) and low bits vary.
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            self.0 =
                (self.0.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(0x517C_C1B7_2722_0A95);
        }
    }
    fn write_usize(&mut self, _: usize) {}
}

/// Map keyed by UUID with the cheap hasher.
pub type IdMap<V> = HashMap<Uuid, V, BuildHasherDefault<IdHasher>>;

/// A table keyed by an internal monotonic key (the paging key) with an id index.
#[derive(Debug)]
pub struct Table<T> {
    /// Rows by internal key, in insertion order.
    pub rows: BTreeMap<u64, T>,
    /// `id` → internal key.
    pub ids: IdMap<u64>,
    next: u64,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            rows: BTreeMap::new(),
            ids: IdMap::default(),
            next: 1,
        }
    }
}

impl<T> Table<T> {
    /// Insert a row under a fresh key.
    pub fn insert(&mut self, id: Uuid, row: T) -> u64 {
        let k = self.next;
        self.next += 1;
        self.rows.insert(k, row);
        self.ids.insert(id, k);
        k
    }
    /// Reserve room for `n` more ids.
    pub fn reserve(&mut self, n: usize) {
        self.ids.reserve(n);
    }
    /// Row by id.
    pub fn get(&self, id: &Uuid) -> Option<&T> {
        self.ids.get(id).and_then(|k| self.rows.get(k))
    }
    /// Mutable row by id.
    pub fn get_mut(&mut self, id: &Uuid) -> Option<&mut T> {
        let k = *self.ids.get(id)?;
        self.rows.get_mut(&k)
    }
    /// Remove by id.
    pub fn remove(&mut self, id: &Uuid) -> Option<T> {
        let k = self.ids.remove(id)?;
        self.rows.remove(&k)
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
}

/// Name and address block shared by customers and the documents issued to them.
#[derive(Clone, Debug, Default)]
pub struct Party {
    /// Name.
    pub name: Box<str>,
    /// Contact person.
    pub contact: Box<str>,
    /// Address line 1.
    pub addr1: Box<str>,
    /// Address line 2.
    pub addr2: Box<str>,
    /// City.
    pub city: Box<str>,
    /// County/state.
    pub state: Box<str>,
    /// Country/region code.
    pub country: Box<str>,
    /// Post code.
    pub post_code: Box<str>,
    /// Phone.
    pub phone: Box<str>,
    /// E-mail.
    pub email: Box<str>,
}

/// A customer.
#[derive(Clone, Debug)]
pub struct Customer {
    pub id: Uuid,
    pub ver: u64,
    pub number: Box<str>,
    pub party: Arc<Party>,
    /// 0 = Company, 1 = Person.
    pub kind: u8,
    pub website: Box<str>,
    pub salesperson: Box<str>,
    pub credit_limit: i64,
    pub tax_liable: bool,
    pub tax_reg_no: Box<str>,
    /// Empty = local currency.
    pub currency_code: Box<str>,
    pub currency_id: Uuid,
    pub payment_terms_id: Uuid,
    pub shipment_method_id: Uuid,
    pub payment_method_id: Uuid,
    /// Index into `customerBlocked` members.
    pub blocked: u8,
    pub modified: i64,
}

/// A person linked to a customer.
#[derive(Clone, Debug)]
pub struct Contact {
    pub id: Uuid,
    pub ver: u64,
    pub customer_id: Uuid,
    pub first_name: Box<str>,
    pub last_name: Box<str>,
    pub title: Box<str>,
    pub email: Box<str>,
    pub phone: Box<str>,
}

/// An item (lines refer to it by index).
#[derive(Clone, Debug)]
pub struct Item {
    pub id: Uuid,
    pub number: Box<str>,
    pub description: Box<str>,
    pub uom_id: Uuid,
    pub uom_code: Box<str>,
    pub unit_price: i64,
    pub tax_pct: i64,
}

/// A document line (invoice or credit memo).
#[derive(Clone, Debug)]
pub struct Line {
    pub id: Uuid,
    pub document_id: Uuid,
    pub sequence: u32,
    /// Index into `invoiceLineAggLineType`.
    pub line_type: u8,
    /// Index into the company's items.
    pub item: u32,
    pub quantity: i64,
    pub unit_price: i64,
    pub discount_pct: i64,
    pub tax_pct: i64,
    pub shipment_date: NaiveDate,
    pub dim_set: u32,
}

/// Computed amounts of a line, in hundredths.
pub struct LineAmounts {
    pub discount: i64,
    pub excl: i64,
    pub tax: i64,
    pub incl: i64,
}

impl Line {
    /// Line amounts derived from quantity, price, discount and tax.
    pub fn amounts(&self) -> LineAmounts {
        let gross = mul_div(self.quantity, self.unit_price, 100);
        let discount = mul_div(gross, self.discount_pct, 10_000);
        let excl = gross - discount;
        let tax = mul_div(excl, self.tax_pct, 10_000);
        LineAmounts {
            discount,
            excl,
            tax,
            incl: excl + tax,
        }
    }
}

/// `a * b / d` rounded half away from zero; i64 fast path, i128 on overflow.
pub fn mul_div(a: i64, b: i64, d: i64) -> i64 {
    match a
        .checked_mul(b)
        .and_then(|n| Some((n, n.checked_abs()?.checked_add(d / 2)?)))
    {
        Some((n, up)) => {
            let q = up / d;
            if n < 0 { -q } else { q }
        }
        None => round_div(a as i128 * b as i128, d as i128),
    }
}

/// Round-half-away-from-zero integer division.
pub fn round_div(n: i128, d: i128) -> i64 {
    let q = (n.abs() + d / 2) / d;
    (if n < 0 { -q } else { q }) as i64
}

/// A sales invoice or credit memo (same storage, different field lists).
#[derive(Clone, Debug)]
pub struct SalesDoc {
    pub id: Uuid,
    pub ver: u64,
    pub number: Box<str>,
    pub external_doc_no: Box<str>,
    pub doc_date: NaiveDate,
    pub posting_date: NaiveDate,
    pub due_date: NaiveDate,
    pub promised_pay_date: NaiveDate,
    pub your_reference: Box<str>,
    pub customer_id: Uuid,
    pub customer_number: Box<str>,
    pub party: Arc<Party>,
    pub currency_code: Box<str>,
    pub currency_id: Uuid,
    pub dim1: Box<str>,
    pub dim2: Box<str>,
    pub payment_terms_id: Uuid,
    pub shipment_method_id: Uuid,
    pub salesperson: Box<str>,
    /// Index into the status enum of the entity.
    pub status: u8,
    /// Amount already applied (payments / credit memos), hundredths.
    pub paid: i64,
    /// Credit memos: the invoice it applies to.
    pub applies_to: Option<(Uuid, Box<str>)>,
    pub modified: i64,
    pub dim_set: u32,
    pub lines: Vec<Line>,
}

/// Document totals.
pub struct DocTotals {
    pub excl: i64,
    pub tax: i64,
    pub incl: i64,
}

impl SalesDoc {
    /// Totals over the lines.
    pub fn totals(&self) -> DocTotals {
        let mut t = DocTotals {
            excl: 0,
            tax: 0,
            incl: 0,
        };
        for l in &self.lines {
            let a = l.amounts();
            t.excl += a.excl;
            t.tax += a.tax;
            t.incl += a.incl;
        }
        t
    }
}

/// Invoice status members (`invoiceEntityAggregateStatus`).
pub const INVOICE_STATUS: [&str; 7] = [
    "_x0020_",
    "Draft",
    "In_x0020_Review",
    "Open",
    "Paid",
    "Canceled",
    "Corrective",
];
/// Credit memo status members (`salesCrMemoEntityBufferStatus`).
pub const CRMEMO_STATUS: [&str; 6] = [
    "Draft",
    "In_x0020_Review",
    "Open",
    "Canceled",
    "Corrective",
    "Paid",
];
/// Invoice status index: Open.
pub const INV_OPEN: u8 = 3;
/// Invoice status index: Paid.
pub const INV_PAID: u8 = 4;
/// Invoice status index: Draft.
pub const INV_DRAFT: u8 = 1;
/// Credit memo status index: Paid.
pub const CRMEMO_PAID: u8 = 5;
/// Invoice status index: Canceled.
pub const INV_CANCELED: u8 = 5;

/// A dimension.
#[derive(Clone, Debug)]
pub struct Dimension {
    pub id: Uuid,
    pub ver: u64,
    pub code: Box<str>,
    pub name: Box<str>,
    pub consolidation: Box<str>,
    pub modified: i64,
}

/// A dimension value.
#[derive(Clone, Debug)]
pub struct DimValue {
    pub id: Uuid,
    pub ver: u64,
    pub dimension_id: Uuid,
    pub code: Box<str>,
    pub name: Box<str>,
    pub consolidation: Box<str>,
    pub modified: i64,
}

/// One entry of a dimension set, resolved for serialization.
#[derive(Clone, Debug)]
pub struct DimEntry {
    pub dim_id: Uuid,
    pub code: Box<str>,
    pub name: Box<str>,
    pub consolidation: Box<str>,
    pub value_id: Uuid,
    pub value_code: Box<str>,
    pub value_name: Box<str>,
    pub value_consolidation: Box<str>,
}

/// A customer payment journal (Gen. Journal Batch in the cash receipt template).
#[derive(Clone, Debug)]
pub struct PaymentJournal {
    pub id: Uuid,
    pub ver: u64,
    pub code: Box<str>,
    pub name: Box<str>,
    pub bal_account_id: Uuid,
    pub bal_account_no: Box<str>,
    pub modified: i64,
}

/// An unposted customer payment journal line.
#[derive(Clone, Debug)]
pub struct Payment {
    pub id: Uuid,
    pub ver: u64,
    pub journal_id: Uuid,
    pub line_number: i64,
    pub customer_id: Uuid,
    pub customer_number: Box<str>,
    pub posting_date: NaiveDate,
    pub document_number: Box<str>,
    pub external_doc_no: Box<str>,
    pub amount: i64,
    pub applies_to_invoice_id: Uuid,
    pub applies_to_invoice_no: Box<str>,
    pub description: Box<str>,
    pub comment: Box<str>,
    /// Balancing G/L account, copied from the batch when the line is created (as BC's
    /// `SetPaymentsValues`); nil / blank: none.
    pub bal_account_id: Uuid,
    pub bal_account_no: Box<str>,
    pub modified: i64,
}

/// The G/L accounts the simulator knows (id, number, name): enough for payment posting. BC's
/// CRONUS numbers (W1); the ids are the simulator's own.
pub const GL_ACCOUNTS: &[(u128, &str, &str)] = &[
    (0x2310, "2310", "Customers Domestic"),
    (0xBA4C, "2910", "Cash"),
    (0x2920, "2920", "Bank, LCY"),
];

/// The receivables account of every customer posting group (credited by a payment).
pub const RECEIVABLES_ACCOUNT: usize = 0;

/// The G/L account with this id: `(id, number)`.
pub fn gl_account_by_id(id: Uuid) -> Option<(Uuid, &'static str)> {
    GL_ACCOUNTS
        .iter()
        .find(|a| a.0 == id.as_u128())
        .map(|a| (Uuid::from_u128(a.0), a.1))
}

/// A G/L entry (`generalLedgerEntries`, page 30018 over table "G/L Entry").
#[derive(Clone, Debug)]
pub struct GlEntry {
    pub id: Uuid,
    pub ver: u64,
    pub entry_no: i64,
    pub posting_date: NaiveDate,
    pub document_number: Box<str>,
    /// Index into [`GEN_JNL_DOC_TYPE`].
    pub doc_type: u8,
    pub account_id: Uuid,
    pub account_number: Box<str>,
    pub description: Box<str>,
    /// Hundredths.
    pub debit: i64,
    /// Hundredths.
    pub credit: i64,
    pub modified: i64,
}

/// `Microsoft.NAV.genJournalDocumentType` members (in `$metadata` order).
pub const GEN_JNL_DOC_TYPE: [&str; 7] = [
    "_x0020_",
    "Payment",
    "Invoice",
    "Credit_x0020_Memo",
    "Finance_x0020_Charge_x0020_Memo",
    "Reminder",
    "Refund",
];

/// Customer ledger entry document types (extension enum).
pub const CLE_DOC_TYPE: [&str; 4] = ["_x0020_", "Payment", "Invoice", "Credit_x0020_Memo"];

/// A customer ledger entry (served by the companion extension).
#[derive(Clone, Debug)]
pub struct LedgerEntry {
    pub id: Uuid,
    pub ver: u64,
    pub entry_no: i64,
    pub customer_id: Uuid,
    pub customer_number: Box<str>,
    pub posting_date: NaiveDate,
    pub due_date: NaiveDate,
    pub doc_type: u8,
    pub document_number: Box<str>,
    pub external_doc_no: Box<str>,
    pub description: Box<str>,
    pub currency_code: Box<str>,
    pub amount: i64,
    pub remaining: i64,
    pub open: bool,
    pub closed_by_entry_no: i64,
    pub closed_at: NaiveDate,
    pub document_id: Uuid,
    pub modified: i64,
}

/// A webhook subscription.
#[derive(Clone, Debug)]
pub struct Subscription {
    pub id: Box<str>,
    pub ver: u64,
    pub notification_url: Box<str>,
    pub resource: Box<str>,
    pub client_state: Box<str>,
    pub user_id: Uuid,
    pub expires: i64,
    pub created: i64,
    pub modified: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_matches_the_wide_path() {
        for (a, b, d) in [
            (700, 38818, 100),
            (-150, 3, 100),
            (5, 5, 10),
            (-5, 5, 10),
            (i64::MAX, 3, 100),
            (i64::MIN, 1, 100),
        ] {
            assert_eq!(
                mul_div(a, b, d),
                round_div(a as i128 * b as i128, d as i128),
                "{a} {b} {d}"
            );
        }
    }
}
