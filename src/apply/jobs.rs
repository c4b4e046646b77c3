//! What each operation needs from the snapshot when its phase starts:
//! who holds the account, the members' Penvio ids, earlier team creates.

use crate::plan::Operation;
use crate::snapshot::Snapshot;

/// What a task needs besides its operation, resolved from the snapshot when
/// the phase starts.
pub(super) struct Job {
    pub(super) operation: Operation,
    /// Whether the snapshot (now) holds the user operation's account for its
    /// source user; only then is the operation sent.
    pub(super) ownership: Ownership,
    /// Previous deactivation time of the user (updates keep it).
    pub(super) deactivated_at: Option<i64>,
    /// (source id, Penvio id) of the members the operation is about.
    pub(super) members: Vec<(String, String)>,
    /// Member source ids that have no Penvio user (their create failed).
    pub(super) unresolved: usize,
    /// A create of this team may already have reached Penvio.
    pub(super) pending_create: bool,
}

/// How an operation's account relates to what the snapshot holds when its
/// phase starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ownership {
    /// The snapshot holds the account for the source user (or the operation
    /// is not about an existing user).
    Held,
    /// The source user left the snapshot earlier in the run (its account was
    /// relinked to another user): nothing is left to do.
    Dropped,
    /// The snapshot holds another account for the source user: refused.
    Other,
}

/// The job of one operation, resolved against the snapshot.
pub(super) fn prepare(operation: &Operation, snapshot: &Snapshot) -> Job {
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
            (job.members, job.unresolved) = resolve(members, snapshot);
            job.pending_create = snapshot.pending_team_creates.contains(source_id);
        }
        Operation::AddMembers { members, .. } => {
            (job.members, job.unresolved) = resolve(members, snapshot);
        }
        Operation::RemoveMembers { members, .. } => {
            // A member without a user record can only be dropped from the
            // snapshot; its Penvio id is unknown (left empty).
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

/// (source id, Penvio id) of the members with a user record, and how many
/// have none.
fn resolve(ids: &[String], snapshot: &Snapshot) -> (Vec<(String, String)>, usize) {
    let mut resolved = Vec::with_capacity(ids.len());
    let mut missing = 0;
    for id in ids {
        match snapshot.users.get(id) {
            Some(record) => resolved.push((id.clone(), record.penvio_id().to_string())),
            None => missing += 1,
        }
    }
    (resolved, missing)
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
