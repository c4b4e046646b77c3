//! JumpCloud wire types and their conversion to the neutral model.
//!
//! Shapes follow JumpCloud's OpenAPI documents: v1 `systemuserslist`
//! (`{totalCount, results: [systemuserreturn]}`), v2 `UserGroup` and
//! `GraphConnection` (`{to: {id, type}, attributes}`). Records are decoded
//! one by one, so a record that cannot be read is skipped with a reason
//! instead of failing the page.

use serde::Deserialize;
use serde_json::Value;

use crate::model::{SkippedRecord, SourceUser};
use crate::source::kit::records::Record;
use crate::source::kit::values::{top_scalars, trimmed};

/// A v1 list page: `{"totalCount": N, "results": [...]}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V1Page {
    /// Records matching the request in the whole listing (not this page).
    pub total_count: Option<u64>,
    /// This page's records, decoded one by one later.
    #[serde(default)]
    pub results: Vec<Value>,
}

/// The fields of a `systemuserreturn` the model needs; every scalar field
/// also goes into the user's attributes.
#[derive(Debug, Deserialize)]
pub struct SystemUser {
    /// Immutable 24-hex ObjectId.
    #[serde(rename = "_id")]
    pub id: String,
    /// Primary email.
    pub email: Option<String>,
    /// Given name.
    pub firstname: Option<String>,
    /// Family name.
    pub lastname: Option<String>,
    /// Display name.
    pub displayname: Option<String>,
    /// `STAGED`, `ACTIVATED` or `SUSPENDED`.
    pub state: Option<String>,
    /// Whether the user completed activation (set a password).
    pub activated: Option<bool>,
    /// Whether an admin suspended the user.
    pub suspended: Option<bool>,
}

/// A v2 `UserGroup` as listed by `/api/v2/usergroups`.
#[derive(Debug, Deserialize)]
pub struct UserGroup {
    /// Immutable ObjectId.
    pub id: String,
    /// Group name.
    pub name: String,
    /// `user_group` for groups of people (absent in some answers: then taken
    /// as one); `system_group` and `policy_group` hold devices and policies.
    #[serde(rename = "type", default)]
    pub group_type: Option<String>,
}

/// One `GraphConnection` edge of `/api/v2/usergroups/{id}/members`.
#[derive(Debug, Deserialize)]
pub struct GraphConnection {
    /// The member.
    pub to: GraphObject,
}

/// The object an edge points to.
#[derive(Debug, Deserialize)]
pub struct GraphObject {
    /// ObjectId of the member.
    pub id: String,
    /// `user` (the only type user groups hold today, and the only member
    /// type a team can hold).
    #[serde(rename = "type")]
    pub object_type: String,
}

/// Whether a user counts as active: `Some(active)`, or `None` when the
/// record says nothing this build understands (it is skipped, not guessed).
///
/// Suspended (flag or state) → inactive; `STAGED`, or `ACTIVATED` but not
/// yet `activated` (the user never completed activation) → `provision_staged`;
/// `ACTIVATED` → active. Locked accounts and expired passwords stay active:
/// they are temporary and the person still belongs in Penvio.
pub fn user_active(
    state: Option<&str>,
    activated: Option<bool>,
    suspended: Option<bool>,
    provision_staged: bool,
) -> Option<bool> {
    match (state, activated, suspended) {
        (_, _, Some(true)) | (Some("SUSPENDED"), _, _) => Some(false),
        (Some("STAGED"), _, _) => Some(provision_staged),
        (Some("ACTIVATED") | None, Some(false), _) => Some(provision_staged),
        (Some("ACTIVATED"), _, _) | (None, Some(true), _) => Some(true),
        (None, None, _) | (Some(_), _, _) => None,
    }
}

/// Decodes and converts one `systemuserreturn`; `Err` carries the skip.
pub fn read_user(
    value: Value,
    position: usize,
    provision_staged: bool,
) -> Result<SourceUser, SkippedRecord> {
    let record = Record::new("user", &value, "_id", position);
    let attributes = top_scalars(&value);
    let user: SystemUser = record.decode(value, "the JumpCloud user")?;
    record.nonblank(&user.id, "the JumpCloud user record has an empty _id")?;
    let (state, activated) = (user.state.as_deref(), user.activated);
    let Some(active) = user_active(state, activated, user.suspended, provision_staged) else {
        let reason = format!("unknown JumpCloud state {state:?} (activated {activated:?})");
        return Err(record.skip(reason));
    };
    Ok(SourceUser {
        email: trimmed(user.email.as_deref()),
        given_name: trimmed(user.firstname.as_deref()),
        family_name: trimmed(user.lastname.as_deref()),
        display_name: trimmed(user.displayname.as_deref()),
        id: user.id,
        active,
        attributes,
    })
}

/// Decodes one user group; `Ok(None)` for groups that hold no people
/// (`system_group`, `policy_group`); `Err` carries the skip.
pub fn read_group(value: Value, position: usize) -> Result<Option<UserGroup>, SkippedRecord> {
    let record = Record::new("group", &value, "id", position);
    let group: UserGroup = record.decode(value, "the JumpCloud user group")?;
    record.nonblank(&group.id, "the JumpCloud user group has an empty id")?;
    record.nonblank(&group.name, "the JumpCloud user group has an empty name")?;
    let people = matches!(group.group_type.as_deref(), None | Some("user_group"));
    Ok(people.then_some(group))
}

/// The user id an edge points to; `None` for other member types or an edge
/// that cannot be read.
pub fn member_user_id(edge: &Value) -> Option<String> {
    let edge = GraphConnection::deserialize(edge).ok()?;
    (edge.to.object_type == "user" && !edge.to.id.trim().is_empty()).then_some(edge.to.id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    const SAMPLE_USER: &str =
        include_str!("../../../tests/fixtures/jumpcloud/systemuser.schema-shape.json");

    #[test]
    fn states_map_to_active_per_the_documented_table() {
        let (activated, suspended, staged) = (Some("ACTIVATED"), Some("SUSPENDED"), Some("STAGED"));
        let (yes, no) = (Some(true), Some(false));
        let cases = [
            // (state, activated, suspended, provision_staged) → active
            (activated, yes, no, false, yes),
            (activated, None, None, false, yes),
            (activated, yes, yes, true, no),
            (suspended, yes, no, true, no),
            (suspended, None, None, false, no),
            (staged, no, no, false, no),
            (staged, no, no, true, yes),
            (activated, no, None, false, no),
            (activated, no, None, true, yes),
            (None, yes, None, false, yes),
            (None, no, None, false, no),
            (None, None, yes, false, no),
            (None, None, None, false, None),
            (Some("PENDING"), yes, None, false, None),
        ];
        for (state, activated, suspended, staged, expected) in cases {
            assert_eq!(
                user_active(state, activated, suspended, staged),
                expected,
                "{state:?} activated={activated:?} suspended={suspended:?} staged={staged}"
            );
        }
    }

    #[test]
    fn the_schema_shaped_user_converts_with_raw_attributes() {
        let value: Value = serde_json::from_str(SAMPLE_USER).unwrap();
        let user = read_user(value, 0, false).unwrap();
        assert_eq!(user.id, "5f0c6a1e2b3c4d5e6f708192");
        assert_eq!(user.email.as_deref(), Some("alice.smith@example.com"));
        assert_eq!(user.given_name.as_deref(), Some("Alice"));
        assert_eq!(user.family_name.as_deref(), Some("Smith"));
        assert_eq!(user.display_name.as_deref(), Some("Alice Smith"));
        assert!(user.active);
        assert_eq!(user.attributes["username"], "alice.smith");
        assert_eq!(user.attributes["state"], "ACTIVATED");
        assert_eq!(user.attributes["suspended"], "false");
        assert_eq!(user.attributes["department"], "Engineering");
        assert!(
            !user.attributes.contains_key("addresses"),
            "lists are not attributes"
        );
    }

    #[test]
    fn bad_records_are_skipped_with_a_reason() {
        let no_id = json!({"email": "a@example.com", "state": "ACTIVATED"});
        let skipped = read_user(no_id, 4, false).unwrap_err();
        assert_eq!((skipped.kind.as_str(), skipped.id.as_str()), ("user", "#4"));
        let reason = skipped.reason;
        assert!(reason.contains("cannot be read"), "{reason}");
        let odd = json!({"_id": "u9", "state": "WEIRD"});
        let skipped = read_user(odd, 0, false).unwrap_err();
        assert_eq!(skipped.id, "u9");
        assert!(skipped.reason.contains("WEIRD"), "{}", skipped.reason);
        let nameless = json!({"id": "g1", "name": " ", "type": "user_group"});
        let reason = read_group(nameless, 0).unwrap_err().reason;
        assert!(reason.contains("empty name"), "{reason}");
    }

    #[test]
    fn groups_and_member_edges_decode() {
        let group = json!({"id": "g1", "name": "Engineering", "type": "user_group", "membershipMethod": "STATIC"});
        assert_eq!(read_group(group, 0).unwrap().unwrap().name, "Engineering");
        let devices = json!({"id": "g2", "name": "Laptops", "type": "system_group"});
        assert!(read_group(devices, 0).unwrap().is_none());
        for (edge, expected) in [
            (
                json!({"to": {"id": "u1", "type": "user"}, "attributes": null}),
                Some("u1"),
            ),
            (json!({"to": {"id": "s1", "type": "system"}}), None),
            (json!({"from": {"id": "u1"}}), None),
        ] {
            assert_eq!(member_user_id(&edge).as_deref(), expected, "{edge}");
        }
    }
}
