//! One run of one connection: fetch → map → plan → guard → apply → report.
//!
//! A run always ends in a [`RunReport`], failed or not, so the CLI, the
//! daemon and tests all see the same account of what happened.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::apply::{ApplySettings, apply_plan};
use crate::audit::AuditLog;
use crate::config::{ConnectionConfig, OnUserRemoved, PolicyConfig};
use crate::events::{self, RunContext};
use crate::mapping::{DesiredState, keep_used_attributes, map_owned_directory, used_attributes};
use crate::model::Directory;
use crate::only;
use crate::plan::{Plan, PlanPolicy, RemovalAction, plan};
use crate::progress::Progress;
use crate::ratelimit::Backoff;
use crate::reconcile::rebuild_snapshot;
use crate::report::Outcome;
use crate::scim::client::listing::ListingRules;
use crate::scim::client::{DEFAULT_PAGE_SIZE, ScimClient, ScimClientSettings};
use crate::snapshot::Snapshot;
use crate::source::{self, FetchContext};
use crate::source::{SourceCache, SourceCacheRef};
use crate::state::{RunRecord, StateError, StateStore};
use crate::timestamp::unix_now;

use crate::report::RunReport;

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

/// Why a run ended early. The message goes into the report.
enum Stop {
    /// The run failed (exit code 1).
    Failed(String),
    /// A reviewed plan was refused: the snapshot moved (exit code 5).
    StalePlan(String),
}

impl Stop {
    fn record(self, report: &mut RunReport) {
        match self {
            Stop::Failed(message) => report.fail(message),
            Stop::StalePlan(message) => {
                report.fail(message);
                report.conclude(Outcome::StalePlan);
            }
        }
    }
}

impl From<StateError> for Stop {
    fn from(error: StateError) -> Self {
        Stop::Failed(error.to_string())
    }
}

/// A step of a run: its value, or why the run ends here.
type Step<T> = Result<T, Stop>;

/// What a run has planned: the Penvio client, the snapshot the plan was made
/// against and the plan.
struct Planned {
    client: ScimClient,
    snapshot: Snapshot,
    plan: Plan,
}

/// One run's fixed inputs; each step of the run is a method.
struct Run<'a> {
    connection: &'a ConnectionConfig,
    index: usize,
    store: &'a Arc<dyn StateStore>,
    options: &'a RunOptions,
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
    let run = Run {
        connection,
        index,
        store: &store,
        options,
    };
    // The whole run is bounded (invariant 11): past `run_timeout` it stops
    // where it is and fails like a source error.
    let steps = run.sync(&mut report).instrument(span);
    if let Ok(Err(stop)) | Err(stop) = tokio::time::timeout(connection.run_timeout, steps)
        .await
        .map_err(|_| Stop::Failed(run_timed_out(connection, index)))
    {
        stop.record(&mut report);
    }
    report.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    events::run_finished(&report);
    if !options.dry_run {
        record_run_summary(store.as_ref(), &connection.name, options, &report);
    }
    report
}

/// Stores the summary `status` and the daemon show for the last run.
fn record_run_summary(
    store: &dyn StateStore,
    connection: &str,
    options: &RunOptions,
    report: &RunReport,
) {
    let record = RunRecord {
        started_at: options.now,
        finished_at: options.now + i64::try_from(report.duration_ms / 1000).unwrap_or(0),
        mode: report.mode.to_string(),
        outcome: report.outcome().to_string(),
        applied: report.applied.values().sum::<usize>() as u64,
        failed: report.failures.len() as u64,
        error: report.error.clone(),
        source_read_at: report.source.data_read_at.or_else(|| {
            let previous = store.last_run(connection).ok().flatten();
            previous.and_then(|run| run.source_read_at)
        }),
    };
    if let Err(error) = store.record_run(connection, &record) {
        tracing::warn!(connection, %error, "Could not record the run summary.");
    }
}

impl Run<'_> {
    /// A sync or reconcile run: plan, then apply (or, for a dry run, only
    /// report the plan).
    async fn sync(&self, report: &mut RunReport) -> Step<()> {
        let Planned {
            client,
            mut snapshot,
            plan,
        } = self.fetch_and_plan(report).await?;
        count_planned(&plan, report);
        if self.options.dry_run {
            report.operations = plan.operations.clone();
            report.target_requests = client.counts();
            if !plan.held_back.is_empty() {
                report.conclude(Outcome::HeldBack);
            }
            return Ok(());
        }
        self.apply(&client, &mut snapshot, &plan, report).await
    }

    /// Fetches the directory, maps it, (for reconcile) rebuilds the snapshot
    /// from Penvio, and plans under the guard.
    async fn fetch_and_plan(&self, report: &mut RunReport) -> Step<Planned> {
        let connection = self.connection;
        tracing::info!(
            connection = %connection.name,
            run_id = %report.run_id,
            mode = report.mode,
            dry_run = self.options.dry_run,
            target_token = %connection.target.token.fingerprint(),
            "Starting run."
        );
        // The snapshot is read, and the Penvio client built (it loads the
        // system's CA certificates), on another core while the source is
        // read (mostly waiting on the network, or parsing an export): they
        // are independent, and each is a large part of a no-op run.
        let preparing = {
            let (store, index) = (Arc::clone(self.store), self.index);
            let connection = connection.clone();
            tokio::task::spawn_blocking(move || {
                (
                    target_client(&connection, index),
                    store.load(&connection.name),
                )
            })
        };
        let directory = self.fetch_directory(report).await;
        let (client, loaded) = preparing
            .await
            .map_err(|error| Stop::Failed(format!("reading the snapshot failed: {error}")))?;
        let client = client
            .map_err(|error| Stop::Failed(format!("cannot set up the Penvio client: {error}")))?;
        let directory = directory?;
        let mut snapshot = loaded?;
        report.snapshot_generation = snapshot.generation;
        let desired = self.map(directory, &snapshot, report);
        if let RunMode::Reconcile { adopt } = self.options.mode {
            snapshot = self
                .reconcile_snapshot(&client, &desired, &snapshot, adopt, report)
                .await?;
        }
        let (desired, snapshot, policy) = self.scope_plan(desired, snapshot)?;
        let plan = plan(&desired, &snapshot, &policy, self.options.now);
        Ok(Planned {
            client,
            snapshot,
            plan,
        })
    }

    /// 2. Map and scope the directory; the report counts what is in scope.
    ///    The fetch is consumed: each record is freed as it is mapped.
    fn map(
        &self,
        directory: Directory,
        snapshot: &Snapshot,
        report: &mut RunReport,
    ) -> DesiredState {
        let connection = self.connection;
        let mapped = map_owned_directory(
            directory,
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
        mapped.desired
    }

    /// 4. The guard's policy, and (for `--only`) the directory and snapshot
    ///    narrowed to the named users.
    fn scope_plan(
        &self,
        desired: DesiredState,
        snapshot: Snapshot,
    ) -> Step<(DesiredState, Snapshot, PlanPolicy)> {
        let options = self.options;
        let mut policy = plan_policy(&self.connection.policy, &snapshot, options.allow_deletions);
        if options.only.is_empty() {
            return Ok((desired, snapshot, policy));
        }
        let (desired, snapshot) = narrow_to_only(&options.only, &desired, &snapshot, &mut policy)?;
        Ok((desired, snapshot, policy))
    }

    /// 1. Fetch. Any failure ends the run here: an incomplete directory must
    ///    never look like removed users (invariant 1).
    async fn fetch_directory(&self, report: &mut RunReport) -> Step<Directory> {
        let (connection, options) = (self.connection, self.options);
        let source = source::build(connection, self.index)
            .map_err(|error| Stop::Failed(error.to_string()))?;
        let mut used = used_attributes(&connection.mapping);
        used.extend(source.own_attributes().iter().map(|key| key.to_string()));
        let mut previous = if source.incremental() {
            self.previous_source_cache(&used)?
        } else {
            None
        };
        let progress = Progress::spinner(options.show_progress, "Reading the directory");
        let fetched = source
            .fetch(FetchContext {
                progress: &progress,
                previous: previous.as_mut(),
                now: options.now,
            })
            .await;
        progress.finish();
        report.source_requests = source.requests_sent();
        let mut fetched = fetched.map_err(|error| {
            Stop::Failed(format!(
                "{error}. Nothing was changed in Penvio or in the snapshot."
            ))
        })?;
        let last_full_fetch = match (&previous, fetched.full) {
            (Some(previous), false) => previous.last_full_fetch,
            _ => options.now,
        };
        drop(previous);
        keep_used_attributes(&mut fetched.directory, &used);
        report.source.full_fetch = fetched.full;
        report.source.data_read_at = Some(options.now);
        if source.incremental() && !options.dry_run {
            let cache = SourceCacheRef {
                directory: &fetched.directory,
                cursor: fetched.cursor.as_deref(),
                last_full_fetch,
                kept_attributes: &used.iter().cloned().collect::<Vec<_>>(),
            };
            let bytes = cache
                .encode()
                .map_err(|e| Stop::Failed(format!("the source cache cannot be encoded: {e}")))?;
            self.store.save_source_cache(&connection.name, &bytes)?;
        }
        report.source.users = fetched.directory.users.len();
        report.source.groups = fetched.directory.groups.len();
        Ok(fetched.directory)
    }

    /// What the incremental source read last time, if it can continue from
    /// it: a cache written by another version, or holding other raw
    /// attributes than the mapping now uses, means a full read.
    fn previous_source_cache(&self, used: &BTreeSet<String>) -> Step<Option<SourceCache>> {
        let connection = &self.connection.name;
        let Some(bytes) = self.store.load_source_cache(connection)? else {
            return Ok(None);
        };
        let cache = match SourceCache::decode(&bytes) {
            Ok(cache) => cache,
            Err(why) => {
                tracing::info!(connection = %connection, "The source cache is not used ({why}): this run reads the directory in full.");
                return Ok(None);
            }
        };
        if !cache.kept_attributes.iter().eq(used.iter()) {
            tracing::info!(connection = %connection, "The mapping now uses other source attributes than the cache holds: this run reads the directory in full.");
            return Ok(None);
        }
        Ok(Some(cache))
    }

    /// 3. Reconcile: the snapshot rebuilt from what Penvio really holds (and,
    ///    unless a dry run, stored).
    async fn reconcile_snapshot(
        &self,
        client: &ScimClient,
        desired: &DesiredState,
        snapshot: &Snapshot,
        adopt: bool,
        report: &mut RunReport,
    ) -> Step<Snapshot> {
        let users = client.list_users(DEFAULT_PAGE_SIZE).await;
        let groups = match &users {
            Ok(_) => client.list_groups(DEFAULT_PAGE_SIZE).await,
            Err(_) => Ok(Vec::new()),
        };
        let (users, groups) = match (users, groups) {
            (Ok(users), Ok(groups)) => (users, groups),
            (Err(error), _) | (_, Err(error)) => {
                report.target_requests = client.counts();
                return Err(Stop::Failed(format!(
                    "cannot read what Penvio holds: {error}"
                )));
            }
        };
        let (rebuilt, findings) =
            rebuild_snapshot(desired, snapshot, &users, &groups, adopt, self.options.now);
        report.reconcile = Some(findings);
        if !self.options.dry_run {
            let mut persisted = rebuilt.clone();
            for team in persisted.teams.values_mut() {
                team.foreign_members.clear();
            }
            self.store.replace(&self.connection.name, &persisted)?;
        }
        Ok(rebuilt)
    }

    /// 5. Applies a plan and fills the report with its outcome.
    async fn apply(
        &self,
        client: &ScimClient,
        snapshot: &mut Snapshot,
        plan: &Plan,
        report: &mut RunReport,
    ) -> Step<()> {
        let (connection, options) = (self.connection, self.options);
        let progress = Progress::bar(
            options.show_progress && !plan.is_empty(),
            plan.operations.len() as u64,
            "Applying",
        );
        let settings = self.apply_settings(report);
        let applied = apply_plan(
            plan,
            snapshot,
            client,
            self.store.clone(),
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
            return Err(Stop::Failed(
                "stopped by shutdown; operations acknowledged so far were recorded and the next run continues"
                    .into(),
            ));
        }
        let applied = applied.map_err(|error| {
            Stop::Failed(format!(
                "{error}. Operations acknowledged before this were recorded."
            ))
        })?;
        report.record_outcomes(applied.outcomes);
        Ok(())
    }

    fn apply_settings(&self, report: &RunReport) -> ApplySettings {
        let (connection, options) = (self.connection, self.options);
        ApplySettings {
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
        }
    }

    /// `apply`: the reviewed plan admitted against a fresh plan, then
    /// applied; operations not in both are refused (exit code 5).
    async fn apply_reviewed(
        &self,
        reviewed: &crate::reviewed::ConnectionPlan,
        report: &mut RunReport,
    ) -> Step<()> {
        // Refuse a stale plan before anything is fetched.
        let current = self.store.load(&self.connection.name)?;
        if current.generation != reviewed.generation {
            report.snapshot_generation = current.generation;
            return Err(stale(reviewed.generation, current.generation));
        }
        let fresh_options = RunOptions {
            mode: RunMode::Sync,
            dry_run: false,
            only: Vec::new(),
            ..self.options.clone()
        };
        let fresh_run = Run {
            options: &fresh_options,
            ..*self
        };
        let Planned {
            client,
            mut snapshot,
            plan: fresh,
        } = fresh_run.fetch_and_plan(report).await?;
        if snapshot.generation != reviewed.generation {
            return Err(stale(reviewed.generation, snapshot.generation));
        }
        let admitted = crate::reviewed::admit(
            &reviewed.plan,
            &fresh,
            &snapshot,
            self.options.allow_deletions,
        );
        self.log_refusals(&admitted.refused, report);
        report.refused = admitted.refused;
        count_planned(&admitted.plan, report);
        self.apply(&client, &mut snapshot, &admitted.plan, report)
            .await?;
        if !report.refused.is_empty() {
            report.conclude(Outcome::StalePlan);
        }
        Ok(())
    }

    fn log_refusals(&self, refused: &[crate::report::Refusal], report: &RunReport) {
        for refused in refused {
            tracing::warn!(
                connection = %self.connection.name,
                run_id = %report.run_id,
                operation = refused.operation.kind(),
                subject = refused.operation.subject(),
                reason = %refused.reason,
                "Refused an operation of the reviewed plan."
            );
        }
    }
}

/// Counts the plan's operations by kind and keeps what the guard held back.
fn count_planned(plan: &Plan, report: &mut RunReport) {
    for operation in &plan.operations {
        *report.planned.entry(operation.kind()).or_default() += 1;
    }
    report.held_back = plan.held_back.clone();
}

/// `--only`: the directory and snapshot narrowed to the named users, with
/// the guard tightened if the whole fetch trips the shrinkage guard; the run
/// stops when a name matches nobody.
fn narrow_to_only(
    only: &[String],
    desired: &DesiredState,
    snapshot: &Snapshot,
    plan_policy: &mut PlanPolicy,
) -> Step<(DesiredState, Snapshot)> {
    let (users, unmatched) = only::resolve(only, desired, snapshot);
    if !unmatched.is_empty() {
        return Err(Stop::Failed(format!(
            "--only: no user in the directory or the snapshot matches {}",
            unmatched.join(", ")
        )));
    }
    // The shrinkage guard judges the whole fetch, not the narrowed view.
    if crate::plan::shrinkage(desired, snapshot, plan_policy).is_some() {
        plan_policy.max_deactivations = 0;
        plan_policy.max_deletions = 0;
    }
    plan_policy.max_shrinkage = 1.0;
    Ok(only::restrict(desired, snapshot, &users))
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
    let run = Run {
        connection,
        index,
        store: &store,
        options,
    };
    // Bounded like every run (invariant 11).
    let steps = run.apply_reviewed(reviewed, &mut report);
    if let Ok(Err(stop)) | Err(stop) = tokio::time::timeout(connection.run_timeout, steps)
        .await
        .map_err(|_| Stop::Failed(run_timed_out(connection, index)))
    {
        stop.record(&mut report);
    }
    report.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    events::run_finished(&report);
    report
}

/// The refusal of a reviewed plan whose snapshot has moved.
fn stale(then: u64, now: u64) -> Stop {
    Stop::StalePlan(format!(
        "the snapshot has moved since this plan was computed (generation {then} then, {now} now): something was applied in between; run `penvio-sync plan --out` again and review the new plan"
    ))
}

/// How long ago a unix time was, for people ("3h ago").
pub fn ago(then: i64, now: i64) -> String {
    let seconds = u64::try_from(now.saturating_sub(then)).unwrap_or(0);
    format!(
        "{} ago",
        humantime::format_duration(Duration::from_secs(seconds))
    )
}
