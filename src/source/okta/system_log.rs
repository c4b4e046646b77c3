//! The System Log as the change feed for what `lastUpdated` cannot show.
//!
//! A user deactivated and deleted between two runs never appears in a
//! `lastUpdated gt` read again, so incremental runs also read
//! `/api/v1/logs` for user lifecycle and group membership events since the
//! last position (minus an overlap, as events can be persisted late), and
//! the adapter refreshes exactly the users and groups they name. Where the
//! log cannot be read (403: an OAuth app without `okta.logs.read`, an admin
//! role without the log; or a position older than the log's retention) the
//! caller reads everything instead, on every run, until it can.

use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use super::client::OktaClient;
use crate::source::SourceError;
use crate::timestamp::{parse_rfc3339_millis, rfc3339};

/// How far before the last position a read starts again (and how far
/// before the newest `lastUpdated` seen the users read starts): events and
/// updates can become visible a little after the time they carry.
pub(super) const OVERLAP_MS: i64 = 5 * 60 * 1000;
/// Okta keeps System Log events 90 days; a position older than this (a day
/// of margin) may have lost events, so it is not trusted.
const RETENTION_MS: i64 = 89 * 86_400 * 1000;
/// Events per page: the API's maximum.
const LOG_PAGE: &str = "1000";
/// Events that change who is active or who is in a group. Activation,
/// profile and status returns move `lastUpdated` and are read there.
const EVENT_TYPES: &[&str] = &[
    "user.lifecycle.deactivate",
    "user.lifecycle.suspend",
    "user.lifecycle.delete.initiated",
    "group.user_membership.add",
    "group.user_membership.remove",
];

/// What the events since the last position name.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct LogChanges {
    /// Users to read again (or drop, if Okta no longer has them).
    pub users: BTreeSet<String>,
    /// Groups whose members to read again.
    pub groups: BTreeSet<String>,
    /// Where the next read starts: the newest event's `published`, never
    /// before the last position.
    pub newest: Option<String>,
}

/// Unix milliseconds as Okta writes them.
fn iso(ms: i64) -> String {
    rfc3339(UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// Where a `lastUpdated gt` read starts: the newest `lastUpdated` seen, but
/// no later than the overlap before the previous read (`read_at`, Unix
/// seconds): an update stamped in the same millisecond as the newest one,
/// or made visible late, is read again rather than missed, while a quiet
/// org costs one request. `newest` as is if it cannot be read.
pub(super) fn users_since(newest: &str, read_at: Option<i64>) -> String {
    let Some(newest_ms) = parse_rfc3339_millis(newest) else {
        return newest.to_owned();
    };
    let floor = read_at.map_or(newest_ms, |at| at.saturating_mul(1000));
    iso(newest_ms.min(floor.saturating_sub(OVERLAP_MS)))
}

/// Reads the events published since `position` (minus the overlap) up to
/// now (`now`: Unix seconds, ours), oldest first, every page: `Ok(Err(why))`
/// when the log cannot be used (for the one warning; the caller reads in
/// full).
pub(super) async fn read_changes(
    client: &OktaClient,
    position: &str,
    now: i64,
) -> Result<Result<LogChanges, String>, SourceError> {
    let Some(position_ms) = parse_rfc3339_millis(position) else {
        return Ok(Err(format!(
            "the stored System Log position {position:?} cannot be read"
        )));
    };
    let now_ms = now.saturating_mul(1000);
    if now_ms.saturating_sub(position_ms) > RETENTION_MS {
        return Ok(Err(format!(
            "the last System Log position ({position}) is older than the log's 90-day retention"
        )));
    }
    let filter = EVENT_TYPES
        .iter()
        .map(|t| format!("eventType eq \"{t}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let since = iso(position_ms.saturating_sub(OVERLAP_MS));
    // Bounded (since and until): the last page has no next link. Until is
    // never before the position, whatever our clock says.
    let until = iso(now_ms.max(position_ms).saturating_add(1000));
    let url = client.url(
        "api/v1/logs",
        &[
            ("since", &since),
            ("until", &until),
            ("filter", &filter),
            ("limit", LOG_PAGE),
            ("sortOrder", "ASCENDING"),
        ],
    )?;
    let events = usable(client.list_all(url, "reading the System Log").await)?;
    Ok(events.map(|events| changes_of(&events, position)))
}

/// The newest event's `published` (any type), for the position a full read
/// starts the log from: `Ok(None)` for an empty log, `Err(why)` when the log
/// cannot be read. One request: newest first, one event, no paging.
pub(super) async fn newest_position(
    client: &OktaClient,
) -> Result<Result<Option<String>, String>, SourceError> {
    let url = client.url(
        "api/v1/logs",
        &[("limit", "1"), ("sortOrder", "DESCENDING")],
    )?;
    let page = client.get_json(&url, "reading the newest System Log event");
    Ok(usable(page.await)?.map(|page| {
        let published = page.get(0)?.get("published")?.as_str()?;
        parse_rfc3339_millis(published).map(|_| published.to_owned())
    }))
}

/// A log read's answer, with a 403 (the token is good, the log is not
/// granted) as the reason the log is unusable; any other error (a bad
/// token's 401 included) stays one. The shared HTTP layer reports both as
/// `Unauthorized`, its message naming the status as "answered 403 Forbidden".
fn usable<T>(answer: Result<T, SourceError>) -> Result<Result<T, String>, SourceError> {
    match answer {
        Ok(answer) => Ok(Ok(answer)),
        Err(SourceError::Unauthorized { message, .. }) if message.contains(" answered 403 ") => {
            Ok(Err(message))
        }
        Err(error) => Err(error),
    }
}

/// Users and groups named by the events' targets (searched by `type`, as
/// the spec advises: positions in `target` vary by event type), and the
/// later of `position` and the newest event.
fn changes_of(events: &[Value], position: &str) -> LogChanges {
    let mut changes = LogChanges {
        newest: Some(position.to_owned()),
        ..LogChanges::default()
    };
    for event in events {
        let targets = event.get("target").and_then(Value::as_array);
        for target in targets.into_iter().flatten() {
            let Some(id) = target.get("id").and_then(Value::as_str) else {
                continue;
            };
            match target.get("type").and_then(Value::as_str) {
                Some("User") => changes.users.insert(id.to_owned()),
                Some("UserGroup") => changes.groups.insert(id.to_owned()),
                _ => false,
            };
        }
        if let Some(published) = event.get("published").and_then(Value::as_str)
            && let Some(ms) = parse_rfc3339_millis(published)
            && changes
                .newest
                .as_deref()
                .and_then(parse_rfc3339_millis)
                .is_none_or(|newest| newest < ms)
        {
            changes.newest = Some(published.to_owned());
        }
    }
    changes
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn targets_are_found_by_type_and_the_newest_event_is_the_position() {
        let events = [
            json!({"eventType": "group.user_membership.remove", "published": "2026-01-02T03:04:06.000Z",
                   "target": [{"id": "00g1", "type": "UserGroup"}, {"id": "00u1", "type": "User"}]}),
            json!({"eventType": "user.lifecycle.deactivate", "published": "2026-01-02T03:04:05.000Z",
                   "target": [{"id": "00u2", "type": "User"}, {"id": "0oa1", "type": "AppInstance"}]}),
            json!({"eventType": "user.lifecycle.suspend", "target": [{"type": "User"}]}),
        ];
        let changes = changes_of(&events, "2026-01-02T03:04:00.000Z");
        assert_eq!(
            changes.users,
            BTreeSet::from(["00u1".into(), "00u2".into()])
        );
        assert_eq!(changes.groups, BTreeSet::from(["00g1".into()]));
        assert_eq!(changes.newest.as_deref(), Some("2026-01-02T03:04:06.000Z"));
        let later = "2026-01-02T03:04:07.000Z";
        assert_eq!(changes_of(&events, later).newest.as_deref(), Some(later));
    }

    #[test]
    fn the_users_read_overlaps_the_five_minutes_before_the_last_read() {
        let newest = "2023-11-14T22:13:25.000Z";
        let at = parse_rfc3339_millis(newest).unwrap() / 1000;
        // Read right after the newest update: five minutes before it.
        assert_eq!(users_since(newest, Some(at)), "2023-11-14T22:08:25.000Z");
        // Read long after: from the newest update itself.
        assert_eq!(users_since(newest, Some(at + 3600)), newest);
        // No read time stored: the overlap before the newest update.
        assert_eq!(users_since(newest, None), "2023-11-14T22:08:25.000Z");
        assert_eq!(users_since("yesterday", Some(at)), "yesterday");
    }
}
