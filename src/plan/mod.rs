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

use crate::config::Threshold;
use crate::mapping::DesiredState;
use crate::model::UserAttributes;
use crate::snapshot::Snapshot;

mod guard;
mod teams;
#[cfg(test)]
mod tests;
mod users;

use guard::guard_member_removals;
pub use guard::shrinkage;
use teams::{plan_team_deletions, plan_teams};
pub use users::attribute_changes;
use users::plan_users;

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
    // Only destructive operations can be held back: without any, the
    // guard's count of a million snapshot users is not needed.
    let destructive =
        !(deactivations.is_empty() && deletions.is_empty() && team_deletions.is_empty());
    if let Some(reason) = destructive
        .then(|| shrinkage(desired, snapshot, policy))
        .flatten()
    {
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
