//! A connection's health: what is wrong, in words a finance admin can act on.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Machine-readable health state of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Authenticated, configured, and recent checks and syncs succeeded.
    Healthy,
    /// Created, waiting for consent (cloud) or credentials (on-premises).
    AuthenticationPending,
    /// The ERP refused our credentials: consent revoked, refresh token expired, key changed.
    AuthenticationFailed,
    /// A setting must be chosen before syncing (see `missing_settings`).
    MissingSettings,
    /// The ERP user or app lacks a permission ledgerlink needs.
    PermissionDenied,
    /// The environment or company no longer exists.
    NotFound,
    /// The ERP could not be reached.
    Unreachable,
    /// The ERP keeps throttling our requests.
    RateLimited,
    /// Recent syncs failed after all retries.
    SyncFailing,
    /// Syncs are paused (`is_sync_disabled`).
    SyncDisabled,
}

impl HealthStatus {
    /// Every status, in declaration order.
    pub const ALL: [HealthStatus; 10] = [
        Self::Healthy,
        Self::AuthenticationPending,
        Self::AuthenticationFailed,
        Self::MissingSettings,
        Self::PermissionDenied,
        Self::NotFound,
        Self::Unreachable,
        Self::RateLimited,
        Self::SyncFailing,
        Self::SyncDisabled,
    ];

    /// The wire name (`authentication_pending`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::AuthenticationPending => "authentication_pending",
            Self::AuthenticationFailed => "authentication_failed",
            Self::MissingSettings => "missing_settings",
            Self::PermissionDenied => "permission_denied",
            Self::NotFound => "not_found",
            Self::Unreachable => "unreachable",
            Self::RateLimited => "rate_limited",
            Self::SyncFailing => "sync_failing",
            Self::SyncDisabled => "sync_disabled",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.as_str() == s)
    }

    /// Whether the user must (re-)authenticate to fix it.
    pub fn authentication_required(self) -> bool {
        matches!(
            self,
            Self::AuthenticationPending | Self::AuthenticationFailed
        )
    }

    /// The default message and suggested resolution for this status.
    pub fn default_text(self) -> (&'static str, &'static str) {
        match self {
            Self::Healthy => ("The connection is working.", "No action needed."),
            Self::AuthenticationPending => (
                "The connection has not been authorized yet.",
                "Open the authorization URL and sign in as a user who can grant access, or for \
                 an on-premises server submit a user name and web service access key.",
            ),
            Self::AuthenticationFailed => (
                "The ERP no longer accepts this connection's credentials.",
                "Authorize the connection again; its data and settings are kept.",
            ),
            Self::MissingSettings => (
                "Settings must be chosen before the connection can sync.",
                "Choose the missing settings with PATCH on the connection.",
            ),
            Self::PermissionDenied => (
                "The ERP user or app lacks a permission ledgerlink needs.",
                "Grant the missing permission set to the user or app, then run a health check.",
            ),
            Self::NotFound => (
                "The environment or company this connection uses no longer exists.",
                "Choose another environment or company, or restore the one that was removed.",
            ),
            Self::Unreachable => (
                "The ERP could not be reached.",
                "Check that the server is online and reachable, then run a health check.",
            ),
            Self::RateLimited => (
                "The ERP keeps throttling ledgerlink's requests.",
                "Nothing to do: syncs slow down and resume by themselves. Reduce other API use \
                 of the same user if it persists.",
            ),
            Self::SyncFailing => (
                "Recent syncs failed after all retries.",
                "Look at the latest sync's error, fix its cause, then request a sync.",
            ),
            Self::SyncDisabled => (
                "Syncing is paused for this connection.",
                "Set is_sync_disabled to false to resume syncing.",
            ),
        }
    }
}

/// Health of a connection, as reported in the connection object.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Health {
    /// Whether the user must (re-)authenticate the connection to fix its health.
    pub authentication_required: bool,
    /// What is happening, in words a finance admin understands.
    pub message: String,
    /// Whether the connection is healthy.
    pub healthy: bool,
    /// Machine-readable health state.
    pub status_code: HealthStatus,
    /// What to do about it.
    pub suggested_resolution: String,
    /// When this health was determined.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub timestamp: DateTime<Utc>,
}

impl Health {
    /// Health with `status`'s default words, or `message` where a check gave a more precise one.
    pub fn new(status: HealthStatus, message: Option<&str>, timestamp: DateTime<Utc>) -> Self {
        let (default_message, resolution) = status.default_text();
        Health {
            authentication_required: status.authentication_required(),
            message: message.unwrap_or(default_message).to_owned(),
            healthy: status == HealthStatus::Healthy,
            status_code: status,
            suggested_resolution: resolution.to_owned(),
            timestamp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_every_status_has_words() {
        for status in HealthStatus::ALL {
            assert_eq!(HealthStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, status.as_str());
            let (message, resolution) = status.default_text();
            assert!(!message.is_empty() && !resolution.is_empty());
        }
    }
}
