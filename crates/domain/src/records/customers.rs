//! `customers`: who is invoiced.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Decimal, open_enum};

/// A postal address. Every part is `null` when the ERP has none.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Default)]
pub struct Address {
    /// First address line (BC `addressLine1`).
    pub line1: Option<String>,
    /// Second address line (BC `addressLine2`).
    pub line2: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State, county or province (BC `state`, the County field).
    pub state: Option<String>,
    /// Postal code (BC `postalCode` / `…PostCode`).
    pub postal_code: Option<String>,
    /// Country/region code as the ERP keeps it (BC: its country/region code, usually ISO 3166 alpha-2).
    pub country: Option<String>,
}

open_enum! {
    /// Whether the customer is an organisation or a private person (BC `type`).
    CustomerType {
        /// An organisation.
        Company = "company",
        /// A private person.
        Person = "person",
    }
}

open_enum! {
    /// What the ERP blocks for this customer (BC `blocked`).
    Blocked {
        /// Nothing is blocked (BC's blank value).
        None = "none",
        /// Shipments are blocked.
        Ship = "ship",
        /// Invoicing (and shipping) is blocked.
        Invoice = "invoice",
        /// All transactions are blocked.
        All = "all",
    }
}

/// A customer (model `customers`; BC `customers` with `customerFinancialDetail`).
///
/// Nullable fields are `null` when the ERP has no value: blank text, BC's all-zero GUID (no reference)
/// and `0001-01-01` date, a property BC sends as `null` or omits. Amounts, numbers and flags are `null`
/// only in that last case (BC's metadata allows it; BC itself always sends a value).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct Customer {
    /// The customer number in the ERP (BC `number`); `null` when the ERP holds a blank one.
    pub number: Option<String>,
    /// Display name (BC `displayName`). `""` when the customer has none: BC declares the name
    /// non-nullable but accepts a blank one from its web client.
    pub name: String,
    /// Organisation or person (BC `type`); `null` when the ERP leaves it blank.
    #[serde(rename = "type")]
    pub customer_type: Option<CustomerType>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number (BC `phoneNumber`).
    pub phone: Option<String>,
    /// Website.
    pub website: Option<String>,
    /// Postal address.
    pub address: Address,
    /// ISO currency code the customer is invoiced in (BC `currencyCode`). A customer in the company's
    /// local currency carries that currency's code (BC sends it; a blank code is resolved to it too).
    pub currency: Option<String>,
    /// Credit limit in the company's local currency (BC `creditLimit`, "Credit Limit (LCY)"); `0`
    /// means no limit in BC; `null` only when the ERP sends no value.
    pub credit_limit: Option<Decimal>,
    /// Amount due as of today, in local currency (BC `balanceDue`); `null` only when the ERP sends no
    /// value.
    pub balance_due: Option<Decimal>,
    /// Amount past due, in local currency (BC `customerFinancialDetail.overdueAmount`); `null` when the
    /// ERP did not send financial details.
    pub overdue_amount: Option<Decimal>,
    /// The ERP id of the customer's payment terms (BC `paymentTermsId`); `null` when none.
    pub payment_terms_id: Option<String>,
    /// Salesperson code (BC `salespersonCode`).
    pub salesperson_code: Option<String>,
    /// Tax (VAT) registration number (BC `taxRegistrationNumber`).
    pub tax_registration_number: Option<String>,
    /// What is blocked for the customer (BC `blocked`).
    pub blocked: Blocked,
}
