use bc_sim::{DataConfig, FaultConfig, SimConfig};
use ledgerlink_connectors::{Connector, Credentials, ErrorKind};

use crate::{authorize, cloud, connector, first_company, on_prem, sim, sim_with};

#[tokio::test]
async fn cloud_discovery_lists_environment_and_companies() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let mut session = cloud(&sim, &tokens, None);
    session.target.environment = None;
    session.target.tenant_id = None;
    let found = bc.discover(&session).await.unwrap();
    assert_eq!(found.tenant_id, Some(sim.tenant_id().to_string()));
    assert_eq!(found.environments.len(), 1);
    assert_eq!(found.environment.as_deref(), Some("Production"));
    assert_eq!(found.environments[0].kind.as_deref(), Some("production"));
    let mut ids: Vec<String> = found.companies.iter().map(|c| c.id.clone()).collect();
    let mut want: Vec<String> = sim.company_ids().iter().map(|c| c.to_string()).collect();
    ids.sort();
    want.sort();
    assert_eq!(ids, want);
    assert!(found.companies.iter().all(|c| !c.display_name.is_empty()));
    // Two companies: the choice is the user's, nothing probed yet.
    assert_eq!(found.company_id, None);
    assert_eq!(found.extension_installed, None);
}

#[tokio::test]
async fn a_chosen_company_is_probed_for_the_extension() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let company = first_company(&sim);
    let session = cloud(&sim, &tokens, Some(company.clone()));
    let found = bc.discover(&session).await.unwrap();
    assert_eq!(found.company_id.as_deref(), Some(company.as_str()));
    assert_eq!(found.extension_installed, Some(true));
    sim.set_extension(sim.company_ids()[0], false);
    let found = bc.discover(&session).await.unwrap();
    assert_eq!(found.extension_installed, Some(false));
}

#[tokio::test]
async fn the_chosen_companys_local_currency_is_read() {
    let mut config = SimConfig::default();
    config.data.local_currency = "CAD".into();
    let sim = sim_with(config).await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let undecided = bc.discover(&cloud(&sim, &tokens, None)).await.unwrap();
    assert_eq!(undecided.local_currency, None, "no company, no currency");

    let [first, second] = [sim.company_ids()[0], sim.company_ids()[1]];
    sim.set_local_currency(second, "GBP");
    let in_first = cloud(&sim, &tokens, Some(first.to_string()));
    let found = bc.discover(&in_first).await.unwrap();
    assert_eq!(found.local_currency.as_deref(), Some("CAD"));
    let in_second = cloud(&sim, &tokens, Some(second.to_string()));
    let found = bc.discover(&in_second).await.unwrap();
    assert_eq!(found.local_currency.as_deref(), Some("GBP"));
    let company = sim.onprem_company_ids()[0].to_string();
    let found = bc.discover(&on_prem(&sim, Some(company))).await.unwrap();
    assert_eq!(found.local_currency.as_deref(), Some("CAD"), "on-prem too");

    // A BC without `companyInformation`: unknown, and discovery still succeeds.
    sim.set_faults(FaultConfig {
        company_information_absent: vec![first],
        ..Default::default()
    });
    let found = bc.discover(&in_first).await.unwrap();
    assert_eq!(found.local_currency, None);
    assert_eq!(found.extension_installed, Some(true));
    assert_eq!(found.company_id, Some(first.to_string()));
}

#[tokio::test]
async fn a_single_company_is_picked() {
    let sim = sim_with(SimConfig {
        data: DataConfig {
            companies: 1,
            ..Default::default()
        },
        extension_installed: false,
        ..Default::default()
    })
    .await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let found = bc.discover(&cloud(&sim, &tokens, None)).await.unwrap();
    assert_eq!(found.company_id, Some(first_company(&sim)));
    assert_eq!(found.extension_installed, Some(false));
}

#[tokio::test]
async fn an_unknown_environment_is_reported_not_invented() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    let mut session = cloud(&sim, &tokens, None);
    session.target.environment = Some("Nope".into());
    let found = bc.discover(&session).await.unwrap();
    assert_eq!(found.environment, None);
    assert!(found.companies.is_empty());
    assert_eq!(found.environments[0].name, "Production");
}

#[tokio::test]
async fn on_prem_discovery_and_credential_validation() {
    let sim = sim().await;
    let bc = connector(&sim);
    let session = on_prem(&sim, None);
    bc.validate_credentials(&session).await.unwrap();
    let found = bc.discover(&session).await.unwrap();
    assert!(found.environments.is_empty());
    assert_eq!(found.companies.len(), sim.onprem_company_ids().len());
    let mut wrong = session.clone();
    wrong.credentials = Credentials::Basic {
        username: "ADMIN".into(),
        password: "wrong-key".to_owned().into(),
    };
    let err = bc.validate_credentials(&wrong).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(!format!("{err:?}").contains("wrong-key"));
}

#[tokio::test]
async fn health_is_ok_when_everything_is_there() {
    let sim = sim().await;
    let bc = connector(&sim);
    let tokens = authorize(&bc).await;
    bc.health_check(&cloud(&sim, &tokens, Some(first_company(&sim))))
        .await
        .unwrap();
    let company = sim.onprem_company_ids()[0].to_string();
    bc.health_check(&on_prem(&sim, Some(company)))
        .await
        .unwrap();
}

#[tokio::test]
async fn companies_are_read_across_pages() {
    let sim = sim_with(SimConfig {
        data: DataConfig {
            companies: 5,
            customers: 1,
            invoices: 1,
            credit_memos: 1,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    sim.set_limits(bc_sim::LimitsConfig {
        max_page_size: 2,
        ..Default::default()
    });
    let bc = connector(&sim);
    let found = bc.discover(&on_prem(&sim, None)).await.unwrap();
    assert_eq!(found.companies.len(), 5);
    assert_eq!(found.company_id, None);
}
