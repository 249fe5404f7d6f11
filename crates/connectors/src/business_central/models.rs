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
    },
    EntitySpec {
        model: "contacts",
        api: Api::Standard,
        entity_set: "customerContacts",
        expand: None,
        expand_with_dimensions: None,
        // customerContacts has no lastModifiedDateTime: always a full pass.
        incremental: false,
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
    },
    EntitySpec {
        model: "customer_ledger_entries",
        api: Api::Extension,
        entity_set: "customerLedgerEntries",
        expand: None,
        expand_with_dimensions: None,
        incremental: true,
    },
    EntitySpec {
        model: "dimensions",
        api: Api::Standard,
        entity_set: "dimensions",
        expand: Some("dimensionValues"),
        expand_with_dimensions: Some("dimensionValues"),
        incremental: true,
    },
];

/// The models of `ms-dynamics-bc` (PRODUCT.md §4).
pub(crate) const MODELS: &[ModelSupport] = &[
    model("customers", false, false),
    model("contacts", false, false),
    model("invoices", false, false),
    model("credit_memos", false, false),
    model("payments", true, false),
    model("customer_ledger_entries", false, true),
    model("dimensions", false, false),
];

const fn model(name: &'static str, write: bool, extension: bool) -> ModelSupport {
    ModelSupport {
        name,
        read: true,
        write,
        is_custom_object: extension,
        requires_extension: extension,
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
    fn dimension_lines_change_the_expand() {
        let inv = spec("invoices").unwrap();
        assert_eq!(inv.expand_for(false), Some("salesInvoiceLines"));
        assert!(inv.expand_for(true).unwrap().contains("dimensionSetLines"));
        assert_eq!(spec("contacts").unwrap().expand_for(true), None);
    }
}
