//! Payment write-back benchmark: an in-process bc-sim with Business Central's limits on (6,000
//! requests per 5 minutes, 5 at once), a connection synced, then N payments — each applied to one
//! open invoice — posted through `POST …/records/payments` and carried out by W job runners. Reports
//! payments per minute and BC requests per payment.
//!
//! Usage: bench_writes [--payments N] [--runners W] [--database-url URL]

use std::time::Instant;

use serde_json::{Value, json};

mod common;
use common::arg;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let payments: usize = arg("--payments").map_or(Ok(1000), |v| v.parse())?;
    let runners: usize = arg("--runners").map_or(Ok(4), |v| v.parse())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let listen = listener.local_addr()?;
    let redirect = format!("http://{listen}/v2/integrations/oauth/callback");
    let mut sim_config = bc_sim::SimConfig {
        listen: Some("127.0.0.1:0".parse()?),
        ..Default::default()
    };
    sim_config.data.companies = 1;
    sim_config.data.customers = 200;
    sim_config.data.invoices = payments * 3;
    sim_config.data.lines_per_invoice = 1;
    sim_config.app.redirect_uris = vec![redirect.clone()];
    let sim = bc_sim::Sim::start(sim_config).await?;
    let dir = tempfile::tempdir()?;
    let mut config = ledgerlink::Config {
        listen,
        data_dir: dir.path().to_owned(),
        database_url: arg("--database-url").map(secrecy::SecretString::from),
        bc_login_base_url: sim.base_url(),
        bc_api_base_url: sim.base_url(),
        health_check_interval_secs: 0,
        workers: 0,
        // The benchmark's client posts as fast as it can; BC's limits are what is measured.
        tenant_requests_per_second: 0,
        ..ledgerlink::Config::default()
    };
    config.set_entra(Some(ledgerlink::config::EntraSettings {
        client_id: sim.client_id(),
        client_secret: secrecy::SecretString::from(sim.client_secret()),
        redirect_uri: Some(redirect),
    }));
    let running = ledgerlink::start_on(&config, listener, std::future::pending()).await?;
    let key = running.bootstrap_key.clone().expect("fresh database");
    let http = reqwest::Client::new();
    let base = running.url();
    let created: Value = http
        .post(format!("{base}/v2/integrations/connections"))
        .bearer_auth(&key)
        .json(&json!({"provider_name": "ms-dynamics-bc", "name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let id = created["id"].as_str().expect("created").to_owned();
    http.get(created["authorization_url"].as_str().expect("url"))
        .send()
        .await?;
    running.engine.drain_jobs("bench").await?;
    running.engine.drain_syncs("bench").await?;
    let models: Value = http
        .get(format!("{base}/v2/integrations/connections/{id}/models"))
        .bearer_auth(&key)
        .send()
        .await?
        .json()
        .await?;
    let payments_model = models
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "payments"))
        .and_then(|m| m["id"].as_str())
        .expect("payments model")
        .to_owned();
    http.patch(format!(
        "{base}/v2/integrations/connections/{id}/models/{payments_model}"
    ))
    .bearer_auth(&key)
    .json(&json!({"is_write_enabled": true}))
    .send()
    .await?
    .error_for_status()?;

    // Open invoices from the feed.
    let mut open = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url =
            format!("{base}/v2/integrations/connections/{id}/records/invoices?limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = http.get(url).bearer_auth(&key).send().await?.json().await?;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        for r in &data {
            let d = &r["data"];
            let due_text = d["amount_due"].to_string().trim_matches('"').to_owned();
            let due = due_text.parse::<f64>().ok();
            if d["status"] == "open" && due.is_some_and(|d| d >= 0.02) {
                open.push((
                    r["remote_id"].as_str().unwrap_or_default().to_owned(),
                    d["customer_remote_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    due_text,
                ));
            }
        }
        if data.is_empty() {
            break;
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    anyhow::ensure!(open.len() >= payments, "only {} open invoices", open.len());
    let mut accepted = 0;
    for (i, (invoice, customer, due)) in open.iter().enumerate() {
        if accepted == payments {
            break;
        }
        let r = http
            .post(format!(
                "{base}/v2/integrations/connections/{id}/records/payments"
            ))
            .bearer_auth(&key)
            .header("idempotency-key", format!("bench-{i}"))
            .json(&json!({
                "customer_remote_id": customer,
                "amount": due,
                "payment_date": "2026-11-28",
                "reference": format!("bench-{i}"),
                "applied_to": [{"invoice_remote_id": invoice, "amount": due}],
            }))
            .send()
            .await?;
        match r.status().as_u16() {
            202 => accepted += 1,
            // A customer blocked for everything in BC: refused before anything reaches BC.
            422 => continue,
            _ => anyhow::bail!("payment {i}: {}", r.text().await?),
        }
    }
    anyhow::ensure!(accepted == payments, "only {accepted} payments accepted");

    let requests = |sim: &bc_sim::Sim| -> u64 {
        sim.request_counts()
            .iter()
            .filter(|(k, _)| !k.contains("oauth2") && !k.contains("_sim"))
            .map(|(_, n)| *n)
            .sum()
    };
    let before = requests(&sim);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for r in 0..runners {
        let engine = running.engine.clone();
        tasks.push(tokio::spawn(async move {
            engine.drain_jobs(&format!("bench-{r}")).await
        }));
    }
    let mut ran = 0;
    for t in tasks {
        ran += t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let used = requests(&sim) - before;
    let org = ledgerlink_domain::OrgId(running.store.org_by_name("default").await?.unwrap().0);
    let done = running
        .store
        .list_writes(
            &org,
            &id,
            Some(ledgerlink_domain::WriteStatus::Complete),
            None,
            200,
        )
        .await?
        .len();
    println!(
        "payments: {payments}, job runs: {ran}, runners: {runners}, seconds: {secs:.1}, \
         payments/min: {:.0}, BC requests: {used}, requests/payment: {:.2}, \
         complete (first 200 listed): {done}",
        payments as f64 / secs * 60.0,
        used as f64 / payments as f64,
    );
    Ok(())
}
