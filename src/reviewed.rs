//! Reviewed plans: `plan --out plan.json` writes the plan with the snapshot
//! generation it was computed from; `apply plan.json` applies that plan, and
//! refuses if the snapshot has moved since. For change-controlled
//! organisations that approve a plan before anything changes.
//!
//! A plan file is outside input: anyone who can edit it could name any
//! Penvio account. So `apply` never sends an operation from the file; it
//! plans again and sends the fresh operations the reviewed plan also holds
//! ([`admit`]), and refuses the rest.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::plan::{Operation, Plan, RemovalReason};
use crate::report::Refusal;
use crate::snapshot::Snapshot;

/// Version of the file format; bumped on any incompatible change.
pub const PLAN_FILE_VERSION: u32 = 1;

/// A reviewed plan file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewedPlan {
    /// [`PLAN_FILE_VERSION`] when written.
    pub version: u32,
    /// Unix seconds the plan was computed.
    pub created_at: i64,
    /// One plan per connection.
    pub connections: Vec<ConnectionPlan>,
}

/// The plan of one connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionPlan {
    /// Connection name.
    pub connection: String,
    /// Snapshot generation the plan was computed against.
    pub generation: u64,
    /// The operations, and those the guard held back (applied only with
    /// `--allow-deletions`).
    pub plan: Plan,
}

/// Errors reading or writing a plan file.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a plan this version understands.
    #[error("{path} is not a penvio-sync plan (version {PLAN_FILE_VERSION}): {message}")]
    Invalid {
        /// Path.
        path: String,
        /// What was wrong.
        message: String,
    },
}

impl ReviewedPlan {
    /// Writes the plan, owner-only (it names users and their attributes),
    /// atomically and never through a symlink.
    pub fn write(&self, path: &Path) -> Result<(), PlanFileError> {
        let io = |source| PlanFileError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        text.push(b'\n');
        crate::private_file::write_private(path, &text).map_err(io)
    }

    /// Reads a plan file.
    pub fn read(path: &Path) -> Result<Self, PlanFileError> {
        let text = std::fs::read(path).map_err(|source| PlanFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let plan: ReviewedPlan =
            serde_json::from_slice(&text).map_err(|e| PlanFileError::Invalid {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        if plan.version != PLAN_FILE_VERSION {
            return Err(PlanFileError::Invalid {
                path: path.display().to_string(),
                message: format!("written as version {}", plan.version),
            });
        }
        Ok(plan)
    }
}

/// What of a reviewed plan may be applied now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admission {
    /// The fresh operations the reviewed plan approved, in phase order, and
    /// the approved ones the guard holds back now.
    pub plan: Plan,
    /// Reviewed operations that are not in the fresh plan.
    pub refused: Vec<Refusal>,
}

/// Matches a reviewed plan against the plan computed now (from a fresh fetch
/// and the current snapshot, under the guard with `allow_deletions` as
/// given). A reviewed operation is admitted only when the fresh plan has the
/// same operation: same kind, source id and Penvio id, same target
/// attributes, members or name. What is applied is the fresh operation, so
/// nothing the file says beyond "yes" reaches Penvio. Reviewed held-back
/// operations count only when `allow_deletions` approves them; one the fresh
/// guard holds back stays held back.
pub fn admit(
    reviewed: &Plan,
    fresh: &Plan,
    snapshot: &Snapshot,
    allow_deletions: bool,
) -> Admission {
    let mut admission = Admission::default();
    // Essence → unclaimed indexes, so matching stays linear in plan size.
    let mut planned = index_by_essence(fresh.operations.iter());
    let mut held = index_by_essence(fresh.held_back.iter().map(|h| &h.operation));
    let mut taken = vec![false; fresh.operations.len()];
    let mut held_taken = vec![false; fresh.held_back.len()];
    let approved = reviewed.operations.iter().chain(
        reviewed
            .held_back
            .iter()
            .filter(|_| allow_deletions)
            .map(|held| &held.operation),
    );
    for operation in approved {
        if let Some(reason) = not_held_for(operation, snapshot) {
            admission.refused.push(Refusal {
                operation: operation.clone(),
                reason,
            });
            continue;
        }
        let key = essence_key(operation);
        let claim = |index: &mut HashMap<String, Vec<usize>>| {
            key.as_ref()
                .and_then(|key| index.get_mut(key))
                .and_then(Vec::pop)
        };
        if let Some(index) = claim(&mut planned) {
            taken[index] = true;
        } else if let Some(index) = claim(&mut held) {
            held_taken[index] = true;
        } else {
            admission.refused.push(Refusal {
                operation: operation.clone(),
                reason: "not in the plan computed now: the directory or Penvio changed since the review, or the plan file was edited; run `penvio-sync plan --out` again and review the new plan".into(),
            });
        }
    }
    // Held back in the file and now, not approved: still reported as held.
    for operation in reviewed.held_back.iter().map(|h| &h.operation) {
        if let Some(index) = essence_key(operation)
            .and_then(|key| held.get_mut(&key))
            .and_then(Vec::pop)
        {
            held_taken[index] = true;
        }
    }
    admission.plan.operations = fresh
        .operations
        .iter()
        .zip(&taken)
        .filter(|(_, taken)| **taken)
        .map(|(operation, _)| operation.clone())
        .collect();
    admission.plan.held_back = fresh
        .held_back
        .iter()
        .zip(&held_taken)
        .filter(|(_, taken)| **taken)
        .map(|(held, _)| held.clone())
        .collect();
    admission
}

/// The indexes of operations by [`essence_key`], last first (taken by
/// `pop`, so each fresh operation answers at most one reviewed one).
fn index_by_essence<'a>(
    operations: impl Iterator<Item = &'a Operation>,
) -> HashMap<String, Vec<usize>> {
    let mut index: HashMap<String, Vec<usize>> = HashMap::new();
    for (position, operation) in operations.enumerate() {
        if let Some(key) = essence_key(operation) {
            index.entry(key).or_default().push(position);
        }
    }
    for positions in index.values_mut() {
        positions.reverse();
    }
    index
}

/// [`essence`] as a comparable key (its JSON form: fields in a fixed order);
/// `None`, matching nothing, if it cannot be written.
fn essence_key(operation: &Operation) -> Option<String> {
    serde_json::to_string(&essence(operation)).ok()
}

/// Why an operation names a Penvio id the snapshot does not hold for its
/// source id, if it does: such an account is never touched.
fn not_held_for(operation: &Operation, snapshot: &Snapshot) -> Option<String> {
    let (source_id, penvio_id, held) =
        if let Some((source_id, penvio_id)) = operation.existing_user() {
            let held = snapshot.users.get(source_id).map(|u| u.penvio_id());
            (source_id, penvio_id, held)
        } else if let Some((source_id, penvio_id)) = operation.existing_team() {
            let held = snapshot.teams.get(source_id).map(|t| t.penvio_id.as_str());
            (source_id, penvio_id, held)
        } else {
            return None;
        };
    match held {
        Some(held) if held == penvio_id => None,
        Some(held) => Some(format!(
            "names Penvio id {penvio_id}, but this connection holds {held} for source id {source_id}: an account it does not hold for that source id is never touched"
        )),
        None => Some(format!(
            "names Penvio id {penvio_id} for source id {source_id}, which this connection does not manage: an account it does not hold is never touched"
        )),
    }
}

/// What makes two operations the same change: the fields that reach Penvio.
/// Report-only fields (old values, names shown in reports, reasons) are
/// blanked and member lists sorted.
fn essence(operation: &Operation) -> Operation {
    let mut operation = operation.clone();
    match &mut operation {
        Operation::CreateUser { .. } => {}
        Operation::ReactivateUser { changes, .. } | Operation::UpdateUser { changes, .. } => {
            changes.clear();
        }
        Operation::DeactivateUser {
            changes, reason, ..
        } => {
            changes.clear();
            *reason = RemovalReason::RemovedFromSource;
        }
        Operation::DeleteUser {
            user_name, reason, ..
        } => {
            user_name.clear();
            *reason = RemovalReason::RemovedFromSource;
        }
        Operation::CreateTeam { members, .. } => members.sort(),
        Operation::RenameTeam { old_name, .. } => old_name.clear(),
        Operation::AddMembers {
            team_name, members, ..
        } => {
            team_name.clear();
            members.sort();
        }
        Operation::RemoveMembers {
            team_name,
            members,
            foreign_members,
            ..
        } => {
            team_name.clear();
            members.sort();
            foreign_members.sort();
        }
        Operation::DeleteTeam { name, .. } => name.clear(),
    }
    operation
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::UserAttributes;
    use crate::plan::{AttributeChange, HeldBack};
    use crate::snapshot::{StoredUser, TeamRecord};

    fn attrs(name: &str, active: bool) -> UserAttributes {
        UserAttributes {
            user_name: format!("{name}@example.com"),
            email: format!("{name}@example.com"),
            external_id: name.into(),
            active,
            ..Default::default()
        }
    }

    fn snapshot() -> Snapshot {
        let mut snapshot = Snapshot::default();
        for name in ["a", "b"] {
            snapshot.users.insert(
                name.into(),
                StoredUser::new(&format!("p-{name}"), &attrs(name, true), None),
            );
        }
        snapshot.teams.insert(
            "g".into(),
            TeamRecord {
                penvio_id: "t-g".into(),
                name: "Eng".into(),
                members: BTreeSet::from(["a".to_string(), "b".to_string()]),
                foreign_members: BTreeSet::new(),
            },
        );
        snapshot
    }

    fn deactivate(source_id: &str, penvio_id: &str) -> Operation {
        Operation::DeactivateUser {
            source_id: source_id.into(),
            penvio_id: penvio_id.into(),
            attributes: attrs(source_id, false),
            changes: vec![AttributeChange {
                path: "active".into(),
                old: "true".into(),
                new: "false".into(),
            }],
            reason: RemovalReason::RemovedFromSource,
        }
    }

    fn delete(source_id: &str, penvio_id: &str) -> Operation {
        Operation::DeleteUser {
            source_id: source_id.into(),
            penvio_id: penvio_id.into(),
            user_name: "shown only".into(),
            reason: RemovalReason::RemovedFromSource,
        }
    }

    fn held(operation: Operation) -> HeldBack {
        HeldBack {
            operation,
            reason: "guard".into(),
        }
    }

    fn plan(operations: Vec<Operation>, held_back: Vec<HeldBack>) -> Plan {
        Plan {
            operations,
            held_back,
        }
    }

    #[test]
    fn only_operations_in_both_plans_are_admitted() {
        let create = Operation::CreateUser {
            source_id: "n".into(),
            attributes: attrs("n", true),
        };
        let mut edited_create = create.clone();
        if let Operation::CreateUser { attributes, .. } = &mut edited_create {
            attributes.user_name = "admin@example.com".into();
        }
        struct Case {
            name: &'static str,
            reviewed: Plan,
            fresh: Plan,
            allow: bool,
            admitted: Vec<Operation>,
            held: usize,
            refused: usize,
        }
        let cases = vec![
            Case {
                name: "a genuine plan is admitted as computed now",
                reviewed: plan(vec![create.clone(), deactivate("b", "p-b")], vec![]),
                fresh: plan(vec![create.clone(), deactivate("b", "p-b")], vec![]),
                allow: false,
                admitted: vec![create.clone(), deactivate("b", "p-b")],
                held: 0,
                refused: 0,
            },
            Case {
                name: "a Penvio id the snapshot does not hold is refused",
                reviewed: plan(vec![deactivate("b", "p-admin")], vec![]),
                fresh: plan(vec![deactivate("b", "p-b")], vec![]),
                allow: true,
                admitted: vec![],
                held: 0,
                refused: 1,
            },
            Case {
                name: "a source id the snapshot does not manage is refused",
                reviewed: plan(vec![delete("stranger", "p-x")], vec![]),
                fresh: plan(vec![], vec![]),
                allow: true,
                admitted: vec![],
                held: 0,
                refused: 1,
            },
            Case {
                name: "an operation the fresh plan lacks is refused",
                reviewed: plan(vec![delete("a", "p-a"), create.clone()], vec![]),
                fresh: plan(vec![create.clone()], vec![]),
                allow: true,
                admitted: vec![create.clone()],
                held: 0,
                refused: 1,
            },
            Case {
                name: "edited attributes are refused",
                reviewed: plan(vec![edited_create], vec![]),
                fresh: plan(vec![create.clone()], vec![]),
                allow: false,
                admitted: vec![],
                held: 0,
                refused: 1,
            },
            Case {
                name: "a held-back operation moved into operations stays held",
                reviewed: plan(vec![delete("a", "p-a")], vec![]),
                fresh: plan(vec![], vec![held(delete("a", "p-a"))]),
                allow: false,
                admitted: vec![],
                held: 1,
                refused: 0,
            },
            Case {
                name: "held back in the file: applied only with approval",
                reviewed: plan(vec![], vec![held(delete("a", "p-a"))]),
                fresh: plan(vec![], vec![held(delete("a", "p-a"))]),
                allow: false,
                admitted: vec![],
                held: 1,
                refused: 0,
            },
            Case {
                name: "approved held-back operation the fresh guard lets through",
                reviewed: plan(vec![], vec![held(delete("a", "p-a"))]),
                fresh: plan(vec![delete("a", "p-a")], vec![]),
                allow: true,
                admitted: vec![delete("a", "p-a")],
                held: 0,
                refused: 0,
            },
            Case {
                name: "a duplicated operation is sent once",
                reviewed: plan(vec![delete("a", "p-a"), delete("a", "p-a")], vec![]),
                fresh: plan(vec![delete("a", "p-a")], vec![]),
                allow: true,
                admitted: vec![delete("a", "p-a")],
                held: 0,
                refused: 1,
            },
            Case {
                name: "operations the file does not hold are not sent",
                reviewed: plan(vec![], vec![]),
                fresh: plan(vec![create.clone(), deactivate("b", "p-b")], vec![]),
                allow: true,
                admitted: vec![],
                held: 0,
                refused: 0,
            },
        ];
        for case in cases {
            let admission = admit(&case.reviewed, &case.fresh, &snapshot(), case.allow);
            assert_eq!(admission.plan.operations, case.admitted, "{}", case.name);
            assert_eq!(admission.plan.held_back.len(), case.held, "{}", case.name);
            assert_eq!(admission.refused.len(), case.refused, "{}", case.name);
        }
    }

    #[test]
    fn team_operations_must_name_the_team_the_snapshot_holds() {
        let remove = |penvio_id: &str| Operation::RemoveMembers {
            team: "g".into(),
            penvio_id: penvio_id.into(),
            team_name: "Eng".into(),
            members: vec!["b".into(), "a".into()],
            foreign_members: vec![],
        };
        let fresh = plan(vec![remove("t-g")], vec![]);
        let forged = admit(
            &plan(vec![remove("t-other")], vec![]),
            &fresh,
            &snapshot(),
            true,
        );
        assert!(forged.plan.operations.is_empty());
        assert!(
            forged.refused[0]
                .reason
                .contains("holds t-g for source id g")
        );
        let genuine = admit(
            &plan(vec![remove("t-g")], vec![]),
            &fresh,
            &snapshot(),
            true,
        );
        assert_eq!(genuine.plan.operations.len(), 1);
    }
}
