//! `ledgerlink serve --sandbox`: ledgerlink with a simulated Business Central (bc-sim) in the same
//! process, its Entra app configured, on an embedded SQLite database of its own — the whole flow
//! (connect, consent, setup, sync, change feed) with one command and no Microsoft account.

use std::path::PathBuf;

use crate::config::{Config, EntraSettings};

/// Where sandbox data lives unless a data directory is given: apart from real connections' `./data`.
pub const SANDBOX_DATA_DIR: &str = "./data-sandbox";

/// A running simulator and what the banner tells about it.
pub struct Sandbox {
    /// The simulated Business Central (stops when dropped with the process).
    pub sim: bc_sim::Sim,
}

/// Starts bc-sim on a free loopback port and points `config` at it: Entra app, login and API base
/// URLs, loopback allowed for on-premises URLs (the simulator's on-prem instance). Refuses a
/// `database_url`: sandbox data must never mix with real connections.
pub async fn start(config: &mut Config, data_dir_given: bool) -> anyhow::Result<Sandbox> {
    anyhow::ensure!(
        config.database_url.is_none(),
        "--sandbox runs on an embedded SQLite database of its own (default {SANDBOX_DATA_DIR}): \
         unset database_url / DATABASE_URL / LEDGERLINK_DATABASE_URL"
    );
    if !data_dir_given {
        config.data_dir = PathBuf::from(SANDBOX_DATA_DIR);
    }
    let public = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    let redirect = format!(
        "{}/v2/integrations/oauth/callback",
        public.trim_end_matches('/')
    );
    let mut sim_config = bc_sim::SimConfig {
        listen: Some("127.0.0.1:0".parse()?),
        ..Default::default()
    };
    // One company: consent leads straight to a configured, syncing connection.
    sim_config.data.companies = 1;
    sim_config.extension_installed = true;
    sim_config.app.client_id = "ledgerlink-sandbox".into();
    sim_config.app.client_secret = ledgerlink_domain::new_id("sandbox");
    sim_config.app.redirect_uris = vec![redirect.clone()];
    let sim = bc_sim::Sim::start(sim_config).await?;
    config.set_entra(Some(EntraSettings {
        client_id: sim.client_id(),
        client_secret: secrecy::SecretString::from(sim.client_secret()),
        redirect_uri: Some(redirect),
    }));
    config.bc_login_base_url = sim.base_url();
    config.bc_api_base_url = sim.base_url();
    config.allow_http_api_url = true;
    if !config.allowed_hosts.iter().any(|h| h == "127.0.0.1") {
        config.allowed_hosts.push("127.0.0.1".into());
    }
    Ok(Sandbox { sim })
}

/// The next steps printed at start: the seed's call with the key filled in, the browser step, the feed.
pub fn banner(url: &str, key: &str, sim: &bc_sim::Sim, data_dir: &std::path::Path) -> String {
    let onprem = sim.onprem_api_base().unwrap_or_default();
    let (user, access_key) = sim.onprem_credentials().unwrap_or_default();
    format!(
        "
  SANDBOX: ledgerlink is connected to a simulated Business Central (bc-sim at {sim_url}),
  not to Microsoft. Its data lives in {data} (apart from real connections); the simulator starts
  afresh with every run, so reconnect after a restart.

  API key (sandbox organization \"default\"):

    {key}

  1. Create a connection (the seed's call):

    curl --request POST --url {url}/v2/integrations/connections \\
      --header 'Authorization: Bearer {key}' \\
      --header 'Content-Type: application/json' \\
      --data '{{\"provider_name\": \"ms-dynamics-bc\", \"name\": \"Acme BC\", \"api_url\": null, \"is_on_premise\": false}}'

  2. Open the answer's authorization_url in a browser: the simulator signs in its test user, consents,
     and you land on \"Connected\". Setup picks the only company and the first sync starts at once.
     Or, as a customer's finance admin would, open the hosted connect page and watch the first sync:

    curl --request POST --header 'Authorization: Bearer {key}' {url}/v2/integrations/connections/CONN/connect-link

  3. Read the change feed (put the connection's id in place of CONN):

    curl --header 'Authorization: Bearer {key}' '{url}/v2/integrations/connections/CONN/records/invoices?limit=5'

  On-premises instead: create with \"is_on_premise\": true, \"api_url\": \"{onprem}\", then
  PUT {url}/v2/integrations/connections/CONN/credentials with {{\"username\": \"{user}\",
  \"web_service_access_key\": \"{access_key}\"}}.
",
        sim_url = sim.base_url(),
        data = data_dir.display(),
    )
}
