//! The `pingone` source: a PingOne environment read through the PingOne
//! Platform API by a worker application (client credentials).
//!
//! - Users: `/environments/{env}/users?limit=…` (with `population_id`:
//!   `filter=population.id eq "…"`); `enabled: false` → inactive.
//! - Groups: `/environments/{env}/groups`; with `population_id`, environment
//!   groups and groups of that population only.
//! - Members: `/users?filter=memberOfGroups[id eq "{group}"]` per group, and
//!   the groups a group is nested in: `/groups/{id}/memberOfGroups`.
//! - Nested groups. FACTS leaves open (`[?]`) whether the member filter
//!   matches INDIRECT memberships (through nested groups) or DIRECT ones
//!   only, so the adapter is correct under both: `flatten` unites a group's
//!   listed members with those of every group nested in it (at any depth;
//!   a no-op when PingOne already included them), and `ignore` asks
//!   `/users/{id}/memberOfGroups` (DIRECT/INDIRECT) only for the users
//!   listed for both a group and a group nested in it, the one case where
//!   "listed" may not mean "direct".
//! - Every run reads everything: PingOne has no cheap change feed for users
//!   and groups (the audit `/activities` need a date range, keep 14 days and
//!   have a lower rate limit), so `incremental()` stays false.

mod client;
pub(super) mod proto;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use self::client::PingOneClient;
use self::proto::{Membership, read_group, read_user};
use super::{BoxFuture, FetchContext, Fetched, IdentitySource, SourceError};
use crate::config::{NestedGroups, PingOneSourceConfig};
use crate::model::{Directory, SkippedRecord, SourceGroup, SourceUser};
use crate::source::kit::records::read_all;

/// Adapter name, as in `source.type`.
pub(crate) const KIND: &str = "pingone";

/// `_embedded` keys of membership listings. `groupMemberships` is what
/// `/users/{id}/memberOfGroups` documents; for `/groups/{id}/memberOfGroups`
/// the spec only says "EntityArray" (`[?]`), so `groups` is read as well.
const MEMBERSHIP_KEYS: &[&str] = &["groupMemberships", "groups"];

/// Reads users, groups and memberships from PingOne.
pub struct PingOneSource {
    client: PingOneClient,
    population_id: Option<String>,
    nested_groups: NestedGroups,
    page_size: String,
}

/// What was read about one group.
#[derive(Debug, Default, Clone)]
struct GroupFacts {
    /// Users the member filter listed (direct, maybe indirect too).
    listed: BTreeSet<String>,
    /// Groups nested directly (or, `[?]`, also indirectly) in this one.
    children: BTreeSet<String>,
}

impl PingOneSource {
    /// Builds the client; `index` names the connection in error messages.
    pub fn new(config: &PingOneSourceConfig, index: usize) -> Result<Self, SourceError> {
        Ok(PingOneSource {
            client: PingOneClient::new(config, index)?,
            population_id: config.population_id.clone(),
            nested_groups: config.nested_groups,
            page_size: config.page_size.to_string(),
        })
    }

    /// Access tokens fetched so far (tests check refresh behaviour).
    pub fn tokens_issued(&self) -> u64 {
        self.client.tokens_issued()
    }

    /// Whether a record of `population` is in scope.
    fn in_population(&self, population: Option<&str>) -> bool {
        self.population_id
            .as_deref()
            .is_none_or(|wanted| population.is_none_or(|p| p == wanted))
    }

    async fn read_users(
        &self,
        skipped: &mut Vec<SkippedRecord>,
    ) -> Result<BTreeMap<String, SourceUser>, SourceError> {
        let filter = self
            .population_id
            .as_ref()
            .map(|p| format!("population.id eq \"{p}\""));
        let mut query = vec![("limit", self.page_size.as_str())];
        if let Some(filter) = &filter {
            query.push(("filter", filter));
        }
        let url = self.client.url("users", &query)?;
        let records = self
            .client
            .list_all(url, &["users"], "listing users")
            .await?;
        let mut users = BTreeMap::new();
        for (position, record) in records.into_iter().enumerate() {
            match read_user(record, position) {
                // A user is in scope only if its population matches, even
                // if a server ignored the filter.
                Ok((user, population)) => {
                    if self.population_id.is_none()
                        || population.as_deref() == self.population_id.as_deref()
                    {
                        users.insert(user.id.clone(), user);
                    }
                }
                Err(skip) => skipped.push(skip),
            }
        }
        Ok(users)
    }

    /// Ids of the users a member filter lists for `group_id`.
    async fn listed_members(&self, group_id: &str) -> Result<BTreeSet<String>, SourceError> {
        let filter = format!("memberOfGroups[id eq \"{group_id}\"]");
        let url = self.client.url(
            "users",
            &[("filter", filter.as_str()), ("limit", &self.page_size)],
        )?;
        let records = self
            .client
            .list_all(
                url,
                &["users"],
                &format!("listing the members of group {group_id}"),
            )
            .await?;
        Ok(ids(&records))
    }

    /// Ids of the groups `group_id` is nested in.
    async fn parents(&self, group_id: &str) -> Result<BTreeSet<String>, SourceError> {
        let url = self.client.url(
            &format!("groups/{group_id}/memberOfGroups"),
            &[("limit", &self.page_size)],
        )?;
        let records = self
            .client
            .list_all(
                url,
                MEMBERSHIP_KEYS,
                &format!("reading which groups group {group_id} is nested in"),
            )
            .await?;
        Ok(ids(&records))
    }

    /// Ids of the groups `user_id` is a DIRECT member of.
    async fn direct_groups(&self, user_id: &str) -> Result<BTreeSet<String>, SourceError> {
        let url = self.client.url(
            &format!("users/{user_id}/memberOfGroups"),
            &[("limit", &self.page_size)],
        )?;
        let records = self
            .client
            .list_all(
                url,
                MEMBERSHIP_KEYS,
                &format!("reading the groups of user {user_id}"),
            )
            .await?;
        Ok(records
            .into_iter()
            .filter_map(|r| serde_json::from_value::<Membership>(r).ok())
            .filter(Membership::is_direct)
            .map(|m| m.id)
            .collect())
    }

    async fn fetch_directory(&self, context: &FetchContext<'_>) -> Result<Fetched, SourceError> {
        let progress = context.progress;
        let mut skipped = Vec::new();

        progress.message("Reading users from PingOne");
        let users = self.read_users(&mut skipped).await?;
        progress.advance(users.len() as u64);

        progress.message("Reading groups from PingOne");
        let url = self
            .client
            .url("groups", &[("limit", self.page_size.as_str())])?;
        let records = self
            .client
            .list_all(url, &["groups"], "listing groups")
            .await?;
        let groups = read_all(records, &mut skipped, read_group);

        // Members and nesting of every group: a group outside the
        // population may still be nested in one we keep.
        progress.message("Reading group memberships from PingOne");
        let mut facts: BTreeMap<String, GroupFacts> = groups
            .iter()
            .map(|g| (g.id.clone(), GroupFacts::default()))
            .collect();
        for group in &groups {
            let listed = self.listed_members(&group.id).await?;
            if let Some(entry) = facts.get_mut(&group.id) {
                entry.listed = listed;
            }
            for parent in self.parents(&group.id).await? {
                if let Some(entry) = facts.get_mut(&parent) {
                    entry.children.insert(group.id.clone());
                }
            }
            progress.advance(1);
        }

        let mut direct = BTreeMap::new();
        if self.nested_groups == NestedGroups::Ignore {
            for user in ambiguous_users(&facts) {
                let groups = self.direct_groups(&user).await?;
                direct.insert(user, groups);
            }
        }
        let members = resolve_members(&facts, self.nested_groups, &direct);

        let groups = groups
            .into_iter()
            .filter(|g| self.in_population(g.population.as_ref().map(|p| p.id.as_str())))
            .map(|group| SourceGroup {
                email: None,
                members: members
                    .get(&group.id)
                    .into_iter()
                    .flatten()
                    .filter(|id| users.contains_key(id.as_str()))
                    .cloned()
                    .collect(),
                id: group.id,
                name: group.name,
                built_in: false,
            })
            .collect();
        Ok(Fetched::full(Directory {
            users: users.into_values().collect(),
            groups,
            skipped,
        }))
    }
}

/// The `id` of each record.
fn ids(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Groups nested in `group` at any depth (cycles end).
fn descendants(facts: &BTreeMap<String, GroupFacts>, group: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&str> = vec![group];
    while let Some(current) = stack.pop() {
        for child in facts.get(current).into_iter().flat_map(|f| &f.children) {
            if child != group && seen.insert(child.clone()) {
                stack.push(child);
            }
        }
    }
    seen
}

/// Users listed for a group and also for a group nested in it: the only
/// users whose membership may be INDIRECT when the filter matches those.
fn ambiguous_users(facts: &BTreeMap<String, GroupFacts>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (id, group) in facts {
        for child in descendants(facts, id) {
            if let Some(nested) = facts.get(&child) {
                out.extend(group.listed.intersection(&nested.listed).cloned());
            }
        }
    }
    out
}

/// Each group's member users. `flatten`: the group's listed users and those
/// of every nested group. `ignore`: the listed users, minus ambiguous ones
/// (see [`ambiguous_users`]) whose `direct` groups do not name the group.
fn resolve_members(
    facts: &BTreeMap<String, GroupFacts>,
    mode: NestedGroups,
    direct: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeMap<String, BTreeSet<String>> {
    facts
        .iter()
        .map(|(id, group)| {
            let members = match mode {
                NestedGroups::Flatten => {
                    let mut all = group.listed.clone();
                    for child in descendants(facts, id) {
                        if let Some(nested) = facts.get(&child) {
                            all.extend(nested.listed.iter().cloned());
                        }
                    }
                    all
                }
                NestedGroups::Ignore => group
                    .listed
                    .iter()
                    .filter(|user| direct.get(*user).is_none_or(|groups| groups.contains(id)))
                    .cloned()
                    .collect(),
            };
            (id.clone(), members)
        })
        .collect()
}

impl IdentitySource for PingOneSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn fetch<'a>(
        &'a self,
        context: FetchContext<'a>,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(async move { self.fetch_directory(&context).await })
    }

    fn requests_sent(&self) -> u64 {
        self.client.requests_sent()
    }

    fn check(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(async move {
            let url = self.client.url("users", &[("limit", "1")])?;
            self.client
                .first_page(&url, "reading one user")
                .await
                .map_err(|error| match error {
                    SourceError::Fetch {
                        source_kind,
                        message,
                    } => SourceError::Fetch {
                        source_kind,
                        message: format!(
                            "{message} (check `{}` and the worker app's roles)",
                            self.client.credentials_key()
                        ),
                    },
                    other => other,
                })
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// eng ⊃ platform ⊃ infra, and a cycle a ⊃ b ⊃ a. `indirect`: the
    /// member filter also lists members of nested groups.
    fn facts(indirect: bool) -> BTreeMap<String, GroupFacts> {
        let mut facts = BTreeMap::new();
        let group = |listed: &[&str], children: &[&str]| GroupFacts {
            listed: set(listed),
            children: set(children),
        };
        if indirect {
            facts.insert(
                "eng".into(),
                group(&["ada", "alan", "linus"], &["platform"]),
            );
            facts.insert("platform".into(), group(&["alan", "linus"], &["infra"]));
        } else {
            facts.insert("eng".into(), group(&["ada", "alan"], &["platform"]));
            facts.insert("platform".into(), group(&["alan"], &["infra"]));
        }
        facts.insert("infra".into(), group(&["linus"], &[]));
        facts.insert("a".into(), group(&["x"], &["b"]));
        facts.insert("b".into(), group(&["y"], &["a"]));
        facts
    }

    #[test]
    fn flattening_gives_the_same_teams_under_both_filter_behaviours() {
        for indirect in [false, true] {
            let members =
                resolve_members(&facts(indirect), NestedGroups::Flatten, &BTreeMap::new());
            assert_eq!(members["eng"], set(&["ada", "alan", "linus"]), "{indirect}");
            assert_eq!(members["platform"], set(&["alan", "linus"]));
            assert_eq!(members["infra"], set(&["linus"]));
            assert_eq!(members["a"], set(&["x", "y"]), "cycles end");
            assert_eq!(members["b"], set(&["x", "y"]));
        }
    }

    #[test]
    fn ignoring_nesting_asks_only_about_ambiguous_users() {
        // alan is a direct member of both eng and platform.
        let direct: BTreeMap<String, BTreeSet<String>> = [
            ("alan".to_string(), set(&["eng", "platform"])),
            ("linus".to_string(), set(&["infra"])),
        ]
        .into_iter()
        .collect();
        let both = facts(true);
        assert_eq!(ambiguous_users(&both), set(&["alan", "linus"]));
        let members = resolve_members(&both, NestedGroups::Ignore, &direct);
        assert_eq!(members["eng"], set(&["ada", "alan"]));
        assert_eq!(members["platform"], set(&["alan"]));
        assert_eq!(members["infra"], set(&["linus"]));
        let only_direct = facts(false);
        assert_eq!(ambiguous_users(&only_direct), set(&["alan"]));
        let members = resolve_members(&only_direct, NestedGroups::Ignore, &direct);
        assert_eq!(members["eng"], set(&["ada", "alan"]));
        assert_eq!(members["platform"], set(&["alan"]));
    }
}
