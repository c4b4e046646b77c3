//! The executor: applies a plan phase by phase with bounded concurrency and
//! records every acknowledged operation in the snapshot.
//!
//! Acknowledgements go to a recorder thread that commits them in batches
//! (never only at the end), so a crash loses at most one batch of records;
//! the next run repeats those operations, which are idempotent or resolved
//! by lookup (409 on create → link, unless the account is held for another
//! source user; pending team creates → find by externalId), so no duplicates
//! appear (invariant 2).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::OnUserNameReuse;
use crate::events::{self, RunContext};
use crate::model::UserAttributes;
use crate::plan::{AttributeChange, Operation, Phase, Plan};
use crate::progress::Progress;
use crate::scim::{PatchOperation, emails_value};
use crate::state::{Change, Snapshot, StateError, StateStore, StoredUser};
use crate::target::scim::{ScimClient, ScimError};

/// Commit the recorded acknowledgements at least this often. Each commit
/// costs a durable write (fsync) whatever its size, so fewer, larger batches
/// keep recording far below the apply time (issue 7, B4); a crash loses at
/// most this long of records, repeated idempotently by the next run.
const FLUSH_INTERVAL: Duration = Duration::from_millis(1_000);
/// …or as soon as this many changes are waiting.
const FLUSH_CHANGES: usize = 10_000;

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

pub use crate::report::OperationOutcome; // merge re-export
pub use crate::report::render::describe; // merge re-export

/// Errors that stop applying a plan.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The target refused the credentials; nothing more was sent.
    #[error(transparent)]
    Unauthorized(ScimError),
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

/// Batches acknowledged changes into durable commits on a thread of its own,
/// so slow disks never stall the HTTP pipeline.
struct Recorder {
    sender: Option<mpsc::Sender<Vec<Change>>>,
    handle: Option<JoinHandle<Result<(), StateError>>>,
}

impl Recorder {
    fn spawn(store: Arc<dyn StateStore>, connection: String) -> Result<Self, StateError> {
        let (sender, receiver) = mpsc::channel::<Vec<Change>>();
        let body = move || -> Result<(), StateError> {
            let mut pending: Vec<Change> = Vec::new();
            let mut since: Option<Instant> = None;
            loop {
                let timeout = match since {
                    Some(start) => FLUSH_INTERVAL.saturating_sub(start.elapsed()),
                    None => Duration::from_secs(3600),
                };
                match receiver.recv_timeout(timeout) {
                    Ok(changes) => {
                        pending.extend(changes);
                        since.get_or_insert_with(Instant::now);
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        store.apply(&connection, &pending)?;
                        return Ok(());
                    }
                }
                let due = since.is_some_and(|start| start.elapsed() >= FLUSH_INTERVAL);
                if !pending.is_empty() && (due || pending.len() >= FLUSH_CHANGES) {
                    store.apply(&connection, &pending)?;
                    pending.clear();
                    since = None;
                }
            }
        };
        // Named, so `top -H` and profiles show where commit time goes.
        let handle = std::thread::Builder::new()
            .name("penvio-recorder".into())
            .spawn(body)
            .map_err(|e| StateError::Recorder(format!("cannot start: {e}")))?;
        Ok(Recorder {
            sender: Some(sender),
            handle: Some(handle),
        })
    }

    fn sender(&self) -> Option<mpsc::Sender<Vec<Change>>> {
        self.sender.clone()
    }

    /// Flushes what is left and reports any storage error.
    fn finish(mut self) -> Result<(), StateError> {
        self.sender.take();
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(StateError::Recorder("panicked".into())),
            None => Ok(()),
        }
    }
}

/// Why one operation failed: Penvio answered with an error, or the agent
/// refused to send it.
#[derive(Debug, thiserror::Error)]
enum OperationError {
    /// Penvio refused or could not be reached.
    #[error(transparent)]
    Target(#[from] ScimError),
    /// The operation would touch an account this connection does not hold
    /// for its source user; nothing was sent.
    #[error("{0}")]
    Refused(String),
}

impl OperationError {
    fn status(&self) -> Option<u16> {
        match self {
            OperationError::Target(error) => error.status(),
            OperationError::Refused(_) => None,
        }
    }
}

/// What a task needs besides its operation, resolved from the snapshot when
/// the phase starts.
struct Job {
    operation: Operation,
    /// Whether the snapshot (now) holds the user operation's account for its
    /// source user; only then is the operation sent.
    ownership: Ownership,
    /// Previous deactivation time of the user (updates keep it).
    deactivated_at: Option<i64>,
    /// (source id, Penvio id) of the members the operation is about.
    members: Vec<(String, String)>,
    /// Member source ids that have no Penvio user (their create failed).
    unresolved: usize,
    /// A create of this team may already have reached Penvio.
    pending_create: bool,
}

struct TaskContext {
    client: ScimClient,
    /// Penvio user id → the source id the snapshot held it for when the plan
    /// started (filled only when the plan creates or recreates users).
    owners: HashMap<String, String>,
    on_username_reuse: OnUserNameReuse,
    cancel: CancellationToken,
    events: RunContext,
    patch_size: usize,
    now: i64,
    recorder: Mutex<Option<mpsc::Sender<Vec<Change>>>>,
    stop: AtomicBool,
    fatal: Mutex<Option<ScimError>>,
    progress: Progress,
}

impl TaskContext {
    fn record(&self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let guard = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = guard.as_ref() {
            // A send fails only if the recorder died; finish() reports why.
            let _ = sender.send(changes.to_vec());
        }
    }
}

/// Applies `plan`, updating `snapshot` in memory and on disk as operations
/// are acknowledged.
pub async fn apply_plan(
    plan: &Plan,
    snapshot: &mut Snapshot,
    client: &ScimClient,
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
    let creates_users = plan.operations.iter().any(|op| {
        matches!(
            op,
            Operation::CreateUser { .. }
                | Operation::UpdateUser { .. }
                | Operation::ReactivateUser { .. }
        )
    });
    let owners = if creates_users {
        snapshot
            .users
            .iter()
            .map(|(source_id, record)| (record.penvio_id().to_string(), source_id.clone()))
            .collect()
    } else {
        HashMap::new()
    };
    let context = Arc::new(TaskContext {
        client: client.clone(),
        owners,
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

    let mut start = 0;
    while start < plan.operations.len()
        && !context.stop.load(Ordering::SeqCst)
        && !context.cancel.is_cancelled()
    {
        let phase = plan.operations[start].phase();
        let end = plan.operations[start..]
            .iter()
            .position(|op| op.phase() != phase)
            .map_or(plan.operations.len(), |offset| start + offset);
        let operations = &plan.operations[start..end];
        start = end;

        if phase == Phase::UpsertTeams {
            mark_pending_creates(operations, snapshot, store.as_ref(), connection).await?;
        }
        let jobs: Vec<Job> = operations.iter().map(|op| prepare(op, snapshot)).collect();
        let results = run_phase(jobs, &context, settings.concurrency.max(1)).await;
        for (outcome, changes) in results {
            snapshot.apply(&changes);
            report.outcomes.push(outcome);
        }
    }

    context
        .recorder
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    recorder.finish()?;
    let fatal = context
        .fatal
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(error) = fatal {
        return Err(ApplyError::Unauthorized(error));
    }
    Ok(report)
}

/// Makes the "create was sent" markers durable before any team create goes
/// out: Penvio accepts duplicate team names, so after a crash the next run
/// must look before it creates.
async fn mark_pending_creates(
    operations: &[Operation],
    snapshot: &mut Snapshot,
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

fn prepare(operation: &Operation, snapshot: &Snapshot) -> Job {
    let resolve = |ids: &[String]| -> (Vec<(String, String)>, usize) {
        let mut resolved = Vec::with_capacity(ids.len());
        let mut missing = 0;
        for id in ids {
            match snapshot.users.get(id) {
                Some(record) => resolved.push((id.clone(), record.penvio_id().to_string())),
                None => missing += 1,
            }
        }
        (resolved, missing)
    };
    let mut job = Job {
        operation: operation.clone(),
        ownership: ownership(operation, snapshot),
        deactivated_at: None,
        members: Vec::new(),
        unresolved: 0,
        pending_create: false,
    };
    match operation {
        Operation::UpdateUser { source_id, .. } => {
            job.deactivated_at = snapshot
                .users
                .get(source_id)
                .and_then(|r| r.deactivated_at());
        }
        Operation::CreateTeam {
            source_id, members, ..
        } => {
            (job.members, job.unresolved) = resolve(members);
            job.pending_create = snapshot.pending_team_creates.contains(source_id);
        }
        Operation::AddMembers { members, .. } => {
            (job.members, job.unresolved) = resolve(members);
        }
        Operation::RemoveMembers { members, .. } => {
            // A member without a user record can only be dropped from the
            // snapshot; its Penvio id is unknown.
            for id in members {
                let penvio_id = snapshot
                    .users
                    .get(id)
                    .map(|r| r.penvio_id().to_string())
                    .unwrap_or_default();
                job.members.push((id.clone(), penvio_id));
            }
        }
        _ => {}
    }
    job
}

/// How an operation's account relates to what the snapshot holds when its
/// phase starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ownership {
    /// The snapshot holds the account for the source user (or the operation
    /// is not about an existing user).
    Held,
    /// The source user left the snapshot earlier in the run (its account was
    /// relinked to another user): nothing is left to do.
    Dropped,
    /// The snapshot holds another account for the source user: refused.
    Other,
}

fn ownership(operation: &Operation, snapshot: &Snapshot) -> Ownership {
    let Some((source_id, penvio_id)) = operation.existing_user() else {
        return Ownership::Held;
    };
    match snapshot.users.get(source_id) {
        None => Ownership::Dropped,
        Some(record) if record.penvio_id() != penvio_id => Ownership::Other,
        Some(_) => Ownership::Held,
    }
}

/// An operation's outcome and the changes Penvio acknowledged.
type JobResult = (OperationOutcome, Vec<Change>);

async fn run_phase(
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
                loop {
                    if context.stop.load(Ordering::SeqCst) || context.cancel.is_cancelled() {
                        break;
                    }
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
            context.stop.store(true, Ordering::SeqCst);
            let mut fatal = context.fatal.lock().unwrap_or_else(|e| e.into_inner());
            if fatal.is_none() {
                *fatal = Some(error);
            }
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

/// PATCH operations for a set of attribute changes. Empty values are
/// removed rather than set to "" (strict servers reject empty strings).
pub fn patch_operations(
    changes: &[AttributeChange],
    attributes: &UserAttributes,
) -> Vec<PatchOperation> {
    changes
        .iter()
        .map(|change| match change.path.as_str() {
            "active" => PatchOperation::replace("active", Value::Bool(attributes.active)),
            "emails" => PatchOperation::replace("emails", emails_value(&attributes.email)),
            path if change.new.is_empty() => PatchOperation::remove(path),
            path => PatchOperation::replace(path, Value::String(change.new.clone())),
        })
        .collect()
}

fn put_user(
    source_id: &str,
    penvio_id: String,
    attributes: &UserAttributes,
    deactivated_at: Option<i64>,
) -> Change {
    Change::PutUser {
        source_id: source_id.to_string(),
        record: StoredUser::new(&penvio_id, attributes, deactivated_at),
    }
}

/// Creates a user, or links the existing one on a uniqueness conflict and
/// brings its attributes to the desired values. An existing account the
/// snapshot held for another source user (a reused email) is linked only
/// under `policy.on_username_reuse: relink`, which drops the old mapping.
/// Returns the Penvio id.
async fn create_or_link_user(
    context: &TaskContext,
    source_id: &str,
    attributes: &UserAttributes,
    changes: &mut Vec<Change>,
    description: &mut String,
) -> Result<String, OperationError> {
    let client = &context.client;
    match client.create_user(attributes).await {
        Ok(id) => Ok(id),
        Err(ScimError::Conflict {
            method,
            path,
            detail,
        }) => {
            let Some(existing) = client.find_user_by_user_name(&attributes.user_name).await? else {
                return Err(ScimError::Conflict {
                    method,
                    path,
                    detail: format!("{detail} (and no user with that userName could be found)"),
                }
                .into());
            };
            let previous_owner = context
                .owners
                .get(&existing.id)
                .filter(|owner| owner.as_str() != source_id);
            if let Some(owner) = previous_owner
                && context.on_username_reuse == OnUserNameReuse::Refuse
            {
                return Err(OperationError::Refused(reuse_refusal(
                    source_id,
                    owner,
                    &existing.id,
                    &attributes.user_name,
                )));
            }
            let current = existing.attributes();
            let changed = crate::plan::attribute_changes(&current, attributes);
            if !changed.is_empty() {
                client
                    .patch_user(&existing.id, &patch_operations(&changed, attributes))
                    .await?;
            }
            match previous_owner {
                Some(owner) => {
                    changes.push(Change::RemoveUser {
                        source_id: owner.clone(),
                    });
                    description.push_str(&format!(
                        " (relinked Penvio user {} from source user {owner}, whose mapping was dropped: policy.on_username_reuse is relink)",
                        existing.id
                    ));
                }
                None => description.push_str(" (linked the existing Penvio user)"),
            }
            Ok(existing.id)
        }
        Err(error) => Err(error.into()),
    }
}

/// The warning for a create whose userName belongs to another managed
/// user's account: names both source ids and the ways out.
fn reuse_refusal(source_id: &str, owner: &str, penvio_id: &str, user_name: &str) -> String {
    format!(
        "skipped: userName {user_name} belongs to Penvio user {penvio_id}, which this connection holds for source user {owner}, not for the new source user {source_id}; linking would hand {owner}'s account and data to {source_id}. If they are the same person, set policy.on_username_reuse: relink; otherwise give the new user another email, or delete the old account in Penvio"
    )
}

async fn perform(
    job: &Job,
    context: &TaskContext,
    changes: &mut Vec<Change>,
    description: &mut String,
) -> Result<(), OperationError> {
    let client = &context.client;
    match &job.operation {
        Operation::CreateUser {
            source_id,
            attributes,
        } => {
            let id =
                create_or_link_user(context, source_id, attributes, changes, description).await?;
            changes.push(put_user(source_id, id, attributes, None));
        }
        Operation::UpdateUser {
            source_id,
            penvio_id,
            attributes,
            changes: diff,
        }
        | Operation::ReactivateUser {
            source_id,
            penvio_id,
            attributes,
            changes: diff,
        } => {
            let deactivated_at = if attributes.active {
                None
            } else {
                job.deactivated_at
            };
            match client
                .patch_user(penvio_id, &patch_operations(diff, attributes))
                .await
            {
                Ok(()) => changes.push(put_user(
                    source_id,
                    penvio_id.clone(),
                    attributes,
                    deactivated_at,
                )),
                Err(ScimError::NotFound { .. }) => {
                    // Deleted by hand in Penvio: drift. Recreate it.
                    let id =
                        create_or_link_user(context, source_id, attributes, changes, description)
                            .await?;
                    description.push_str(" (was missing in Penvio: recreated)");
                    changes.push(put_user(source_id, id, attributes, deactivated_at));
                }
                Err(error) => return Err(error.into()),
            }
        }
        Operation::DeactivateUser {
            source_id,
            penvio_id,
            attributes,
            changes: diff,
            ..
        } => match client
            .patch_user(penvio_id, &patch_operations(diff, attributes))
            .await
        {
            Ok(()) => changes.push(put_user(
                source_id,
                penvio_id.clone(),
                attributes,
                Some(context.now),
            )),
            Err(ScimError::NotFound { .. }) => {
                description.push_str(" (already gone from Penvio)");
                changes.push(Change::RemoveUser {
                    source_id: source_id.clone(),
                });
            }
            Err(error) => return Err(error.into()),
        },
        Operation::DeleteUser {
            source_id,
            penvio_id,
            ..
        } => {
            if !client.delete_user(penvio_id).await? {
                description.push_str(" (already gone)");
            }
            changes.push(Change::RemoveUser {
                source_id: source_id.clone(),
            });
        }
        Operation::CreateTeam {
            source_id, name, ..
        } => {
            create_team(job, context, source_id, name, changes, description).await?;
        }
        Operation::RenameTeam {
            source_id,
            penvio_id,
            new_name,
            ..
        } => {
            let op = PatchOperation::replace("displayName", Value::String(new_name.clone()));
            team_request(
                client.patch_group(penvio_id, &[op]).await,
                source_id,
                changes,
            )?;
            changes.push(Change::PutTeam {
                source_id: source_id.clone(),
                penvio_id: penvio_id.clone(),
                name: new_name.clone(),
            });
        }
        Operation::AddMembers {
            team, penvio_id, ..
        } => {
            add_members(context, team, penvio_id, &job.members, changes).await?;
            note_unresolved(job.unresolved, description);
        }
        Operation::RemoveMembers {
            team,
            penvio_id,
            foreign_members,
            ..
        } => {
            let mut unknown = Vec::new();
            let mut known: Vec<(String, String)> = Vec::new();
            for (source_id, member_penvio_id) in &job.members {
                if member_penvio_id.is_empty() {
                    unknown.push(source_id.clone());
                } else {
                    known.push((source_id.clone(), member_penvio_id.clone()));
                }
            }
            if !unknown.is_empty() {
                changes.push(Change::RemoveMembers {
                    team: team.clone(),
                    members: unknown,
                });
            }
            for chunk in known.chunks(context.patch_size) {
                let ops: Vec<PatchOperation> = chunk
                    .iter()
                    .map(|(_, id)| PatchOperation::remove_member(id))
                    .collect();
                team_request(client.patch_group(penvio_id, &ops).await, team, changes)?;
                changes.push(Change::RemoveMembers {
                    team: team.clone(),
                    members: chunk.iter().map(|(s, _)| s.clone()).collect(),
                });
            }
            for chunk in foreign_members.chunks(context.patch_size) {
                let ops: Vec<PatchOperation> = chunk
                    .iter()
                    .map(|id| PatchOperation::remove_member(id))
                    .collect();
                team_request(client.patch_group(penvio_id, &ops).await, team, changes)?;
            }
        }
        Operation::DeleteTeam {
            source_id,
            penvio_id,
            ..
        } => {
            if !client.delete_group(penvio_id).await? {
                description.push_str(" (already gone)");
            }
            changes.push(Change::RemoveTeam {
                source_id: source_id.clone(),
            });
        }
    }
    Ok(())
}

fn note_unresolved(unresolved: usize, description: &mut String) {
    if unresolved > 0 {
        description.push_str(&format!(
            " ({unresolved} members left for the next run: their users are not in Penvio yet)"
        ));
    }
}

/// A team request's result; on 404 the team was deleted in Penvio by hand,
/// so it is dropped from the snapshot and recreated by the next run.
fn team_request(
    result: Result<(), ScimError>,
    team: &str,
    changes: &mut Vec<Change>,
) -> Result<(), ScimError> {
    if let Err(ScimError::NotFound { .. }) = &result {
        changes.push(Change::RemoveTeam {
            source_id: team.to_string(),
        });
    }
    result
}

async fn add_members(
    context: &TaskContext,
    team: &str,
    penvio_id: &str,
    members: &[(String, String)],
    changes: &mut Vec<Change>,
) -> Result<(), ScimError> {
    for chunk in members.chunks(context.patch_size) {
        let ids: Vec<String> = chunk.iter().map(|(_, id)| id.clone()).collect();
        team_request(
            context
                .client
                .patch_group(penvio_id, &[PatchOperation::add_members(&ids)])
                .await,
            team,
            changes,
        )?;
        changes.push(Change::AddMembers {
            team: team.to_string(),
            members: chunk.iter().map(|(s, _)| s.clone()).collect(),
        });
    }
    Ok(())
}

async fn create_team(
    job: &Job,
    context: &TaskContext,
    source_id: &str,
    name: &str,
    changes: &mut Vec<Change>,
    description: &mut String,
) -> Result<(), ScimError> {
    let client = &context.client;
    let clear = Change::ClearTeamCreatePending {
        source_id: source_id.to_string(),
    };
    if job.pending_create {
        // An earlier create may have reached Penvio unacknowledged.
        let found = client.find_groups_by_external_id(source_id).await?;
        if let Some(existing) = found.into_iter().next() {
            description.push_str(" (found the team an interrupted run created)");
            changes.push(Change::PutTeam {
                source_id: source_id.to_string(),
                penvio_id: existing.id.clone(),
                name: existing.display_name.clone(),
            });
            if existing.display_name != name {
                let op = PatchOperation::replace("displayName", Value::String(name.to_string()));
                client.patch_group(&existing.id, &[op]).await?;
                changes.push(Change::PutTeam {
                    source_id: source_id.to_string(),
                    penvio_id: existing.id.clone(),
                    name: name.to_string(),
                });
            }
            changes.push(clear);
            add_members(context, source_id, &existing.id, &job.members, changes).await?;
            note_unresolved(job.unresolved, description);
            return Ok(());
        }
    }
    let first = job.members.len().min(context.patch_size);
    let first_ids: Vec<String> = job.members[..first]
        .iter()
        .map(|(_, id)| id.clone())
        .collect();
    let penvio_id = client.create_group(name, source_id, &first_ids).await?;
    changes.push(Change::PutTeam {
        source_id: source_id.to_string(),
        penvio_id: penvio_id.clone(),
        name: name.to_string(),
    });
    if first > 0 {
        changes.push(Change::AddMembers {
            team: source_id.to_string(),
            members: job.members[..first]
                .iter()
                .map(|(s, _)| s.clone())
                .collect(),
        });
    }
    changes.push(clear);
    let result = add_members(
        context,
        source_id,
        &penvio_id,
        &job.members[first..],
        changes,
    )
    .await;
    note_unresolved(job.unresolved, description);
    result
}
