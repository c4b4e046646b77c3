//! The executor: applies a plan phase by phase with bounded concurrency and
//! records every acknowledged operation in the snapshot.
//!
//! Acknowledgements go to a recorder thread that commits them in batches
//! (never only at the end), so a crash loses at most one batch of records;
//! the next run repeats those operations, which are idempotent or resolved
//! by lookup (409 on create → link, unless the account is held for another
//! source user; pending team creates → find by externalId), so no duplicates
//! appear (invariant 2).
//!
//! The target is a [`Provisioner`]: Penvio's SCIM client in production, an
//! in-memory target in the unit tests.

mod context;
mod execute;
mod jobs;
mod perform;
mod recorder;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::config::OnUserNameReuse;
use crate::events::RunContext;
use crate::plan::{Operation, Phase, Plan};
use crate::progress::Progress;
use crate::snapshot::{Change, Snapshot};
use crate::state::{StateError, StateStore};
use crate::target::{Provisioner, TargetError};
use context::TaskContext;
use execute::run_phase;
use jobs::{Job, prepare};
use recorder::Recorder;

use crate::report::OperationOutcome;

/// How to apply a plan.
#[derive(Clone)]
pub struct ApplySettings {
    /// Operations in flight at once.
    pub concurrency: usize,
    /// Members per PATCH request.
    pub member_patch_size: usize,
    /// Unix seconds, recorded as the deactivation time.
    pub now: i64,
    /// Cancelled on shutdown: operations in flight finish and are recorded,
    /// no new one starts.
    pub cancel: CancellationToken,
    /// Who applies, for logs, metrics and the audit trail.
    pub events: RunContext,
    /// Whether a create that finds its userName on another managed user's
    /// account may take that account over (`policy.on_username_reuse`).
    pub on_username_reuse: OnUserNameReuse,
}

/// Errors that stop applying a plan.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The target refused the credentials; nothing more was sent.
    #[error(transparent)]
    Unauthorized(TargetError),
    /// Acknowledged operations could not be recorded.
    #[error("cannot record applied operations: {0}")]
    State(#[from] StateError),
}

/// The outcome of applying a plan.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// One entry per operation that ran.
    pub outcomes: Vec<OperationOutcome>,
}

/// Applies `plan` to `target`, updating `snapshot` in memory and on disk as
/// operations are acknowledged.
pub async fn apply_plan<P: Provisioner + Clone + 'static>(
    plan: &Plan,
    snapshot: &mut Snapshot,
    target: &P,
    store: Arc<dyn StateStore>,
    connection: &str,
    settings: &ApplySettings,
    progress: &Progress,
) -> Result<ApplyReport, ApplyError> {
    let mut report = ApplyReport::default();
    if plan.operations.is_empty() {
        return Ok(report);
    }
    let recorder = Recorder::spawn(store.clone(), connection.to_string())?;
    let context = Arc::new(TaskContext {
        target: Arc::new(target.clone()),
        owners: owners(plan, snapshot),
        on_username_reuse: settings.on_username_reuse,
        cancel: settings.cancel.clone(),
        events: settings.events.clone(),
        patch_size: settings.member_patch_size.max(1),
        now: settings.now,
        recorder: Mutex::new(recorder.sender()),
        stop: AtomicBool::new(false),
        fatal: Mutex::new(None),
        progress: progress.clone(),
    });
    let phases = Phases {
        context: &context,
        store: store.as_ref(),
        connection,
        concurrency: settings.concurrency.max(1),
    };
    let ran = phases.run(plan, snapshot, &mut report).await;
    // Whatever happened, flush what was acknowledged before reporting.
    context
        .recorder
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    recorder.finish()?;
    ran?;
    let fatal = context
        .fatal
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    match fatal {
        Some(error) => Err(ApplyError::Unauthorized(error)),
        None => Ok(report),
    }
}

/// Penvio user id → the source id the snapshot holds it for, when the plan
/// creates or recreates users (a 409 may find an account another managed
/// user holds).
fn owners(plan: &Plan, snapshot: &Snapshot) -> HashMap<String, String> {
    let creates_users = plan.operations.iter().any(|op| {
        matches!(
            op,
            Operation::CreateUser { .. }
                | Operation::UpdateUser { .. }
                | Operation::ReactivateUser { .. }
        )
    });
    if !creates_users {
        return HashMap::new();
    }
    snapshot
        .users
        .iter()
        .map(|(source_id, record)| (record.penvio_id().to_string(), source_id.clone()))
        .collect()
}

/// Runs a plan's phases in order, each after the previous one finished.
struct Phases<'a> {
    context: &'a Arc<TaskContext>,
    store: &'a dyn StateStore,
    connection: &'a str,
    concurrency: usize,
}

impl Phases<'_> {
    async fn run(
        &self,
        plan: &Plan,
        snapshot: &mut Snapshot,
        report: &mut ApplyReport,
    ) -> Result<(), StateError> {
        let mut start = 0;
        while start < plan.operations.len() && !self.context.halted() {
            let phase = plan.operations[start].phase();
            let end = plan.operations[start..]
                .iter()
                .position(|op| op.phase() != phase)
                .map_or(plan.operations.len(), |offset| start + offset);
            let operations = &plan.operations[start..end];
            start = end;
            if phase == Phase::UpsertTeams {
                mark_pending_creates(operations, snapshot, self.store, self.connection)?;
            }
            let jobs: Vec<Job> = operations.iter().map(|op| prepare(op, snapshot)).collect();
            for (outcome, changes) in run_phase(jobs, self.context, self.concurrency).await {
                snapshot.apply(&changes);
                report.outcomes.push(outcome);
            }
        }
        Ok(())
    }
}

/// Makes the "create was sent" markers durable before any team create goes
/// out: Penvio accepts duplicate team names, so after a crash the next run
/// must look before it creates.
fn mark_pending_creates(
    operations: &[Operation],
    snapshot: &Snapshot,
    store: &dyn StateStore,
    connection: &str,
) -> Result<(), StateError> {
    let marks: Vec<Change> = operations
        .iter()
        .filter_map(|op| match op {
            Operation::CreateTeam { source_id, .. }
                if !snapshot.pending_team_creates.contains(source_id) =>
            {
                Some(Change::MarkTeamCreatePending {
                    source_id: source_id.clone(),
                })
            }
            _ => None,
        })
        .collect();
    if marks.is_empty() {
        return Ok(());
    }
    store.apply(connection, &marks)?;
    // The marks are not applied to `snapshot.pending_team_creates` in memory:
    // a team pending from an earlier run is looked up, a fresh one is not.
    Ok(())
}
