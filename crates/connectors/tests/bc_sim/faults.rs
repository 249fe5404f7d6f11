use bc_sim::{FaultConfig, LimitsConfig};
use ledgerlink_connectors::business_central::{BcConfig, BusinessCentral};
use ledgerlink_connectors::{
    Connector, ConnectorError, ErrorKind, PageRequest, Session, SsrfPolicy,
};

use crate::{authorize, cloud, config, connector, first_company, on_prem, sim};

async fn cloud_session(sim: &bc_sim::Sim, bc: &BusinessCentral) -> Session {
    let tokens = authorize(bc).await;
    cloud(sim, &tokens, Some(first_company(sim)))
}

fn customers() -> PageRequest {
    PageRequest {
        model: "customers".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn missing_permission_is_forbidden() {
    let sim = sim().await;
    let bc = connector(&sim);
    let session = cloud_session(&sim, &bc).await;
    sim.set_faults(FaultConfig {
        forbidden: true,
        ..Default::default()
    });
    let err = bc.health_check(&session).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    assert!(!err.is_retryable());
    sim.set_faults(FaultConfig::default());
    bc.health_check(&session).await.unwrap();
}

#[tokio::test]
async fn expired_tokens_are_unauthorized() {
    let sim = sim().await;
    let bc = connector(&sim);
    let session = cloud_session(&sim, &bc).await;
    sim.set_faults(FaultConfig {
        tokens_expired: true,
        ..Default::default()
    });
    let err = bc.fetch_page(&session, &customers()).await.unwrap_err();
    assert!(err.requires_reauthentication(), "{err}");
}

#[tokio::test]
async fn a_removed_company_is_not_found() {
    let sim = sim().await;
    let bc = connector(&sim);
    let session = cloud_session(&sim, &bc).await;
    sim.remove_company(sim.company_ids()[0]);
    let err = bc.health_check(&session).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(err.provider_code(), Some("Internal_CompanyNotFound"));
}

#[tokio::test]
async fn a_removed_environment_is_not_found_and_comes_back() {
    let sim = sim().await;
    let bc = connector(&sim);
    let session = cloud_session(&sim, &bc).await;
    sim.set_environment_removed(sim.tenant_id(), &sim.environment(), true);
    let err = bc.health_check(&session).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    sim.set_environment_removed(sim.tenant_id(), &sim.environment(), false);
    bc.health_check(&session).await.unwrap();
}

#[tokio::test]
async fn throttling_is_rate_limited() {
    let sim = sim().await;
    let bc = connector(&sim);
    let session = cloud_session(&sim, &bc).await;
    sim.set_faults(FaultConfig {
        throttle_rate: 1.0,
        ..Default::default()
    });
    let err = bc.fetch_page(&session, &customers()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn the_request_budget_is_rate_limited() {
    let sim = sim().await;
    let bc = connector(&sim);
    let session = cloud_session(&sim, &bc).await;
    sim.set_limits(LimitsConfig {
        requests_per_window: 2,
        ..Default::default()
    });
    let mut last = None;
    for _ in 0..4 {
        if let Err(e) = bc.fetch_page(&session, &customers()).await {
            last = Some(e);
            break;
        }
    }
    let err = last.expect("the budget runs out");
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let sim = sim().await;
    let bc = connector(&sim);
    let session = cloud_session(&sim, &bc).await;
    sim.set_faults(FaultConfig {
        error_5xx_rate: 1.0,
        ..Default::default()
    });
    for _ in 0..8 {
        let err = bc.fetch_page(&session, &customers()).await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Transient | ErrorKind::RateLimited),
            "{err}"
        );
        assert!(err.is_retryable());
    }
}

#[tokio::test]
async fn dropped_and_truncated_bodies_are_transient() {
    let sim = sim().await;
    let bc = connector(&sim);
    let session = cloud_session(&sim, &bc).await;
    for faults in [
        FaultConfig {
            drop_rate: 1.0,
            ..Default::default()
        },
        FaultConfig {
            truncate_rate: 1.0,
            ..Default::default()
        },
    ] {
        sim.set_faults(faults);
        let err = bc.fetch_page(&session, &customers()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    }
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let sim = sim().await;
    let bc = connector(&sim);
    let mut session = on_prem(&sim, None);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    session.target.api_url = Some(format!("http://127.0.0.1:{port}/BC").parse().unwrap());
    let err = bc.validate_credentials(&session).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
}

#[tokio::test]
async fn on_prem_urls_outside_the_allow_list_are_blocked() {
    let sim = sim().await;
    let bc = BusinessCentral::new(BcConfig {
        ssrf: SsrfPolicy::default().with_http(true),
        ..config(&sim)
    })
    .unwrap();
    let session = on_prem(&sim, None);
    let err = bc.validate_credentials(&session).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Blocked(_)), "{err}");
    let port = sim.addr().port();
    for url in [
        format!("http://localhost:{port}/BC"),
        format!("http://127.0.0.1:{port}/BC"),
        format!("http://[::ffff:127.0.0.1]:{port}/BC"),
        format!("http://0x7f.1:{port}/BC"),
    ] {
        let err = bc.check_api_url(&url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Blocked, "{url}: {err}");
        let mut s = session.clone();
        s.target.api_url = Some(url.parse().unwrap());
        let err = bc.discover(&s).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Blocked, "{url}: {err}");
    }
    // https only unless http is allowed.
    let strict = BusinessCentral::new(BcConfig {
        ssrf: SsrfPolicy::default().allow("127.0.0.1"),
        ..config(&sim)
    })
    .unwrap();
    assert!(
        strict
            .check_api_url(&format!("http://127.0.0.1:{port}/BC"))
            .await
            .is_err()
    );
    // Allow-listed: accepted and normalised (a multitenant server's tenant kept).
    let ok = connector(&sim)
        .check_api_url(&format!("http://127.0.0.1:{port}/BC/api/v2.0/?tenant=t1"))
        .await
        .unwrap();
    assert_eq!(ok.as_str(), format!("http://127.0.0.1:{port}/BC?tenant=t1"));
    let err = connector(&sim)
        .check_api_url(&format!("http://127.0.0.1:{port}/BC/?x=1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotConfigured, "{err}");
}

/// A host name from /etc/hosts that maps to a loopback address and is not refused by its spelling
/// (the machine's own host name usually is one).
fn loopback_alias() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    hosts.lines().find_map(|line| {
        let mut words = line.split('#').next()?.split_whitespace();
        let addr: std::net::IpAddr = words.next()?.parse().ok()?;
        let name = words.find(|w| !w.contains("localhost") && !w.ends_with(".internal"))?;
        (addr.is_loopback() && addr.is_ipv4()).then(|| name.to_owned())
    })
}

#[tokio::test]
async fn names_resolving_to_refused_addresses_never_get_a_connection() {
    let sim = sim().await;
    let port = sim.addr().port();
    let mut session = on_prem(&sim, None);
    // An allow-listed *name* goes through wherever it resolves.
    let by_name = BusinessCentral::new(BcConfig {
        ssrf: SsrfPolicy::default().with_http(true).allow("localhost"),
        ..config(&sim)
    })
    .unwrap();
    session.target.api_url = Some(format!("http://localhost:{port}/BC").parse().unwrap());
    by_name.validate_credentials(&session).await.unwrap();
    // A name that passes the spelling check but resolves to loopback is refused by the resolver the
    // HTTP client connects through.
    let alias = loopback_alias().expect("/etc/hosts has a loopback alias (the host name)");
    let guarded = BusinessCentral::new(BcConfig {
        ssrf: SsrfPolicy::default().with_http(true),
        ..config(&sim)
    })
    .unwrap();
    session.target.api_url = Some(format!("http://{alias}:{port}/BC").parse().unwrap());
    let err = guarded.validate_credentials(&session).await.unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::Blocked(ledgerlink_connectors::SsrfError::Address { .. })
        ),
        "{alias}: {err:?}"
    );
    assert_eq!(
        sim.request_counts().values().sum::<u64>(),
        1,
        "only the allowed call reached BC"
    );
}

#[tokio::test]
async fn slow_answers_time_out_as_transient() {
    let sim = sim().await;
    let mut cfg = config(&sim);
    cfg.http.request_timeout = std::time::Duration::from_millis(300);
    let bc = BusinessCentral::new(cfg).unwrap();
    let session = cloud_session(&sim, &bc).await;
    sim.set_faults(FaultConfig {
        slow_rate: 1.0,
        slow_ms: 3_000,
        ..Default::default()
    });
    let err = bc.fetch_page(&session, &customers()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    // A page read as a stream is timed per wait for BC, and the first wait times out the same way.
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let started = std::time::Instant::now();
    let err = bc
        .stream_page(&session, &customers(), &tx)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[tokio::test]
async fn a_long_queue_is_rate_limited_with_retry_after() {
    let sim = sim().await;
    let bc = connector(&sim);
    let session = cloud_session(&sim, &bc).await;
    sim.set_limits(LimitsConfig {
        max_concurrent: 1,
        queue_timeout_ms: 200,
        ..Default::default()
    });
    sim.pause();
    let held = {
        let (bc, session) = (bc.clone(), session.clone());
        tokio::spawn(async move { bc.fetch_page(&session, &customers()).await })
    };
    for waited in 0.. {
        if sim.limit_stats().values().map(|s| s.running).sum::<usize>() > 0 {
            break;
        }
        assert!(waited < 500, "the first request never got admitted");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let err = bc.fetch_page(&session, &customers()).await.unwrap_err();
    sim.resume();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(30)));
    held.await.unwrap().unwrap();
}

/// The request timeout counts the waits for Business Central, not the time the reader waits for
/// its writer (a store committing a chunk): a page whose records are taken slowly still completes.
#[tokio::test]
async fn a_streamed_page_waits_for_a_slow_writer_beyond_the_request_timeout() {
    let sim = crate::sim_with(bc_sim::SimConfig {
        data: bc_sim::DataConfig {
            customers: 400,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let mut cfg = config(&sim);
    cfg.http.request_timeout = std::time::Duration::from_millis(400);
    let bc = BusinessCentral::new(cfg).unwrap();
    let session = cloud_session(&sim, &bc).await;
    let request = PageRequest {
        page_size: Some(1_000),
        ..customers()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let slow_writer = tokio::spawn(async move {
        let mut records = 0;
        while let Some(event) = rx.recv().await {
            if let ledgerlink_connectors::PageEvent::Records(batch) = event {
                records += batch.len();
            }
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        }
        records
    });
    let started = std::time::Instant::now();
    let end = bc.stream_page(&session, &request, &tx).await;
    drop(tx);
    let records = slow_writer.await.unwrap();
    assert!(end.is_ok(), "{:?}", end.err());
    assert!(
        started.elapsed() > std::time::Duration::from_millis(400),
        "the writer held the reader longer than the request timeout"
    );
    assert_eq!(records, 400, "every record arrived");
}
