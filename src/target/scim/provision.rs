//! The SCIM client as the executor's [`Provisioner`]: each domain call
//! becomes the SCIM request (and PATCH body) Penvio expects.

use serde_json::Value;

use crate::model::UserAttributes;
use crate::plan::AttributeChange;
use crate::scim::client::{ScimClient, ScimError};
use crate::scim::{
    ListResponse, PatchOperation, ScimGroup, ScimUser, emails_value, escape_filter_value,
};
use crate::target::provisioner::{FoundTeam, FoundUser, Provisioner, TargetError, TargetFuture};

impl From<ScimError> for TargetError {
    fn from(error: ScimError) -> Self {
        let message = error.to_string();
        match error {
            ScimError::Unauthorized { status, .. } => TargetError::Unauthorized { status, message },
            ScimError::Conflict { .. } => TargetError::Conflict { message },
            ScimError::NotFound { .. } => TargetError::NotFound { message },
            ScimError::OutcomeUnknown { .. } => TargetError::OutcomeUnknown { message },
            ScimError::Rejected { status, .. } => TargetError::Rejected { status, message },
            ScimError::RetriesExhausted { .. } => TargetError::TransientExhausted { message },
            ScimError::Transport { .. }
            | ScimError::Unbounded { .. }
            | ScimError::IncompleteListing { .. }
            | ScimError::InvalidResponse { .. } => TargetError::Failed { message },
        }
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

fn found_user(user: ScimUser) -> FoundUser {
    FoundUser {
        attributes: user.attributes(),
        id: user.id,
    }
}

fn found_team(group: ScimGroup) -> FoundTeam {
    FoundTeam {
        id: group.id,
        name: group.display_name,
    }
}

impl ScimClient {
    async fn patch_user_changes(
        &self,
        id: &str,
        changes: &[AttributeChange],
        attributes: &UserAttributes,
    ) -> Result<(), TargetError> {
        Ok(self
            .patch_user(id, &patch_operations(changes, attributes))
            .await?)
    }

    async fn find_user_by_external_id_scim(
        &self,
        external_id: &str,
    ) -> Result<Option<ScimUser>, ScimError> {
        let filter = format!("externalId eq \"{}\"", escape_filter_value(external_id));
        let page: ListResponse<ScimUser> = self
            .get_json("/Users", &[("filter", filter.as_str())])
            .await?;
        Ok(page.resources.into_iter().next())
    }
}

impl Provisioner for ScimClient {
    fn create_user<'a>(&'a self, attributes: &'a UserAttributes) -> TargetFuture<'a, String> {
        Box::pin(async move { Ok(ScimClient::create_user(self, attributes).await?) })
    }

    fn update_user<'a>(
        &'a self,
        id: &'a str,
        changes: &'a [AttributeChange],
        attributes: &'a UserAttributes,
    ) -> TargetFuture<'a, ()> {
        Box::pin(self.patch_user_changes(id, changes, attributes))
    }

    fn deactivate_user<'a>(
        &'a self,
        id: &'a str,
        changes: &'a [AttributeChange],
        attributes: &'a UserAttributes,
    ) -> TargetFuture<'a, ()> {
        Box::pin(self.patch_user_changes(id, changes, attributes))
    }

    fn delete_user<'a>(&'a self, id: &'a str) -> TargetFuture<'a, bool> {
        Box::pin(async move { Ok(ScimClient::delete_user(self, id).await?) })
    }

    fn find_user_by_user_name<'a>(
        &'a self,
        user_name: &'a str,
    ) -> TargetFuture<'a, Option<FoundUser>> {
        Box::pin(async move {
            Ok(ScimClient::find_user_by_user_name(self, user_name)
                .await?
                .map(found_user))
        })
    }

    fn find_user_by_external_id<'a>(
        &'a self,
        external_id: &'a str,
    ) -> TargetFuture<'a, Option<FoundUser>> {
        Box::pin(async move {
            Ok(self
                .find_user_by_external_id_scim(external_id)
                .await?
                .map(found_user))
        })
    }

    fn create_team<'a>(
        &'a self,
        name: &'a str,
        external_id: &'a str,
        member_ids: &'a [String],
    ) -> TargetFuture<'a, String> {
        Box::pin(async move { Ok(self.create_group(name, external_id, member_ids).await?) })
    }

    fn rename_team<'a>(&'a self, id: &'a str, name: &'a str) -> TargetFuture<'a, ()> {
        Box::pin(async move {
            let op = PatchOperation::replace("displayName", Value::String(name.to_string()));
            Ok(self.patch_group(id, &[op]).await?)
        })
    }

    fn delete_team<'a>(&'a self, id: &'a str) -> TargetFuture<'a, bool> {
        Box::pin(async move { Ok(self.delete_group(id).await?) })
    }

    fn add_members<'a>(
        &'a self,
        team_id: &'a str,
        member_ids: &'a [String],
    ) -> TargetFuture<'a, ()> {
        Box::pin(async move {
            Ok(self
                .patch_group(team_id, &[PatchOperation::add_members(member_ids)])
                .await?)
        })
    }

    fn remove_members<'a>(
        &'a self,
        team_id: &'a str,
        member_ids: &'a [String],
    ) -> TargetFuture<'a, ()> {
        Box::pin(async move {
            let ops: Vec<PatchOperation> = member_ids
                .iter()
                .map(|id| PatchOperation::remove_member(id))
                .collect();
            Ok(self.patch_group(team_id, &ops).await?)
        })
    }

    fn find_teams_by_external_id<'a>(
        &'a self,
        external_id: &'a str,
    ) -> TargetFuture<'a, Vec<FoundTeam>> {
        Box::pin(async move {
            Ok(self
                .find_groups_by_external_id(external_id)
                .await?
                .into_iter()
                .map(found_team)
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scim_errors_keep_their_message_and_class() {
        let conflict = ScimError::Conflict {
            method: reqwest::Method::POST,
            path: "/Users".into(),
            detail: "userName taken".into(),
        };
        let text = conflict.to_string();
        let error = TargetError::from(conflict);
        assert_eq!(error.to_string(), text);
        assert!(matches!(error, TargetError::Conflict { .. }));
        assert_eq!(error.status(), Some(409));
        let unknown = TargetError::from(ScimError::OutcomeUnknown {
            method: reqwest::Method::POST,
            path: "/Groups".into(),
            last: "timeout".into(),
        });
        assert!(matches!(unknown, TargetError::OutcomeUnknown { .. }));
        assert_eq!(unknown.status(), None);
    }

    #[test]
    fn empty_values_are_removed_and_emails_replaced_whole() {
        let attributes = UserAttributes {
            user_name: "ada@example.com".into(),
            given_name: String::new(),
            family_name: "Lovelace".into(),
            display_name: "Ada".into(),
            email: "ada@example.com".into(),
            external_id: "1".into(),
            active: false,
        };
        let change = |path: &str, new: &str| AttributeChange {
            path: path.into(),
            old: "x".into(),
            new: new.into(),
        };
        let ops = patch_operations(
            &[
                change("name.givenName", ""),
                change("name.familyName", "Lovelace"),
                change("emails", "ada@example.com"),
                change("active", "false"),
            ],
            &attributes,
        );
        let body = serde_json::to_value(&ops).unwrap_or_default();
        assert_eq!(
            body,
            serde_json::json!([
                {"op": "remove", "path": "name.givenName"},
                {"op": "replace", "path": "name.familyName", "value": "Lovelace"},
                {"op": "replace", "path": "emails", "value": [{"value": "ada@example.com", "type": "work", "primary": true}]},
                {"op": "replace", "path": "active", "value": false},
            ])
        );
    }
}
