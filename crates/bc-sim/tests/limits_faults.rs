//! Operational limits (429 / 503 + Retry-After) and injected faults.

mod common;

use std::time::Duration;

use bc_sim::{FaultConfig, LimitsConfig};
use common::*;

#[tokio::test]
async fn request_window_gives_429_and_slides_on_the_simulated_clock() {
    let sim = start_with(|c| {
        c.limits = LimitsConfig {
            requests_per_window: 5,
            ..LimitsConfig::default()
        }
    })
    .await;
    let tok = app_token(&sim).await;
    let url = format!("{}/companies", sim.api_base());
    for _ in 0..5 {
        assert_eq!(get(&tok, &url).await.0, 200);
    }
    let (s, v) = get(&tok, &url).await;
    assert_eq!(s, 429);
    assert_bc_error(&v, "Application_TooManyRequests");
    sim.advance_clock(Duration::from_secs(301));
    assert_eq!(get(&tok, &url).await.0, 200, "window must slide");
    // Another principal (on-prem user) has its own budget.
    let (u, k) = sim.onprem_credentials().unwrap();
    let r = client()
        .get(format!("{}/companies", sim.onprem_api_base().unwrap()))
        .basic_auth(u, Some(k))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sim.shutdown().await;
}

async fn wait_for(sim: &bc_sim::Sim, running: usize, waiting: usize) {
    for _ in 0..500 {
        if sim
            .limit_stats()
            .values()
            .any(|s| s.running == running && s.waiting == waiting)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "limits never reached running={running} waiting={waiting}: {:?}",
        sim.limit_stats()
    );
}

#[tokio::test]
async fn concurrency_queue_429_when_full_and_503_after_waiting_too_long() {
    let sim = start_with(|c| {
        c.limits = LimitsConfig {
            max_concurrent: 1,
            max_queue: 1,
            queue_timeout_ms: 60_000,
            ..LimitsConfig::default()
        }
    })
    .await;
    let tok = app_token(&sim).await;
    let url = format!("{}/companies", sim.api_base());
    sim.pause();
    let t1 = tokio::spawn({
        let (tok, url) = (tok.clone(), url.clone());
        async move { get(&tok, &url).await.0 }
    });
    wait_for(&sim, 1, 0).await;
    let t2 = tokio::spawn({
        let (tok, url) = (tok.clone(), url.clone());
        async move { get(&tok, &url).await.0 }
    });
    wait_for(&sim, 1, 1).await;
    // Queue full → 429 immediately.
    let (s, v) = get(&tok, &url).await;
    assert_eq!(s, 429, "{v}");
    sim.resume();
    assert_eq!(t1.await.unwrap(), 200);
    assert_eq!(t2.await.unwrap(), 200);

    // Queue wait beyond the limit → 503 with Retry-After.
    sim.set_limits(LimitsConfig {
        max_concurrent: 1,
        max_queue: 5,
        queue_timeout_ms: 200,
        ..LimitsConfig::default()
    });
    sim.pause();
    let t1 = tokio::spawn({
        let (tok, url) = (tok.clone(), url.clone());
        async move { get(&tok, &url).await.0 }
    });
    wait_for(&sim, 1, 0).await;
    let r = client().get(&url).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some());
    sim.resume();
    assert_eq!(t1.await.unwrap(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn seeded_5xx_faults_are_reproducible() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let sim = start_with(|c| {
            c.seed = seed;
            c.limits.enabled = false;
            c.faults = FaultConfig {
                error_5xx_rate: 0.3,
                throttle_rate: 0.2,
                ..Default::default()
            };
        })
        .await;
        let tok = app_token(&sim).await;
        let mut out = Vec::new();
        for _ in 0..40 {
            out.push(get(&tok, &format!("{}/companies", sim.api_base())).await.0);
        }
        sim.shutdown().await;
        out
    }
    let a = statuses(7).await;
    assert_eq!(a, statuses(7).await, "same seed, same faults");
    assert!(a.iter().any(|s| *s >= 500));
    assert!(a.contains(&429));
    assert!(a.contains(&200));
}

#[tokio::test]
async fn dropped_and_truncated_responses() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let url = format!("{}/salesInvoices", company_url(&sim));
    sim.set_faults(FaultConfig {
        truncate_rate: 1.0,
        ..Default::default()
    });
    let r = client().get(&url).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 200, "a truncated answer starts normally");
    assert!(
        r.bytes().await.is_err(),
        "a truncated body must fail to read"
    );
    sim.set_faults(FaultConfig {
        drop_rate: 1.0,
        ..Default::default()
    });
    let r = client().get(&url).bearer_auth(&tok).send().await;
    assert!(r.is_err(), "a dropped connection gives no response at all");
    sim.set_faults(FaultConfig::default());
    assert_eq!(get(&tok, &url).await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn forbidden_expired_removed_environment_and_company() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let url = format!("{}/customers", company_url(&sim));
    sim.set_faults(FaultConfig {
        forbidden: true,
        ..Default::default()
    });
    let (s, v) = get(&tok, &url).await;
    assert_eq!(s, 403);
    assert!(
        v["error"]["code"]
            .as_str()
            .unwrap()
            .starts_with("Authorization_")
    );
    sim.set_faults(FaultConfig {
        tokens_expired: true,
        ..Default::default()
    });
    assert_eq!(get(&tok, &url).await.0, 401);
    sim.set_faults(FaultConfig::default());
    sim.revoke_tokens();
    assert_eq!(get(&tok, &url).await.0, 401, "revoked token");
    let tok = app_token(&sim).await;
    assert_eq!(get(&tok, &url).await.0, 200);
    // Removed company.
    let other = sim.company_ids()[1];
    assert!(sim.remove_company(other));
    let (s, v) = get(
        &tok,
        &format!("{}/companies({other})/customers", sim.api_base()),
    )
    .await;
    assert!(s == 400 || s == 404, "{s}");
    assert_bc_error(&v, "Internal_CompanyNotFound");
    // Removed environment.
    sim.set_environment_removed(sim.tenant_id(), "Production", true);
    let (s, v) = get(&tok, &url).await;
    assert_eq!(s, 404);
    assert!(v["error"]["code"].is_string());
    sim.set_environment_removed(sim.tenant_id(), "Production", false);
    assert_eq!(get(&tok, &url).await.0, 200);
    // Request counts per endpoint.
    let counts = sim.request_counts();
    assert!(
        counts
            .get("GET /api/v2.0/companies/customers")
            .copied()
            .unwrap_or(0)
            >= 5,
        "{counts:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn scoped_faults_at_start_and_at_runtime() {
    let sim = start_with(|c| c.faults.removed_environments = vec!["production".into()]).await;
    let tok = app_token(&sim).await;
    let (s, v) = get(&tok, &format!("{}/companies", sim.api_base())).await;
    assert_eq!(s, 404);
    assert_bc_error(&v, "NoEnvironment");
    let [a, b] = [sim.company_ids()[0], sim.company_ids()[1]];
    sim.set_faults(FaultConfig {
        removed_companies: vec![a],
        extension_absent: vec![b],
        ..Default::default()
    });
    let (s, v) = get(
        &tok,
        &format!("{}/companies({a})/customers", sim.api_base()),
    )
    .await;
    assert_eq!(s, 400);
    assert_bc_error(&v, "Internal_CompanyNotFound");
    assert_eq!(
        get(
            &tok,
            &format!("{}/companies({b})/customers", sim.api_base())
        )
        .await
        .0,
        200
    );
    let ext = |c: uuid::Uuid| {
        format!(
            "{}/v2.0/{}/{}/api/ledgerlink/ar/v1.0/companies({c})/customerLedgerEntries",
            sim.base_url(),
            sim.tenant_id(),
            sim.environment()
        )
    };
    let (s, v) = get(&tok, &ext(b)).await;
    assert_eq!(s, 404);
    assert_bc_error(&v, "BadRequest_ResourceNotFound");
    sim.set_faults(FaultConfig::default());
    assert_eq!(get(&tok, &ext(b)).await.0, 200);
    sim.shutdown().await;
}
