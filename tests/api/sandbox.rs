//! `ledgerlink serve --sandbox`: one command, then the seed's call, one URL opened, the feed read.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_sandbox_runs_the_whole_flow_from_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledgerlink"))
        .env_clear()
        .env("LEDGERLINK_LOG", "warn")
        .current_dir(dir.path())
        .args([
            "serve",
            "--sandbox",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _guard = Kill(child);
    // The banner: a key, the seed's call against this server, the feed URL.
    let mut banner = String::new();
    let mut lines = BufReader::new(stdout).lines();
    while let Some(Ok(line)) = lines.next() {
        banner.push_str(&line);
        banner.push('\n');
        if line.contains("Docs:") {
            break;
        }
    }
    assert!(banner.contains("SANDBOX"), "{banner}");
    assert!(
        banner.contains("data-sandbox"),
        "kept apart from ./data: {banner}"
    );
    let key = banner
        .split_whitespace()
        .find(|w| w.starts_with("llk_"))
        .unwrap_or_else(|| panic!("a key: {banner}"))
        .to_owned();
    let base = format!("http://127.0.0.1:{port}");
    assert!(banner.contains(&format!("--url {base}/v2/integrations/connections")));
    assert!(banner.contains("records/invoices"));

    // The seed's call, then the authorization URL in a "browser".
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{base}/v2/integrations/connections"))
        .bearer_auth(&key)
        .json(&serde_json::json!({
            "provider_name": "ms-dynamics-bc", "name": "Acme BC", "api_url": null, "is_on_premise": false
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let page = reqwest::get(created["authorization_url"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Connected"), "{page}");
    // The first sync starts by itself; the feed fills.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let feed: Value = http
            .get(format!(
                "{base}/v2/integrations/connections/{id}/records/invoices?limit=5"
            ))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if feed["data"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "no invoices in the feed: {feed}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(dir.path().join("data-sandbox/ledgerlink.db").exists());
    assert!(!dir.path().join("data").exists());
}

#[test]
fn the_sandbox_refuses_a_real_database() {
    let out = Command::new(env!("CARGO_BIN_EXE_ledgerlink"))
        .env_clear()
        .env("DATABASE_URL", "postgres://127.0.0.1:9/none")
        .args(["serve", "--sandbox", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sandbox runs on an embedded SQLite"));
}
