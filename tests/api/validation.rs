//! Bad input of every kind gets a clear 4xx naming the problem, never a 500, and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::{TestApp, locs, reply};

const CREATE: &str = "/v2/integrations/connections";

#[tokio::test]
async fn malformed_json_and_wrong_shapes_are_422_with_locations() {
    let app = TestApp::start().await;
    let cases: &[(&str, &[&str])] = &[
        (r#"{"provider_name": "ms-dynamics-bc""#, &["body"]),
        ("not json at all", &["body"]),
        ("", &["body"]),
        ("[]", &["body"]),
        ("null", &["body"]),
        ("\"ms-dynamics-bc\"", &["body"]),
        ("{}", &["body.provider_name"]),
        (r#"{"provider_name": 7}"#, &["body.provider_name"]),
        (r#"{"provider_name": null}"#, &["body.provider_name"]),
        (
            r#"{"provider_name": "ms-dynamics-bc", "name": 5}"#,
            &["body.name"],
        ),
        (
            r#"{"provider_name": "ms-dynamics-bc", "name": ["a"]}"#,
            &["body.name"],
        ),
        (
            r#"{"provider_name": "ms-dynamics-bc", "is_on_premise": "yes"}"#,
            &["body.is_on_premise"],
        ),
        (
            r#"{"provider_name": "ms-dynamics-bc", "is_on_premise": null}"#,
            &["body.is_on_premise"],
        ),
        (
            r#"{"provider_name": "ms-dynamics-bc", "api_url": 1}"#,
            &["body.api_url"],
        ),
        (
            r#"{"provider_name": "ms-dynamics-bc", "colour": "red"}"#,
            &["body.colour"],
        ),
        (r#"{"provider_name": "nope"}"#, &["body.provider_name"]),
        (r#"{"provider_name": "bill"}"#, &["body.provider_name"]),
        (
            r#"{"provider_name": 7, "name": 5, "x": 1}"#,
            &["body.provider_name", "body.name", "body.x"],
        ),
    ];
    for (body, expected) in cases {
        let r = app.post(CREATE, body).await;
        // FastAPI puts the byte offset of a JSON syntax error after "body"; accept it as "body".
        let mut got: Vec<String> = locs(&r)
            .into_iter()
            .map(|l| match l.strip_prefix("body.") {
                Some(n) if n.bytes().all(|b| b.is_ascii_digit()) => "body".to_owned(),
                _ => l,
            })
            .collect();
        got.sort();
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "body {body:?}: {r:?}");
    }
    let unknown = app
        .post(
            CREATE,
            r#"{"provider_name": "ms-dynamics-bc", "colour": "red"}"#,
        )
        .await;
    assert_eq!(unknown.json["detail"][0]["type"], "extra_forbidden");
    let list = app.get(CREATE).await;
    assert_eq!(
        list.json,
        Value::Array(vec![]),
        "nothing was created by refused requests"
    );
}

#[tokio::test]
async fn names_are_bounded() {
    let app = TestApp::start().await;
    let long = "n".repeat(201);
    let r = app
        .post(
            CREATE,
            &format!(r#"{{"provider_name":"ms-dynamics-bc","name":"{long}"}}"#),
        )
        .await;
    assert_eq!(locs(&r), ["body.name"]);
    let ok = "é".repeat(200);
    let r = app
        .post(
            CREATE,
            &format!(r#"{{"provider_name":"ms-dynamics-bc","name":"{ok}"}}"#),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "200 characters (not bytes) are fine: {r:?}"
    );
    let r = app
        .post(
            CREATE,
            r#"{"provider_name":"ms-dynamics-bc","name":"bad\u0000name"}"#,
        )
        .await;
    assert_eq!(locs(&r), ["body.name"], "control characters are refused");
}

#[tokio::test]
async fn on_premise_needs_an_absolute_https_api_url() {
    let app = TestApp::start().await;
    let refused = [
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true}"#,
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":null}"#,
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":"http://bc.example.com/BC"}"#,
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":"/relative/path"}"#,
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":"javascript:alert(1)"}"#,
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":"file:///etc/passwd"}"#,
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":"https://user:pw@bc.example.com/"}"#,
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":"https:// spaces .com"}"#,
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":"https://bc.example.com/?q=1"}"#,
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":""}"#,
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":false,"api_url":"https://bc.example.com/"}"#,
        // Request forgery: metadata, private, loopback and link-local addresses are not servers we call.
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":"https://169.254.169.254/BC"}"#,
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":"https://10.0.0.5:7048/BC"}"#,
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":"https://127.0.0.1/BC"}"#,
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":"https://[::1]/BC"}"#,
        r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":"https://localhost/BC"}"#,
    ];
    for body in refused {
        let r = app.post(CREATE, body).await;
        assert_eq!(locs(&r), ["body.api_url"], "{body}: {r:?}");
    }
    let long = format!(
        r#"{{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":"https://bc.example.com/{}"}}"#,
        "a".repeat(3000)
    );
    assert_eq!(locs(&app.post(CREATE, &long).await), ["body.api_url"]);

    let allowed = TestApp::start_with(|c| c.allow_http_api_url = true).await;
    let r = allowed
        .post(CREATE, r#"{"provider_name":"ms-dynamics-bc","is_on_premise":true,"api_url":"http://bc.lab:7048/BC"}"#)
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "plain http allowed by configuration: {r:?}"
    );
}

#[tokio::test]
async fn oversized_and_mistyped_bodies() {
    let app = TestApp::start_with(|c| c.max_body_bytes = 4096).await;
    let huge = format!(
        r#"{{"provider_name":"ms-dynamics-bc","name":"{}"}}"#,
        "x".repeat(10_000)
    );
    let r = app.post(CREATE, &huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{r:?}");
    assert_eq!(r.json["code"], "payload_too_large");

    // A chunked body without Content-Length is cut off too (raw HTTP: no client helps here).
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(app.running.addr)
            .await
            .unwrap();
        let head = format!(
            "POST {CREATE} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
            app.key
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let chunk = format!("3e8\r\n{}\r\n", " ".repeat(1000));
        for _ in 0..100 {
            if tcp.write_all(chunk.as_bytes()).await.is_err() {
                break; // the server may close early, having answered
            }
        }
        let _ = tcp.write_all(b"0\r\n\r\n").await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tcp.read_to_end(&mut answer),
        )
        .await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    }

    let resp = app
        .client
        .post(app.url(CREATE))
        .bearer_auth(&app.key)
        .header("content-type", "text/plain")
        .body(r#"{"provider_name":"ms-dynamics-bc"}"#)
        .send()
        .await
        .unwrap();
    let r = reply(resp).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{r:?}");
    assert_eq!(r.json["code"], "unsupported_media_type");

    // application/json with a charset parameter is JSON.
    let resp = app
        .client
        .post(app.url(CREATE))
        .bearer_auth(&app.key)
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"provider_name":"ms-dynamics-bc"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn hostile_bytes_never_produce_a_500() {
    let app = TestApp::start().await;
    let c = app.create_connection("Target").await;
    let one = format!("{CREATE}/{}", c["id"].as_str().unwrap());
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bodies: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0xfd],
        b"{\"provider_name\": \"\xc3\x28\"}".to_vec(),
        deep.into_bytes(),
        br#"{"provider_name":"ms-dynamics-bc","name":"\ud800"}"#.to_vec(),
        br#"{"provider_name":"ms-dynamics-bc","provider_name":"bill"}"#.to_vec(),
        br#"{"provider_name":"ms-dynamics-bc","is_on_premise":1e999}"#.to_vec(),
        b"{\"a\":".repeat(5000),
    ];
    for body in bodies {
        for (method, path) in [(Method::POST, CREATE), (Method::PATCH, one.as_str())] {
            let resp = app
                .client
                .request(method.clone(), app.url(path))
                .bearer_auth(&app.key)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = resp.status();
            assert!(
                status.is_client_error(),
                "{method} {path} {:?} → {status}",
                String::from_utf8_lossy(&body[..body.len().min(40)])
            );
        }
    }
    let weird_paths = [
        "/v2/integrations/connections/%00",
        "/v2/integrations/connections/..%2F..%2Fetc%2Fpasswd",
        "/v2/integrations/connections/'%20OR%201=1--",
        &format!("/v2/integrations/connections/{}", "a".repeat(5000)),
        "/v2/integrations/connections?limit=0",
        "/v2/integrations/connections?limit=-1",
        "/v2/integrations/connections?limit=99999999999999999999",
        "/v2/integrations/connections?limit=abc",
        "/v2/integrations/connections?starting_after=%FF%FE",
        "/v2/integrations/connections?starting_after=conn_%00",
        "/v2/integrations/connections?provider_name=%00",
        "/v2/integrations/connections?provider_name=nope",
        "/v2/integrations/nothing-here",
    ];
    for path in weird_paths {
        let r = app.get(path).await;
        assert!(r.status.is_client_error(), "{path} → {r:?}");
        assert!(
            r.json["detail"].is_string() || r.json["detail"].is_array(),
            "{path} → {r:?}"
        );
    }
    let r = app.call(Method::PUT, CREATE, Some("{}")).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{r:?}");
    assert_eq!(app.get(&one).await.json["name"], "Target", "still intact");
}
