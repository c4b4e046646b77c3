//! The `google` source: a Google Workspace account read through the Admin
//! SDK Directory API by a service account with domain-wide delegation.
//!
//! - Users: `users.list` (`customer` or `domain`, `maxResults=500`,
//!   `projection=basic`, `fields` trimmed to the mapping's needs, the
//!   configured `query`; with `org_units`, one listing per unit with
//!   `orgUnitPath='…'`, which matches the unit and everything below it).
//!   `suspended` or `archived` → inactive; the key is Google's immutable `id`.
//! - Groups: `groups.list` (`maxResults=200`), then `members.list` per group
//!   with `includeDerivedMembership=true`, so users of nested groups count;
//!   only `type: USER` members (see [`proto::Member::user_id`]). A group is
//!   keyed by its `id`, so a rename (name or email) keeps the team; its
//!   `email` is kept too, so `scope` patterns can name a group by address.
//! - Every run reads everything: the Directory API has no delta or
//!   updated-since filter, and a full read is what makes deletions visible.
//!   Requests per run: ⌈users/500⌉ + ⌈groups/200⌉ + Σ⌈members/200⌉.

mod client;
mod federation;
pub(super) mod proto;

use std::collections::BTreeMap;

use self::client::{GoogleClient, encode};
use self::proto::{GROUP_FIELDS, MEMBER_FIELDS, Member, USER_FIELDS, read_group, read_user};
use super::{BoxFuture, FetchContext, Fetched, IdentitySource, SourceError};
use crate::config::{GoogleAccount, GoogleSourceConfig};
use crate::model::{Directory, SkippedRecord, SourceGroup, SourceUser};
use crate::source::kit::records::read_all;

/// Adapter name, as in `source.type`.
pub(crate) const KIND: &str = "google";
/// Largest `maxResults` of `users.list`.
const USERS_PAGE: &str = "500";
/// Largest `maxResults` of `groups.list` and `members.list`.
const GROUPS_PAGE: &str = "200";

/// Reads users, groups and memberships from Google Workspace.
pub struct GoogleSource {
    client: GoogleClient,
    account: GoogleAccount,
    query: Option<String>,
    org_units: Vec<String>,
}

/// `orgUnitPath='…'` with `'` and `\` escaped as the search syntax asks.
fn org_unit_clause(path: &str) -> String {
    let escaped = path.replace('\\', "\\\\").replace('\'', "\\'");
    format!("orgUnitPath='{escaped}'")
}

impl GoogleSource {
    /// Builds the client; `index` names the connection in error messages,
    /// `connection` (its name) becomes the `quotaUser`.
    pub fn new(
        config: &GoogleSourceConfig,
        index: usize,
        connection: &str,
    ) -> Result<Self, SourceError> {
        Ok(GoogleSource {
            client: GoogleClient::new(config, index, connection)?,
            account: config.account.clone(),
            query: config.query.clone(),
            org_units: config.org_units.clone(),
        })
    }

    /// `customer=…` or `domain=…`.
    fn account_param(&self) -> (&'static str, &str) {
        match &self.account {
            GoogleAccount::Customer(id) => ("customer", id.as_str()),
            GoogleAccount::Domain(domain) => ("domain", domain.as_str()),
        }
    }

    /// The `query` of each users listing: the configured clauses, once per
    /// organisational unit when units are set.
    fn user_queries(&self) -> Vec<Option<String>> {
        if self.org_units.is_empty() {
            return vec![self.query.clone()];
        }
        self.org_units
            .iter()
            .map(|unit| {
                let clause = org_unit_clause(unit);
                Some(match &self.query {
                    Some(query) => format!("{clause} {query}"),
                    None => clause,
                })
            })
            .collect()
    }

    async fn read_users(
        &self,
        skipped: &mut Vec<SkippedRecord>,
    ) -> Result<BTreeMap<String, SourceUser>, SourceError> {
        let mut users = BTreeMap::new();
        for query in self.user_queries() {
            let mut params = vec![
                self.account_param(),
                ("maxResults", USERS_PAGE),
                ("projection", "basic"),
                ("fields", USER_FIELDS),
            ];
            if let Some(query) = &query {
                params.push(("query", query));
            }
            let url = self.client.url("users", &params)?;
            let records = self.client.list_all(url, "listing users").await?;
            let read = read_all(records, skipped, read_user);
            users.extend(read.into_iter().map(|user| (user.id.clone(), user)));
        }
        Ok(users)
    }

    /// User ids among a group's members (nested groups' users included).
    async fn members(&self, group_id: &str) -> Result<Vec<String>, SourceError> {
        let url = self.client.url(
            &format!("groups/{}/members", encode(group_id)),
            &[
                ("maxResults", GROUPS_PAGE),
                ("includeDerivedMembership", "true"),
                ("fields", MEMBER_FIELDS),
            ],
        )?;
        let records = self
            .client
            .list_all(url, &format!("listing the members of group {group_id}"))
            .await?;
        let mut ids: Vec<String> = records
            .into_iter()
            .filter_map(|r| serde_json::from_value::<Member>(r).ok())
            .filter_map(|m| m.user_id().map(str::to_string))
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    async fn fetch_directory(&self, context: &FetchContext<'_>) -> Result<Fetched, SourceError> {
        let progress = context.progress;
        let mut skipped = Vec::new();

        progress.message("Reading users from Google Workspace");
        let users = self.read_users(&mut skipped).await?;
        progress.advance(users.len() as u64);

        progress.message("Reading groups from Google Workspace");
        let url = self.client.url(
            "groups",
            &[
                self.account_param(),
                ("maxResults", GROUPS_PAGE),
                ("fields", GROUP_FIELDS),
            ],
        )?;
        let records = self.client.list_all(url, "listing groups").await?;
        let mut groups = Vec::new();
        for group in read_all(records, &mut skipped, read_group) {
            let members = self
                .members(&group.id)
                .await?
                .into_iter()
                .filter(|id| users.contains_key(id))
                .collect();
            groups.push(SourceGroup {
                name: group.display_name(),
                email: group.email.filter(|email| !email.trim().is_empty()),
                id: group.id,
                members,
                built_in: false,
            });
            progress.advance(1);
        }
        Ok(Fetched::full(Directory {
            users: users.into_values().collect(),
            groups,
            skipped,
        }))
    }
}

impl IdentitySource for GoogleSource {
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
            let url = self.client.url(
                "users",
                &[
                    self.account_param(),
                    ("maxResults", "1"),
                    ("fields", USER_FIELDS),
                ],
            )?;
            self.client.first_page(&url, "reading one user").await
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn org_units_are_quoted_and_escaped() {
        assert_eq!(org_unit_clause("/Staff"), "orgUnitPath='/Staff'");
        assert_eq!(
            org_unit_clause("/O'Brien Team"),
            "orgUnitPath='/O\\'Brien Team'"
        );
    }
}
