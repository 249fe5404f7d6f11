//! The API and the sync queue when the database is busy or failing: concurrent requests that race for
//! the same rows, a disk that fills up under a running sync (SQLite), a store that cannot take writes.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection as _;

use crate::harness::{TestApp, postgres_server};

/// Sixteen `POST …/sync` at once: every one answers 200/201 with the same syncs (one per model), never
/// a 500 "database is locked" (SQLite) or a 409 from the one-active-sync rule (Postgres).
#[tokio::test]
async fn concurrent_sync_requests_all_get_the_one_active_sync_per_model() {
    let app = TestApp::with_sim(|_| {}).await;
    let id = app.connected().await;
    let path = format!("/v2/integrations/connections/{id}/sync");
    for round in 0..3 {
        let calls = (0..16).map(|_| app.post(&path, ""));
        let replies = futures::future::join_all(calls).await;
        let mut seen: Option<BTreeSet<String>> = None;
        for r in &replies {
            assert!(r.status.is_success(), "round {round}: {r:?}");
            let ids: BTreeSet<String> = r.json["data"]
                .as_array()
                .or_else(|| r.json.as_array())
                .unwrap_or_else(|| panic!("a list of syncs: {r:?}"))
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned())
                .collect();
            match &seen {
                None => seen = Some(ids),
                Some(first) => assert_eq!(first, &ids, "round {round}: one sync per model"),
            }
        }
        // Let them finish before the next round, so each round races to create new ones.
        app.running.engine.drain_syncs("w").await.unwrap();
    }
}

/// Concurrent PATCHes of one connection all answer 200 and the last write is what is stored.
#[tokio::test]
async fn concurrent_patches_never_fail() {
    let app = TestApp::start().await;
    let c = app.create_connection("Acme").await;
    let id = c["id"].as_str().unwrap();
    let path = format!("/v2/integrations/connections/{id}");
    let calls = (0..24).map(|i| {
        let body = serde_json::json!({"name": format!("n{i}")}).to_string();
        let path = path.clone();
        let app = &app;
        async move { app.patch(&path, &body).await }
    });
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }
}

fn mounted_tmpfs(dir: &Path, bytes: u64) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let out = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
        .arg("tmpfs")
        .arg(dir)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the file system holding `dir` to the last byte with a filler file.
fn fill(dir: &Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        if f.write_all(&block).is_err() {
            break;
        }
    }
    for size in [4096usize, 512, 1] {
        while f.write_all(&block[..size]).is_ok() {}
    }
    let _ = f.sync_all();
    path
}

/// The syncs that ran or are to run now (not each model's next planned one).
async fn sync_rows(app: &TestApp, id: &str) -> Vec<Value> {
    app.get(&format!(
        "/v2/integrations/connections/{id}/syncs?limit=200"
    ))
    .await
    .json
    .as_array()
    .cloned()
    .unwrap_or_default()
    .into_iter()
    .filter(|s| s["status"] != "scheduled")
    .collect()
}

/// SQLite on a disk that fills up mid-sync: no 2xx for a change that was not committed, the sync's
/// error and `/readyz` name the full disk, no retry attempt is spent while it lasts, and everything
/// resumes by itself once space is back.
#[tokio::test]
async fn a_full_disk_is_named_loses_nothing_and_recovers_by_itself() {
    if postgres_server().is_some() {
        return; // The database's disk is the Postgres server's, not ours.
    }
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    if let Err(e) = mounted_tmpfs(&data, 64 * 1024 * 1024) {
        assert!(
            std::env::var("CI").is_err(),
            "CI must be able to mount a small file system for this test (as root): {e}"
        );
        eprintln!("SKIPPED: cannot mount a tmpfs here ({e}); run the tests as root");
        return;
    }
    let _unmount = Unmount(data.clone());
    let data_for_server = data.clone();
    let app = TestApp::with_sim_and(
        |sim| {
            sim.data.invoices = 600;
            sim.data.lines_per_invoice = 5;
        },
        move |config| {
            config.data_dir = data_for_server;
            config.sync_lease_secs = 5;
            config.sync_page_size = 100;
        },
    )
    .await;
    let first = app.connected().await;
    app.running.engine.drain_syncs("w").await.unwrap();
    // A second connection to sync while the disk is full (its records are all new: big writes),
    // and a few connections to change meanwhile.
    let second = app.connected().await;
    let mut others = Vec::new();
    for i in 0..6 {
        let c = app.create_connection(&format!("other {i}")).await;
        others.push(c["id"].as_str().unwrap().to_owned());
    }

    let filler = fill(&data);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.text().await.unwrap().contains("disk"));
    // The second connection's first syncs run while the disk is full: whether SQLite can still
    // write a little (reusing WAL space) or nothing at all, they wait instead of failing.
    let engine = app.running.engine.clone();
    let worker = tokio::spawn(async move { engine.drain_syncs("w").await });
    // A change while the disk is full is either refused (503, naming the disk) or truly committed.
    let mut acknowledged = Vec::new();
    for (i, id) in others.iter().enumerate() {
        let name = format!("during the outage {i}");
        let body = serde_json::json!({ "name": name }).to_string();
        let r = app
            .patch(&format!("/v2/integrations/connections/{id}"), &body)
            .await;
        match r.status {
            StatusCode::OK => acknowledged.push((id.clone(), name)),
            StatusCode::SERVICE_UNAVAILABLE => assert!(r.text.contains("disk"), "{r:?}"),
            _ => panic!("{r:?}"),
        }
    }
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let rows = sync_rows(&app, &second).await;
    assert!(rows.iter().all(|s| s["status"] != "failed"), "{rows:#?}");
    for s in rows.iter().filter(|s| s["status"] == "pending_retry") {
        let error = s["error"].as_str().unwrap_or_default();
        assert!(error.contains("disk holding the database is full"), "{s}");
        assert_eq!(
            s["attempt"], 0,
            "an attempt cut short by the disk is not counted: {s}"
        );
    }

    std::fs::remove_file(&filler).unwrap();
    // The worker stuck on the full disk gets on as soon as there is room.
    let _ = worker.await.unwrap();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    // Deferred syncs come back by themselves (after ~15 s); a worker claims them then.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        app.running.engine.drain_syncs("w").await.unwrap();
        let rows = sync_rows(&app, &second).await;
        if rows.iter().all(|s| s["status"] == "complete") {
            for s in &rows {
                assert!(s["attempt"].as_i64().unwrap() <= 2, "{s}");
            }
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{rows:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let invoices = app
        .get(&format!(
            "/v2/integrations/connections/{second}/records/invoices?limit=1000"
        ))
        .await;
    assert_eq!(invoices.json["data"].as_array().unwrap().len(), 600);
    // What was acknowledged is committed: another connection to the file sees it.
    let db = data.join("ledgerlink.db");
    let mut reader = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    for (id, name) in &acknowledged {
        let stored: String = sqlx::query_scalar("SELECT name FROM connections WHERE id = $1")
            .bind(id)
            .fetch_one(&mut reader)
            .await
            .unwrap();
        assert_eq!(&stored, name, "an acknowledged change was not committed");
    }
    let r = app
        .patch(
            &format!("/v2/integrations/connections/{first}"),
            r#"{"name": "after"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

/// Postgres drops every connection of ours mid-sync (a restart, a failover): the sync saves its page
/// on a new connection and ends in the same attempt — it does not sit `running` until its lease runs
/// out, and it does not spend a retry.
#[tokio::test]
async fn a_postgres_restart_mid_sync_costs_no_attempt_and_no_lease_wait() {
    let Some(server) = postgres_server() else {
        return;
    };
    let app = TestApp::with_sim_and(
        |sim| sim.data.invoices = 40,
        |config| config.sync_lease_secs = 600,
    )
    .await;
    let id = app.synced_then_full_pass_queued().await;
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&*pg_pool(&app).await)
        .await
        .unwrap();
    app.sim().pause();
    let engine = app.running.engine.clone();
    let started = std::time::Instant::now();
    let worker = tokio::spawn(async move { engine.drain_syncs("w").await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Every connection to the test database goes away, as in a restart.
    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&db)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!killed.is_empty());
    app.sim().resume();
    worker.await.unwrap().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    let rows = sync_rows(&app, &id).await;
    let full: Vec<&Value> = rows.iter().filter(|s| s["is_one_off"] == true).collect();
    assert!(!full.is_empty());
    for s in full {
        assert_eq!(s["status"], "complete", "{s}");
        assert_eq!(s["attempt"], 1, "{s}");
    }
}

/// A pool on the app's own Postgres database (to learn its name).
async fn pg_pool(app: &TestApp) -> std::sync::Arc<sqlx::PgPool> {
    use secrecy::ExposeSecret;
    let url = app
        .config
        .database_url
        .as_ref()
        .expect("a Postgres database")
        .expose_secret()
        .to_owned();
    std::sync::Arc::new(sqlx::PgPool::connect(&url).await.unwrap())
}

/// A page fetch that outlasts the lease (BC holding the request): the heartbeat keeps the lease, so
/// a worker claiming later never takes the sync over and BC is read once — one attempt, one holder.
#[tokio::test]
async fn a_page_longer_than_the_lease_keeps_its_one_holder() {
    let app = TestApp::with_sim_and(
        |sim| sim.data.invoices = 20,
        |config| config.sync_lease_secs = 2,
    )
    .await;
    let id = app.synced_then_full_pass_queued().await;
    app.sim().pause();
    let engine = app.running.engine.clone();
    let first = tokio::spawn(async move { engine.run_next_sync("first").await });
    let org = app.default_org().await;
    // The sync the first worker holds, waiting on BC.
    let mut held = None;
    for _ in 0..100 {
        let rows = sync_rows(&app, &id).await;
        if let Some(s) = rows.iter().find(|s| s["status"] == "running") {
            held = Some(s["id"].as_str().unwrap().to_owned());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let held = held.expect("the first worker claimed a sync");
    // Well past the 2-second lease, another worker claims: it must not get that sync.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let engine = app.running.engine.clone();
    let late = tokio::spawn(async move { engine.run_next_sync("late").await });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let job = app
        .running
        .store
        .get_sync(&org, &held)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.locked_by.as_deref(), Some("first"), "{:?}", job.sync);
    assert!(
        job.locked_until.unwrap() > chrono::Utc::now(),
        "the lease is alive"
    );
    app.sim().resume();
    first.await.unwrap().unwrap();
    late.await.unwrap().unwrap();
    let job = app
        .running
        .store
        .get_sync(&org, &held)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.sync.status, ledgerlink_domain::SyncStatus::Complete);
    assert_eq!(job.sync.attempt, 1, "claimed once");
}
