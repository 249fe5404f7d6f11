//! A multitenant on-prem server instance: `?tenant=<id>` on every request, one database per
//! tenant, `tenant=` kept in every nextLink.

mod common;

use base64::Engine;
use common::*;
use serde_json::Value;

async fn onprem_get(sim: &bc_sim::Sim, url: &str) -> (u16, Value) {
    let (user, key) = sim.onprem_credentials().unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{key}"));
    let r = client()
        .get(url)
        .header("Authorization", format!("Basic {basic}"))
        .header("Prefer", "odata.maxpagesize=7")
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_request_names_its_tenant() {
    let sim = start_with(|c| {
        c.onprem.as_mut().unwrap().tenants = vec!["contoso".into(), "fabrikam".into()];
    })
    .await;
    assert_eq!(sim.onprem_tenants(), ["contoso", "fabrikam"]);
    let base = sim.onprem_api_base().unwrap();
    // Without a tenant the server looks for "default"; neither that nor an unknown one exists.
    for url in [
        format!("{base}/companies"),
        format!("{base}/companies?tenant=nope"),
        format!("{base}/$metadata"),
    ] {
        let (s, v) = onprem_get(&sim, &url).await;
        assert_eq!(s, 404, "{url}: {v}");
        assert_bc_error(&v, "BadRequest_NotFound");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("is not mounted or does not exist"),
            "{v}"
        );
    }
    // Each tenant is its own database.
    let contoso = sim.onprem_tenant_company_ids("contoso");
    let fabrikam = sim.onprem_tenant_company_ids("fabrikam");
    assert!(!contoso.is_empty() && !fabrikam.is_empty());
    assert!(contoso.iter().all(|c| !fabrikam.contains(c)));
    let (s, v) = onprem_get(&sim, &format!("{base}/companies?Tenant=CONTOSO")).await;
    assert_eq!(s, 200, "{v}");
    let ids: Vec<String> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = contoso.iter().map(|c| c.to_string()).collect();
    assert_eq!(ids, want);
    let (_, v) = onprem_get(
        &sim,
        &format!("{base}/companies({})/customers?Tenant=CONTOSO", contoso[0]),
    )
    .await;
    let next = v["@odata.nextLink"].as_str().unwrap();
    assert_eq!(next.to_lowercase().matches("tenant=").count(), 1, "{next}");
    let (s, v) = onprem_get(
        &sim,
        &format!("{base}/companies({})/customers?tenant=contoso", fabrikam[0]),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_bc_error(&v, "Internal_CompanyNotFound");
    // Paging keeps the tenant.
    let mut url = Some(format!(
        "{base}/companies({})/customers?tenant=fabrikam",
        fabrikam[0]
    ));
    let mut n = 0;
    let mut pages = 0;
    while let Some(u) = url {
        let (s, v) = onprem_get(&sim, &u).await;
        assert_eq!(s, 200, "{u}: {v}");
        n += v["value"].as_array().unwrap().len();
        pages += 1;
        url = v["@odata.nextLink"].as_str().map(|l| {
            assert!(l.contains("tenant=fabrikam&aid=FIN&$skiptoken="), "{l}");
            l.to_string()
        });
    }
    assert!(pages > 1);
    assert_eq!(n, sim.config().data.customers);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_default_tenant_answers_requests_without_one() {
    let sim = start_with(|c| {
        c.onprem.as_mut().unwrap().tenants = vec!["default".into(), "other".into()];
    })
    .await;
    let base = sim.onprem_api_base().unwrap();
    let co = sim.onprem_tenant_company_ids("default")[0];
    let (s, v) = onprem_get(&sim, &format!("{base}/companies({co})/customers")).await;
    assert_eq!(s, 200, "{v}");
    let next = v["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.contains("?tenant=default&aid=FIN&$skiptoken="),
        "{next}"
    );
    let (s, _) = onprem_get(&sim, next).await;
    assert_eq!(s, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_single_tenant_instance_needs_no_tenant() {
    let sim = start().await;
    assert!(sim.onprem_tenants().is_empty());
    let base = sim.onprem_api_base().unwrap();
    let co = sim.onprem_company_ids()[0];
    let (s, v) = onprem_get(&sim, &format!("{base}/companies({co})/customers")).await;
    assert_eq!(s, 200, "{v}");
    let next = v["@odata.nextLink"].as_str().unwrap();
    assert!(!next.contains("tenant="), "{next}");
    sim.shutdown().await;
}
