//! Issue #15's hardening: bounded metric labels, slow and idle connections closed, a connection cap
//! answered with 503, every path id read like connection ids.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::TestApp;

async fn metrics(app: &TestApp) -> String {
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    r.text().await.unwrap()
}

/// The `ledgerlink_http_requests_total` series.
fn request_series(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("ledgerlink_http_requests_total{"))
        .map(|l| l.rsplit_once(' ').unwrap().0.to_owned())
        .collect()
}

#[tokio::test]
async fn invented_methods_and_unknown_paths_add_no_metric_series() {
    let app = TestApp::start().await;
    let send = |method: &str, path: &str| {
        app.client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(path),
            )
            .send()
    };
    send("M1", "/x").await.unwrap();
    send("GET", "/nothing/here").await.unwrap();
    metrics(&app).await;
    let before = request_series(&metrics(&app).await);
    for i in 0..20 {
        send(&format!("M{i}X"), &format!("/x{i}")).await.unwrap();
        send("GET", &format!("/nothing/{i}")).await.unwrap();
        send("DELETE", &format!("/v2/unknown/{i}")).await.unwrap();
    }
    let text = metrics(&app).await;
    let after = request_series(&text);
    assert!(
        !text.contains("method=\"M"),
        "invented methods are labelled other: {after:?}"
    );
    assert!(text.contains("method=\"other\""), "{after:?}");
    assert!(
        !text.contains("/nothing") && !text.contains("/x1"),
        "{after:?}"
    );
    let new: Vec<&String> = after.iter().filter(|s| !before.contains(s)).collect();
    // Only the DELETE on an unmatched path is a new combination; none per request.
    assert!(new.len() <= 1, "new series per request: {new:?}");
}

/// Reads until the server closes the connection; the time it took, or `None` if it stayed open.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let app = TestApp::start_with(|c| {
        c.header_read_timeout_secs = 1;
        c.idle_timeout_secs = 60;
    })
    .await;
    let mut stream = TcpStream::connect(app.running.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let took = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("a slowloris connection is closed");
    assert!(
        took >= Duration::from_millis(800),
        "not before the timeout: {took:?}"
    );

    // Trickling a header line now and then does not keep it open.
    let mut stream = TcpStream::connect(app.running.addr).await.unwrap();
    let start = Instant::now();
    stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let mut closed = false;
    for i in 0..20 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if stream
            .write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        let mut buf = [0u8; 64];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "trickled headers are cut off");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );

    // A connection that opens and sends nothing has the same time for its first request.
    let mut silent = TcpStream::connect(app.running.addr).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(5))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_and_a_busy_one_is_not() {
    let app = TestApp::start_with(|c| {
        c.header_read_timeout_secs = 10;
        c.idle_timeout_secs = 1;
    })
    .await;
    let mut stream = TcpStream::connect(app.running.addr).await.unwrap();
    for _ in 0..3 {
        // Requests 600 ms apart: each one restarts the idle clock.
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let took = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("an idle connection is closed");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn beyond_the_connection_cap_new_connections_get_503() {
    let app = TestApp::start_with(|c| c.max_connections = 2).await;
    let holders = [
        TcpStream::connect(app.running.addr).await.unwrap(),
        TcpStream::connect(app.running.addr).await.unwrap(),
    ];
    // The server accepts the holders first (it accepts in order).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    let r = fresh()
        .get(app.url("/v2/integrations/connections"))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "service_unavailable", "{body}");
    assert!(body["detail"].is_string());

    drop(holders);
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..40 {
        status = fresh()
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status,
        StatusCode::OK,
        "closed connections free their slots"
    );
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_finishes() {
    let app = TestApp::start().await;
    let mut idle = TcpStream::connect(app.running.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    assert!(idle.read(&mut buf).await.unwrap() > 0);
    let _silent = TcpStream::connect(app.running.addr).await.unwrap();
    let TestApp { running, .. } = app;
    tokio::time::timeout(Duration::from_secs(5), running.shutdown())
        .await
        .expect("shutdown does not wait for idle connections")
        .unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(1))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn ids_that_are_not_utf8_answer_json_404_on_every_route() {
    let app = TestApp::start().await;
    let conn = app.create_connection("ids").await;
    let cid = conn["id"].as_str().unwrap().to_owned();
    let mid = conn["models"][0]["id"].as_str().unwrap().to_owned();
    let doc = ledgerlink_api::openapi();
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        let params: Vec<&str> = template
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, _) in item.as_object().unwrap() {
            for bad in &params {
                let path = params.iter().fold(template.clone(), |p, name| {
                    let value = match *name {
                        _ if name == bad => "%FF".to_owned(),
                        "connection_id" => cid.clone(),
                        "model_id" => mid.clone(),
                        "model" => "invoices".to_owned(),
                        "sync_id" => "sync_00000000000000000000000000".to_owned(),
                        "key_id" => "key_00000000000000000000000000".to_owned(),
                        other => panic!("a test value for {{{other}}}"),
                    };
                    p.replace(&format!("{{{name}}}"), &value)
                });
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let body = (m != Method::GET && m != Method::DELETE).then_some("{}");
                let r = app.call(m.clone(), &path, body).await;
                assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {path}: {r:?}");
                assert_eq!(r.headers["content-type"], "application/json", "{m} {path}");
                assert!(r.json["code"].is_string(), "{m} {path}: {r:?}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 15, "every route with an id was tried: {checked}");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408() {
    let app = TestApp::start_with(|c| c.body_read_timeout_secs = 1).await;
    let mut stream = TcpStream::connect(app.running.addr).await.unwrap();
    let head = format!(
        "POST /v2/integrations/connections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":",
        app.key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let start = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => panic!("no answer within 5 s to a body that never completes"),
        }
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    let r = app.get("/v2/integrations/connections").await;
    assert_eq!(
        r.json.as_array().map(Vec::len),
        Some(0),
        "nothing was created"
    );
}
