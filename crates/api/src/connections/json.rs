//! Connections as JSON bytes, with the `provider` object copied from a serialization made once per
//! provider: it is ~2.3 KB of static text, more than a third of every connection's JSON, and
//! escaping it again for every connection of every page was a good part of a listing's cost
//! (BENCHMARKS.md, "Connections API (issue #12)"). The bytes are those of serializing
//! [`ConnectionOut`] (a test holds them equal).

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ledgerlink_domain::{Health, Provider, catalog};
use serde::Serialize;

use super::{ConnectionOut, ModelOut};

/// Each catalog provider's JSON.
static PROVIDERS: LazyLock<HashMap<&'static str, Vec<u8>>> = LazyLock::new(|| {
    catalog::providers()
        .iter()
        .map(|p| (p.name, to_vec(p)))
        .collect()
});

/// [`ConnectionOut`]'s fields before `models`, in its order.
#[derive(Serialize)]
struct Head<'a> {
    #[serde(serialize_with = "ledgerlink_domain::timestamp::serialize")]
    created_at: &'a DateTime<Utc>,
    #[serde(serialize_with = "ledgerlink_domain::timestamp::serialize_option")]
    modified_at: &'a Option<DateTime<Utc>>,
    id: &'a str,
    is_authentication_pending: bool,
    is_running_setup: bool,
    is_sync_disabled: bool,
    health: &'a Health,
}

/// [`ConnectionOut`]'s fields between `models` and `provider`, in its order.
#[derive(Serialize)]
struct Middle<'a> {
    #[serde(serialize_with = "ledgerlink_domain::timestamp::serialize_option")]
    next_sync_at: &'a Option<DateTime<Utc>>,
    name: &'a Option<String>,
    owner_id: &'a Option<String>,
    requires_setup: bool,
    provider_name: &'a str,
    api_url: &'a Option<String>,
    company: &'a Option<String>,
    company_name: &'a Option<String>,
    environment: &'a Option<String>,
    include_dimension_lines: bool,
    is_bc_extension_installed: bool,
    is_on_premise: bool,
    tenant_id: &'a Option<String>,
    object: &'a str,
    authorization_url: &'a Option<String>,
}

/// [`ConnectionOut`]'s fields after `provider`, in its order.
#[derive(Serialize)]
struct Tail<'a> {
    is_configured: bool,
    missing_settings: &'a [String],
    is_healthy: bool,
    linked_integration_id: &'a Option<String>,
}

fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("a connection serializes")
}

fn provider_json(provider: &Provider, out: &mut Vec<u8>) {
    // Catalog entries are static; a stored connection's unknown provider is a stand-in ("unknown").
    match PROVIDERS.get(provider.name) {
        Some(json) => out.extend_from_slice(json),
        None => out.extend_from_slice(&to_vec(provider)),
    }
}

/// Appends `value` serialized, without its enclosing braces (an object's members).
fn members<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    let at = out.len();
    serde_json::to_writer(&mut *out, value).expect("a connection serializes");
    out.remove(at); // `{`
    out.pop(); // `}`
}

fn string(s: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(out, s).expect("a string serializes");
}

fn flag(key: &[u8], value: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(key);
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

impl ModelOut {
    /// Appends the model's JSON to `out`: the bytes serde writes (a test holds them equal), written
    /// by hand because a page of 50 connections has 350 models and their keys, timestamps and
    /// flags were the largest part of serializing it (BENCHMARKS.md, issue #12).
    fn write_json(&self, out: &mut Vec<u8>) {
        use ledgerlink_domain::timestamp::{write_json as at, write_json_option as at_opt};
        out.extend_from_slice(b"{\"created_at\":");
        at(&self.created_at, out);
        out.extend_from_slice(b",\"modified_at\":");
        at_opt(&self.modified_at, out);
        out.extend_from_slice(b",\"id\":");
        string(&self.id, out);
        out.extend_from_slice(b",\"name\":");
        string(&self.name, out);
        flag(b",\"is_read_enabled\":", self.is_read_enabled, out);
        flag(b",\"is_write_enabled\":", self.is_write_enabled, out);
        flag(b",\"is_custom_object\":", self.is_custom_object, out);
        flag(
            b",\"is_file_upload_enabled\":",
            self.is_file_upload_enabled,
            out,
        );
        flag(b",\"is_webhooks_setup\":", self.is_webhooks_setup, out);
        out.extend_from_slice(b",\"next_sync_at\":");
        at_opt(&self.next_sync_at, out);
        out.extend_from_slice(b",\"connection_id\":");
        string(&self.connection_id, out);
        out.extend_from_slice(b",\"last_sync\":");
        serde_json::to_writer(&mut *out, &self.last_sync).expect("a sync serializes");
        out.extend_from_slice(b",\"object\":");
        string(self.object, out);
        out.extend_from_slice(b",\"display_name\":");
        string(&self.display_name, out);
        flag(b",\"is_read_supported\":", self.is_read_supported, out);
        flag(b",\"is_write_supported\":", self.is_write_supported, out);
        flag(b",\"is_sync_supported\":", self.is_sync_supported, out);
        out.push(b'}');
    }
}

impl ConnectionOut {
    /// Appends the connection's JSON to `out`.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        let head = Head {
            created_at: &self.created_at,
            modified_at: &self.modified_at,
            id: &self.id,
            is_authentication_pending: self.is_authentication_pending,
            is_running_setup: self.is_running_setup,
            is_sync_disabled: self.is_sync_disabled,
            health: &self.health,
        };
        let middle = Middle {
            next_sync_at: &self.next_sync_at,
            name: &self.name,
            owner_id: &self.owner_id,
            requires_setup: self.requires_setup,
            provider_name: &self.provider_name,
            api_url: &self.api_url,
            company: &self.company,
            company_name: &self.company_name,
            environment: &self.environment,
            include_dimension_lines: self.include_dimension_lines,
            is_bc_extension_installed: self.is_bc_extension_installed,
            is_on_premise: self.is_on_premise,
            tenant_id: &self.tenant_id,
            object: self.object,
            authorization_url: &self.authorization_url,
        };
        let tail = Tail {
            is_configured: self.is_configured,
            missing_settings: &self.missing_settings,
            is_healthy: self.is_healthy,
            linked_integration_id: &self.linked_integration_id,
        };
        out.push(b'{');
        members(&head, out);
        out.extend_from_slice(b",\"models\":[");
        for (i, model) in self.models.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            model.write_json(out);
        }
        out.extend_from_slice(b"],");
        members(&middle, out);
        out.extend_from_slice(b",\"provider\":");
        provider_json(&self.provider, out);
        out.push(b',');
        members(&tail, out);
        out.push(b'}');
    }
}

/// A `200 application/json` answer of `body`.
fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// One connection as the API answers it.
pub(crate) fn one(c: &ConnectionOut) -> Response {
    let mut out = Vec::with_capacity(8 * 1024);
    c.write_json(&mut out);
    json_response(out)
}

/// A list of connections as the API answers it.
pub(crate) fn list(connections: &[ConnectionOut]) -> Response {
    let mut out = Vec::with_capacity(2 + connections.len() * 8 * 1024);
    out.push(b'[');
    for (i, c) in connections.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        c.write_json(&mut out);
    }
    out.push(b']');
    json_response(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledgerlink_domain::{Connection, NewConnection, OrgId};

    fn connection(name: Option<&str>) -> ConnectionOut {
        let new = NewConnection {
            provider: catalog::provider("ms-dynamics-bc").unwrap(),
            name: name.map(str::to_owned),
            api_url: None,
            is_on_premise: false,
        };
        let mut c: ConnectionOut =
            Connection::create(OrgId("org_1".into()), new, Utc::now()).into();
        c.authorization_url = Some("https://login.example/authorize?state=a.b".into());
        c
    }

    #[test]
    fn the_written_json_is_the_serialized_one_byte_for_byte() {
        let mut unknown = connection(Some("old \"provider\""));
        unknown.provider = super::super::dto::unknown_provider("gone");
        let mut busy = connection(Some("busy"));
        let state = serde_json::json!({"phase": "window", "records": 12, "skipped": [{"remote_id": "a\"b"}]});
        busy.models[0].last_sync = Some(ledgerlink_domain::Sync {
            created_at: Utc::now(),
            modified_at: Some(Utc::now() + chrono::Duration::milliseconds(1)),
            id: "sync_1".into(),
            status: ledgerlink_domain::SyncStatus::Failed,
            attempt: 2,
            batch_id: Some(uuid::Uuid::nil()),
            completed_at: None,
            entity_id: Some("company".into()),
            error: Some("BC said \"no\"\u{1}".into()),
            file_id: None,
            is_initial_sync: true,
            is_one_off: false,
            model_id: busy.models[0].id.clone(),
            progress: ledgerlink_domain::SyncProgress::from_state(&state),
            pagination_state: state,
            started_at: Some(chrono::DateTime::UNIX_EPOCH),
            timerange_end: None,
            timerange_start: Some(chrono::DateTime::UNIX_EPOCH + chrono::Duration::nanoseconds(7)),
            object: "integration_sync",
        });
        busy.models[1].display_name = "Sales \"invoices\" \u{e9}\t".into();
        busy.models[1].next_sync_at = None;
        busy.models[1].is_write_enabled = true;
        for c in [
            connection(None),
            connection(Some("Acme \u{e9}\n")),
            unknown,
            busy,
        ] {
            let mut written = Vec::new();
            c.write_json(&mut written);
            assert_eq!(
                String::from_utf8(written).unwrap(),
                serde_json::to_string(&c).unwrap()
            );
        }
        let page = [connection(Some("a")), connection(Some("b"))];
        let body = list(&page);
        assert_eq!(body.status(), axum::http::StatusCode::OK);
    }
}
