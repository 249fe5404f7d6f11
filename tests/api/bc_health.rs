//! Health tells the truth: each failure bc-sim can inject maps to its status, and recovery flips it
//! back to healthy. Also: tokens refresh ahead of expiry, once, however many callers need them.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::TestApp;

/// A server + bc-sim with one authorized, healthy cloud connection.
async fn healthy(tweak: impl FnOnce(&mut bc_sim::SimConfig)) -> (TestApp, String) {
    let app = TestApp::with_sim(tweak).await;
    let created = app.create_connection("Acme").await;
    let page = app.authorize(&created).await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    let id = created["id"].as_str().unwrap().to_owned();
    let c = app.settled(&id).await;
    assert_eq!(c["health"]["status_code"], "healthy", "{}", c["health"]);
    (app, id)
}

async fn check(app: &TestApp, id: &str) -> Value {
    let r = app
        .call(
            reqwest::Method::POST,
            &format!("/v2/integrations/connections/{id}/health-check"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.json
}

fn assert_health(c: &Value, status: &str, auth_required: bool) {
    let h = &c["health"];
    assert_eq!(h["status_code"], status, "{h}");
    assert_eq!(h["healthy"], status == "healthy");
    assert_eq!(c["is_healthy"], status == "healthy");
    assert_eq!(h["authentication_required"], auth_required, "{h}");
    assert!(h["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(
        h["suggested_resolution"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[tokio::test]
async fn revoked_consent_means_authentication_failed_until_reauthorized() {
    let (app, id) = healthy(|_| {}).await;
    let tenant = app.sim().tenant_id();
    app.sim().revoke_consent(tenant);
    app.sim().revoke_tokens();
    let c = check(&app, &id).await;
    assert_health(&c, "authentication_failed", true);
    assert!(
        c["authorization_url"].is_string(),
        "a way back in is offered"
    );

    app.sim().grant_consent(tenant);
    let page = app.authorize(&c).await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    let c = app.settled(&id).await;
    assert_health(&c, "healthy", false);
}

#[tokio::test]
async fn an_expired_refresh_token_means_authentication_failed() {
    let (app, id) = healthy(|s| {
        s.tokens.access_token = Duration::from_secs(2);
        s.tokens.refresh_token = Duration::from_secs(60);
    })
    .await;
    app.sim().advance_clock(Duration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(1100)).await; // past our refresh point (half of 2 s)
    let c = check(&app, &id).await;
    assert_health(&c, "authentication_failed", true);
    assert!(
        c["health"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid_grant")
            || c["health"]["message"].as_str().unwrap().contains("AADSTS"),
        "{}",
        c["health"]
    );
}

#[tokio::test]
async fn tokens_refresh_once_for_many_concurrent_callers_and_rotate() {
    let (app, id) = healthy(|s| s.tokens.access_token = Duration::from_secs(2)).await;
    let token_calls = |app: &TestApp| {
        app.sim()
            .request_counts()
            .get("POST /oauth2/v2.0/token")
            .copied()
            .unwrap_or(0)
    };
    let before = token_calls(&app);
    let version_before = app
        .running
        .store
        .get_secret(&id)
        .await
        .unwrap()
        .unwrap()
        .version;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let checks = (0..8).map(|_| check(&app, &id));
    for c in futures::future::join_all(checks).await {
        assert_health(&c, "healthy", false);
    }
    assert_eq!(
        token_calls(&app) - before,
        1,
        "one refresh for eight callers"
    );
    let secret = app.running.store.get_secret(&id).await.unwrap().unwrap();
    assert_eq!(
        secret.version,
        version_before + 1,
        "rotated tokens persisted once"
    );
    // The old refresh token is dead at the simulator; the new one works on the next refresh.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_health(&check(&app, &id).await, "healthy", false);
    assert_eq!(token_calls(&app) - before, 2);
}

#[tokio::test]
async fn missing_permission_then_recovery() {
    let (app, id) = healthy(|_| {}).await;
    app.sim().set_faults(bc_sim::FaultConfig {
        forbidden: true,
        ..Default::default()
    });
    assert_health(&check(&app, &id).await, "permission_denied", false);
    app.sim().set_faults(bc_sim::FaultConfig::default());
    assert_health(&check(&app, &id).await, "healthy", false);
}

#[tokio::test]
async fn a_removed_company_or_environment_is_not_found() {
    let (app, id) = healthy(|_| {}).await;
    let company = app.sim().company_ids()[0];
    app.sim().set_faults(bc_sim::FaultConfig {
        removed_companies: vec![company],
        ..Default::default()
    });
    let c = check(&app, &id).await;
    assert_health(&c, "not_found", false);
    app.sim().set_faults(bc_sim::FaultConfig::default());
    assert_health(&check(&app, &id).await, "healthy", false);

    let env = app.sim().environment();
    app.sim()
        .set_environment_removed(app.sim().tenant_id(), &env, true);
    assert_health(&check(&app, &id).await, "not_found", false);
    app.sim()
        .set_environment_removed(app.sim().tenant_id(), &env, false);
    assert_health(&check(&app, &id).await, "healthy", false);
}

#[tokio::test]
async fn persistent_throttling_is_rate_limited() {
    let (app, id) = healthy(|_| {}).await;
    app.sim().set_faults(bc_sim::FaultConfig {
        throttle_rate: 1.0,
        ..Default::default()
    });
    assert_health(&check(&app, &id).await, "rate_limited", false);
    app.sim().set_faults(bc_sim::FaultConfig::default());
    assert_health(&check(&app, &id).await, "healthy", false);
}

#[tokio::test]
async fn an_unreachable_host_is_unreachable() {
    let (mut app, id) = healthy(|_| {}).await;
    app.sim.take().unwrap().shutdown().await;
    assert_health(&check(&app, &id).await, "unreachable", false);
}

#[tokio::test]
async fn the_periodic_checker_notices_without_being_asked() {
    let (app, id) = healthy(|_| {}).await;
    app.sim().set_faults(bc_sim::FaultConfig {
        forbidden: true,
        ..Default::default()
    });
    let checked = app
        .running
        .engine
        .check_stale(chrono::Duration::zero(), 10)
        .await
        .unwrap();
    assert_eq!(checked, 1);
    let c = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json;
    assert_health(&c, "permission_denied", false);
}
