//! The reads of one fetch, in order: users, the users `disabled_filter`
//! matches (ids only), groups, and the rest of any AD group whose members
//! came back ranged. Each is complete or an error naming the keys behind it.

use std::collections::HashSet;

use ldap3::Ldap;

use super::decode::{self, Entry};
use super::errors::Keys;
use super::range::ranged_values;
use super::referrals::{Purpose, search_following};
use super::search::{Pager, SearchError, SearchSpec, failed, search_all};
use crate::config::LdapSourceConfig;
use crate::source::SourceError;

/// Attributes that hold a group's members.
pub(super) const MEMBER_ATTRIBUTES: &[&str] = &["member", "uniqueMember", "memberUid"];
/// The DN-valued member attribute AD may return ranged.
const RANGED_MEMBER_ATTRIBUTE: &str = "member";

/// Everything one fetch read.
pub(super) struct RawDirectory {
    /// User entries.
    pub users: Vec<Entry>,
    /// Ids of the users `disabled_filter` matched.
    pub disabled: HashSet<String>,
    /// Group entries, ranged member chunks completed into `member`.
    pub groups: Vec<Entry>,
}

/// One subtree search of the source (referrals per `follow_referrals`).
async fn subtree(
    ldap: &mut Ldap,
    config: &LdapSourceConfig,
    pager: &Pager<'_>,
    keys: &Keys,
    (base, filter, attributes): (&str, &str, &[String]),
    purpose: Purpose<'_>,
) -> Result<Vec<Entry>, SourceError> {
    let spec = SearchSpec {
        base,
        subtree: true,
        filter,
        attributes,
    };
    search_following(ldap, config, &spec, pager, keys, &purpose).await
}

/// Reads users, disabled ids and groups over one bound connection.
pub(super) async fn read_all(
    ldap: &mut Ldap,
    config: &LdapSourceConfig,
    pager: &Pager<'_>,
    keys: &Keys,
) -> Result<RawDirectory, SourceError> {
    let purpose = |what, base_key, filter_key| Purpose {
        what,
        base_key,
        filter_key,
    };
    let user_attributes = decode::user_attributes(config.flavor, &config.attributes);
    let search = (
        config.user_base.as_str(),
        config.user_filter.as_str(),
        &user_attributes[..],
    );
    let users = subtree(
        ldap,
        config,
        pager,
        keys,
        search,
        purpose("reading users", "user_base", "user_filter"),
    )
    .await?;

    let mut disabled = HashSet::new();
    if let Some(disabled_filter) = &config.disabled_filter {
        let filter = format!("(&{}{disabled_filter})", config.user_filter);
        let id_only = [config.attributes.id.clone()];
        let search = (config.user_base.as_str(), filter.as_str(), &id_only[..]);
        let what = purpose("reading disabled users", "user_base", "disabled_filter");
        let entries = subtree(ldap, config, pager, keys, search, what).await?;
        disabled.extend(
            entries
                .iter()
                .filter_map(|e| decode::entry_id(e, &config.attributes.id)),
        );
    }

    let mut group_attributes = vec![
        config.attributes.id.clone(),
        config.attributes.group_name.clone(),
    ];
    group_attributes.extend(MEMBER_ATTRIBUTES.iter().map(|a| a.to_string()));
    let search = (
        config.group_base.as_str(),
        config.group_filter.as_str(),
        &group_attributes[..],
    );
    let what = purpose("reading groups", "group_base", "group_filter");
    let mut groups = subtree(ldap, config, pager, keys, search, what).await?;
    for group in &mut groups {
        complete_ranged_members(ldap, group, pager)
            .await
            .map_err(|e| {
                let what = format!("reading the members of {}", group.dn);
                failed(e, &what, "group_base", "group_filter", keys)
            })?;
    }
    Ok(RawDirectory {
        users,
        disabled,
        groups,
    })
}

/// When a group's `member` came back ranged (AD, more than MaxValRange
/// values), asks for the following chunks until the one ending in `*`, and
/// stores every value under `member`. A chunk that does not continue where
/// the last ended is an error: the member list would be incomplete.
async fn complete_ranged_members(
    ldap: &mut Ldap,
    group: &mut Entry,
    pager: &Pager<'_>,
) -> Result<(), SearchError> {
    let Some((first, values)) = ranged_values(group, RANGED_MEMBER_ATTRIBUTE) else {
        return Ok(());
    };
    let mut members: Vec<Vec<u8>> = values.to_vec();
    let mut chunk = first;
    let mut rounds = 0u64;
    while let Some(request) = chunk.next_request() {
        rounds += 1;
        if rounds > pager.max_pages {
            return Err(SearchError::TooManyPages(pager.max_pages));
        }
        let expected_low = chunk.high.map_or(0, |h| h.saturating_add(1));
        let attributes = [request];
        let found = search_all(
            ldap,
            &SearchSpec {
                base: &group.dn,
                subtree: false,
                filter: "(objectClass=*)",
                attributes: &attributes,
            },
            pager,
        )
        .await?;
        let next = found
            .entries
            .first()
            .and_then(|entry| ranged_values(entry, RANGED_MEMBER_ATTRIBUTE))
            .filter(|(next, _)| next.low == expected_low);
        let Some((next, values)) = next else {
            return Err(SearchError::Ldap(ldap3::LdapError::LdapResult {
                result: ldap3::LdapResult {
                    rc: 80,
                    matched: String::new(),
                    text: format!(
                        "range retrieval of member stopped before the final chunk (expected member;range={expected_low}-…)"
                    ),
                    refs: vec![],
                    ctrls: vec![],
                },
            }));
        };
        members.extend(values.iter().cloned());
        chunk = next;
    }
    group
        .attrs
        .retain(|name, _| ranged_values_name(name).is_none());
    group
        .attrs
        .entry(RANGED_MEMBER_ATTRIBUTE.to_owned())
        .or_default()
        .extend(members);
    Ok(())
}

/// The attribute a ranged name belongs to (`member;range=…` → `member`).
fn ranged_values_name(name: &str) -> Option<String> {
    super::range::parse_range_attribute(name).map(|c| c.attribute)
}
