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
    let cli = Layer::default().set("listen", "127.0.0.1:9200");
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
    assert_eq!(c.entra().unwrap().client_id, "app");
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
    let bad_host = |k: &str| (k == "LEDGERLINK_ALLOWED_HOSTS").then(|| "not a host!".to_string());
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

#[test]
fn aliases_typed_file_values_and_flags() {
    let env: HashMap<&str, &str> = [
        ("DATABASE_URL", "postgres://alias/x"),
        ("LEDGERLINK_LOG", "debug"),
        ("LEDGERLINK_PUBLIC_URL", ""),
    ]
    .into();
    let c = Config::load(
        None,
        |k| env.get(k).map(|v| v.to_string()),
        Layer::default(),
    )
    .unwrap();
    assert_eq!(
        c.database_url.unwrap().expose_secret(),
        "postgres://alias/x"
    );
    assert_eq!(c.log_level, "debug");
    assert_eq!(c.public_url, None, "an empty variable counts as unset");

    let env: HashMap<&str, &str> = [
        ("DATABASE_URL", "postgres://alias/x"),
        ("LEDGERLINK_DATABASE_URL", "postgres://own/x"),
        ("LEDGERLINK_LOG", "debug"),
        ("LEDGERLINK_LOG_LEVEL", "warn"),
    ]
    .into();
    let c = Config::load(
        None,
        |k| env.get(k).map(|v| v.to_string()),
        Layer::default(),
    )
    .unwrap();
    assert_eq!(c.database_url.unwrap().expose_secret(), "postgres://own/x");
    assert_eq!(c.log_level, "warn", "LEDGERLINK_<SETTING> beats its alias");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ledgerlink.toml");
    std::fs::write(
        &file,
        "allowed_hosts = [\"bc.lan\"]\nallow_http_api_url = true\nworkers = 0\n",
    )
    .unwrap();
    let cli = Layer::default().set("data_dir", "/from/flag");
    let c = Config::load(Some(&file), |_| None, cli).unwrap();
    assert_eq!(c.allowed_hosts, ["bc.lan"]);
    assert!(c.allow_http_api_url);
    assert_eq!(c.workers, 0);
    assert_eq!(c.data_dir, PathBuf::from("/from/flag"));

    std::fs::write(&file, "workers = 65\n").unwrap();
    let err = Config::load(Some(&file), |_| None, Layer::default()).unwrap_err();
    assert!(err.to_string().contains("workers: 65"), "{err}");
    let err = Config::load(None, |_| None, Layer::default().set("workrs", "1")).unwrap_err();
    assert!(err.to_string().contains("workrs"), "{err}");
}

#[test]
fn the_readme_table_lists_every_setting_and_its_variables() {
    let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    let table: Vec<&str> = readme.lines().filter(|l| l.starts_with("| `")).collect();
    for setting in setting_names() {
        let var = format!("`LEDGERLINK_{}`", setting.to_uppercase());
        let row = table.iter().find(|l| l.contains(&format!("`{setting}`")));
        assert!(row.is_some_and(|r| r.contains(&var)), "{setting} / {var}");
    }
    for (setting, var) in ENV_ALIASES {
        let row = table
            .iter()
            .find(|l| l.starts_with(&format!("| `{setting}`")));
        assert!(
            row.is_some_and(|r| r.contains(&format!("`{var}`"))),
            "{var}"
        );
    }
}
