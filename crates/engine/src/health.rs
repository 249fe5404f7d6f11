//! What a failed ERP call means for a connection's health, decided in one place.

use ledgerlink_connectors::{ConnectorError, ErrorKind};
use ledgerlink_domain::HealthStatus;

/// The health a failure leads to, and the message shown with it. `None`: the failure says nothing
/// about the connection's health (a programming error). Callers retry a transient failure before
/// asking.
pub fn health_for(err: &ConnectorError) -> Option<(HealthStatus, String)> {
    if matches!(
        err.provider_code(),
        Some("invalid_client" | "unauthorized_client")
    ) {
        // Our app registration was refused, not the user's authorization: re-consenting cannot help.
        return Some((
            HealthStatus::MissingSettings,
            format!(
                "Microsoft Entra refused this ledgerlink server's app credentials; its operator must \
                 fix entra_client_id / entra_client_secret. Details: {err}"
            ),
        ));
    }
    let status = match err.kind() {
        ErrorKind::Unauthorized => HealthStatus::AuthenticationFailed,
        ErrorKind::Forbidden => HealthStatus::PermissionDenied,
        ErrorKind::NotFound => HealthStatus::NotFound,
        ErrorKind::RateLimited => HealthStatus::RateLimited,
        ErrorKind::Unreachable | ErrorKind::Blocked => HealthStatus::Unreachable,
        ErrorKind::NotConfigured => HealthStatus::MissingSettings,
        ErrorKind::Invalid | ErrorKind::Rejected => HealthStatus::SyncFailing,
        ErrorKind::Transient => HealthStatus::Unreachable,
        ErrorKind::Unsupported => return None,
    };
    Some((status, message_for(status, err)))
}

fn message_for(status: HealthStatus, err: &ConnectorError) -> String {
    let said = err.to_string();
    match status {
        HealthStatus::AuthenticationFailed => format!(
            "Business Central no longer accepts this connection's authorization (consent revoked, \
             sign-in expired, or credentials changed). Details: {said}"
        ),
        HealthStatus::PermissionDenied => format!(
            "The Business Central user or app lacks a permission ledgerlink needs. Details: {said}"
        ),
        HealthStatus::NotFound => format!(
            "The Business Central environment or company this connection uses no longer exists. \
             Details: {said}"
        ),
        HealthStatus::RateLimited => {
            format!("Business Central keeps throttling requests. Details: {said}")
        }
        HealthStatus::Unreachable => {
            format!("Business Central could not be reached. Details: {said}")
        }
        _ => said,
    }
}

/// Whether a failure of this kind means the stored credentials are dead and syncs must stop.
pub fn stops_syncs(err: &ConnectorError) -> bool {
    err.kind() == ErrorKind::Unauthorized
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_class_has_its_status() {
        let cases = [
            (
                ConnectorError::Unauthorized {
                    code: Some("invalid_grant".into()),
                    message: "AADSTS70008: expired".into(),
                },
                HealthStatus::AuthenticationFailed,
            ),
            (
                ConnectorError::Forbidden {
                    code: None,
                    message: "no".into(),
                },
                HealthStatus::PermissionDenied,
            ),
            (
                ConnectorError::NotFound {
                    code: Some("Internal_CompanyNotFound".into()),
                    message: "gone".into(),
                },
                HealthStatus::NotFound,
            ),
            (
                ConnectorError::RateLimited { retry_after: None },
                HealthStatus::RateLimited,
            ),
            (
                ConnectorError::Unreachable {
                    message: "refused".into(),
                },
                HealthStatus::Unreachable,
            ),
        ];
        for (err, status) in cases {
            let (got, message) = health_for(&err).unwrap();
            assert_eq!(got, status);
            assert!(!message.is_empty());
        }
        assert!(health_for(&ConnectorError::Unsupported("x".into())).is_none());
    }
}
