//! `penvio-sync reconcile`: compare with what Penvio holds, repair drift,
//! rebuild the snapshot.

use clap::Args;

use super::notify::with_alerts;
use super::sync::{RunArgs, run_all};
use crate::config::Config;
use crate::report::exit::EXIT_CONFIG;
use crate::sync::RunMode;

/// Options of `reconcile`.
#[derive(Debug, Args, Clone)]
pub struct ReconcileArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Also take over Penvio users and teams that match nothing in the
    /// directory (they will be deactivated or deleted, within the guard).
    #[arg(long)]
    pub adopt: bool,
}

/// Reconciles the selected connections (with alerts); the exit code.
pub(super) async fn run(config: &Config, args: &ReconcileArgs) -> i32 {
    if !args.run.only.is_empty() {
        eprintln!("--only applies to sync: a reconciliation always covers the whole connection");
        return EXIT_CONFIG;
    }
    let mode = RunMode::Reconcile { adopt: args.adopt };
    with_alerts(config, run_all(config, &args.run, mode)).await
}
