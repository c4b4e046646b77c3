//! Provision on demand (`sync --only`): restrict a run to a few users and
//! their memberships in teams that already exist, leaving everything else
//! for the next full run.
//!
//! Pure: it narrows the desired state and the snapshot so the ordinary
//! planner produces exactly the operations about those users.

use std::collections::BTreeSet;

use crate::mapping::DesiredState;
use crate::snapshot::Snapshot;

/// Source ids of the users an `--only` value names: a source id, or an email
/// / userName (case-insensitive), in the directory or the snapshot.
/// Returns the ids found and the values that matched nobody.
pub fn resolve(
    values: &[String],
    desired: &DesiredState,
    snapshot: &Snapshot,
) -> (BTreeSet<String>, Vec<String>) {
    let mut found = BTreeSet::new();
    let mut unmatched = Vec::new();
    for value in values {
        let wanted = value.trim().to_lowercase();
        let mut hit = false;
        for (id, attributes) in &desired.users {
            if id == value.trim()
                || attributes.user_name().to_lowercase() == wanted
                || attributes.email().to_lowercase() == wanted
            {
                found.insert(id.clone());
                hit = true;
            }
        }
        for (id, record) in &snapshot.users {
            if id == value.trim()
                || record.user_name().to_lowercase() == wanted
                || record.email().to_lowercase() == wanted
            {
                found.insert(id.clone());
                hit = true;
            }
        }
        if !hit {
            unmatched.push(value.clone());
        }
    }
    (found, unmatched)
}

/// The desired state and snapshot narrowed to `users`: only their records,
/// and of the teams that exist in both, members changed only for them. New
/// teams, renames and team deletions wait for a full run.
pub fn restrict(
    desired: &DesiredState,
    snapshot: &Snapshot,
    users: &BTreeSet<String>,
) -> (DesiredState, Snapshot) {
    let mut narrow_desired = DesiredState::default();
    let mut narrow_snapshot = Snapshot {
        generation: snapshot.generation,
        pending_team_creates: snapshot.pending_team_creates.clone(),
        ..Snapshot::default()
    };
    for id in users {
        if let Some(attributes) = desired.users.get(id) {
            narrow_desired.users.insert(id.clone(), attributes.clone());
        }
        if let Some(record) = snapshot.users.get(id) {
            narrow_snapshot.users.insert(id.clone(), record.clone());
        }
    }
    // Members of shared teams resolve through the snapshot: keep every user
    // record the executor may need to look up, unchanged, on both sides.
    for (team_id, record) in &snapshot.teams {
        let Some(wanted) = desired.teams.get(team_id) else {
            continue;
        };
        let mut team = wanted.clone();
        team.name.clone_from(&record.name);
        team.members = record
            .members
            .iter()
            .filter(|m| !users.contains(*m))
            .chain(wanted.members.iter().filter(|m| users.contains(*m)))
            .cloned()
            .collect();
        for member in &record.members {
            if !users.contains(member)
                && let Some(user) = snapshot.users.get(member)
            {
                narrow_snapshot.users.insert(member.clone(), user.clone());
                narrow_desired
                    .users
                    .insert(member.clone(), user.attributes().into());
            }
        }
        narrow_desired.teams.insert(team_id.clone(), team);
        narrow_snapshot
            .teams
            .insert(team_id.clone(), record.clone());
    }
    (narrow_desired, narrow_snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::DesiredTeam;
    use crate::model::UserAttributes;
    use crate::plan::{PlanPolicy, RemovalAction, plan};
    use crate::snapshot::{TeamRecord, UserRecord};

    fn attrs(name: &str, given: &str) -> UserAttributes {
        UserAttributes {
            user_name: format!("{name}@example.com"),
            email: format!("{name}@example.com"),
            given_name: given.into(),
            external_id: name.into(),
            active: true,
            ..Default::default()
        }
    }

    #[test]
    fn only_the_named_users_and_their_memberships_change() {
        let mut desired = DesiredState::default();
        for (id, given) in [
            ("ada", "Ada"),
            ("bob", "Robert"),
            ("new", "New"),
            ("cy", "Cy"),
        ] {
            desired.users.insert(id.into(), attrs(id, given).into());
        }
        desired.teams.insert(
            "g".into(),
            DesiredTeam {
                name: "Renamed".into(),
                members: ["ada", "new", "cy"].iter().map(|s| s.to_string()).collect(),
            },
        );
        desired.teams.insert(
            "fresh".into(),
            DesiredTeam {
                name: "Fresh".into(),
                members: ["new".to_string()].into(),
            },
        );
        let mut snapshot = Snapshot::default();
        for (id, given) in [
            ("ada", "Ada"),
            ("bob", "Bob"),
            ("cy", "Cy"),
            ("gone", "Gone"),
        ] {
            snapshot.users.insert(
                id.into(),
                UserRecord {
                    penvio_id: format!("p-{id}"),
                    attributes: attrs(id, given),
                    deactivated_at: None,
                }
                .into(),
            );
        }
        snapshot.teams.insert(
            "g".into(),
            TeamRecord {
                penvio_id: "t".into(),
                name: "Old".into(),
                members: ["ada", "bob"].iter().map(|s| s.to_string()).collect(),
                foreign_members: Default::default(),
            },
        );

        let (ids, unmatched) = resolve(
            &[
                "NEW@example.com".into(),
                "bob".into(),
                "nobody@example.com".into(),
            ],
            &desired,
            &snapshot,
        );
        assert_eq!(ids.iter().collect::<Vec<_>>(), vec!["bob", "new"]);
        assert_eq!(unmatched, vec!["nobody@example.com".to_string()]);

        let (narrow_desired, narrow_snapshot) = restrict(&desired, &snapshot, &ids);
        let policy = PlanPolicy {
            on_user_removed: RemovalAction::Deactivate,
            delete_deactivated_after: None,
            max_deactivations: 10,
            max_deletions: 10,
            max_shrinkage: 1.0,
            max_member_removals: crate::config::Threshold::Share(0.5),
            allow_deletions: false,
        };
        let result = plan(&narrow_desired, &narrow_snapshot, &policy, 0);
        let ops: Vec<(&str, &str)> = result
            .operations
            .iter()
            .map(|o| (o.kind(), o.subject()))
            .collect();
        // bob's update and new's create and membership; not cy's membership,
        // not the rename, not the new team, not gone's deactivation.
        assert_eq!(
            ops,
            vec![
                ("create_user", "new"),
                ("update_user", "bob"),
                ("add_members", "g"),
                ("remove_members", "g")
            ]
        );
        let crate::plan::Operation::AddMembers { members, .. } = &result.operations[2] else {
            panic!()
        };
        assert_eq!(members, &vec!["new".to_string()]);
        let crate::plan::Operation::RemoveMembers { members, .. } = &result.operations[3] else {
            panic!()
        };
        assert_eq!(members, &vec!["bob".to_string()]);
    }
}
