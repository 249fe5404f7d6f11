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

/// [`ConnectionOut`]'s fields before `provider`, in its order.
#[derive(Serialize)]
struct Head<'a> {
    created_at: &'a DateTime<Utc>,
    modified_at: &'a Option<DateTime<Utc>>,
    id: &'a str,
    is_authentication_pending: bool,
    is_running_setup: bool,
    is_sync_disabled: bool,
    health: &'a Health,
    models: &'a [ModelOut],
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
            models: &self.models,
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
        serde_json::to_writer(&mut *out, &head).expect("a connection serializes");
        out.pop(); // the head's closing brace
        out.extend_from_slice(b",\"provider\":");
        provider_json(&self.provider, out);
        out.push(b',');
        let at = out.len();
        serde_json::to_writer(&mut *out, &tail).expect("a connection serializes");
        out.remove(at); // the tail's opening brace
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
        for c in [connection(None), connection(Some("Acme \u{e9}\n")), unknown] {
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
