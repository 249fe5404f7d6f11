//! Bearer keys and tenant isolation.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::TestApp;

#[tokio::test]
async fn every_v2_route_needs_a_valid_key() {
    let app = TestApp::start().await;
    let c = app.create_connection("Mine").await;
    let one = format!("/v2/integrations/connections/{}", c["id"].as_str().unwrap());
    let routes = [
        (Method::GET, "/v2/integrations/providers".to_owned(), None),
        (Method::GET, "/v2/integrations/connections".to_owned(), None),
        (
            Method::POST,
            "/v2/integrations/connections".to_owned(),
            Some(r#"{"provider_name":"ms-dynamics-bc"}"#),
        ),
        (Method::GET, one.clone(), None),
        (Method::PATCH, one.clone(), Some(r#"{"name":"x"}"#)),
        (Method::DELETE, one.clone(), None),
    ];
    let wrong_but_well_formed = format!("llk_{}", "0".repeat(64));
    for (method, path, body) in &routes {
        for key in ["", "nonsense", wrong_but_well_formed.as_str()] {
            let r = app.call_as(key, method.clone(), path, *body).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {key:?}: {r:?}"
            );
            assert_eq!(r.json["code"], "unauthorized");
            assert!(
                r.headers.contains_key("www-authenticate"),
                "401 says how to authenticate"
            );
        }
    }
    // A scheme other than Bearer, and a key sent in the wrong case of the scheme, are refused/accepted
    // as RFC 7235 says (the scheme is case-insensitive).
    let r = app
        .client
        .get(app.url("/v2/integrations/connections"))
        .header("authorization", format!("Basic {}", app.key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .client
        .get(app.url("/v2/integrations/connections"))
        .header("authorization", format!("bearer {}", app.key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Nothing changed through all those refused calls.
    let got = app.get(&one).await;
    assert_eq!(got.json["name"], "Mine");
}

#[tokio::test]
async fn organizations_never_see_each_others_connections() {
    let app = TestApp::start().await;
    let ours = app.create_connection("Ours").await;
    let other_key = app.key_for_org("globex").await;
    let r = app
        .call_as(
            &other_key,
            Method::POST,
            "/v2/integrations/connections",
            Some(r#"{"provider_name":"ms-dynamics-bc","name":"Theirs"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let theirs = r.json;

    let ours_path = format!(
        "/v2/integrations/connections/{}",
        ours["id"].as_str().unwrap()
    );
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(r#"{"name":"hijacked"}"#)),
        (Method::DELETE, None),
    ] {
        let r = app
            .call_as(&other_key, method.clone(), &ours_path, body)
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} of another org's connection: {r:?}"
        );
    }
    let got = app.get(&ours_path).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(
        got.json["name"], "Ours",
        "untouched by the other organization"
    );

    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mine = app.get("/v2/integrations/connections").await;
    assert_eq!(ids(&mine.json), [ours["id"].as_str().unwrap()]);
    let r = app
        .call_as(
            &other_key,
            Method::GET,
            "/v2/integrations/connections",
            None,
        )
        .await;
    assert_eq!(ids(&r.json), [theirs["id"].as_str().unwrap()]);
    // A cursor from another organization does not leak anything either.
    let path = format!(
        "/v2/integrations/connections?starting_after={}",
        ours["id"].as_str().unwrap()
    );
    let r = app.call_as(&other_key, Method::GET, &path, None).await;
    assert!(
        ids(&r.json)
            .iter()
            .all(|id| id == theirs["id"].as_str().unwrap())
    );
}

#[tokio::test]
async fn keys_are_stored_only_as_hashes() {
    let app = TestApp::start().await;
    let key = app.key_for_org("acme").await;
    assert!(
        key.starts_with("llk_") && key.len() == 68,
        "256-bit key with a recognisable prefix"
    );
    assert_ne!(key, app.key);
    if crate::harness::postgres_server().is_none() {
        let db = std::fs::read(app.config.data_dir.join("ledgerlink.db")).unwrap();
        let wal = std::fs::read(app.config.data_dir.join("ledgerlink.db-wal")).unwrap_or_default();
        for k in [&key, &app.key] {
            let secret = &k.as_bytes()[10..];
            assert!(
                !db.windows(secret.len()).any(|w| w == secret),
                "key in the database file"
            );
            assert!(
                !wal.windows(secret.len()).any(|w| w == secret),
                "key in the WAL"
            );
        }
    }
}

/// Each organization has its own request budget: beyond it, 429 with `Retry-After`, before any work.
#[tokio::test]
async fn an_organization_over_its_request_budget_gets_429_and_others_do_not() {
    let app = TestApp::start_with(|c| c.tenant_requests_per_second = 2).await;
    let other = app.key_for_org("other").await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..6 {
        let r = app.get("/v2/integrations/connections").await;
        statuses.push(r.status.as_u16());
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
        }
    }
    // A burst of twice the rate, then refused (a request may trickle in as the bucket refills).
    assert_eq!(&statuses[..4], [200, 200, 200, 200], "{statuses:?}");
    let r = limited.expect("refused past the burst");
    assert_eq!(r.json["code"], "rate_limited", "{r:?}");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(retry, 1, "half a second at 2/s, rounded up");
    let r = app
        .call_as(&other, Method::GET, "/v2/integrations/connections", None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "another organization is not limited"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(
        app.get("/v2/integrations/connections").await.status,
        StatusCode::OK
    );
}
