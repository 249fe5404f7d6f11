//! What the parts of a sync share: how an attempt ended, whose budget it spends.

use ledgerlink_connectors::ConnectorError;
use ledgerlink_domain::Connection;

/// Page-level retries of a transient failure before the attempt ends.
pub(crate) const PAGE_TRIES: u32 = 4;

/// How one attempt of a sync ended.
pub(crate) enum Attempt {
    Done { full: bool },
    Cancelled,
    Released,
    LeaseLost,
    Failed(ConnectorError),
}

pub(crate) fn err_text(e: &ConnectorError) -> String {
    e.to_string()
}

/// Whose request budget a connection's calls spend (BC counts per user/app and tenant).
pub(crate) fn principal(conn: &Connection) -> String {
    conn.tenant_id
        .clone()
        .or_else(|| conn.api_url.clone())
        .unwrap_or_else(|| conn.id.clone())
}
