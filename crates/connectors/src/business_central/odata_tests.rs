use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::business_central::BcConfig;
use crate::ssrf::SsrfPolicy;

const COMPANY: &str = "a0a0a0a0-1111-2222-3333-444444444444";

fn bc() -> BusinessCentral {
    let config = BcConfig {
        ssrf: SsrfPolicy::default().with_http(true).allow("127.0.0.1"),
        ..Default::default()
    };
    BusinessCentral::new(config).unwrap()
}

fn cloud() -> Target {
    Target {
        tenant_id: Some("tid-1".into()),
        environment: Some("Production".into()),
        company_id: Some(COMPANY.into()),
        ..Default::default()
    }
}

fn on_prem() -> Target {
    Target {
        api_url: Some("http://127.0.0.1:7048/BC".parse().unwrap()),
        company_id: Some(COMPANY.into()),
        ..Default::default()
    }
}

#[test]
fn cloud_and_on_prem_roots() {
    let bc = bc();
    assert_eq!(
        bc.api_root(&cloud(), Api::Standard).unwrap().as_str(),
        "https://api.businesscentral.dynamics.com/v2.0/tid-1/Production/api/v2.0"
    );
    let mut no_tenant = cloud();
    no_tenant.tenant_id = None;
    assert_eq!(
        bc.api_root(&no_tenant, Api::Extension).unwrap().as_str(),
        "https://api.businesscentral.dynamics.com/v2.0/Production/api/ledgerlink/ar/v1.0"
    );
    assert_eq!(
        bc.company_url(&on_prem(), Api::Standard, "customers")
            .unwrap()
            .as_str(),
        format!("http://127.0.0.1:7048/BC/api/v2.0/companies({COMPANY})/customers")
    );
    let mut slash = on_prem();
    slash.api_url = Some("http://127.0.0.1:7048/BC/".parse().unwrap());
    assert!(
        bc.api_root(&slash, Api::Standard)
            .unwrap()
            .as_str()
            .ends_with("/BC/api/v2.0")
    );
}

#[test]
fn missing_environment_or_bad_company_is_not_configured() {
    let bc = bc();
    let mut t = cloud();
    t.environment = None;
    assert!(matches!(
        bc.api_root(&t, Api::Standard),
        Err(ConnectorError::NotConfigured(_))
    ));
    let mut t = cloud();
    t.company_id = Some("x)/../../admin".into());
    assert!(matches!(
        bc.company_url(&t, Api::Standard, "customers"),
        Err(ConnectorError::NotConfigured(_))
    ));
}

#[test]
fn first_page_url_has_filter_and_expand() {
    let bc = bc();
    let req = PageRequest {
        model: "invoices".into(),
        window: TimeWindow {
            modified_after: Some(Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap()),
            modified_until: None,
        },
        ..Default::default()
    };
    let url = bc
        .first_page_url(&cloud(), models::spec("invoices").unwrap(), &req)
        .unwrap();
    assert_eq!(
        url.query(),
        Some(
            "$filter=lastModifiedDateTime%20gt%202025-01-02T03:04:05.000Z&$expand=salesInvoiceLines&$count=true"
        )
    );
    let mut selected = req.clone();
    selected.fields = Some(vec!["id".into(), "number".into()]);
    let spec = models::spec("invoices").unwrap();
    let url = bc.first_page_url(&cloud(), spec, &selected).unwrap();
    assert!(
        url.query()
            .unwrap()
            .ends_with("&$select=id,number&$count=true"),
        "{url}"
    );
    for bad in [vec![], vec!["id&$top=1".to_owned()], vec!["".to_owned()]] {
        selected.fields = Some(bad);
        assert!(bc.first_page_url(&cloud(), spec, &selected).is_err());
    }
    let contacts = PageRequest {
        model: "contacts".into(),
        ..req
    };
    let url = bc
        .first_page_url(&cloud(), models::spec("contacts").unwrap(), &contacts)
        .unwrap();
    assert_eq!(
        url.query(),
        Some("$count=true"),
        "customerContacts has no lastModifiedDateTime: no filter"
    );
}

#[test]
fn window_filter_both_ends() {
    let w = TimeWindow {
        modified_after: Some(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()),
        modified_until: Some(Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap()),
    };
    assert_eq!(
        window_filter(&w).unwrap(),
        "lastModifiedDateTime gt 2025-01-01T00:00:00.000Z and lastModifiedDateTime le 2025-02-01T00:00:00.000Z"
    );
    assert_eq!(window_filter(&TimeWindow::default()), None);
}

#[test]
fn next_links_must_stay_inside_the_api() {
    let bc = bc();
    let spec = models::spec("customers").unwrap();
    let root = "http://127.0.0.1:7048/BC/api/v2.0";
    let ok = format!("{root}/companies({COMPANY})/customers?$skiptoken=abc&aid=FIN");
    assert!(bc.next_link_url(&on_prem(), spec, &ok).is_ok());
    for bad in [
        "http://169.254.169.254/latest".to_owned(),
        format!("http://127.0.0.1:9999/BC/api/v2.0/companies({COMPANY})/customers"),
        "http://127.0.0.1:7048/other/api/v2.0/x".to_owned(),
        "https://127.0.0.1:7048/BC/api/v2.0/x".to_owned(),
        "not a url".to_owned(),
    ] {
        assert!(bc.next_link_url(&on_prem(), spec, &bad).is_err(), "{bad}");
    }
}

#[test]
fn next_links_are_followed_as_written_without_the_count() {
    let bc = bc();
    let spec = models::spec("invoices").unwrap();
    let set = format!("http://127.0.0.1:7048/BC/api/v2.0/companies({COMPANY})/salesInvoices");
    let follow = |query: &str| {
        let url = bc
            .next_link_url(&on_prem(), spec, &format!("{set}?{query}"))
            .unwrap();
        url.query().map(str::to_owned)
    };
    // BC repeats the first request's options: the count goes, everything else stays byte for byte
    // (order, encoding, the skip token).
    let expand = "$expand=salesInvoiceLines($expand=dimensionSetLines),dimensionSetLines";
    assert_eq!(
        follow(&format!(
            "$filter=lastModifiedDateTime%20gt%202025-01-02T03:04:05.000Z&{expand}&$count=true&aid=FIN&$skiptoken=W%2Fx%3D%3D"
        ))
        .as_deref(),
        Some(
            format!(
                "$filter=lastModifiedDateTime%20gt%202025-01-02T03:04:05.000Z&{expand}&aid=FIN&$skiptoken=W%2Fx%3D%3D"
            )
            .as_str()
        )
    );
    assert_eq!(
        follow("%24count=TRUE&$skiptoken=1").as_deref(),
        Some("$skiptoken=1")
    );
    assert_eq!(follow("$count=true").as_deref(), None);
    // Not a count, or a count of false: left alone.
    for kept in [
        "$skiptoken=1&$count=false",
        "$skiptoken=1&x$count=true",
        "$skiptoken=$count=true",
    ] {
        assert_eq!(follow(kept).as_deref(), Some(kept), "{kept}");
    }
}

#[test]
fn page_parsing() {
    let base: Url = "http://h/BC/api/v2.0/companies(x)/customers"
        .parse()
        .unwrap();
    let page = parse_page(
        &json!({"value":[{"id":1}],"@odata.nextLink":"customers?$skiptoken=2"}),
        &base,
    )
    .unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(
        page.next.as_deref(),
        Some("http://h/BC/api/v2.0/companies(x)/customers?$skiptoken=2")
    );
    let last = parse_page(&json!({"value":[]}), &base).unwrap();
    assert_eq!(last.next, None);
    assert!(matches!(
        parse_page(&json!({"values":[]}), &base),
        Err(ConnectorError::Invalid { .. })
    ));
    assert!(parse_page(&json!({"value":{}}), &base).is_err());
    assert!(parse_page(&json!({"value":[],"@odata.nextLink":5}), &base).is_err());
}

#[test]
fn unknown_model_is_unsupported() {
    let err = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(bc().read_page(
            &Session {
                target: cloud(),
                credentials: Credentials::Bearer("t".to_owned().into()),
            },
            &PageRequest {
                model: "vendors".into(),
                ..Default::default()
            },
        ))
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Unsupported(_)));
}
