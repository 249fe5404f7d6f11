//! What the connections API accepts, and the rules each field must follow.

use ledgerlink_domain::{ConnectionChanges, Provider, catalog};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::body::{Fields, FromBody, Tri};
use ledgerlink_connectors::business_central::instance_root;

/// Longest connection name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest `api_url` accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// Body of `POST /v2/integrations/connections`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConnectionCreate {
    /// The provider to connect to. Must name an enabled provider.
    #[schema(example = "ms-dynamics-bc")]
    pub provider_name: String,
    /// User defined name of the linked integration: 1 to 200 characters, not only spaces, no
    /// control characters.
    #[schema(
        max_length = 200,
        min_length = 1,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: Option<String>,
    /// The base URL for the Business Central API. Only used for on premise instances, where it is
    /// required: an absolute `https` URL of the server instance such as
    /// `https://bc.example.com:7048/BC`. The API URL as Microsoft documents it
    /// (`https://bc.example.com:7048/BC/api/v2.0`) is accepted too, and stored as the instance root.
    /// A multitenant server's `?tenant=<tenant id>` is kept and sent on every request; no other query
    /// parameter is accepted.
    pub api_url: Option<String>,
    /// Whether the MS Dynamics BC instance is on-premise or cloud-based. Omit it for `false`;
    /// `null` is refused.
    #[schema(default = false, nullable = false)]
    pub is_on_premise: Option<bool>,
}

/// Body of `PATCH /v2/integrations/connections/{connection_id}`. Absent fields are left alone;
/// `null` clears a nullable field.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConnectionPatch {
    /// May be repeated, but must equal the connection's provider; `null` is refused.
    #[schema(nullable = false)]
    pub provider_name: Option<String>,
    /// User defined name of the linked integration: 1 to 200 characters, not only spaces, no
    /// control characters; `null` clears it.
    #[schema(
        max_length = 200,
        min_length = 1,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: Option<String>,
    /// The Business Central company id to sync; one of the companies discovered during setup.
    pub company: Option<String>,
    /// The Business Central environment to use; one of the environments discovered during setup.
    pub environment: Option<String>,
    /// Pause (`true`) or resume (`false`) all syncs of this connection; `null` is refused.
    #[schema(nullable = false)]
    pub is_sync_disabled: Option<bool>,
    /// Whether to read dimension set lines with invoices and credit memos; `null` is refused.
    #[schema(nullable = false)]
    pub include_dimension_lines: Option<bool>,
    /// The base URL of an on-premises Business Central API (absolute `https` URL), as on create:
    /// stored as the server instance root, `?tenant=<tenant id>` kept.
    pub api_url: Option<String>,
    /// The code of the customer payment journal whose balancing account written-back payments
    /// follow (each payment is posted from a journal batch of its own, balanced like this one); one
    /// of the journals setup found in the company, with a balancing account. Setup picks the
    /// company's only journal itself; `null` clears the choice. Choosing another company clears it.
    #[schema(max_length = 10)]
    pub payment_journal: Option<String>,
}

/// Rules that depend on the server's configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct InputRules {
    /// Accept `http://` as well as `https://` for `api_url` (test and lab set-ups only).
    pub allow_http_api_url: bool,
}

/// A validated create request.
pub struct CreateRequest {
    pub provider: &'static Provider,
    pub name: Option<String>,
    pub api_url: Option<String>,
    pub is_on_premise: bool,
}

/// A syntactically valid patch; rules that need the stored connection are checked by the handler.
pub struct PatchRequest {
    pub provider_name: Option<String>,
    pub changes: ConnectionChanges,
}

/// A create body before the rules that need configuration.
pub struct RawCreate {
    provider_name: Option<String>,
    name: Tri<String>,
    api_url: Tri<String>,
    is_on_premise: bool,
}

impl FromBody for RawCreate {
    const FIELDS: &'static [&'static str] = &["provider_name", "name", "api_url", "is_on_premise"];

    fn read(f: &mut Fields) -> Option<Self> {
        let provider_name = f.required_string("provider_name");
        let name = f.string("name");
        check_name(f, &name);
        Some(RawCreate {
            provider_name,
            name,
            api_url: f.string("api_url"),
            is_on_premise: f.boolean_or("is_on_premise", false),
        })
    }
}

impl FromBody for PatchRequest {
    const FIELDS: &'static [&'static str] = &[
        "provider_name",
        "name",
        "company",
        "environment",
        "is_sync_disabled",
        "include_dimension_lines",
        "api_url",
        "payment_journal",
    ];

    fn read(f: &mut Fields) -> Option<Self> {
        let provider_name = f.string("provider_name");
        let provider_name = f.not_null("provider_name", provider_name);
        let name = f.string("name");
        check_name(f, &name);
        let is_sync_disabled = f.boolean("is_sync_disabled");
        let include_dimension_lines = f.boolean("include_dimension_lines");
        let changes = ConnectionChanges {
            name: name.into_change(),
            api_url: f.string("api_url").into_change(),
            company: f.string("company").into_change(),
            environment: f.string("environment").into_change(),
            is_sync_disabled: f.not_null("is_sync_disabled", is_sync_disabled),
            include_dimension_lines: f.not_null("include_dimension_lines", include_dimension_lines),
            payment_journal: f.string("payment_journal").into_change(),
        };
        Some(PatchRequest {
            provider_name,
            changes,
        })
    }
}

fn check_name(f: &mut Fields, name: &Tri<String>) {
    let Tri::Value(name) = name else { return };
    let chars = name.chars().count();
    if name.trim().is_empty() {
        f.error(
            "name",
            "string_too_short",
            "String should have at least 1 character",
        );
    } else if chars > MAX_NAME_CHARS {
        f.error(
            "name",
            "string_too_long",
            format!("String should have at most {MAX_NAME_CHARS} characters"),
        );
    } else if name.chars().any(char::is_control) {
        f.error(
            "name",
            "string_pattern_mismatch",
            "Name must not contain control characters",
        );
    }
}

impl RawCreate {
    /// Applies the rules that need the catalog and configuration.
    pub fn validate(
        self,
        rules: InputRules,
    ) -> Result<CreateRequest, Vec<crate::error::FieldError>> {
        let mut errors = Vec::new();
        let provider = self.provider_name.as_deref().and_then(|name| {
            let provider = catalog::provider(name).filter(|p| p.is_enabled);
            if provider.is_none() {
                errors.push(provider_error(name));
            }
            provider
        });
        let api_url = match check_api_url(self.is_on_premise, self.api_url, rules) {
            Ok(url) => url,
            Err(e) => {
                errors.push(e);
                None
            }
        };
        match provider {
            Some(provider) if errors.is_empty() => Ok(CreateRequest {
                provider,
                name: self.name.value(),
                api_url,
                is_on_premise: self.is_on_premise,
            }),
            _ => Err(errors),
        }
    }
}

fn provider_error(name: &str) -> crate::error::FieldError {
    let enabled = catalog::enabled_provider_names()
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(" or ");
    let msg = match catalog::provider(name) {
        Some(p) => format!(
            "Provider '{}' is not enabled yet; input should be {enabled}",
            p.name
        ),
        None => format!("Input should be {enabled}"),
    };
    crate::error::FieldError::new(&["body", "provider_name"], "literal_error", msg)
}

/// Checks `api_url` against `is_on_premise`: required (and an absolute https URL) on-premises,
/// refused for cloud connections so that a value is never silently ignored.
pub fn check_api_url(
    is_on_premise: bool,
    api_url: Tri<String>,
    rules: InputRules,
) -> Result<Option<String>, crate::error::FieldError> {
    let err =
        |kind: &str, msg: String| crate::error::FieldError::new(&["body", "api_url"], kind, msg);
    match (is_on_premise, api_url) {
        (false, Tri::Value(_)) => Err(err(
            "value_error",
            "api_url is only used for on-premise connections: omit it or set is_on_premise to true"
                .into(),
        )),
        (false, _) => Ok(None),
        (true, Tri::Value(url)) => normalize_api_url(&url, rules)
            .map(Some)
            .map_err(|msg| err("url_parsing", msg)),
        (true, _) => Err(err(
            "missing",
            "api_url is required for on-premise connections, e.g. https://bc.example.com:7048/BC"
                .into(),
        )),
    }
}

/// An absolute `https` (or, when allowed, `http`) URL with a host and no credentials or fragment,
/// normalised to the server instance root: no trailing slash, no pasted `/api/v2.0` suffix, the only
/// query a multitenant server's `?tenant=<id>` (see [`instance_root`]).
pub fn normalize_api_url(raw: &str, rules: InputRules) -> Result<String, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("URL should have at most {MAX_URL_LEN} characters"));
    }
    let raw = raw.trim();
    let url = url::Url::parse(raw).map_err(|e| format!("Input should be a valid URL, {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if rules.allow_http_api_url => {}
        "http" => return Err("URL scheme should be 'https'".into()),
        other => return Err(format!("URL scheme should be 'https', not '{other}'")),
    }
    // The URL parser reads `http:///BC` as host `bc`; what was typed has no host.
    let authority = raw
        .get(url.scheme().len()..)
        .and_then(|r| r.strip_prefix("://"));
    if authority.is_none_or(|a| a.is_empty() || a.starts_with(['/', '\\', '?', '#'])) {
        return Err("URL should have a host, e.g. https://bc.example.com:7048/BC".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "URL must not contain credentials; submit them through PUT …/credentials".into(),
        );
    }
    let root = instance_root(&url)?;
    Ok(root.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_must_be_absolute_https_without_credentials() {
        let strict = InputRules::default();
        for (given, stored) in [
            (
                "https://bc.example.com:7048/BC/",
                "https://bc.example.com:7048/BC",
            ),
            (
                "https://bc.example.com:7048/BC/api/v2.0",
                "https://bc.example.com:7048/BC",
            ),
            (
                " https://bc.example.com:7048/BC/API/v2.0/ ",
                "https://bc.example.com:7048/BC",
            ),
            (
                "https://bc.example.com:7048/BC/api/v2.0/?tenant=contoso",
                "https://bc.example.com:7048/BC?tenant=contoso",
            ),
            ("https://bc.example.com", "https://bc.example.com"),
        ] {
            assert_eq!(normalize_api_url(given, strict).unwrap(), stored, "{given}");
        }
        let err = normalize_api_url("https://bc.example.com/BC?foo=1", strict).unwrap_err();
        assert!(err.contains("tenant"), "{err}");
        for bad in [
            "https:///BC",
            "https:/bc.example.com/BC",
            "https://?tenant=x",
            "https://bc.example.com/BC?tenant=x&foo=1",
            "https://bc.example.com/BC?tenant=",
            "http://bc.example.com/BC",
            "ftp://bc.example.com",
            "/BC",
            "bc.example.com",
            "https://user:pw@bc.example.com/BC",
            "https://bc.example.com/BC?x=1",
            "https://bc.example.com/BC#x",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "https://",
        ] {
            assert!(normalize_api_url(bad, strict).is_err(), "{bad}");
        }
        let lab = InputRules {
            allow_http_api_url: true,
        };
        assert!(normalize_api_url("http://127.0.0.1:7048/BC", lab).is_ok());
        for no_host in ["http:///BC", "http:BC", "http:\\\\BC"] {
            let err = normalize_api_url(no_host, lab).unwrap_err();
            assert!(err.contains("host"), "{no_host}: {err}");
        }
    }
}
