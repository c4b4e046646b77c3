//! Runs the jobs of one phase on a bounded number of tasks and turns each
//! result into an [`OperationOutcome`] plus the changes to record.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tracing::Instrument;

use super::context::{OperationError, TaskContext};
use super::jobs::{Job, Ownership};
use super::perform::perform;
use crate::events;
use crate::plan::{AttributeChange, Operation};
use crate::report::OperationOutcome;
use crate::report::render::describe;
use crate::snapshot::Change;

/// An operation's outcome and the changes Penvio acknowledged.
pub(super) type JobResult = (OperationOutcome, Vec<Change>);

/// Runs the jobs of one phase with at most `concurrency` in flight; returns
/// the results of those that ran, in plan order.
pub(super) async fn run_phase(
    jobs: Vec<Job>,
    context: &Arc<TaskContext>,
    concurrency: usize,
) -> Vec<JobResult> {
    let total = jobs.len();
    let jobs: Arc<Vec<Mutex<Option<Job>>>> =
        Arc::new(jobs.into_iter().map(|j| Mutex::new(Some(j))).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let results: Arc<Mutex<Vec<Option<JobResult>>>> =
        Arc::new(Mutex::new((0..total).map(|_| None).collect()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(total.max(1)) {
        let jobs = jobs.clone();
        let next = next.clone();
        let results = results.clone();
        let context = context.clone();
        let span = tracing::Span::current();
        workers.spawn(
            async move {
                while !context.halted() {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(slot) = jobs.get(index) else {
                        break;
                    };
                    let job = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                    let Some(job) = job else { continue };
                    let result = execute(job, &context).await;
                    context.progress.advance(1);
                    results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(result);
                }
            }
            .instrument(span),
        );
    }
    while workers.join_next().await.is_some() {}
    let mut collected = results.lock().unwrap_or_else(|e| e.into_inner());
    collected.drain(..).flatten().collect()
}

/// Runs one operation; returns its outcome and the changes Penvio
/// acknowledged (already sent to the recorder).
async fn execute(job: Job, context: &TaskContext) -> JobResult {
    let operation = &job.operation;
    let mut outcome = OperationOutcome {
        kind: operation.kind(),
        subject: operation.subject().to_string(),
        penvio_id: operation_penvio_id(operation),
        attributes: changed_attributes(operation),
        description: describe(operation),
        error: None,
        http_status: None,
    };
    let mut changes = Vec::new();
    let result = match job.ownership {
        Ownership::Dropped => {
            outcome.description.push_str(
                " (skipped: the user is no longer in the snapshot; its account was relinked)",
            );
            Ok(())
        }
        Ownership::Other => Err(OperationError::Refused(format!(
            "refused: Penvio user {} is not the account this connection holds for source user {}; nothing was sent",
            outcome.penvio_id.as_deref().unwrap_or(""),
            outcome.subject
        ))),
        Ownership::Held => perform(&job, context, &mut changes, &mut outcome.description).await,
    };
    context.record(&changes);
    if let Some(created) = changes.iter().find_map(|change| match change {
        Change::PutUser { record, .. } => Some(record.penvio_id().to_string()),
        Change::PutTeam { penvio_id, .. } => Some(penvio_id.clone()),
        _ => None,
    }) {
        outcome.penvio_id = Some(created);
    }
    if let Err(error) = result {
        outcome.http_status = error.status();
        outcome.error = Some(error.to_string());
        if let OperationError::Target(error) = error
            && error.is_fatal()
        {
            context.stop_with(error);
        }
    }
    events::operation_finished(&context.events, &outcome, context.now);
    (outcome, changes)
}

/// The Penvio id an operation addresses, if it has one yet.
fn operation_penvio_id(operation: &Operation) -> Option<String> {
    match operation {
        Operation::CreateUser { .. } | Operation::CreateTeam { .. } => None,
        Operation::ReactivateUser { penvio_id, .. }
        | Operation::UpdateUser { penvio_id, .. }
        | Operation::RenameTeam { penvio_id, .. }
        | Operation::AddMembers { penvio_id, .. }
        | Operation::RemoveMembers { penvio_id, .. }
        | Operation::DeleteTeam { penvio_id, .. }
        | Operation::DeactivateUser { penvio_id, .. }
        | Operation::DeleteUser { penvio_id, .. } => Some(penvio_id.clone()),
    }
}

/// The SCIM attributes an operation sets, for the audit trail.
fn changed_attributes(operation: &Operation) -> Vec<String> {
    let names = |changes: &[AttributeChange]| changes.iter().map(|c| c.path.to_string()).collect();
    match operation {
        Operation::CreateUser { .. } => [
            "userName",
            "name.givenName",
            "name.familyName",
            "displayName",
            "emails",
            "externalId",
            "active",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        Operation::ReactivateUser { changes, .. }
        | Operation::UpdateUser { changes, .. }
        | Operation::DeactivateUser { changes, .. } => names(changes),
        Operation::CreateTeam { .. } => {
            vec!["displayName".into(), "externalId".into(), "members".into()]
        }
        Operation::RenameTeam { .. } => vec!["displayName".into()],
        Operation::AddMembers { .. } | Operation::RemoveMembers { .. } => vec!["members".into()],
        Operation::DeleteTeam { .. } | Operation::DeleteUser { .. } => Vec::new(),
    }
}
