//! The Business Central connector against the real simulator (bc-sim) over HTTP: no mocks.

mod discovery;
mod faults;
mod logs;
mod oauth;
mod paging;
mod payments;

use std::collections::HashMap;

use bc_sim::{Sim, SimConfig};
use ledgerlink_connectors::business_central::{BcConfig, BusinessCentral, EntraApp};
use ledgerlink_connectors::{
    AuthorizationRequest, Connector, Credentials, Pkce, Session, SsrfPolicy, Target, TokenSet,
};
use url::Url;

/// A simulator with the default dataset (one tenant, one environment, two companies, on-prem on).
pub async fn sim() -> Sim {
    sim_with(SimConfig::default()).await
}

/// A simulator with a custom configuration.
pub async fn sim_with(config: SimConfig) -> Sim {
    Sim::start(config).await.expect("bc-sim starts")
}

/// Connector configuration pointing both base URLs at the simulator, with its Entra app and the
/// simulator's loopback address allow-listed for on-prem URLs.
pub fn config(sim: &Sim) -> BcConfig {
    let base: Url = sim.base_url().parse().unwrap();
    BcConfig {
        login_base_url: base.clone(),
        api_base_url: base,
        app: Some(EntraApp::new(
            sim.client_id(),
            sim.client_secret().into(),
            sim.redirect_uri().parse().unwrap(),
        )),
        ssrf: SsrfPolicy::default().with_http(true).allow("127.0.0.1"),
        ..Default::default()
    }
}

/// The connector for `sim`.
pub fn connector(sim: &Sim) -> BusinessCentral {
    BusinessCentral::new(config(sim)).unwrap()
}

/// Follows the authorization URL the way a browser does (one redirect, read by hand) and returns the
/// query of the redirect back to us.
pub async fn browse(url: &Url) -> HashMap<String, String> {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser.get(url.clone()).send().await.unwrap();
    assert_eq!(answer.status(), 302, "authorize should redirect");
    let location = answer.headers()["location"].to_str().unwrap();
    let back = Url::parse(location).unwrap();
    back.query_pairs().into_owned().collect()
}

/// Consent + code exchange, as the OAuth callback will do it.
pub async fn authorize(bc: &BusinessCentral) -> TokenSet {
    let pkce = Pkce::generate();
    let url = bc
        .authorization_url(&AuthorizationRequest {
            state: "conn_1.sig".into(),
            code_challenge: pkce.challenge.clone(),
            ..Default::default()
        })
        .unwrap();
    let back = browse(&url).await;
    assert_eq!(back.get("state").map(String::as_str), Some("conn_1.sig"));
    bc.exchange_code(&back["code"], &pkce.verifier)
        .await
        .unwrap()
}

/// A cloud session for the simulator's first environment.
pub fn cloud(sim: &Sim, tokens: &TokenSet, company: Option<String>) -> Session {
    Session {
        target: Target {
            api_url: None,
            tenant_id: Some(sim.tenant_id().to_string()),
            environment: Some(sim.environment()),
            company_id: company,
        },
        credentials: Credentials::Bearer(tokens.access_token.clone()),
    }
}

/// An on-prem session (Basic auth) for the simulator's server instance.
pub fn on_prem(sim: &Sim, company: Option<String>) -> Session {
    let (user, key) = sim.onprem_credentials().unwrap();
    let base = sim.onprem_api_base().unwrap();
    let api_url = base.trim_end_matches("/api/v2.0").parse().unwrap();
    Session {
        target: Target {
            api_url: Some(api_url),
            company_id: company,
            ..Default::default()
        },
        credentials: Credentials::Basic {
            username: user,
            password: key.into(),
        },
    }
}

/// The first company of the cloud environment.
pub fn first_company(sim: &Sim) -> String {
    sim.company_ids()[0].to_string()
}
