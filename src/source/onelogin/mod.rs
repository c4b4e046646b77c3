//! The `onelogin` source: a OneLogin account read through its API.
//!
//! - Auth: an API credential pair exchanged for a bearer token at
//!   `/auth/oauth2/v2/token` (client credentials, Basic auth), cached and
//!   renewed before it expires or after a 401.
//! - Users: `/api/2/users`, paged with the `After-Cursor` header.
//! - Teams: roles by default (`/api/2/roles`, members from
//!   `/api/2/roles/{id}/users`), or groups with `teams_from: groups`
//!   (`/api/1/groups`; members are the users whose `group_id` is the group,
//!   as OneLogin has no group-members endpoint).
//! - Incremental: between full reads (`full_fetch_interval`), users come
//!   from `updated_since=<newest updated_at seen>` merged onto the previous
//!   directory; roles, groups and role members are read in full on every
//!   run (OneLogin has no delta for them).
//! - Removals: OneLogin deletes users hard, leaving no trace in an
//!   `updated_since` read, so each incremental run also lists every user's
//!   id (`fields=id`, see `removals`); a user no longer listed leaves the
//!   directory (and is deactivated) in that run.

mod client;
pub(super) mod proto;
mod removals;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::client::OneLoginClient;
use self::proto::{read_named, read_user, role_member};
use super::{BoxFuture, FetchContext, Fetched, IdentitySource, SourceError};
use crate::config::{OneLoginSourceConfig, TeamsFrom};
use crate::model::{Directory, SkippedRecord, SourceGroup, SourceUser};
use crate::progress::Progress;
use crate::source::kit::records::read_all;
use crate::source::kit::values::member_ids;

/// Adapter name, as in `source.type` (and in errors and metrics).
pub(crate) const KIND: &str = "onelogin";

/// Version of the cursor layout: a change forces a full read.
const CURSOR_VERSION: u32 = 1;
/// The user attribute holding the raw `group_id` (teams from groups).
const GROUP_ID: &str = "group_id";

/// Reads users and roles (or groups) from OneLogin.
pub struct OneLoginSource {
    client: OneLoginClient,
    config: OneLoginSourceConfig,
}

/// What the next incremental fetch starts from (stored as JSON).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    version: u32,
    /// Settings the cached directory was read with; a change forces a full read.
    settings: String,
    /// Newest `updated_at` of any user read (OneLogin's clock, not ours).
    users_updated: Option<String>,
}

impl OneLoginSource {
    /// Builds the client; `index` names the connection in messages.
    pub fn new(config: &OneLoginSourceConfig, index: usize) -> Result<Self, SourceError> {
        Ok(OneLoginSource {
            client: OneLoginClient::new(config, index)?,
            config: config.clone(),
        })
    }

    /// The previous cache and cursor, when this run may read only changes.
    fn incremental_base<'a>(
        &self,
        context: &'a FetchContext<'_>,
        settings: &str,
    ) -> Option<(&'a Directory, String)> {
        let previous = context.previous.as_deref()?;
        let cursor: Cursor = serde_json::from_str(previous.cursor.as_deref()?).ok()?;
        let interval = i64::try_from(self.config.full_fetch_interval.as_secs()).unwrap_or(i64::MAX);
        let age = context.now.saturating_sub(previous.last_full_fetch);
        let fresh = (0..interval).contains(&age);
        let since = cursor.users_updated?;
        (fresh && cursor.version == CURSOR_VERSION && cursor.settings == settings)
            .then_some((&previous.directory, since))
    }

    async fn fetch_directory(&self, context: &FetchContext<'_>) -> Result<Fetched, SourceError> {
        let progress = context.progress;
        let settings = format!(
            "teams_from={:?} unactivated={}",
            self.config.teams_from, self.config.provision_unactivated
        );
        let incremental = self.incremental_base(context, &settings);
        // 1. Users: all of them, or the changes and the ids of all.
        progress.message("Reading users from OneLogin");
        let (mut read, full) = self.read_users(incremental).await?;
        progress.advance(read.users.len() as u64);

        // 2. Teams, read in full every run.
        let groups = self.teams(progress, &read.users, &mut read.skipped).await?;

        let cursor = Cursor {
            version: CURSOR_VERSION,
            settings,
            users_updated: read.latest,
        };
        let cursor = serde_json::to_string(&cursor).map_err(|e| SourceError::Fetch {
            source_kind: KIND,
            message: format!("cannot store the cursor: {e}"),
        })?;
        Ok(Fetched {
            directory: Directory {
                users: read.users.into_values().collect(),
                groups,
                skipped: read.skipped,
            },
            cursor: Some(cursor),
            full,
        })
    }

    /// Users in full, or (incremental) those changed since the newest
    /// `updated_at` seen merged onto the previous directory, less the users
    /// the id listing no longer names. `true` with a full read.
    async fn read_users(
        &self,
        incremental: Option<(&Directory, String)>,
    ) -> Result<(UserSet, bool), SourceError> {
        let (client, unactivated) = (&self.client, self.config.provision_unactivated);
        let mut users = UserSet::default();
        if let Some((previous, since)) = incremental {
            users.start_from(previous);
            users.latest = Some(since.clone());
            let changed = [("updated_since", since.as_str())];
            let records = client.list("api/2/users", &changed, "listing changed users");
            users.absorb(records.await?, unactivated);
            // Listed after the changes: a user deleted in between is gone,
            // one created in between is read by id.
            if let Some(listed) = removals::listed_ids(client).await? {
                let unknown = users.keep_listed(&listed);
                removals::read_by_id(client, &mut users, &unknown, unactivated).await?;
                return Ok((users, false));
            }
            tracing::warn!(
                source = KIND,
                "The user id listing has a record without an id: reading every user instead."
            );
            users = UserSet::default();
        }
        let records = client.list("api/2/users", &[], "listing users").await?;
        users.absorb(records, unactivated);
        Ok((users, true))
    }

    /// Every role with its assigned users, or (`teams_from: groups`) every
    /// group with the users whose `group_id` names it.
    async fn teams(
        &self,
        progress: &Progress,
        users: &BTreeMap<String, SourceUser>,
        skipped: &mut Vec<SkippedRecord>,
    ) -> Result<Vec<SourceGroup>, SourceError> {
        let (path, kind, roles) = match self.config.teams_from {
            TeamsFrom::Roles => ("api/2/roles", "role", true),
            TeamsFrom::Groups => ("api/1/groups", "group", false),
        };
        progress.message(&format!("Reading {kind}s from OneLogin"));
        let what = format!("listing {kind}s");
        let records = self.client.list(path, &[], &what).await?;
        let mut in_group: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        if !roles {
            for user in users.values() {
                if let Some(group) = user.attributes.get(GROUP_ID) {
                    in_group.entry(group).or_default().push(user.id.clone());
                }
            }
        }
        let mut teams = read_all(records, skipped, |record, position| {
            read_named(&record, position, kind)
        });
        for team in &mut teams {
            team.members = if roles {
                let path = format!("api/2/roles/{}/users", team.id);
                let what = format!("listing the users of role {}", team.id);
                let records = self.client.list(&path, &[], &what).await?;
                member_ids(KIND, &team.id, &records, role_member)
            } else {
                in_group.get(team.id.as_str()).cloned().unwrap_or_default()
            };
        }
        Ok(teams)
    }
}

/// Users being assembled from the previous directory and a listing.
#[derive(Default)]
struct UserSet {
    users: BTreeMap<String, SourceUser>,
    skipped: Vec<SkippedRecord>,
    latest: Option<String>,
}

impl UserSet {
    /// Starts from the previous directory's users and user skips.
    fn start_from(&mut self, previous: &Directory) {
        let users = previous.users.iter().map(|u| (u.id.clone(), u.clone()));
        self.users = users.collect();
        let skips = previous.skipped.iter().filter(|s| s.kind == "user");
        self.skipped = skips.cloned().collect();
    }

    /// Adds records of a listing; a record read again replaces the old one,
    /// and a record now unreadable replaces the user with a skip.
    fn absorb(&mut self, records: Vec<Value>, provision_unactivated: bool) {
        for (position, record) in records.into_iter().enumerate() {
            match read_user(record, position, provision_unactivated) {
                Ok((user, updated)) => {
                    self.latest = self.latest.take().max(updated);
                    self.skipped.retain(|s| s.id != user.id);
                    self.users.insert(user.id.clone(), user);
                }
                Err(skipped) => {
                    self.users.remove(&skipped.id);
                    self.skipped.retain(|s| s.id != skipped.id);
                    self.skipped.push(skipped);
                }
            }
        }
    }
}

impl IdentitySource for OneLoginSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn fetch<'a>(
        &'a self,
        context: FetchContext<'a>,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(async move { self.fetch_directory(&context).await })
    }

    fn incremental(&self) -> bool {
        true
    }

    fn own_attributes(&self) -> &'static [&'static str] {
        &[GROUP_ID]
    }

    fn requests_sent(&self) -> u64 {
        self.client.http.requests_sent()
    }

    fn check(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(self.client.check())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;

    fn user(id: u64, updated: &str, status: u64) -> Value {
        json!({"id": id, "email": format!("u{id}@example.com"), "status": status, "state": 1, "updated_at": updated, "group_id": 7})
    }

    #[test]
    fn a_listing_read_again_replaces_users_and_tracks_the_newest_update() {
        let mut set = UserSet::default();
        let first = vec![
            user(1, "2024-01-02T00:00:00Z", 1),
            user(2, "2024-01-03T00:00:00Z", 1),
            json!({"id": 3, "status": 42}),
        ];
        set.absorb(first, false);
        assert_eq!(set.users.len(), 2);
        assert_eq!(set.skipped.len(), 1);
        assert_eq!(set.latest.as_deref(), Some("2024-01-03T00:00:00Z"));

        let previous = Directory {
            users: set.users.values().cloned().collect(),
            skipped: set.skipped.clone(),
            ..Directory::default()
        };
        let mut next = UserSet::default();
        next.start_from(&previous);
        let again = vec![
            user(1, "2024-01-04T00:00:00Z", 2),
            json!({"id": 3, "status": 1, "updated_at": "2024-01-01T00:00:00Z"}),
        ];
        next.absorb(again, false);
        assert!(!next.users["1"].active, "suspended now");
        assert!(next.users.contains_key("3"), "fixed record is back");
        assert!(next.skipped.is_empty());
        assert_eq!(next.latest.as_deref(), Some("2024-01-04T00:00:00Z"));
    }

    #[test]
    fn users_missing_from_the_listing_leave_and_unknown_ids_are_returned() {
        let mut set = UserSet::default();
        let readable = [1, 2].map(|id| json!({"id": id, "status": 1, "state": 1}));
        let unreadable = [3, 4].map(|id| json!({"id": id, "status": 42}));
        set.absorb(readable.into_iter().chain(unreadable).collect(), false);
        let unknown = set.keep_listed(&BTreeSet::from(["1", "3", "9"].map(String::from)));
        assert_eq!(unknown, ["9"]);
        assert_eq!(set.users.keys().collect::<Vec<_>>(), ["1"]);
        let skipped: Vec<_> = set.skipped.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(skipped, ["3"]);
    }
}
