//! Scale-out on Postgres: two worker processes share the queue; one is killed with SIGKILL mid-sync and
//! the other finishes the sync from its last saved page, with nothing lost or duplicated.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use secrecy::ExposeSecret;

use crate::harness::{TestApp, postgres_server};

const SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_worker(app: &TestApp, dir: &std::path::Path) -> Worker {
    let sim = app.sim();
    let db = app
        .config
        .database_url
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    let child = Command::new(env!("CARGO_BIN_EXE_ledgerlink"))
        .args(["serve", "--role", "worker", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("DATABASE_URL", db)
        .env("LEDGERLINK_DATA_DIR", dir)
        .env("LEDGERLINK_SECRET_KEY", SECRET_KEY)
        .env("LEDGERLINK_ENTRA_CLIENT_ID", sim.client_id())
        .env("LEDGERLINK_ENTRA_CLIENT_SECRET", sim.client_secret())
        .env("LEDGERLINK_ENTRA_REDIRECT_URI", app.config.redirect_uri())
        .env("LEDGERLINK_BC_LOGIN_BASE_URL", sim.base_url())
        .env("LEDGERLINK_BC_API_BASE_URL", sim.base_url())
        .env("LEDGERLINK_ALLOW_HTTP_API_URL", "true")
        .env("LEDGERLINK_ALLOWED_HOSTS", "127.0.0.1")
        .env("LEDGERLINK_WORKERS", "1")
        .env("LEDGERLINK_SYNC_PAGE_SIZE", "7")
        .env("LEDGERLINK_SYNC_LEASE_SECS", "2")
        .env("LEDGERLINK_SYNC_RETRY_BASE_MS", "5")
        .env("LEDGERLINK_HEALTH_CHECK_INTERVAL_SECS", "0")
        .env("LEDGERLINK_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("worker process starts");
    Worker(child)
}

#[tokio::test]
async fn a_worker_killed_mid_sync_is_replaced_from_its_last_saved_page() {
    if postgres_server().is_none() {
        eprintln!(
            "skipped: scale-out across processes is a Postgres deployment (runs in the Postgres pass)"
        );
        return;
    }
    let app = TestApp::with_sim_and(
        |s| {
            s.data.invoices = 160;
            s.data.customers = 10;
        },
        |c| c.secret_key = Some(secrecy::SecretString::from(SECRET_KEY)),
    )
    .await;
    let created = app.create_connection("Scale-out").await;
    app.authorize(&created).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(app.settled(&id).await["health"]["status_code"], "healthy");
    // Slow pages, so the kill lands mid-sync.
    app.sim().set_faults(bc_sim::FaultConfig {
        slow_rate: 1.0,
        slow_ms: 120,
        ..Default::default()
    });

    let dirs = tempfile::tempdir().unwrap();
    let mut workers = [
        Some(spawn_worker(&app, &dirs.path().join("w1"))),
        Some(spawn_worker(&app, &dirs.path().join("w2"))),
    ];
    let r = app
        .post(&format!("/v2/integrations/connections/{id}/sync"), "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let conn = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    let model_id = conn["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "invoices")
        .map(|m| m["id"].clone())
        .unwrap();
    let invoices_sync = r
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["model_id"] == model_id)
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .expect("an invoices sync");
    let org = app.default_org().await;

    // Wait until a worker has written a few pages of it, then kill that worker's process.
    let deadline = Instant::now() + Duration::from_secs(60);
    let victim_pid = loop {
        assert!(
            Instant::now() < deadline,
            "the invoices sync never got going"
        );
        let job = app
            .running
            .store
            .get_sync(&org, &invoices_sync)
            .await
            .unwrap()
            .unwrap();
        let pages = job.sync.pagination_state["pages"].as_u64().unwrap_or(0);
        if job.sync.status == ledgerlink_domain::SyncStatus::Running && pages >= 3 {
            let holder = job.locked_by.clone().unwrap();
            break holder.split('-').nth(1).unwrap().parse::<u32>().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let slot = workers
        .iter()
        .position(|w| w.as_ref().is_some_and(|w| w.0.id() == victim_pid))
        .expect("the lease holder is one of our workers");
    let status = Command::new("kill")
        .args(["-KILL", &victim_pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    drop(workers[slot].take());

    // The survivor takes over once the lease expires, and finishes everything.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(
            Instant::now() < deadline,
            "syncs did not finish after the kill"
        );
        let syncs = app
            .get(&format!(
                "/v2/integrations/connections/{id}/syncs?limit=200"
            ))
            .await
            .json;
        if syncs
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] != "scheduled")
            .all(|s| s["status"] == "complete")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let job = app
        .running
        .store
        .get_sync(&org, &invoices_sync)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.sync.status, ledgerlink_domain::SyncStatus::Complete);
    assert_eq!(job.sync.attempt, 2, "claimed once by each worker");
    let expected = 160;
    assert_eq!(
        job.sync.pagination_state["records"].as_u64(),
        Some(expected),
        "resumed from the saved page: every invoice counted once, none re-read from scratch"
    );
    app.sim().set_faults(bc_sim::FaultConfig::default());

    // The feed has every invoice exactly once.
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v2/integrations/connections/{id}/records/invoices?limit=50");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = app.get(&path).await.json;
        let data = page["data"].as_array().unwrap();
        if data.is_empty() {
            break;
        }
        for r in data {
            assert!(
                seen.insert(r["remote_id"].as_str().unwrap().to_owned()),
                "duplicate {}",
                r["remote_id"]
            );
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len() as u64, expected, "no invoice lost");
}
