//! The hosted connect page in a real browser (headless Chromium through WebDriver), against bc-sim:
//! the cloud path and the on-premises path to a connected connection whose first sync is done, and
//! the error paths (expired link, consent refused, a wrong key). Screenshots of every step land in
//! `target/screenshots/<test>/`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::webdriver::Browser;

/// A server with bc-sim whose workers run setup and syncs by themselves, as in production.
async fn app_with(tweak: impl FnOnce(&mut bc_sim::SimConfig)) -> TestApp {
    TestApp::with_sim_and(
        |s| {
            s.data.companies = 2;
            tweak(s)
        },
        |c| c.workers = 2,
    )
    .await
}

async fn connect_link(app: &TestApp, id: &str) -> String {
    let r = app
        .post(
            &format!("/v2/integrations/connections/{id}/connect-link"),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.json["url"].as_str().unwrap().to_owned()
}

async fn brand(app: &TestApp) {
    let r = app
        .patch(
            "/v2/integrations/branding",
            &json!({"name": "Acme AR", "color": "#0a7d5a"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

/// Every form field has a label a screen reader announces.
async fn assert_every_field_is_labelled(b: &Browser) {
    let labelled = b
        .eval(
            "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]\
             .every(e => e.labels && e.labels.length > 0)",
        )
        .await;
    assert_eq!(labelled, Value::Bool(true));
}

/// From the company choice to the end of the first sync, then checked through the API.
async fn choose_company_and_watch_the_first_sync(app: &TestApp, b: &mut Browser, id: &str) {
    b.wait_text("h1", "Choose the company").await;
    assert_every_field_is_labelled(b).await;
    b.screenshot("choose-company").await;
    b.click("label[for=company-0]").await;
    b.click("#choose").await;
    b.wait_for("table").await;
    b.screenshot("first-sync").await;
    let done = b.wait_text("#finished", "first sync is finished").await;
    assert!(done.contains("connected"), "{done}");
    let table = b.wait_text("table", "Invoices").await;
    assert!(table.contains("Done"), "{table}");
    b.screenshot("done").await;

    let c = app.get(&format!("/v2/integrations/connections/{id}")).await;
    assert_eq!(c.json["health"]["status_code"], "healthy", "{:?}", c);
    assert_eq!(c.json["is_configured"], true);
    assert!(c.json["company"].is_string(), "{:?}", c);
    let name = c.json["company_name"].as_str().unwrap().to_owned();
    assert!(done.contains(&name), "the page names the company: {done}");
    let feed = app
        .get(&format!(
            "/v2/integrations/connections/{id}/records/invoices?limit=5"
        ))
        .await;
    assert!(
        feed.json["data"].as_array().is_some_and(|d| !d.is_empty()),
        "invoices synced: {feed:?}"
    );
    // The page's counts are the syncs' progress, as the API reports it.
    let syncs = app
        .get(&format!("/v2/integrations/connections/{id}/syncs"))
        .await;
    let records: u64 = syncs
        .json
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "complete")
        .filter_map(|s| s["progress"]["records"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(records > 0, "{syncs:?}");
}

#[tokio::test]
async fn a_finance_admin_connects_cloud_business_central_in_a_browser() {
    let app = app_with(|s| {
        s.tenants[0].environments.push(bc_sim::EnvironmentConfig {
            name: "Sandbox".into(),
            kind: "Sandbox".into(),
        })
    })
    .await;
    brand(&app).await;
    let created = app.create_connection("Acme BC").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let url = connect_link(&app, &id).await;

    let mut b = Browser::start("connect_cloud", 1200, 900).await;
    b.goto(&url).await;
    b.wait_text(".brand", "Acme AR").await;
    let intro = b.wait_text(".card", "Sign in with Microsoft").await;
    assert!(intro.contains("Acme AR asks to read"), "{intro}");
    assert!(
        !b.url().await.contains(url.rsplit('/').next().unwrap()),
        "the token leaves the address bar"
    );
    b.screenshot("sign-in").await;
    // Off to (simulated) Microsoft, consent, and back to the page — not to the one-line page.
    b.click("#sign-in").await;
    b.wait_text(".note", "Signed in with Microsoft").await;
    assert!(b.url().await.contains("/connect?signin=ok"));
    // Two environments: choose one, then its company.
    b.wait_text("h1", "Choose the environment").await;
    b.wait_text("fieldset", "Sandbox").await;
    assert_every_field_is_labelled(&b).await;
    b.screenshot("choose-environment").await;
    b.click("label[for=environment-0]").await;
    b.click("#choose").await;
    choose_company_and_watch_the_first_sync(&app, &mut b, &id).await;
    b.quit().await;
}

#[tokio::test]
async fn a_finance_admin_connects_on_premises_business_central_on_a_phone() {
    let app = app_with(|_| {}).await;
    let api_url = app.sim().onprem_api_base().unwrap();
    let body = json!({"provider_name": "ms-dynamics-bc", "name": "Acme on-prem",
        "is_on_premise": true, "api_url": api_url});
    let created = app
        .post("/v2/integrations/connections", &body.to_string())
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let id = created.json["id"].as_str().unwrap().to_owned();
    let (user, key) = app.sim().onprem_credentials().unwrap();
    let url = connect_link(&app, &id).await;

    let mut b = Browser::start("connect_on_premises", 390, 844).await;
    b.goto(&url).await;
    b.wait_for("#api_url").await;
    let prefilled = b.property("#api_url", "value").await;
    assert!(
        prefilled
            .as_str()
            .unwrap()
            .starts_with(&app.sim().base_url()),
        "{prefilled}"
    );
    // Fits a phone: nothing wider than the screen.
    let fits = b
        .eval("return document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(fits, Value::Bool(true));
    assert_every_field_is_labelled(&b).await;
    b.screenshot("credentials").await;

    // A wrong key: refused in words, the key not echoed, the field marked.
    b.type_into("#username", &user).await;
    b.type_into("#key", "not-the-key").await;
    b.click("#connect").await;
    let alert = b.wait_text("[role=alert]", "did not accept").await;
    assert!(alert.contains("Web Service Access Key"), "{alert}");
    assert_eq!(b.property("#key", "value").await, json!(""));
    assert_eq!(b.property("#username", "value").await, json!(user));
    assert!(!b.source().await.contains("not-the-key"));
    assert_eq!(
        b.property("#key", "ariaInvalid").await,
        json!("true"),
        "the field with the problem is marked"
    );
    b.screenshot("wrong-key").await;

    // The right key, sent from the keyboard (Enter submits).
    b.type_into("#key", &format!("{key}\u{E007}")).await;
    choose_company_and_watch_the_first_sync(&app, &mut b, &id).await;
    b.quit().await;
}

#[tokio::test]
async fn an_expired_link_and_a_refused_consent_say_what_to_do() {
    let app = app_with(|s| s.user.auto_consent = false).await;
    app.sim().revoke_consent(app.sim().tenant_id());
    let created = app.create_connection("Acme BC").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let stale = connect_link(&app, &id).await;

    let mut b = Browser::start("connect_errors", 1200, 900).await;
    // Every link expires after 15 minutes; the page says to ask for a new one.
    app.clock.advance(chrono::Duration::minutes(16));
    b.goto(&stale).await;
    b.wait_text("h1", "This link has expired").await;
    b.wait_text(".card", "Ask for a new link").await;
    b.screenshot("expired").await;

    // A fresh link, but Microsoft's consent is refused.
    let fresh = connect_link(&app, &id).await;
    b.goto(&fresh).await;
    b.click("#sign-in").await;
    let alert = b
        .wait_text("[role=alert]", "permissions were not granted")
        .await;
    assert!(alert.contains("administrator"), "{alert}");
    assert!(b.url().await.contains("signin=declined"));
    b.wait_for("#sign-in").await;
    b.screenshot("consent-refused").await;
    let c = app.get(&format!("/v2/integrations/connections/{id}")).await;
    assert_eq!(c.json["is_authentication_pending"], true);
    b.quit().await;
}
