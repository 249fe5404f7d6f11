#![forbid(unsafe_code)]
//! `ledgerlink`: the command-line entry point. Everything it does lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ledgerlink::config::{Config, Layer, LogFormat};

/// mimalloc instead of glibc's allocator: request handling and syncs allocate and free many small
/// buffers, and glibc's `malloc`/`free` took a large share of their profiles (BENCHMARKS.md, issue #12).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Keeps a finance platform's receivables data in sync with its customers' ERP systems.
///
/// ledgerlink serves an HTTP API (wire-compatible with Stuut's /v2/integrations) through which an
/// organization connects Microsoft Dynamics 365 Business Central, then syncs customers, invoices,
/// payments and more into a change feed. Settings come from defaults, a TOML file (--config),
/// LEDGERLINK_* environment variables and flags, in that order; see the README's table.
#[derive(Parser)]
#[command(
    name = "ledgerlink",
    version,
    about,
    long_about,
    after_help = "Examples:\n  \
        ledgerlink serve                                  # API and workers on 127.0.0.1:8080, SQLite in ./data\n  \
        ledgerlink serve --sandbox                        # the same with a simulated Business Central\n  \
        DATABASE_URL=postgres://localhost/ledgerlink ledgerlink serve --role api\n  \
        ledgerlink api-keys create --org acme --name billing-sync\n  \
        ledgerlink openapi > openapi.json"
)]
struct Cli {
    /// TOML configuration file (its values sit between the defaults and LEDGERLINK_* variables).
    #[arg(long, global = true, env = "LEDGERLINK_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the HTTP API and sync workers (applies migrations first; on an empty database creates an
    /// organization and prints its first API key).
    #[command(after_help = "Examples:\n  \
        ledgerlink serve\n  \
        ledgerlink serve --sandbox        # try everything against a simulated Business Central\n  \
        ledgerlink serve --listen 0.0.0.0:8080 --data-dir /var/lib/ledgerlink\n  \
        DATABASE_URL=postgres://db/ledgerlink ledgerlink serve --role worker")]
    Serve {
        /// Address to listen on [env: LEDGERLINK_LISTEN] [default: 127.0.0.1:8080].
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Directory of the embedded database [env: LEDGERLINK_DATA_DIR] [default: ./data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// What this process does: `api` (HTTP only), `worker` (syncs; HTTP for probes) or `all`.
        #[arg(long, value_enum, default_value = "all")]
        role: Role,
        /// Try ledgerlink without a Microsoft account: starts a simulated Business Central (bc-sim) in
        /// this process with its Entra app configured, on an embedded SQLite database of its own
        /// (./data-sandbox unless --data-dir is given), and prints the next steps with an API key.
        #[arg(long)]
        sandbox: bool,
    },
    /// Applies pending database migrations and exits (serve applies them too).
    #[command(after_help = "Examples:\n  \
        ledgerlink migrate --data-dir /var/lib/ledgerlink\n  \
        DATABASE_URL=postgres://db/ledgerlink ledgerlink migrate")]
    Migrate {
        /// Directory of the embedded database [env: LEDGERLINK_DATA_DIR] [default: ./data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Creates, lists, revokes and rotates API keys (the HTTP API's Bearer tokens).
    #[command(
        name = "api-keys",
        subcommand,
        after_help = "Examples:\n  \
            ledgerlink api-keys create --org acme --name billing-sync\n  \
            ledgerlink api-keys list --org acme\n  \
            ledgerlink api-keys rotate key_01j… --grace-secs 3600\n  \
            ledgerlink api-keys revoke key_01j…"
    )]
    ApiKeys(ApiKeys),
    /// Prints the OpenAPI document of the HTTP API (JSON) and exits.
    #[command(after_help = "Example:\n  ledgerlink openapi > openapi.json")]
    Openapi,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Role {
    Api,
    Worker,
    All,
}

#[derive(Subcommand)]
enum ApiKeys {
    /// Creates an API key for an organization (creating the organization if needed) and prints the key,
    /// alone, on the last line. The key is shown only this once.
    #[command(after_help = "Example:\n  ledgerlink api-keys create --org acme --name billing-sync")]
    Create {
        /// Organization name.
        #[arg(long)]
        org: String,
        /// What the key is for (shown by `list`).
        #[arg(long)]
        name: Option<String>,
        /// Directory of the embedded database [env: LEDGERLINK_DATA_DIR] [default: ./data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Lists API keys, newest first: id, organization, name, prefix, created, last used (to the
    /// minute) and status. The keys themselves are never stored, so never shown.
    #[command(after_help = "Examples:\n  \
        ledgerlink api-keys list\n  \
        ledgerlink api-keys list --org acme --json")]
    List {
        /// Only this organization's keys.
        #[arg(long)]
        org: Option<String>,
        /// One JSON object per key, one per line.
        #[arg(long)]
        json: bool,
        /// Directory of the embedded database [env: LEDGERLINK_DATA_DIR] [default: ./data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Revokes an API key at once: every server sharing the database refuses it from its next
    /// request on.
    #[command(after_help = "Example:\n  ledgerlink api-keys revoke key_01j…")]
    Revoke {
        /// The key's id (`key_…`, from `list`).
        id: String,
        /// Directory of the embedded database [env: LEDGERLINK_DATA_DIR] [default: ./data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Replaces an API key with a new one (same organization and name), prints the new key alone on
    /// the last line, and revokes the old one, at once or after a grace period.
    #[command(after_help = "Examples:\n  \
        ledgerlink api-keys rotate key_01j…\n  \
        ledgerlink api-keys rotate key_01j… --grace-secs 3600   # the old key works one more hour")]
    Rotate {
        /// The key's id (`key_…`, from `list`).
        id: String,
        /// Seconds the old key keeps working, so clients can switch (0: revoked at once).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=2_592_000))]
        grace_secs: u64,
        /// Directory of the embedded database [env: LEDGERLINK_DATA_DIR] [default: ./data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

impl ApiKeys {
    fn data_dir(&self) -> Option<PathBuf> {
        match self {
            ApiKeys::Create { data_dir, .. }
            | ApiKeys::List { data_dir, .. }
            | ApiKeys::Revoke { data_dir, .. }
            | ApiKeys::Rotate { data_dir, .. } => data_dir.clone(),
        }
    }
}

fn main() -> ExitCode {
    ledgerlink::allocator::apply_settings();
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        print!("{}", ledgerlink_api::openapi_json());
        return ExitCode::SUCCESS;
    }
    let (listen, data_dir) = match &cli.command {
        Command::Serve {
            listen, data_dir, ..
        } => (listen.clone(), data_dir.clone()),
        Command::Migrate { data_dir } => (None, data_dir.clone()),
        Command::ApiKeys(keys) => (None, keys.data_dir()),
        Command::Openapi => unreachable!("handled above"),
    };
    let mut flags = Layer::default();
    if let Some(listen) = listen {
        flags = flags.set("listen", listen);
    }
    if let Some(dir) = data_dir {
        let Some(dir) = dir.to_str() else {
            eprintln!("ledgerlink: configuration: data_dir: {dir:?} is not valid UTF-8");
            return ExitCode::from(2);
        };
        flags = flags.set("data_dir", dir);
    }
    let config = match Config::load(cli.config.as_deref(), |k| std::env::var(k).ok(), flags) {
        Ok(mut config) => {
            if let Command::Serve {
                role: Role::Api, ..
            } = cli.command
            {
                config.workers = 0;
            }
            if let Command::Serve {
                role: Role::Worker, ..
            } = cli.command
                && config.workers == 0
            {
                config.workers = 2;
            }
            config
        }
        Err(err) => {
            eprintln!("ledgerlink: {err}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("ledgerlink: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ledgerlink: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { sandbox, .. } => serve(config, sandbox).await,
        Command::Migrate { .. } => {
            ledgerlink::open_store(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::ApiKeys(command) => {
            let store = ledgerlink::open_store(&config).await?;
            api_keys(&*store, command).await
        }
        Command::Openapi => Ok(()),
    }
}

async fn api_keys(store: &dyn ledgerlink_store::Store, command: ApiKeys) -> anyhow::Result<()> {
    match command {
        ApiKeys::Create { org, name, .. } => {
            let key = ledgerlink::create_named_api_key(store, &org, name.as_deref()).await?;
            println!(
                "API key for organization {:?} (shown once, store it now):",
                org.trim()
            );
            println!("{key}");
        }
        ApiKeys::List { org, json, .. } => {
            let keys = ledgerlink::list_api_keys(store, org.as_deref()).await?;
            print_keys(&keys, json);
        }
        ApiKeys::Revoke { id, .. } => {
            let key = ledgerlink::revoke_api_key(store, &id).await?;
            println!(
                "Revoked API key {} ({}) of organization {:?}.",
                key.id, key.prefix, key.org_name
            );
        }
        ApiKeys::Rotate { id, grace_secs, .. } => {
            let grace = std::time::Duration::from_secs(grace_secs);
            let key = ledgerlink::rotate_api_key(store, &id, grace).await?;
            if grace_secs == 0 {
                println!("Revoked {id}. Its replacement (shown once, store it now):");
            } else {
                println!(
                    "{id} keeps working for {grace_secs} s. Its replacement (shown once, store it now):"
                );
            }
            println!("{key}");
        }
    }
    Ok(())
}

fn print_keys(keys: &[ledgerlink_store::ApiKeyInfo], json: bool) {
    let now = ledgerlink_domain::now();
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("-".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string())
    };
    let status = |k: &ledgerlink_store::ApiKeyInfo| match k.revoked_at {
        None => "active".to_owned(),
        Some(at) if at > now => format!("active until {}", time(Some(at))),
        Some(at) => format!("revoked {}", time(Some(at))),
    };
    if json {
        for k in keys {
            let line = serde_json::json!({
                "id": k.id, "org_id": k.org_id, "org": k.org_name, "name": k.name,
                "prefix": k.prefix, "created_at": k.created_at, "last_used_at": k.last_used_at,
                "revoked_at": k.revoked_at, "is_active": k.is_active(now),
            });
            println!("{line}");
        }
        return;
    }
    println!(
        "{:<30}  {:<16}  {:<20}  {:<10}  {:<16}  {:<16}  STATUS",
        "ID", "ORGANIZATION", "NAME", "PREFIX", "CREATED", "LAST USED"
    );
    for k in keys {
        println!(
            "{:<30}  {:<16}  {:<20}  {:<10}  {:<16}  {:<16}  {}",
            k.id,
            k.org_name,
            k.name.as_deref().unwrap_or("-"),
            k.prefix,
            time(Some(k.created_at)),
            time(k.last_used_at),
            status(k)
        );
    }
}

async fn serve(mut config: Config, sandbox: bool) -> anyhow::Result<()> {
    let sandbox = if sandbox {
        let data_dir_given = config.data_dir != Config::default().data_dir;
        Some(ledgerlink::sandbox::start(&mut config, data_dir_given).await?)
    } else {
        None
    };
    let running = ledgerlink::start(&config, ledgerlink::shutdown_signal()).await?;
    let url = running.url();
    if let Some(sandbox) = &sandbox {
        // A key every run: the sandbox's point is the next steps, and keys are shown only once.
        let key = match &running.bootstrap_key {
            Some(key) => key.clone(),
            None => {
                ledgerlink::create_named_api_key(
                    &*running.store,
                    ledgerlink::DEFAULT_ORG,
                    Some("sandbox"),
                )
                .await?
            }
        };
        println!(
            "{}",
            ledgerlink::sandbox::banner(&url, &key, &sandbox.sim, &config.data_dir)
        );
        println!("  Docs:     {url}/docs");
        println!();
        running.wait().await?;
        tracing::info!("stopped");
        return Ok(());
    }
    tracing::info!(
        addr = %running.addr,
        backend = ?running.store.backend(),
        "ledgerlink listening"
    );
    if let Some(key) = &running.bootstrap_key {
        println!();
        println!(
            "  Created organization {:?} and its first API key (shown once, store it now):",
            ledgerlink::DEFAULT_ORG
        );
        println!();
        println!("    {key}");
        println!();
    }
    println!("  API:      {url}/v2/integrations/connections");
    println!("  Docs:     {url}/docs");
    println!("  OpenAPI:  {url}/openapi.json");
    println!();
    running.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    // The level was checked by `Config::validate`.
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}
