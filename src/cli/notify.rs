//! `penvio-sync notify test`, and alerts around the commands that apply
//! changes.

use clap::{Args, Subcommand};

use crate::config::Config;
use crate::report::exit::{EXIT_CONFIG, EXIT_OK, EXIT_RUN_FAILED};

/// Options of `notify`.
#[derive(Debug, Args, Clone)]
pub struct NotifyArgs {
    #[command(subcommand)]
    action: NotifyAction,
}

#[derive(Debug, Subcommand, Clone)]
enum NotifyAction {
    /// Send a test message through each configured channel and report per
    /// channel (exit code 1 if any failed).
    Test {
        /// Only the channel with this name.
        #[arg(long)]
        name: Option<String>,
    },
}

/// Runs `notify`'s action; the exit code.
pub(super) async fn run(config: &Config, args: NotifyArgs) -> i32 {
    match args.action {
        NotifyAction::Test { name } => notify_test(config, name.as_deref()).await,
    }
}

/// Runs a command that applies changes with alerts on (the daemon has its
/// own), then waits a bounded time for their delivery before exiting.
pub(super) async fn with_alerts(
    config: &Config,
    command: impl std::future::Future<Output = i32>,
) -> i32 {
    crate::notify::start_cli(config);
    let code = command.await;
    crate::notify::finish_cli().await;
    code
}

/// `penvio-sync notify test [--name N]`: one line per channel.
async fn notify_test(config: &Config, name: Option<&str>) -> i32 {
    if config.notifications.is_empty() {
        eprintln!("No notifications are configured (see README, \"Alerts\").");
        return EXIT_CONFIG;
    }
    if let Some(name) = name
        && !config.notifications.iter().any(|n| n.name == name)
    {
        eprintln!("No notification named {name:?}.");
        return EXIT_CONFIG;
    }
    let results = match crate::notify::send_test(config, name).await {
        Ok(results) => results,
        Err(error) => {
            eprintln!("Cannot build the HTTP client: {}", error.without_url());
            return EXIT_RUN_FAILED;
        }
    };
    let mut code = EXIT_OK;
    for result in results {
        match result.result {
            Ok(_) => println!("ok      {} ({})", result.name, result.kind),
            Err(error) => {
                println!("FAILED  {} ({}): {error}", result.name, result.kind);
                code = EXIT_RUN_FAILED;
            }
        }
    }
    code
}
