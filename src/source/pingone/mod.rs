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

use self::client::PingOneClient;
use self::proto::{PingOneGroup, ids, read_group, read_user};
use super::{BoxFuture, FetchContext, Fetched, IdentitySource, SourceError};
use crate::config::{NestedGroups, PingOneSourceConfig};
use crate::model::{Directory, SkippedRecord, SourceUser};
use crate::source::kit::records::read_all;
use crate::source::kit::values::team;

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

    async fn read_users(
        &self,
        skipped: &mut Vec<SkippedRecord>,
    ) -> Result<BTreeMap<String, SourceUser>, SourceError> {
        let wanted = &self.population_id;
        let filter = wanted.as_ref().map(|p| format!("population.id eq \"{p}\""));
        let mut query = vec![("limit", self.page_size.as_str())];
        query.extend(filter.as_deref().map(|filter| ("filter", filter)));
        let listing = self
            .client
            .list_all("users", &query, &["users"], "listing users");
        let users = read_all(listing.await?, skipped, read_user).into_iter();
        // A user is in scope only if its population matches, even if a
        // server ignored the filter.
        let users = users.filter(|(_, population)| wanted.is_none() || population == wanted);
        Ok(users.map(|(user, _)| (user.id.clone(), user)).collect())
    }

    async fn fetch_directory(&self, context: &FetchContext<'_>) -> Result<Fetched, SourceError> {
        let (progress, client) = (context.progress, &self.client);
        let mut skipped = Vec::new();

        progress.message("Reading users from PingOne");
        let users = self.read_users(&mut skipped).await?;
        progress.advance(users.len() as u64);

        progress.message("Reading groups from PingOne");
        let limit = [("limit", self.page_size.as_str())];
        let records = client.list_all("groups", &limit, &["groups"], "listing groups");
        let groups = read_all(records.await?, &mut skipped, read_group);

        // Members and nesting of every group: a group outside the
        // population may still be nested in one we keep.
        progress.message("Reading group memberships from PingOne");
        let known = groups.iter().map(|g| (g.id.clone(), GroupFacts::default()));
        let mut facts: BTreeMap<String, GroupFacts> = known.collect();
        for group in &groups {
            let id = &group.id;
            let filter = format!("memberOfGroups[id eq \"{id}\"]");
            let query = [("filter", filter.as_str()), limit[0]];
            let what = format!("listing the members of group {id}");
            let listed = client.list_all("users", &query, &["users"], &what).await?;
            facts.entry(id.clone()).or_default().listed = ids(&listed, false);
            let path = format!("groups/{id}/memberOfGroups");
            let what = format!("reading which groups group {id} is nested in");
            let parents = client.list_all(&path, &limit, MEMBERSHIP_KEYS, &what);
            for parent in ids(&parents.await?, false) {
                if let Some(entry) = facts.get_mut(&parent) {
                    entry.children.insert(id.clone());
                }
            }
            progress.advance(1);
        }

        let mut direct = BTreeMap::new();
        if self.nested_groups == NestedGroups::Ignore {
            for user in ambiguous_users(&facts) {
                let path = format!("users/{user}/memberOfGroups");
                let what = format!("reading the groups of user {user}");
                let groups = client.list_all(&path, &limit, MEMBERSHIP_KEYS, &what);
                direct.insert(user, ids(&groups.await?, true));
            }
        }
        let members = resolve_members(&facts, self.nested_groups, &direct);

        // Environment groups (no population) and those of the population.
        let in_scope = |g: &PingOneGroup| match (&g.population, &self.population_id) {
            (Some(population), Some(wanted)) => population.id == *wanted,
            _ => true,
        };
        let groups = groups
            .into_iter()
            .filter(in_scope)
            .map(|group| {
                let members = members.get(&group.id).into_iter().flatten();
                let known = members.filter(|id| users.contains_key(id.as_str()));
                team(group.id, group.name, known.cloned().collect())
            })
            .collect();
        Ok(Fetched::full(Directory {
            users: users.into_values().collect(),
            groups,
            skipped,
        }))
    }
}

/// The users listed for the groups nested in `group` at any depth (cycles
/// end).
fn nested_listed<'a>(facts: &'a BTreeMap<String, GroupFacts>, group: &str) -> Vec<&'a String> {
    let (mut seen, mut listed) = (BTreeSet::new(), Vec::new());
    let mut stack: Vec<&str> = vec![group];
    while let Some(current) = stack.pop() {
        for child in facts.get(current).into_iter().flat_map(|f| &f.children) {
            if child != group && seen.insert(child) {
                stack.push(child);
                listed.extend(facts.get(child).into_iter().flat_map(|f| &f.listed));
            }
        }
    }
    listed
}

/// Users listed for a group and also for a group nested in it: the only
/// users whose membership may be INDIRECT when the filter matches those.
fn ambiguous_users(facts: &BTreeMap<String, GroupFacts>) -> BTreeSet<String> {
    let listed_twice = facts.iter().flat_map(|(id, group)| {
        let nested = nested_listed(facts, id).into_iter();
        nested.filter(move |user| group.listed.contains(*user))
    });
    listed_twice.cloned().collect()
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
            let listed = group.listed.iter();
            let is_direct = |user: &&String| direct.get(*user).is_none_or(|g| g.contains(id));
            let members = match mode {
                NestedGroups::Flatten => listed.chain(nested_listed(facts, id)).cloned().collect(),
                NestedGroups::Ignore => listed.filter(is_direct).cloned().collect(),
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
        Box::pin(self.client.check())
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
        let (eng, platform): (&[&str], &[&str]) = match indirect {
            true => (&["ada", "alan", "linus"], &["alan", "linus"]),
            false => (&["ada", "alan"], &["alan"]),
        };
        let groups: [(&str, &[&str], &[&str]); 5] = [
            ("eng", eng, &["platform"]),
            ("platform", platform, &["infra"]),
            ("infra", &["linus"], &[]),
            ("a", &["x"], &["b"]),
            ("b", &["y"], &["a"]),
        ];
        let facts = groups.into_iter().map(|(id, listed, children)| {
            let (listed, children) = (set(listed), set(children));
            (id.to_string(), GroupFacts { listed, children })
        });
        facts.collect()
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
        let direct = BTreeMap::from([
            ("alan".to_string(), set(&["eng", "platform"])),
            ("linus".to_string(), set(&["infra"])),
        ]);
        for (indirect, ambiguous) in [(true, &["alan", "linus"][..]), (false, &["alan"])] {
            let facts = facts(indirect);
            assert_eq!(ambiguous_users(&facts), set(ambiguous), "{indirect}");
            let members = resolve_members(&facts, NestedGroups::Ignore, &direct);
            assert_eq!(members["eng"], set(&["ada", "alan"]));
            assert_eq!(members["platform"], set(&["alan"]));
            assert_eq!(members["infra"], set(&["linus"]));
        }
    }
}
