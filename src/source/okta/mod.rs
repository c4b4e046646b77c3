//! The `okta` source: an Okta org read through the Management API.
//!
//! - Users: `/api/v1/users` (plain listing, which omits DEPROVISIONED users)
//!   plus `filter=status eq "DEPROVISIONED"` once earlier fetches know users
//!   (or with `include_deprovisioned`), so an offboarded user is reported
//!   inactive and deactivated rather than treated as deleted.
//! - Groups: `/api/v1/groups`; members: `/api/v1/groups/{id}/users`.
//!   BUILT_IN groups (Everyone) are left out unless named exactly in
//!   `scope.team_groups` or `scope.user_groups`.
//! - `app_id`: only users assigned to the app, directly or through an
//!   assigned group, and only the assigned groups.
//! - Incremental: between full reads (`full_fetch_interval`), users come from
//!   `filter=lastUpdated gt "<newest lastUpdated seen>"` merged onto the
//!   previous directory; groups are always listed, and a member list is read
//!   again only when the group's `lastMembershipUpdated` moved. The users
//!   read overlaps the five minutes before the previous read (an update can
//!   carry the same millisecond as the newest seen, or become visible late).
//! - Removals: a user deactivated and deleted between two runs leaves no
//!   trace in either listing, so incremental runs read the System Log
//!   (`system_log`) and refresh the users and groups its lifecycle and
//!   membership events name; a user Okta no longer has leaves the
//!   directory. Where the log cannot be read, every run is a full read.

mod client;
pub(super) mod proto;
mod system_log;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::client::OktaClient;
use self::proto::{BUILT_IN, OktaGroup, read_group, read_user};
use self::system_log::LogChanges;
use super::{BoxFuture, FetchContext, Fetched, IdentitySource, SourceError};
use crate::config::{OktaSourceConfig, ScopeConfig};
use crate::model::{Directory, SkippedRecord, SourceGroup, SourceUser};
use crate::source::kit::encode::component;
use crate::source::kit::records::read_all;
use crate::source::kit::values::team;

pub(crate) const KIND: &str = "okta";

/// Users per page: Okta's maximum for `/api/v1/users`.
const USER_PAGE: &str = "200";
/// Groups and group members per page (Okta recommends at most 200).
const GROUP_PAGE: &str = "200";
/// App assignments per page (the maximum for `/api/v1/apps/{id}/users`).
const APP_USER_PAGE: &str = "500";
/// Ids per `filter=id eq … or …` look-up of assigned users we lack.
const IDS_PER_FILTER: usize = 20;
/// Version of the cursor layout: a change forces a full read.
const CURSOR_VERSION: u32 = 2;

/// Reads users, groups and memberships from Okta.
pub struct OktaSource {
    client: OktaClient,
    config: OktaSourceConfig,
    /// Group names a BUILT_IN group must match exactly to be kept.
    named_groups: BTreeSet<String>,
}

/// What the next incremental fetch starts from (stored as JSON).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    version: u32,
    /// Settings the cached directory was read with; a change forces a full read.
    settings: String,
    /// Newest `lastUpdated` of any user read (Okta's clock, not ours).
    users_updated: Option<String>,
    /// Group id → `lastMembershipUpdated` when its members were read.
    memberships: BTreeMap<String, String>,
    /// System Log `published` up to which events were applied; `None`
    /// when the log could not be read (then every run reads in full).
    log_position: Option<String>,
    /// Why the log could not be read, so the warning is logged once.
    log_unusable: Option<String>,
    /// When (Unix seconds, our clock) the users were last read.
    users_read_at: Option<i64>,
}

impl OktaSource {
    /// Builds the client. The scope is needed to decide which BUILT_IN
    /// groups are "named"; `index` names the connection in messages.
    pub fn new(
        config: &OktaSourceConfig,
        scope: &ScopeConfig,
        index: usize,
    ) -> Result<Self, SourceError> {
        let exact = |text: &&str| !text.contains(['*', '?', '[', ']']);
        let teams = scope.team_groups.iter().map(|p| p.as_str()).filter(exact);
        let named = teams.chain(scope.user_groups.iter().map(String::as_str));
        let named_groups = named.map(str::to_owned).collect();
        Ok(OktaSource {
            client: OktaClient::new(config, index)?,
            config: config.clone(),
            named_groups,
        })
    }

    fn settings(&self) -> String {
        format!(
            "app={:?} deprovisioned={} staged={} named={:?}",
            self.config.app_id,
            self.config.include_deprovisioned,
            self.config.provision_staged,
            self.named_groups
        )
    }

    fn keeps_group(&self, group: &OktaGroup) -> bool {
        group.group_type != BUILT_IN
            || self.named_groups.contains(&group.profile.name)
            || self.named_groups.contains(&group.id)
    }

    async fn fetch_directory(
        &self,
        context: &mut FetchContext<'_>,
    ) -> Result<Fetched, SourceError> {
        let progress = context.progress;
        let settings = self.settings();
        let (incremental, log, unusable) = self.incremental_base(context, &settings).await?;
        // The previous users move into this run's set, never copied: a
        // delta keeps them, a full read only remembers their ids.
        let previous_users = context
            .previous
            .as_deref_mut()
            .map(|p| std::mem::take(&mut p.directory.users))
            .unwrap_or_default();
        let mut users = UserSet::new(&self.config, previous_users, incremental.is_some());
        let previous = context.previous.as_deref();

        // 1. Users.
        progress.message("Reading users from Okta");
        match &incremental {
            Some(cursor) => {
                users.skipped = previous.map_or(Vec::new(), |p| p.directory.skipped.clone());
                users.skipped.retain(|s| s.kind == "user");
                users.latest = cursor.users_updated.clone();
                let newest = cursor.users_updated.as_deref().unwrap_or_default();
                let since = system_log::users_since(newest, cursor.users_read_at);
                let filter = format!("lastUpdated gt \"{since}\"");
                let changed = self.list_users(Some(&filter), "listing changed users");
                users.absorb(changed.await?);
                self.refresh_users(&mut users, &log.users).await?;
            }
            None => {
                users.absorb(self.list_users(None, "listing users").await?);
                if self.config.include_deprovisioned || !users.known.is_empty() {
                    let filter = Some("status eq \"DEPROVISIONED\"");
                    let offboarded = self.list_users(filter, "listing deprovisioned users");
                    users.absorb(offboarded.await?);
                }
            }
        }
        progress.advance(users.records.len() as u64);

        // 2. Groups, and the app's assignments.
        progress.message("Reading groups from Okta");
        let url = self.client.url("api/v1/groups", &[("limit", GROUP_PAGE)])?;
        let records = self.client.list_all(url, "listing groups").await?;
        let mut skipped_groups = Vec::new();
        let groups = read_all(records, &mut skipped_groups, read_group);
        // Users assigned to the app (directly; through its groups below).
        let (mut app_users, app_groups) = self.app_assignments().await?.unzip();

        // 3. Members of the groups we keep and of the app's groups.
        let previous_groups = previous.iter().flat_map(|p| &p.directory.groups);
        let previous_members: HashMap<_, _> = previous_groups.map(|g| (g.id.as_str(), g)).collect();
        let mut memberships = BTreeMap::new();
        let mut kept = Vec::new();
        for group in &groups {
            let assigned = app_groups
                .as_ref()
                .is_some_and(|ids| ids.contains(&group.id));
            let keep = self.keeps_group(group) && (app_groups.is_none() || assigned);
            if !keep && !assigned {
                continue;
            }
            // Members read before stay unless the group's stamp moved or the
            // System Log names the group.
            let unchanged = match &incremental {
                Some(cursor) if !log.groups.contains(&group.id) => group
                    .last_membership_updated
                    .as_ref()
                    .filter(|stamp| cursor.memberships.get(&group.id) == Some(*stamp))
                    .and_then(|_| previous_members.get(group.id.as_str())),
                _ => None,
            };
            let members = match unchanged {
                Some(previous) => previous.members.clone(),
                None => self.group_members(&group.id).await?,
            };
            if let Some(stamp) = &group.last_membership_updated {
                memberships.insert(group.id.clone(), stamp.clone());
            }
            if assigned && let Some(app_users) = &mut app_users {
                app_users.extend(members.iter().cloned());
            }
            if keep {
                kept.push(SourceGroup {
                    built_in: group.group_type == BUILT_IN,
                    ..team(group.id.clone(), group.profile.name.clone(), members)
                });
            }
        }

        // 4. App scope: assigned users only; fetch assigned users an
        //    incremental read has not seen (assignment does not move
        //    lastUpdated).
        if let Some(assigned) = &app_users {
            if incremental.is_some() {
                let missing: Vec<&String> = assigned
                    .iter()
                    .filter(|id| !users.records.contains_key(*id))
                    .collect();
                let what = "reading newly assigned users";
                users.absorb(self.users_by_id(&missing, what).await?);
            }
            users.records.retain(|id, _| assigned.contains(id));
        }

        let cursor = Cursor {
            version: CURSOR_VERSION,
            settings,
            users_updated: users.latest.clone(),
            memberships,
            // An empty log starts from the newest update seen.
            log_position: log
                .newest
                .or_else(|| users.latest.clone().filter(|_| unusable.is_none())),
            log_unusable: unusable,
            users_read_at: Some(context.now),
        };
        users.skipped.extend(skipped_groups);
        Ok(Fetched {
            directory: Directory {
                users: users.records.into_values().collect(),
                groups: kept,
                skipped: users.skipped,
            },
            // Strings, numbers and string-keyed maps: serialising cannot fail.
            cursor: Some(serde_json::to_string(&cursor).unwrap_or_default()),
            full: incremental.is_none(),
        })
    }

    /// The previous cursor when this run may read only changes, with what
    /// the System Log says changed; or `None` (a full read), with the log
    /// position to start from next time. Last: why the log cannot be used.
    async fn incremental_base(
        &self,
        context: &FetchContext<'_>,
        settings: &str,
    ) -> Result<(Option<Cursor>, LogChanges, Option<String>), SourceError> {
        let interval = i64::try_from(self.config.full_fetch_interval.as_secs()).unwrap_or(i64::MAX);
        let previous = context.previous.as_deref().and_then(|previous| {
            let cursor: Cursor = serde_json::from_str(previous.cursor.as_deref()?).ok()?;
            Some((previous.last_full_fetch, cursor))
        });
        let was_unusable = previous.as_ref().and_then(|(_, c)| c.log_unusable.clone());
        let candidate = previous
            .filter(|(last_full_fetch, cursor)| {
                let age = context.now.saturating_sub(*last_full_fetch);
                (0..interval).contains(&age)
                    && cursor.version == CURSOR_VERSION
                    && cursor.settings == settings
                    && cursor.users_updated.is_some()
            })
            .map(|(_, cursor)| cursor);
        let mut reason = None;
        if let Some(position) = candidate.as_ref().and_then(|c| c.log_position.as_deref()) {
            match system_log::read_changes(&self.client, position, context.now).await? {
                Ok(changes) => return Ok((candidate, changes, None)),
                Err(why) => reason = Some(why),
            }
        }
        // A full read: the log starts from its newest event.
        let (newest, unusable) = match (reason, system_log::newest_position(&self.client).await?) {
            (Some(reason), _) | (None, Err(reason)) => (None, Some(reason)),
            (None, Ok(position)) => (position, None),
        };
        if let Some(reason) = &unusable
            && was_unusable.is_none()
        {
            tracing::warn!(
                source = KIND,
                reason = %reason,
                "The Okta System Log cannot be read: every run reads all users and groups until it can (grant okta.logs.read or a role that can read the log)."
            );
        }
        let changes = LogChanges {
            newest,
            ..LogChanges::default()
        };
        Ok((None, changes, unusable))
    }

    /// Reads again the users the System Log names; one Okta no longer has
    /// was deleted and leaves the directory.
    async fn refresh_users(
        &self,
        users: &mut UserSet<'_>,
        named: &BTreeSet<String>,
    ) -> Result<(), SourceError> {
        let named: Vec<&String> = named.iter().collect();
        let what = "reading users the System Log names";
        let records = self.users_by_id(&named, what).await?;
        let found: BTreeSet<String> = ids(&records);
        users.absorb(records);
        for id in named.into_iter().filter(|id| !found.contains(*id)) {
            users.records.remove(id);
            users.skipped.retain(|s| s.id != *id);
        }
        Ok(())
    }

    /// The records of the users `ids`, `IDS_PER_FILTER` per
    /// `filter=id eq … or …` request.
    async fn users_by_id(&self, ids: &[&String], what: &str) -> Result<Vec<Value>, SourceError> {
        let mut records = Vec::new();
        for chunk in ids.chunks(IDS_PER_FILTER) {
            let terms: Vec<String> = chunk.iter().map(|id| format!("id eq \"{id}\"")).collect();
            records.extend(self.list_users(Some(&terms.join(" or ")), what).await?);
        }
        Ok(records)
    }

    /// The records of one `/api/v1/users` listing, `filter`ed if given.
    async fn list_users(
        &self,
        filter: Option<&str>,
        what: &str,
    ) -> Result<Vec<Value>, SourceError> {
        let filter = filter.map(|filter| ("filter", filter));
        let query: Vec<_> = filter.into_iter().chain([("limit", USER_PAGE)]).collect();
        let url = self.client.url("api/v1/users", &query)?;
        self.client.list_all(url, what).await
    }

    /// Ids of the users and groups assigned to the app, if `app_id` is set.
    async fn app_assignments(
        &self,
    ) -> Result<Option<(BTreeSet<String>, BTreeSet<String>)>, SourceError> {
        let Some(app_id) = &self.config.app_id else {
            return Ok(None);
        };
        let url = self.client.url(
            &format!("api/v1/apps/{app_id}/users"),
            &[("limit", APP_USER_PAGE)],
        )?;
        let users = ids(&self.client.list_all(url, "listing the app's users").await?);
        let url = self.client.url(
            &format!("api/v1/apps/{app_id}/groups"),
            &[("limit", GROUP_PAGE)],
        )?;
        let groups = self.client.list_all(url, "listing the app's groups");
        Ok(Some((users, ids(&groups.await?))))
    }

    /// Ids of a group's members.
    async fn group_members(&self, group_id: &str) -> Result<Vec<String>, SourceError> {
        let path = format!("api/v1/groups/{}/users", component(group_id));
        let url = self.client.url(&path, &[("limit", GROUP_PAGE)])?;
        let what = format!("listing the members of group {group_id}");
        Ok(ids(&self.client.list_all(url, &what).await?))
    }
}

/// The `id`s of listed records (users, groups, members), in listing order.
fn ids<C: FromIterator<String>>(records: &[Value]) -> C {
    records
        .iter()
        .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Users being assembled from one or more listings.
struct UserSet<'a> {
    /// The records read (or kept from the previous directory), by id.
    records: BTreeMap<String, SourceUser>,
    /// Ids the previous directory had (a full read keeps no record of them
    /// until a listing returns it).
    known: BTreeSet<String>,
    skipped: Vec<SkippedRecord>,
    latest: Option<String>,
    config: &'a OktaSourceConfig,
}

impl<'a> UserSet<'a> {
    /// Starts from the previous directory's users: a delta keeps their
    /// records (moved in), a full read only their ids.
    fn new(config: &'a OktaSourceConfig, previous: Vec<SourceUser>, keep: bool) -> Self {
        let known = previous.iter().map(|user| user.id.clone()).collect();
        let records = if keep {
            previous.into_iter().map(|u| (u.id.clone(), u)).collect()
        } else {
            BTreeMap::new()
        };
        UserSet {
            records,
            known,
            skipped: Vec::new(),
            latest: None,
            config,
        }
    }

    /// Adds records of a listing; a record read again replaces the old one.
    fn absorb(&mut self, records: Vec<Value>) {
        for (position, record) in records.into_iter().enumerate() {
            match read_user(record, position, self.config.provision_staged) {
                Ok((user, status, updated)) => {
                    if let Some(updated) = updated
                        && self.latest.as_ref().is_none_or(|l| *l < updated)
                    {
                        self.latest = Some(updated);
                    }
                    self.skipped.retain(|s| s.id != user.id);
                    let offboarded_long_ago = status == "DEPROVISIONED"
                        && !self.config.include_deprovisioned
                        && !self.known.contains(&user.id);
                    if !offboarded_long_ago {
                        self.records.insert(user.id.clone(), user);
                    }
                }
                Err(skipped) => {
                    self.records.remove(&skipped.id);
                    self.skipped.retain(|s| s.id != skipped.id);
                    self.skipped.push(skipped);
                }
            }
        }
    }
}

impl IdentitySource for OktaSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn fetch<'a>(
        &'a self,
        mut context: FetchContext<'a>,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(async move { self.fetch_directory(&mut context).await })
    }

    fn incremental(&self) -> bool {
        true
    }

    fn requests_sent(&self) -> u64 {
        self.client.requests_sent()
    }

    fn check(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(async move {
            let url = self.client.url("api/v1/users", &[("limit", "1")])?;
            self.client.get_json(&url, "reading one user").await?;
            if let Err(reason) = system_log::newest_position(&self.client).await? {
                tracing::warn!(
                    source = KIND,
                    reason = %reason,
                    "The Okta System Log cannot be read: every run will read all users and groups (grant okta.logs.read or a role that can read the log)."
                );
            }
            Ok(())
        })
    }
}
