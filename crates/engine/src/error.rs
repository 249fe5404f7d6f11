//! Why an engine operation failed.

use ledgerlink_connectors::ConnectorError;
use ledgerlink_store::StoreError;

use crate::oauth_state::StateError;

/// Why an engine operation failed, for the API to answer with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The connection does not exist (for this organization).
    #[error("connection not found")]
    NotFound,
    /// The OAuth redirect carried a state we did not issue, or one that expired.
    #[error("{0}")]
    BadState(#[from] StateError),
    /// The OAuth state was already used.
    #[error("this authorization response was already used; start again from the connection")]
    Replayed,
    /// The user declined consent, or the ERP refused the authorization.
    #[error("authorization was not granted: {0}")]
    Declined(ConnectorError),
    /// The request does not fit the connection (e.g. credentials for a cloud connection).
    #[error("{0}")]
    Invalid(String),
    /// The connection is not in a state that allows this (e.g. a sync of an unconfigured connection).
    #[error("{0}")]
    NotReady(String),
    /// The ERP refused or failed a call needed to complete the request.
    #[error("{0}")]
    Connector(#[from] ConnectorError),
    /// A stored secret could not be opened.
    #[error("{0}")]
    Vault(#[from] crate::vault::VaultError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
