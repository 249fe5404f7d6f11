//! The binary's commands, run as a user would.

use std::process::Command;

use reqwest::StatusCode;

use crate::harness::{PgDatabase, postgres_server};

fn ledgerlink(data_dir: &std::path::Path, database_url: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ledgerlink"));
    cmd.env_clear()
        .env("LEDGERLINK_DATA_DIR", data_dir)
        .env("LEDGERLINK_LOG", "warn");
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    cmd
}

#[tokio::test]
async fn api_keys_create_prints_a_working_key_last() {
    let dir = tempfile::tempdir().unwrap();
    let pg = match postgres_server() {
        Some(server) => Some(PgDatabase::create(&server).await),
        None => None,
    };
    let url = pg.as_ref().map(|p| p.url.as_str());
    let out = ledgerlink(dir.path(), url).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ledgerlink(dir.path(), url)
        .args(["api-keys", "create", "--org", "acme"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.lines().last().unwrap().to_owned();
    assert!(key.starts_with("llk_") && !key.contains(' '), "{stdout}");

    // Serve the same database and use the key.
    let config = ledgerlink::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        database_url: url.map(|u| secrecy::SecretString::from(u.to_owned())),
        ..ledgerlink::Config::default()
    };
    let running = ledgerlink::start(&config, std::future::pending())
        .await
        .unwrap();
    assert!(
        running.bootstrap_key.is_none(),
        "the database already had an organization"
    );
    let r = reqwest::Client::new()
        .get(format!("{}/v2/integrations/connections", running.url()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    running.shutdown().await.unwrap();
}

#[test]
fn bad_configuration_is_refused_at_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = ledgerlink(dir.path(), None)
        .env("LEDGERLINK_LISTEN", "not-an-address")
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen"));
    let out = ledgerlink(dir.path(), Some("mysql://root@localhost/x"))
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("root@"),
        "the URL is a secret"
    );
}

#[test]
fn openapi_command_prints_the_committed_document() {
    let dir = tempfile::tempdir().unwrap();
    let out = ledgerlink(dir.path(), None)
        .arg("openapi")
        .output()
        .unwrap();
    assert!(out.status.success());
    let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap();
    assert!(
        out.stdout == committed,
        "`ledgerlink openapi > openapi.json` reproduces the file"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn serve_prints_the_first_key_and_stops_gracefully_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = ledgerlink(dir.path(), None)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut key = None;
    let mut api = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        let t = line.trim();
        if t.starts_with("llk_") {
            key = Some(t.to_owned());
        }
        if let Some(url) = t.strip_prefix("API:") {
            api = Some(url.trim().to_owned());
        }
        if t.starts_with("OpenAPI:") {
            break;
        }
    }
    let key = key.expect("first key printed");
    let api = api.expect("API URL printed");
    assert!(
        !api.ends_with(":0/v2/integrations/connections"),
        "the real port is printed: {api}"
    );
    let r = reqwest::Client::new()
        .get(&api)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
}

/// `serve --role api` runs no background work (and says so at start); `--role worker` does.
#[cfg(unix)]
#[test]
fn serve_role_api_runs_no_background_work() {
    use std::io::{BufRead, BufReader};
    for (role, idle) in [("api", true), ("worker", false), ("all", false)] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = ledgerlink(dir.path(), None)
            .args(["serve", "--role", role, "--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The log is read as it comes (a child blocked on a full stderr pipe would never print
        // its banner).
        let stderr = child.stderr.take().unwrap();
        let logged = std::thread::spawn(move || {
            BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        // The banner ends with the OpenAPI line; whatever start-up logged comes before it.
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        for line in out.by_ref() {
            if line.unwrap().trim().starts_with("OpenAPI:") {
                break;
            }
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
        let logged = logged.join().unwrap();
        let said = logged.iter().any(|l| l.contains("runs no background work"));
        assert_eq!(said, idle, "--role {role}: {logged:?}");
    }
}
