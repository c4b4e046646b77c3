//! The planner: a pure function of (desired state, snapshot) to an ordered
//! list of operations.
//!
//! No I/O and no clock (the time is a parameter), so every decision is
//! reproducible and tested with case tables. Order is fixed by phase
//! (users exist before they join teams; members leave teams before their
//! account is deactivated) and by source id within a phase.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{MEMBER_GUARD_MIN_TEAM, Threshold};
use crate::mapping::DesiredState;
use crate::model::UserAttributes;
use crate::snapshot::{Snapshot, StoredUser};

/// What to do with a user who left the directory or the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalAction {
    /// Deactivate (Penvio keeps the data, access is revoked).
    Deactivate,
    /// Delete at once.
    Delete,
}

/// The policy inputs of a plan, already resolved to numbers by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanPolicy {
    /// What happens to removed users.
    pub on_user_removed: RemovalAction,
    /// Hard-delete users this long after they were deactivated for removal.
    pub delete_deactivated_after: Option<Duration>,
    /// Most deactivations one run may apply without approval.
    pub max_deactivations: usize,
    /// Most deletions (users and teams) one run may apply without approval.
    pub max_deletions: usize,
    /// Largest drop in active users (share) before every destructive
    /// operation is held back.
    pub max_shrinkage: f64,
    /// Most members one team may lose without approval (a share applies to
    /// teams of [`MEMBER_GUARD_MIN_TEAM`] members or more); a team losing
    /// every member is always held back.
    pub max_member_removals: Threshold,
    /// The admin approved destructive operations over the limits.
    pub allow_deletions: bool,
}

/// Why a user is being deactivated or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// The IdP marks the user inactive (suspended, deprovisioned…).
    InactiveInSource,
    /// The user left the directory or the scope.
    RemovedFromSource,
    /// Deactivated longer than `policy.delete_deactivated_after`.
    RetentionExpired,
}

/// One attribute that differs between Penvio and the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeChange {
    /// SCIM attribute path (`name.givenName`, `userName`, …).
    pub path: String,
    /// Value Penvio holds.
    pub old: String,
    /// Value to send.
    pub new: String,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Create a user (or find and link it if it already exists).
    CreateUser {
        /// Source id.
        source_id: String,
        /// Attributes to create with.
        attributes: UserAttributes,
    },
    /// Reactivate a deactivated user, with any other changed attributes.
    ReactivateUser {
        /// Source id.
        source_id: String,
        /// Penvio id.
        penvio_id: String,
        /// Attributes after the change.
        attributes: UserAttributes,
        /// What differs, `active` included.
        changes: Vec<AttributeChange>,
    },
    /// Update changed attributes of a user.
    UpdateUser {
        /// Source id.
        source_id: String,
        /// Penvio id.
        penvio_id: String,
        /// Attributes after the change.
        attributes: UserAttributes,
        /// What differs.
        changes: Vec<AttributeChange>,
    },
    /// Create a team with its first members.
    CreateTeam {
        /// Source id.
        source_id: String,
        /// Team name.
        name: String,
        /// Member source ids.
        members: Vec<String>,
    },
    /// Rename a team.
    RenameTeam {
        /// Source id.
        source_id: String,
        /// Penvio id.
        penvio_id: String,
        /// Current name.
        old_name: String,
        /// New name.
        new_name: String,
    },
    /// Add members to a team.
    AddMembers {
        /// Team source id.
        team: String,
        /// Team Penvio id.
        penvio_id: String,
        /// Team name, for reports.
        team_name: String,
        /// Member source ids.
        members: Vec<String>,
    },
    /// Remove members from a team.
    RemoveMembers {
        /// Team source id.
        team: String,
        /// Team Penvio id.
        penvio_id: String,
        /// Team name, for reports.
        team_name: String,
        /// Member source ids.
        members: Vec<String>,
        /// Penvio ids of members no managed user maps to (reconcile only).
        foreign_members: Vec<String>,
    },
    /// Delete a team.
    DeleteTeam {
        /// Source id.
        source_id: String,
        /// Penvio id.
        penvio_id: String,
        /// Team name, for reports.
        name: String,
    },
    /// Deactivate a user (`active: false`), with any other changed attributes.
    DeactivateUser {
        /// Source id.
        source_id: String,
        /// Penvio id.
        penvio_id: String,
        /// Attributes after the change.
        attributes: UserAttributes,
        /// What differs, `active` included.
        changes: Vec<AttributeChange>,
        /// Why.
        reason: RemovalReason,
    },
    /// Delete a user.
    DeleteUser {
        /// Source id.
        source_id: String,
        /// Penvio id.
        penvio_id: String,
        /// userName, for reports.
        user_name: String,
        /// Why.
        reason: RemovalReason,
    },
}

/// The phases in execution order. Operations of one phase may run
/// concurrently; a phase starts only when the previous one finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Create and reactivate users.
    ProvisionUsers,
    /// Update user attributes.
    UpdateUsers,
    /// Create and rename teams.
    UpsertTeams,
    /// Add members.
    AddMembers,
    /// Remove members.
    RemoveMembers,
    /// Delete teams.
    DeleteTeams,
    /// Deactivate users.
    DeactivateUsers,
    /// Delete users.
    DeleteUsers,
}

impl Operation {
    /// The phase this operation runs in.
    pub fn phase(&self) -> Phase {
        match self {
            Operation::CreateUser { .. } | Operation::ReactivateUser { .. } => {
                Phase::ProvisionUsers
            }
            Operation::UpdateUser { .. } => Phase::UpdateUsers,
            Operation::CreateTeam { .. } | Operation::RenameTeam { .. } => Phase::UpsertTeams,
            Operation::AddMembers { .. } => Phase::AddMembers,
            Operation::RemoveMembers { .. } => Phase::RemoveMembers,
            Operation::DeleteTeam { .. } => Phase::DeleteTeams,
            Operation::DeactivateUser { .. } => Phase::DeactivateUsers,
            Operation::DeleteUser { .. } => Phase::DeleteUsers,
        }
    }

    /// The (source id, Penvio id) of the existing account a user operation
    /// acts on; `None` for creates and team operations. Both the executor and
    /// reviewed plans check it against the snapshot before anything is sent.
    pub fn existing_user(&self) -> Option<(&str, &str)> {
        match self {
            Operation::ReactivateUser {
                source_id,
                penvio_id,
                ..
            }
            | Operation::UpdateUser {
                source_id,
                penvio_id,
                ..
            }
            | Operation::DeactivateUser {
                source_id,
                penvio_id,
                ..
            }
            | Operation::DeleteUser {
                source_id,
                penvio_id,
                ..
            } => Some((source_id, penvio_id)),
            _ => None,
        }
    }

    /// The (source id, Penvio id) of the existing team a team operation acts
    /// on; `None` for team creates and user operations.
    pub fn existing_team(&self) -> Option<(&str, &str)> {
        match self {
            Operation::RenameTeam {
                source_id,
                penvio_id,
                ..
            }
            | Operation::DeleteTeam {
                source_id,
                penvio_id,
                ..
            }
            | Operation::AddMembers {
                team: source_id,
                penvio_id,
                ..
            }
            | Operation::RemoveMembers {
                team: source_id,
                penvio_id,
                ..
            } => Some((source_id, penvio_id)),
            _ => None,
        }
    }

    /// A short stable name of the operation kind, for summaries and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Operation::CreateUser { .. } => "create_user",
            Operation::ReactivateUser { .. } => "reactivate_user",
            Operation::UpdateUser { .. } => "update_user",
            Operation::CreateTeam { .. } => "create_team",
            Operation::RenameTeam { .. } => "rename_team",
            Operation::AddMembers { .. } => "add_members",
            Operation::RemoveMembers { .. } => "remove_members",
            Operation::DeleteTeam { .. } => "delete_team",
            Operation::DeactivateUser { .. } => "deactivate_user",
            Operation::DeleteUser { .. } => "delete_user",
        }
    }

    /// The source id the operation is about (the team's, for memberships).
    pub fn subject(&self) -> &str {
        match self {
            Operation::CreateUser { source_id, .. }
            | Operation::ReactivateUser { source_id, .. }
            | Operation::UpdateUser { source_id, .. }
            | Operation::CreateTeam { source_id, .. }
            | Operation::RenameTeam { source_id, .. }
            | Operation::DeleteTeam { source_id, .. }
            | Operation::DeactivateUser { source_id, .. }
            | Operation::DeleteUser { source_id, .. } => source_id,
            Operation::AddMembers { team, .. } | Operation::RemoveMembers { team, .. } => team,
        }
    }
}

/// A destructive operation the deletion guard held back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBack {
    /// The operation that would have run.
    pub operation: Operation,
    /// Why it was held back.
    pub reason: String,
}

/// The ordered operations of one run, plus what the guard held back.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Plan {
    /// Operations in execution order.
    pub operations: Vec<Operation>,
    /// Destructive operations held back by the guard.
    pub held_back: Vec<HeldBack>,
}

impl Plan {
    /// True when the run has nothing to send.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }
}

/// Computes the plan. `now` is unix seconds.
pub fn plan(desired: &DesiredState, snapshot: &Snapshot, policy: &PlanPolicy, now: i64) -> Plan {
    let mut operations = Vec::new();
    let mut deactivations = Vec::new();
    let mut deletions = Vec::new();

    plan_users(
        desired,
        snapshot,
        policy,
        now,
        &mut operations,
        &mut deactivations,
        &mut deletions,
    );
    let team_deletions = plan_team_deletions(desired, snapshot);

    // The guard: held-back users keep their Penvio state, team memberships
    // included, so an accidental mass removal in the IdP changes nothing.
    let mut held_back = Vec::new();
    let mut held_users = BTreeSet::new();
    let mut team_deletions = team_deletions;
    if let Some(reason) = shrinkage(desired, snapshot, policy) {
        for operation in deactivations
            .drain(..)
            .chain(deletions.drain(..))
            .chain(team_deletions.drain(..))
        {
            if matches!(
                operation,
                Operation::DeactivateUser { .. } | Operation::DeleteUser { .. }
            ) {
                held_users.insert(operation.subject().to_string());
            }
            held_back.push(HeldBack {
                operation,
                reason: reason.clone(),
            });
        }
    }
    if !policy.allow_deletions && deactivations.len() > policy.max_deactivations {
        let reason = format!(
            "{} deactivations exceed max_deactivations ({}); rerun with --allow-deletions to apply them",
            deactivations.len(),
            policy.max_deactivations
        );
        for operation in deactivations.drain(..) {
            held_users.insert(operation.subject().to_string());
            held_back.push(HeldBack {
                operation,
                reason: reason.clone(),
            });
        }
    }
    let deletion_count = deletions.len() + team_deletions.len();
    if !policy.allow_deletions && deletion_count > policy.max_deletions {
        let reason = format!(
            "{deletion_count} deletions exceed max_deletions ({}); rerun with --allow-deletions to apply them",
            policy.max_deletions
        );
        for operation in deletions.drain(..) {
            held_users.insert(operation.subject().to_string());
            held_back.push(HeldBack {
                operation,
                reason: reason.clone(),
            });
        }
        for operation in team_deletions.drain(..) {
            held_back.push(HeldBack {
                operation,
                reason: reason.clone(),
            });
        }
    }

    plan_teams(desired, snapshot, &held_users, &mut operations);
    if !policy.allow_deletions {
        held_back.extend(guard_member_removals(
            desired,
            snapshot,
            policy,
            &mut operations,
        ));
    }
    operations.extend(team_deletions);
    operations.extend(deactivations);
    operations.extend(deletions);
    // Stable sort: phase first; within a phase, the generation order above
    // is already by source id.
    operations.sort_by_key(Operation::phase);
    Plan {
        operations,
        held_back,
    }
}

/// The shrinkage guard: the reason to hold every destructive operation back
/// when the fetch returned more than `max_shrinkage` fewer users than the
/// snapshot's active ones (or none at all). `max_shrinkage` of 1.0 ("100%")
/// turns it off.
pub fn shrinkage(
    desired: &DesiredState,
    snapshot: &Snapshot,
    policy: &PlanPolicy,
) -> Option<String> {
    if policy.allow_deletions {
        return None;
    }
    let before = snapshot.users.values().filter(|u| u.active()).count();
    if before == 0 {
        return None;
    }
    // Users the fetch returned in scope, whatever their status: a suspension
    // is a deliberate per-user act, a missing user may be a broken query.
    let now = desired.users.len();
    let drop = before.saturating_sub(now) as f64 / before as f64;
    // "100%" turns the guard off; below that, an empty fetch always trips it.
    let tripped = if policy.max_shrinkage >= 1.0 {
        false
    } else {
        now == 0 || drop > policy.max_shrinkage
    };
    tripped.then(|| {
        format!(
            "the directory shrank from {before} active users to {now} users (more than max_shrinkage, {:.0}%): a broken IdP query or scope looks like this; check it, then rerun with --allow-deletions if it is real",
            policy.max_shrinkage * 100.0
        )
    })
}

/// The membership guard: takes out of `operations` each removal of members
/// that would empty a team (of two or more) or take more than
/// `max_member_removals` from it, and returns them held back. Only members
/// who stay in the directory count: those leaving it are the deactivation
/// guard's business, while a team emptied of people who are still here is
/// what a group listing that came back empty looks like.
fn guard_member_removals(
    desired: &DesiredState,
    snapshot: &Snapshot,
    policy: &PlanPolicy,
    operations: &mut Vec<Operation>,
) -> Vec<HeldBack> {
    let mut held = Vec::new();
    operations.retain(|operation| {
        let Operation::RemoveMembers {
            team,
            team_name,
            members,
            ..
        } = operation
        else {
            return true;
        };
        let before = snapshot.teams.get(team).map_or(0, |t| t.members.len());
        let after = desired.teams.get(team).map_or(0, |t| t.members.len());
        let staying = members
            .iter()
            .filter(|member| desired.users.contains_key(*member))
            .count();
        match member_guard_reason(team_name, before, after, staying, policy) {
            Some(reason) => {
                held.push(HeldBack {
                    operation: operation.clone(),
                    reason,
                });
                false
            }
            None => true,
        }
    });
    held
}

/// Why a team losing `staying` members who stay in the directory (of
/// `before`, leaving `after`) is held back, if it is.
fn member_guard_reason(
    team_name: &str,
    before: usize,
    after: usize,
    staying: usize,
    policy: &PlanPolicy,
) -> Option<String> {
    if staying == 0 {
        return None;
    }
    let advice = "a group listing that came back empty or a broken scope looks like this; check the group in the identity provider, then rerun with --allow-deletions if it is real";
    if after == 0 && before >= 2 {
        return Some(format!(
            "team {team_name} would lose all of its {before} members while they stay in the directory: {advice}"
        ));
    }
    let limit = match policy.max_member_removals {
        Threshold::Count(_) => policy.max_member_removals.limit(before),
        Threshold::Share(_) if before >= MEMBER_GUARD_MIN_TEAM => {
            policy.max_member_removals.limit(before)
        }
        Threshold::Share(_) => return None,
    };
    (staying > limit).then(|| {
        format!(
            "team {team_name} would lose {staying} of its {before} members (more than max_member_removals, {}): {advice}",
            policy.max_member_removals
        )
    })
}

/// Both maps are sorted by source id, so users are matched by walking them
/// side by side (a merge join, linear) instead of a tree lookup per user in
/// each direction.
fn plan_users(
    desired: &DesiredState,
    snapshot: &Snapshot,
    policy: &PlanPolicy,
    now: i64,
    operations: &mut Vec<Operation>,
    deactivations: &mut Vec<Operation>,
    deletions: &mut Vec<Operation>,
) {
    // Users who left come after those inactive in the source, as before.
    let mut removed_deactivations = Vec::new();
    let mut wanted_users = desired.users.iter().peekable();
    for (source_id, record) in &snapshot.users {
        while let Some((id, wanted)) =
            wanted_users.next_if(|(id, _)| id.as_str() < source_id.as_str())
        {
            plan_new_user(id, wanted, operations);
        }
        match wanted_users.next_if(|(id, _)| *id == source_id) {
            Some((_, wanted)) => {
                plan_known_user(source_id, wanted, record, operations, deactivations);
            }
            None => plan_removed_user(
                source_id,
                record,
                policy,
                now,
                &mut removed_deactivations,
                deletions,
            ),
        }
    }
    for (id, wanted) in wanted_users {
        plan_new_user(id, wanted, operations);
    }
    deactivations.extend(removed_deactivations);
}

fn plan_new_user(source_id: &str, wanted: &UserAttributes, operations: &mut Vec<Operation>) {
    // An inactive user who was never provisioned needs no account.
    if wanted.active {
        operations.push(Operation::CreateUser {
            source_id: source_id.to_string(),
            attributes: wanted.clone(),
        });
    }
}

fn plan_known_user(
    source_id: &str,
    wanted: &UserAttributes,
    record: &StoredUser,
    operations: &mut Vec<Operation>,
    deactivations: &mut Vec<Operation>,
) {
    if record.holds(wanted) {
        return;
    }
    let current = record.attributes();
    let changes = attribute_changes(&current, wanted);
    let source_id = source_id.to_string();
    let penvio_id = record.penvio_id().to_string();
    let attributes = wanted.clone();
    match (current.active, wanted.active) {
        (false, true) => operations.push(Operation::ReactivateUser {
            source_id,
            penvio_id,
            attributes,
            changes,
        }),
        (true, false) => deactivations.push(Operation::DeactivateUser {
            source_id,
            penvio_id,
            attributes,
            changes,
            reason: RemovalReason::InactiveInSource,
        }),
        _ => operations.push(Operation::UpdateUser {
            source_id,
            penvio_id,
            attributes,
            changes,
        }),
    }
}

fn plan_removed_user(
    source_id: &str,
    record: &StoredUser,
    policy: &PlanPolicy,
    now: i64,
    deactivations: &mut Vec<Operation>,
    deletions: &mut Vec<Operation>,
) {
    let delete = |reason| Operation::DeleteUser {
        source_id: source_id.to_string(),
        penvio_id: record.penvio_id().to_string(),
        user_name: record.user_name().to_string(),
        reason,
    };
    if record.active() {
        match policy.on_user_removed {
            RemovalAction::Delete => deletions.push(delete(RemovalReason::RemovedFromSource)),
            RemovalAction::Deactivate => {
                let current = record.attributes();
                let attributes = UserAttributes {
                    active: false,
                    ..current.clone()
                };
                deactivations.push(Operation::DeactivateUser {
                    source_id: source_id.to_string(),
                    penvio_id: record.penvio_id().to_string(),
                    changes: attribute_changes(&current, &attributes),
                    attributes,
                    reason: RemovalReason::RemovedFromSource,
                });
            }
        }
        return;
    }
    if policy.on_user_removed == RemovalAction::Delete {
        deletions.push(delete(RemovalReason::RemovedFromSource));
        return;
    }
    let expired = match (policy.delete_deactivated_after, record.deactivated_at()) {
        (Some(after), Some(at)) => {
            now.saturating_sub(at) >= i64::try_from(after.as_secs()).unwrap_or(i64::MAX)
        }
        _ => false,
    };
    if expired {
        deletions.push(delete(RemovalReason::RetentionExpired));
    }
}

fn plan_team_deletions(desired: &DesiredState, snapshot: &Snapshot) -> Vec<Operation> {
    snapshot
        .teams
        .iter()
        .filter(|(source_id, _)| !desired.teams.contains_key(*source_id))
        .map(|(source_id, record)| Operation::DeleteTeam {
            source_id: source_id.clone(),
            penvio_id: record.penvio_id.clone(),
            name: record.name.clone(),
        })
        .collect()
}

fn plan_teams(
    desired: &DesiredState,
    snapshot: &Snapshot,
    held_users: &BTreeSet<String>,
    operations: &mut Vec<Operation>,
) {
    for (source_id, team) in &desired.teams {
        let Some(record) = snapshot.teams.get(source_id) else {
            operations.push(Operation::CreateTeam {
                source_id: source_id.clone(),
                name: team.name.clone(),
                members: team.members.iter().cloned().collect(),
            });
            continue;
        };
        if record.name != team.name {
            operations.push(Operation::RenameTeam {
                source_id: source_id.clone(),
                penvio_id: record.penvio_id.clone(),
                old_name: record.name.clone(),
                new_name: team.name.clone(),
            });
        }
        let add: Vec<String> = team.members.difference(&record.members).cloned().collect();
        if !add.is_empty() {
            operations.push(Operation::AddMembers {
                team: source_id.clone(),
                penvio_id: record.penvio_id.clone(),
                team_name: team.name.clone(),
                members: add,
            });
        }
        let remove: Vec<String> = record
            .members
            .difference(&team.members)
            .filter(|member| !held_users.contains(*member))
            .cloned()
            .collect();
        if !remove.is_empty() || !record.foreign_members.is_empty() {
            operations.push(Operation::RemoveMembers {
                team: source_id.clone(),
                penvio_id: record.penvio_id.clone(),
                team_name: team.name.clone(),
                members: remove,
                foreign_members: record.foreign_members.iter().cloned().collect(),
            });
        }
    }
}

/// The SCIM attributes that differ, in a fixed order.
pub fn attribute_changes(old: &UserAttributes, new: &UserAttributes) -> Vec<AttributeChange> {
    let fields: [(&'static str, &String, &String); 6] = [
        ("userName", &old.user_name, &new.user_name),
        ("name.givenName", &old.given_name, &new.given_name),
        ("name.familyName", &old.family_name, &new.family_name),
        ("displayName", &old.display_name, &new.display_name),
        ("emails", &old.email, &new.email),
        ("externalId", &old.external_id, &new.external_id),
    ];
    let mut changes: Vec<AttributeChange> = fields
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(path, a, b)| AttributeChange {
            path: path.to_string(),
            old: a.clone(),
            new: b.clone(),
        })
        .collect();
    if old.active != new.active {
        changes.push(AttributeChange {
            path: "active".to_string(),
            old: old.active.to_string(),
            new: new.active.to_string(),
        });
    }
    changes
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::mapping::DesiredTeam;
    use crate::snapshot::{TeamRecord, UserRecord};

    const NOW: i64 = 1_000_000;
    const DAY: i64 = 86_400;

    fn attrs(name: &str, active: bool) -> UserAttributes {
        UserAttributes {
            user_name: format!("{name}@example.com"),
            given_name: name.to_uppercase(),
            family_name: "Family".into(),
            display_name: format!("{} Family", name.to_uppercase()),
            email: format!("{name}@example.com"),
            external_id: name.into(),
            active,
        }
    }

    fn record(name: &str, active: bool, deactivated_at: Option<i64>) -> UserRecord {
        UserRecord {
            penvio_id: format!("p-{name}"),
            attributes: attrs(name, active),
            deactivated_at,
        }
    }

    fn policy() -> PlanPolicy {
        PlanPolicy {
            on_user_removed: RemovalAction::Deactivate,
            delete_deactivated_after: None,
            max_deactivations: 100,
            max_deletions: 100,
            max_shrinkage: 1.0,
            max_member_removals: Threshold::Share(0.5),
            allow_deletions: false,
        }
    }

    fn desired(users: &[(&str, bool)], teams: &[(&str, &str, &[&str])]) -> DesiredState {
        DesiredState {
            users: users
                .iter()
                .map(|(n, a)| (n.to_string(), attrs(n, *a)))
                .collect(),
            teams: teams
                .iter()
                .map(|(id, name, members)| {
                    (
                        id.to_string(),
                        DesiredTeam {
                            name: name.to_string(),
                            members: members.iter().map(|m| m.to_string()).collect(),
                        },
                    )
                })
                .collect(),
        }
    }

    fn snapshot(users: &[UserRecord], teams: &[(&str, &str, &[&str])]) -> Snapshot {
        Snapshot {
            users: users
                .iter()
                .map(|r| (r.attributes.external_id.clone(), r.into()))
                .collect(),
            teams: teams
                .iter()
                .map(|(id, name, members)| {
                    (
                        id.to_string(),
                        TeamRecord {
                            penvio_id: format!("t-{id}"),
                            name: name.to_string(),
                            members: members.iter().map(|m| m.to_string()).collect(),
                            foreign_members: BTreeSet::new(),
                        },
                    )
                })
                .collect(),
            ..Default::default()
        }
    }

    fn kinds(plan: &Plan) -> Vec<(String, String)> {
        plan.operations
            .iter()
            .map(|op| (op.kind().to_string(), op.subject().to_string()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn case_table() {
        let mut renamed = record("ren", true, None);
        renamed.attributes.user_name = "old@example.com".into();
        renamed.attributes.email = "old@example.com".into();
        struct Case {
            name: &'static str,
            desired: DesiredState,
            snapshot: Snapshot,
            policy: PlanPolicy,
            expect: Vec<(&'static str, &'static str)>,
            held: usize,
        }
        let cases = vec![
            Case {
                name: "empty snapshot provisions everyone active",
                desired: desired(&[("a", true), ("b", true), ("c", false)], &[]),
                snapshot: Snapshot::default(),
                policy: policy(),
                expect: vec![("create_user", "a"), ("create_user", "b")],
                held: 0,
            },
            Case {
                name: "unchanged directory plans nothing",
                desired: desired(&[("a", true)], &[("g", "Eng", &["a"])]),
                snapshot: snapshot(&[record("a", true, None)], &[("g", "Eng", &["a"])]),
                policy: policy(),
                expect: vec![],
                held: 0,
            },
            Case {
                name: "email change is an update of the same user",
                desired: desired(&[("ren", true)], &[]),
                snapshot: snapshot(&[renamed.clone()], &[]),
                policy: policy(),
                expect: vec![("update_user", "ren")],
                held: 0,
            },
            Case {
                name: "removed user is deactivated after leaving teams",
                desired: desired(&[("a", true)], &[("g", "Eng", &["a"])]),
                snapshot: snapshot(
                    &[record("a", true, None), record("b", true, None)],
                    &[("g", "Eng", &["a", "b"])],
                ),
                policy: policy(),
                expect: vec![("remove_members", "g"), ("deactivate_user", "b")],
                held: 0,
            },
            Case {
                name: "inactive in source deactivates",
                desired: desired(&[("a", false)], &[]),
                snapshot: snapshot(&[record("a", true, None)], &[]),
                policy: policy(),
                expect: vec![("deactivate_user", "a")],
                held: 0,
            },
            Case {
                name: "returning user is reactivated",
                desired: desired(&[("a", true)], &[]),
                snapshot: snapshot(&[record("a", false, Some(NOW - DAY))], &[]),
                policy: policy(),
                expect: vec![("reactivate_user", "a")],
                held: 0,
            },
            Case {
                name: "policy delete deletes removed users at once",
                desired: desired(&[("k", true)], &[]),
                snapshot: snapshot(&[record("a", true, None), record("k", true, None)], &[]),
                policy: PlanPolicy {
                    on_user_removed: RemovalAction::Delete,
                    ..policy()
                },
                expect: vec![("delete_user", "a")],
                held: 0,
            },
            Case {
                name: "hard delete only once retention has passed",
                desired: desired(&[], &[]),
                snapshot: snapshot(
                    &[
                        record("old", false, Some(NOW - 31 * DAY)),
                        record("new", false, Some(NOW - 29 * DAY)),
                    ],
                    &[],
                ),
                policy: PlanPolicy {
                    delete_deactivated_after: Some(Duration::from_secs(30 * DAY as u64)),
                    ..policy()
                },
                expect: vec![("delete_user", "old")],
                held: 0,
            },
            Case {
                name: "team create, rename, add, remove and delete in phase order",
                desired: desired(
                    &[("a", true), ("b", true), ("c", true)],
                    &[("g1", "New name", &["a", "c"]), ("g2", "Fresh", &["b"])],
                ),
                snapshot: snapshot(
                    &[
                        record("a", true, None),
                        record("b", true, None),
                        record("c", true, None),
                    ],
                    &[("g1", "Old name", &["a", "b"]), ("g3", "Gone", &["a"])],
                ),
                policy: policy(),
                expect: vec![
                    ("rename_team", "g1"),
                    ("create_team", "g2"),
                    ("add_members", "g1"),
                    ("remove_members", "g1"),
                    ("delete_team", "g3"),
                ],
                held: 0,
            },
            Case {
                name: "guard holds back mass deactivation and keeps memberships",
                desired: desired(&[("a", true)], &[("g", "Eng", &["a"])]),
                snapshot: snapshot(
                    &[
                        record("a", true, None),
                        record("b", true, None),
                        record("c", true, None),
                    ],
                    &[("g", "Eng", &["a", "b", "c"])],
                ),
                policy: PlanPolicy {
                    max_deactivations: 1,
                    ..policy()
                },
                expect: vec![],
                held: 2,
            },
            Case {
                name: "allow_deletions lifts the guard",
                desired: desired(&[("a", true)], &[]),
                snapshot: snapshot(
                    &[
                        record("a", true, None),
                        record("b", true, None),
                        record("c", true, None),
                    ],
                    &[],
                ),
                policy: PlanPolicy {
                    max_deactivations: 1,
                    allow_deletions: true,
                    ..policy()
                },
                expect: vec![("deactivate_user", "b"), ("deactivate_user", "c")],
                held: 0,
            },
            Case {
                name: "guard on deletions holds team deletes too, rest applies",
                desired: desired(&[("a", true), ("n", true)], &[]),
                snapshot: snapshot(
                    &[record("a", true, None)],
                    &[("g1", "One", &[]), ("g2", "Two", &[])],
                ),
                policy: PlanPolicy {
                    max_deletions: 1,
                    ..policy()
                },
                expect: vec![("create_user", "n")],
                held: 2,
            },
        ];
        for case in cases {
            let plan = plan(&case.desired, &case.snapshot, &case.policy, NOW);
            assert_eq!(kinds(&plan), pairs(&case.expect), "{}", case.name);
            assert_eq!(plan.held_back.len(), case.held, "{}", case.name);
        }
    }

    #[test]
    fn the_shrinkage_guard_holds_every_destructive_operation() {
        let everyone: Vec<UserRecord> = (0..10)
            .map(|i| record(&format!("u{i}"), true, None))
            .collect();
        let snap = snapshot(&everyone, &[("g", "Team", &[])]);
        let guarded = PlanPolicy {
            max_shrinkage: 0.2,
            ..policy()
        };
        // 10 → 7 active users: a 30% drop.
        let seven: Vec<(String, bool)> = (0..7).map(|i| (format!("u{i}"), true)).collect();
        let seven: Vec<(&str, bool)> = seven.iter().map(|(n, a)| (n.as_str(), *a)).collect();
        let result = plan(&desired(&seven, &[]), &snap, &guarded, NOW);
        assert!(result.operations.is_empty(), "{result:?}");
        assert_eq!(
            result.held_back.len(),
            4,
            "3 deactivations and the team deletion"
        );
        assert!(
            result.held_back[0]
                .reason
                .contains("shrank from 10 active users to 7")
        );
        // 10 → 9 is within 20%.
        let nine: Vec<(String, bool)> = (0..9).map(|i| (format!("u{i}"), true)).collect();
        let nine: Vec<(&str, bool)> = nine.iter().map(|(n, a)| (n.as_str(), *a)).collect();
        let result = plan(&desired(&nine, &[("g", "Team", &[])]), &snap, &guarded, NOW);
        assert_eq!(kinds(&result), pairs(&[("deactivate_user", "u9")]));
        // Down to zero always trips, whatever the share below 100%.
        let lenient = PlanPolicy {
            max_shrinkage: 0.99,
            ..policy()
        };
        let result = plan(&desired(&[], &[]), &snap, &lenient, NOW);
        assert!(result.operations.is_empty());
        assert_eq!(result.held_back.len(), 11);
        // Approval lifts it.
        let approved = PlanPolicy {
            allow_deletions: true,
            ..lenient
        };
        assert_eq!(
            plan(&desired(&[], &[]), &snap, &approved, NOW)
                .operations
                .len(),
            11
        );
    }

    #[test]
    fn the_member_guard_holds_back_emptied_and_shrunken_teams() {
        let names: Vec<String> = (0..12).map(|i| format!("u{i:02}")).collect();
        let everyone: Vec<(&str, bool)> = names.iter().map(|n| (n.as_str(), true)).collect();
        let all: Vec<&str> = names.iter().map(String::as_str).collect();
        let records: Vec<UserRecord> = names.iter().map(|n| record(n, true, None)).collect();
        let snap = snapshot(&records, &[("g", "Big", &all), ("s", "Pair", &all[..2])]);
        let guarded = PlanPolicy {
            max_deactivations: 0,
            ..policy()
        };
        let reasons = |plan: &Plan| -> Vec<String> {
            plan.held_back.iter().map(|h| h.reason.clone()).collect()
        };
        // The listing of the big team comes back empty: held back.
        let result = plan(
            &desired(&everyone, &[("g", "Big", &[]), ("s", "Pair", &all[..2])]),
            &snap,
            &guarded,
            NOW,
        );
        assert!(result.operations.is_empty(), "{result:?}");
        assert_eq!(result.held_back.len(), 1);
        assert!(reasons(&result)[0].contains("team Big would lose all of its 12 members"));
        // 7 of 12 (over 50%) held; 6 of 12 passes.
        let five = desired(
            &everyone,
            &[("g", "Big", &all[..5]), ("s", "Pair", &all[..2])],
        );
        let result = plan(&five, &snap, &guarded, NOW);
        assert!(reasons(&result)[0].contains("lose 7 of its 12 members"));
        let six = desired(
            &everyone,
            &[("g", "Big", &all[..6]), ("s", "Pair", &all[..2])],
        );
        assert_eq!(
            kinds(&plan(&six, &snap, &guarded, NOW)),
            pairs(&[("remove_members", "g")])
        );
        // A share does not apply to a small team, but emptying it does.
        let one_left = desired(&everyone, &[("g", "Big", &all), ("s", "Pair", &all[..1])]);
        assert_eq!(
            kinds(&plan(&one_left, &snap, &guarded, NOW)),
            pairs(&[("remove_members", "s")])
        );
        let none_left = desired(&everyone, &[("g", "Big", &all), ("s", "Pair", &[])]);
        assert_eq!(plan(&none_left, &snap, &guarded, NOW).held_back.len(), 1);
        // A count applies to every team.
        let counted = PlanPolicy {
            max_member_removals: Threshold::Count(0),
            ..guarded.clone()
        };
        assert_eq!(plan(&one_left, &snap, &counted, NOW).held_back.len(), 1);
        // Members who leave the directory do not count (the deactivation
        // guard judges them), and approval lifts the guard.
        let leavers = desired(
            &everyone[2..],
            &[("g", "Big", &all[2..]), ("s", "Pair", &[])],
        );
        let approved = PlanPolicy {
            allow_deletions: true,
            ..guarded.clone()
        };
        let result = plan(&leavers, &snap, &policy(), NOW);
        assert!(result.held_back.is_empty(), "{result:?}");
        assert_eq!(
            kinds(&result),
            pairs(&[
                ("remove_members", "g"),
                ("remove_members", "s"),
                ("deactivate_user", "u00"),
                ("deactivate_user", "u01"),
            ])
        );
        let result = plan(
            &desired(&everyone, &[("g", "Big", &[]), ("s", "Pair", &all[..2])]),
            &snap,
            &approved,
            NOW,
        );
        assert_eq!(kinds(&result), pairs(&[("remove_members", "g")]));
    }

    #[test]
    fn updates_carry_only_changed_attributes() {
        let mut old = record("a", true, None);
        old.attributes.given_name = "Old".into();
        old.attributes.user_name = "old@example.com".into();
        let plan = plan(
            &desired(&[("a", true)], &[]),
            &snapshot(&[old], &[]),
            &policy(),
            NOW,
        );
        let Operation::UpdateUser { changes, .. } = &plan.operations[0] else {
            panic!("expected an update: {plan:?}");
        };
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec!["userName", "name.givenName"]);
        assert_eq!(changes[1].old, "Old");
        assert_eq!(changes[1].new, "A");
    }

    #[test]
    fn plan_is_deterministic_and_ordered_by_phase() {
        let users: Vec<(String, bool)> = (0..50).map(|i| (format!("u{i:02}"), true)).collect();
        let borrowed: Vec<(&str, bool)> = users.iter().map(|(n, a)| (n.as_str(), *a)).collect();
        let d = desired(&borrowed, &[("g", "Team", &["u01", "u02"])]);
        let first = plan(&d, &Snapshot::default(), &policy(), NOW);
        let second = plan(&d, &Snapshot::default(), &policy(), NOW);
        assert_eq!(first, second);
        let phases: Vec<Phase> = first.operations.iter().map(Operation::phase).collect();
        let mut sorted = phases.clone();
        sorted.sort();
        assert_eq!(phases, sorted);
        let subjects: Vec<&str> = first.operations[..50]
            .iter()
            .map(Operation::subject)
            .collect();
        let mut sorted_subjects = subjects.clone();
        sorted_subjects.sort();
        assert_eq!(subjects, sorted_subjects);
        let _ = BTreeMap::<u8, u8>::new();
    }
}
