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

use std::collections::BTreeMap;

use serde_json::Value;

use self::client::JumpCloudClient;
use self::proto::{member_user_id, read_group, read_user};
use super::{BoxFuture, FetchContext, Fetched, IdentitySource, SourceError};
use crate::config::JumpCloudSourceConfig;
use crate::model::{Directory, SourceGroup, SourceUser};
use crate::source::kit::records::read_all;

/// Adapter name, as in `source.type`.
pub(crate) const KIND: &str = "jumpcloud";

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

    /// Service-account tokens fetched so far, for tests of token refresh.
    pub fn tokens_issued(&self) -> u64 {
        self.client.tokens_issued()
    }

    async fn fetch_directory(&self, context: &FetchContext<'_>) -> Result<Fetched, SourceError> {
        let progress = context.progress;
        let mut skipped = Vec::new();

        // 1. Users.
        progress.message("Reading users from JumpCloud");
        let records = self
            .client
            .list_v1("api/systemusers", "_id", "listing users")
            .await?;
        let users: BTreeMap<String, SourceUser> =
            read_all(records, &mut skipped, |record, position| {
                read_user(record, position, self.provision_staged)
            })
            .into_iter()
            .map(|user| (user.id.clone(), user))
            .collect();
        progress.advance(users.len() as u64);

        // 2. User groups.
        progress.message("Reading user groups from JumpCloud");
        let records = self
            .client
            .list_v2("api/v2/usergroups", record_id, "listing user groups")
            .await?;
        let groups: Vec<_> = read_all(records, &mut skipped, read_group)
            .into_iter()
            .flatten()
            .collect();

        // 3. Members of each group.
        let mut kept = Vec::with_capacity(groups.len());
        for group in groups {
            let path = format!("api/v2/usergroups/{}/members", encode_segment(&group.id));
            let edges = self
                .client
                .list_v2(
                    &path,
                    edge_id,
                    &format!("listing the members of user group {}", group.id),
                )
                .await?;
            let mut members: Vec<String> = edges.iter().filter_map(member_user_id).collect();
            if members.len() < edges.len() {
                tracing::debug!(
                    source = KIND,
                    group = %group.id,
                    ignored = edges.len() - members.len(),
                    "Ignored group members that are not users."
                );
            }
            members.sort();
            members.dedup();
            kept.push(SourceGroup {
                email: None,
                id: group.id,
                name: group.name,
                members,
                built_in: false,
            });
        }

        Ok(Fetched::full(Directory {
            users: users.into_values().collect(),
            groups: kept,
            skipped,
        }))
    }
}

/// `id` of a v2 record.
fn record_id(record: &Value) -> Option<String> {
    record.get("id").and_then(Value::as_str).map(str::to_owned)
}

/// `to.id` of a member edge.
fn edge_id(record: &Value) -> Option<String> {
    record
        .get("to")
        .and_then(|to| to.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Percent-encodes a path segment (ids are hex ObjectIds; this keeps an odd
/// id from changing the path).
fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
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
        self.client.requests_sent()
    }

    fn check(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(async move { self.client.first_user_page().await })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_are_read_from_records_and_edges_and_encoded_in_paths() {
        assert_eq!(record_id(&json!({"id": "g1"})).as_deref(), Some("g1"));
        assert_eq!(
            edge_id(&json!({"to": {"id": "u1", "type": "user"}})).as_deref(),
            Some("u1")
        );
        assert_eq!(edge_id(&json!({"to": null})), None);
        assert_eq!(encode_segment("6a1b2c"), "6a1b2c");
        assert_eq!(encode_segment("../x y"), "..%2Fx%20y");
    }
}
