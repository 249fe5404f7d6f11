//! On-premises server URLs as admins paste them: Microsoft's documented API URL is stored as the
//! instance root, a multitenant server's `?tenant=` is kept, anything else is refused, and a URL that
//! answers but is not Business Central is named as such when credentials are checked.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, locs};

/// The simulator's on-prem server instance root (`http://127.0.0.1:<port>/BC`).
fn instance_root(app: &TestApp) -> String {
    let base = app.sim().onprem_api_base().unwrap();
    base.strip_suffix("/api/v2.0").unwrap().to_owned()
}

async fn create(app: &TestApp, api_url: &str) -> crate::harness::Reply {
    let body = json!({"provider_name": "ms-dynamics-bc", "name": "On-prem",
        "is_on_premise": true, "api_url": api_url});
    app.post("/v2/integrations/connections", &body.to_string())
        .await
}

fn msg(r: &crate::harness::Reply) -> String {
    r.json["detail"][0]["msg"].as_str().unwrap().to_owned()
}

async fn put_credentials(app: &TestApp, id: &str) -> crate::harness::Reply {
    let (user, key) = app.sim().onprem_credentials().unwrap();
    let body = json!({"username": user, "web_service_access_key": key}).to_string();
    let path = format!("/v2/integrations/connections/{id}/credentials");
    app.call(Method::PUT, &path, Some(&body)).await
}

#[tokio::test]
async fn the_documented_api_url_is_stored_as_the_instance_root_and_works() {
    let app = TestApp::with_sim(|_| {}).await;
    let root = instance_root(&app);
    let r = create(&app, &format!("{root}/api/v2.0/")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.json["api_url"], json!(root), "normalised at create");
    let id = r.json["id"].as_str().unwrap().to_owned();

    // Requests go to {root}/api/v2.0/…, not …/api/v2.0/api/v2.0/…: the credentials check passes and
    // setup completes.
    let r = put_credentials(&app, &id).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let c = app.settled(&id).await;
    assert_eq!(c["health"]["status_code"], "healthy", "{}", c["health"]);

    let path = format!("/v2/integrations/connections/{id}");
    for (given, stored) in [
        (format!("{root}/API/v2.0"), root.clone()),
        (
            format!("{root}/api/v2.0?tenant=x"),
            format!("{root}?tenant=x"),
        ),
        (format!("{root}/?tenant=x"), format!("{root}?tenant=x")),
    ] {
        let r = app
            .patch(&path, &json!({"api_url": given}).to_string())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{given}: {r:?}");
        assert_eq!(
            r.json["api_url"],
            json!(stored),
            "normalised at PATCH: {given}"
        );
        let stored_now = app.get(&path).await.json;
        assert_eq!(stored_now["api_url"], json!(stored), "{given}");
    }
}

#[tokio::test]
async fn other_queries_and_urls_without_a_host_are_refused() {
    let app = TestApp::with_sim(|_| {}).await;
    let root = instance_root(&app);
    for bad in [
        format!("{root}?foo=1"),
        format!("{root}/api/v2.0?tenant=x&foo=1"),
        "http:///BC".to_owned(),
        "http:///BC/api/v2.0".to_owned(),
    ] {
        let r = create(&app, &bad).await;
        assert_eq!(locs(&r), ["body.api_url"], "{bad}: {r:?}");
    }
    let r = create(&app, &format!("{root}?foo=1")).await;
    assert!(msg(&r).contains("?tenant=<tenant id>"), "{}", msg(&r));
    let r = create(&app, "http:///BC").await;
    assert!(msg(&r).contains("host"), "{}", msg(&r));
    assert_eq!(
        app.get("/v2/integrations/connections").await.json,
        json!([])
    );

    let r = create(&app, &root).await;
    let path = format!(
        "/v2/integrations/connections/{}",
        r.json["id"].as_str().unwrap()
    );
    for bad in [format!("{root}?foo=1"), "http:///BC".to_owned()] {
        let r = app.patch(&path, &json!({"api_url": bad}).to_string()).await;
        assert_eq!(locs(&r), ["body.api_url"], "{bad}: {r:?}");
    }
    assert_eq!(
        app.get(&path).await.json["api_url"],
        json!(root),
        "unchanged"
    );
}

/// A loopback web server that answers every request with one HTML page, as a misconfigured reverse
/// proxy or the wrong port would.
async fn html_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf).await;
            let page = "<html><body>IIS Windows Server</body></html>";
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn credentials_for_a_url_that_is_not_business_central_are_refused_in_words() {
    let app = TestApp::with_sim(|_| {}).await;
    let sim = app.sim().base_url();
    let not_bc = [
        // BC's own server, but not an instance: "Resource not found for the segment …".
        format!("{sim}/BC/odata"),
        format!("{sim}/nothing-here"),
        // Something else entirely.
        format!("{}/BC", html_server().await),
    ];
    for api_url in not_bc {
        let r = create(&app, &api_url).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        let id = r.json["id"].as_str().unwrap().to_owned();
        let r = put_credentials(&app, &id).await;
        assert_eq!(locs(&r), ["api_url"], "{api_url}: {r:?}");
        assert_eq!(
            msg(&r),
            format!(
                "{api_url} does not look like a Business Central API root (it serves no \
                 api/v2.0/companies); expected the URL of the server instance, like \
                 https://server:7048/BC"
            )
        );
        let c: Value = app
            .get(&format!("/v2/integrations/connections/{id}"))
            .await
            .json;
        assert_eq!(c["is_authentication_pending"], true, "nothing stored");
    }
}
