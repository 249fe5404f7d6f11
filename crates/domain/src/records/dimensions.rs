//! `dimensions`: analysis dimensions and their values.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One value of a dimension (BC `dimensionValues`).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct DimensionValue {
    /// The ERP id of the value (BC `id`).
    pub remote_id: String,
    /// Value code (BC `code`), e.g. `SALES`; never null (`""` if the ERP holds a blank one).
    pub code: String,
    /// Value name (BC `displayName`).
    pub name: Option<String>,
}

/// An analysis dimension with its values (model `dimensions`; BC `dimensions` + `dimensionValues`).
///
/// Nullable fields are `null` when the ERP has no value: blank text, BC's all-zero GUID (no reference)
/// and `0001-01-01` date, a property BC sends as `null` or omits. Amounts, numbers and flags are `null`
/// only in that last case (BC's metadata allows it; BC itself always sends a value).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct Dimension {
    /// Dimension code (BC `code`), e.g. `DEPARTMENT`; never null (`""` if the ERP holds a blank one).
    pub code: String,
    /// Dimension name (BC `displayName`).
    pub name: Option<String>,
    /// Its values.
    pub values: Vec<DimensionValue>,
}
