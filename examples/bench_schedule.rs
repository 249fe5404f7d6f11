//! Scheduling benchmark (see `scripts/bench-schedule`): N on-premises connections to a running bc-sim,
//! each its own Business Central principal (its own loopback address, so each has its own request
//! budget), set up through the HTTP API on Postgres. Then:
//!
//! 1. the scheduler's cost per tick when nothing is due (N × 7 scheduled models, none due);
//! 2. the time 2 (by default) `ledgerlink serve --role worker` processes take to run N due small
//!    syncs (one model per connection): from the moment they start until every sync has ended,
//!    including their own start-up and scheduling;
//! 3. checks that every sync completed, in exactly one attempt.
//!
//! Usage: bench_schedule --sim-port PORT --database-url URL --ledgerlink BIN
//!        [--connections N] [--processes P] [--workers W]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::Row;

mod common;
use common::arg;

/// A distinct loopback address per connection (127.0.0.0/8 all reaches the local host).
fn address(i: usize) -> String {
    let n = i + 2;
    format!("127.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = arg("--sim-port").expect("--sim-port").parse()?;
    let database_url = arg("--database-url").expect("--database-url");
    let binary = arg("--ledgerlink").expect("--ledgerlink BIN");
    let n: usize = arg("--connections").map_or(Ok(10_000), |v| v.parse())?;
    let processes: usize = arg("--processes").map_or(Ok(2), |v| v.parse())?;
    let workers: usize = arg("--workers").map_or(Ok(8), |v| v.parse())?;
    let secret_key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let dir = tempfile::tempdir()?;
    let config = ledgerlink::Config {
        listen: "127.0.0.1:0".parse()?,
        data_dir: dir.path().to_owned(),
        database_url: Some(secrecy::SecretString::from(database_url.clone())),
        secret_key: Some(secrecy::SecretString::from(secret_key)),
        allow_http_api_url: true,
        allowed_hosts: vec!["127.0.0.0/8".into()],
        health_check_interval_secs: 0,
        // The set-up makes thousands of requests with one key; the tenant budget would refuse them.
        tenant_requests_per_second: 0,
        workers: 0,
        log_level: "warn".into(),
        ..ledgerlink::Config::default()
    };
    let running = ledgerlink::start(&config, std::future::pending()).await?;
    let key = running.bootstrap_key.clone().expect("fresh database");
    let base = running.url();
    let http = reqwest::Client::new();

    // Set-up (not measured): N connections, credentials checked live, setup run.
    let started = Instant::now();
    let created = futures::stream::iter(0..n)
        .map(|i| {
            let (http, base, key) = (http.clone(), base.clone(), key.clone());
            async move {
                let body = json!({
                    "provider_name": "ms-dynamics-bc",
                    "name": format!("Customer {i}"),
                    "is_on_premise": true,
                    "api_url": format!("http://{}:{port}/BC", address(i)),
                });
                let c: Value = http
                    .post(format!("{base}/v2/integrations/connections"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await?
                    .json()
                    .await?;
                let id = c["id"].as_str().ok_or_else(|| anyhow::anyhow!("{c}"))?;
                let r = http
                    .put(format!(
                        "{base}/v2/integrations/connections/{id}/credentials"
                    ))
                    .bearer_auth(&key)
                    .json(&json!({"username": "ADMIN",
                        "web_service_access_key": "c2ltLXdlYi1zZXJ2aWNlLWFjY2Vzcy1rZXktMDAwMDA="}))
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "credentials: {}", r.status());
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    for r in created {
        r?;
    }
    running.engine.drain_jobs("bench").await?;
    let setup_secs = started.elapsed().as_secs_f64();
    let db = sqlx::PgPool::connect(&database_url).await?;
    let healthy: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM connections WHERE health_status = 'healthy' AND company IS NOT NULL",
    )
    .fetch_one(&db)
    .await?;
    anyhow::ensure!(healthy as usize == n, "{healthy} of {n} connections set up");
    let models: i64 = sqlx::query_scalar("SELECT count(*) FROM models")
        .fetch_one(&db)
        .await?;

    // 1. Nothing due: every model scheduled an hour from now.
    sqlx::query("UPDATE models SET next_sync_at = now() + interval '1 hour'")
        .execute(&db)
        .await?;
    sqlx::query("ANALYZE").execute(&db).await?;
    let queries_before = running.store.queries_executed();
    let ticks = 1_000;
    let mut idle = Vec::with_capacity(ticks);
    for _ in 0..ticks {
        let t = Instant::now();
        let tick = running.engine.schedule_due(1_000).await?;
        idle.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(tick.due == 0, "nothing should be due: {tick:?}");
    }
    let queries_per_tick =
        (running.store.queries_executed() - queries_before) as f64 / ticks as f64;
    idle.sort_by(f64::total_cmp);
    let idle_mean = idle.iter().sum::<f64>() / idle.len() as f64;
    running.shutdown().await?;

    // 2. N due small syncs: each connection's customers (the other models stay an hour away). Setup
    // queued every model's first sync meanwhile; those are not the workload measured here.
    sqlx::query("DELETE FROM syncs").execute(&db).await?;
    sqlx::query("UPDATE models SET next_sync_at = now() WHERE name = 'customers'")
        .execute(&db)
        .await?;
    let started = Instant::now();
    let children: Vec<Child> = (0..processes)
        .map(|p| {
            Command::new(&binary)
                .args(["serve", "--role", "worker", "--listen", "127.0.0.1:0"])
                .env("LEDGERLINK_DATABASE_URL", &database_url)
                .env(
                    "LEDGERLINK_DATA_DIR",
                    dir.path().join(format!("worker-{p}")),
                )
                .env("LEDGERLINK_SECRET_KEY", secret_key)
                .env("LEDGERLINK_ALLOW_HTTP_API_URL", "true")
                .env("LEDGERLINK_ALLOWED_HOSTS", "127.0.0.0/8")
                .env("LEDGERLINK_WORKERS", workers.to_string())
                .env("LEDGERLINK_HEALTH_CHECK_INTERVAL_SECS", "0")
                .env("LEDGERLINK_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()
                .expect("worker process")
        })
        .collect();
    let (mut all_queued, mut ended) = (None, 0i64);
    while ended < n as i64 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let row = sqlx::query(
            "SELECT count(*) AS total, \
             count(*) FILTER (WHERE status IN ('complete', 'failed', 'cancelled')) AS ended \
             FROM syncs",
        )
        .fetch_one(&db)
        .await?;
        let total: i64 = row.get("total");
        ended = row.get("ended");
        if all_queued.is_none() && total >= n as i64 {
            all_queued = Some(started.elapsed().as_secs_f64());
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(1_800), "gave up");
    }
    let took = started.elapsed().as_secs_f64();
    for mut c in children {
        let _ = Command::new("kill").arg(c.id().to_string()).status();
        let _ = c.wait();
    }

    // 3. Every sync complete, once.
    let row = sqlx::query(
        "SELECT count(*) FILTER (WHERE status = 'complete') AS complete, \
         count(*) FILTER (WHERE attempt <> 1) AS retried, \
         count(DISTINCT model_id) AS models FROM syncs",
    )
    .fetch_one(&db)
    .await?;
    let (complete, retried, distinct): (i64, i64, i64) =
        (row.get("complete"), row.get("retried"), row.get("models"));
    let records: i64 = sqlx::query_scalar("SELECT count(*) FROM records")
        .fetch_one(&db)
        .await?;
    println!(
        "connections={n} models={models} setup_secs={setup_secs:.1} \
         idle_tick_ms_mean={idle_mean:.3} idle_tick_ms_p50={:.3} idle_tick_ms_p99={:.3} \
         idle_tick_queries={queries_per_tick:.1} \
         processes={processes} workers_per_process={workers} all_queued_secs={:.1} \
         all_ended_secs={took:.1} syncs_per_sec={:.0} complete={complete} attempts_over_1={retried} \
         distinct_models={distinct} records={records}",
        percentile(&idle, 0.5),
        percentile(&idle, 0.99),
        all_queued.unwrap_or(took),
        n as f64 / took,
    );
    anyhow::ensure!(
        complete as usize == n && distinct as usize == n,
        "not every sync completed once"
    );
    Ok(())
}
