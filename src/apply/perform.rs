//! One operation against the target, in domain terms, and the snapshot
//! changes each acknowledged step makes. A 409 on create links the existing
//! user; a 404 on update recreates the user; a 404 on a team drops it from
//! the snapshot so the next run recreates it.

use super::context::{OperationError, TaskContext};
use super::jobs::Job;
use crate::config::OnUserNameReuse;
use crate::model::UserAttributes;
use crate::plan::{AttributeChange, Operation};
use crate::snapshot::{Change, StoredUser};
use crate::target::TargetError;

/// Where an operation's acknowledged changes and description notes go.
pub(super) struct Effects<'a> {
    changes: &'a mut Vec<Change>,
    description: &'a mut String,
}

impl Effects<'_> {
    fn push(&mut self, change: Change) {
        self.changes.push(change);
    }

    fn note(&mut self, note: &str) {
        self.description.push_str(note);
    }
}

/// Sends one operation; `changes` gets what Penvio acknowledged (even when a
/// later step fails), `description` notes on what was found.
pub(super) async fn perform(
    job: &Job,
    context: &TaskContext,
    changes: &mut Vec<Change>,
    description: &mut String,
) -> Result<(), OperationError> {
    let mut effects = Effects {
        changes,
        description,
    };
    let out = &mut effects;
    match &job.operation {
        Operation::CreateUser {
            source_id,
            attributes,
        } => {
            let id = create_or_link_user(context, source_id, attributes, out).await?;
            out.push(put_user(source_id, id, attributes, None));
            Ok(())
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
            let user = UserChange {
                source_id,
                penvio_id,
                attributes,
                diff,
            };
            update_user(job, context, &user, out).await
        }
        Operation::DeactivateUser {
            source_id,
            penvio_id,
            attributes,
            changes: diff,
            ..
        } => {
            let user = UserChange {
                source_id,
                penvio_id,
                attributes,
                diff,
            };
            deactivate_user(context, &user, out).await
        }
        Operation::DeleteUser {
            source_id,
            penvio_id,
            ..
        } => delete_user(context, source_id, penvio_id, out).await,
        _ => perform_team(job, context, out).await,
    }
}

/// The team operations.
async fn perform_team(
    job: &Job,
    context: &TaskContext,
    out: &mut Effects<'_>,
) -> Result<(), OperationError> {
    match &job.operation {
        Operation::CreateTeam {
            source_id, name, ..
        } => create_team(job, context, source_id, name, out).await?,
        Operation::RenameTeam {
            source_id,
            penvio_id,
            new_name,
            ..
        } => {
            team_request(
                context.target.rename_team(penvio_id, new_name).await,
                source_id,
                out,
            )?;
            out.push(Change::PutTeam {
                source_id: source_id.clone(),
                penvio_id: penvio_id.clone(),
                name: new_name.clone(),
            });
        }
        Operation::AddMembers {
            team, penvio_id, ..
        } => {
            add_members(context, team, penvio_id, &job.members, out).await?;
            note_unresolved(job.unresolved, out);
        }
        Operation::RemoveMembers {
            team,
            penvio_id,
            foreign_members,
            ..
        } => remove_members(job, context, team, penvio_id, foreign_members, out).await?,
        Operation::DeleteTeam {
            source_id,
            penvio_id,
            ..
        } => {
            if !context.target.delete_team(penvio_id).await? {
                out.note(" (already gone)");
            }
            out.push(Change::RemoveTeam {
                source_id: source_id.clone(),
            });
        }
        _ => {}
    }
    Ok(())
}

/// The user an update, reactivation or deactivation is about.
struct UserChange<'a> {
    source_id: &'a str,
    penvio_id: &'a str,
    attributes: &'a UserAttributes,
    diff: &'a [AttributeChange],
}

/// Updates (or reactivates) a user; one deleted by hand in Penvio is
/// recreated (drift).
async fn update_user(
    job: &Job,
    context: &TaskContext,
    user: &UserChange<'_>,
    out: &mut Effects<'_>,
) -> Result<(), OperationError> {
    let deactivated_at = if user.attributes.active {
        None
    } else {
        job.deactivated_at
    };
    let sent = context
        .target
        .update_user(user.penvio_id, user.diff, user.attributes)
        .await;
    let id = match sent {
        Ok(()) => user.penvio_id.to_string(),
        Err(TargetError::NotFound { .. }) => {
            let id = create_or_link_user(context, user.source_id, user.attributes, out).await?;
            out.note(" (was missing in Penvio: recreated)");
            id
        }
        Err(error) => return Err(error.into()),
    };
    out.push(put_user(
        user.source_id,
        id,
        user.attributes,
        deactivated_at,
    ));
    Ok(())
}

/// Deactivates a user; one already gone from Penvio leaves the snapshot.
async fn deactivate_user(
    context: &TaskContext,
    user: &UserChange<'_>,
    out: &mut Effects<'_>,
) -> Result<(), OperationError> {
    let sent = context
        .target
        .deactivate_user(user.penvio_id, user.diff, user.attributes)
        .await;
    match sent {
        Ok(()) => out.push(put_user(
            user.source_id,
            user.penvio_id.to_string(),
            user.attributes,
            Some(context.now),
        )),
        Err(TargetError::NotFound { .. }) => {
            out.note(" (already gone from Penvio)");
            out.push(Change::RemoveUser {
                source_id: user.source_id.to_string(),
            });
        }
        Err(error) => return Err(error.into()),
    }
    Ok(())
}

async fn delete_user(
    context: &TaskContext,
    source_id: &str,
    penvio_id: &str,
    out: &mut Effects<'_>,
) -> Result<(), OperationError> {
    if !context.target.delete_user(penvio_id).await? {
        out.note(" (already gone)");
    }
    out.push(Change::RemoveUser {
        source_id: source_id.to_string(),
    });
    Ok(())
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
    out: &mut Effects<'_>,
) -> Result<String, OperationError> {
    let target = &context.target;
    let conflict = match target.create_user(attributes).await {
        Ok(id) => return Ok(id),
        Err(conflict @ TargetError::Conflict { .. }) => conflict,
        Err(error) => return Err(error.into()),
    };
    let Some(existing) = target.find_user_by_user_name(&attributes.user_name).await? else {
        return Err(conflict
            .with_note(" (and no user with that userName could be found)")
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
    let changed = crate::plan::attribute_changes(&existing.attributes, attributes);
    if !changed.is_empty() {
        target
            .update_user(&existing.id, &changed, attributes)
            .await?;
    }
    match previous_owner {
        Some(owner) => {
            out.push(Change::RemoveUser {
                source_id: owner.clone(),
            });
            out.note(&format!(
                " (relinked Penvio user {} from source user {owner}, whose mapping was dropped: policy.on_username_reuse is relink)",
                existing.id
            ));
        }
        None => out.note(" (linked the existing Penvio user)"),
    }
    Ok(existing.id)
}

/// The warning for a create whose userName belongs to another managed
/// user's account: names both source ids and the ways out.
fn reuse_refusal(source_id: &str, owner: &str, penvio_id: &str, user_name: &str) -> String {
    format!(
        "skipped: userName {user_name} belongs to Penvio user {penvio_id}, which this connection holds for source user {owner}, not for the new source user {source_id}; linking would hand {owner}'s account and data to {source_id}. If they are the same person, set policy.on_username_reuse: relink; otherwise give the new user another email, or delete the old account in Penvio"
    )
}

fn note_unresolved(unresolved: usize, out: &mut Effects<'_>) {
    if unresolved > 0 {
        out.note(&format!(
            " ({unresolved} members left for the next run: their users are not in Penvio yet)"
        ));
    }
}

/// A team request's result; on 404 the team was deleted in Penvio by hand,
/// so it is dropped from the snapshot and recreated by the next run.
fn team_request(
    result: Result<(), TargetError>,
    team: &str,
    out: &mut Effects<'_>,
) -> Result<(), TargetError> {
    if let Err(TargetError::NotFound { .. }) = &result {
        out.push(Change::RemoveTeam {
            source_id: team.to_string(),
        });
    }
    result
}

/// Adds members in chunks of the member patch size, recording each chunk
/// as it is acknowledged.
async fn add_members(
    context: &TaskContext,
    team: &str,
    penvio_id: &str,
    members: &[(String, String)],
    out: &mut Effects<'_>,
) -> Result<(), TargetError> {
    for chunk in members.chunks(context.patch_size) {
        let ids: Vec<String> = chunk.iter().map(|(_, id)| id.clone()).collect();
        team_request(context.target.add_members(penvio_id, &ids).await, team, out)?;
        out.push(Change::AddMembers {
            team: team.to_string(),
            members: chunk.iter().map(|(s, _)| s.clone()).collect(),
        });
    }
    Ok(())
}

/// Removes members in chunks; members without a Penvio id only leave the
/// snapshot, foreign members (found by reconcile) only leave Penvio.
async fn remove_members(
    job: &Job,
    context: &TaskContext,
    team: &str,
    penvio_id: &str,
    foreign_members: &[String],
    out: &mut Effects<'_>,
) -> Result<(), TargetError> {
    let (unknown, known): (Vec<_>, Vec<_>) = job
        .members
        .iter()
        .partition(|(_, member)| member.is_empty());
    if !unknown.is_empty() {
        out.push(Change::RemoveMembers {
            team: team.to_string(),
            members: unknown.iter().map(|(s, _)| s.clone()).collect(),
        });
    }
    for chunk in known.chunks(context.patch_size) {
        let ids: Vec<String> = chunk.iter().map(|(_, id)| id.clone()).collect();
        team_request(
            context.target.remove_members(penvio_id, &ids).await,
            team,
            out,
        )?;
        out.push(Change::RemoveMembers {
            team: team.to_string(),
            members: chunk.iter().map(|(s, _)| s.clone()).collect(),
        });
    }
    for chunk in foreign_members.chunks(context.patch_size) {
        team_request(
            context.target.remove_members(penvio_id, chunk).await,
            team,
            out,
        )?;
    }
    Ok(())
}

/// Creates a team with its first chunk of members, then adds the rest. A
/// team whose earlier create may have reached Penvio is looked up first.
async fn create_team(
    job: &Job,
    context: &TaskContext,
    source_id: &str,
    name: &str,
    out: &mut Effects<'_>,
) -> Result<(), TargetError> {
    if job.pending_create && adopt_pending_team(job, context, source_id, name, out).await? {
        return Ok(());
    }
    let first = job.members.len().min(context.patch_size);
    let first_ids: Vec<String> = job.members[..first]
        .iter()
        .map(|(_, id)| id.clone())
        .collect();
    let penvio_id = context
        .target
        .create_team(name, source_id, &first_ids)
        .await?;
    out.push(Change::PutTeam {
        source_id: source_id.to_string(),
        penvio_id: penvio_id.clone(),
        name: name.to_string(),
    });
    if first > 0 {
        out.push(Change::AddMembers {
            team: source_id.to_string(),
            members: job.members[..first]
                .iter()
                .map(|(s, _)| s.clone())
                .collect(),
        });
    }
    out.push(clear_pending(source_id));
    let result = add_members(context, source_id, &penvio_id, &job.members[first..], out).await;
    note_unresolved(job.unresolved, out);
    result
}

/// An earlier create may have reached Penvio unacknowledged: if the team is
/// there (by externalId), link it, fix its name and add the members.
/// `false` when it is not there and must be created.
async fn adopt_pending_team(
    job: &Job,
    context: &TaskContext,
    source_id: &str,
    name: &str,
    out: &mut Effects<'_>,
) -> Result<bool, TargetError> {
    let found = context.target.find_teams_by_external_id(source_id).await?;
    let Some(existing) = found.into_iter().next() else {
        return Ok(false);
    };
    out.note(" (found the team an interrupted run created)");
    out.push(Change::PutTeam {
        source_id: source_id.to_string(),
        penvio_id: existing.id.clone(),
        name: existing.name.clone(),
    });
    if existing.name != name {
        context.target.rename_team(&existing.id, name).await?;
        out.push(Change::PutTeam {
            source_id: source_id.to_string(),
            penvio_id: existing.id.clone(),
            name: name.to_string(),
        });
    }
    out.push(clear_pending(source_id));
    add_members(context, source_id, &existing.id, &job.members, out).await?;
    note_unresolved(job.unresolved, out);
    Ok(true)
}

fn clear_pending(source_id: &str) -> Change {
    Change::ClearTeamCreatePending {
        source_id: source_id.to_string(),
    }
}
