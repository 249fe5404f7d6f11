//! Configuration: defaults, then an optional TOML file, then `LEDGERLINK_*` environment variables,
//! then command-line flags; validated once at start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP server listens on.
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
    pub max_body_bytes: usize,
    /// Accept plain `http://` on-premises API URLs (labs and tests only).
    pub allow_http_api_url: bool,
    /// Hosts, addresses or CIDR ranges that on-premises `api_url`s may point to although they are
    /// private, loopback or link-local (everything else of that kind is refused).
    pub allowed_hosts: Vec<String>,
    /// Base64 of the 32-byte master key that encrypts credentials; default: `secret.key` in `data_dir`,
    /// generated on first start.
    pub secret_key: Option<SecretString>,
    /// The URL this server is reached at by browsers (for the OAuth redirect URI).
    pub public_url: Option<String>,
    /// The Microsoft Entra app used to authorize cloud connections.
    pub entra: Option<EntraSettings>,
    /// Microsoft Entra login base URL (bc-sim's URL in tests and demos).
    pub bc_login_base_url: String,
    /// Business Central API base URL (bc-sim's URL in tests and demos).
    pub bc_api_base_url: String,
    /// Check each set-up connection's health at least this often, in seconds (0: never periodically).
    pub health_check_interval_secs: u64,
    /// Sync workers in this process (0: this process runs no syncs; `serve --role api`).
    pub workers: usize,
    /// Records requested per page from the ERP.
    pub sync_page_size: u32,
    /// Base delay of a failed sync's exponential backoff, in milliseconds.
    pub sync_retry_base_ms: u64,
    /// How long a worker's claim on a sync lasts without progress, in seconds (each page renews it);
    /// after that another worker resumes the sync from its last saved page.
    pub sync_lease_secs: u64,
    /// API requests each organization may make per second, sustained (twice that in a burst);
    /// beyond it, 429 with `Retry-After`. 0: no limit.
    pub tenant_requests_per_second: u32,
    /// Seconds a client has to send a request's complete headers (from its first byte, or from the
    /// connection's opening); slower connections are closed.
    pub header_read_timeout_secs: u64,
    /// Seconds a keep-alive connection may sit idle between requests before it is closed.
    pub idle_timeout_secs: u64,
    /// Seconds a client has to send a request's body after its headers; slower bodies get 408.
    pub body_read_timeout_secs: u64,
    /// Client connections served at once; beyond it a new connection is answered 503 and closed.
    pub max_connections: usize,
}

/// The Entra (Azure AD) app registration.
#[derive(Debug, Clone)]
pub struct EntraSettings {
    /// Application (client) id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: SecretString,
    /// Redirect URI registered on the app: this server's `/v2/integrations/oauth/callback`. Default:
    /// derived from `public_url`.
    pub redirect_uri: Option<String>,
}

impl Config {
    /// The OAuth redirect URI: configured, or `public_url` (else `http://{listen}`) + the callback path.
    pub fn redirect_uri(&self) -> String {
        if let Some(uri) = self.entra.as_ref().and_then(|e| e.redirect_uri.clone()) {
            return uri;
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
            entra: None,
            bc_login_base_url: "https://login.microsoftonline.com".into(),
            bc_api_base_url: "https://api.businesscentral.dynamics.com".into(),
            health_check_interval_secs: 900,
            workers: 2,
            sync_page_size: 1_000,
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

/// One layer of settings; absent values leave the layer below alone.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
    pub max_body_bytes: Option<String>,
    pub allow_http_api_url: Option<String>,
    pub allowed_hosts: Option<String>,
    pub secret_key: Option<String>,
    pub public_url: Option<String>,
    pub entra_client_id: Option<String>,
    pub entra_client_secret: Option<String>,
    pub entra_redirect_uri: Option<String>,
    pub bc_login_base_url: Option<String>,
    pub bc_api_base_url: Option<String>,
    pub health_check_interval_secs: Option<String>,
    pub workers: Option<String>,
    pub sync_page_size: Option<String>,
    pub sync_retry_base_ms: Option<String>,
    pub sync_lease_secs: Option<String>,
    pub tenant_requests_per_second: Option<String>,
    pub header_read_timeout_secs: Option<String>,
    pub idle_timeout_secs: Option<String>,
    pub body_read_timeout_secs: Option<String>,
    pub max_connections: Option<String>,
}

/// `v` as a number from `min` to `max`, or an error naming `name`.
fn ranged(name: &str, v: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    v.parse()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| ConfigError(format!("{name}: {v:?} is not between {min} and {max}")))
}

/// A configuration problem, named precisely.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Layer {
    /// The `LEDGERLINK_*` variables found by `get` (`DATABASE_URL` is accepted too).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Layer {
        let var = |name: &str| get(&format!("LEDGERLINK_{name}")).filter(|v| !v.is_empty());
        Layer {
            listen: var("LISTEN"),
            data_dir: var("DATA_DIR").map(PathBuf::from),
            database_url: var("DATABASE_URL")
                .or_else(|| get("DATABASE_URL").filter(|v| !v.is_empty())),
            log_format: var("LOG_FORMAT"),
            log_level: var("LOG"),
            max_body_bytes: var("MAX_BODY_BYTES"),
            allow_http_api_url: var("ALLOW_HTTP_API_URL"),
            allowed_hosts: var("ALLOWED_HOSTS"),
            secret_key: var("SECRET_KEY"),
            public_url: var("PUBLIC_URL"),
            entra_client_id: var("ENTRA_CLIENT_ID"),
            entra_client_secret: var("ENTRA_CLIENT_SECRET"),
            entra_redirect_uri: var("ENTRA_REDIRECT_URI"),
            bc_login_base_url: var("BC_LOGIN_BASE_URL"),
            bc_api_base_url: var("BC_API_BASE_URL"),
            health_check_interval_secs: var("HEALTH_CHECK_INTERVAL_SECS"),
            workers: var("WORKERS"),
            sync_page_size: var("SYNC_PAGE_SIZE"),
            sync_retry_base_ms: var("SYNC_RETRY_BASE_MS"),
            sync_lease_secs: var("SYNC_LEASE_SECS"),
            tenant_requests_per_second: var("TENANT_REQUESTS_PER_SECOND"),
            header_read_timeout_secs: var("HEADER_READ_TIMEOUT_SECS"),
            idle_timeout_secs: var("IDLE_TIMEOUT_SECS"),
            body_read_timeout_secs: var("BODY_READ_TIMEOUT_SECS"),
            max_connections: var("MAX_CONNECTIONS"),
        }
    }

    /// A TOML file's settings; unknown keys are refused.
    pub fn from_file(path: &Path) -> Result<Layer, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct FileLayer {
            listen: Option<String>,
            data_dir: Option<PathBuf>,
            database_url: Option<String>,
            log_format: Option<String>,
            log_level: Option<String>,
            max_body_bytes: Option<u64>,
            allow_http_api_url: Option<bool>,
            allowed_hosts: Option<Vec<String>>,
            secret_key: Option<String>,
            public_url: Option<String>,
            entra_client_id: Option<String>,
            entra_client_secret: Option<String>,
            entra_redirect_uri: Option<String>,
            bc_login_base_url: Option<String>,
            bc_api_base_url: Option<String>,
            health_check_interval_secs: Option<u64>,
            workers: Option<u64>,
            sync_page_size: Option<u64>,
            sync_retry_base_ms: Option<u64>,
            sync_lease_secs: Option<u64>,
            tenant_requests_per_second: Option<u64>,
            header_read_timeout_secs: Option<u64>,
            idle_timeout_secs: Option<u64>,
            body_read_timeout_secs: Option<u64>,
            max_connections: Option<u64>,
        }
        let f: FileLayer =
            toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        Ok(Layer {
            listen: f.listen,
            data_dir: f.data_dir,
            database_url: f.database_url,
            log_format: f.log_format,
            log_level: f.log_level,
            max_body_bytes: f.max_body_bytes.map(|n| n.to_string()),
            allow_http_api_url: f.allow_http_api_url.map(|b| b.to_string()),
            allowed_hosts: f.allowed_hosts.map(|v| v.join(",")),
            secret_key: f.secret_key,
            public_url: f.public_url,
            entra_client_id: f.entra_client_id,
            entra_client_secret: f.entra_client_secret,
            entra_redirect_uri: f.entra_redirect_uri,
            bc_login_base_url: f.bc_login_base_url,
            bc_api_base_url: f.bc_api_base_url,
            health_check_interval_secs: f.health_check_interval_secs.map(|n| n.to_string()),
            workers: f.workers.map(|n| n.to_string()),
            sync_page_size: f.sync_page_size.map(|n| n.to_string()),
            sync_retry_base_ms: f.sync_retry_base_ms.map(|n| n.to_string()),
            sync_lease_secs: f.sync_lease_secs.map(|n| n.to_string()),
            tenant_requests_per_second: f.tenant_requests_per_second.map(|n| n.to_string()),
            header_read_timeout_secs: f.header_read_timeout_secs.map(|n| n.to_string()),
            idle_timeout_secs: f.idle_timeout_secs.map(|n| n.to_string()),
            body_read_timeout_secs: f.body_read_timeout_secs.map(|n| n.to_string()),
            max_connections: f.max_connections.map(|n| n.to_string()),
        })
    }
}

impl Config {
    /// Applies `layer` on top of this configuration, validating each value it sets.
    pub fn apply(mut self, layer: Layer) -> Result<Config, ConfigError> {
        if let Some(v) = layer.listen {
            self.listen = v.parse().map_err(|_| {
                ConfigError(format!(
                    "listen: {v:?} is not an address like 127.0.0.1:8080"
                ))
            })?;
        }
        if let Some(v) = layer.data_dir {
            self.data_dir = v;
        }
        if let Some(v) = layer.database_url {
            self.database_url = Some(SecretString::from(v));
        }
        if let Some(v) = layer.log_format {
            self.log_format = match v.as_str() {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError(format!(
                        "log_format: {v:?} is not pretty or json"
                    )));
                }
            };
        }
        if let Some(v) = layer.log_level {
            self.log_level = v;
        }
        if let Some(v) = layer.max_body_bytes {
            self.max_body_bytes = v
                .parse()
                .ok()
                .filter(|n| (1024..=64 * 1024 * 1024).contains(n))
                .ok_or_else(|| {
                    ConfigError(format!(
                        "max_body_bytes: {v:?} is not between 1024 and 67108864"
                    ))
                })?;
        }
        if let Some(v) = layer.allow_http_api_url {
            self.allow_http_api_url = ledgerlink_domain::parse_bool(&v).ok_or_else(|| {
                ConfigError(format!("allow_http_api_url: {v:?} is not true or false"))
            })?;
        }
        if let Some(v) = layer.allowed_hosts {
            self.allowed_hosts = v
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = layer.secret_key {
            self.secret_key = Some(SecretString::from(v));
        }
        if let Some(v) = layer.public_url {
            self.public_url = Some(v);
        }
        self.apply_entra(
            layer.entra_client_id,
            layer.entra_client_secret,
            layer.entra_redirect_uri,
        )?;
        if let Some(v) = layer.bc_login_base_url {
            self.bc_login_base_url = v;
        }
        if let Some(v) = layer.bc_api_base_url {
            self.bc_api_base_url = v;
        }
        if let Some(v) = layer.health_check_interval_secs {
            self.health_check_interval_secs = v
                .parse()
                .ok()
                .filter(|n| *n <= 30 * 86_400)
                .ok_or_else(|| {
                    ConfigError(format!(
                        "health_check_interval_secs: {v:?} is not a number of seconds up to 2592000"
                    ))
                })?;
        }
        if let Some(v) = layer.workers {
            self.workers = v.parse().ok().filter(|n| *n <= 64).ok_or_else(|| {
                ConfigError(format!("workers: {v:?} is not a number from 0 to 64"))
            })?;
        }
        if let Some(v) = layer.sync_page_size {
            self.sync_page_size = v
                .parse()
                .ok()
                .filter(|n| (1..=20_000).contains(n))
                .ok_or_else(|| {
                    ConfigError(format!("sync_page_size: {v:?} is not between 1 and 20000"))
                })?;
        }
        if let Some(v) = layer.sync_retry_base_ms {
            self.sync_retry_base_ms = v
                .parse()
                .ok()
                .filter(|n| (1..=3_600_000).contains(n))
                .ok_or_else(|| {
                    ConfigError(format!(
                        "sync_retry_base_ms: {v:?} is not between 1 and 3600000"
                    ))
                })?;
        }
        if let Some(v) = layer.sync_lease_secs {
            self.sync_lease_secs = v
                .parse()
                .ok()
                .filter(|n| (1..=86_400).contains(n))
                .ok_or_else(|| {
                    ConfigError(format!("sync_lease_secs: {v:?} is not between 1 and 86400"))
                })?;
        }
        if let Some(v) = layer.tenant_requests_per_second {
            self.tenant_requests_per_second =
                v.parse().ok().filter(|n| *n <= 1_000_000).ok_or_else(|| {
                    ConfigError(format!(
                        "tenant_requests_per_second: {v:?} is not between 0 and 1000000"
                    ))
                })?;
        }
        if let Some(v) = layer.header_read_timeout_secs {
            self.header_read_timeout_secs = ranged("header_read_timeout_secs", &v, 1, 300)?;
        }
        if let Some(v) = layer.idle_timeout_secs {
            self.idle_timeout_secs = ranged("idle_timeout_secs", &v, 1, 3_600)?;
        }
        if let Some(v) = layer.body_read_timeout_secs {
            self.body_read_timeout_secs = ranged("body_read_timeout_secs", &v, 1, 3_600)?;
        }
        if let Some(v) = layer.max_connections {
            self.max_connections = ranged("max_connections", &v, 1, 100_000)? as usize;
        }
        Ok(self)
    }

    fn apply_entra(
        &mut self,
        client_id: Option<String>,
        secret: Option<String>,
        redirect_uri: Option<String>,
    ) -> Result<(), ConfigError> {
        if client_id.is_none() && secret.is_none() && redirect_uri.is_none() {
            return Ok(());
        }
        let current = self.entra.take();
        let client_id = client_id.or_else(|| current.as_ref().map(|e| e.client_id.clone()));
        let secret = secret
            .map(SecretString::from)
            .or_else(|| current.as_ref().map(|e| e.client_secret.clone()));
        let redirect_uri =
            redirect_uri.or_else(|| current.as_ref().and_then(|e| e.redirect_uri.clone()));
        match (client_id, secret) {
            (Some(client_id), Some(client_secret)) if !client_id.trim().is_empty() => {
                self.entra = Some(EntraSettings {
                    client_id,
                    client_secret,
                    redirect_uri,
                });
                Ok(())
            }
            _ => Err(ConfigError(
                "entra_client_id and entra_client_secret must be set together".into(),
            )),
        }
    }

    /// Checks the combination of values.
    pub fn validate(self) -> Result<Config, ConfigError> {
        for (name, value) in [
            ("bc_login_base_url", Some(self.bc_login_base_url.clone())),
            ("bc_api_base_url", Some(self.bc_api_base_url.clone())),
            ("public_url", self.public_url.clone()),
            (
                "entra_redirect_uri",
                self.entra.as_ref().and_then(|e| e.redirect_uri.clone()),
            ),
        ] {
            if let Some(v) = value {
                let ok = url::Url::parse(&v)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                if !ok {
                    return Err(ConfigError(format!(
                        "{name}: {v:?} is not an absolute http(s) URL"
                    )));
                }
            }
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

    /// Defaults → file (if any) → environment → `cli`, validated.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        cli: Layer,
    ) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        if let Some(path) = file {
            config = config.apply(Layer::from_file(path)?)?;
        }
        config.apply(Layer::from_env(env))?.apply(cli)?.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn later_layers_win_defaults_file_env_cli() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ledgerlink.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/from/file\"\nlog_format = \"json\"\nmax_body_bytes = 4096\n",
        )
        .unwrap();
        let env: HashMap<&str, &str> = [
            ("LEDGERLINK_DATA_DIR", "/from/env"),
            ("LEDGERLINK_LISTEN", "127.0.0.1:9100"),
        ]
        .into();
        let cli = Layer {
            listen: Some("127.0.0.1:9200".into()),
            ..Layer::default()
        };
        let config = Config::load(Some(&file), |k| env.get(k).map(|v| v.to_string()), cli).unwrap();
        assert_eq!(config.listen.port(), 9200, "cli beats env and file");
        assert_eq!(
            config.data_dir,
            PathBuf::from("/from/env"),
            "env beats file"
        );
        assert_eq!(config.log_format, LogFormat::Json, "file beats default");
        assert_eq!(config.max_body_bytes, 4096);
        assert_eq!(config.log_level, "info", "default stays");
    }

    #[test]
    fn every_setting_is_read_from_the_environment() {
        let env: HashMap<&str, &str> = [
            ("LEDGERLINK_ALLOWED_HOSTS", "10.0.0.0/8, bc.lan"),
            (
                "LEDGERLINK_SECRET_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
            ("LEDGERLINK_PUBLIC_URL", "https://ll.example.com/"),
            ("LEDGERLINK_ENTRA_CLIENT_ID", "app"),
            ("LEDGERLINK_ENTRA_CLIENT_SECRET", "s3cret"),
            ("LEDGERLINK_BC_LOGIN_BASE_URL", "http://127.0.0.1:8090"),
            ("LEDGERLINK_BC_API_BASE_URL", "http://127.0.0.1:8091"),
            ("LEDGERLINK_HEALTH_CHECK_INTERVAL_SECS", "60"),
            ("LEDGERLINK_TENANT_REQUESTS_PER_SECOND", "0"),
            ("LEDGERLINK_HEADER_READ_TIMEOUT_SECS", "12"),
            ("LEDGERLINK_IDLE_TIMEOUT_SECS", "30"),
            ("LEDGERLINK_BODY_READ_TIMEOUT_SECS", "40"),
            ("LEDGERLINK_MAX_CONNECTIONS", "200"),
        ]
        .into();
        let c = Config::load(
            None,
            |k| env.get(k).map(|v| v.to_string()),
            Layer::default(),
        )
        .unwrap();
        assert_eq!(c.allowed_hosts, ["10.0.0.0/8", "bc.lan"]);
        assert!(c.secret_key.is_some());
        assert_eq!(c.entra.as_ref().unwrap().client_id, "app");
        assert_eq!(
            c.redirect_uri(),
            "https://ll.example.com/v2/integrations/oauth/callback"
        );
        assert_eq!(c.bc_login_base_url, "http://127.0.0.1:8090");
        assert_eq!(c.bc_api_base_url, "http://127.0.0.1:8091");
        assert_eq!(c.health_check_interval_secs, 60);
        assert_eq!(c.tenant_requests_per_second, 0);
        assert_eq!(
            (
                c.header_read_timeout_secs,
                c.idle_timeout_secs,
                c.body_read_timeout_secs,
                c.max_connections
            ),
            (12, 30, 40, 200)
        );
        for (name, bad) in [
            ("LEDGERLINK_HEADER_READ_TIMEOUT_SECS", "0"),
            ("LEDGERLINK_IDLE_TIMEOUT_SECS", "soon"),
            ("LEDGERLINK_BODY_READ_TIMEOUT_SECS", "99999"),
            ("LEDGERLINK_MAX_CONNECTIONS", "0"),
        ] {
            let env = |k: &str| (k == name).then(|| bad.to_string());
            let err = Config::load(None, env, Layer::default()).unwrap_err();
            let setting = name.trim_start_matches("LEDGERLINK_").to_lowercase();
            assert!(err.to_string().contains(&setting), "{err}");
        }
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "secrets are redacted in Debug"
        );

        let half = |k: &str| (k == "LEDGERLINK_ENTRA_CLIENT_ID").then(|| "app".to_string());
        assert!(
            Config::load(None, half, Layer::default())
                .unwrap_err()
                .to_string()
                .contains("together")
        );
        let bad_key = |k: &str| (k == "LEDGERLINK_SECRET_KEY").then(|| "short".to_string());
        assert!(
            Config::load(None, bad_key, Layer::default())
                .unwrap_err()
                .to_string()
                .contains("secret_key")
        );
        let bad_host =
            |k: &str| (k == "LEDGERLINK_ALLOWED_HOSTS").then(|| "not a host!".to_string());
        assert!(Config::load(None, bad_host, Layer::default()).is_err());
        let huge =
            |k: &str| (k == "LEDGERLINK_HEALTH_CHECK_INTERVAL_SECS").then(|| u64::MAX.to_string());
        assert!(Config::load(None, huge, Layer::default()).is_err());
    }

    #[test]
    fn bad_values_and_unknown_keys_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let err = Config::load(Some(&file), |_| None, Layer::default()).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        let env = |k: &str| (k == "LEDGERLINK_LISTEN").then(|| "nonsense".to_string());
        assert!(
            Config::load(None, env, Layer::default())
                .unwrap_err()
                .to_string()
                .contains("listen")
        );
        let env = |k: &str| (k == "DATABASE_URL").then(|| "mysql://x".to_string());
        assert!(Config::load(None, env, Layer::default()).is_err());
        let env = |k: &str| (k == "DATABASE_URL").then(|| "postgres://localhost/x".to_string());
        assert!(
            Config::load(None, env, Layer::default())
                .unwrap()
                .database_url
                .is_some()
        );
    }
}
