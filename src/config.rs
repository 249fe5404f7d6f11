//! Configuration: every setting is one field of [`Config`], declared once below with its type, its
//! accepted range and its meaning; [`Config::default`] holds the defaults. [`Config::load`] reads them
//! in layers with figment — defaults, then an optional TOML file, then environment variables
//! (`LEDGERLINK_<SETTING>`, plus the aliases in [`ENV_ALIASES`]), then command-line flags ([`Layer`]) —
//! and validates the result once, at start-up.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use figment::error::Kind;
use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The server's configuration. Each field is a setting: its name is the TOML key, and in upper case
/// after `LEDGERLINK_` the environment variable (the README's table lists them all).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[serde(deserialize_with = "de::socket_addr")]
    pub listen: SocketAddr,
    /// Directory for the embedded SQLite database and other local state.
    pub data_dir: PathBuf,
    /// `postgres://…` (or `sqlite:…`) to use instead of the embedded SQLite file.
    pub database_url: Option<SecretString>,
    /// Log output format.
    pub log_format: LogFormat,
    /// Log filter, `tracing` syntax (`info`, `ledgerlink=debug,info`).
    pub log_level: String,
    /// Largest request body accepted, in bytes.
    #[serde(deserialize_with = "de::ranged::<1024, 67_108_864, _, _>")]
    pub max_body_bytes: usize,
    /// Accept plain `http://` on-premises API URLs (labs and tests only).
    #[serde(deserialize_with = "de::flag")]
    pub allow_http_api_url: bool,
    /// Hosts, addresses or CIDR ranges that on-premises `api_url`s may point to although they are
    /// private, loopback or link-local (everything else of that kind is refused). A list in the file,
    /// comma-separated elsewhere.
    #[serde(deserialize_with = "de::list")]
    pub allowed_hosts: Vec<String>,
    /// Base64 of the 32-byte master key that encrypts credentials; default: `secret.key` in `data_dir`,
    /// generated on first start.
    pub secret_key: Option<SecretString>,
    /// The URL this server is reached at by browsers (for the OAuth redirect URI).
    pub public_url: Option<String>,
    /// Application (client) id of the Microsoft Entra app that authorizes cloud connections; set
    /// together with `entra_client_secret`.
    pub entra_client_id: Option<String>,
    /// Client secret of the Entra app.
    pub entra_client_secret: Option<SecretString>,
    /// Redirect URI registered on the Entra app: this server's `/v2/integrations/oauth/callback`.
    /// Default: derived from `public_url`.
    pub entra_redirect_uri: Option<String>,
    /// Microsoft Entra login base URL (bc-sim's URL in tests and demos).
    pub bc_login_base_url: String,
    /// Business Central API base URL (bc-sim's URL in tests and demos).
    pub bc_api_base_url: String,
    /// Check each set-up connection's health at least this often, in seconds (0: never periodically).
    #[serde(deserialize_with = "de::ranged::<0, 2_592_000, _, _>")]
    pub health_check_interval_secs: u64,
    /// Sync workers in this process, besides one job worker and the scheduler (0: this process runs
    /// no background work at all; `serve --role api`).
    #[serde(deserialize_with = "de::ranged::<0, 64, _, _>")]
    pub workers: usize,
    /// Records requested per page from the ERP.
    #[serde(deserialize_with = "de::ranged::<1, 20_000, _, _>")]
    pub sync_page_size: u32,
    /// Records written per transaction at most (a write may span pages, and saves the resume state
    /// of the last page it completes); memory holds about this many packed records.
    #[serde(deserialize_with = "de::ranged::<1, 100_000, _, _>")]
    pub sync_write_chunk: usize,
    /// Bytes of mapped records (their unified and received JSON) past which they are packed, and of
    /// packed records past which a write is made before `sync_write_chunk` records have gathered:
    /// memory stays bounded when records are unusually large.
    #[serde(deserialize_with = "de::ranged::<1, 1_073_741_824, _, _>")]
    pub sync_write_chunk_bytes: usize,
    /// At a page's end, the records gathered are written once this many milliseconds have passed
    /// since the sync's last write (0: at every page's end): how far the change feed may lag
    /// behind a running sync.
    #[serde(deserialize_with = "de::ranged::<0, 60_000, _, _>")]
    pub sync_write_interval_ms: u64,
    /// Base delay of a failed sync's exponential backoff, in milliseconds.
    #[serde(deserialize_with = "de::ranged::<1, 3_600_000, _, _>")]
    pub sync_retry_base_ms: u64,
    /// How long a worker's claim on a sync lasts without progress, in seconds (each page renews it);
    /// after that another worker resumes the sync from its last saved page.
    #[serde(deserialize_with = "de::ranged::<1, 86_400, _, _>")]
    pub sync_lease_secs: u64,
    /// API requests each organization may make per second, sustained (twice that in a burst);
    /// beyond it, 429 with `Retry-After`. 0: no limit.
    #[serde(deserialize_with = "de::ranged::<0, 1_000_000, _, _>")]
    pub tenant_requests_per_second: u32,
    /// Seconds a client has to send a request's complete headers (from its first byte, or from the
    /// connection's opening); slower connections are closed.
    #[serde(deserialize_with = "de::ranged::<1, 300, _, _>")]
    pub header_read_timeout_secs: u64,
    /// Seconds a keep-alive connection may sit idle between requests before it is closed.
    #[serde(deserialize_with = "de::ranged::<1, 3_600, _, _>")]
    pub idle_timeout_secs: u64,
    /// Seconds a client has to send a request's body after its headers; slower bodies get 408.
    #[serde(deserialize_with = "de::ranged::<1, 3_600, _, _>")]
    pub body_read_timeout_secs: u64,
    /// Client connections served at once; beyond it a new connection is answered 503 and closed.
    #[serde(deserialize_with = "de::ranged::<1, 100_000, _, _>")]
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            log_format: LogFormat::Pretty,
            log_level: "info".into(),
            max_body_bytes: 1024 * 1024,
            allow_http_api_url: false,
            allowed_hosts: Vec::new(),
            secret_key: None,
            public_url: None,
            entra_client_id: None,
            entra_client_secret: None,
            entra_redirect_uri: None,
            bc_login_base_url: "https://login.microsoftonline.com".into(),
            bc_api_base_url: "https://api.businesscentral.dynamics.com".into(),
            health_check_interval_secs: 900,
            workers: 2,
            sync_page_size: 1_000,
            sync_write_chunk: 5_000,
            sync_write_chunk_bytes: 16 << 20,
            sync_write_interval_ms: 1_000,
            sync_retry_base_ms: 30_000,
            sync_lease_secs: 120,
            tenant_requests_per_second: 100,
            header_read_timeout_secs: 15,
            idle_timeout_secs: 60,
            body_read_timeout_secs: 30,
            max_connections: 512,
        }
    }
}

/// Environment variables read besides `LEDGERLINK_<SETTING>`, as (setting, variable); the
/// `LEDGERLINK_<SETTING>` variable wins when both are set.
pub const ENV_ALIASES: &[(&str, &str)] = &[
    ("database_url", "DATABASE_URL"),
    ("log_level", "LEDGERLINK_LOG"),
];

/// The Entra (Azure AD) app registration: `entra_client_id`, `entra_client_secret` and
/// `entra_redirect_uri` taken together.
#[derive(Debug, Clone)]
pub struct EntraSettings {
    /// Application (client) id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: SecretString,
    /// Redirect URI registered on the app. Default: derived from `public_url`.
    pub redirect_uri: Option<String>,
}

/// A configuration problem, named precisely.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Settings given on the command line, by setting name; they override every other layer. Error
/// messages name a value given here as the flag `--<setting-with-dashes>`.
#[derive(Debug, Default, Clone)]
pub struct Layer {
    values: Vec<(String, String)>,
}

impl Layer {
    /// This layer with `setting` set to `value` (parsed as an environment variable's would be).
    pub fn set(mut self, setting: &str, value: impl Into<String>) -> Layer {
        self.values.push((setting.to_owned(), value.into()));
        self
    }
}

impl Config {
    /// Defaults → file (if any) → environment (looked up with `env`) → `cli`, validated.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        cli: Layer,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            std::fs::File::open(path)
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: Config = figment
            .merge(Strings::from_env(env))
            .merge(Strings::from_cli(cli))
            .extract()
            .map_err(describe)?;
        config.validate()
    }

    /// The Entra app, when its client id and secret are both set.
    pub fn entra(&self) -> Option<EntraSettings> {
        Some(EntraSettings {
            client_id: self.entra_client_id.clone()?,
            client_secret: self.entra_client_secret.clone()?,
            redirect_uri: self.entra_redirect_uri.clone(),
        })
    }

    /// Sets (or with `None` clears) the three `entra_*` settings at once.
    pub fn set_entra(&mut self, app: Option<EntraSettings>) {
        self.entra_client_id = app.as_ref().map(|a| a.client_id.clone());
        self.entra_client_secret = app.as_ref().map(|a| a.client_secret.clone());
        self.entra_redirect_uri = app.and_then(|a| a.redirect_uri);
    }

    /// The OAuth redirect URI: configured, or `public_url` (else `http://{listen}`) + the callback path.
    pub fn redirect_uri(&self) -> String {
        if let Some(uri) = &self.entra_redirect_uri {
            return uri.clone();
        }
        let base = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen));
        format!(
            "{}/v2/integrations/oauth/callback",
            base.trim_end_matches('/')
        )
    }

    /// Checks what a setting's type cannot: URLs, the key, hosts, the log filter, the database URL's
    /// scheme and that the Entra app's id and secret come together.
    pub fn validate(self) -> Result<Config, ConfigError> {
        for (name, value) in [
            ("bc_login_base_url", Some(&self.bc_login_base_url)),
            ("bc_api_base_url", Some(&self.bc_api_base_url)),
            ("public_url", self.public_url.as_ref()),
            ("entra_redirect_uri", self.entra_redirect_uri.as_ref()),
        ] {
            if let Some(v) = value {
                let ok = url::Url::parse(v)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                if !ok {
                    return Err(ConfigError(format!(
                        "{name}: {v:?} is not an absolute http(s) URL"
                    )));
                }
            }
        }
        let entra_any = self.entra_client_id.is_some()
            || self.entra_client_secret.is_some()
            || self.entra_redirect_uri.is_some();
        let entra_whole = self
            .entra_client_id
            .as_ref()
            .is_some_and(|id| !id.trim().is_empty())
            && self.entra_client_secret.is_some();
        if entra_any && !entra_whole {
            return Err(ConfigError(
                "entra_client_id and entra_client_secret must be set together".into(),
            ));
        }
        if let Some(key) = &self.secret_key {
            use base64::Engine as _;
            let ok = base64::engine::general_purpose::STANDARD
                .decode(key.expose_secret().trim())
                .is_ok_and(|k| k.len() == 32);
            if !ok {
                return Err(ConfigError(
                    "secret_key: must be 32 random bytes in base64 (e.g. `openssl rand -base64 32`)"
                        .into(),
                ));
            }
        }
        let mut policy = ledgerlink_connectors::SsrfPolicy::default();
        for host in &self.allowed_hosts {
            policy = policy
                .try_allow(host)
                .map_err(|e| ConfigError(format!("allowed_hosts: {host:?}: {e}")))?;
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level).map_err(|e| {
            ConfigError(format!(
                "log_level: {:?} is not a log filter: {e}",
                self.log_level
            ))
        })?;
        if let Some(url) = &self.database_url {
            let url = url.expose_secret();
            if !["postgres://", "postgresql://", "sqlite:"]
                .iter()
                .any(|p| url.starts_with(p))
            {
                return Err(ConfigError(
                    "database_url must start with postgres://, postgresql:// or sqlite:".into(),
                ));
            }
        }
        Ok(self)
    }
}

/// A figment layer of settings given as text (environment variables, flags), each remembered with
/// the name it was given under so that an error can point at it.
struct Strings {
    kind: &'static str,
    /// setting → (where it came from, value).
    values: BTreeMap<String, (String, String)>,
}

impl Strings {
    /// `LEDGERLINK_<SETTING>` (else an alias) for each setting; empty values count as unset.
    fn from_env(get: impl Fn(&str) -> Option<String>) -> Strings {
        let mut values = BTreeMap::new();
        for &setting in setting_names() {
            let aliases = ENV_ALIASES.iter().filter(|(s, _)| *s == setting);
            let found = std::iter::once(format!("LEDGERLINK_{}", setting.to_uppercase()))
                .chain(aliases.map(|(_, var)| (*var).to_owned()))
                .find_map(|var| get(&var).filter(|v| !v.is_empty()).map(|v| (var, v)));
            if let Some(found) = found {
                values.insert(setting.to_owned(), found);
            }
        }
        Strings {
            kind: "environment variable",
            values,
        }
    }

    fn from_cli(cli: Layer) -> Strings {
        let values = cli
            .values
            .into_iter()
            .map(|(setting, v)| {
                let flag = format!("--{}", setting.replace('_', "-"));
                (setting, (flag, v))
            })
            .collect();
        Strings {
            kind: "flag",
            values,
        }
    }
}

impl Provider for Strings {
    fn metadata(&self) -> Metadata {
        let origins: Arc<BTreeMap<String, String>> = Arc::new(
            self.values
                .iter()
                .map(|(setting, (origin, _))| (setting.clone(), origin.clone()))
                .collect(),
        );
        let kind = self.kind;
        Metadata::named(kind).interpolater(move |_: &Profile, path: &[&str]| {
            let setting = path.join(".");
            let origin = origins.get(&setting).cloned().unwrap_or(setting);
            format!("{kind} {origin}")
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict = self
            .values
            .iter()
            .map(|(setting, (_, v))| (setting.clone(), Value::from(v.clone())))
            .collect();
        Ok(Profile::Default.collect(dict))
    }
}

/// `error` as one line per problem: the setting, what is wrong, and where the value came from.
fn describe(error: figment::Error) -> ConfigError {
    let lines: Vec<String> = error
        .into_iter()
        .map(|e| {
            let origin = match (&e.metadata, &e.profile) {
                (Some(md), Some(profile)) if !e.path.is_empty() && md.source.is_none() => {
                    format!(" (from {})", md.interpolate(profile, &e.path))
                }
                (Some(md), _) => match &md.source {
                    Some(source) => format!(" (in {} {source})", md.name),
                    None => format!(" (from {})", md.name),
                },
                (None, _) => String::new(),
            };
            let what = match &e.kind {
                Kind::UnknownField(_, known) => {
                    format!("not a setting (the settings: {})", known.join(", "))
                }
                Kind::UnknownVariant(v, known) => format!("{v:?} is not {}", known.join(" or ")),
                kind => kind.to_string().trim_end().to_owned(),
            };
            match e.path.is_empty() {
                true => format!("{what}{origin}"),
                false => format!("{}: {what}{origin}", e.path.join(".")),
            }
        })
        .collect();
    ConfigError(lines.join("; "))
}

/// The setting names: [`Config`]'s fields as serde knows them (read off its derived `Deserialize`).
fn setting_names() -> &'static [&'static str] {
    let mut names: &'static [&'static str] = &[];
    // The deserializer only records the field list it is offered and stops there.
    let _ = Config::deserialize(de::FieldNames(&mut names));
    names
}

/// How settings are read from TOML values and from text alike.
mod de {
    use std::fmt;

    use serde::Deserialize as _;
    use serde::de::{self, Deserializer, Error as _, SeqAccess, Visitor};

    /// An address like `127.0.0.1:8080`.
    pub fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<std::net::SocketAddr, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|_| {
            D::Error::custom(format!("{text:?} is not an address like 127.0.0.1:8080"))
        })
    }

    /// A whole number from `MIN` to `MAX`, written as a number or as text.
    pub fn ranged<'de, const MIN: u64, const MAX: u64, T, D>(d: D) -> Result<T, D::Error>
    where
        T: TryFrom<u64>,
        D: Deserializer<'de>,
    {
        struct Ranged<const MIN: u64, const MAX: u64>;
        impl<const MIN: u64, const MAX: u64> Ranged<MIN, MAX> {
            fn check<E: de::Error>(v: impl fmt::Display + TryInto<u64>) -> Result<u64, E> {
                let shown = v.to_string();
                v.try_into()
                    .ok()
                    .filter(|n| (MIN..=MAX).contains(n))
                    .ok_or_else(|| E::custom(format!("{shown} is not between {MIN} and {MAX}")))
            }
        }
        impl<const MIN: u64, const MAX: u64> Visitor<'_> for Ranged<MIN, MAX> {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a whole number from {MIN} to {MAX}")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
                Self::check(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
                Self::check(v)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
                match v.trim().parse::<u64>() {
                    Ok(n) => Self::check(n),
                    Err(_) => Err(E::custom(format!(
                        "{v:?} is not a whole number from {MIN} to {MAX}"
                    ))),
                }
            }
        }
        let n = d.deserialize_any(Ranged::<MIN, MAX>)?;
        T::try_from(n).map_err(|_| D::Error::custom(format!("{n} is too large")))
    }

    /// `true` or `false` (text also as `yes`/`no`, `on`/`off`, `1`/`0`).
    pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        struct Flag;
        impl Visitor<'_> for Flag {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
                Ok(v)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
                ledgerlink_domain::parse_bool(v)
                    .ok_or_else(|| E::custom(format!("{v:?} is not true or false")))
            }
        }
        d.deserialize_any(Flag)
    }

    /// A list of strings, or text with the items separated by commas (blank items dropped).
    pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        struct List;
        impl<'de> Visitor<'de> for List {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of strings, or one string of comma-separated items")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
                Ok(v.split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_owned)
                    .collect())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(items)
            }
        }
        d.deserialize_any(List)
    }

    /// A deserializer that only records the field names of the struct it is asked for.
    pub struct FieldNames<'a>(pub &'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for FieldNames<'_> {
        type Error = de::value::Error;

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(Self::Error::custom("only the field names were wanted"))
        }

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("not a struct"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
}

#[cfg(test)]
mod tests;
