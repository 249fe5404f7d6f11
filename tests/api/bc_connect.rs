//! Connecting Business Central against bc-sim over real HTTP: OAuth through the callback, setup,
//! on-premises credentials, choices, secrets at rest, disconnect.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestApp, locs, postgres_server};

fn id(c: &Value) -> String {
    c["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_cloud_connection_goes_from_consent_to_healthy() {
    let app = TestApp::with_sim(|_| {}).await;
    let created = app.create_connection("Acme").await;
    assert_eq!(created["health"]["status_code"], "authentication_pending");

    let page = app.authorize(&created).await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    assert!(page.text.contains("Connected"), "{}", page.text);

    let c = app.settled(&id(&created)).await;
    assert_eq!(c["id"], created["id"]);
    assert_eq!(c["is_authentication_pending"], false);
    assert_eq!(c["is_running_setup"], false);
    assert_eq!(c["tenant_id"], app.sim().tenant_id().to_string());
    assert_eq!(c["environment"], app.sim().environment());
    assert_eq!(c["company"], app.sim().company_ids()[0].to_string());
    assert!(c["company_name"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(c["is_bc_extension_installed"], true);
    assert_eq!(c["missing_settings"], json!([]));
    assert_eq!(c["requires_setup"], false);
    assert_eq!(c["is_configured"], true);
    assert_eq!(c["health"]["status_code"], "healthy", "{}", c["health"]);
    assert_eq!(c["is_healthy"], true);
    let ledger = c["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "customer_ledger_entries")
        .unwrap();
    assert_eq!(ledger["is_read_supported"], true, "the extension answered");
    assert_eq!(ledger["is_read_enabled"], true);
}

#[tokio::test]
async fn replayed_forged_and_foreign_states_change_nothing() {
    let app = TestApp::with_sim(|_| {}).await;
    let created = app.create_connection("Acme").await;
    // Capture the callback URL the simulator redirects to, without following it.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .get(created["authorization_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let callback = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.starts_with(&app.running.url()), "{callback}");

    let ok = crate::harness::reply(reqwest::get(&callback).await.unwrap()).await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
    let after_first = app.settled(&id(&created)).await;
    assert_eq!(after_first["health"]["status_code"], "healthy");

    let replay = crate::harness::reply(reqwest::get(&callback).await.unwrap()).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{replay:?}");
    assert!(replay.text.contains("already used"), "{}", replay.text);

    let mut forged = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = forged.query_pairs().into_owned().collect();
    forged.query_pairs_mut().clear();
    for (k, v) in pairs {
        let v = if k == "state" {
            format!("{}x", &v[..v.len() - 1])
        } else {
            v
        };
        forged.query_pairs_mut().append_pair(&k, &v);
    }
    let r = crate::harness::reply(reqwest::get(forged.as_str()).await.unwrap()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("invalid state"), "{}", r.text);

    for query in [
        "",
        "?code=abc",
        "?state=",
        "?error=access_denied&error_description=no&state=zzz",
    ] {
        let r = crate::harness::reply(
            reqwest::get(app.url(&format!("/v2/integrations/oauth/callback{query}")))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {r:?}");
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    let unchanged = app.settled(&id(&created)).await;
    assert_eq!(
        unchanged["modified_at"], after_first["modified_at"],
        "nothing changed"
    );
}

#[tokio::test]
async fn declined_consent_leaves_the_connection_pending() {
    let app = TestApp::with_sim(|_| {}).await;
    let created = app.create_connection("Acme").await;
    let url = url::Url::parse(created["authorization_url"].as_str().unwrap()).unwrap();
    let state: String = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let query = format!(
        "/v2/integrations/oauth/callback?error=access_denied&error_description=AADSTS65004%3A+declined&state={}",
        urlencode(&state)
    );
    let r = crate::harness::reply(reqwest::get(app.url(&query)).await.unwrap()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    assert!(r.text.contains("not granted"), "{}", r.text);
    let c = app.settled(&id(&created)).await;
    assert_eq!(c["is_authentication_pending"], true);
    assert_eq!(c["health"]["status_code"], "authentication_pending");
    // A new URL still works afterwards.
    let page = app.authorize(&c).await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn several_companies_need_a_choice_validated_against_discovery() {
    let app = TestApp::with_sim(|s| s.data.companies = 2).await;
    let created = app.create_connection("Two companies").await;
    app.authorize(&created).await;
    let c = app.settled(&id(&created)).await;
    assert_eq!(c["missing_settings"], json!(["company"]));
    assert_eq!(c["requires_setup"], true);
    assert_eq!(c["is_configured"], false);
    assert_eq!(c["health"]["status_code"], "missing_settings");
    let companies: Vec<String> = app
        .sim()
        .company_ids()
        .iter()
        .map(|u| u.to_string())
        .collect();
    for company in &companies {
        assert!(
            c["health"]["message"]
                .as_str()
                .unwrap()
                .contains(company.as_str()),
            "the choices are named"
        );
    }

    let path = format!("/v2/integrations/connections/{}", id(&c));
    let r = app
        .patch(
            &path,
            r#"{"company":"11111111-2222-3333-4444-555555555555"}"#,
        )
        .await;
    assert_eq!(locs(&r), ["body.company"]);
    let msg = r.json["detail"][0]["msg"].as_str().unwrap();
    assert!(
        companies.iter().all(|c| msg.contains(c.as_str())),
        "422 lists the valid ones: {msg}"
    );
    let r = app.patch(&path, r#"{"environment":"Nowhere"}"#).await;
    assert_eq!(locs(&r), ["body.environment"]);
    assert!(
        r.json["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains(&app.sim().environment())
    );

    let r = app
        .patch(&path, &json!({"company": companies[1]}).to_string())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.json["is_running_setup"], true);
    let c = app.settled(&id(&c)).await;
    assert_eq!(c["company"], companies[1]);
    assert!(c["company_name"].is_string());
    assert_eq!(c["is_configured"], true);
    assert_eq!(c["health"]["status_code"], "healthy");
}

#[tokio::test]
async fn reauthorizing_keeps_the_connection_id() {
    let app = TestApp::with_sim(|_| {}).await;
    let created = app.create_connection("Acme").await;
    app.authorize(&created).await;
    let first = app.settled(&id(&created)).await;
    let page = app.authorize(&first).await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    let again = app.settled(&id(&created)).await;
    assert_eq!(again["id"], created["id"]);
    assert_eq!(again["health"]["status_code"], "healthy");
    let list = app.get("/v2/integrations/connections").await;
    assert_eq!(
        list.json.as_array().unwrap().len(),
        1,
        "no duplicate connection"
    );
}

fn onprem_url(app: &TestApp) -> String {
    app.sim()
        .onprem_api_base()
        .unwrap()
        .trim_end_matches("/api/v2.0")
        .to_owned()
}

#[tokio::test]
async fn on_premise_credentials_are_checked_live_then_stored_sealed() {
    let app = TestApp::with_sim(|_| {}).await;
    let body = json!({"provider_name": "ms-dynamics-bc", "name": "On-prem", "is_on_premise": true, "api_url": onprem_url(&app)});
    let r = app
        .post("/v2/integrations/connections", &body.to_string())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let c = r.json;
    assert_eq!(c["authorization_url"], Value::Null);
    let path = format!("/v2/integrations/connections/{}/credentials", id(&c));
    let (user, key) = app.sim().onprem_credentials().unwrap();

    let r = app
        .call(
            reqwest::Method::PUT,
            &path,
            Some(&json!({"username": user, "web_service_access_key": "wrong"}).to_string()),
        )
        .await;
    assert_eq!(
        locs(&r),
        ["body.web_service_access_key"],
        "refused by the server"
    );
    let r = app
        .call(reqwest::Method::PUT, &path, Some(r#"{"username":"u"}"#))
        .await;
    assert_eq!(locs(&r), ["body.web_service_access_key"]);
    let r = app
        .call(
            reqwest::Method::PUT,
            &path,
            Some(r#"{"username":"u","web_service_access_key":"k","password":"p"}"#),
        )
        .await;
    assert_eq!(locs(&r), ["body.password"]);
    let still = app.settled(&id(&c)).await;
    assert_eq!(
        still["is_authentication_pending"], true,
        "nothing accepted yet"
    );
    assert!(
        app.running
            .store
            .get_secret(&id(&c))
            .await
            .unwrap()
            .is_none()
    );

    let r = app
        .call(
            reqwest::Method::PUT,
            &path,
            Some(&json!({"username": user, "web_service_access_key": key}).to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert!(!r.text.contains(&key), "the key is never returned");
    let c = app.settled(&id(&c)).await;
    assert_eq!(c["is_authentication_pending"], false);
    assert_eq!(c["company"], app.sim().onprem_company_ids()[0].to_string());
    assert_eq!(
        c["environment"],
        Value::Null,
        "on-premises has no environments"
    );
    assert_eq!(c["health"]["status_code"], "healthy", "{}", c["health"]);

    let secret = app
        .running
        .store
        .get_secret(&id(&c))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(secret.kind, "basic");
    assert!(
        !contains(&secret.sealed, key.as_bytes()),
        "sealed, not plaintext"
    );
    assert_no_plaintext(&app, &[key.as_bytes(), b"eyJ"]).await;

    // A new server URL drops the credentials: they are never sent to another host.
    let other = onprem_url(&app).replace("/BC", "/OTHER");
    let r = app
        .patch(
            &format!("/v2/integrations/connections/{}", id(&c)),
            &json!({"api_url": other}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.json["is_authentication_pending"], true);
    assert_eq!(r.json["health"]["status_code"], "authentication_pending");
    assert!(
        app.running
            .store
            .get_secret(&id(&c))
            .await
            .unwrap()
            .is_none(),
        "credentials forgotten"
    );

    // Credentials for a cloud connection make no sense.
    let cloud = app.create_connection("Cloud").await;
    let r = app
        .call(
            reqwest::Method::PUT,
            &format!("/v2/integrations/connections/{}/credentials", id(&cloud)),
            Some(r#"{"username":"u","web_service_access_key":"k"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
}

#[tokio::test]
async fn on_premise_urls_are_guarded_against_request_forgery() {
    // Loopback is not allow-listed here: the simulator's on-prem URL is refused before any call.
    let app = TestApp::with_sim_and(|_| {}, |c| c.allowed_hosts.clear()).await;
    let body = json!({"provider_name": "ms-dynamics-bc", "is_on_premise": true, "api_url": onprem_url(&app)});
    let r = app
        .post("/v2/integrations/connections", &body.to_string())
        .await;
    assert_eq!(locs(&r), ["body.api_url"], "refused at creation: {r:?}");
    assert!(
        r.json["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("not an allowed address")
    );
    assert_eq!(
        app.get("/v2/integrations/connections").await.json,
        json!([])
    );
    assert_eq!(
        app.sim().request_counts().values().sum::<u64>(),
        0,
        "no request reached the simulator"
    );
}

#[tokio::test]
async fn tokens_are_sealed_at_rest_and_deleted_with_the_connection() {
    let app = TestApp::with_sim(|_| {}).await;
    let created = app.create_connection("Acme").await;
    app.authorize(&created).await;
    let c = app.settled(&id(&created)).await;
    assert_eq!(c["health"]["status_code"], "healthy");
    let secret = app
        .running
        .store
        .get_secret(&id(&c))
        .await
        .unwrap()
        .expect("tokens stored");
    assert_eq!(secret.kind, "oauth");
    // Access tokens are JWTs ("eyJ…"); the client secret must not be anywhere either.
    assert_no_plaintext(&app, &[b"eyJ", app.sim().client_secret().as_bytes()]).await;

    let r = app
        .delete(&format!("/v2/integrations/connections/{}", id(&c)))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(
        app.running
            .store
            .get_secret(&id(&c))
            .await
            .unwrap()
            .is_none(),
        "credentials deleted"
    );
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Scans the whole database (SQLite file and WAL, or every text/bytea value on Postgres) for secrets.
async fn assert_no_plaintext(app: &TestApp, secrets: &[&[u8]]) {
    if let Some(pg) = postgres_server() {
        let _ = pg;
        let url = app
            .config
            .database_url
            .as_ref()
            .map(|u| secrecy::ExposeSecret::expose_secret(u).to_owned())
            .unwrap();
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        let dump: Vec<(String,)> = sqlx::query_as(
            "SELECT row_to_json(t)::text FROM (SELECT * FROM connections) t \
             UNION ALL SELECT row_to_json(t)::text FROM (SELECT connection_id, kind, encode(sealed, 'escape') AS sealed FROM connection_secrets) t \
             UNION ALL SELECT row_to_json(t)::text FROM (SELECT * FROM api_keys) t",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let all: String = dump.into_iter().map(|(s,)| s).collect();
        for s in secrets {
            assert!(!contains(all.as_bytes(), s), "plaintext secret in Postgres");
        }
    } else {
        let dir = &app.config.data_dir;
        for file in ["ledgerlink.db", "ledgerlink.db-wal"] {
            let bytes = std::fs::read(dir.join(file)).unwrap_or_default();
            for s in secrets {
                assert!(!contains(&bytes, s), "plaintext secret in {file}");
            }
        }
    }
}
