//! The `ldap` source: Active Directory, OpenLDAP, FreeIPA/389-DS or any
//! LDAPv3 directory, read with a service account over LDAPS or StartTLS.
//!
//! - Every run reads everything, paged (RFC 2696): users, the users
//!   `disabled_filter` matches (ids only), groups with their members (AD
//!   range retrieval for large groups). A page error fails the run before
//!   anything is planned, so nothing is deactivated on a partial read; a
//!   complete read sees deletions, disabled accounts and moves out of the
//!   base at once (the removal contract). `incremental()` stays false:
//!   `modifyTimestamp`/`uSNChanged` polling never sees deletions, so the full
//!   id read is needed every run anyway.
//! - Ids come from `objectGUID` (AD), `entryUUID` (OpenLDAP), `ipaUniqueID`
//!   (FreeIPA), never from the DN, so a rename or move keeps the Penvio user.
//! - Nested groups are flattened locally; `posixGroup` `memberUid` logins
//!   are resolved to the users read.
//! - The read runs in a task of its own: the LDAP library panics on some
//!   malformed answers, and a panic must fail the run, not the agent.

mod connect;
mod decode;
mod errors;
#[doc(hidden)]
pub mod fuzz;
mod members;
mod range;
mod read;
mod referrals;
mod search;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use self::errors::Keys;
use self::members::{GroupMembers, normalize_dn};
use self::read::RawDirectory;
use self::search::{Pager, SearchSpec};
use super::{BoxFuture, FetchContext, Fetched, IdentitySource, SourceError};
use crate::config::LdapSourceConfig;
use crate::model::{Directory, SkippedRecord, SourceGroup};

/// Adapter name, as in `source.type`.
pub(crate) const KIND: &str = "ldap";

/// Reads users, groups and memberships from an LDAP directory.
pub struct LdapSource {
    config: Arc<LdapSourceConfig>,
    keys: Keys,
    /// Binds and search pages sent so far.
    requests: Arc<AtomicU64>,
}

impl LdapSource {
    /// Keeps the settings; `index` names the connection in error messages.
    /// Nothing is opened until the first fetch.
    pub fn new(config: &LdapSourceConfig, index: usize) -> Result<Self, SourceError> {
        Ok(LdapSource {
            config: Arc::new(config.clone()),
            keys: Keys::new(index),
            requests: Arc::new(AtomicU64::new(0)),
        })
    }
}

/// Connects, binds, reads everything and unbinds.
async fn read_directory(
    config: Arc<LdapSourceConfig>,
    keys: Keys,
    requests: Arc<AtomicU64>,
    now: i64,
) -> Result<Directory, SourceError> {
    requests.fetch_add(1, Ordering::Relaxed);
    let mut ldap = connect::open(&config, &keys).await?;
    let pager = Pager {
        page_size: config.page_size,
        max_pages: config.limits.max_pages,
        timeout: config.timeout,
        requests: &requests,
        follow_referrals: config.follow_referrals,
    };
    let raw = read::read_all(&mut ldap, &config, &pager, &keys).await;
    // Best effort: the server drops the connection anyway when we go.
    let _ = ldap.unbind().await;
    Ok(assemble(raw?, &config, now))
}

/// The neutral directory from what was read.
fn assemble(raw: RawDirectory, config: &LdapSourceConfig, now: i64) -> Directory {
    let names = &config.attributes;
    let mut skipped = Vec::new();
    let mut users = BTreeMap::new();
    let mut users_by_dn = HashMap::new();
    let mut users_by_login = HashMap::new();
    for entry in &raw.users {
        match decode::read_user(entry, config.flavor, names, now) {
            Ok(mut user) => {
                if raw.disabled.contains(&user.id) {
                    user.active = false;
                }
                users_by_dn.insert(normalize_dn(&entry.dn), user.id.clone());
                if let Some(login) = entry.text(&names.login) {
                    users_by_login.insert(login, user.id.clone());
                }
                users.insert(user.id.clone(), user);
            }
            Err(skip) => skipped.push(skip),
        }
    }
    let mut groups = BTreeMap::new();
    for entry in &raw.groups {
        let Some(id) = decode::entry_id(entry, &names.id) else {
            skipped.push(SkippedRecord {
                kind: "group".into(),
                id: entry.dn.clone(),
                reason: format!("has no readable {} (`attributes.id`)", names.id),
            });
            continue;
        };
        let Some(name) = entry.text(&names.group_name) else {
            skipped.push(SkippedRecord {
                kind: "group".into(),
                id,
                reason: format!("has no {} (`attributes.group_name`)", names.group_name),
            });
            continue;
        };
        let mut member_dns = entry.texts("member");
        member_dns.extend(entry.texts("uniqueMember"));
        let members = GroupMembers {
            dns: member_dns,
            logins: entry.texts("memberUid"),
        };
        groups.insert(id, (name, normalize_dn(&entry.dn), members));
    }
    let shapes = groups
        .iter()
        .map(|(id, (_, dn, members))| (id.clone(), (dn.clone(), members.clone())))
        .collect();
    let mut resolved = members::resolve(&shapes, &users_by_dn, &users_by_login);
    let groups = groups
        .into_iter()
        .map(|(id, (name, _, _))| SourceGroup {
            email: None,
            members: resolved
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .collect(),
            id,
            name,
            built_in: false,
        })
        .collect();
    Directory {
        users: users.into_values().collect(),
        groups,
        skipped,
    }
}

impl IdentitySource for LdapSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn fetch<'a>(
        &'a self,
        context: FetchContext<'a>,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(async move {
            context
                .progress
                .message("Reading users and groups from LDAP");
            let task = tokio::spawn(read_directory(
                self.config.clone(),
                self.keys.clone(),
                self.requests.clone(),
                context.now,
            ));
            let directory = task.await.map_err(|error| SourceError::Fetch {
                source_kind: KIND,
                message: format!(
                    "reading {} stopped: the LDAP library failed on an answer it could not decode ({error})",
                    self.config.url
                ),
            })??;
            context.progress.advance(directory.users.len() as u64);
            Ok(Fetched::full(directory))
        })
    }

    fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn check(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(async move {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let mut ldap = connect::open(&self.config, &self.keys).await?;
            let pager = Pager {
                page_size: 1,
                max_pages: 1,
                timeout: self.config.timeout,
                requests: &self.requests,
                follow_referrals: false,
            };
            let attributes = [self.config.attributes.id.clone()];
            let found = search::search_all(
                &mut ldap,
                &SearchSpec {
                    base: &self.config.user_base,
                    subtree: false,
                    filter: "(objectClass=*)",
                    attributes: &attributes,
                },
                &pager,
            )
            .await;
            let _ = ldap.unbind().await;
            match found {
                Ok(_) => Ok(()),
                Err(search::SearchError::Ldap(error)) => Err(errors::search_failed(
                    &error,
                    "reading the user base",
                    &self.keys.key("user_base"),
                    &self.keys.key("user_filter"),
                    &self.keys,
                )),
                Err(search::SearchError::TooManyPages(_)) => Ok(()),
            }
        })
    }
}
