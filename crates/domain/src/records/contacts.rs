//! `contacts`: people at a customer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A person linked to a customer (model `contacts`; BC `customerContacts`).
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
