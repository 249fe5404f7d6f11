//! Listing: newest first, cursor pages, provider filter, and a query count that does not grow.

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{TestApp, locs};

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a bare array")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn pages_walk_every_connection_once_newest_first() {
    let app = TestApp::start().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            app.create_connection(&format!("c{i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    created.reverse();
    let all = app.get("/v2/integrations/connections").await;
    assert_eq!(
        ids(&all.json),
        created,
        "default page holds all seven, newest first"
    );

    let mut seen = Vec::new();
    let mut path = "/v2/integrations/connections?limit=3".to_owned();
    loop {
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let page = ids(&r.json);
        assert!(page.len() <= 3);
        let Some(last) = page.last().cloned() else {
            break;
        };
        seen.extend(page);
        path = format!("/v2/integrations/connections?limit=3&starting_after={last}");
    }
    assert_eq!(
        seen, created,
        "pages cover every connection exactly once, in order"
    );

    // Deleting the cursor's connection does not break the walk.
    let cursor = created[2].clone();
    app.delete(&format!("/v2/integrations/connections/{cursor}"))
        .await;
    let r = app
        .get(&format!(
            "/v2/integrations/connections?limit=2&starting_after={cursor}"
        ))
        .await;
    assert_eq!(ids(&r.json), created[3..5].to_vec());
}

#[tokio::test]
async fn filter_by_provider_and_bad_limits() {
    let app = TestApp::start().await;
    app.create_connection("one").await;
    let r = app
        .get("/v2/integrations/connections?provider_name=ms-dynamics-bc")
        .await;
    assert_eq!(ids(&r.json).len(), 1);
    let r = app
        .get("/v2/integrations/connections?provider_name=bill")
        .await;
    assert_eq!(r.json, Value::Array(vec![]));
    for bad in ["0", "201", "-3", "ten", ""] {
        let r = app
            .get(&format!("/v2/integrations/connections?limit={bad}"))
            .await;
        assert_eq!(locs(&r), ["query.limit"], "limit={bad}");
    }
    let r = app.get("/v2/integrations/connections?limit=200").await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn listing_costs_the_same_number_of_queries_for_1_or_100_connections() {
    let app = TestApp::start().await;
    app.create_connection("first").await;
    let cost = |app: &TestApp| app.running.store.queries_executed();
    let before = cost(&app);
    let r = app.get("/v2/integrations/connections?limit=200").await;
    assert_eq!(ids(&r.json).len(), 1);
    let for_one = cost(&app) - before;
    for i in 0..99 {
        app.create_connection(&format!("c{i}")).await;
    }
    let before = cost(&app);
    let r = app.get("/v2/integrations/connections?limit=200").await;
    assert_eq!(ids(&r.json).len(), 100);
    assert!(
        r.json
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["models"].as_array().unwrap().len() == 7)
    );
    let for_hundred = cost(&app) - before;
    assert_eq!(
        for_one, for_hundred,
        "query count must not grow with the page"
    );
    assert!(
        for_one <= 4,
        "authentication, connections, models, last syncs: got {for_one}"
    );
}
