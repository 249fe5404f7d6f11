//! Health: checking a connection with one live call, and what a failed ERP call means for its
//! health (decided in one place, [`health_for`]).

use chrono::{DateTime, Utc};
use ledgerlink_connectors::{ConnectorError, ErrorKind};
use ledgerlink_domain::{Connection, HealthStatus, OrgId};

use crate::engine::Engine;
use crate::error::EngineError;

impl Engine {
    /// Checks the connection's health now and records the verdict.
    pub async fn check_health(&self, org: &OrgId, id: &str) -> Result<Connection, EngineError> {
        let mut conn = self.load(org, id).await?;
        if conn.is_authentication_pending
            || conn.is_running_setup
            || !conn.missing_settings.is_empty()
            || conn.company.is_none()
        {
            return Ok(conn);
        }
        let _ = self.check(&mut conn).await;
        schedule_unscheduled(&mut conn, self.now());
        self.save(&conn).await?;
        self.reload(&conn).await
    }

    /// Checks health with one live call (a transient failure is looked at twice, a refused token
    /// refreshed once) and records the verdict on `conn`; returns the failure, if any.
    pub(crate) async fn check(&self, conn: &mut Connection) -> Result<(), ConnectorError> {
        let mut result = self.try_check(conn, false).await;
        if matches!(&result, Err(e) if e.kind() == ledgerlink_connectors::ErrorKind::Transient) {
            // One failed call is not an outage: look again before saying so.
            result = self.try_check(conn, false).await;
        }
        if let Err(err) = &result
            && err.kind() == ledgerlink_connectors::ErrorKind::Unauthorized
            && self.uses_oauth(conn)
        {
            // The access token may have been invalidated early: one refresh, one retry.
            result = self.try_check(conn, true).await;
        }
        match &result {
            Ok(()) => {
                conn.health_status = HealthStatus::Healthy;
                conn.health_message = None;
                conn.health_checked_at = self.now();
            }
            Err(err) => record_failure(conn, err, self.now()),
        }
        result
    }

    async fn try_check(
        &self,
        conn: &Connection,
        force_refresh: bool,
    ) -> Result<(), ConnectorError> {
        let session = self.session_with(conn, force_refresh).await?;
        match self.connectors.get(conn.provider_name.as_str()) {
            Some(connector) => connector.health_check(&session).await,
            None => Err(ConnectorError::Unsupported("no connector".into())),
        }
    }

    /// Records that a call for this connection failed (syncs report failures here too).
    pub async fn record_call_failure(
        &self,
        conn: &Connection,
        err: &ConnectorError,
    ) -> Result<(), EngineError> {
        let mut conn = self.load(&conn.org_id, &conn.id).await?;
        record_failure(&mut conn, err, self.now());
        self.save(&conn).await
    }
}

pub(crate) fn record_failure(conn: &mut Connection, err: &ConnectorError, now: DateTime<Utc>) {
    if let Some((status, message)) = health_for(err) {
        conn.health_status = status;
        conn.health_message = Some(message);
        conn.health_checked_at = now;
    }
}

/// A configured, healthy connection always has its readable models scheduled: those without a
/// planned sync (never synced, or set up while the ERP was failing) get their first one now.
pub(crate) fn schedule_unscheduled(conn: &mut Connection, now: DateTime<Utc>) {
    if conn.health_status != HealthStatus::Healthy || !conn.missing_settings.is_empty() {
        return;
    }
    for m in conn.models.iter_mut().filter(|m| m.is_read_enabled) {
        m.next_sync_at.get_or_insert(now);
    }
}

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
        // The ERP refused one write on business grounds (a closed invoice, a blocked customer):
        // that write fails, the connection is as healthy as it was.
        ErrorKind::Unsupported | ErrorKind::Business => return None,
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
