//! Why a Business Central entity could not be mapped: the error of the mapping and of its typed
//! field reads, kept apart so that both can use it.

use crate::error::ConnectorError;

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
