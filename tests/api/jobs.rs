//! Background jobs on the one leased queue: setup and health checks claimed once across processes,
//! resumed after a dead worker's lease, retried with backoff, and none run by an API-only process.

use std::sync::Arc;

use chrono::Duration;
use ledgerlink_engine::{Engine, JobRun};
use ledgerlink_store::{JobEnd, Store};
use serde_json::Value;

use crate::harness::TestApp;

fn id(c: &Value) -> String {
    c["id"].as_str().unwrap().to_owned()
}

/// Another process on the same database: its own pool, its own engine, the same clock.
async fn second_process(app: &TestApp) -> (Arc<dyn Store>, Arc<Engine>) {
    let store = ledgerlink::open_store(&app.config).await.unwrap();
    let engine =
        ledgerlink::engine_with_clock(&app.config, store.clone(), app.clock.clone()).unwrap();
    (store, engine)
}

fn discovery_calls(app: &TestApp) -> u64 {
    app.sim()
        .request_counts()
        .get("GET /environments/v1.2")
        .copied()
        .unwrap_or(0)
}

/// Creates and authorizes `n` cloud connections; their setups wait in the queue (no worker runs).
async fn authorized(app: &TestApp, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let c = app.create_connection(&format!("Acme {i}")).await;
        let r = app.authorize(&c).await;
        assert!(r.status.is_success(), "{r:?}");
        ids.push(id(&c));
    }
    ids
}

#[tokio::test]
async fn two_workers_never_run_the_same_setup_twice() {
    let app = TestApp::with_sim(|_| {}).await;
    let ids = authorized(&app, 3).await;
    let (_store, other) = second_process(&app).await;
    let before = discovery_calls(&app);
    let (a, b) = tokio::join!(
        app.running.engine.drain_jobs("worker-a"),
        other.drain_jobs("worker-b")
    );
    assert_eq!(a.unwrap() + b.unwrap(), 3, "each setup ran once");
    assert_eq!(
        discovery_calls(&app) - before,
        3,
        "one discovery per connection"
    );
    for id in &ids {
        let c = app.settled(id).await;
        assert_eq!(c["health"]["status_code"], "healthy", "{c}");
        assert_eq!(c["is_running_setup"], false);
    }
    // Nothing is left to run, in either process.
    assert_eq!(other.drain_jobs("worker-b").await.unwrap(), 0);
}

#[tokio::test]
async fn a_setup_whose_worker_died_is_finished_by_another_after_the_lease() {
    let app = TestApp::with_sim(|_| {}).await;
    let id = authorized(&app, 1).await.remove(0);
    let store = &app.running.store;
    let lease = app.running.engine.settings().jobs.lease;
    // A worker claims the setup, then dies: it never renews its lease nor reports.
    let now = app.running.engine.now();
    let dead = store
        .claim_job("dead-worker", now, now + lease)
        .await
        .unwrap()
        .expect("the setup is queued");
    assert_eq!(dead.kind, "setup");
    assert_eq!(dead.connection_id.as_deref(), Some(id.as_str()));

    let (_other_store, other) = second_process(&app).await;
    assert_eq!(
        other.drain_jobs("worker-b").await.unwrap(),
        0,
        "not while the lease holds"
    );
    let c = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    assert_eq!(c["is_running_setup"], true);

    // After the lease, another worker takes it; the dead one's late report changes nothing.
    app.clock.advance(lease + Duration::seconds(1));
    let now = app.running.engine.now();
    let taken = store
        .claim_job("worker-c", now, now + lease)
        .await
        .unwrap()
        .expect("taken back after the lease");
    assert_eq!((taken.id.as_str(), taken.attempt), (dead.id.as_str(), 2));
    assert!(
        !store
            .finish_job(&dead.id, "dead-worker", &JobEnd::Done, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .renew_job_lease(&dead.id, "dead-worker", now + lease)
            .await
            .unwrap()
    );
    let org = app.default_org().await;
    let jobs = store.connection_jobs(&org, &id).await.unwrap();
    assert_eq!(jobs[0].locked_by.as_deref(), Some("worker-c"), "{jobs:?}");

    // worker-c dies too; worker-b finishes the setup after that lease.
    app.clock.advance(lease + Duration::seconds(1));
    assert_eq!(other.drain_jobs("worker-b").await.unwrap(), 1);
    let c = app.settled(&id).await;
    assert_eq!(c["health"]["status_code"], "healthy", "{c}");
    assert_eq!(c["is_running_setup"], false);
    let org = app.default_org().await;
    assert!(store.connection_jobs(&org, &id).await.unwrap().is_empty());
}

#[tokio::test]
async fn periodic_health_checks_run_once_per_interval_across_processes() {
    let app = TestApp::with_sim(|_| {}).await;
    let ids = authorized(&app, 2).await;
    for id in &ids {
        app.settled(id).await;
    }
    let interval = Duration::hours(1);
    let (_s2, p2) = second_process(&app).await;
    let (_s3, p3) = second_process(&app).await;
    let engines = [app.running.engine.clone(), p2, p3];
    let round = || async {
        let runs = engines.iter().map(|e| e.check_stale(interval, 100));
        futures::future::join_all(runs)
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum::<usize>()
    };
    assert_eq!(round().await, 0, "just checked by setup");
    app.clock.advance(interval + Duration::seconds(1));
    let checked_at = |c: &Value| c["health"]["timestamp"].as_str().unwrap().to_owned();
    let mut before = Vec::new();
    for id in &ids {
        let c = app
            .get(&format!("/v2/integrations/connections/{id}"))
            .await
            .json;
        before.push(checked_at(&c));
    }
    assert_eq!(
        round().await,
        2,
        "one check per connection across three processes"
    );
    assert_eq!(round().await, 0, "and no second one in the same interval");
    for (id, before) in ids.iter().zip(&before) {
        let c = app
            .get(&format!("/v2/integrations/connections/{id}"))
            .await
            .json;
        assert_ne!(&checked_at(&c), before, "checked again");
        assert_eq!(c["health"]["status_code"], "healthy");
    }
    app.clock.advance(interval + Duration::seconds(1));
    assert_eq!(round().await, 2, "the next interval's checks");
}

#[tokio::test]
async fn a_throttled_setup_is_retried_and_the_connection_then_syncs_on_schedule() {
    let app = TestApp::with_sim(|_| {}).await;
    let id = authorized(&app, 1).await.remove(0);
    app.sim().set_faults(bc_sim::FaultConfig {
        throttle_rate: 1.0,
        ..Default::default()
    });
    let c = app.settled(&id).await;
    let org = app.default_org().await;
    let jobs = app.running.store.connection_jobs(&org, &id).await.unwrap();
    // Discovery found nothing yet, so what is shown is the missing environment and company.
    assert_eq!(c["health"]["healthy"], false, "{}", c["health"]);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        (jobs[0].kind.as_str(), jobs[0].status.as_str()),
        ("setup", "queued")
    );
    assert!(jobs[0].last_error.is_some());

    app.sim().set_faults(bc_sim::FaultConfig::default());
    app.clock.advance(Duration::minutes(20));
    let c = app.settled(&id).await;
    assert_eq!(c["health"]["status_code"], "healthy", "{c}");
    let conn = app
        .running
        .store
        .get_connection(&org, &id)
        .await
        .unwrap()
        .unwrap();
    let readable: Vec<_> = conn.models.iter().filter(|m| m.is_read_enabled).collect();
    assert!(!readable.is_empty());
    assert!(
        readable.iter().all(|m| m.next_sync_at.is_some()),
        "every readable model is scheduled"
    );
    assert!(
        app.running
            .store
            .connection_jobs(&org, &id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_setup_that_gave_up_is_queued_again_by_the_periodic_check() {
    let app = TestApp::with_sim(|_| {}).await;
    let id = authorized(&app, 1).await.remove(0);
    app.sim().set_faults(bc_sim::FaultConfig {
        error_5xx_rate: 1.0,
        ..Default::default()
    });
    let org = app.default_org().await;
    let engine = &app.running.engine;
    let attempts = engine.settings().jobs.retry.max_attempts as usize;
    let mut ended = Vec::new();
    for _ in 0..attempts {
        if let Some(run) = engine.run_next_job("w").await.unwrap() {
            ended.push(run);
        }
        app.clock.advance(Duration::hours(1));
    }
    assert_eq!(ended.len(), attempts, "{ended:?}");
    assert!(
        matches!(ended.last(), Some(JobRun::Ended(JobEnd::Failed { .. }))),
        "{ended:?}"
    );
    let jobs = app.running.store.connection_jobs(&org, &id).await.unwrap();
    assert_eq!(jobs[0].status, "failed", "kept for inspection: {jobs:?}");
    let c = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    assert_ne!(c["health"]["status_code"], "healthy");
    assert_eq!(c["is_running_setup"], false);

    // The ERP recovers; the periodic check notices setup never completed and runs it again.
    app.sim().set_faults(bc_sim::FaultConfig::default());
    assert_eq!(
        engine.check_stale(Duration::minutes(30), 10).await.unwrap(),
        1
    );
    let c = app.settled(&id).await;
    assert_eq!(c["health"]["status_code"], "healthy", "{c}");
    assert!(c["company"].is_string(), "{c}");
}

#[tokio::test]
async fn an_api_only_process_runs_no_background_work() {
    // workers = 0 is what `serve --role api` sets (tests/api/cli.rs checks the flag's mapping).
    let api_only = TestApp::with_sim_and(
        |_| {},
        |config| {
            config.workers = 0;
            config.health_check_interval_secs = 1;
        },
    )
    .await;
    // The control: the same with one worker runs the setup by itself.
    let worker = TestApp::with_sim_and(
        |_| {},
        |config| {
            config.workers = 1;
            config.health_check_interval_secs = 1;
        },
    )
    .await;
    let idle = authorized(&api_only, 1).await.remove(0);
    let busy = authorized(&worker, 1).await.remove(0);
    let mut healthy = false;
    for _ in 0..100 {
        let c = worker
            .get(&format!("/v2/integrations/connections/{busy}"))
            .await
            .json;
        if c["health"]["status_code"] == "healthy" {
            healthy = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(healthy, "a worker process runs setup without being asked");

    let org = api_only.default_org().await;
    let jobs = api_only
        .running
        .store
        .connection_jobs(&org, &idle)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].status.as_str(), jobs[0].attempt), ("queued", 0));
    let c = api_only
        .get(&format!("/v2/integrations/connections/{idle}"))
        .await
        .json;
    assert_eq!(c["is_running_setup"], true, "setup waits for a worker");
}

#[tokio::test]
async fn a_setup_flag_left_without_its_job_is_healed_by_the_periodic_check() {
    let app = TestApp::with_sim(|_| {}).await;
    let id = authorized(&app, 1).await.remove(0);
    let c = app.settled(&id).await;
    assert_eq!(c["health"]["status_code"], "healthy");
    // What a process stopped between saving the flag and queuing the job leaves behind.
    let org = app.default_org().await;
    let store = &app.running.store;
    let mut stuck = store.get_connection(&org, &id).await.unwrap().unwrap();
    stuck.is_running_setup = true;
    let now = app.running.engine.now();
    assert!(store.save_connection_state(&stuck, now).await.unwrap());
    assert!(store.connection_jobs(&org, &id).await.unwrap().is_empty());

    let interval = Duration::hours(1);
    app.clock.advance(interval + Duration::seconds(1));
    assert_eq!(
        app.running.engine.check_stale(interval, 10).await.unwrap(),
        1
    );
    let c = app.settled(&id).await;
    assert_eq!(c["is_running_setup"], false, "setup ran again and finished");
    assert_eq!(c["health"]["status_code"], "healthy");
}
