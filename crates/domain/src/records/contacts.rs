//! `contacts`: people at a customer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A person linked to a customer (model `contacts`; BC `customerContacts`).
///
/// Nullable fields are `null` when the ERP has no value: blank text, BC's all-zero GUID (no reference)
/// and `0001-01-01` date, a property BC sends as `null` or omits. Amounts, numbers and flags are `null`
/// only in that last case (BC's metadata allows it; BC itself always sends a value).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct Contact {
    /// The ERP id of the customer this person belongs to (BC `customerId`); `null` when unlinked.
    pub customer_remote_id: Option<String>,
    /// That customer's name (BC `customerName`).
    pub customer_name: Option<String>,
    /// First name (BC `firstName`).
    pub first_name: Option<String>,
    /// Last name (BC `lastName`).
    pub last_name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number (BC `primaryPhoneNumber`).
    pub phone: Option<String>,
    /// Job title (BC `professionalTitle`).
    pub job_title: Option<String>,
}
