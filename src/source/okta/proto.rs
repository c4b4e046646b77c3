//! Okta wire types and their conversion to the neutral model.
//!
//! Records are decoded one by one from the page's JSON array, so a record
//! that cannot be read is skipped with a reason instead of failing the page.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::model::{SkippedRecord, SourceUser};
use crate::source::kit::records::Record;
use crate::source::kit::values::trimmed;

/// Okta group type whose groups (Everyone) never become teams unless named.
pub const BUILT_IN: &str = "BUILT_IN";

/// A user as listed by `/api/v1/users` and `/api/v1/groups/{id}/users`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OktaUser {
    /// Immutable id (`00u…`).
    pub id: String,
    /// Lifecycle status (`ACTIVE`, `SUSPENDED`, …).
    pub status: String,
    /// Last change of the user (profile or status), ISO-8601.
    pub last_updated: Option<String>,
    /// Profile attributes (`login`, `email`, `firstName`, custom ones).
    #[serde(default)]
    pub profile: BTreeMap<String, Value>,
}

/// A group as listed by `/api/v1/groups`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OktaGroup {
    /// Immutable id (`00g…`).
    pub id: String,
    /// `OKTA_GROUP`, `APP_GROUP` or `BUILT_IN`.
    #[serde(rename = "type", default)]
    pub group_type: String,
    /// Last change of the membership, ISO-8601: a member list is read again
    /// only when this moved.
    pub last_membership_updated: Option<String>,
    /// `name` and `description`.
    pub profile: GroupProfile,
}

/// The part of a group's profile we use.
#[derive(Debug, Deserialize)]
pub struct GroupProfile {
    /// Group name.
    pub name: String,
}

/// Whether a user status counts as active: `Some(active)`, or `None` for a
/// status this build does not know (the record is skipped, not guessed).
pub fn status_active(status: &str, provision_staged: bool) -> Option<bool> {
    match status {
        "ACTIVE" | "PASSWORD_EXPIRED" | "LOCKED_OUT" | "RECOVERY" => Some(true),
        "SUSPENDED" | "DEPROVISIONED" => Some(false),
        "STAGED" | "PROVISIONED" => Some(provision_staged),
        _ => None,
    }
}

/// Decodes and converts one user record of a listing. `Ok` carries the user
/// with its raw status and `lastUpdated`; `Err` the reason it was skipped.
pub fn read_user(
    value: Value,
    position: usize,
    provision_staged: bool,
) -> Result<(SourceUser, String, Option<String>), SkippedRecord> {
    let record = Record::new("user", &value, "id", position);
    let user: OktaUser = record.decode(value, "the Okta user")?;
    record.nonblank(&user.id, "the Okta user record has an empty id")?;
    let active = status_active(&user.status, provision_staged)
        .ok_or_else(|| record.skip(format!("unknown Okta status {:?}", user.status)))?;
    let text = |key: &str| trimmed(user.profile.get(key).and_then(Value::as_str));
    let mut attributes: BTreeMap<String, String> = user
        .profile
        .iter()
        .filter_map(|(key, value)| Some((format!("profile.{key}"), value.as_str()?.to_string())))
        .collect();
    attributes.insert("status".into(), user.status.clone());
    let source = SourceUser {
        id: user.id.clone(),
        email: text("email"),
        given_name: text("firstName"),
        family_name: text("lastName"),
        display_name: text("displayName"),
        active,
        attributes,
    };
    Ok((source, user.status, user.last_updated))
}

/// Decodes one group record; `Err` carries the skip.
pub fn read_group(value: Value, position: usize) -> Result<OktaGroup, SkippedRecord> {
    let record = Record::new("group", &value, "id", position);
    let group: OktaGroup = record.decode(value, "the Okta group")?;
    record.nonblank(&group.id, "the Okta group record has an empty id")?;
    Ok(group)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const SAMPLE_USERS: &str = include_str!("../../../tests/fixtures/okta/list-users.200.json");
    const SAMPLE_GROUPS: &str = include_str!("../../../tests/fixtures/okta/list-groups.200.json");

    #[test]
    fn statuses_map_to_active_per_the_documented_table() {
        let cases = [
            ("ACTIVE", false, Some(true)),
            ("PASSWORD_EXPIRED", false, Some(true)),
            ("LOCKED_OUT", false, Some(true)),
            ("RECOVERY", false, Some(true)),
            ("SUSPENDED", true, Some(false)),
            ("DEPROVISIONED", true, Some(false)),
            ("STAGED", false, Some(false)),
            ("PROVISIONED", false, Some(false)),
            ("STAGED", true, Some(true)),
            ("PROVISIONED", true, Some(true)),
            ("ACTIVATING", false, None),
        ];
        for (status, staged, expected) in cases {
            assert_eq!(
                status_active(status, staged),
                expected,
                "{status} staged={staged}"
            );
        }
    }

    #[test]
    fn the_vendor_sample_user_converts() {
        let users: Vec<Value> = serde_json::from_str(SAMPLE_USERS).unwrap();
        let (user, status, updated) = read_user(users[0].clone(), 0, false).unwrap();
        assert_eq!(user.id, "00u118oQYT4TBTemp0g4");
        assert_eq!(user.email.as_deref(), Some("alice.smith@example.com"));
        assert_eq!(user.given_name.as_deref(), Some("Alice"));
        assert_eq!(user.family_name.as_deref(), Some("Smith"));
        assert_eq!(
            user.display_name, None,
            "displayName is absent in the sample"
        );
        assert!(user.active);
        assert_eq!(status, "ACTIVE");
        assert_eq!(updated.as_deref(), Some("2022-05-05T18:15:44.000Z"));
        assert_eq!(user.attributes["profile.login"], "alice.smith@example.com");
        assert!(
            !user.attributes.contains_key("profile.mobilePhone"),
            "null is not a string"
        );
    }

    #[test]
    fn unreadable_records_are_skipped_with_a_reason() {
        let no_id = serde_json::json!({"status": "ACTIVE", "profile": {"email": "a@b.c"}});
        let odd = serde_json::json!({"id": "00u9", "status": "WEIRD", "profile": {}});
        for (record, position, id, reason) in [
            (no_id, 3, "#3", "cannot be read"),
            (odd, 0, "00u9", "WEIRD"),
        ] {
            let skipped = read_user(record, position, false).unwrap_err();
            assert_eq!(skipped.id, id);
            assert!(skipped.reason.contains(reason), "{}", skipped.reason);
        }
    }

    #[test]
    fn the_vendor_sample_groups_decode() {
        let groups: Vec<Value> = serde_json::from_str(SAMPLE_GROUPS).unwrap();
        let first = read_group(groups[0].clone(), 0).unwrap();
        assert_eq!(first.profile.name, "West Coast users");
        assert_eq!(first.group_type, "OKTA_GROUP");
        assert_eq!(
            first.last_membership_updated.as_deref(),
            Some("2015-11-28T19:15:32.000Z")
        );
        assert_eq!(
            read_group(groups[1].clone(), 1).unwrap().group_type,
            "APP_GROUP"
        );
    }
}
