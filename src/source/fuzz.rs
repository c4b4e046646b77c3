//! The pure half of every adapter's response handling, reachable from
//! `tests/fuzz_parsers.rs` so arbitrary bytes can be fed to it.
//!
//! Each adapter reads a page in two steps: the body is decoded into the
//! vendor's page shape, then each record goes through the adapter's
//! `read_user`/`read_group` (which skips a bad record with a reason). The
//! network half (paging loops, tokens, retries) cannot be fuzzed without a
//! server, so [`parse_page`] runs exactly those two steps on one body. Not a
//! stable API: it exists for the property tests only.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::google::proto as google;
use super::jumpcloud::proto as jumpcloud;
use super::kit::records::read_all;
use super::kit::values::team;
use super::msgraph::delta::{Base, Derive, derive};
use super::msgraph::proto as graph;
use super::okta::proto as okta;
use super::onelogin::proto as onelogin;
use super::pingone::proto as pingone;
use crate::config::{EmailFrom, NestedGroups};
use crate::model::{Directory, SourceGroup};

/// Declares [`Listing`] and [`LISTINGS`] from one list, so no listing can
/// be left out of the properties.
macro_rules! listings {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// One kind of response body an adapter parses.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Listing {
            $($(#[doc = $doc])* $name,)*
        }

        /// Every listing, so a property can cover them all.
        pub const LISTINGS: &[Listing] = &[$(Listing::$name),*];
    };
}

listings! {
    /// Okta `/api/v1/users`: a bare array of users.
    OktaUsers,
    /// Okta `/api/v1/groups`: a bare array of groups.
    OktaGroups,
    /// Graph `/users/delta` page, applied onto an empty base.
    GraphUsersDelta,
    /// Graph `/groups/delta` page, applied onto an empty base.
    GraphGroupsDelta,
    /// Graph `appRoleAssignedTo` page.
    GraphAssignments,
    /// OneLogin `/api/2/users`: a bare array.
    OneLoginUsers,
    /// OneLogin `/api/2/roles`: a bare array of named records.
    OneLoginRoles,
    /// OneLogin `/api/1/groups`: the v1 envelope.
    OneLoginGroupsV1,
    /// OneLogin `/api/2/roles/{id}/users`.
    OneLoginRoleUsers,
    /// JumpCloud v1 `systemusers`: `{totalCount, results}`.
    JumpCloudUsers,
    /// JumpCloud v2 `usergroups`: a bare array.
    JumpCloudGroups,
    /// JumpCloud v2 group members: an array of graph edges.
    JumpCloudMembers,
    /// PingOne HAL page of users.
    PingOneUsers,
    /// PingOne HAL page of groups.
    PingOneGroups,
    /// PingOne HAL page of group memberships.
    PingOneMemberships,
    /// Google `users.list` page.
    GoogleUsers,
    /// Google `groups.list` page.
    GoogleGroups,
    /// Google `members.list` page.
    GoogleMembers,
}

/// Decodes one response body as the adapter does: `Err` is the page-level
/// error (the fetch would fail), `Ok` holds what the page's records gave,
/// bad records in `skipped`. Group members are the ids the page names.
pub fn parse_page(listing: Listing, body: &[u8]) -> Result<Directory, String> {
    let mut out = Directory::default();
    let members = |name: &str, ids: Vec<String>| team(name.into(), name.into(), ids);
    match listing {
        Listing::OktaUsers => {
            out.users = read_all(decode(body)?, &mut out.skipped, |record, at| {
                okta::read_user(record, at, false).map(|r| r.0)
            });
        }
        Listing::OktaGroups => {
            let read = read_all(decode(body)?, &mut out.skipped, okta::read_group);
            out.groups = teams(read.into_iter().map(|g| (g.id, g.profile.name)));
        }
        Listing::GraphUsersDelta | Listing::GraphGroupsDelta => {
            let mut base = Base::default();
            if listing == Listing::GraphUsersDelta {
                base.apply_users(&decode::<graph::Page<graph::UserRecord>>(body)?.value);
            } else {
                base.apply_groups(&decode::<graph::Page<graph::GroupRecord>>(body)?.value);
            }
            let options = Derive {
                email_from: EmailFrom::Mail,
                nested_groups: NestedGroups::Flatten,
                include_guests: false,
                assignments: None,
            };
            out = derive(&base, &options).0;
        }
        Listing::GraphAssignments => {
            let page: graph::Page<graph::AppRoleAssignment> = decode(body)?;
            let kind = |a: graph::AppRoleAssignment| {
                (a.principal_id, a.principal_type.unwrap_or_default())
            };
            out.groups = teams(page.value.into_iter().map(kind));
        }
        Listing::OneLoginUsers => {
            out.users = read_all(decode(body)?, &mut out.skipped, |record, at| {
                onelogin::read_user(record, at, false).map(|r| r.0)
            });
        }
        Listing::OneLoginRoles | Listing::OneLoginGroupsV1 => {
            let records = if listing == Listing::OneLoginRoles {
                decode(body)?
            } else {
                let page: onelogin::V1Envelope = decode(body)?;
                let _next = page.pagination.as_ref().and_then(|p| p.next());
                page.data
            };
            let read = read_all(records, &mut out.skipped, |record, at| {
                onelogin::read_named(&record, at, "role")
            });
            out.groups = teams(read.into_iter().map(|g| (g.id, g.name)));
        }
        Listing::OneLoginRoleUsers => {
            let page: Vec<Value> = decode(body)?;
            let ids = page.iter().filter_map(onelogin::role_member).collect();
            out.groups.push(members("role", ids));
        }
        Listing::JumpCloudUsers => {
            let page: jumpcloud::V1Page = decode(body)?;
            out.users = read_all(page.results, &mut out.skipped, |record, at| {
                jumpcloud::read_user(record, at, false)
            });
        }
        Listing::JumpCloudGroups => {
            let read = read_all(decode(body)?, &mut out.skipped, jumpcloud::read_group);
            out.groups = teams(read.into_iter().flatten().map(|g| (g.id, g.name)));
        }
        Listing::JumpCloudMembers => {
            let page: Vec<Value> = decode(body)?;
            let ids = page.iter().filter_map(jumpcloud::member_user_id).collect();
            out.groups.push(members("group", ids));
        }
        Listing::PingOneUsers | Listing::PingOneGroups | Listing::PingOneMemberships => {
            let mut page: pingone::Page = decode(body)?;
            let _next = page.links.next.as_ref().map(|link| link.href.len());
            match listing {
                Listing::PingOneUsers => {
                    out.users = read_all(page.records(&["users"]), &mut out.skipped, |r, at| {
                        pingone::read_user(r, at).map(|r| r.0)
                    });
                }
                Listing::PingOneGroups => {
                    let records = page.records(&["groups"]);
                    let read = read_all(records, &mut out.skipped, pingone::read_group);
                    out.groups = teams(read.into_iter().map(|g| (g.id, g.name)));
                }
                _ => {
                    let records = page.records(&["groupMemberships", "groups"]);
                    let ids = pingone::ids(&records, true).into_iter().collect();
                    out.groups.push(members("memberships", ids));
                }
            }
        }
        Listing::GoogleUsers | Listing::GoogleGroups | Listing::GoogleMembers => {
            let page: google::Page = decode(body)?;
            let _next = page.next().map(str::len);
            let records = page.records();
            match listing {
                Listing::GoogleUsers => {
                    out.users = read_all(records, &mut out.skipped, google::read_user);
                }
                Listing::GoogleGroups => {
                    let read = read_all(records, &mut out.skipped, google::read_group);
                    out.groups = teams(read.into_iter().map(|g| (g.id.clone(), g.display_name())));
                }
                _ => {
                    let ids = records
                        .into_iter()
                        .filter_map(|r| serde_json::from_value::<google::Member>(r).ok())
                        .filter_map(|m| m.user_id().map(str::to_string))
                        .collect();
                    out.groups.push(members("members", ids));
                }
            }
        }
    }
    Ok(out)
}

/// Member-less teams of `(id, name)` pairs, as a group listing names them.
fn teams(groups: impl Iterator<Item = (String, String)>) -> Vec<SourceGroup> {
    groups.map(|(id, name)| team(id, name, vec![])).collect()
}

/// `body` as JSON `T`, or the error text (a page-level failure).
fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// The one-line summaries adapters build from error bodies (Graph, PingOne
/// platform errors, Google API errors), plus PingOne's 429 body
/// wait: none may panic.
pub fn summarise_error_bodies(body: &[u8]) -> (Vec<String>, Option<i64>) {
    let mut lines = vec![
        pingone::P1Error::summarise(body),
        google::ErrorBody::summarise(body),
    ];
    if google::ErrorBody::parse(body).is_rate_limited() {
        lines.push("rate limited".into());
    }
    if let Ok(error) = serde_json::from_slice::<graph::GraphErrorBody>(body) {
        lines.push(format!("{} ({})", error.error.message, error.error.code));
    }
    (lines, pingone::P1Error::retry_after_unix(body))
}

/// PingOne's RFC 3339 reader (used for 429 waits): `None` or a time, never
/// a panic.
pub use super::pingone::proto::parse_rfc3339;
