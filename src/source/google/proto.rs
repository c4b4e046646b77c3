//! Admin SDK Directory API wire types (discovery revision 20260531) and
//! their conversion to the neutral model.
//!
//! Records are decoded one by one from a page's array, so a record that
//! cannot be read is skipped with a reason instead of failing the page.
//! Every field the API marks output-only or that FACTS leaves `[?]` (member
//! `status`, missing arrays on empty pages, error `status`/`details`) is
//! optional here.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::model::{SkippedRecord, SourceUser};
use crate::source::kit::http::body_text;
use crate::source::kit::records::Record;

/// `fields=` of `users.list`: only what the mapping reads.
pub const USER_FIELDS: &str = "nextPageToken,users(id,primaryEmail,name(givenName,familyName,fullName),suspended,archived,orgUnitPath)";
/// `fields=` of `groups.list`.
pub const GROUP_FIELDS: &str = "nextPageToken,groups(id,email,name)";
/// `fields=` of `members.list`.
pub const MEMBER_FIELDS: &str = "nextPageToken,members(id,email,type,status)";

/// One page of a `users`, `groups` or `members` listing. An empty listing
/// may omit its array (FACTS `[?]`), which reads as empty.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// `users.list` records.
    #[serde(default)]
    pub users: Option<Vec<Value>>,
    /// `groups.list` records.
    #[serde(default)]
    pub groups: Option<Vec<Value>>,
    /// `members.list` records.
    #[serde(default)]
    pub members: Option<Vec<Value>>,
    /// Opaque token of the next page; absent on the last page.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

impl Page {
    /// The records of the listing, whichever array it has.
    pub fn records(self) -> Vec<Value> {
        self.users
            .or(self.groups)
            .or(self.members)
            .unwrap_or_default()
    }

    /// The next page token, if it is a non-empty string.
    pub fn next(&self) -> Option<&str> {
        self.next_page_token
            .as_deref()
            .filter(|token| !token.is_empty())
    }
}

/// A group record, the part we read.
#[derive(Debug, Clone, Deserialize)]
pub struct GoogleGroup {
    /// Stable id (Google: never key on the email, it can change).
    pub id: String,
    /// The group's address; scope entries may name it.
    #[serde(default)]
    pub email: Option<String>,
    /// Display name; the team name.
    #[serde(default)]
    pub name: Option<String>,
}

impl GoogleGroup {
    /// The team name: the group's name, else its email.
    pub fn display_name(&self) -> String {
        let name = self.name.as_deref().map(str::trim).unwrap_or_default();
        if name.is_empty() {
            self.email.clone().unwrap_or_default()
        } else {
            name.to_string()
        }
    }
}

/// A member record (`members.list`).
#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    /// The user's (or group's, or customer's) id.
    #[serde(default)]
    pub id: Option<String>,
    /// `USER`, `GROUP`, `CUSTOMER` or `EXTERNAL`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// `ACTIVE` or `SUSPENDED` seen; other values `[?]`.
    #[serde(default)]
    pub status: Option<String>,
}

impl Member {
    /// The user id of a member that counts: a `USER` whose status is
    /// absent, `ACTIVE` or `SUSPENDED` (the user's own `suspended` decides
    /// whether it is active). Other statuses (a pending invitation, `[?]`)
    /// are not memberships; `GROUP` rows are the nesting itself (their users
    /// come through `includeDerivedMembership`), `CUSTOMER` means "everyone"
    /// and is not expanded.
    pub fn user_id(&self) -> Option<&str> {
        let is_user = self.kind.as_deref() == Some("USER");
        let counts = self.status.as_deref().is_none_or(|s| {
            s.eq_ignore_ascii_case("ACTIVE") || s.eq_ignore_ascii_case("SUSPENDED")
        });
        self.id
            .as_deref()
            .filter(|id| is_user && counts && !id.trim().is_empty())
    }
}

/// `{"error":{"code","message","errors":[{"reason","message","domain"}],"status"}}`.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    /// The error.
    #[serde(default)]
    pub error: Option<ErrorDetail>,
}

/// The `error` object of an API error body.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorDetail {
    /// Message for people.
    #[serde(default)]
    pub message: Option<String>,
    /// Canonical status name (`PERMISSION_DENIED`); optional.
    #[serde(default)]
    pub status: Option<String>,
    /// Legacy reasons (`userRateLimitExceeded`, `backendError`).
    #[serde(default)]
    pub errors: Vec<ErrorItem>,
}

/// One entry of `error.errors`.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorItem {
    /// Reason code.
    #[serde(default)]
    pub reason: Option<String>,
}

/// 403 reasons that mean "slow down", not "forbidden" (Directory limits).
const RATE_REASONS: &[&str] = &[
    "userRateLimitExceeded",
    "rateLimitExceeded",
    "quotaExceeded",
];

impl ErrorBody {
    /// Parses an error body; anything else reads as empty.
    pub fn parse(body: &[u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_default()
    }

    /// Whether a reason says the request was throttled.
    pub fn is_rate_limited(&self) -> bool {
        self.reasons()
            .iter()
            .any(|reason| RATE_REASONS.contains(&reason.as_str()))
    }

    /// The legacy reasons.
    pub fn reasons(&self) -> Vec<String> {
        self.error
            .iter()
            .flat_map(|e| &e.errors)
            .filter_map(|item| item.reason.clone())
            .collect()
    }

    /// One line: the message, then the reasons or status in brackets.
    pub fn summarise(body: &[u8]) -> String {
        let parsed = Self::parse(body);
        let Some(error) = &parsed.error else {
            return body_text(body);
        };
        let message = error
            .message
            .clone()
            .unwrap_or_else(|| "(no message)".into());
        let mut codes = parsed.reasons();
        codes.extend(error.status.clone());
        if codes.is_empty() {
            message
        } else {
            format!("{message} ({})", codes.join(", "))
        }
    }
}

/// A 200 from the metadata server's token endpoint (the grant's own token
/// is read by the source kit).
#[derive(Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
}

/// Reads one user record; `Err` carries the skip. `suspended` or `archived`
/// users are inactive; the id is Google's immutable `id`.
pub fn read_user(value: Value, position: usize) -> Result<SourceUser, SkippedRecord> {
    let record = Record::new("user", &value, "id", position);
    let attributes = flatten_scalars(&value);
    let text = |path: &[&str]| {
        path.iter()
            .try_fold(&value, |node, key| node.get(key))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let flag = |key: &str| value.get(key).and_then(Value::as_bool).unwrap_or(false);
    let Some(id) = text(&["id"]) else {
        return Err(record.skip("the Google user record has no id"));
    };
    Ok(SourceUser {
        id,
        email: text(&["primaryEmail"]),
        given_name: text(&["name", "givenName"]),
        family_name: text(&["name", "familyName"]),
        display_name: text(&["name", "fullName"]),
        active: !flag("suspended") && !flag("archived"),
        attributes,
    })
}

/// Reads one group record; `Err` carries the skip.
pub fn read_group(value: Value, position: usize) -> Result<GoogleGroup, SkippedRecord> {
    let record = Record::new("group", &value, "id", position);
    let group: GoogleGroup = record.decode(value, "the Google group")?;
    record.nonblank(&group.id, "the Google group record has an empty id")?;
    Ok(group)
}

/// Every scalar of a record as dotted paths (`name.fullName`,
/// `orgUnitPath`, `suspended`), for mapping templates; arrays are left out.
fn flatten_scalars(value: &Value) -> BTreeMap<String, String> {
    crate::source::flatten::flatten_scalars(value, |_| false)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const USERS: &str =
        include_str!("../../../tests/fixtures/google/users-list.schema-built.200.json");
    const USERS_DOC: &str = include_str!("../../../tests/fixtures/google/users-list.200.json");
    const MEMBERS: &str =
        include_str!("../../../tests/fixtures/google/members-list.derived.schema-built.200.json");
    const ERROR_503: &str =
        include_str!("../../../tests/fixtures/google/error-503-backendError.json");

    #[test]
    fn users_map_suspension_and_ids() {
        let page: Page = serde_json::from_str(USERS).unwrap();
        assert_eq!(page.next(), Some("EXAMPLE-OPAQUE-PAGE-TOKEN"));
        let users: Vec<SourceUser> = page
            .records()
            .into_iter()
            .enumerate()
            .map(|(i, v)| read_user(v, i).unwrap())
            .collect();
        assert_eq!(users[0].id, "111220860655841818702");
        assert_eq!(users[0].email.as_deref(), Some("liz@example.com"));
        assert_eq!(users[0].given_name.as_deref(), Some("Liz"));
        assert_eq!(users[0].display_name.as_deref(), Some("Liz Smith"));
        assert!(users[0].active);
        assert_eq!(users[0].attributes["orgUnitPath"], "/Sales");
        assert!(!users[1].active, "suspended");
        let archived = serde_json::json!({"id": "9", "primaryEmail": "a@x", "archived": true});
        assert!(!read_user(archived, 0).unwrap().active);
        let none = serde_json::json!({"primaryEmail": "a@x"});
        assert_eq!(read_user(none, 3).unwrap_err().id, "#3");
    }

    #[test]
    fn the_documentation_sample_reads_too() {
        let page: Page = serde_json::from_str(USERS_DOC).unwrap();
        let users: Vec<SourceUser> = page
            .records()
            .into_iter()
            .map(|v| read_user(v, 0).unwrap())
            .collect();
        assert_eq!(users.len(), 2);
        assert!(users[0].active);
        assert!(!users[1].active, "admin2 is suspended");
    }

    #[test]
    fn only_user_members_count() {
        let page: Page = serde_json::from_str(MEMBERS).unwrap();
        assert_eq!(page.next(), None, "last page");
        let ids: Vec<String> = page
            .records()
            .into_iter()
            .filter_map(|v| serde_json::from_value::<Member>(v).ok())
            .filter_map(|m| m.user_id().map(str::to_string))
            .collect();
        assert_eq!(ids, ["111220860655841818702", "104523938457385930291"]);
        let pending: Member = serde_json::from_value(
            serde_json::json!({"id": "1", "type": "USER", "status": "PENDING"}),
        )
        .unwrap();
        assert_eq!(pending.user_id(), None);
        let empty: Page = serde_json::from_str("{\"kind\":\"admin#directory#members\"}").unwrap();
        assert!(empty.records().is_empty());
    }

    #[test]
    fn error_bodies_are_summarised_and_classified() {
        assert_eq!(
            ErrorBody::summarise(ERROR_503.as_bytes()),
            "Service unavailable. Please try again (backendError)"
        );
        let limited = br#"{"error":{"code":403,"message":"Quota exceeded","errors":[{"reason":"userRateLimitExceeded"}]}}"#;
        assert!(ErrorBody::parse(limited).is_rate_limited());
        let forbidden = br#"{"error":{"code":403,"message":"Not Authorized to access this resource/api","errors":[{"reason":"forbidden"}],"status":"PERMISSION_DENIED"}}"#;
        assert!(!ErrorBody::parse(forbidden).is_rate_limited());
        assert_eq!(
            ErrorBody::summarise(forbidden),
            "Not Authorized to access this resource/api (forbidden, PERMISSION_DENIED)"
        );
        assert_eq!(ErrorBody::summarise(b""), "(no body)");
    }
}
