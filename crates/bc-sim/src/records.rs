//! Public types of the record-level Rust API (`Sim::apply_payment`, `Sim::patch_raw`, …).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A payment received from a customer, applied to one posted sales invoice.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PaymentSpec {
    /// Amount received (positive, in the invoice's currency; rounded to cents).
    pub amount: f64,
    /// Posting date; `None` = the simulated today.
    pub posting_date: Option<chrono::NaiveDate>,
    /// Document number of the payment; `None` = `PMT{entry number}`.
    pub document_number: Option<String>,
    /// External document number (e.g. the bank reference).
    pub external_document_number: Option<String>,
}

/// What posting a payment wrote.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPosted {
    /// Id of the Payment customer ledger entry (served by the companion extension).
    pub ledger_entry_id: uuid::Uuid,
    /// Its entry number.
    pub entry_number: i64,
    /// The invoice's `remainingAmount` afterwards.
    pub remaining_amount: f64,
    /// The invoice's `status` afterwards (`Open`, `Paid`, …).
    pub status: String,
}

/// A verbatim change to a served record, as BC's tables allow what its API pages refuse
/// (data migrations, the web client): values are written to the wire exactly as given.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RawPatch {
    /// Properties to serve verbatim: an existing property takes this value (any JSON, even one
    /// BC could never send, e.g. `"abc"` for an amount); an unknown name is served as an extra
    /// property.
    pub properties: Map<String, Value>,
    /// Properties to leave out of the record entirely.
    pub remove: Vec<String>,
    /// Whether the change is a modification (moves `lastModifiedDateTime` and the etag, notifies
    /// webhooks). Default `true`; `false` changes the record silently.
    pub touch: bool,
}

impl Default for RawPatch {
    fn default() -> Self {
        RawPatch {
            properties: Map::new(),
            remove: Vec::new(),
            touch: true,
        }
    }
}

impl RawPatch {
    /// Serve these properties verbatim (a JSON object); a modification.
    pub fn set(properties: Value) -> Self {
        RawPatch {
            properties: match properties {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            ..Default::default()
        }
    }
    /// Also leave these properties out of the record.
    pub fn remove(mut self, names: &[&str]) -> Self {
        self.remove.extend(names.iter().map(|n| n.to_string()));
        self
    }
    /// Change the record without moving `lastModifiedDateTime` or its etag (no notification).
    pub fn silent(mut self) -> Self {
        self.touch = false;
        self
    }
}
