//! The `scim` source: any SCIM 2.0 server as the identity provider.
//!
//! Reads `/Users` and `/Groups` with `startIndex`/`count` paging. The SCIM
//! `id` is the immutable key; `active` maps directly.

use super::{BoxFuture, FetchContext, Fetched, IdentitySource, SourceError};
use crate::config::ScimSourceConfig;
use crate::model::{Directory, SkippedRecord, SourceGroup, SourceUser};
use crate::ratelimit::Backoff;
use crate::scim::client::listing::ListingRules;
use crate::scim::client::{ScimClient, ScimClientSettings, ScimError};
use crate::scim::{ScimGroup, ScimUser};
use crate::source::kit::records::Record;
use crate::source::kit::values::team;

const KIND: &str = "scim";

/// Reads users and groups from a SCIM 2.0 server.
pub struct ScimSource {
    client: ScimClient,
    page_size: u32,
}

impl ScimSource {
    /// Builds the client; `index` names the connection in error messages.
    pub fn new(config: &ScimSourceConfig, index: usize) -> Result<Self, SourceError> {
        let rate = config.requests_per_second;
        let rules = ListingRules {
            limits: config.limits,
            allow_missing_total: config.allow_missing_total,
            config_key: Some(format!("connections[{index}].source")),
        };
        let client = ScimClient::with_rules(
            ScimClientSettings {
                base_url: config.base_url.clone(),
                token: config.token.clone(),
                token_key: format!("connections[{index}].source.token"),
                service: "The SCIM source".into(),
                requests_per_second: rate,
                burst: rate,
                timeout: config.timeout,
                backoff: Backoff::default(),
                ca: config.ca_file.clone(),
                proxy: config.proxy.clone(),
            },
            rules,
        )
        .map_err(|e| SourceError::Setup {
            source_kind: KIND,
            message: e.to_string(),
        })?;
        Ok(ScimSource {
            client,
            page_size: config.page_size.max(1),
        })
    }
}

fn fetch_error(error: ScimError) -> SourceError {
    let (source_kind, message) = (KIND, error.to_string());
    if error.is_fatal() {
        SourceError::Unauthorized {
            source_kind,
            message,
        }
    } else {
        SourceError::Fetch {
            source_kind,
            message,
        }
    }
}

/// Converts one SCIM user; `Err` carries the skip reason.
fn to_source_user(user: ScimUser) -> Result<SourceUser, SkippedRecord> {
    if user.id.trim().is_empty() {
        return Err(no_id("user", user.user_name));
    }
    let email = user
        .primary_email()
        .map(str::to_string)
        .or_else(|| user.user_name.contains('@').then(|| user.user_name.clone()));
    let name = user.name.clone().unwrap_or_default();
    let external_id = user.external_id.map(|id| ("externalId".to_string(), id));
    let user_name = ("userName".to_string(), user.user_name);
    let attributes = external_id.into_iter().chain([user_name]).collect();
    Ok(SourceUser {
        id: user.id,
        email,
        given_name: name.given_name,
        family_name: name.family_name,
        display_name: user.display_name,
        active: user.active.unwrap_or(true),
        attributes,
    })
}

/// Converts one SCIM group; `Err` carries the skip reason.
fn to_source_group(group: ScimGroup) -> Result<SourceGroup, SkippedRecord> {
    if group.id.trim().is_empty() {
        return Err(no_id("group", group.display_name));
    }
    let members = group.members.into_iter().map(|m| m.value).collect();
    Ok(team(group.id, group.display_name, members))
}

/// The skip of a `kind` resource without an id, named by its `name`.
fn no_id(kind: &'static str, name: String) -> SkippedRecord {
    Record::named(kind, Some(name), 0).skip("the SCIM resource has no id")
}

impl IdentitySource for ScimSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn fetch<'a>(
        &'a self,
        context: FetchContext<'a>,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(async move {
            let progress = context.progress;
            progress.message("Reading users from the SCIM source");
            let users = self.client.list_users(self.page_size).await;
            let users = users.map_err(fetch_error)?;
            progress.advance(users.len() as u64);
            progress.message("Reading groups from the SCIM source");
            let groups = self.client.list_groups(self.page_size).await;
            let groups = groups.map_err(fetch_error)?;
            progress.advance(groups.len() as u64);
            let mut directory = Directory::default();
            let skipped = &mut directory.skipped;
            let users = users.into_iter().map(to_source_user);
            directory.users = users
                .filter_map(|u| u.map_err(|s| skipped.push(s)).ok())
                .collect();
            let groups = groups.into_iter().map(to_source_group);
            directory.groups = groups
                .filter_map(|g| g.map_err(|s| skipped.push(s)).ok())
                .collect();
            Ok(Fetched::full(directory))
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(async move { self.client.check_access().await.map_err(fetch_error) })
    }
}
