#![forbid(unsafe_code)]
//! `ledgerlink`: the command-line entry point. Everything it does lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ledgerlink::config::{Config, Layer, LogFormat};

/// Keeps a finance platform's receivables data in sync with its customers' ERP systems.
#[derive(Parser)]
#[command(name = "ledgerlink", version, about)]
struct Cli {
    /// TOML configuration file (its values sit between the defaults and LEDGERLINK_* variables).
    #[arg(long, global = true, env = "LEDGERLINK_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the HTTP API (applies migrations first; on an empty database creates an organization and
    /// prints its first API key).
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
    },
    /// Applies pending database migrations and exits.
    Migrate {
        /// Directory of the embedded database [env: LEDGERLINK_DATA_DIR] [default: ./data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Manages API keys.
    #[command(name = "api-keys", subcommand)]
    ApiKeys(ApiKeys),
    /// Prints the OpenAPI document of the HTTP API.
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
    /// alone, on the last line.
    Create {
        /// Organization name.
        #[arg(long)]
        org: String,
        /// Directory of the embedded database [env: LEDGERLINK_DATA_DIR] [default: ./data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        print!("{}", ledgerlink_api::openapi_json());
        return ExitCode::SUCCESS;
    }
    let (listen, data_dir) = match &cli.command {
        Command::Serve {
            listen, data_dir, ..
        } => (listen.clone(), data_dir.clone()),
        Command::Migrate { data_dir } | Command::ApiKeys(ApiKeys::Create { data_dir, .. }) => {
            (None, data_dir.clone())
        }
        Command::Openapi => unreachable!("handled above"),
    };
    let flags = Layer {
        listen,
        data_dir,
        ..Layer::default()
    };
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
        Command::Serve { .. } => serve(config).await,
        Command::Migrate { .. } => {
            ledgerlink::open_store(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::ApiKeys(ApiKeys::Create { org, .. }) => {
            let store = ledgerlink::open_store(&config).await?;
            let key = ledgerlink::create_api_key(&*store, &org).await?;
            println!(
                "API key for organization {:?} (shown once, store it now):",
                org.trim()
            );
            println!("{key}");
            Ok(())
        }
        Command::Openapi => Ok(()),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let running = ledgerlink::start(&config, ledgerlink::shutdown_signal()).await?;
    let url = running.url();
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
