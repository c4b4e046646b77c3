//! One run of one connection: fetch → map → plan → guard → apply → report.
//!
//! A run always ends in a [`RunReport`], failed or not, so the CLI, the
//! daemon and tests all see the same account of what happened.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::apply::{ApplySettings, apply_plan};
use crate::audit::AuditLog;
use crate::config::{ConnectionConfig, OnUserRemoved, PolicyConfig};
use crate::events::{self, RunContext};
use crate::mapping::{DesiredState, map_directory_with};
use crate::model::Directory;
use crate::only;
use crate::plan::{Plan, PlanPolicy, RemovalAction, plan};
use crate::progress::Progress;
use crate::ratelimit::Backoff;
use crate::reconcile::rebuild_snapshot;
use crate::report::Outcome;
use crate::source::{self, FetchContext};
use crate::state::{RunRecord, Snapshot, SourceCache, StateStore};
use crate::target::scim::listing::ListingRules;
use crate::target::scim::{DEFAULT_PAGE_SIZE, ScimClient, ScimClientSettings};

pub use crate::report::exit::EXIT_CONFIG; // merge re-export
pub use crate::report::exit::EXIT_HELD_BACK; // merge re-export
pub use crate::report::exit::EXIT_OK; // merge re-export
pub use crate::report::exit::EXIT_PARTIAL; // merge re-export
pub use crate::report::exit::EXIT_RUN_FAILED; // merge re-export
pub use crate::report::exit::EXIT_STALE_PLAN; // merge re-export
pub use crate::report::{RunReport, SourceSummary}; // merge re-export

/// Which kind of run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Diff against the snapshot (cheap; no reads from Penvio).
    Sync,
    /// Diff against what Penvio really holds, then rebuild the snapshot.
    Reconcile {
        /// Also take over Penvio users and teams that match nothing.
        adopt: bool,
    },
}

/// Options of one run.
#[derive(Clone)]
pub struct RunOptions {
    /// Sync or reconcile.
    pub mode: RunMode,
    /// Plan only; send nothing and change no state.
    pub dry_run: bool,
    /// Approve destructive operations over the guard's limits.
    pub allow_deletions: bool,
    /// Unix seconds "now" (injected so tests can move the clock).
    pub now: i64,
    /// Show progress bars (a terminal with text logs).
    pub show_progress: bool,
    /// Cancelled on shutdown: in-flight operations finish, nothing new starts.
    pub cancel: CancellationToken,
    /// Where applied changes are recorded for audit (none: not recorded).
    pub audit: Option<Arc<AuditLog>>,
    /// Provision on demand: only these users (source ids or emails) and
    /// their memberships in existing teams; empty for a full run.
    pub only: Vec<String>,
}

impl RunOptions {
    /// A sync now, applying, without progress bars.
    pub fn sync_now() -> Self {
        RunOptions {
            mode: RunMode::Sync,
            dry_run: false,
            allow_deletions: false,
            now: unix_now(),
            show_progress: false,
            cancel: CancellationToken::new(),
            audit: None,
            only: Vec::new(),
        }
    }
}

/// A fresh run id: the connection's name, the start time and a random
/// suffix, so log lines and audit events of one run can be grouped.
pub fn new_run_id(connection: &str, now: i64) -> String {
    format!("{connection}-{now}-{:04x}", fastrand::u16(..))
}

/// The current time in unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// An empty report of a run of `connection` starting now.
fn new_report(connection: &str, options: &RunOptions) -> RunReport {
    let mode = match options.mode {
        RunMode::Sync => "sync",
        RunMode::Reconcile { .. } => "reconcile",
    };
    RunReport::new(
        connection,
        new_run_id(connection, options.now),
        mode,
        options.dry_run,
        options.now,
    )
}

/// Builds the Penvio client of a connection.
pub fn target_client(
    connection: &ConnectionConfig,
    index: usize,
) -> Result<ScimClient, reqwest::Error> {
    let target = &connection.target;
    let rules = ListingRules {
        limits: target.limits,
        allow_missing_total: false,
        config_key: Some(format!("connections[{index}].target")),
    };
    ScimClient::with_rules(
        ScimClientSettings {
            base_url: target.url.clone(),
            token: target.token.clone(),
            token_key: format!("connections[{index}].target.token"),
            service: "Penvio".into(),
            requests_per_second: target.requests_per_second,
            burst: target.burst,
            timeout: target.timeout,
            backoff: Backoff::default(),
            ca: target.ca_file.clone(),
            proxy: target.proxy.clone(),
        },
        rules,
    )
}

/// Why a run past `run_timeout` was stopped, naming the key.
fn run_timed_out(connection: &ConnectionConfig, index: usize) -> String {
    format!(
        "the run did not finish within `connections[{index}].run_timeout` ({}) and was stopped. Operations Penvio had already acknowledged are kept in the snapshot; nothing else was changed",
        humantime::format_duration(connection.run_timeout)
    )
}

/// Runs one connection once. `index` is its position in the config.
pub async fn run_connection(
    connection: &ConnectionConfig,
    index: usize,
    store: Arc<dyn StateStore>,
    options: &RunOptions,
) -> RunReport {
    let clock = Instant::now();
    let mut report = new_report(&connection.name, options);
    let span = tracing::info_span!("run", connection = %connection.name, run_id = %report.run_id);
    // The whole run is bounded (invariant 11): past `run_timeout` it stops
    // where it is and fails like a source error.
    let run = execute_run(
        connection,
        index,
        store.as_ref(),
        &store,
        options,
        &mut report,
    )
    .instrument(span);
    if tokio::time::timeout(connection.run_timeout, run)
        .await
        .is_err()
    {
        report.fail(run_timed_out(connection, index));
    }
    report.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    events::run_finished(&report);
    if !options.dry_run {
        let record = RunRecord {
            started_at: options.now,
            finished_at: options.now + i64::try_from(report.duration_ms / 1000).unwrap_or(0),
            mode: report.mode.to_string(),
            outcome: report.outcome().to_string(),
            applied: report.applied.values().sum::<usize>() as u64,
            failed: report.failures.len() as u64,
            error: report.error.clone(),
            source_read_at: report.source.data_read_at.or_else(|| {
                let previous = store.last_run(&connection.name).ok().flatten();
                previous.and_then(|run| run.source_read_at)
            }),
        };
        if let Err(error) = store.record_run(&connection.name, &record) {
            tracing::warn!(connection = %connection.name, %error, "Could not record the run summary.");
        }
    }
    report
}

/// What a run has planned: the Penvio client, the snapshot the plan was made
/// against and the plan.
struct Planned {
    client: ScimClient,
    snapshot: Snapshot,
    plan: Plan,
}

async fn execute_run(
    connection: &ConnectionConfig,
    index: usize,
    store: &dyn StateStore,
    shared_store: &Arc<dyn StateStore>,
    options: &RunOptions,
    report: &mut RunReport,
) {
    let Some(Planned {
        client,
        mut snapshot,
        plan,
    }) = fetch_and_plan(connection, index, store, options, report).await
    else {
        return;
    };
    for operation in &plan.operations {
        *report.planned.entry(operation.kind()).or_default() += 1;
    }
    report.held_back = plan.held_back.clone();
    if options.dry_run {
        report.operations = plan.operations.clone();
        report.target_requests = client.counts();
        if !plan.held_back.is_empty() {
            report.conclude(Outcome::HeldBack);
        }
        return;
    }
    apply_and_report(
        connection,
        &client,
        &mut snapshot,
        &plan,
        shared_store,
        options,
        report,
    )
    .await;
}

/// Fetches the directory, maps it, (for reconcile) rebuilds the snapshot
/// from Penvio, and plans under the guard. `None` when the run failed (the
/// report says why).
async fn fetch_and_plan(
    connection: &ConnectionConfig,
    index: usize,
    store: &dyn StateStore,
    options: &RunOptions,
    report: &mut RunReport,
) -> Option<Planned> {
    tracing::info!(
        connection = %connection.name,
        run_id = %report.run_id,
        mode = report.mode,
        dry_run = options.dry_run,
        target_token = %connection.target.token.fingerprint(),
        "Starting run."
    );
    let client = match target_client(connection, index) {
        Ok(client) => client,
        Err(error) => {
            report.fail(format!("cannot set up the Penvio client: {error}"));
            return None;
        }
    };
    let directory = fetch_directory(connection, index, store, options, report).await?;

    // 2. Map and scope.
    let mut snapshot = match store.load(&connection.name) {
        Ok(snapshot) => snapshot,
        Err(error) => {
            report.fail(error.to_string());
            return None;
        }
    };
    report.snapshot_generation = snapshot.generation;
    let mapped = map_directory_with(
        &directory,
        &connection.scope,
        &connection.mapping,
        &|id| snapshot.users.contains_key(id),
        &|id| snapshot.users.get(id).map(|user| user.attributes()),
    );
    for group in &mapped.unmatched_user_groups {
        tracing::warn!(connection = %connection.name, group = %group, "scope.user_groups names a group the source does not have.");
    }
    report.skipped = mapped.skipped.clone();
    report.source.out_of_scope_users = mapped.out_of_scope_users;
    report.source.unmatched_user_groups = mapped.unmatched_user_groups.clone();
    report.source.desired_users = mapped.desired.users.len();
    report.source.desired_teams = mapped.desired.teams.len();

    // 3. Reconcile: replace the snapshot by what Penvio really holds.
    if let RunMode::Reconcile { adopt } = options.mode {
        snapshot = reconcile_snapshot(
            connection,
            &client,
            store,
            &mapped.desired,
            &snapshot,
            adopt,
            options,
            report,
        )
        .await?;
    }

    // 4. Plan and guard.
    let mut plan_policy = plan_policy(&connection.policy, &snapshot, options.allow_deletions);
    let mut desired = mapped.desired;
    if !options.only.is_empty() {
        (desired, snapshot) =
            narrow_to_only(&options.only, &desired, &snapshot, &mut plan_policy, report)?;
    }
    let plan = plan(&desired, &snapshot, &plan_policy, options.now);
    Some(Planned {
        client,
        snapshot,
        plan,
    })
}

/// `--only`: the directory and snapshot narrowed to the named users, with
/// the guard tightened if the whole fetch trips the shrinkage guard. `None`
/// (the report says why) when a name matches nobody.
fn narrow_to_only(
    only: &[String],
    desired: &DesiredState,
    snapshot: &Snapshot,
    plan_policy: &mut PlanPolicy,
    report: &mut RunReport,
) -> Option<(DesiredState, Snapshot)> {
    let (users, unmatched) = only::resolve(only, desired, snapshot);
    if !unmatched.is_empty() {
        report.fail(format!(
            "--only: no user in the directory or the snapshot matches {}",
            unmatched.join(", ")
        ));
        return None;
    }
    // The shrinkage guard judges the whole fetch, not the narrowed view.
    if crate::plan::shrinkage(desired, snapshot, plan_policy).is_some() {
        plan_policy.max_deactivations = 0;
        plan_policy.max_deletions = 0;
    }
    plan_policy.max_shrinkage = 1.0;
    Some(only::restrict(desired, snapshot, &users))
}

/// The plan policy of a connection: its limits resolved against the
/// snapshot's size.
pub fn plan_policy(
    policy: &PolicyConfig,
    snapshot: &Snapshot,
    allow_deletions: bool,
) -> PlanPolicy {
    PlanPolicy {
        on_user_removed: match policy.on_user_removed {
            OnUserRemoved::Deactivate => RemovalAction::Deactivate,
            OnUserRemoved::Delete => RemovalAction::Delete,
        },
        delete_deactivated_after: policy.delete_deactivated_after,
        max_deactivations: policy.max_deactivations.limit(snapshot.users.len()),
        max_deletions: policy
            .max_deletions
            .limit(snapshot.users.len() + snapshot.teams.len()),
        max_shrinkage: policy.max_shrinkage,
        max_member_removals: policy.max_member_removals,
        allow_deletions,
    }
}

/// 1. Fetch. Any failure ends the run here: an incomplete directory must
///    never look like removed users (invariant 1).
async fn fetch_directory(
    connection: &ConnectionConfig,
    index: usize,
    store: &dyn StateStore,
    options: &RunOptions,
    report: &mut RunReport,
) -> Option<Directory> {
    let source = match source::build(connection, index) {
        Ok(source) => source,
        Err(error) => {
            report.fail(error.to_string());
            return None;
        }
    };
    let previous = if source.incremental() {
        match store.load_source_cache(&connection.name) {
            Ok(cache) => cache,
            Err(error) => {
                report.fail(error.to_string());
                return None;
            }
        }
    } else {
        None
    };
    let progress = Progress::spinner(options.show_progress, "Reading the directory");
    let fetched = source
        .fetch(FetchContext {
            progress: &progress,
            previous: previous.as_ref(),
            now: options.now,
        })
        .await;
    progress.finish();
    report.source_requests = source.requests_sent();
    let fetched = match fetched {
        Ok(fetched) => fetched,
        Err(error) => {
            report.fail(format!(
                "{error}. Nothing was changed in Penvio or in the snapshot."
            ));
            return None;
        }
    };
    report.source.full_fetch = fetched.full;
    report.source.data_read_at = Some(options.now);
    if source.incremental() && !options.dry_run {
        let cache = SourceCache {
            last_full_fetch: if fetched.full {
                options.now
            } else {
                previous.as_ref().map_or(options.now, |p| p.last_full_fetch)
            },
            cursor: fetched.cursor.clone(),
            directory: fetched.directory.clone(),
        };
        if let Err(error) = store.save_source_cache(&connection.name, &cache) {
            report.fail(error.to_string());
            return None;
        }
    }
    report.source.users = fetched.directory.users.len();
    report.source.groups = fetched.directory.groups.len();
    Some(fetched.directory)
}

/// 3. Reconcile: the snapshot rebuilt from what Penvio really holds (and,
///    unless a dry run, stored).
#[allow(clippy::too_many_arguments)]
async fn reconcile_snapshot(
    connection: &ConnectionConfig,
    client: &ScimClient,
    store: &dyn StateStore,
    desired: &DesiredState,
    snapshot: &Snapshot,
    adopt: bool,
    options: &RunOptions,
    report: &mut RunReport,
) -> Option<Snapshot> {
    let users = client.list_users(DEFAULT_PAGE_SIZE).await;
    let groups = match &users {
        Ok(_) => client.list_groups(DEFAULT_PAGE_SIZE).await,
        Err(_) => Ok(Vec::new()),
    };
    let (users, groups) = match (users, groups) {
        (Ok(users), Ok(groups)) => (users, groups),
        (Err(error), _) | (_, Err(error)) => {
            report.target_requests = client.counts();
            report.fail(format!("cannot read what Penvio holds: {error}"));
            return None;
        }
    };
    let (rebuilt, findings) =
        rebuild_snapshot(desired, snapshot, &users, &groups, adopt, options.now);
    report.reconcile = Some(findings);
    if !options.dry_run {
        let mut persisted = rebuilt.clone();
        for team in persisted.teams.values_mut() {
            team.foreign_members.clear();
        }
        if let Err(error) = store.replace(&connection.name, &persisted) {
            report.fail(error.to_string());
            return None;
        }
    }
    Some(rebuilt)
}

/// Applies a plan and fills the report with its outcome.
async fn apply_and_report(
    connection: &ConnectionConfig,
    client: &ScimClient,
    snapshot: &mut Snapshot,
    plan: &Plan,
    shared_store: &Arc<dyn StateStore>,
    options: &RunOptions,
    report: &mut RunReport,
) {
    let progress = Progress::bar(
        options.show_progress && !plan.is_empty(),
        plan.operations.len() as u64,
        "Applying",
    );
    let settings = ApplySettings {
        concurrency: connection.target.concurrency.get(),
        member_patch_size: connection.target.member_patch_size.get(),
        now: options.now,
        cancel: options.cancel.clone(),
        events: RunContext {
            connection: connection.name.clone(),
            run_id: report.run_id.clone(),
            audit: options.audit.clone(),
        },
        on_username_reuse: connection.policy.on_username_reuse,
    };
    let applied = apply_plan(
        plan,
        snapshot,
        client,
        shared_store.clone(),
        &connection.name,
        &settings,
        &progress,
    )
    .await;
    progress.finish();
    report.target_requests = client.counts();
    report.managed_users = snapshot.users.len();
    report.managed_teams = snapshot.teams.len();
    if options.cancel.is_cancelled() {
        report.fail(
            "stopped by shutdown; operations acknowledged so far were recorded and the next run continues"
                .into(),
        );
        return;
    }
    match applied {
        Ok(applied) => report.record_outcomes(applied.outcomes),
        Err(error) => report.fail(format!(
            "{error}. Operations acknowledged before this were recorded."
        )),
    }
}

/// Applies a reviewed plan (`penvio-sync apply` and the daemon's `/apply`).
/// The plan file is not trusted: the plan is computed again from a fresh
/// fetch and the current snapshot, under the same guard as `sync`, and only
/// the operations found in both are applied (the fresh ones). Everything
/// else is refused and listed (exit code 5), as is a plan whose snapshot has
/// moved since it was computed. Held-back destructive operations are applied
/// only when `allow_deletions` approves them.
pub async fn apply_reviewed(
    connection: &ConnectionConfig,
    index: usize,
    store: Arc<dyn StateStore>,
    reviewed: &crate::reviewed::ConnectionPlan,
    options: &RunOptions,
) -> RunReport {
    let clock = Instant::now();
    let mut report = new_report(&connection.name, options);
    report.mode = "apply";
    // Bounded like every run (invariant 11).
    let steps = apply_reviewed_steps(connection, index, &store, reviewed, options, &mut report);
    if tokio::time::timeout(connection.run_timeout, steps)
        .await
        .is_err()
    {
        report.fail(run_timed_out(connection, index));
    }
    report.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    events::run_finished(&report);
    report
}

async fn apply_reviewed_steps(
    connection: &ConnectionConfig,
    index: usize,
    store: &Arc<dyn StateStore>,
    reviewed: &crate::reviewed::ConnectionPlan,
    options: &RunOptions,
    report: &mut RunReport,
) {
    // Refuse a stale plan before anything is fetched.
    match store.load(&connection.name) {
        Ok(snapshot) if snapshot.generation != reviewed.generation => {
            report.snapshot_generation = snapshot.generation;
            return refuse_stale(reviewed.generation, snapshot.generation, report);
        }
        Ok(_) => {}
        Err(error) => return report.fail(error.to_string()),
    }
    let fresh_options = RunOptions {
        mode: RunMode::Sync,
        dry_run: false,
        only: Vec::new(),
        ..options.clone()
    };
    let Some(Planned {
        client,
        mut snapshot,
        plan: fresh,
    }) = fetch_and_plan(connection, index, store.as_ref(), &fresh_options, report).await
    else {
        return;
    };
    if snapshot.generation != reviewed.generation {
        return refuse_stale(reviewed.generation, snapshot.generation, report);
    }
    let admitted =
        crate::reviewed::admit(&reviewed.plan, &fresh, &snapshot, options.allow_deletions);
    for refused in &admitted.refused {
        tracing::warn!(
            connection = %connection.name,
            run_id = %report.run_id,
            operation = refused.operation.kind(),
            subject = refused.operation.subject(),
            reason = %refused.reason,
            "Refused an operation of the reviewed plan."
        );
    }
    report.refused = admitted.refused;
    for operation in &admitted.plan.operations {
        *report.planned.entry(operation.kind()).or_default() += 1;
    }
    report.held_back = admitted.plan.held_back.clone();
    apply_and_report(
        connection,
        &client,
        &mut snapshot,
        &admitted.plan,
        store,
        options,
        report,
    )
    .await;
    if !report.refused.is_empty() && report.ending != Outcome::Failed {
        report.conclude(Outcome::StalePlan);
    }
}

fn refuse_stale(then: u64, now: u64, report: &mut RunReport) {
    report.fail(format!(
        "the snapshot has moved since this plan was computed (generation {then} then, {now} now): something was applied in between; run `penvio-sync plan --out` again and review the new plan"
    ));
    report.conclude(Outcome::StalePlan);
}

/// How long ago a unix time was, for people ("3h ago").
pub fn ago(then: i64, now: i64) -> String {
    let seconds = u64::try_from(now.saturating_sub(then)).unwrap_or(0);
    format!(
        "{} ago",
        humantime::format_duration(Duration::from_secs(seconds))
    )
}
