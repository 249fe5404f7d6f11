//! API keys: names, last use, revocation and rotation, from the command line and over HTTP.

use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::{PgDatabase, TestApp, postgres_server};

/// The `ledgerlink` binary on `data_dir` (or the Postgres database at `url`).
fn ledgerlink(data_dir: &std::path::Path, url: Option<&str>, args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ledgerlink"));
    cmd.env_clear()
        .env("LEDGERLINK_DATA_DIR", data_dir)
        .env("LEDGERLINK_LOG", "warn")
        .args(args);
    if let Some(url) = url {
        cmd.env("DATABASE_URL", url);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "ledgerlink {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn last_line(out: &str) -> String {
    out.lines().last().unwrap().trim().to_owned()
}

/// `api-keys list --json`, one object per key.
fn listed(data_dir: &std::path::Path, url: Option<&str>) -> Vec<Value> {
    ledgerlink(data_dir, url, &["api-keys", "list", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn status(running: &ledgerlink::Running, key: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/v2/integrations/connections", running.url()))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn cli_lists_revokes_and_rotates_keys_and_a_running_server_obeys_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let pg = match postgres_server() {
        Some(server) => Some(PgDatabase::create(&server).await),
        None => None,
    };
    let url = pg.as_ref().map(|p| p.url.as_str());
    let config = ledgerlink::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        database_url: url.map(|u| secrecy::SecretString::from(u.to_owned())),
        workers: 0,
        ..ledgerlink::Config::default()
    };
    // The server runs all along; the CLI changes keys in the same database beside it.
    let running = ledgerlink::start(&config, std::future::pending())
        .await
        .unwrap();
    let first = running.bootstrap_key.clone().unwrap();
    let billing = last_line(&ledgerlink(
        dir.path(),
        url,
        &[
            "api-keys",
            "create",
            "--org",
            "acme",
            "--name",
            "billing sync",
        ],
    ));
    let keys = listed(dir.path(), url);
    assert_eq!(keys.len(), 2, "{keys:?}");
    let newest = &keys[0];
    assert_eq!(newest["name"], "billing sync");
    assert_eq!(newest["org"], "acme");
    assert!(billing.starts_with(newest["prefix"].as_str().unwrap()));
    assert_eq!(newest["is_active"], true);
    assert!(newest["last_used_at"].is_null());
    assert_eq!(keys[1]["name"], "first key");
    let table = ledgerlink(dir.path(), url, &["api-keys", "list", "--org", "acme"]);
    assert!(
        table.contains("billing sync") && !table.contains("first key"),
        "{table}"
    );
    assert!(!table.contains(&billing), "never the key itself");

    assert_eq!(status(&running, &billing).await, StatusCode::OK);
    let used = &listed(dir.path(), url)[0];
    assert!(used["last_used_at"].is_string(), "{used}");

    // Rotation with a grace period: both work, then revoking the old one ends it at once.
    let billing_id = newest["id"].as_str().unwrap().to_owned();
    let out = ledgerlink(
        dir.path(),
        url,
        &["api-keys", "rotate", &billing_id, "--grace-secs", "3600"],
    );
    let rotated = last_line(&out);
    assert!(rotated.starts_with("llk_") && rotated != billing, "{out}");
    assert_eq!(status(&running, &rotated).await, StatusCode::OK);
    assert_eq!(
        status(&running, &billing).await,
        StatusCode::OK,
        "grace period"
    );
    let keys = listed(dir.path(), url);
    assert_eq!(
        keys[0]["name"], "billing sync",
        "the new key keeps the name"
    );
    let old = keys
        .iter()
        .find(|k| k["id"] == billing_id.as_str())
        .unwrap();
    assert!(
        old["revoked_at"].is_string() && old["is_active"] == true,
        "{old}"
    );
    ledgerlink(dir.path(), url, &["api-keys", "revoke", &billing_id]);
    assert_eq!(status(&running, &billing).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&running, &rotated).await, StatusCode::OK);

    // Rotation without grace: the old key stops at once.
    let rotated_id = listed(dir.path(), url)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = last_line(&ledgerlink(
        dir.path(),
        url,
        &["api-keys", "rotate", &rotated_id],
    ));
    assert_eq!(status(&running, &rotated).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&running, &again).await, StatusCode::OK);
    assert_eq!(status(&running, &first).await, StatusCode::OK);

    // Revoking twice, or an unknown id, is an error that says so.
    let out = Command::new(env!("CARGO_BIN_EXE_ledgerlink"))
        .env_clear()
        .env("LEDGERLINK_DATA_DIR", dir.path())
        .envs(url.map(|u| ("DATABASE_URL", u)))
        .args(["api-keys", "revoke", &billing_id])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already revoked"));
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn last_use_is_stamped_at_most_once_a_minute() {
    let app = TestApp::start().await;
    let store = &app.running.store;
    let id = store.list_api_keys(None).await.unwrap()[0].id.clone();
    let cost = || async {
        let before = store.queries_executed();
        assert_eq!(
            app.get("/v2/integrations/connections").await.status,
            StatusCode::OK
        );
        store.queries_executed() - before
    };
    let first_cost = cost().await;
    let first = store
        .get_api_key(None, &id)
        .await
        .unwrap()
        .unwrap()
        .last_used_at;
    assert!(first.is_some());
    let second_cost = cost().await;
    assert_eq!(
        store
            .get_api_key(None, &id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        first,
        "not stamped again within the minute"
    );
    // The first request reads the key and stamps it; the next ones only read it, and the store's
    // key cache usually spares them that read too (not when its second has passed meanwhile).
    assert!(
        (second_cost + 1..=second_cost + 2).contains(&first_cost),
        "one write, on the first request only: {first_cost} then {second_cost} statements"
    );
    assert!(cost().await <= second_cost + 1);
    // Pretend the last stamp is two minutes old: the next request stamps it again.
    let now = chrono::Utc::now();
    let old = now - chrono::TimeDelta::seconds(120);
    store.touch_api_key(&id, old, now).await.unwrap();
    app.get("/v2/integrations/connections").await;
    let stamped = store
        .get_api_key(None, &id)
        .await
        .unwrap()
        .unwrap()
        .last_used_at;
    assert!(
        stamped.unwrap() > old + chrono::TimeDelta::seconds(100),
        "{stamped:?}"
    );
}

#[tokio::test]
async fn http_lists_creates_and_revokes_the_organizations_keys() {
    let app = TestApp::start().await;
    let r = app.get("/v2/integrations/api-keys").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let keys = r.json.as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["object"], "api_key");
    assert!(!r.text.contains(&app.key), "the key is never listed");

    let r = app
        .post("/v2/integrations/api-keys", r#"{"name": "reporting"}"#)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let new_key = r.json["key"].as_str().unwrap().to_owned();
    let new_id = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json["name"], "reporting");
    assert_eq!(r.json["is_active"], true);
    let r = app
        .call_as(&new_key, Method::GET, "/v2/integrations/api-keys", None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json.as_array().unwrap().len(), 2);
    assert!(!r.text.contains(&new_key), "shown only when created");

    // Another organization's key cannot be seen or revoked.
    let other = app.key_for_org("other").await;
    let path = format!("/v2/integrations/api-keys/{new_id}");
    let r = app.call_as(&other, Method::DELETE, &path, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    let r = app
        .call_as(&other, Method::GET, "/v2/integrations/api-keys", None)
        .await;
    assert!(!r.text.contains(&new_id));

    // A key can revoke another, and the revoked one is refused on its next request.
    let r = app.delete(&path).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let r = app
        .call_as(&new_key, Method::GET, "/v2/integrations/api-keys", None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.delete(&path).await.status, StatusCode::NOT_FOUND);
    let listed = app.get("/v2/integrations/api-keys").await.json;
    let revoked = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == new_id.as_str())
        .unwrap();
    assert_eq!(revoked["is_active"], false);
    assert!(revoked["revoked_at"].is_string());

    // The organization's last active key stays.
    let own_id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["is_active"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .delete(&format!("/v2/integrations/api-keys/{own_id}"))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    assert_eq!(
        app.get("/v2/integrations/api-keys").await.status,
        StatusCode::OK
    );

    for bad in [
        r#"{}"#,
        r#"{"name": null}"#,
        r#"{"name": "  "}"#,
        r#"{"name": "x", "y": 1}"#,
    ] {
        let r = app.post("/v2/integrations/api-keys", bad).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {r:?}");
    }
}
