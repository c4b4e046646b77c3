//! `penvio-sync plan`: what `sync` would do, and with `--out` the plan file
//! for review and `apply`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::access::{StateAccess, open_state, select};
use super::exit::combine_exit_codes;
use super::plan_file::{PlannedRun, write_plan_file};
use super::sync::{RunArgs, exit_codes, run_here};
use crate::config::Config;
use crate::report::RunReport;
use crate::sync::RunMode;

/// Options of `plan`.
#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    /// Only this connection.
    #[arg(long)]
    pub connection: Option<String>,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the plan to this file, for review and `penvio-sync apply`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Dry-runs the selected connections (here, or in the daemon while it holds
/// the state) and writes the plan file if asked.
pub(super) async fn run(config: &Config, args: PlanArgs) -> i32 {
    let run_args = RunArgs {
        connection: args.connection,
        dry_run: true,
        allow_deletions: false,
        json: args.json,
        only: Vec::new(),
    };
    let selected = match select(config, run_args.connection.as_deref()) {
        Ok(selected) => selected,
        Err(code) => return code,
    };
    let store = match open_state(config) {
        Err(code) => return code,
        Ok(StateAccess::Daemon(daemon)) => {
            return match &args.out {
                Some(path) => daemon.plan(&selected, args.json, path).await,
                None => {
                    daemon
                        .run(&run_args.daemon_query(RunMode::Sync), &selected)
                        .await
                }
            };
        }
        Ok(StateAccess::Local(store)) => store,
    };
    let reports = run_here(config, &run_args, RunMode::Sync, selected, store).await;
    let code = combine_exit_codes(&exit_codes(&reports));
    match &args.out {
        Some(path) => write_reports(path, &reports, code),
        None => code,
    }
}

/// Writes the plan file from the dry runs' reports; the exit code.
fn write_reports(path: &Path, reports: &[RunReport], code: i32) -> i32 {
    if reports.is_empty() {
        // Stopped (Ctrl-C) before any connection ran.
        eprintln!("No plan written to {}: no connection ran.", path.display());
        return crate::report::exit::EXIT_RUN_FAILED;
    }
    if reports.iter().any(|r| r.error.is_some()) {
        eprintln!("No plan written to {}: a run failed.", path.display());
        return code;
    }
    let plans = reports
        .iter()
        .map(|report| PlannedRun::from(report).into_connection_plan(report.connection.clone()))
        .collect();
    match write_plan_file(path, plans) {
        Ok(()) => code,
        Err(code) => code,
    }
}
