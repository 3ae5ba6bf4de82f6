//! `logdeck`: Logdeck's command-line entry point.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use leptos::config::LeptosOptions;
use server::config::{Config, ConfigError};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// How long, once the server has stopped, unfinished background work may
/// delay the exit.
const RUNTIME_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The Leptos runtime settings shipped with the binary, used when there is
/// no `Leptos.toml` in the working directory.
const BUILT_IN_LEPTOS_TOML: &str = include_str!("../../Leptos.toml");

/// The version and the commit built from, for `--version`.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("BUILT_FROM_COMMIT"),
    ")"
);

/// Runs processes, captures their output and serves a live log viewer.
#[derive(Debug, Parser)]
#[command(name = "logdeck", version = VERSION, about)]
struct Cli {
    /// Configuration file [default: ./logdeck.toml if present, else the
    /// built-in demo configuration]
    #[arg(short, long, env = "LOGDECK_CONFIG", global = true)]
    config: Option<PathBuf>,

    /// Address to listen on, overriding Leptos.toml's site-addr
    #[arg(short, long, env = "LOGDECK_ADDR")]
    addr: Option<SocketAddr>,

    #[command(subcommand)]
    command: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Load and validate the configuration as a start would, print a line
    /// per process and exit 0; or print every error and exit 1
    Check,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("LOGDECK_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    if let Some(Action::Check) = cli.command {
        return check(cli.config.as_deref());
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(serve(cli));
    // Work still running on the blocking pool (a client's history read)
    // does not hold the exit up beyond this.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_GRACE);
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::from(2)
        }
    }
}

/// `logdeck check`: like `nginx -t`.
#[allow(clippy::print_stdout, clippy::print_stderr)]
fn check(config: Option<&Path>) -> ExitCode {
    match load_config(config) {
        Ok(config) => {
            for line in server::config::summary(&config) {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            let errors = error.each();
            for error in &errors {
                eprintln!("error: {error}");
            }
            eprintln!(
                "{} error{} found",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            ExitCode::FAILURE
        }
    }
}

async fn serve(cli: Cli) -> anyhow::Result<()> {
    let config = load_config(cli.config.as_deref())?;
    let (site, disk_asked_for) = leptos_options()?;
    let files = server::site::SiteFiles::choose(disk_asked_for);
    let addr = cli.addr.unwrap_or(site.site_addr);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let from = match files {
        server::site::SiteFiles::Embedded => "this binary".to_owned(),
        server::site::SiteFiles::Disk => site.site_root.to_string(),
    };
    tracing::info!(
        "Logdeck {VERSION}: {} processes from {}; site files from {from}",
        config.processes.len(),
        config.source,
    );
    tracing::info!("Logdeck listening on http://{local}");
    let site = server::site::Site {
        options: site,
        files,
    };
    server::run(listener, config, site, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

fn load_config(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    let default = Path::new("logdeck.toml");
    let path = match explicit {
        Some(path) => path,
        None if default.exists() => default,
        None => return Config::demo(),
    };
    Config::load(path)
}

/// Leptos settings from ./Leptos.toml (or the built-in copy), with any
/// `LEPTOS_*` environment variable taking precedence, as cargo-leptos and
/// every Leptos deployment expect; and whether they ask for the site's
/// files on disk (a `Leptos.toml` here or `LEPTOS_SITE_ROOT`: the dev
/// loop), rather than the copy built into the binary.
fn leptos_options() -> anyhow::Result<(LeptosOptions, bool)> {
    let local = Path::new("Leptos.toml");
    let local_exists = local.exists();
    let text = if local_exists {
        std::fs::read_to_string(local).context("cannot read Leptos.toml")?
    } else {
        BUILT_IN_LEPTOS_TOML.to_owned()
    };
    let disk = local_exists || std::env::var_os("LEPTOS_SITE_ROOT").is_some();
    let options = leptos::config::get_config_from_str(&text).context("invalid Leptos settings")?;
    Ok((options, disk))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed
/// when this is called, not when the future is first polled: a SIGTERM
/// that comes as soon as the server answers (before the shutdown future
/// is awaited) must stop it cleanly, not kill it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (terminate, interrupt) {
            (Ok(mut terminate), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!("cannot listen for SIGTERM or SIGINT: {error}");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
