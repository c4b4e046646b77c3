//! OneLogin wire types and their conversion to the neutral model.
//!
//! Records are decoded one by one from the page's JSON array, so a record
//! that cannot be read is skipped with a reason instead of failing the page.

use serde::Deserialize;
use serde_json::Value;

use crate::model::{SkippedRecord, SourceGroup, SourceUser};
use crate::source::kit::records::Record;
use crate::source::kit::values::{scalar, team, top_scalars, trimmed};

/// Raw user fields never copied into attributes, even if an API version
/// returned them: they concern credentials.
const SECRET_FIELDS: &[&str] = &["password", "salt"];

/// A v1 response envelope (`/api/1/groups`).
#[derive(Debug, Deserialize)]
pub struct V1Envelope {
    /// `{"error": false, "code": 200, …}`.
    pub status: Option<V1Status>,
    /// Paging cursors; absent when everything fit one page.
    pub pagination: Option<V1Pagination>,
    /// The records.
    #[serde(default)]
    pub data: Vec<Value>,
}

/// The `status` object of a v1 envelope.
#[derive(Debug, Deserialize)]
pub struct V1Status {
    /// True when the call failed despite a 2xx.
    #[serde(default)]
    pub error: bool,
    /// Human-readable message.
    pub message: Option<String>,
}

/// The `pagination` object of a v1 envelope.
#[derive(Debug, Deserialize)]
pub struct V1Pagination {
    /// Cursor of the next page (`after_cursor=` query parameter).
    pub after_cursor: Option<String>,
}

impl V1Pagination {
    /// The next cursor, if [`live_cursor`].
    pub fn next(&self) -> Option<&str> {
        live_cursor(self.after_cursor.as_deref())
    }
}

/// A cursor that names a next page (v1 `after_cursor`, v2 `After-Cursor`
/// header). The spec does not say how the last page ends it [?]: the
/// official Go SDK stops on an empty value, an absent one can only mean the
/// same, and the vendor examples write `"null"`; `None` on each.
pub fn live_cursor(cursor: Option<&str>) -> Option<&str> {
    cursor
        .map(str::trim)
        .filter(|c| !c.is_empty() && *c != "null")
}

/// Whether a user counts as active: `Some(active)`, or `None` for a status
/// or state value this build does not know (the record is skipped, not
/// guessed). A missing `state` is read as approved: accounts without user
/// approval do not use it.
pub fn status_active(status: i64, state: Option<i64>, provision_unactivated: bool) -> Option<bool> {
    let approved = match state.unwrap_or(1) {
        1 => true, // approved
        // Unapproved, rejected, unlicensed: kept out.
        0 | 2 | 3 => false,
        _ => return None,
    };
    let by_status = match status {
        0 => provision_unactivated, // created, never activated (no first login)
        2 => false,                 // suspended by an admin
        // Locked, password expired, awaiting password reset, password
        // pending, security questions required: still the company's user.
        1 | 3 | 4 | 5 | 7 | 8 => true,
        _ => return None,
    };
    Some(approved && by_status)
}

/// An integer id (or a numeric string) as text.
pub fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(number) => number.as_u64().map(|n| n.to_string()),
        Value::String(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            Some(text.clone())
        }
        _ => None,
    }
}

/// An integer (or a numeric string), as `status` and `state` come.
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// Decodes and converts one user record of `/api/2/users`. `Ok` carries the
/// user and its `updated_at`; `Err` the reason it was skipped.
pub fn read_user(
    value: Value,
    position: usize,
    provision_unactivated: bool,
) -> Result<(SourceUser, Option<String>), SkippedRecord> {
    let id = id_text(value.get("id"));
    let record = Record::named("user", id.clone(), position);
    let Value::Object(fields) = &value else {
        return Err(record.skip("the OneLogin user record is not an object"));
    };
    let id = id.ok_or_else(|| record.skip("the OneLogin user record has no integer id"))?;
    let status = fields.get("status").and_then(integer);
    let status = status.ok_or_else(|| record.skip("the OneLogin user record has no status"))?;
    let state = fields.get("state").filter(|raw| !raw.is_null());
    let unreadable = |raw: &Value| record.skip(format!("unreadable OneLogin state {raw}"));
    let state = state.map(|raw| integer(raw).ok_or_else(|| unreadable(raw)));
    let state = state.transpose()?;
    let active = status_active(status, state, provision_unactivated).ok_or_else(|| {
        let state = state.map_or_else(|| "(none)".to_string(), |s| s.to_string());
        record.skip(format!("unknown OneLogin status {status} or state {state}"))
    })?;
    let mut attributes = top_scalars(&value);
    attributes.retain(|key, _| !SECRET_FIELDS.iter().any(|s| key.contains(s)));
    if let Some(Value::Object(custom)) = fields.get("custom_attributes") {
        for (name, value) in custom {
            if let Some(text) = scalar(value) {
                // A top-level field of the same name keeps its value.
                let key = format!("custom_attributes.{name}");
                attributes.entry(key).or_insert(text);
            }
        }
    }
    if let Some(Value::Array(items)) = fields.get("role_ids") {
        let ids: Vec<String> = items.iter().filter_map(scalar).collect();
        attributes.insert("role_ids".into(), ids.join(","));
    }
    let text = |key: &str| trimmed(fields.get(key).and_then(Value::as_str));
    let user = SourceUser {
        id,
        email: text("email"),
        given_name: text("firstname"),
        family_name: text("lastname"),
        // OneLogin has no display name: the mapping composes one.
        display_name: None,
        active,
        attributes,
    };
    Ok((user, text("updated_at")))
}

/// Decodes one role (`/api/2/roles`) or group (`/api/1/groups`) record
/// (`{"id": 1, "name": "…"}`) as a team, its members read later; `Err`
/// carries the skip. `kind` names the record in the reason.
pub fn read_named(
    value: &Value,
    position: usize,
    kind: &str,
) -> Result<SourceGroup, SkippedRecord> {
    let id = id_text(value.get("id"));
    let record = Record::named("group", id.clone(), position);
    let no = |what: &str| record.skip(format!("the OneLogin {kind} record has no {what}"));
    let id = id.ok_or_else(|| no("integer id"))?;
    let name = trimmed(value.get("name").and_then(Value::as_str)).ok_or_else(|| no("name"))?;
    Ok(team(id, name, Vec::new()))
}

/// The user id of a `/api/2/roles/{id}/users` record, if the user is
/// assigned (records with `"assigned": false` only appear with
/// `include_unassigned`, which we never send, but are ignored all the same).
pub fn role_member(value: &Value) -> Option<String> {
    let unassigned = value.get("assigned").and_then(Value::as_bool) == Some(false);
    id_text(value.get("id")).filter(|_| !unassigned)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    const SAMPLE_USER: &str =
        include_str!("../../../tests/fixtures/onelogin/user-v2.schema-example.json");
    const SAMPLE_ROLE_USERS: &str =
        include_str!("../../../tests/fixtures/onelogin/role-users-v2.200.json");
    const SAMPLE_GROUPS: &str = include_str!("../../../tests/fixtures/onelogin/groups-v1.200.json");
    const SAMPLE_PAGING: &str =
        include_str!("../../../tests/fixtures/onelogin/events-v1-pagination.example.json");

    #[test]
    fn status_and_state_map_to_active_per_the_documented_table() {
        // (status, state, provision_unactivated, expected)
        let cases = [
            (1, Some(1), false, Some(true)),
            (1, None, false, Some(true)),
            (3, Some(1), false, Some(true)),
            (4, Some(1), false, Some(true)),
            (5, Some(1), false, Some(true)),
            (7, Some(1), false, Some(true)),
            (8, Some(1), false, Some(true)),
            (2, Some(1), true, Some(false)),
            (0, Some(1), false, Some(false)),
            (0, Some(1), true, Some(true)),
            (1, Some(0), false, Some(false)),
            (1, Some(2), false, Some(false)),
            (1, Some(3), false, Some(false)),
            (0, Some(0), true, Some(false)),
            (6, Some(1), false, None),
            (9, Some(1), false, None),
            (1, Some(5), false, None),
        ];
        for (status, state, unactivated, expected) in cases {
            assert_eq!(
                status_active(status, state, unactivated),
                expected,
                "status {status} state {state:?} provision_unactivated={unactivated}"
            );
        }
    }

    #[test]
    fn the_vendor_user_shape_converts_with_raw_fields_as_attributes() {
        let mut record: Value = serde_json::from_str(SAMPLE_USER).unwrap();
        let ours = json!({"id": 42, "status": 1, "state": 1, "email": "ann@example.com",
            "firstname": "Ann", "lastname": " ", "updated_at": "2024-05-01T10:00:00.000Z",
            "custom_attributes": {"cost_center": "42-A", "nothing": null}});
        for (key, value) in ours.as_object().unwrap() {
            record[key] = value.clone();
        }
        let (user, updated) = read_user(record, 0, false).unwrap();
        assert_eq!(user.id, "42");
        assert!(user.active);
        assert_eq!(user.email.as_deref(), Some("ann@example.com"));
        assert_eq!(user.given_name.as_deref(), Some("Ann"));
        assert_eq!(user.family_name, None, "blank is absent");
        assert_eq!(updated.as_deref(), Some("2024-05-01T10:00:00.000Z"));
        assert_eq!(user.attributes["username"], "username");
        assert_eq!(user.attributes["group_id"], "6");
        assert_eq!(user.attributes["role_ids"], "1,1");
        assert_eq!(user.attributes["custom_attributes.cost_center"], "42-A");
        let keys: Vec<_> = user.attributes.keys().collect();
        assert!(
            !keys.iter().any(|k| k.contains("password") || *k == "salt"),
            "credential fields are never kept: {keys:?}"
        );
    }

    #[test]
    fn unreadable_records_are_skipped_with_a_reason() {
        let no_id = json!({"status": 1, "email": "a@b.c"});
        let skipped = read_user(no_id, 3, false).unwrap_err();
        assert_eq!(skipped.id, "#3");
        let reason = skipped.reason;
        assert!(reason.contains("no integer id"), "{reason}");
        let odd = json!({"id": 9, "status": 6, "state": 1});
        let skipped = read_user(odd, 0, false).unwrap_err();
        assert_eq!(skipped.id, "9");
        let reason = skipped.reason;
        assert!(reason.contains("unknown OneLogin status 6"), "{reason}");
        let no_status = json!({"id": 9});
        let reason = read_user(no_status, 0, false).unwrap_err().reason;
        assert!(reason.contains("no status"), "{reason}");
        let odd_state = json!({"id": 9, "status": 1, "state": "x"});
        let reason = read_user(odd_state, 0, false).unwrap_err().reason;
        assert_eq!(reason, r#"unreadable OneLogin state "x""#);
        assert!(read_named(&json!({"id": 3}), 0, "role").is_err());
        assert!(read_named(&json!({"name": "x"}), 1, "role").unwrap_err().id == "#1");
    }

    #[test]
    fn the_vendor_samples_decode() {
        let members: Vec<Value> = serde_json::from_str(SAMPLE_ROLE_USERS).unwrap();
        assert_eq!(role_member(&members[0]).as_deref(), Some("345"));
        assert_eq!(role_member(&json!({"id": 1, "assigned": false})), None);

        let groups: V1Envelope = serde_json::from_str(SAMPLE_GROUPS).unwrap();
        assert!(!groups.status.unwrap().error);
        assert!(groups.pagination.is_none(), "one page in the sample");
        let group = read_named(&groups.data[0], 0, "group").unwrap();
        assert_eq!(group.id, "425741");
        assert_eq!(group.name, "group.security.policy.default");

        let paging: V1Pagination = serde_json::from_str(SAMPLE_PAGING).unwrap();
        assert_eq!(
            paging.next(),
            Some("xWNjb3VudF9pZDo6OjUzNDEzLS0jI2lkOjo6OTA0MjU3NTQ2")
        );
        let last = live_cursor(Some("null"));
        assert_eq!(last, None, "the examples write null as a string");
    }
}
