//! The `jumpcloud` source: a JumpCloud organization read through its APIs.
//!
//! - Users: v1 `GET /api/systemusers` (`{totalCount, results}`), paged with
//!   `skip`/`limit` until `totalCount` records were read.
//! - Groups: v2 `GET /api/v2/usergroups` (user groups only; device and
//!   policy groups hold no people); members: v2
//!   `GET /api/v2/usergroups/{id}/members` (`GraphConnection` edges whose
//!   `to.type` is `user`). v2 lists are bare arrays: a short page ends them,
//!   and `x-total-count` is cross-checked when the server sends it.
//! - Status: suspended (flag or `state: SUSPENDED`) → inactive; STAGED or
//!   not yet activated → `provision_staged` (default: not provisioned).
//! - Every run reads everything: JumpCloud has no change filter on users or
//!   groups (no `lastUpdated` field in the spec); its only change feed is
//!   Directory Insights, a paid add-on with its own event model, so
//!   `incremental()` stays false.

mod client;
pub(super) mod proto;

use self::client::JumpCloudClient;
use self::proto::{member_user_id, read_group, read_user};
use super::{BoxFuture, FetchContext, Fetched, IdentitySource, SourceError};
use crate::config::JumpCloudSourceConfig;
use crate::model::Directory;
use crate::source::kit::encode::component;
use crate::source::kit::records::read_all;
use crate::source::kit::values::{member_ids, team};

/// Adapter name, as in `source.type`.
pub(crate) const KIND: &str = "jumpcloud";

/// Where the id of a record is (JSON pointers): paging de-duplicates by it.
const USER_ID: &str = "/_id";
const GROUP_ID: &str = "/id";
const EDGE_ID: &str = "/to/id";

/// Reads users, user groups and memberships from JumpCloud.
pub struct JumpCloudSource {
    client: JumpCloudClient,
    provision_staged: bool,
}

impl JumpCloudSource {
    /// Builds the client; `index` names the connection in messages.
    pub fn new(config: &JumpCloudSourceConfig, index: usize) -> Result<Self, SourceError> {
        Ok(JumpCloudSource {
            client: JumpCloudClient::new(config, index)?,
            provision_staged: config.provision_staged,
        })
    }

    async fn fetch_directory(&self, context: &FetchContext<'_>) -> Result<Fetched, SourceError> {
        let (progress, client) = (context.progress, &self.client);
        let mut skipped = Vec::new();

        progress.message("Reading users from JumpCloud");
        let records = client.list("api/systemusers", USER_ID, "listing users");
        let mut users = read_all(records.await?, &mut skipped, |record, position| {
            read_user(record, position, self.provision_staged)
        });
        users.sort_by(|a, b| a.id.cmp(&b.id));
        progress.advance(users.len() as u64);

        progress.message("Reading user groups from JumpCloud");
        let records = client.list("api/v2/usergroups", GROUP_ID, "listing user groups");
        let groups = read_all(records.await?, &mut skipped, read_group);

        let mut teams = Vec::with_capacity(groups.len());
        for group in groups.into_iter().flatten() {
            let path = format!("api/v2/usergroups/{}/members", component(&group.id));
            let what = format!("listing the members of user group {}", group.id);
            let edges = client.list(&path, EDGE_ID, &what).await?;
            let members = member_ids(KIND, &group.id, &edges, member_user_id);
            teams.push(team(group.id, group.name, members));
        }
        Ok(Fetched::full(Directory {
            users,
            groups: teams,
            skipped,
        }))
    }
}

impl IdentitySource for JumpCloudSource {
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
        self.client.http.requests_sent()
    }

    fn check(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(self.client.first_user_page())
    }
}
