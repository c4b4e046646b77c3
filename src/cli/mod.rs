//! The command line: the commands, how they are dispatched, their exit
//! codes. Each command has its own file with its options and its `run`.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{self, Config, LogFormat};
use crate::report::exit::EXIT_CONFIG;
use crate::sync::RunMode;

mod access;
mod apply;
mod audit;
mod check;
mod config_tools;
mod daemon;
mod exit;
mod explain;
mod forward;
mod init;
mod manual;
mod notify;
mod plan;
mod plan_file;
mod reconcile;

mod state;
mod sync;

pub use apply::ApplyArgs;
pub use audit::{AuditArgs, parse_since};
pub use check::CheckArgs;
pub use config_tools::ConfigArgs;
pub use daemon::DaemonArgs;
pub use exit::combine_exit_codes;
pub use explain::ExplainArgs;
pub use init::InitArgs;
pub use notify::NotifyArgs;
pub use plan::PlanArgs;
pub use reconcile::ReconcileArgs;
pub use state::StateArgs;
pub use sync::{RunArgs, colorize};

/// Default config path for the packaged service.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/penvio-sync/config.yaml";

/// penvio-sync: pulls users and groups from your identity provider and
/// applies only the changes to Penvio over SCIM 2.0.
#[derive(Debug, Parser)]
#[command(name = "penvio-sync", version, about, long_about = None)]
pub struct Cli {
    /// Config file.
    #[arg(long, short = 'c', global = true, env = "PENVIO_SYNC_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// Accept secret files readable by group or others (containers whose
    /// mounts cannot set modes). Prefer `chmod 600`.
    #[arg(long, global = true, env = "PENVIO_SYNC_ALLOW_INSECURE_SECRET_FILES")]
    pub allow_insecure_secret_files: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The environment configs are validated against.
    pub fn environment(&self) -> &'static dyn config::Environment {
        if self.allow_insecure_secret_files {
            &config::PermissiveProcessEnvironment
        } else {
            &config::ProcessEnvironment
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run once: fetch, plan against the snapshot, apply the changes.
    Sync(RunArgs),
    /// Show what `sync` would do, operation by operation; nothing is sent.
    Plan(PlanArgs),
    /// Apply a plan written by `plan --out`: only what is still planned now
    /// is sent; anything else, or a moved snapshot, is refused (exit code 5).
    Apply(ApplyArgs),
    /// Compare with what Penvio really holds, repair drift, rebuild the snapshot.
    Reconcile(ReconcileArgs),
    /// Validate the config and show what each connection will do.
    Check(CheckArgs),
    /// Inspect or reset the snapshot.
    State(StateArgs),
    /// Show the audit trail of changes applied to Penvio.
    Audit(AuditArgs),
    /// Explain, step by step, why a user or team is (or is not) in Penvio and
    /// what the next sync would do about it.
    Explain(ExplainArgs),
    /// Run every connection on its schedule and serve the local endpoint
    /// (metrics, health, on-demand runs) until stopped.
    Daemon(DaemonArgs),
    /// Run the engine end to end against a built-in directory and a local
    /// SCIM emulator: no network, no config needed.
    Demo,
    /// Write a commented starter config for one provider (never overwrites).
    Init(InitArgs),
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
    /// Config file tools.
    Config(ConfigArgs),
    /// Alert channels (`notifications:`).
    Notify(NotifyArgs),
}

/// Runs the parsed command and returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    let environment = cli.environment();
    match cli.command {
        Command::Demo => {
            crate::telemetry::init(LogFormat::Text, "error");
            crate::demo::run_demo().await
        }
        Command::Daemon(args) => daemon::run(&cli.config, environment, &args).await,
        Command::Completions { shell } => manual::print_completions(Cli::command(), shell),
        Command::Config(args) => config_tools::run(&args),
        Command::Man => manual::print_man_page(Cli::command()),
        Command::Init(args) => init::run(&args, cli.config),
        command => {
            let config = match config::load_with(&cli.config, environment) {
                Ok(config) => config,
                Err(error) => {
                    eprintln!("{error}");
                    if let Some(source) = std::error::Error::source(&error) {
                        eprintln!("  caused by: {source}");
                    }
                    return EXIT_CONFIG;
                }
            };
            crate::telemetry::init(config.log.format, &config.log.level);
            run_with_config(command, &config).await
        }
    }
}

/// Runs a command that needs the validated config.
async fn run_with_config(command: Command, config: &Config) -> i32 {
    match command {
        Command::Sync(args) => {
            notify::with_alerts(config, sync::run_all(config, &args, RunMode::Sync)).await
        }
        Command::Plan(args) => plan::run(config, args).await,
        Command::Apply(args) => notify::with_alerts(config, apply::run(config, &args)).await,
        Command::Reconcile(args) => reconcile::run(config, &args).await,
        Command::Check(args) => check::run(config, &args).await,
        Command::State(args) => state::run(config, args),
        Command::Audit(args) => audit::run(config, &args),
        Command::Explain(args) => explain::run(config, &args).await,
        Command::Notify(args) => notify::run(config, args).await,
        // Handled by `run` before the config is loaded.
        Command::Demo
        | Command::Daemon(_)
        | Command::Init(_)
        | Command::Completions { .. }
        | Command::Config(_)
        | Command::Man => crate::report::exit::EXIT_OK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
