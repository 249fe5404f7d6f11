//! On-premises servers as the connector sees them, against a local HTTP server that records every
//! request: the multitenant `?tenant=` goes on every call (next links included, kept verbatim
//! otherwise), and a URL that is not a BC API root is named as such.

use serde_json::{Value, json};

use super::*;
use crate::connector::{Credentials, PageRequest, Session, Target};
use crate::error::ErrorKind;
use crate::test_server::{Reply, Seen, TestServer};

const COMPANY: &str = "11111111-2222-3333-4444-555555555555";

fn connector() -> BusinessCentral {
    BusinessCentral::new(BcConfig {
        ssrf: SsrfPolicy::default().with_http(true).allow("127.0.0.1"),
        ..Default::default()
    })
    .unwrap()
}

fn session(api_url: &str, company: Option<&str>) -> Session {
    Session {
        target: Target {
            api_url: Some(api_url.parse().unwrap()),
            company_id: company.map(str::to_owned),
            ..Default::default()
        },
        credentials: Credentials::Basic {
            username: "ADMIN".into(),
            password: "key".to_owned().into(),
        },
    }
}

/// A multitenant BC server instance `/BC` that answers only with `?tenant=t1` (BC answers an unknown
/// or missing tenant with an error); customers come in two pages whose next link, like BC's, is
/// absolute and carries `aid=FIN` beside the skip token, and no tenant.
fn multitenant_bc(seen: &Seen) -> Reply {
    let url = url::Url::parse(&format!("http://x{}", seen.target)).unwrap();
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    if !query.contains(&("tenant".into(), "t1".into())) {
        return Reply::with(404, "application/json", not_found());
    }
    let company_root = format!("/BC/api/v2.0/companies({COMPANY})");
    let body = match url.path() {
        "/BC/api/v2.0/companies" => json!({"value": [{"id": COMPANY, "name": "CRONUS"}]}),
        p if p == company_root => json!({"id": COMPANY, "name": "CRONUS"}),
        p if p == format!("{company_root}/companyInformation") => {
            json!({"value": [{"currencyCode": "EUR"}]})
        }
        p if p == format!("{company_root}/customers") => customers_page(seen, &query),
        _ => return Reply::with(404, "application/json", not_found()),
    };
    Reply::json(body)
}

fn customers_page(seen: &Seen, query: &[(String, String)]) -> Value {
    let id = |n: u32| format!("00000000-0000-0000-0000-00000000000{n}");
    if query.iter().any(|(k, _)| k == "$skiptoken") {
        return json!({"value": [{"id": id(2)}]});
    }
    let host = seen
        .head
        .lines()
        .find_map(|l| {
            l.strip_prefix("host: ")
                .or_else(|| l.strip_prefix("Host: "))
        })
        .expect("Host header");
    let next =
        format!("http://{host}/BC/api/v2.0/companies({COMPANY})/customers?aid=FIN&$skiptoken=abc");
    json!({"value": [{"id": id(1)}], "@odata.nextLink": next})
}

fn not_found() -> Vec<u8> {
    json!({"error": {"code": "BadRequest_ResourceNotFound",
        "message": "Resource not found for the segment 'api'."}})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn every_request_to_a_multitenant_server_carries_its_tenant() {
    let server = TestServer::start(multitenant_bc).await;
    let bc = connector();
    let api_url = bc
        .check_api_url(&format!("{}/BC/api/v2.0/?tenant=t1", server.base()))
        .await
        .unwrap();
    assert_eq!(api_url.as_str(), format!("{}/BC?tenant=t1", server.base()));

    let mut s = session(api_url.as_str(), None);
    bc.validate_credentials(&s).await.unwrap();
    let found = bc.discover(&s).await.unwrap();
    assert_eq!(found.company_id.as_deref(), Some(COMPANY));
    assert_eq!(
        found.extension_installed,
        Some(false),
        "the extension's 404"
    );
    assert_eq!(found.local_currency.as_deref(), Some("EUR"));
    s.target.company_id = Some(COMPANY.into());
    bc.health_check(&s).await.unwrap();
    let req = PageRequest {
        model: "customers".into(),
        fields: Some(vec!["id".into(), "displayName".into()]),
        ..Default::default()
    };
    let first = bc.fetch_page(&s, &req).await.unwrap();
    let next = first.next.clone().expect("a second page");
    let second = bc
        .fetch_page(
            &s,
            &PageRequest {
                cursor: Some(next.clone()),
                ..req
            },
        )
        .await
        .unwrap();
    assert_eq!(second.records.len(), 1);

    let seen = server.seen();
    assert!(seen.len() >= 8, "{seen:#?}");
    for request in &seen {
        let tenants = request.target.matches("tenant=t1").count();
        assert_eq!(tenants, 1, "{}", request.target);
    }
    // The next link is followed verbatim (BC's `aid=FIN` kept), the tenant added after it.
    let last = &seen.last().unwrap().target;
    let link = url::Url::parse(&next).unwrap();
    assert_eq!(
        *last,
        format!("{}?{}&tenant=t1", link.path(), link.query().unwrap())
    );
    assert!(last.contains("aid=FIN&$skiptoken=abc"), "{last}");
}

#[tokio::test]
async fn next_links_that_carry_the_tenant_are_not_changed() {
    let server = TestServer::start(multitenant_bc).await;
    let bc = connector();
    let s = session(&format!("{}/BC?tenant=t1", server.base()), Some(COMPANY));
    let link = format!(
        "{}/BC/api/v2.0/companies({COMPANY})/customers?tenant=t1&aid=FIN&$skiptoken=abc",
        server.base()
    );
    let req = PageRequest {
        model: "customers".into(),
        cursor: Some(link.clone()),
        ..Default::default()
    };
    bc.fetch_page(&s, &req).await.unwrap();
    let target = &server.seen()[0].target;
    assert_eq!(
        target,
        &format!("/BC/api/v2.0/companies({COMPANY})/customers?tenant=t1&aid=FIN&$skiptoken=abc")
    );
}

#[tokio::test]
async fn a_url_that_is_not_a_business_central_api_root_is_named() {
    let html = TestServer::start(|_: &Seen| {
        Reply::with(200, "text/html", "<html><body>Welcome to IIS</body></html>")
    })
    .await;
    let bc_404 =
        TestServer::start(|_: &Seen| Reply::with(404, "application/json", not_found())).await;
    let other_json = TestServer::start(|_: &Seen| Reply::json(json!({"status": "ok"}))).await;
    for server in [&html, &bc_404, &other_json] {
        let api_url = format!("{}/BC/wrong", server.base());
        let err = connector()
            .validate_credentials(&session(&format!("{api_url}?tenant=t1"), None))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotConfigured, "{err}");
        let ConnectorError::NotConfigured(msg) = err else {
            unreachable!()
        };
        assert_eq!(
            msg,
            format!(
                "{api_url} does not look like a Business Central API root (it serves no \
                 api/v2.0/companies); expected the URL of the server instance, like \
                 https://server:7048/BC"
            )
        );
    }
    // Wrong credentials stay a credentials problem.
    let refusing = TestServer::start(|_: &Seen| {
        let body = json!({"error": {"code": "Authentication_InvalidCredentials",
            "message": "The server has rejected the client credentials."}});
        Reply::with(401, "application/json", body.to_string())
    })
    .await;
    let err = connector()
        .validate_credentials(&session(&format!("{}/BC", refusing.base()), None))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
}

/// Writes go through the same plumbing as reads: the tenant parameter, Basic auth, the guard.
#[tokio::test]
async fn writes_carry_the_tenant_too() {
    let server = TestServer::start(|seen| {
        let url = url::Url::parse(&format!("http://x{}", seen.target)).unwrap();
        if !url.query_pairs().any(|(k, v)| k == "tenant" && v == "t1") {
            return Reply::with(404, "application/json", not_found());
        }
        match url.path() {
            "/BC/api/v2.0/$batch" => Reply::json(json!({"responses": [
                {"id": "1", "status": 201, "body": {"id": "l1"}},
                {"id": "2", "status": 201, "body": {"id": "l2"}},
            ]})),
            p if p.ends_with("/Microsoft.NAV.post") => Reply::with(204, "text/plain", ""),
            p if p.ends_with("/generalLedgerEntries") => Reply::json(json!({"value": []})),
            _ => Reply::with(404, "application/json", not_found()),
        }
    })
    .await;
    let bc = connector();
    let session = session(&format!("{}/BC?tenant=t1", server.base()), Some(COMPANY));
    let line = crate::NewPaymentLine {
        customer_id: COMPANY.into(),
        applies_to_invoice_id: COMPANY.into(),
        amount: 1.into(),
        posting_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(),
        document_number: "D1".into(),
        external_document_number: String::new(),
        description: String::new(),
    };
    let journal = "99999999-2222-3333-4444-555555555555";
    let ids = bc
        .create_payment_lines(&session, journal, &[line.clone(), line])
        .await
        .unwrap();
    assert_eq!(ids, vec!["l1", "l2"]);
    bc.post_payment_journal(&session, journal).await.unwrap();
    assert_eq!(
        bc.find_posted_payment(&session, "A'B C").await.unwrap(),
        None
    );
    let seen = server.seen();
    let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(
        targets,
        vec![
            "/BC/api/v2.0/$batch?tenant=t1".to_owned(),
            format!(
                "/BC/api/v2.0/companies({COMPANY})/journals({journal})/Microsoft.NAV.post?tenant=t1"
            ),
            format!(
                "/BC/api/v2.0/companies({COMPANY})/generalLedgerEntries\
                 ?$filter=documentNumber%20eq%20%27A%27%27B%20C%27&tenant=t1"
            ),
        ]
    );
    let batch = seen[0].head.to_ascii_lowercase();
    assert!(batch.contains("\r\nisolation: snapshot"), "{batch}");
    assert!(
        batch.contains("\r\ncontent-type: application/json"),
        "{batch}"
    );
    assert!(batch.contains("\r\nauthorization: basic "), "{batch}");
}
