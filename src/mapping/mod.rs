//! Attribute mapping and scoping: from a fetched [`Directory`] to the desired
//! state of Penvio.
//!
//! Pure: no I/O, no clock. Bad records are skipped here, each with a reason
//! naming the record, so one bad user never stops a run (invariant 7).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::config::{GroupPattern, MappingConfig, ScopeConfig};
use crate::model::{
    Directory, PackedAttributes, SkippedRecord, SourceGroup, SourceUser, UserAttributes,
};

#[cfg(test)]
mod tests;
mod used_attributes;
mod user;

pub use used_attributes::{keep_used_attributes, used_attributes};
use user::check_length;
pub use user::{MAX_EMAIL_CHARS, MAX_EXTERNAL_ID_CHARS, MAX_NAME_CHARS, clean_name, map_user};

/// What Penvio should hold for one connection, keyed by source ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    /// Users in scope, with the attributes Penvio should hold.
    /// Packed: one allocation per user (see [`PackedAttributes`]).
    pub users: BTreeMap<String, PackedAttributes>,
    /// Teams (from IdP groups matched by `scope.team_groups`).
    pub teams: BTreeMap<String, DesiredTeam>,
}

/// A team as Penvio should hold it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredTeam {
    /// Team name (the IdP group's name).
    pub name: String,
    /// Source ids of the members: in-scope, active users only, because
    /// deactivated users lose their access, team access included.
    pub members: BTreeSet<String>,
}

/// The result of mapping: the desired state plus everything skipped.
#[derive(Debug, Clone, Default)]
pub struct MappedDirectory {
    /// Desired Penvio state.
    pub desired: DesiredState,
    /// Records left out, with reasons.
    pub skipped: Vec<SkippedRecord>,
    /// Users that exist in the source but are outside `scope.user_groups`.
    pub out_of_scope_users: usize,
    /// `scope.user_groups` entries that matched no group: likely a typo or a
    /// renamed group, and a reason many users may look removed.
    pub unmatched_user_groups: Vec<String>,
}

/// Maps a fetched directory to the desired state.
///
/// `is_provisioned` says whether a source id is already linked to a Penvio
/// user: when two records share an email, the one already in Penvio keeps it,
/// so a duplicate created in the IdP cannot take an account away.
pub fn map_directory(
    directory: &Directory,
    scope: &ScopeConfig,
    mapping: &MappingConfig,
    is_provisioned: &dyn Fn(&str) -> bool,
) -> MappedDirectory {
    map_directory_with(directory, scope, mapping, is_provisioned, &|_| None)
}

/// [`map_directory`], keeping users whose record turned bad.
///
/// `last_synced` gives the attributes Penvio last acknowledged for a
/// source id. A user already in Penvio whose record is skipped this run
/// (bad email, a name too long, a duplicate, an unreadable record) stays in
/// the desired state exactly as Penvio holds it: skipping bad data must not
/// become a deactivation or a team removal (invariant 7). Its skip reason
/// says so; the record is synced again once fixed at the source.
pub fn map_directory_with(
    directory: &Directory,
    scope: &ScopeConfig,
    mapping: &MappingConfig,
    is_provisioned: &dyn Fn(&str) -> bool,
    last_synced: &dyn Fn(&str) -> Option<UserAttributes>,
) -> MappedDirectory {
    map_owned_directory(
        directory.clone(),
        scope,
        mapping,
        is_provisioned,
        last_synced,
    )
}

/// [`map_directory_with`], consuming the fetch: each record is freed as
/// soon as it is mapped, so a run never holds a directory's records and its
/// desired state whole at once (issue 20: the no-op run's peak is the
/// snapshot plus the desired state, not plus the fetch as well).
pub fn map_owned_directory(
    directory: Directory,
    scope: &ScopeConfig,
    mapping: &MappingConfig,
    is_provisioned: &dyn Fn(&str) -> bool,
    last_synced: &dyn Fn(&str) -> Option<UserAttributes>,
) -> MappedDirectory {
    let Directory {
        users,
        groups,
        skipped,
    } = directory;
    let mut result = MappedDirectory {
        skipped,
        ..MappedDirectory::default()
    };

    let in_scope = users_in_scope(&groups, scope, &mut result);
    // A `scope.user_groups` group the source no longer has was deleted or
    // renamed; which users it held is unknown now. Users already in Penvio
    // keep their place (updated, not deactivated) until the admin restores
    // the group or removes it from the config: a rename in the IdP must not
    // deactivate a team's worth of people. `unmatched_user_groups` carries
    // the one warning. New users are still only added through a group found.
    let scope_incomplete = !result.unmatched_user_groups.is_empty();

    let repeated = repeated_ids(&users);
    let mut repeats_seen = HashSet::new();
    let mut candidates: Vec<(String, PackedAttributes)> = Vec::with_capacity(users.len());
    for user in users {
        if repeated.contains(user.id.as_str()) && !repeats_seen.insert(user.id.clone()) {
            result.skipped.push(SkippedRecord {
                kind: "user".into(),
                id: user.id,
                reason: "the source returned this id twice; only the first record is used".into(),
            });
            continue;
        }
        if let Some(scoped) = &in_scope
            && !scoped.contains(user.id.as_str())
            && !(scope_incomplete && is_provisioned(&user.id))
        {
            result.out_of_scope_users += 1;
            continue;
        }
        match map_user(&user, mapping) {
            Ok(attributes) => candidates.push((user.id, PackedAttributes::from(&attributes))),
            Err(reason) => result.skipped.push(SkippedRecord {
                kind: "user".into(),
                id: user.id,
                reason,
            }),
        }
    }

    resolve_duplicate_emails(candidates, is_provisioned, &mut result);
    keep_skipped_users(last_synced, &mut result);
    map_teams(groups, scope, &mut result);
    result
}

/// Ids that more than one record carries (almost always none), found
/// before the records are consumed.
fn repeated_ids(users: &[SourceUser]) -> HashSet<String> {
    let mut seen = HashSet::with_capacity(users.len());
    users
        .iter()
        .filter(|user| !seen.insert(user.id.as_str()))
        .map(|user| user.id.clone())
        .collect()
}

/// Puts skipped users that Penvio already holds back into the desired
/// state with their last acknowledged attributes (see [`map_directory_with`]).
fn keep_skipped_users(
    last_synced: &dyn Fn(&str) -> Option<UserAttributes>,
    result: &mut MappedDirectory,
) {
    for skipped in &mut result.skipped {
        if skipped.kind != "user" || result.desired.users.contains_key(&skipped.id) {
            continue;
        }
        if let Some(attributes) = last_synced(&skipped.id) {
            result
                .desired
                .users
                .insert(skipped.id.clone(), attributes.into());
            skipped
                .reason
                .push_str("; the user stays in Penvio as last synced until the record is fixed");
        }
    }
}

/// Whether a `scope.user_groups` entry names this group: its name or id
/// exactly, or its email address (case-insensitive, as addresses are).
pub(crate) fn names_group(wanted: &str, group: &SourceGroup) -> bool {
    group.name == wanted
        || group.id == wanted
        || group
            .email
            .as_deref()
            .is_some_and(|email| email.eq_ignore_ascii_case(wanted))
}

/// Whether a `scope.team_groups` pattern selects this group, by its name or
/// its email address. A built-in group only by its exact name, never by a
/// glob like the default `*`.
pub(crate) fn selects_team(pattern: &GroupPattern, group: &SourceGroup) -> bool {
    if group.built_in {
        return pattern.as_str() == group.name;
    }
    pattern.matches(&group.name)
        || group.email.as_deref().is_some_and(|email| {
            pattern.as_str().eq_ignore_ascii_case(email) || pattern.matches(email)
        })
}

/// Source ids of users that are members of a `scope.user_groups` group, or
/// `None` when no user scope is configured (every user is in scope).
fn users_in_scope<'a>(
    groups: &'a [SourceGroup],
    scope: &ScopeConfig,
    result: &mut MappedDirectory,
) -> Option<BTreeSet<&'a str>> {
    if scope.user_groups.is_empty() {
        return None;
    }
    let mut members = BTreeSet::new();
    for wanted in &scope.user_groups {
        let mut matched = false;
        for group in groups {
            if names_group(wanted, group) {
                matched = true;
                members.extend(group.members.iter().map(String::as_str));
            }
        }
        if !matched {
            result.unmatched_user_groups.push(wanted.clone());
        }
    }
    Some(members)
}

/// A hash of `name` lowercased, without allocating: names equal after
/// `str::to_lowercase` always hash alike (its only context rule, a final
/// sigma, is folded: `ς` hashes as `σ`), so equal hashes are a superset of
/// equal names and only those are compared by the name itself. FNV-1a over
/// the lowercased UTF-8 bytes: every user's address goes through it, and
/// ASCII (nearly all of them) is lowercased byte by byte.
fn lowercase_hash(name: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let feed = |hash: u64, byte: u8| (hash ^ u64::from(byte)).wrapping_mul(PRIME);
    if name.is_ascii() {
        return name
            .bytes()
            .fold(OFFSET, |hash, byte| feed(hash, byte.to_ascii_lowercase()));
    }
    let mut buffer = [0u8; 4];
    let mut hash = OFFSET;
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = if c == 'ς' { 'σ' } else { c };
        for byte in c.encode_utf8(&mut buffer).bytes() {
            hash = feed(hash, byte);
        }
    }
    hash
}

/// Keeps one record per email (case-insensitive): the one already linked to
/// Penvio, else the only active one; otherwise skips them all, since picking
/// one silently would give an account to the wrong person.
fn resolve_duplicate_emails(
    candidates: Vec<(String, PackedAttributes)>,
    is_provisioned: &dyn Fn(&str) -> bool,
    result: &mut MappedDirectory,
) {
    // Almost every email is unique: find the ones that may not be by a hash
    // of the lowercased name (no per-user allocation), then group only those
    // by the name itself. Unique users are bulk-inserted, sorted by id, in
    // the candidates' own buffer (no second copy of a hundred thousand users).
    let mut counts: HashMap<u64, u32> = HashMap::with_capacity(candidates.len());
    for (_, attributes) in &candidates {
        *counts
            .entry(lowercase_hash(attributes.user_name()))
            .or_default() += 1;
    }
    let mut by_name: HashMap<String, Vec<(String, PackedAttributes)>> = HashMap::new();
    let mut unique = candidates;
    if counts.values().any(|&count| count > 1) {
        let (kept, shared): (Vec<_>, Vec<_>) = unique.into_iter().partition(|(_, attributes)| {
            counts.get(&lowercase_hash(attributes.user_name())) == Some(&1)
        });
        unique = kept;
        for (id, attributes) in shared {
            by_name
                .entry(attributes.user_name().to_lowercase())
                .or_default()
                .push((id, attributes));
        }
    }
    drop(counts);
    if result.desired.users.is_empty() {
        result.desired.users = unique.into_iter().collect();
    } else {
        result.desired.users.extend(unique);
    }
    for (user_name, mut group) in by_name {
        if group.len() == 1 {
            if let Some((id, attributes)) = group.pop() {
                result.desired.users.insert(id, attributes);
            }
            continue;
        }
        group.sort_by(|a, b| a.0.cmp(&b.0));
        let provisioned: Vec<usize> = (0..group.len())
            .filter(|&i| is_provisioned(&group[i].0))
            .collect();
        let active: Vec<usize> = (0..group.len()).filter(|&i| group[i].1.active()).collect();
        let keep = match (provisioned.as_slice(), active.as_slice()) {
            ([only], _) => Some(*only),
            ([], [only]) => Some(*only),
            _ => None,
        };
        let ids: Vec<String> = group.iter().map(|(id, _)| id.clone()).collect();
        for (index, (id, attributes)) in group.into_iter().enumerate() {
            if Some(index) == keep {
                result.desired.users.insert(id, attributes);
                continue;
            }
            let others: Vec<&str> = ids
                .iter()
                .filter(|other| **other != id)
                .map(String::as_str)
                .collect();
            result.skipped.push(SkippedRecord {
                kind: "user".into(),
                reason: format!(
                    "duplicate email {user_name}: also used by {}",
                    others.join(", ")
                ),
                id,
            });
        }
    }
}

fn map_teams(groups: Vec<SourceGroup>, scope: &ScopeConfig, result: &mut MappedDirectory) {
    let mut seen = HashSet::new();
    for group in groups {
        if !scope.team_groups.iter().any(|p| selects_team(p, &group)) {
            continue;
        }
        if !seen.insert(group.id.clone()) {
            result.skipped.push(SkippedRecord {
                kind: "group".into(),
                id: group.id.clone(),
                reason: "the source returned this id twice; only the first record is used".into(),
            });
            continue;
        }
        let name = clean_name(&group.name);
        if name.is_empty() {
            result.skipped.push(SkippedRecord {
                kind: "group".into(),
                id: group.id.clone(),
                reason: "the group has no name".into(),
            });
            continue;
        }
        if let Err(reason) = check_length("the team name", &name, MAX_NAME_CHARS) {
            result.skipped.push(SkippedRecord {
                kind: "group".into(),
                id: group.id.clone(),
                reason,
            });
            continue;
        }
        // The fetch is consumed: member ids move into the team, uncopied.
        let members = group
            .members
            .into_iter()
            .filter(|id| result.desired.users.get(id).is_some_and(|u| u.active()))
            .collect();
        result
            .desired
            .teams
            .insert(group.id, DesiredTeam { name, members });
    }
}
