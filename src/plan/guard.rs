//! The guards: what holds destructive operations back (shrinkage, member removals).

use super::*;
use crate::config::MEMBER_GUARD_MIN_TEAM;

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
pub(super) fn guard_member_removals(
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
