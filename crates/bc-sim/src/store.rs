//! The world: environments, companies and their tables.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::model::*;

/// A company and all its tables.
#[derive(Debug, Default)]
pub struct Company {
    pub id: Uuid,
    pub ver: u64,
    pub name: Box<str>,
    pub display_name: Box<str>,
    pub created: i64,
    pub modified: i64,
    /// Local currency code.
    pub lcy: Box<str>,
    /// Companion extension (customerLedgerEntries) installed.
    pub extension: bool,
    pub items: Vec<Item>,
    pub customers: Table<Customer>,
    pub contacts: Table<Contact>,
    pub invoices: Table<SalesDoc>,
    pub credit_memos: Table<SalesDoc>,
    pub journals: Table<PaymentJournal>,
    pub payments: Table<Payment>,
    pub dimensions: Table<Dimension>,
    pub dim_values: Table<DimValue>,
    /// Dimension sets; index 0 is the empty set.
    pub dim_sets: Vec<Vec<DimEntry>>,
    pub ledger: Table<LedgerEntry>,
    /// Invoice id → key of its ledger entry.
    pub invoice_cle: IdMap<Uuid>,
    pub next_entry_no: i64,
    pub next_invoice_no: u64,
    /// G/L entries written by posting (`generalLedgerEntries`).
    pub gl: Table<GlEntry>,
    pub next_gl_entry_no: i64,
    /// General Ledger Setup "Allow Posting From" / "Allow Posting To" (None: no limit).
    pub allow_posting_from: Option<chrono::NaiveDate>,
    pub allow_posting_to: Option<chrono::NaiveDate>,
    /// Verbatim overrides of served records (`Sim::patch_raw`).
    pub raw: RawMap,
    /// Customer figures cached per (world version, day): they scan every document.
    pub fin_cache: std::sync::Mutex<Option<(u64, chrono::NaiveDate, std::sync::Arc<FinMap>)>>,
}

impl Company {
    /// Find a line of a document by line id.
    pub fn doc_line<'a>(doc: &'a SalesDoc, line_id: &Uuid) -> Option<&'a Line> {
        doc.lines.iter().find(|l| &l.id == line_id)
    }
}

/// A BC environment (cloud) or on-prem server instance.
#[derive(Debug, Default)]
pub struct Env {
    /// Tenant id (nil for on-prem).
    pub tenant: Uuid,
    /// Environment name / server instance.
    pub name: String,
    /// `Production` / `Sandbox` / `OnPrem`.
    pub kind: String,
    /// Tenant id on a multitenant on-prem server instance (one environment per tenant); empty
    /// elsewhere.
    pub onprem_tenant: String,
    /// Removed at runtime (fault).
    pub removed: bool,
    pub companies: Table<Company>,
    /// Webhook subscriptions by id.
    pub subscriptions: BTreeMap<String, Subscription>,
}

/// All data behind one lock.
#[derive(Debug, Default)]
pub struct World {
    pub envs: Vec<Env>,
    /// Row-version counter (drives ETags).
    pub ver: u64,
}

impl World {
    /// Next row version.
    pub fn next_ver(&mut self) -> u64 {
        self.ver += 1;
        self.ver
    }
    /// Environment index by tenant + name (case-insensitive).
    pub fn env_index(&self, tenant: Uuid, name: &str) -> Option<usize> {
        self.envs
            .iter()
            .position(|e| e.tenant == tenant && e.name.eq_ignore_ascii_case(name))
    }
    /// On-prem environment of an instance and tenant (`""` on a single-tenant instance).
    pub fn onprem_index(&self, instance: &str, tenant: &str) -> Option<usize> {
        self.envs.iter().position(|e| {
            e.tenant.is_nil()
                && e.name.eq_ignore_ascii_case(instance)
                && e.onprem_tenant.eq_ignore_ascii_case(tenant)
        })
    }
    /// Every environment of a tenant + name (all tenants of an on-prem instance).
    pub fn env_indices(&self, tenant: uuid::Uuid, name: &str) -> Vec<usize> {
        (0..self.envs.len())
            .filter(|i| {
                self.envs[*i].tenant == tenant && self.envs[*i].name.eq_ignore_ascii_case(name)
            })
            .collect()
    }
    /// Find a company anywhere (admin API).
    pub fn find_company(&self, id: &Uuid) -> Option<(usize, u64)> {
        self.envs
            .iter()
            .enumerate()
            .find_map(|(i, e)| e.companies.ids.get(id).map(|k| (i, *k)))
    }
}

/// Per-customer figures derived from documents and ledger entries.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fin {
    /// Balance (LCY).
    pub balance: i64,
    /// Sales excluding tax.
    pub sales: i64,
    /// Balance due as of today (BC "Balance Due (LCY)").
    pub overdue: i64,
}

/// Customer id → figures.
pub type FinMap = HashMap<Uuid, Fin>;

/// The overrides of one record.
#[derive(Clone, Debug, Default)]
pub struct RawRecord {
    /// Properties served verbatim (existing ones replaced, unknown ones added).
    pub set: Map<String, Value>,
    /// Properties left out.
    pub removed: BTreeSet<String>,
}

/// Entity type name → record id → overrides.
pub type RawMap = HashMap<&'static str, IdMap<RawRecord>>;
