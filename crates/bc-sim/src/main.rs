//! `bc-sim` binary: run the Business Central simulator on an address.
#![forbid(unsafe_code)]

use std::net::SocketAddr;

use bc_sim::{FaultConfig, Sim, SimConfig};
use clap::Parser;

/// A Microsoft Dynamics 365 Business Central (API v2.0) simulator: Entra-shaped OAuth,
/// cloud and on-prem API shapes, OData paging/filters, limits, faults, webhooks and an
/// admin API under /_sim/.
#[derive(Parser, Debug)]
#[command(name = "bc-sim", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "BC_SIM_LISTEN")]
    listen: SocketAddr,
    /// Seed of the data generator and of fault randomness.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Companies per environment.
    #[arg(long, default_value_t = 2)]
    companies: usize,
    /// Customers per company.
    #[arg(long, default_value_t = 20)]
    customers: usize,
    /// Posted sales invoices per company.
    #[arg(long, default_value_t = 100)]
    invoices: usize,
    /// Lines per invoice and credit memo.
    #[arg(long, default_value_t = 3)]
    lines_per_invoice: usize,
    /// Sales credit memos per company.
    #[arg(long, default_value_t = 10)]
    credit_memos: usize,
    /// Local currency code of every company (blank currency codes mean this one).
    #[arg(long, default_value = "USD")]
    local_currency: String,
    /// Access token lifetime in seconds (simulated clock).
    #[arg(long, default_value_t = 3599)]
    access_token_secs: u64,
    /// Disable BC's operational limits.
    #[arg(long)]
    no_limits: bool,
    /// Requests per 5-minute window per principal.
    #[arg(long, default_value_t = 6000)]
    requests_per_window: u32,
    /// Requests processed concurrently per principal.
    #[arg(long, default_value_t = 5)]
    max_concurrent: usize,
    /// Max queued requests per principal (beyond: 429).
    #[arg(long, default_value_t = 95)]
    max_queue: usize,
    /// Max queue wait in milliseconds (beyond: 503 + Retry-After).
    #[arg(long, default_value_t = 480_000)]
    queue_timeout_ms: u64,
    /// Max entities per page.
    #[arg(long, default_value_t = 20_000)]
    max_page_size: usize,
    /// Fault: rate (0..1) of 5xx answers.
    #[arg(long, default_value_t = 0.0)]
    fault_5xx: f64,
    /// Fault: rate of spurious 429 answers.
    #[arg(long, default_value_t = 0.0)]
    fault_429: f64,
    /// Fault: rate of slow answers.
    #[arg(long, default_value_t = 0.0)]
    fault_slow: f64,
    /// Fault: delay of a slow answer in ms.
    #[arg(long, default_value_t = 2000)]
    fault_slow_ms: u64,
    /// Fault: rate of dropped connections.
    #[arg(long, default_value_t = 0.0)]
    fault_drop: f64,
    /// Fault: rate of truncated bodies.
    #[arg(long, default_value_t = 0.0)]
    fault_truncate: f64,
    /// Fault: every API call answers 403 (missing permissions).
    #[arg(long)]
    fault_forbidden: bool,
    /// Fault: answer this environment as removed (repeatable).
    #[arg(long)]
    fault_remove_environment: Vec<String>,
    /// Fault: answer this company id as removed (repeatable).
    #[arg(long)]
    fault_remove_company: Vec<uuid::Uuid>,
    /// Fault: the companion extension is absent in this company id (repeatable).
    #[arg(long)]
    fault_extension_absent: Vec<uuid::Uuid>,
    /// Fault: `companyInformation` answers 404 in this company id, as on old BC versions (repeatable).
    #[arg(long)]
    fault_company_information_absent: Vec<uuid::Uuid>,
    /// Start with the ledgerlink companion extension absent in every company.
    #[arg(long)]
    no_extension: bool,
    /// Client id of the Entra app.
    #[arg(long)]
    client_id: Option<String>,
    /// Client secret of the Entra app.
    #[arg(long)]
    client_secret: Option<String>,
    /// Registered redirect URI (repeatable).
    #[arg(long)]
    redirect_uri: Vec<String>,
    /// Make the on-prem instance multitenant with these tenant ids (requests then need
    /// `?tenant=<id>`); repeat the flag or separate with commas.
    #[arg(long, value_delimiter = ',')]
    onprem_tenants: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let a = Args::parse();
    let mut c = SimConfig {
        listen: Some(a.listen),
        seed: a.seed,
        ..Default::default()
    };
    c.data.companies = a.companies;
    c.data.customers = a.customers;
    c.data.invoices = a.invoices;
    c.data.lines_per_invoice = a.lines_per_invoice;
    c.data.credit_memos = a.credit_memos;
    c.data.local_currency = a.local_currency;
    c.tokens.access_token = std::time::Duration::from_secs(a.access_token_secs);
    c.limits.enabled = !a.no_limits;
    c.limits.requests_per_window = a.requests_per_window;
    c.limits.max_concurrent = a.max_concurrent;
    c.limits.max_queue = a.max_queue;
    c.limits.queue_timeout_ms = a.queue_timeout_ms;
    c.limits.max_page_size = a.max_page_size;
    c.faults = FaultConfig {
        error_5xx_rate: a.fault_5xx,
        throttle_rate: a.fault_429,
        slow_rate: a.fault_slow,
        slow_ms: a.fault_slow_ms,
        drop_rate: a.fault_drop,
        truncate_rate: a.fault_truncate,
        forbidden: a.fault_forbidden,
        tokens_expired: false,
        removed_environments: a.fault_remove_environment,
        removed_companies: a.fault_remove_company,
        extension_absent: a.fault_extension_absent,
        company_information_absent: a.fault_company_information_absent,
        unknown_properties: Vec::new(),
        targeted: Vec::new(),
    };
    c.extension_installed = !a.no_extension;
    if let Some(op) = c.onprem.as_mut() {
        op.tenants = a.onprem_tenants;
    }
    if let Some(id) = a.client_id {
        c.app.client_id = id;
    }
    if let Some(s) = a.client_secret {
        c.app.client_secret = s;
    }
    if !a.redirect_uri.is_empty() {
        c.app.redirect_uris = a.redirect_uri;
    }
    let sim = Sim::start(c).await?;
    println!("{}", serde_json::to_string_pretty(&sim.info())?);
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
