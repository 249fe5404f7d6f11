//! The hosted connect page over plain HTTP: links, their single use and expiry, the session cookie,
//! the CSRF check, the security headers and the branding setting. (A real browser walks the page in
//! `connect_browser`.)

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Reply, TestApp, locs, reply};

/// A client that follows no redirect and keeps no cookie: each test says what it sends.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn link(app: &TestApp, connection: &str) -> Value {
    let r = app
        .post(
            &format!("/v2/integrations/connections/{connection}/connect-link"),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.json
}

async fn visit(url: &str, cookie: Option<&str>) -> Reply {
    let mut req = raw_client().get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    reply(req.send().await.unwrap()).await
}

/// `name=value` of the session cookie an answer sets.
fn session_cookie(r: &Reply) -> String {
    let set = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ll_connect="))
        .unwrap_or_else(|| panic!("a session cookie: {r:?}"));
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    assert!(set.contains("Path=/connect"), "{set}");
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_link_opens_one_browser_session_and_no_other() {
    let app = TestApp::start().await;
    let conn = app.create_connection("Acme").await;
    let id = conn["id"].as_str().unwrap();
    let l = link(&app, id).await;
    assert_eq!(l["object"], "connect_link");
    assert_eq!(l["connection_id"], id);
    let url = l["url"].as_str().unwrap();
    assert!(url.starts_with(&app.url("/connect/")), "{url}");
    assert!(!url.contains(&app.key), "no API key in the link");

    // First visit: a cookie, and a page that moves on to /connect by itself (no redirect).
    let first = visit(url, None).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    assert!(first.text.contains("url=/connect"), "{}", first.text);
    let cookie = session_cookie(&first);

    let page = visit(&app.url("/connect"), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    assert!(
        page.text.contains("Sign in with Microsoft"),
        "{}",
        page.text
    );
    assert!(!page.text.contains(&app.key));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    // A fresh style nonce on every answer.
    let nonce = |r: &Reply| {
        let csp = r.headers["content-security-policy"].to_str().unwrap();
        let at = csp
            .find("'nonce-")
            .unwrap_or_else(|| panic!("a nonce: {csp}"));
        let nonce = csp[at..].split('\'').nth(1).unwrap().to_owned();
        assert!(
            r.text.contains(&format!(
                "<style {nonce_attr}",
                nonce_attr = format_args!("nonce=\"{}\"", &nonce["nonce-".len()..])
            )),
            "{}",
            r.text
        );
        nonce
    };
    let again = visit(&app.url("/connect"), Some(&cookie)).await;
    assert_ne!(nonce(&page), nonce(&again));

    // The link again, from another browser (no cookie): it opens nothing.
    let again = visit(url, None).await;
    assert!(again.headers.get("set-cookie").is_none(), "{again:?}");
    let other = visit(&app.url("/connect"), None).await;
    assert_eq!(other.status, StatusCode::GONE);
    assert!(other.text.contains("Ask for a new link"), "{}", other.text);
    // The first browser still has its session.
    let page = visit(&app.url("/connect"), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
}

#[tokio::test]
async fn links_and_sessions_expire() {
    let app = TestApp::start().await;
    let id = app.create_connection("Acme").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unopened = link(&app, &id).await;
    let opened = link(&app, &id).await;
    let cookie = session_cookie(&visit(opened["url"].as_str().unwrap(), None).await);

    app.clock.advance(chrono::Duration::minutes(16));
    let late = visit(unopened["url"].as_str().unwrap(), None).await;
    assert_eq!(late.status, StatusCode::GONE, "{late:?}");
    assert!(late.text.contains("Ask for a new link"));
    assert!(late.headers.get("set-cookie").is_none());
    // The session that was opened lasts an hour from its first visit.
    assert_eq!(
        visit(&app.url("/connect"), Some(&cookie)).await.status,
        StatusCode::OK
    );
    app.clock.advance(chrono::Duration::minutes(45));
    assert_eq!(
        visit(&app.url("/connect"), Some(&cookie)).await.status,
        StatusCode::GONE
    );
    // Made-up tokens and cookies open nothing.
    let forged = visit(&app.url(&format!("/connect/{}", "a".repeat(64))), None).await;
    assert_eq!(forged.status, StatusCode::GONE);
    let forged = visit(
        &app.url("/connect"),
        Some(&format!("ll_connect={}", "b".repeat(64))),
    )
    .await;
    assert_eq!(forged.status, StatusCode::GONE);
}

#[tokio::test]
async fn links_are_per_organization() {
    let app = TestApp::start().await;
    let id = app.create_connection("Acme").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app.key_for_org("other").await;
    let r = app
        .call_as(
            &other,
            reqwest::Method::POST,
            &format!("/v2/integrations/connections/{id}/connect-link"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    let r = app
        .call_as(
            "",
            reqwest::Method::POST,
            &format!("/v2/integrations/connections/{id}/connect-link"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forms_without_the_sessions_token_change_nothing() {
    let app = TestApp::with_sim(|_| {}).await;
    let body = json!({"provider_name": "ms-dynamics-bc", "name": "On-prem", "is_on_premise": true,
        "api_url": app.sim().onprem_api_base().unwrap()});
    let created = app
        .post("/v2/integrations/connections", &body.to_string())
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let id = created.json["id"].as_str().unwrap();
    let l = link(&app, id).await;
    let cookie = session_cookie(&visit(l["url"].as_str().unwrap(), None).await);
    let before = app.get(&format!("/v2/integrations/connections/{id}")).await;
    let csrf = csrf_of(&visit(&app.url("/connect"), Some(&cookie)).await);
    let wrong = format!("{}x", &csrf[..csrf.len() - 1]);
    // Every form of the page, with what it would change.
    let routes: [(&str, &[(&str, &str)]); 4] = [
        (
            "/connect/credentials",
            &[
                ("api_url", "https://evil.example.com/BC"),
                ("username", "x"),
                ("web_service_access_key", "y"),
            ],
        ),
        (
            "/connect/choose",
            &[("company", "11111111-2222-3333-4444-555555555555")],
        ),
        ("/connect/check", &[("action", "health")]),
        ("/connect/check", &[("action", "rechoose")]),
    ];
    for (path, fields) in routes {
        for token in [None, Some(""), Some("0000"), Some(wrong.as_str())] {
            let mut form: Vec<(&str, &str)> = fields.to_vec();
            if let Some(t) = token {
                form.push(("csrf", t));
            }
            let r = post_form(&app, path, &cookie, &form).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} {token:?}: {r:?}");
            assert!(r.text.contains("Nothing was changed"), "{path}: {}", r.text);
        }
    }
    let c = app.get(&format!("/v2/integrations/connections/{id}")).await;
    assert_eq!(c.json, before.json, "unchanged");
    // And without the cookie, nothing is even read.
    let r = raw_client()
        .post(app.url("/connect/credentials"))
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
}

#[tokio::test]
async fn the_branding_is_set_through_the_api_and_shown_on_the_page() {
    let app = TestApp::start().await;
    let r = app.get("/v2/integrations/branding").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        r.json,
        json!({"object": "branding", "name": null, "logo": null, "color": null})
    );
    let logo = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    let r = app
        .patch(
            "/v2/integrations/branding",
            &json!({"name": "Acme <AR>", "logo": logo, "color": "#0A7D5A"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.json["color"], "#0a7d5a");
    let r = app
        .patch(
            "/v2/integrations/branding",
            &json!({"name": " ", "logo": "https://cdn.example.com/logo.png", "color": "green", "x": 1})
                .to_string(),
        )
        .await;
    let mut l = locs(&r);
    l.sort();
    assert_eq!(l, ["body.color", "body.logo", "body.name", "body.x"]);
    // Names that would read other than they are: direction overrides, invisible characters.
    for name in [
        "Acme\u{202E}RA emca",
        "Ac\u{200B}me",
        "\u{FEFF}Acme",
        "Acme\u{2066}",
        "Acme\u{E0041}",
    ] {
        let r = app
            .patch(
                "/v2/integrations/branding",
                &json!({"name": name}).to_string(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name:?}: {r:?}"
        );
        assert_eq!(locs(&r), ["body.name"], "{name:?}");
    }
    assert_eq!(
        app.get("/v2/integrations/branding").await.json["name"],
        "Acme <AR>"
    );
    // Another organization's branding is its own.
    let other = app.key_for_org("other").await;
    let r = app
        .call_as(
            &other,
            reqwest::Method::GET,
            "/v2/integrations/branding",
            None,
        )
        .await;
    assert_eq!(r.json["name"], Value::Null);

    let id = app.create_connection("Acme").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = session_cookie(&visit(link(&app, &id).await["url"].as_str().unwrap(), None).await);
    let page = visit(&app.url("/connect"), Some(&cookie)).await;
    assert!(
        page.text.contains("Acme &lt;AR&gt;"),
        "escaped: {}",
        page.text
    );
    assert!(page.text.contains(logo));
    assert!(page.text.contains("--accent:#0a7d5a"));

    // null clears.
    let r = app
        .patch("/v2/integrations/branding", r#"{"logo": null}"#)
        .await;
    assert_eq!(r.json["logo"], Value::Null);
    assert_eq!(r.json["name"], "Acme <AR>");
}

/// The session's CSRF token, as the page's forms carry it.
fn csrf_of(page: &Reply) -> String {
    let at = page
        .text
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("a form: {}", page.text));
    let rest = &page.text[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

async fn post_form(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> Reply {
    let r = raw_client()
        .post(app.url(path))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    reply(r).await
}

#[tokio::test]
async fn what_business_central_refuses_is_shown_with_what_to_do() {
    let app = TestApp::with_sim(|s| s.data.companies = 2).await;
    let created = app.create_connection("Two companies").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let cookie = session_cookie(&visit(link(&app, &id).await["url"].as_str().unwrap(), None).await);
    app.authorize(&created).await;
    app.settled(&id).await;

    // The company choice goes through PATCH's checks: an unknown one is refused, a listed one taken.
    let page = visit(&app.url("/connect"), Some(&cookie)).await;
    assert!(page.text.contains("Choose the company"), "{}", page.text);
    let csrf = csrf_of(&page);
    let r = post_form(
        &app,
        "/connect/choose",
        &cookie,
        &[
            ("csrf", &csrf),
            ("company", "11111111-2222-3333-4444-555555555555"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert!(r.text.contains("Choose again"), "{}", r.text);
    let company = app.sim().company_ids()[0].to_string();
    let r = post_form(
        &app,
        "/connect/choose",
        &cookie,
        &[("csrf", &csrf), ("company", &company)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
    let c = app.settled(&id).await;
    assert_eq!(c["health"]["status_code"], "healthy", "{c}");
    let page = visit(&app.url("/connect"), Some(&cookie)).await;
    assert!(page.text.contains("Syncing your data"), "{}", page.text);
    assert!(
        page.text
            .contains("http-equiv=\"refresh\" content=\"10;url=/connect\""),
        "polls every 10 s while it syncs: {}",
        page.text
    );
    assert!(
        page.text
            .contains("<a href=\"/connect\" id=\"refresh-now\">Refresh now</a>"),
        "and can be refreshed at once"
    );
    // Mid-way through the invoices' first pass: records so far, of the total BC counted.
    let invoices = c["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "invoices")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_sql(&format!(
        "UPDATE syncs SET status = 'running', \
         pagination_state = '{{\"phase\":\"window\",\"records\":7,\"total\":10}}' \
         WHERE model_id = '{invoices}'"
    ))
    .await;
    let page = visit(&app.url("/connect"), Some(&cookie)).await;
    let row = &page.text[page.text.find(">Invoices<").expect("an invoices row")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("7 of 10"), "{row}");
    assert!(row.contains("Reading"), "{row}");
    // Every model's first pass ended, one of them refused: said so, and no more polling.
    app.run_sql(&format!(
        "UPDATE syncs SET status = 'complete' WHERE connection_id = '{id}'"
    ))
    .await;
    app.run_sql(&format!(
        "UPDATE syncs SET status = 'failed', error = 'BC said no' WHERE model_id = '{invoices}'"
    ))
    .await;
    let page = visit(&app.url("/connect"), Some(&cookie)).await;
    assert!(
        page.text.contains("some data could not be read"),
        "{}",
        page.text
    );
    assert!(page.text.contains("Failed: BC said no"));
    assert!(!page.text.contains("http-equiv=\"refresh\""));
    assert!(!page.text.contains("Refresh now"));

    // No permission.
    app.sim().set_faults(bc_sim::FaultConfig {
        forbidden: true,
        ..Default::default()
    });
    let check = [("csrf", csrf.as_str()), ("action", "health")];
    let r = post_form(&app, "/connect/check", &cookie, &check).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
    let page = visit(&app.url("/connect"), Some(&cookie)).await;
    assert!(page.text.contains("needs attention"), "{}", page.text);
    assert!(page.text.contains("D365 READ"), "{}", page.text);

    // The company is gone: say so, and offer another.
    app.sim().set_faults(bc_sim::FaultConfig {
        removed_companies: vec![app.sim().company_ids()[0]],
        ..Default::default()
    });
    post_form(&app, "/connect/check", &cookie, &check).await;
    let page = visit(&app.url("/connect"), Some(&cookie)).await;
    assert!(
        page.text.contains("no longer in Business Central"),
        "{}",
        page.text
    );
    assert!(page.text.contains("Choose another company"));
    app.sim().set_faults(bc_sim::FaultConfig::default());
    let r = post_form(
        &app,
        "/connect/check",
        &cookie,
        &[("csrf", &csrf), ("action", "rechoose")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
    app.settled(&id).await;
    let page = visit(&app.url("/connect"), Some(&cookie)).await;
    assert!(page.text.contains("Choose the company"), "{}", page.text);
}

#[tokio::test]
async fn behind_https_links_say_so_and_the_cookie_is_secure() {
    let public = "https://connect.example.com";
    let app = TestApp::start_with(|c| c.public_url = Some(public.into())).await;
    let id = app.create_connection("Acme").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = link(&app, &id).await["url"].as_str().unwrap().to_owned();
    let path = url
        .strip_prefix(public)
        .unwrap_or_else(|| panic!("{url} starts with public_url"));
    let first = visit(&app.url(path), None).await;
    let set = first.headers["set-cookie"].to_str().unwrap();
    assert!(set.ends_with("; Secure"), "{set}");
}

#[tokio::test]
async fn on_premises_servers_that_cannot_be_used_are_refused_in_words() {
    let app = TestApp::with_sim(|_| {}).await;
    let base = app.sim().onprem_api_base().unwrap();
    let body = json!({"provider_name": "ms-dynamics-bc", "name": "On-prem", "is_on_premise": true,
        "api_url": base});
    let id = app
        .post("/v2/integrations/connections", &body.to_string())
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = session_cookie(&visit(link(&app, &id).await["url"].as_str().unwrap(), None).await);
    let csrf = csrf_of(&visit(&app.url("/connect"), Some(&cookie)).await);
    let stored = app
        .get(&format!("/v2/integrations/connections/{id}"))
        .await
        .json["api_url"]
        .clone();
    let (user, _) = app.sim().onprem_credentials().unwrap();
    for (api_url, words) in [
        ("http://127.0.0.1:9/BC/api/v2.0", "could not be reached"),
        ("https://10.1.2.3/BC/api/v2.0", "private or local network"),
        ("ftp://bc.example.com/BC", "starting with https://"),
        (
            "https://admin:pw@bc.example.com/BC",
            "without a user name or password",
        ),
        ("", "Enter your Business Central API URL"),
    ] {
        let r = post_form(
            &app,
            "/connect/credentials",
            &cookie,
            &[
                ("csrf", &csrf),
                ("api_url", api_url),
                ("username", &user),
                ("web_service_access_key", "s3cret-key-value"),
            ],
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{api_url}: {r:?}"
        );
        assert!(r.text.contains(words), "{api_url}: {}", r.text);
        let input = &r.text[r.text.find("id=\"api_url\"").unwrap()..];
        let input = &input[..input.find('>').unwrap()];
        assert_eq!(
            input.matches("aria-describedby=").count(),
            1,
            "one attribute: {input}"
        );
        assert!(
            input.contains("aria-invalid=\"true\" aria-describedby=\"api_url_hint problem\""),
            "{input}"
        );
        assert!(r.text.contains("role=\"alert\""));
        assert!(!r.text.contains("api_url is"), "no API jargon: {}", r.text);
        assert!(
            !r.text.contains("URL scheme should"),
            "no API jargon: {}",
            r.text
        );
        assert!(
            !r.text.contains("s3cret-key-value"),
            "the key is never echoed"
        );
    }
    let c = app.get(&format!("/v2/integrations/connections/{id}")).await;
    assert_eq!(c.json["is_authentication_pending"], true);
    assert_eq!(c.json["api_url"], stored, "a refused URL is not kept");

    // Connected; then a wrong server URL is typed: the working connection stays as it was.
    let (user, key) = app.sim().onprem_credentials().unwrap();
    let fields = |url: &'static str| {
        [
            ("csrf", csrf.clone()),
            (
                "api_url",
                if url.is_empty() {
                    base.clone()
                } else {
                    url.to_owned()
                },
            ),
            ("username", user.clone()),
            ("web_service_access_key", key.clone()),
        ]
    };
    let form = fields("");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = post_form(&app, "/connect/credentials", &cookie, &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
    let connected = app.settled(&id).await;
    assert_eq!(connected["is_authentication_pending"], false, "{connected}");
    let form = fields("http://127.0.0.1:9/BC/api/v2.0");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = post_form(&app, "/connect/credentials", &cookie, &form).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    let after = app.settled(&id).await;
    assert_eq!(after["api_url"], stored);
    assert_eq!(after["is_authentication_pending"], false, "{after}");
    assert_eq!(
        after["health"]["status_code"],
        connected["health"]["status_code"]
    );
    // The stored credentials still work.
    let r = app
        .post(
            &format!("/v2/integrations/connections/{id}/health-check"),
            "",
        )
        .await;
    assert!(r.status.is_success(), "{r:?}");
    let checked = app.settled(&id).await;
    assert_eq!(checked["is_authentication_pending"], false, "{checked}");
    assert_ne!(checked["health"]["status_code"], "authentication_failed");
}

/// Forms that call Business Central have a budget per session; the page says to wait in words.
#[tokio::test]
async fn a_session_sending_too_many_attempts_is_told_to_wait() {
    let app = TestApp::with_sim(|_| {}).await;
    let body = json!({"provider_name": "ms-dynamics-bc", "name": "On-prem", "is_on_premise": true,
        "api_url": app.sim().onprem_api_base().unwrap()});
    let id = app
        .post("/v2/integrations/connections", &body.to_string())
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (cookie, csrf) = {
        let l = link(&app, &id).await;
        let cookie = session_cookie(&visit(l["url"].as_str().unwrap(), None).await);
        let csrf = csrf_of(&visit(&app.url("/connect"), Some(&cookie)).await);
        (cookie, csrf)
    };
    let form = [
        ("csrf", csrf.as_str()),
        ("api_url", ""),
        ("username", "u"),
        ("web_service_access_key", "k"),
    ];
    for i in 0..10 {
        let r = post_form(&app, "/connect/credentials", &cookie, &form).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "attempt {i}: {r:?}"
        );
    }
    let r = post_form(&app, "/connect/credentials", &cookie, &form).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
    assert!(r.text.contains("Wait a minute"), "{}", r.text);
    let check = [("csrf", csrf.as_str()), ("action", "health")];
    let r = post_form(&app, "/connect/check", &cookie, &check).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
    // Looking at the page is not an attempt; another session has its own budget.
    let page = visit(&app.url("/connect"), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    let l = link(&app, &id).await;
    let other = session_cookie(&visit(l["url"].as_str().unwrap(), None).await);
    let other_csrf = csrf_of(&visit(&app.url("/connect"), Some(&other)).await);
    let form = [
        ("csrf", other_csrf.as_str()),
        ("api_url", ""),
        ("username", "u"),
        ("web_service_access_key", "k"),
    ];
    let r = post_form(&app, "/connect/credentials", &other, &form).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
}

/// The page counts against the organization's request budget, like an API call with its key.
#[tokio::test]
async fn the_page_counts_against_the_organizations_request_budget() {
    let app = TestApp::start_with(|c| c.tenant_requests_per_second = 1).await;
    let id = app.create_connection("Acme").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = session_cookie(&visit(link(&app, &id).await["url"].as_str().unwrap(), None).await);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(visit(&app.url("/connect"), Some(&cookie)).await);
    }
    let limited = statuses
        .iter()
        .find(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .unwrap_or_else(|| panic!("refused past the burst"));
    assert!(limited.text.contains("Wait a minute"), "{}", limited.text);
}

/// Follows a sign-in to the sim and back, carrying `marker` to the callback; the callback's answer.
async fn sign_in_with_marker(authorization_url: &str, marker: &str) -> Reply {
    let r = raw_client().get(authorization_url).send().await.unwrap();
    assert!(r.status().is_redirection(), "{r:?}");
    let callback = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        callback.contains("/v2/integrations/oauth/callback"),
        "{callback}"
    );
    visit(&callback, Some(&format!("ll_connect_return={marker}"))).await
}

/// The marker that brings the browser back from Microsoft names the connection: another
/// connection's sign-in in the same browser gets the callback's own page.
#[tokio::test]
async fn only_the_connection_signing_in_on_the_page_comes_back_to_it() {
    let app = TestApp::with_sim(|_| {}).await;
    let a = app.create_connection("A").await;
    let b = app.create_connection("B").await;
    let a_id = a["id"].as_str().unwrap();
    let cookie =
        session_cookie(&visit(link(&app, a_id).await["url"].as_str().unwrap(), None).await);
    let r = visit(&app.url("/connect/microsoft"), Some(&cookie)).await;
    assert!(r.status.is_redirection(), "{r:?}");
    let marker = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ll_connect_return="))
        .unwrap_or_else(|| panic!("a marker: {r:?}"));
    assert!(
        marker.starts_with(&format!("ll_connect_return={a_id};")),
        "{marker}"
    );
    let to_microsoft = r.headers["location"].to_str().unwrap().to_owned();

    // B's sign-in (opened from the API's authorization_url) with A's marker: B's own page.
    let r = sign_in_with_marker(b["authorization_url"].as_str().unwrap(), a_id).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert!(!r.text.contains("/connect?signin="), "{}", r.text);
    // A marker without a connection (as set before) brings nothing back either.
    let r = sign_in_with_marker(a["authorization_url"].as_str().unwrap(), "1").await;
    assert!(!r.text.contains("/connect?signin="), "{}", r.text);
    // A's sign-in started on the page: back to it.
    let r = sign_in_with_marker(&to_microsoft, a_id).await;
    assert!(r.text.contains("url=/connect?signin=ok"), "{}", r.text);
}
