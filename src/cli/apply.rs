//! `penvio-sync apply FILE`: apply a plan reviewed after `plan --out`, here
//! or through the daemon.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use serde_json::json;

use super::access::{StateAccess, open_state};
use super::exit::combine_apply_exit_codes;
use super::sync::exit_codes;
use crate::audit::AuditLog;
use crate::config::Config;
use crate::report::exit::EXIT_CONFIG;
use crate::report::render::render_report;
use crate::reviewed::ReviewedPlan;
use crate::state::StateStore;
use crate::sync::RunOptions;

/// Options of `apply`.
#[derive(Debug, Args, Clone)]
pub struct ApplyArgs {
    /// The plan file written by `plan --out`.
    pub plan: PathBuf,
    /// Also apply the destructive operations the guard held back.
    #[arg(long)]
    pub allow_deletions: bool,
    /// Print the run reports as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Applies each connection's reviewed plan; the exit code.
pub(super) async fn run(config: &Config, args: &ApplyArgs) -> i32 {
    let reviewed = match ReviewedPlan::read(&args.plan) {
        Ok(reviewed) => reviewed,
        Err(error) => {
            eprintln!("{error}");
            return EXIT_CONFIG;
        }
    };
    // Every connection the plan names must exist before anything is applied.
    let indices = match connection_indices(config, args, &reviewed) {
        Ok(indices) => indices,
        Err(code) => return code,
    };
    match open_state(config) {
        Err(code) => code,
        Ok(StateAccess::Daemon(daemon)) => {
            daemon
                .apply(&reviewed, args.allow_deletions, args.json)
                .await
        }
        Ok(StateAccess::Local(store)) => apply_here(config, args, &reviewed, &indices, store).await,
    }
}

/// The config index of each connection of the plan, in the plan's order, or
/// `EXIT_CONFIG` (said why) if the config lacks one.
fn connection_indices(
    config: &Config,
    args: &ApplyArgs,
    reviewed: &ReviewedPlan,
) -> Result<Vec<usize>, i32> {
    reviewed
        .connections
        .iter()
        .map(|entry| {
            config
                .connections
                .iter()
                .position(|c| c.name == entry.connection)
                .ok_or_else(|| {
                    eprintln!(
                        "{}: the plan is for connection {:?}, which the config does not have",
                        args.plan.display(),
                        entry.connection
                    );
                    EXIT_CONFIG
                })
        })
        .collect()
}

/// Applies the plan in this process, printing each report.
async fn apply_here(
    config: &Config,
    args: &ApplyArgs,
    reviewed: &ReviewedPlan,
    indices: &[usize],
    store: Arc<dyn StateStore>,
) -> i32 {
    let audit = Some(Arc::new(AuditLog::in_state_dir(&config.state_dir)));
    let mut reports = Vec::new();
    for (entry, &index) in reviewed.connections.iter().zip(indices) {
        let options = RunOptions {
            allow_deletions: args.allow_deletions,
            audit: audit.clone(),
            ..RunOptions::sync_now()
        };
        let report = crate::sync::apply_reviewed(
            &config.connections[index],
            index,
            store.clone(),
            entry,
            &options,
        )
        .await;
        if !args.json {
            print!("{}", render_report(&report));
        }
        reports.push(report);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "connections": reports })).unwrap_or_default()
        );
    }
    combine_apply_exit_codes(&exit_codes(&reports))
}
