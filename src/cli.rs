//! The command line: commands, their human and JSON output, exit codes.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use tokio_util::sync::CancellationToken;

use crate::audit::AuditLog;
use crate::config::{self, Config, ConnectionConfig, LogFormat, SourceConfig};
use crate::plan::{Operation, RemovalReason};
use crate::reviewed::{ConnectionPlan, PLAN_FILE_VERSION, ReviewedPlan};
use crate::state::{RedbStateStore, StateError, StateStore};
use crate::sync::{
    EXIT_CONFIG, EXIT_HELD_BACK, EXIT_OK, EXIT_PARTIAL, EXIT_RUN_FAILED, RunMode, RunOptions,
    RunReport, ago, run_connection, target_client, unix_now,
};
use crate::target::scim::ScimError;
use crate::{daemon, demo, source, telemetry};

mod forward;

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

/// Options of `check`.
#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// Also authenticate to every source and target.
    #[arg(long)]
    pub connectivity: bool,
}

/// Options of `explain`.
#[derive(Debug, Args, Clone)]
pub struct ExplainArgs {
    /// An email, a source id, or a team (group) name.
    pub subject: String,
    /// Only this connection.
    #[arg(long)]
    pub connection: Option<String>,
}

/// Options of `config`.
#[derive(Debug, Args, Clone)]
pub struct ConfigArgs {
    #[command(subcommand)]
    action: ConfigAction,
}

#[derive(Debug, Subcommand, Clone)]
enum ConfigAction {
    /// Print the JSON Schema of the config file, for editors: save it and put
    /// `# yaml-language-server: $schema=/path/to/penvio-sync.schema.json`
    /// at the top of the config.
    Schema,
}

/// Options of `init`.
#[derive(Debug, Args, Clone)]
pub struct InitArgs {
    /// The identity provider.
    #[arg(long, value_parser = ["okta", "entra", "onelogin", "jumpcloud", "pingone", "google", "ldap", "scim", "file"])]
    pub source: String,
    /// Where to write it (default: the --config path).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Options of `daemon`.
#[derive(Debug, Args, Clone)]
pub struct DaemonArgs {
    /// Run even as root (not recommended: use a dedicated user).
    #[arg(long)]
    pub allow_root: bool,
}

/// Options of `audit`.
#[derive(Debug, Args, Clone)]
pub struct AuditArgs {
    /// Only this connection.
    #[arg(long)]
    pub connection: Option<String>,
    /// Only events since this long ago (`1h`, `7d`) or since this time
    /// (RFC 3339, e.g. `2026-11-30T00:00:00Z`).
    #[arg(long)]
    pub since: Option<String>,
    /// Print the events as JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// Options of `state`.
#[derive(Debug, Args, Clone)]
pub struct StateArgs {
    #[command(subcommand)]
    action: StateAction,
}

#[derive(Debug, Subcommand, Clone)]
enum StateAction {
    /// Counts and the last run, per connection.
    Show {
        /// Only this connection.
        #[arg(long)]
        connection: Option<String>,
    },
    /// The whole snapshot as JSON.
    Export {
        /// Only this connection.
        #[arg(long)]
        connection: Option<String>,
    },
    /// Delete a connection's snapshot (the next sync links users again by
    /// userName; run `reconcile` to rebuild it from Penvio instead).
    Forget {
        /// The connection to forget.
        #[arg(long)]
        connection: String,
    },
}

/// Runs the parsed command and returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    let environment = cli.environment();
    match cli.command {
        Command::Demo => {
            telemetry::init(LogFormat::Text, "error");
            demo::run_demo().await
        }
        Command::Daemon(args) => daemon::run(&cli.config, environment, args.allow_root).await,
        Command::Completions { shell } => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(&crate::manual::completions(shell));
            EXIT_OK
        }
        Command::Config(args) => match args.action {
            ConfigAction::Schema => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&config::schema::config_schema())
                        .unwrap_or_default()
                );
                EXIT_OK
            }
        },
        Command::Man => {
            use std::io::Write;
            match crate::manual::man_page() {
                Ok(page) => {
                    let _ = std::io::stdout().write_all(&page);
                    EXIT_OK
                }
                Err(error) => {
                    eprintln!("cannot render the man page: {error}");
                    EXIT_RUN_FAILED
                }
            }
        }
        Command::Init(args) => {
            let path = args.output.unwrap_or(cli.config);
            match crate::init::write_starter(&path, &args.source) {
                Ok(()) => {
                    println!(
                        "Wrote {}: fill in the CHANGE-ME values, then run penvio-sync --config {} check --connectivity",
                        path.display(),
                        path.display()
                    );
                    EXIT_OK
                }
                Err(error) => {
                    eprintln!("{error}");
                    EXIT_CONFIG
                }
            }
        }
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
            telemetry::init(config.log.format, &config.log.level);
            run_with_config(command, &config).await
        }
    }
}

async fn run_with_config(command: Command, config: &Config) -> i32 {
    match command {
        Command::Sync(args) => with_alerts(config, run_all(config, &args, RunMode::Sync)).await,
        Command::Plan(args) => {
            if let Some(path) = &args.out
                && matches!(
                    RedbStateStore::open(&config.state_dir),
                    Err(StateError::InUse { .. })
                )
            {
                let selected = match select(config, args.connection.as_deref()) {
                    Ok(selected) => selected,
                    Err(code) => return code,
                };
                return forward::plan_through_daemon(config, &selected, args.json, path).await;
            }
            let run_args = RunArgs {
                connection: args.connection,
                dry_run: true,
                allow_deletions: false,
                json: args.json,
                only: Vec::new(),
            };
            let (code, reports) = run_all_reports(config, &run_args, RunMode::Sync).await;
            if let Some(path) = &args.out {
                if reports.is_empty() {
                    // The daemon took the state between the check above and
                    // the run, which then went through it.
                    eprintln!(
                        "No plan written to {}: the daemon started meanwhile; run the command again.",
                        path.display()
                    );
                    return EXIT_RUN_FAILED;
                }
                if reports.iter().any(|r| r.error.is_some()) {
                    eprintln!("No plan written to {}: a run failed.", path.display());
                    return code;
                }
                let plans = reports
                    .iter()
                    .map(|r| ConnectionPlan {
                        connection: r.connection.clone(),
                        generation: r.snapshot_generation,
                        plan: crate::plan::Plan {
                            operations: r.operations.clone(),
                            held_back: r.held_back.clone(),
                        },
                    })
                    .collect();
                if let Err(code) = write_plan_file(path, plans) {
                    return code;
                }
            }
            code
        }
        Command::Apply(args) => with_alerts(config, apply_reviewed_plan(config, &args)).await,
        Command::Reconcile(args) => {
            if !args.run.only.is_empty() {
                eprintln!(
                    "--only applies to sync: a reconciliation always covers the whole connection"
                );
                return EXIT_CONFIG;
            }
            let mode = RunMode::Reconcile { adopt: args.adopt };
            with_alerts(config, run_all(config, &args.run, mode)).await
        }
        Command::Check(args) => check(config, args.connectivity).await,
        Command::State(args) => state(config, args.action),
        Command::Audit(args) => audit(config, &args),
        Command::Explain(args) => explain(config, &args).await,
        Command::Notify(args) => match args.action {
            NotifyAction::Test { name } => notify_test(config, name.as_deref()).await,
        },
        Command::Demo
        | Command::Daemon(_)
        | Command::Init(_)
        | Command::Completions { .. }
        | Command::Config(_)
        | Command::Man => EXIT_OK,
    }
}

/// Writes the plans of `plan --out` for review, saying what to run next.
fn write_plan_file(path: &std::path::Path, plans: Vec<ConnectionPlan>) -> Result<(), i32> {
    let reviewed = ReviewedPlan {
        version: PLAN_FILE_VERSION,
        created_at: unix_now(),
        connections: plans,
    };
    if let Err(error) = reviewed.write(path) {
        eprintln!("{error}");
        return Err(EXIT_RUN_FAILED);
    }
    eprintln!(
        "Plan written to {}. Review it, then: penvio-sync apply {}",
        path.display(),
        path.display()
    );
    Ok(())
}

/// The connections a command applies to, or an exit code for a bad name.
fn select<'a>(
    config: &'a Config,
    name: Option<&str>,
) -> Result<Vec<(usize, &'a ConnectionConfig)>, i32> {
    match name {
        None => Ok(config.connections.iter().enumerate().collect()),
        Some(name) => match config.connections.iter().position(|c| c.name == name) {
            Some(index) => Ok(vec![(index, &config.connections[index])]),
            None => {
                let known: Vec<&str> = config.connections.iter().map(|c| c.name.as_str()).collect();
                eprintln!(
                    "{}: no connection named {name:?} (connections: {})",
                    config.path.display(),
                    known.join(", ")
                );
                Err(EXIT_CONFIG)
            }
        },
    }
}

fn open_store(config: &Config) -> Result<Arc<dyn StateStore>, i32> {
    match RedbStateStore::open(&config.state_dir) {
        Ok(store) => Ok(Arc::new(store)),
        Err(error) => {
            eprintln!("{error}");
            Err(EXIT_RUN_FAILED)
        }
    }
}

/// Combines per-connection exit codes: a failed run outranks failed
/// operations, which outrank held-back deletions.
pub fn combine_exit_codes(codes: &[i32]) -> i32 {
    for code in [EXIT_CONFIG, EXIT_RUN_FAILED, EXIT_PARTIAL, EXIT_HELD_BACK] {
        if codes.contains(&code) {
            return code;
        }
    }
    EXIT_OK
}

/// Runs a command that applies changes with alerts on (the daemon has its
/// own), then waits a bounded time for their delivery before exiting.
async fn with_alerts(config: &Config, command: impl std::future::Future<Output = i32>) -> i32 {
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

async fn run_all(config: &Config, args: &RunArgs, mode: RunMode) -> i32 {
    run_all_reports(config, args, mode).await.0
}

/// Runs the selected connections; returns the exit code and the reports.
async fn run_all_reports(config: &Config, args: &RunArgs, mode: RunMode) -> (i32, Vec<RunReport>) {
    let selected = match select(config, args.connection.as_deref()) {
        Ok(selected) => selected,
        Err(code) => return (code, Vec::new()),
    };
    let store: Arc<dyn StateStore> = match RedbStateStore::open(&config.state_dir) {
        Ok(store) => Arc::new(store),
        Err(StateError::InUse { .. }) => {
            return (
                forward::forward_run(config, args, mode, &selected).await,
                Vec::new(),
            );
        }
        Err(error) => {
            eprintln!("{error}");
            return (EXIT_RUN_FAILED, Vec::new());
        }
    };
    let interactive = std::io::stderr().is_terminal() && config.log.format == LogFormat::Text;
    let audit = (!args.dry_run).then(|| Arc::new(AuditLog::in_state_dir(&config.state_dir)));
    // Ctrl-C / SIGTERM: let in-flight operations finish and be recorded.
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("Stopping: letting operations in flight finish…");
            on_signal.cancel();
        }
    });
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
            let text = render_report(&report);
            if std::io::stdout().is_terminal() {
                print!("{}", colorize(&text));
            } else {
                print!("{text}");
            }
        }
        reports.push(report);
    }
    if args.json {
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
    let codes: Vec<i32> = reports.iter().map(|r| r.exit_code).collect();
    (combine_exit_codes(&codes), reports)
}

/// `penvio-sync apply FILE`: applies each connection's reviewed plan.
async fn apply_reviewed_plan(config: &Config, args: &ApplyArgs) -> i32 {
    let reviewed = match ReviewedPlan::read(&args.plan) {
        Ok(reviewed) => reviewed,
        Err(error) => {
            eprintln!("{error}");
            return EXIT_CONFIG;
        }
    };
    // Every connection the plan names must exist before anything is applied.
    if let Some(unknown) = reviewed.connections.iter().find(|entry| {
        !config
            .connections
            .iter()
            .any(|c| c.name == entry.connection)
    }) {
        eprintln!(
            "{}: the plan is for connection {:?}, which the config does not have",
            args.plan.display(),
            unknown.connection
        );
        return EXIT_CONFIG;
    }
    let store: Arc<dyn StateStore> = match RedbStateStore::open(&config.state_dir) {
        Ok(store) => Arc::new(store),
        Err(StateError::InUse { .. }) => {
            return forward::apply_through_daemon(
                config,
                &reviewed,
                args.allow_deletions,
                args.json,
            )
            .await;
        }
        Err(error) => {
            eprintln!("{error}");
            return EXIT_RUN_FAILED;
        }
    };
    let audit = Some(Arc::new(AuditLog::in_state_dir(&config.state_dir)));
    let mut reports = Vec::new();
    for entry in &reviewed.connections {
        let Some(index) = config
            .connections
            .iter()
            .position(|c| c.name == entry.connection)
        else {
            eprintln!(
                "{}: the plan is for connection {:?}, which the config does not have",
                args.plan.display(),
                entry.connection
            );
            return EXIT_CONFIG;
        };
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
    let codes: Vec<i32> = reports.iter().map(|r| r.exit_code).collect();
    if codes.contains(&crate::sync::EXIT_STALE_PLAN) {
        return crate::sync::EXIT_STALE_PLAN;
    }
    combine_exit_codes(&codes)
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

fn counts_line(counts: &BTreeMap<&'static str, usize>) -> String {
    if counts.is_empty() {
        return "nothing".to_string();
    }
    counts
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The human form of a run report (also used by the demo).
pub fn render_report(report: &RunReport) -> String {
    let mut out = String::new();
    let title = match (report.mode, report.dry_run) {
        ("sync", true) => "plan",
        ("reconcile", true) => "reconcile (dry run)",
        (mode, _) => mode,
    };
    out.push_str(&format!("Connection {} — {title}\n", report.connection));
    if let Some(error) = &report.error {
        out.push_str(&format!("  FAILED: {error}\n"));
        return out;
    }
    out.push_str(&format!(
        "  source: {} users, {} groups read; {} users and {} teams in scope",
        report.source.users,
        report.source.groups,
        report.source.desired_users,
        report.source.desired_teams
    ));
    if report.source.out_of_scope_users > 0 {
        out.push_str(&format!(
            "; {} users out of scope",
            report.source.out_of_scope_users
        ));
    }
    out.push('\n');
    for group in &report.source.unmatched_user_groups {
        out.push_str(&format!(
            "  warning: scope.user_groups entry {group:?} matches no group\n"
        ));
    }
    if !report.skipped.is_empty() {
        out.push_str(&format!(
            "  skipped {}:\n",
            crate::plural::count(report.skipped.len(), "record")
        ));
        for skipped in &report.skipped {
            out.push_str(&format!(
                "    {} {}: {}\n",
                skipped.kind, skipped.id, skipped.reason
            ));
        }
    }
    if let Some(findings) = &report.reconcile {
        out.push_str(&format!(
            "  Penvio: linked {} users and {} teams; {} users and {} teams missing; {} users and {} teams not managed{}\n",
            findings.linked_users,
            findings.linked_teams,
            findings.missing_users,
            findings.missing_teams,
            findings.unmanaged_users,
            findings.unmanaged_teams,
            if findings.adopted > 0 { format!("; {} adopted", findings.adopted) } else { String::new() }
        ));
    }
    if report.dry_run {
        if report.operations.is_empty() {
            out.push_str("  No changes: Penvio is up to date.\n");
        }
        for operation in &report.operations {
            out.push_str(&render_operation(operation));
        }
        out.push_str(&format!("  Plan: {}\n", counts_line(&report.planned)));
    } else {
        out.push_str(&format!("  applied: {}\n", counts_line(&report.applied)));
        if !report.failures.is_empty() {
            out.push_str(&format!("  failed: {}\n", report.failures.len()));
            for failure in &report.failures {
                out.push_str(&format!(
                    "    {}: {}\n",
                    failure.description,
                    failure.error.as_deref().unwrap_or("")
                ));
            }
        }
    }
    if !report.held_back.is_empty() {
        out.push_str(&format!(
            "  held back: {} destructive operations: {}\n",
            report.held_back.len(),
            report.held_back[0].reason
        ));
        for held in report.held_back.iter().take(20) {
            out.push_str(&format!(
                "    {}",
                render_operation(&held.operation).trim_start()
            ));
        }
    }
    if !report.refused.is_empty() {
        out.push_str(&format!(
            "  refused: {} operations of the reviewed plan were not sent:\n",
            report.refused.len()
        ));
        for refused in &report.refused {
            let rendered = render_operation(&refused.operation);
            out.push_str(&format!(
                "    {}: {}\n",
                rendered.lines().next().unwrap_or_default().trim(),
                refused.reason
            ));
        }
    }
    out.push_str(&format!(
        "  Penvio requests: {} writes, {} reads, {} retries, {} throttled; {} ms\n",
        report.target_requests.writes,
        report.target_requests.reads,
        report.target_requests.retries,
        report.target_requests.throttled,
        report.duration_ms
    ));
    out
}

fn render_operation(operation: &Operation) -> String {
    let reason = |reason: &RemovalReason| match reason {
        RemovalReason::InactiveInSource => "inactive in the source",
        RemovalReason::RemovedFromSource => "removed from the source or scope",
        RemovalReason::RetentionExpired => "deactivated longer than delete_deactivated_after",
    };
    match operation {
        Operation::CreateUser { attributes, .. } => {
            format!("  + create user {}\n", attributes.user_name)
        }
        Operation::ReactivateUser {
            attributes,
            changes,
            ..
        }
        | Operation::UpdateUser {
            attributes,
            changes,
            ..
        } => {
            let verb = if matches!(operation, Operation::ReactivateUser { .. }) {
                "reactivate"
            } else {
                "update"
            };
            let mut text = format!("  ~ {verb} user {}\n", attributes.user_name);
            for change in changes {
                text.push_str(&format!(
                    "      {}: {:?} → {:?}\n",
                    change.path, change.old, change.new
                ));
            }
            text
        }
        Operation::DeactivateUser {
            attributes,
            reason: why,
            ..
        } => {
            format!(
                "  - deactivate user {} ({})\n",
                attributes.user_name,
                reason(why)
            )
        }
        Operation::DeleteUser {
            user_name,
            reason: why,
            ..
        } => {
            format!("  - delete user {user_name} ({})\n", reason(why))
        }
        Operation::CreateTeam { name, members, .. } => {
            format!(
                "  + create team {name} with {}\n",
                crate::plural::count(members.len(), "member")
            )
        }
        Operation::RenameTeam {
            old_name, new_name, ..
        } => {
            format!("  ~ rename team {old_name:?} → {new_name:?}\n")
        }
        Operation::AddMembers {
            team_name, members, ..
        } => {
            format!(
                "  + add {} to team {team_name}\n",
                crate::plural::count(members.len(), "member")
            )
        }
        Operation::RemoveMembers {
            team_name,
            members,
            foreign_members,
            ..
        } => format!(
            "  - remove {} from team {team_name}\n",
            crate::plural::count(members.len() + foreign_members.len(), "member")
        ),
        Operation::DeleteTeam { name, .. } => format!("  - delete team {name}\n"),
    }
}

fn describe_connection(connection: &ConnectionConfig) -> String {
    let source = match &connection.source {
        SourceConfig::Scim(scim) => {
            format!("SCIM server {}", crate::http::redact_url(&scim.base_url))
        }
        SourceConfig::File(file) => format!("file {}", file.path.display()),
        SourceConfig::Okta(okta) => format!("Okta org {}", crate::http::redact_url(&okta.base_url)),
        SourceConfig::Entra(entra) => format!("Microsoft Entra tenant {}", entra.tenant_id),
        SourceConfig::OneLogin(onelogin) => {
            format!(
                "OneLogin account {}",
                crate::http::redact_url(&onelogin.base_url)
            )
        }
        SourceConfig::JumpCloud(jc) => {
            format!("JumpCloud {}", crate::http::redact_url(&jc.base_url))
        }
        SourceConfig::PingOne(p1) => format!("PingOne environment {}", p1.environment_id),
        SourceConfig::Google(google) => format!("Google Workspace as {}", google.admin_email),
        SourceConfig::Ldap(ldap) => format!("LDAP directory {} ({})", ldap.url, ldap.base_dn),
    };
    let users = if connection.scope.user_groups.is_empty() {
        "all users".to_string()
    } else {
        format!("members of {}", connection.scope.user_groups.join(", "))
    };
    let teams: Vec<&str> = connection
        .scope
        .team_groups
        .iter()
        .map(|p| p.as_str())
        .collect();
    let policy = &connection.policy;
    let removal = match policy.on_user_removed {
        config::OnUserRemoved::Deactivate => match policy.delete_deactivated_after {
            Some(after) => format!(
                "deactivated, deleted {} later",
                humantime::format_duration(after)
            ),
            None => "deactivated".to_string(),
        },
        config::OnUserRemoved::Delete => "deleted".to_string(),
    };
    format!(
        "{name}: on schedule '{schedule}' (UTC), reads {users} from the {source}; groups matching [{teams}] become teams; writes to {target} at most {rps} requests/s; removed users are {removal}; guard: at most {deact} deactivations and {del} deletions per run",
        name = connection.name,
        schedule = connection.schedule,
        teams = teams.join(", "),
        target = crate::http::redact_url(&connection.target.url),
        rps = connection.target.requests_per_second,
        deact = policy.max_deactivations,
        del = policy.max_deletions,
    )
}

async fn check(config: &Config, connectivity: bool) -> i32 {
    println!("{}: configuration is valid.", config.path.display());
    println!("  state: {}", config.state_dir.display());
    if let Some(warning) = state_dir_warning(config) {
        println!("  warning: {warning}");
    }
    if let Some(token) = &config.listen_token {
        println!("  listen_token: {}", token.fingerprint());
    }
    let mut code = EXIT_OK;
    for (index, connection) in config.connections.iter().enumerate() {
        println!("  {}", describe_connection(connection));
        let mut credentials = vec![format!(
            "target.token {}",
            connection.target.token.fingerprint()
        )];
        credentials.extend(
            connection
                .source
                .secrets()
                .into_iter()
                .map(|(key, secret)| format!("{key} {}", secret.fingerprint())),
        );
        println!("    credentials (fingerprints): {}", credentials.join(", "));
        if !connectivity {
            continue;
        }
        match source::build(connection, index) {
            Ok(source) => match source.check().await {
                Ok(()) => println!("    source: reachable, credentials accepted"),
                Err(error) => {
                    println!("    source: FAILED: {error}");
                    code = EXIT_RUN_FAILED;
                }
            },
            Err(error) => {
                println!("    source: FAILED: {error}");
                code = EXIT_RUN_FAILED;
            }
        }
        let target = match target_client(connection, index) {
            Ok(client) => client.check_access().await.map_err(|error| match error {
                ScimError::Unauthorized { status, key, .. } => format!(
                    "token rejected ({status}) — it may have been regenerated; update {key} (the configured token has fingerprint {})",
                    connection.target.token.fingerprint()
                ),
                other => other.to_string(),
            }),
            Err(error) => Err(error.to_string()),
        };
        match target {
            Ok(()) => println!("    Penvio: reachable, token accepted"),
            Err(error) => {
                println!("    Penvio: FAILED: {error}");
                code = EXIT_RUN_FAILED;
            }
        }
    }
    for notification in &config.notifications {
        println!("  {}", notification.describe());
    }
    code
}

/// Why this command and the packaged daemon may use different state
/// directories (then the CLI would not see that the daemon holds the state,
/// and would sync beside it from a snapshot of its own).
fn state_dir_warning(config: &Config) -> Option<String> {
    let packaged = std::path::Path::new(crate::config::PACKAGED_STATE_DIR);
    if config.state_dir_configured || config.state_dir == packaged {
        return None;
    }
    Some(format!(
        "state_dir is not set: this command uses {}, but the packaged daemon uses {} ($STATE_DIRECTORY); set state_dir so both use the same state",
        config.state_dir.display(),
        packaged.display()
    ))
}

async fn explain(config: &Config, args: &ExplainArgs) -> i32 {
    let selected = match select(config, args.connection.as_deref()) {
        Ok(selected) => selected,
        Err(code) => return code,
    };
    let store: Arc<dyn StateStore> = match RedbStateStore::open(&config.state_dir) {
        Ok(store) => Arc::new(store),
        Err(StateError::InUse { .. }) => {
            return forward::explain_through_daemon(config, &selected, &args.subject).await;
        }
        Err(error) => {
            eprintln!("{error}");
            return EXIT_RUN_FAILED;
        }
    };
    let mut found = false;
    let mut code = EXIT_OK;
    for (index, connection) in selected {
        let explained = crate::explain::explain_connection(
            connection,
            index,
            store.as_ref(),
            &args.subject,
            unix_now(),
        )
        .await;
        match explained {
            Ok(Some(text)) => {
                found = true;
                println!("Connection {}:", connection.name);
                print!("{text}");
            }
            Ok(None) => {}
            Err(error @ crate::explain::ExplainError::State(_)) => {
                eprintln!("{error}");
                return EXIT_RUN_FAILED;
            }
            Err(error) => {
                eprintln!("{}: {error}", connection.name);
                code = EXIT_RUN_FAILED;
            }
        }
    }
    explained_exit(found, code, &args.subject)
}

/// `explain`'s exit: nothing found anywhere is a failure, said once.
fn explained_exit(found: bool, code: i32, subject: &str) -> i32 {
    if !found && code == EXIT_OK {
        eprintln!(
            "Nothing named {subject:?} in the directory or the snapshot (tried emails, source ids and team names)."
        );
        return EXIT_RUN_FAILED;
    }
    code
}

/// Parses `--since`: a duration ago or an RFC 3339 time, as unix seconds.
pub fn parse_since(text: &str, now: i64) -> Result<i64, String> {
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(now - i64::try_from(ago.as_secs()).unwrap_or(i64::MAX));
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .ok_or_else(|| format!("--since {text:?}: expected a duration like 1h or 7d, or a time like 2026-11-30T00:00:00Z"))
}

fn audit(config: &Config, args: &AuditArgs) -> i32 {
    let since = match args.since.as_deref().map(|s| parse_since(s, unix_now())) {
        Some(Err(message)) => {
            eprintln!("{message}");
            return EXIT_CONFIG;
        }
        Some(Ok(since)) => Some(since),
        None => None,
    };
    let log = AuditLog::in_state_dir(&config.state_dir);
    let events = match log.read(args.connection.as_deref(), since) {
        Ok(events) => events,
        Err(error) => {
            eprintln!("{error}");
            return EXIT_RUN_FAILED;
        }
    };
    for event in &events {
        if args.json {
            println!("{}", serde_json::to_string(event).unwrap_or_default());
        } else {
            println!(
                "{} {} {} {} {} {}{}",
                event.time,
                event.connection,
                event.outcome,
                event.operation,
                event.penvio_id.as_deref().unwrap_or("-"),
                event.description,
                event
                    .error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
    }
    if events.is_empty() && !args.json {
        eprintln!("No audit events in {}.", log.path().display());
    }
    EXIT_OK
}

fn load_snapshot(store: &dyn StateStore, name: &str) -> Result<crate::state::Snapshot, i32> {
    store.load(name).map_err(|error| {
        eprintln!("{error}");
        EXIT_RUN_FAILED
    })
}

fn state(config: &Config, action: StateAction) -> i32 {
    let store = match open_store(config) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let names = |only: Option<&str>| -> Result<Vec<String>, i32> {
        match only {
            Some(name) => Ok(vec![name.to_string()]),
            None => {
                let mut names: Vec<String> =
                    config.connections.iter().map(|c| c.name.clone()).collect();
                for stored in store.connections().unwrap_or_default() {
                    if !names.contains(&stored) {
                        names.push(stored);
                    }
                }
                Ok(names)
            }
        }
    };
    match action {
        StateAction::Show { connection } => {
            let Ok(names) = names(connection.as_deref()) else {
                return EXIT_CONFIG;
            };
            let now = unix_now();
            for name in names {
                let snapshot = match load_snapshot(store.as_ref(), &name) {
                    Ok(snapshot) => snapshot,
                    Err(code) => return code,
                };
                let active = snapshot.users.values().filter(|u| u.active()).count();
                println!(
                    "{name}: {} users ({active} active, {} deactivated), {} teams, {} memberships, generation {}",
                    snapshot.users.len(),
                    snapshot.users.len() - active,
                    snapshot.teams.len(),
                    snapshot
                        .teams
                        .values()
                        .map(|t| t.members.len())
                        .sum::<usize>(),
                    snapshot.generation
                );
                if !snapshot.pending_team_creates.is_empty() {
                    println!(
                        "  {} team creates awaiting confirmation (resolved on the next run)",
                        snapshot.pending_team_creates.len()
                    );
                }
                match store.last_run(&name) {
                    Ok(Some(run)) => println!(
                        "  last run: {} {} {}, {} applied, {} failed{}",
                        run.mode,
                        run.outcome,
                        ago(run.started_at, now),
                        run.applied,
                        run.failed,
                        run.error.map(|e| format!(": {e}")).unwrap_or_default()
                    ),
                    Ok(None) => println!("  never run"),
                    Err(error) => eprintln!("  {error}"),
                }
                let limit = config
                    .connections
                    .iter()
                    .find(|c| c.name == name)
                    .map(|c| c.source.staleness_limit());
                if let Ok(Some(run)) = store.last_run(&name) {
                    for line in source_age_lines(run.source_read_at, now, limit) {
                        println!("{line}");
                    }
                }
            }
            EXIT_OK
        }
        StateAction::Export { connection } => {
            let Ok(names) = names(connection.as_deref()) else {
                return EXIT_CONFIG;
            };
            let mut exported = serde_json::Map::new();
            for name in names {
                let snapshot = match load_snapshot(store.as_ref(), &name) {
                    Ok(snapshot) => snapshot,
                    Err(code) => return code,
                };
                let teams: serde_json::Map<String, serde_json::Value> = snapshot
                    .teams
                    .iter()
                    .map(|(id, team)| {
                        (
                            id.clone(),
                            json!({"penvio_id": team.penvio_id, "name": team.name, "members": team.members}),
                        )
                    })
                    .collect();
                exported.insert(
                    name,
                    json!({
                        "generation": snapshot.generation,
                        "users": snapshot.users,
                        "teams": teams,
                        "pending_team_creates": snapshot.pending_team_creates,
                    }),
                );
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&exported).unwrap_or_default()
            );
            EXIT_OK
        }
        StateAction::Forget { connection } => match store.forget(&connection) {
            Ok(()) => {
                println!(
                    "Forgot the snapshot of {connection}. The next sync links existing Penvio users by userName; `penvio-sync reconcile` rebuilds the snapshot from Penvio."
                );
                EXIT_OK
            }
            Err(error) => {
                eprintln!("{error}");
                EXIT_RUN_FAILED
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_combine_by_severity() {
        assert_eq!(combine_exit_codes(&[]), EXIT_OK);
        assert_eq!(
            combine_exit_codes(&[EXIT_OK, EXIT_HELD_BACK]),
            EXIT_HELD_BACK
        );
        assert_eq!(
            combine_exit_codes(&[EXIT_HELD_BACK, EXIT_PARTIAL]),
            EXIT_PARTIAL
        );
        assert_eq!(
            combine_exit_codes(&[EXIT_PARTIAL, EXIT_RUN_FAILED]),
            EXIT_RUN_FAILED
        );
    }

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
    fn since_accepts_durations_and_times() {
        assert_eq!(parse_since("1h", 10_000), Ok(10_000 - 3600));
        assert_eq!(parse_since("2026-11-30T00:00:00Z", 0), Ok(1_795_996_800));
        assert!(parse_since("yesterday", 0).is_err());
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

/// The `state show` lines on the age of the source data the last run
/// relied on, with a warning past the source's `full_fetch_interval`.
fn source_age_lines(
    read_at: Option<i64>,
    now: i64,
    limit: Option<std::time::Duration>,
) -> Vec<String> {
    let Some(read_at) = read_at else {
        return vec!["  source data: never read completely".to_string()];
    };
    let mut lines = vec![format!(
        "  source data: read {} (removals made in the IdP before then are applied)",
        ago(read_at, now)
    )];
    let age = u64::try_from(now.saturating_sub(read_at)).unwrap_or(0);
    if let Some(limit) = limit.filter(|l| age > l.as_secs()) {
        lines.push(format!(
            "  warning: the source data is older than full_fetch_interval ({}): removals in the IdP since then have not reached Penvio; check why runs fail",
            humantime::format_duration(limit)
        ));
    }
    lines
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod source_age_tests {
    use std::time::Duration;

    use super::source_age_lines;

    #[test]
    fn old_source_data_is_warned_about_past_the_interval() {
        let day = Some(Duration::from_secs(86_400));
        let fresh = source_age_lines(Some(1_000), 1_060, day);
        assert_eq!(fresh.len(), 1, "{fresh:?}");
        assert!(fresh[0].starts_with("  source data: read "), "{fresh:?}");
        let stale = source_age_lines(Some(1_000), 1_000 + 86_401, day);
        assert_eq!(stale.len(), 2, "{stale:?}");
        assert!(
            stale[1].contains("older than full_fetch_interval (1day)"),
            "{stale:?}"
        );
        assert_eq!(
            source_age_lines(None, 5, day),
            ["  source data: never read completely"]
        );
    }
}
