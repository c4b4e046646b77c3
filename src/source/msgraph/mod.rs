//! The `entra` source: Microsoft Entra ID through Microsoft Graph v1.0.
//!
//! Every run is a delta round: `/users/delta` and `/groups/delta` from the
//! stored delta links, applied onto the base kept from the last run (the
//! previous directory plus the cursor), yielding the whole directory. The
//! first run, an expired link (`410 Gone`, `syncStateNotFound`) and the
//! daily `full_fetch_interval` start a fresh round, which lists everything.
//! An unchanged tenant costs one request per delta resource.
//!
//! Nested groups are flattened locally from the direct memberships the
//! groups delta reports (nested groups appear as `#microsoft.graph.group`
//! members), so no per-group `transitiveMembers` calls are needed.

mod auth;
pub(super) mod delta;
pub(super) mod proto;

use std::sync::Arc;

use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;

use self::delta::{Assignments, Base, CURSOR_VERSION, Cursor, Derive, derive};
use self::proto::{AppRoleAssignment, GraphErrorBody, GroupRecord, Page, UserRecord};
use super::kit::http::VendorHttp;
use super::kit::paging::{self, Next, Pager, same_origin};
use super::{BoxFuture, FetchContext, Fetched, IdentitySource, SourceError};
use crate::config::EntraSourceConfig;

/// Adapter name, as in `source.type`.
const KIND: &str = "entra";

/// User properties read; `accountEnabled` and `userType` are only
/// returned when selected.
pub const USER_SELECT: &str =
    "id,accountEnabled,mail,userPrincipalName,givenName,surname,displayName,userType";
/// Group properties read by the groups delta (`members` yields `members@delta`).
pub const GROUP_SELECT: &str = "displayName,members";

/// What the app's assignments listing is called in messages.
const READING_ASSIGNMENTS: &str = "reading the app's assignments";

/// Graph error codes that mean "this delta link is no longer usable".
const RESYNC_CODES: &[&str] = &["syncStateNotFound", "resyncRequired"];

/// Reads users and groups from Microsoft Graph.
pub struct EntraSource {
    http: VendorHttp,
    config: EntraSourceConfig,
    app_id_key: String,
}

impl EntraSource {
    /// Builds the clients; `index` names the connection in error messages.
    pub fn new(config: &EntraSourceConfig, index: usize) -> Result<Self, SourceError> {
        let connection = super::kit::connection!(KIND, config, index);
        let tokens = auth::tokens(&connection, config, index)?;
        let settings = connection.settings(auth::credential_key(config, index));
        let http = VendorHttp::new(settings, Arc::new(tokens))?;
        Ok(EntraSource {
            http,
            config: config.clone(),
            app_id_key: format!("connections[{index}].source.app_id"),
        })
    }

    fn url(&self, path_and_query: &str) -> String {
        format!(
            "{}{path_and_query}",
            self.config.base_url.as_str().trim_end_matches('/')
        )
    }

    /// Reads one delta round from `url` to its deltaLink: the records in
    /// order and the next round's link, or `None` when the link expired (start
    /// a fresh round).
    async fn delta_round<T: DeserializeOwned>(
        &self,
        mut url: String,
        what: &str,
        progress: &crate::progress::Progress,
    ) -> Result<Option<(Vec<T>, String)>, SourceError> {
        let mut records = Vec::new();
        let mut guard = self.http.page_guard(what);
        loop {
            guard.admit(&url)?;
            same_origin(KIND, &self.config.base_url, &url, what)?;
            let response = self
                .http
                .get_allowing(&url, &[StatusCode::GONE, StatusCode::BAD_REQUEST])
                .await?;
            if response.status == StatusCode::GONE {
                return Ok(None);
            }
            if response.status == StatusCode::BAD_REQUEST {
                let error = serde_json::from_slice::<GraphErrorBody>(&response.body);
                let resync = |code: &str| RESYNC_CODES.iter().any(|c| c.eq_ignore_ascii_case(code));
                let detail = match error.map(|body| body.error) {
                    Ok(error) if resync(&error.code) => return Ok(None),
                    Ok(error) => format!("{} ({})", error.message, error.code),
                    Err(_) => String::from_utf8_lossy(&response.body).into_owned(),
                };
                return Err(SourceError::Fetch {
                    source_kind: KIND,
                    message: format!("{what}: Graph answered 400 Bad Request: {detail}"),
                });
            }
            let page: Page<T> = response.json(KIND, what)?;
            progress.advance(page.value.len() as u64);
            records.extend(page.value);
            if let Some(next) = page.next_link {
                url = next;
                continue;
            }
            let delta_link = page.delta_link.ok_or_else(|| SourceError::Fetch {
                source_kind: KIND,
                message: format!(
                    "{what}: a delta page had neither @odata.nextLink nor @odata.deltaLink"
                ),
            })?;
            same_origin(KIND, &self.config.base_url, &delta_link, what)?;
            return Ok(Some((records, delta_link)));
        }
    }

    /// Users and groups assigned to the enterprise app, if `app_id` is set.
    async fn assignments(&self) -> Result<Option<Assignments>, SourceError> {
        let Some(app_id) = &self.config.app_id else {
            return Ok(None);
        };
        let pager = AssignmentPager {
            source: self,
            app_id,
        };
        let mut assignments = Assignments::default();
        for assignment in paging::list_all(&self.http, &pager, READING_ASSIGNMENTS).await? {
            match assignment.principal_type.as_deref() {
                Some("User") => assignments.users.insert(assignment.principal_id),
                Some("Group") => assignments.groups.insert(assignment.principal_id),
                _ => false,
            };
        }
        Ok(Some(assignments))
    }

    /// One fetch: incremental from `start` when given, else a fresh round.
    async fn fetch_from(
        &self,
        start: Option<(Base, String, String)>,
        progress: &crate::progress::Progress,
    ) -> Result<Option<Fetched>, SourceError> {
        let full = start.is_none();
        let (mut base, users_link, groups_link) = start.unwrap_or_else(|| {
            (
                Base::default(),
                self.url(&format!("/users/delta?$select={USER_SELECT}")),
                self.url(&format!("/groups/delta?$select={GROUP_SELECT}")),
            )
        });
        progress.message("Reading user changes from Microsoft Graph");
        let users = self.delta_round::<UserRecord>(users_link, "reading /users/delta", progress);
        let Some((users, users_delta)) = users.await? else {
            return Ok(None);
        };
        progress.message("Reading group changes from Microsoft Graph");
        let groups =
            self.delta_round::<GroupRecord>(groups_link, "reading /groups/delta", progress);
        let Some((groups, groups_delta)) = groups.await? else {
            return Ok(None);
        };
        let assignments = self.assignments().await?;
        base.apply_users(&users);
        base.apply_groups(&groups);
        let options = Derive {
            email_from: self.config.email_from,
            nested_groups: self.config.nested_groups,
            include_guests: self.config.include_guests,
            assignments: assignments.as_ref(),
        };
        let (directory, hidden_users) = derive(&base, &options);
        tracing::debug!(
            source = KIND,
            full,
            user_changes = users.len(),
            group_changes = groups.len(),
            "Applied Graph delta."
        );
        let cursor = Cursor {
            version: CURSOR_VERSION,
            users_delta,
            groups_delta,
            groups: base.groups,
            hidden_users,
        };
        Ok(Some(Fetched {
            directory,
            cursor: Some(serde_json::to_string(&cursor).unwrap_or_default()),
            full,
        }))
    }
}

/// The app's role assignments, paged by `@odata.nextLink`.
struct AssignmentPager<'a> {
    source: &'a EntraSource,
    app_id: &'a str,
}

impl Pager for AssignmentPager<'_> {
    type Record = AppRoleAssignment;

    fn url(&self, _cursor: Option<&str>) -> Result<Url, SourceError> {
        let first = self.source.url(&format!(
            "/servicePrincipals/{}/appRoleAssignedTo?$select=principalId,principalType&$top=999",
            self.app_id
        ));
        let base_url = &self.source.config.base_url;
        same_origin(KIND, base_url, &first, READING_ASSIGNMENTS)
    }

    async fn page(&self, url: &Url) -> Result<paging::Page<AppRoleAssignment>, SourceError> {
        let http = &self.source.http;
        let response = http
            .get_allowing(url.as_str(), &[StatusCode::NOT_FOUND])
            .await?;
        if response.status == StatusCode::NOT_FOUND {
            return Err(SourceError::Fetch {
                source_kind: KIND,
                message: format!(
                    "no service principal {} in this tenant. Check `{}`: it must be the Object ID of the enterprise application (Enterprise applications > the app > Overview), not the application (client) id",
                    self.app_id, self.source.app_id_key
                ),
            });
        }
        let page: Page<AppRoleAssignment> = response.json(KIND, READING_ASSIGNMENTS)?;
        Ok(paging::Page {
            records: page.value,
            next: page.next_link.map_or(Next::Done, Next::Link),
        })
    }
}

impl IdentitySource for EntraSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn fetch<'a>(
        &'a self,
        context: FetchContext<'a>,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(async move {
            let progress = context.progress;
            let start = context.previous.as_deref().and_then(|previous| {
                let age = context.now.saturating_sub(previous.last_full_fetch);
                let interval = self.config.full_fetch_interval;
                if interval.is_some_and(|i| age >= i.as_secs() as i64) {
                    return None;
                }
                let cursor = Cursor::decode(previous.cursor.as_deref()?)?;
                Some(cursor.into_start(&previous.directory))
            });
            if start.is_some() {
                if let Some(fetched) = self.fetch_from(start, progress).await? {
                    return Ok(fetched);
                }
                tracing::info!(
                    source = KIND,
                    "Graph delta link expired; reading the whole directory again."
                );
            }
            let fetched = self.fetch_from(None, progress).await?;
            fetched.ok_or_else(|| SourceError::Fetch {
                source_kind: KIND,
                message: "Graph refused a fresh delta round as expired".into(),
            })
        })
    }

    fn incremental(&self) -> bool {
        true
    }

    fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    fn check(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(async move {
            let response = self.http.get(&self.url("/users?$select=id&$top=1")).await?;
            let _: Page<serde_json::Value> = response.json(KIND, "reading /users")?;
            Ok(())
        })
    }
}
