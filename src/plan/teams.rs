//! Planning teams: created, renamed, members added and removed, deleted.

use super::*;

pub(super) fn plan_team_deletions(desired: &DesiredState, snapshot: &Snapshot) -> Vec<Operation> {
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

pub(super) fn plan_teams(
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
