//! Planning users: new, known (updated, reactivated, deactivated) and removed.

use super::*;
use crate::model::PackedAttributes;
use crate::snapshot::StoredUser;

/// Both maps are sorted by source id, so users are matched by walking them
/// side by side (a merge join, linear) instead of a tree lookup per user in
/// each direction.
pub(super) fn plan_users(
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

fn plan_new_user(source_id: &str, wanted: &PackedAttributes, operations: &mut Vec<Operation>) {
    // An inactive user who was never provisioned needs no account.
    if wanted.active() {
        operations.push(Operation::CreateUser {
            source_id: source_id.to_string(),
            attributes: wanted.unpack(),
        });
    }
}

fn plan_known_user(
    source_id: &str,
    wanted: &PackedAttributes,
    record: &StoredUser,
    operations: &mut Vec<Operation>,
    deactivations: &mut Vec<Operation>,
) {
    if record.holds(wanted) {
        return;
    }
    let current = record.attributes();
    let attributes = wanted.unpack();
    let changes = attribute_changes(&current, &attributes);
    let source_id = source_id.to_string();
    let penvio_id = record.penvio_id().to_string();
    match (current.active, attributes.active) {
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
