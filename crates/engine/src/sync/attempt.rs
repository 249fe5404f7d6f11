//! What the parts of a sync share: how an attempt ended, whose budget it spends, record hashes.

use ledgerlink_connectors::ConnectorError;
use ledgerlink_domain::Connection;
use sha2::{Digest, Sha256};

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

/// SHA-256 of a record's unified JSON text (serialized from the typed record, fields in their
/// declared order, so equal records hash equal), hex.
pub(crate) fn record_hash(data: &str) -> String {
    hex_encode(&Sha256::digest(data.as_bytes()))
}

fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        hex.push(DIGITS[usize::from(b >> 4)] as char);
        hex.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    hex
}
