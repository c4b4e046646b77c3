//! `penvio-sync sync`: run the connections once, here or through the daemon
//! (also the engine of `plan` and `reconcile`).

use std::io::IsTerminal;
use std::sync::Arc;

use clap::Args;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::access::{Selected, StateAccess, open_state, select};
use super::exit::combine_exit_codes;
use crate::audit::AuditLog;
use crate::config::{Config, LogFormat};
use crate::daemon::api::{self, MODE_INCREMENTAL, MODE_RECONCILE, SyncQuery};
use crate::report::RunReport;
use crate::report::render::render_report;
use crate::state::StateStore;
use crate::sync::{RunMode, RunOptions, run_connection};
use crate::timestamp::unix_now;

/// Options of `sync`.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Only this connection (default: all, one after the other).
    #[arg(long)]
    pub connection: Option<String>,
    /// Plan and report, send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply deactivations and deletions over the guard's limits.
    #[arg(long)]
    pub allow_deletions: bool,
    /// Print the run report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Provision on demand: only this user (email or source id) and their
    /// memberships in existing teams; repeatable. Everything else waits for
    /// the next full run.
    #[arg(long, value_name = "EMAIL|SOURCE-ID")]
    pub only: Vec<String>,
}

impl RunArgs {
    /// The same run, asked of the daemon.
    pub(super) fn daemon_query(&self, mode: RunMode) -> SyncQuery {
        let (mode, adopt) = match mode {
            RunMode::Sync => (MODE_INCREMENTAL, false),
            RunMode::Reconcile { adopt } => (MODE_RECONCILE, adopt),
        };
        SyncQuery {
            mode: Some(mode.to_string()),
            dry_run: self.dry_run,
            allow_deletions: self.allow_deletions,
            adopt,
            format: Some(api::format(self.json).to_string()),
            only: Some(self.only.join(",")),
        }
    }
}

/// Runs the selected connections, here or through the daemon; the exit code.
pub(super) async fn run_all(config: &Config, args: &RunArgs, mode: RunMode) -> i32 {
    let selected = match select(config, args.connection.as_deref()) {
        Ok(selected) => selected,
        Err(code) => return code,
    };
    match open_state(config) {
        Err(code) => code,
        Ok(StateAccess::Daemon(daemon)) => daemon.run(&args.daemon_query(mode), &selected).await,
        Ok(StateAccess::Local(store)) => {
            let reports = run_here(config, args, mode, selected, store).await;
            combine_exit_codes(&exit_codes(&reports))
        }
    }
}

/// Runs the selected connections in this process, printing each report
/// (text as it ends, JSON at the end), and returns the reports.
pub(super) async fn run_here(
    config: &Config,
    args: &RunArgs,
    mode: RunMode,
    selected: Selected<'_>,
    store: Arc<dyn StateStore>,
) -> Vec<RunReport> {
    let interactive = std::io::stderr().is_terminal() && config.log.format == LogFormat::Text;
    let audit = (!args.dry_run).then(|| Arc::new(AuditLog::in_state_dir(&config.state_dir)));
    let cancel = cancel_on_signal();
    let mut reports = Vec::new();
    for (index, connection) in selected {
        if cancel.is_cancelled() {
            break;
        }
        let options = RunOptions {
            mode,
            dry_run: args.dry_run,
            allow_deletions: args.allow_deletions,
            now: unix_now(),
            show_progress: interactive && !args.json,
            cancel: cancel.clone(),
            audit: audit.clone(),
            only: args.only.clone(),
        };
        let report = run_connection(connection, index, store.clone(), &options).await;
        if !args.json {
            print_report(&report);
        }
        reports.push(report);
    }
    if args.json {
        print_json_reports(&reports);
    }
    reports
}

/// The exit code of each report.
pub(super) fn exit_codes(reports: &[RunReport]) -> Vec<i32> {
    reports.iter().map(|r| r.exit_code).collect()
}

/// Ctrl-C / SIGTERM: let in-flight operations finish and be recorded.
fn cancel_on_signal() -> CancellationToken {
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("Stopping: letting operations in flight finish…");
            on_signal.cancel();
        }
    });
    cancel
}

/// A report as text, coloured on a terminal.
fn print_report(report: &RunReport) {
    let text = render_report(report);
    if std::io::stdout().is_terminal() {
        print!("{}", colorize(&text));
    } else {
        print!("{text}");
    }
}

/// One report alone, or `{"connections": [...]}`.
fn print_json_reports(reports: &[RunReport]) {
    let value = if reports.len() == 1 {
        json!(reports[0])
    } else {
        json!({ "connections": reports })
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
}

/// Colours a rendered report for a terminal: additions green, changes
/// yellow, removals and failures red (plain text everywhere else).
pub fn colorize(text: &str) -> String {
    const GREEN: &str = "\x1b[32m";
    const YELLOW: &str = "\x1b[33m";
    const RED: &str = "\x1b[31m";
    const BOLD: &str = "\x1b[1m";
    const RESET: &str = "\x1b[0m";
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let colour = if trimmed.starts_with("+ ") {
                Some(GREEN)
            } else if trimmed.starts_with("~ ") {
                Some(YELLOW)
            } else if trimmed.starts_with("- ")
                || trimmed.starts_with("FAILED")
                || trimmed.starts_with("held back")
            {
                Some(RED)
            } else if line.starts_with("Connection ") || trimmed.starts_with("Plan:") {
                Some(BOLD)
            } else {
                None
            };
            match colour {
                Some(colour) => format!("{colour}{line}{RESET}\n"),
                None => format!("{line}\n"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_follow_the_operation_kind() {
        let coloured = colorize(
            "Connection c — plan\n  + create user a\n  ~ update user b\n  - deactivate user c\n  Plan: 3\n",
        );
        assert!(coloured.contains("\x1b[32m  + create user a\x1b[0m"));
        assert!(coloured.contains("\x1b[33m  ~ update user b"));
        assert!(coloured.contains("\x1b[31m  - deactivate user c"));
        assert!(coloured.contains("\x1b[1mConnection c"));
    }

    #[test]
    fn a_run_is_asked_of_the_daemon_as_typed() {
        let args = RunArgs {
            connection: None,
            dry_run: true,
            allow_deletions: false,
            json: true,
            only: vec!["a@example.com".to_string(), "42".to_string()],
        };
        let query = args.daemon_query(RunMode::Reconcile { adopt: true });
        assert_eq!(query.mode.as_deref(), Some("reconcile"));
        assert!(query.adopt && query.dry_run && !query.allow_deletions);
        assert_eq!(query.format.as_deref(), Some("json"));
        assert_eq!(query.only.as_deref(), Some("a@example.com,42"));
        let incremental = args.daemon_query(RunMode::Sync);
        assert_eq!(incremental.mode.as_deref(), Some("incremental"));
        assert!(!incremental.adopt);
    }
}
