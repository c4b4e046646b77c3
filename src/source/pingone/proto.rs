//! PingOne Platform API wire types and their conversion to the neutral model.
//!
//! Shapes follow the community management spec (Postman-derived) and the
//! official error schemas; FACTS marks several details `[?]`, and where it
//! does the code accepts every plausible form (noted beside each).
//! Records are decoded one by one from a page's `_embedded` array, so a
//! record that cannot be read is skipped with a reason instead of failing
//! the page.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use crate::model::{SkippedRecord, SourceUser};
use crate::source::flatten::flatten_scalars;
use crate::source::kit::http::body_text;
use crate::source::kit::records::Record;
use crate::source::kit::values::trimmed;
use crate::timestamp::parse_rfc3339_millis;

/// A HAL collection page: `{"_links": {"next": {"href"}}, "_embedded": {…}}`.
#[derive(Debug, Default, Deserialize)]
pub struct Page {
    /// `self`, `next`, `prev`.
    #[serde(rename = "_links", default)]
    pub links: Links,
    /// The records, under a key named after the resource (`users`, …).
    #[serde(rename = "_embedded", default)]
    pub embedded: BTreeMap<String, Value>,
}

impl Page {
    /// The records under the first of `keys` present (empty if none is).
    pub fn records(&mut self, keys: &[&str]) -> Vec<Value> {
        keys.iter()
            .find_map(|key| match self.embedded.remove(*key) {
                Some(Value::Array(items)) => Some(items),
                _ => None,
            })
            .unwrap_or_default()
    }
}

/// The links of a page we follow.
#[derive(Debug, Default, Deserialize)]
pub struct Links {
    /// The next page (carries an opaque `cursor`); absent on the last page.
    pub next: Option<Link>,
}

/// A HAL link.
#[derive(Debug, Deserialize)]
pub struct Link {
    /// Absolute URL.
    pub href: String,
}

/// A PingOne user (`/environments/{env}/users`), the part we read.
#[derive(Debug, Deserialize)]
pub struct PingOneUser {
    /// Immutable UUID.
    pub id: String,
    /// Unique per environment; the email fallback.
    pub username: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// `given`, `family`, `formatted`, `middle`.
    pub name: Option<BTreeMap<String, Value>>,
    /// Read-only on the user; `false` means the account is disabled.
    /// Absent is read as enabled (PingOne sets it on every user).
    pub enabled: Option<bool>,
    /// `{"id": "…"}` of the user's population.
    pub population: Option<Reference>,
}

/// `{"id": "…"}` references (population, environment).
#[derive(Debug, Clone, Deserialize)]
pub struct Reference {
    /// The referenced id.
    pub id: String,
}

/// A PingOne group (`/environments/{env}/groups`).
#[derive(Debug, Clone, Deserialize)]
pub struct PingOneGroup {
    /// Immutable UUID.
    pub id: String,
    /// Group name (unique per population / environment).
    pub name: String,
    /// Present for a population group; absent for an environment group.
    pub population: Option<Reference>,
}

/// The `id` of each record (a user, a group); with `direct`, only of the
/// memberships held directly rather than through a nested group: entries of
/// `/users/{id}/memberOfGroups` (`GroupMembership`) or of
/// `/groups/{id}/memberOfGroups` whose `type` is `DIRECT`, or absent (`[?]`
/// whether the group-nesting listing carries it at all).
pub fn ids(records: &[Value], direct: bool) -> BTreeSet<String> {
    let is_direct = |r: &Value| match r.get("type") {
        None | Some(Value::Null) => true,
        Some(Value::String(kind)) => kind.eq_ignore_ascii_case("DIRECT"),
        Some(_) => false,
    };
    let records = records.iter().filter(|r| !direct || is_direct(r));
    records
        .filter_map(|r| r.get("id")?.as_str().map(str::to_owned))
        .collect()
}

/// The Platform error body (`P1Error`): `{id, code, message, details[]}`.
#[derive(Debug, Default, Deserialize)]
pub struct P1Error {
    /// Request id, for Ping support.
    pub id: Option<String>,
    /// `INVALID_DATA`, `ACCESS_FAILED`, `REQUEST_LIMITED`, …
    pub code: Option<String>,
    /// Human-readable message.
    pub message: Option<String>,
    /// Specific problems (`INVALID_FILTER` with its `target`, …).
    #[serde(default)]
    pub details: Vec<P1ErrorDetail>,
}

/// One entry of `details[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct P1ErrorDetail {
    /// `INVALID_FILTER`, `LIMIT_EXCEEDED`, `INVALID_TOKEN`, …
    pub code: Option<String>,
    /// The field or parameter concerned.
    pub target: Option<String>,
    /// What is wrong with it.
    pub message: Option<String>,
    /// For 429: `quotaLimit`, `quotaResetTime`, `retryAfter` (date-times).
    pub inner_error: Option<BTreeMap<String, Value>>,
}

impl P1Error {
    /// One line: `message (CODE); DETAIL_CODE target: detail message; …
    /// [id …]`, or the start of the body when it is not a P1Error.
    pub fn summarise(body: &[u8]) -> String {
        let error = serde_json::from_slice::<P1Error>(body).unwrap_or_default();
        if error.code.is_none() && error.message.is_none() {
            return body_text(body);
        }
        let mut text = match (error.message.unwrap_or_default(), error.code) {
            (message, Some(code)) if !message.is_empty() => format!("{message} ({code})"),
            (_, Some(code)) => code,
            (message, None) => message,
        };
        for detail in error.details {
            let head = [detail.code, detail.target].into_iter().flatten();
            let head = head.collect::<Vec<_>>().join(" ");
            let part = match detail.message {
                Some(message) if !head.is_empty() => format!("{head}: {message}"),
                Some(message) => message,
                None => head,
            };
            if !part.is_empty() {
                text += &format!("; {}", part.trim());
            }
        }
        if let Some(id) = &error.id {
            text.push_str(&format!(" [PingOne request id {id}]"));
        }
        text
    }

    /// The earliest `innerError.retryAfter` of a REQUEST_LIMITED body, as
    /// unix seconds: used when the 429 carries no `Retry-After` header.
    pub fn retry_after_unix(body: &[u8]) -> Option<i64> {
        let error = serde_json::from_slice::<P1Error>(body).ok()?;
        error
            .details
            .iter()
            .filter_map(|d| d.inner_error.as_ref()?.get("retryAfter")?.as_str())
            .filter_map(parse_rfc3339)
            .min()
    }
}

/// Unix seconds of an RFC 3339 date-time (`2026-01-02T03:04:05.678Z`, or
/// with a `±hh:mm` offset); `None`, never a panic, for anything else.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    parse_rfc3339_millis(text.trim()).map(|millis| millis.div_euclid(1000))
}

/// Decodes and converts one user record. `Ok` carries the user and its
/// population id; `Err` the reason it was skipped.
pub fn read_user(
    value: Value,
    position: usize,
) -> Result<(SourceUser, Option<String>), SkippedRecord> {
    let record = Record::new("user", &value, "id", position);
    // Every scalar as a dotted path (`name.given`, `account.status`) for
    // mapping templates; `_links` and arrays are left out.
    let attributes = flatten_scalars(&value, |key| key.starts_with('_'));
    let user: PingOneUser = record.decode(value, "the PingOne user")?;
    record.nonblank(&user.id, "the PingOne user record has an empty id")?;
    let name = |key: &str| trimmed(user.name.as_ref()?.get(key)?.as_str());
    let source = SourceUser {
        id: user.id.clone(),
        // `email` is optional in PingOne; many environments use the email
        // address as the username, so that is the fallback when it is one.
        email: trimmed(user.email.as_deref())
            .or_else(|| trimmed(user.username.as_deref()).filter(|name| name.contains('@'))),
        given_name: name("given"),
        family_name: name("family"),
        display_name: name("formatted"),
        active: user.enabled.unwrap_or(true),
        attributes,
    };
    Ok((source, user.population.map(|p| p.id)))
}

/// Decodes one group record; `Err` carries the skip.
pub fn read_group(value: Value, position: usize) -> Result<PingOneGroup, SkippedRecord> {
    let record = Record::new("group", &value, "id", position);
    let group: PingOneGroup = record.decode(value, "the PingOne group")?;
    record.nonblank(&group.id, "the PingOne group record has an empty id")?;
    record.nonblank(&group.name, "the PingOne group has an empty name")?;
    Ok(group)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const SAMPLE_USERS: &str = include_str!("../../../tests/fixtures/pingone/list-users.page.json");
    const ERROR_429: &str = include_str!("../../../tests/fixtures/pingone/error-429.json");
    const ERROR_400: &str = include_str!("../../../tests/fixtures/pingone/error-400.json");

    #[test]
    fn the_sample_page_converts() {
        let mut page: Page = serde_json::from_str(SAMPLE_USERS).unwrap();
        assert!(page.links.next.is_some());
        let users = page.records(&["users"]);
        assert_eq!(users.len(), 2);
        let (user, population) = read_user(users[0].clone(), 0).unwrap();
        assert_eq!(user.email.as_deref(), Some("ada@example.com"));
        assert_eq!(user.given_name.as_deref(), Some("Ada"));
        assert_eq!(user.family_name.as_deref(), Some("Lovelace"));
        assert!(user.active);
        assert_eq!(population.as_deref(), Some("pop-1"));
        assert_eq!(user.attributes["username"], "ada");
        assert_eq!(user.attributes["account.status"], "OK");
        assert_eq!(user.attributes["population.id"], "pop-1");
        assert_eq!(user.attributes["enabled"], "true");
        assert!(!user.attributes.keys().any(|k| k.starts_with("_links")));
        let (disabled, _) = read_user(users[1].clone(), 1).unwrap();
        assert!(!disabled.active, "enabled: false");
    }

    #[test]
    fn an_email_like_username_stands_in_for_a_missing_email() {
        let grace = "grace@example.com";
        for (username, email) in [(grace, Some(grace)), ("grace", None)] {
            let user = serde_json::json!({"id": "u1", "username": username});
            let read = read_user(user, 0).unwrap().0;
            assert_eq!(read.email.as_deref(), email, "{username}");
        }
    }

    #[test]
    fn unreadable_records_are_skipped_with_a_reason() {
        let no_id = serde_json::json!({"username": "x", "email": "x@y.z"});
        let skipped = read_user(no_id, 4).unwrap_err();
        assert_eq!(skipped.id, "#4");
        let reason = skipped.reason;
        assert!(reason.contains("cannot be read"), "{reason}");
        let odd = serde_json::json!({"id": "u1", "enabled": "yes"});
        assert_eq!(read_user(odd, 0).unwrap_err().id, "u1");
        let nameless = serde_json::json!({"id": "g1", "name": " "});
        let reason = read_group(nameless, 0).unwrap_err().reason;
        assert!(reason.contains("empty name"), "{reason}");
    }

    #[test]
    fn error_bodies_are_summarised_with_their_details() {
        assert_eq!(
            P1Error::summarise(ERROR_400.as_bytes()),
            "The request could not be completed. One or more validation errors were in the request. (INVALID_DATA); INVALID_FILTER filter: The filter is not valid. [PingOne request id 5f2c1c43-3f59-4b1a-9d57-0a9c1d7c2e11]"
        );
        let limited = P1Error::summarise(ERROR_429.as_bytes());
        assert!(
            limited.contains("(REQUEST_LIMITED); LIMIT_EXCEEDED"),
            "{limited}"
        );
        assert_eq!(P1Error::summarise(b"<html>502</html>"), "<html>502</html>");
        assert_eq!(P1Error::summarise(b""), "(no body)");
        assert_eq!(
            P1Error::retry_after_unix(ERROR_429.as_bytes()),
            parse_rfc3339("2026-03-01T12:00:02.000Z")
        );
    }

    #[test]
    fn rfc3339_dates_parse() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00.123Z"), Some(951_868_800));
        assert_eq!(
            parse_rfc3339("2000-03-01T02:00:00+02:00"),
            Some(951_868_800)
        );
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("soon"), None);
    }

    #[test]
    fn memberships_without_a_type_count_as_direct() {
        let records = [
            serde_json::json!({"id": "g", "type": "DIRECT"}),
            serde_json::json!({"id": "n", "type": "INDIRECT"}),
            serde_json::json!({"type": "DIRECT"}),
            serde_json::json!({"id": "u", "type": null}),
            serde_json::json!({"id": "t"}),
            serde_json::json!({"id": "x", "type": 5}),
        ];
        let direct = ["g", "t", "u"].map(String::from);
        assert_eq!(ids(&records, true), BTreeSet::from(direct));
        assert_eq!(ids(&records, false).len(), 5, "every record with an id");
    }
}
