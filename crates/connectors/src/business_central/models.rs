//! Which Business Central entity set serves each unified model, and how to query it.

use crate::connector::ModelSupport;

/// The BC API a model is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// Standard API v2.0 (`api/v2.0`).
    Standard,
    /// The companion extension (`api/ledgerlink/ar/v1.0`).
    Extension,
}

impl Api {
    /// Path segments after the environment (cloud) or server instance (on-prem).
    pub fn segments(self) -> &'static [&'static str] {
        match self {
            Api::Standard => &["api", "v2.0"],
            Api::Extension => &["api", "ledgerlink", "ar", "v1.0"],
        }
    }
}

/// How to read one unified model from BC.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntitySpec {
    /// Unified model name.
    pub model: &'static str,
    /// Which API serves it.
    pub api: Api,
    /// Entity set under `companies({id})/`.
    pub entity_set: &'static str,
    /// `$expand`, if any.
    pub expand: Option<&'static str>,
    /// `$expand` when dimension lines are wanted.
    pub expand_with_dimensions: Option<&'static str>,
    /// Whether the entity has `lastModifiedDateTime` to filter incremental windows on.
    pub incremental: bool,
    /// What BC changes without moving `lastModifiedDateTime`, if anything.
    pub volatile: Option<Volatile>,
}

/// Properties BC changes without moving the entity's `lastModifiedDateTime`, and which records can
/// have them change. A partial payment lowers an invoice's `remainingAmount` but BC's invoice
/// aggregate row is rewritten (stamp moved) only when the status changes (Open -> Paid); a customer's
/// balances are computed when read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Volatile {
    /// `$select` (always with `id`).
    pub select: &'static str,
    /// `$expand` (a computed child), if any.
    pub expand: Option<&'static str>,
    /// `$filter` of the records whose values can still change silently (`None`: all).
    pub filter: Option<&'static str>,
}

const SPECS: &[EntitySpec] = &[
    EntitySpec {
        model: "customers",
        api: Api::Standard,
        entity_set: "customers",
        // Balance due / overdue amounts (UNIFIED-MODELS.md `overdue_amount`).
        expand: Some("customerFinancialDetail"),
        expand_with_dimensions: Some("customerFinancialDetail"),
        incremental: true,
        volatile: Some(Volatile {
            select: "id,balanceDue",
            expand: Some("customerFinancialDetail"),
            filter: None,
        }),
    },
    EntitySpec {
        model: "contacts",
        api: Api::Standard,
        entity_set: "customerContacts",
        expand: None,
        expand_with_dimensions: None,
        // customerContacts has no lastModifiedDateTime: always a full pass.
        incremental: false,
        volatile: None,
    },
    EntitySpec {
        model: "invoices",
        api: Api::Standard,
        entity_set: "salesInvoices",
        expand: Some("salesInvoiceLines"),
        expand_with_dimensions: Some(
            "salesInvoiceLines($expand=dimensionSetLines),dimensionSetLines",
        ),
        incremental: true,
        // `remainingAmount` is computed by the page, so it cannot be filtered on; an invoice whose
        // remaining amount can still move is an open one (paying it off in full moves the stamp).
        volatile: Some(Volatile {
            select: "id,remainingAmount",
            expand: None,
            filter: Some("status eq 'Open'"),
        }),
    },
    EntitySpec {
        model: "credit_memos",
        api: Api::Standard,
        entity_set: "salesCreditMemos",
        expand: Some("salesCreditMemoLines"),
        expand_with_dimensions: Some(
            "salesCreditMemoLines($expand=dimensionSetLines),dimensionSetLines",
        ),
        incremental: true,
        volatile: None,
    },
    EntitySpec {
        model: "payments",
        api: Api::Standard,
        // BC refuses `customerPayments` without a journal filter, so unposted payment lines are read per
        // journal: each record is a journal with its `customerPayments` expanded. Journal timestamps don't
        // move when their lines change, hence always a full pass. Posted payments come from the extension
        // (`customer_ledger_entries`).
        entity_set: "customerPaymentJournals",
        expand: Some("customerPayments"),
        expand_with_dimensions: Some("customerPayments($expand=dimensionSetLines)"),
        incremental: false,
        volatile: None,
    },
    EntitySpec {
        model: "customer_ledger_entries",
        api: Api::Extension,
        entity_set: "customerLedgerEntries",
        expand: None,
        expand_with_dimensions: None,
        incremental: true,
        volatile: None,
    },
    EntitySpec {
        model: "dimensions",
        api: Api::Standard,
        entity_set: "dimensions",
        expand: Some("dimensionValues"),
        expand_with_dimensions: Some("dimensionValues"),
        incremental: true,
        volatile: None,
    },
];

/// The models of `ms-dynamics-bc` (PRODUCT.md §4).
/// `payments` is writable in the product (journal line + post); the write call itself is not part of
/// the connector yet.
pub(crate) const MODELS: &[ModelSupport] = &[
    model(&SPECS[0], false),
    model(&SPECS[1], false),
    model(&SPECS[2], false),
    model(&SPECS[3], false),
    model(&SPECS[4], true),
    model(&SPECS[5], false),
    model(&SPECS[6], false),
];

const fn model(spec: &EntitySpec, write: bool) -> ModelSupport {
    let extension = matches!(spec.api, Api::Extension);
    ModelSupport {
        name: spec.model,
        read: true,
        write,
        is_custom_object: extension,
        requires_extension: extension,
        incremental: spec.incremental,
        silent_changes: spec.volatile.is_some(),
    }
}

/// The spec of a unified model, if BC serves it.
pub(crate) fn spec(model: &str) -> Option<&'static EntitySpec> {
    SPECS.iter().find(|s| s.model == model)
}

impl EntitySpec {
    /// The `$expand` to use.
    pub fn expand_for(&self, include_dimension_lines: bool) -> Option<&'static str> {
        if include_dimension_lines {
            self.expand_with_dimensions.or(self.expand)
        } else {
            self.expand
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_has_a_spec() {
        for m in MODELS {
            assert!(spec(m.name).is_some(), "{} has no entity spec", m.name);
        }
        assert!(spec("vendors").is_none());
    }

    #[test]
    fn model_flags_follow_the_specs() {
        let find = |n: &str| MODELS.iter().find(|m| m.name == n).unwrap();
        assert!(find("customer_ledger_entries").requires_extension);
        assert!(!find("invoices").requires_extension);
        assert!(!find("contacts").incremental && !find("payments").incremental);
        assert!(find("invoices").incremental);
        assert!(find("payments").write && !find("customers").write);
        assert_eq!(MODELS.len(), SPECS.len());
    }

    #[test]
    fn dimension_lines_change_the_expand() {
        let inv = spec("invoices").unwrap();
        assert_eq!(inv.expand_for(false), Some("salesInvoiceLines"));
        assert!(inv.expand_for(true).unwrap().contains("dimensionSetLines"));
        assert_eq!(spec("contacts").unwrap().expand_for(true), None);
    }
}
