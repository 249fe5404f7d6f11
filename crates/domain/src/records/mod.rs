//! The unified record shapes users read from the change feed (`GET …/records/{model}`): one shape per
//! model, the same for every provider. These are the `data` of a record; the envelope (`id`,
//! `remote_id`, `remote_modified_at`, …) lives with the sync engine.
//!
//! Conventions (UNIFIED-MODELS.md): money and quantities are exact [`Decimal`]s written as JSON numbers
//! with the ERP's precision; dates are `YYYY-MM-DD`; enumerations are snake_case strings and values this
//! version does not know are passed through, never dropped.
//!
//! Null and empty values. A record is kept whatever the ERP legitimately holds: Business Central's
//! tables accept what its API pages refuse on write (a customer created in the web client may have no
//! name), and its metadata declares almost every property nullable. So:
//! - The ERP's "empty" values are `null`: the date `0001-01-01`, the all-zero GUID (no reference), `""`
//!   in optional text, a blank enumeration member, and any property the ERP sends as `null` or not at
//!   all (an older BC version may lack it).
//! - Amounts, quantities, counters and flags are `null` only when the ERP sends no value; BC always
//!   sends one, but its metadata allows `null`, so clients must accept it.
//! - Text BC declares non-nullable (a customer's `name`, dimension `code`s) is a string, `""` when the
//!   ERP holds a blank one.
//! - `remote_id`s (of records, lines, dimension values) are never empty: an entity without an id cannot
//!   be tracked and is reported as a mapping error instead of being stored.

mod contacts;
mod customers;
mod decimal;
mod dimensions;
mod documents;
mod ledger;
mod payments;

pub use contacts::Contact;
pub use customers::{Address, Blocked, Customer, CustomerType};
pub use decimal::Decimal;
pub use dimensions::{Dimension, DimensionValue};
pub use documents::{
    BillTo, CreditMemo, DimensionLine, DocumentLine, DocumentStatus, Invoice, LineType,
};
pub use ledger::{CustomerLedgerEntry, LedgerDocumentType};
pub use payments::{Payment, PaymentStatus};

/// The unified models, by their name in the API (`/records/{model}`).
pub const MODELS: [&str; 7] = [
    "customers",
    "contacts",
    "invoices",
    "credit_memos",
    "payments",
    "customer_ledger_entries",
    "dimensions",
];

/// An enumeration whose wire values are snake_case strings, with an `Other` variant that keeps values
/// the ERP may add later (UNIFIED-MODELS.md: "unknown members are kept, lower-cased, never dropped").
/// Serde and the OpenAPI schema are implemented by hand because a closed `enum` in the schema would
/// make generated clients reject those values.
macro_rules! open_enum {
    (
        $(#[doc = $doc:literal])+
        $name:ident {
            $( $(#[doc = $vdoc:literal])+ $variant:ident = $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[doc = $doc])+
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[doc = $vdoc])+ $variant, )+
            /// A value this version does not know, as the ERP sent it, in snake_case.
            Other(String),
        }

        impl $name {
            /// The known wire values, in declaration order.
            pub const KNOWN: &'static [&'static str] = &[$($wire),+];

            /// The wire value (snake_case).
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Other(other) => other,
                }
            }

            /// The member for a snake_case wire value; anything else is kept as [`Self::Other`].
            pub fn parse(value: &str) -> Self {
                match value {
                    $( $wire => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self::parse(&value))
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::records::open_enum_schema(concat!($($doc, "\n"),+), Self::KNOWN)
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use open_enum;

/// The schema of an [`open_enum!`]: a string, with the known values listed in the description and as
/// examples.
pub(crate) fn open_enum_schema(
    doc: &str,
    known: &[&str],
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let listed: Vec<String> = known.iter().map(|v| format!("`{v}`")).collect();
    let description = format!(
        "{} One of {}; a value the ERP adds later is passed through in snake_case.",
        doc.trim().replace('\n', " ").replace("  ", " "),
        listed.join(", ")
    );
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .examples(known.iter().map(|v| serde_json::Value::from(*v)))
        .into()
}

#[cfg(test)]
mod tests;
