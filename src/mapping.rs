//! Attribute mapping and scoping: from a fetched [`Directory`] to the desired
//! state of Penvio.
//!
//! Pure: no I/O, no clock. Bad records are skipped here, each with a reason
//! naming the record, so one bad user never stops a run (invariant 7).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::config::{GroupPattern, MappingConfig, ScopeConfig, Template};
use crate::model::{Directory, SkippedRecord, SourceGroup, SourceUser, UserAttributes};

/// Longest name (given, family, display, team name) sent to Penvio, in
/// characters. Real names are far shorter; a longer one is bad data (a
/// pasted blob, a 1 MB string) and its record is skipped with a reason
/// rather than truncated, so nobody gets a silently cut name.
pub const MAX_NAME_CHARS: usize = 256;

/// Longest email and `userName`, in characters: RFC 5321 caps a path at 256
/// octets including the angle brackets, which leaves 254 for the address.
pub const MAX_EMAIL_CHARS: usize = 254;

/// Longest `externalId` (the IdP's immutable id; real ones are 20–40
/// characters): it is also the snapshot key, so a huge one is refused.
pub const MAX_EXTERNAL_ID_CHARS: usize = 256;

/// How much of a bad value a skip reason quotes: enough to find it, never
/// the whole of a megabyte string in a log line.
const QUOTED_CHARS: usize = 64;

/// Bidirectional formatting characters: the Arabic letter mark, LRM/RLM,
/// the embeddings and overrides (U+202A–U+202E) and the isolates
/// (U+2066–U+2069). A U+202E (right-to-left override) makes
/// `Ada\u{202E}gpj.exe` display as `Adaexe.jpg`: a classic spoofing trick.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that are invisible in an address: bidi controls, zero-width
/// spaces and joiners, the byte-order mark.
fn is_invisible(c: char) -> bool {
    is_bidi_control(c) || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Cleans a name for display in Penvio.
///
/// Chosen behaviour (the record is kept, the name is repaired): control
/// characters (C0 and C1, tabs and newlines included) become a space and
/// bidirectional formatting characters are removed, then runs of
/// whitespace collapse to one space. Removing a right-to-left override
/// defeats the spoofing while the person, who did nothing wrong, is still
/// provisioned; emoji and every other printable character are kept as-is.
pub fn clean_name(raw: &str) -> String {
    let replaced: String = raw
        .chars()
        .filter(|c| !is_bidi_control(*c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    replaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A value as quoted in a skip reason: the start of it, and its length
/// when it was cut.
fn quoted(value: &str) -> String {
    let count = value.chars().count();
    if count <= QUOTED_CHARS {
        format!("{value:?}")
    } else {
        let start: String = value.chars().take(QUOTED_CHARS).collect();
        format!("{start:?}… ({count} characters)")
    }
}

/// `Err` naming the attribute when `value` is longer than `max` characters.
fn check_length(attribute: &str, value: &str, max: usize) -> Result<(), String> {
    let count = value.chars().count();
    if count > max {
        return Err(format!(
            "{attribute} is {count} characters long, more than the {max} Penvio accepts: {}",
            quoted(value)
        ));
    }
    Ok(())
}

/// What Penvio should hold for one connection, keyed by source ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    /// Users in scope, with the attributes Penvio should hold.
    pub users: BTreeMap<String, UserAttributes>,
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
    let mut candidates: Vec<(String, UserAttributes)> = Vec::with_capacity(users.len());
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
            Ok(attributes) => candidates.push((user.id, attributes)),
            Err(reason) => result.skipped.push(SkippedRecord {
                kind: "user".into(),
                id: user.id,
                reason,
            }),
        }
    }

    resolve_duplicate_emails(candidates, is_provisioned, &mut result);
    keep_skipped_users(last_synced, &mut result);
    map_teams(&groups, scope, &mut result);
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
            result.desired.users.insert(skipped.id.clone(), attributes);
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
/// equal names and only those are compared by the name itself.
fn lowercase_hash(name: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // Fixed keys: the value only groups candidates within one call.
    let mut hasher =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .build_hasher();
    let mut buffer = [0u8; 4];
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = if c == 'ς' { 'σ' } else { c };
        hasher.write(c.encode_utf8(&mut buffer).as_bytes());
    }
    hasher.finish()
}

/// Keeps one record per email (case-insensitive): the one already linked to
/// Penvio, else the only active one; otherwise skips them all, since picking
/// one silently would give an account to the wrong person.
fn resolve_duplicate_emails(
    candidates: Vec<(String, UserAttributes)>,
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
            .entry(lowercase_hash(&attributes.user_name))
            .or_default() += 1;
    }
    let mut by_name: HashMap<String, Vec<(String, UserAttributes)>> = HashMap::new();
    let mut unique = candidates;
    if counts.values().any(|&count| count > 1) {
        let (kept, shared): (Vec<_>, Vec<_>) = unique.into_iter().partition(|(_, attributes)| {
            counts.get(&lowercase_hash(&attributes.user_name)) == Some(&1)
        });
        unique = kept;
        for (id, attributes) in shared {
            by_name
                .entry(attributes.user_name.to_lowercase())
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
        let active: Vec<usize> = (0..group.len()).filter(|&i| group[i].1.active).collect();
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

fn map_teams(groups: &[SourceGroup], scope: &ScopeConfig, result: &mut MappedDirectory) {
    let mut seen = BTreeSet::new();
    for group in groups {
        if !scope.team_groups.iter().any(|p| selects_team(p, group)) {
            continue;
        }
        if !seen.insert(group.id.as_str()) {
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
        let members = group
            .members
            .iter()
            .filter(|id| result.desired.users.get(*id).is_some_and(|u| u.active))
            .cloned()
            .collect();
        result
            .desired
            .teams
            .insert(group.id.clone(), DesiredTeam { name, members });
    }
}

/// Maps one user with the connection's overrides, falling back to Penvio's
/// default mapping for every attribute not overridden.
pub fn map_user(user: &SourceUser, mapping: &MappingConfig) -> Result<UserAttributes, String> {
    let lookup = |field: &str| -> Option<String> {
        let value = match field {
            "id" => Some(user.id.clone()),
            "email" => user.email.clone(),
            "given_name" => user.given_name.clone(),
            "family_name" => user.family_name.clone(),
            "display_name" => user.display_name.clone(),
            other => other
                .strip_prefix("attributes.")
                .and_then(|key| user.attributes.get(key).cloned()),
        };
        value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    // An override that refers to a missing field skips the user: sending a
    // half-rendered value would be worse than waiting for the data.
    let render = |key: &str,
                  template: &Option<Template>,
                  default: &dyn Fn() -> Option<String>|
     -> Result<Option<String>, String> {
        match template {
            Some(t) => t.render(&lookup).map(Some).ok_or_else(|| {
                format!(
                    "mapping.{key} ({:?}) refers to a field this user does not have",
                    t.as_str()
                )
            }),
            None => Ok(default()),
        }
    };

    let email = render("email", &mapping.email, &|| lookup("email"))?;
    let user_name = render("userName", &mapping.user_name, &|| email.clone())?
        .ok_or_else(|| "no email (userName is required and defaults to the email)".to_string())?;
    check_length("userName", &user_name, MAX_EMAIL_CHARS)?;
    if user_name.chars().any(char::is_control) || user_name.contains(char::is_whitespace) {
        return Err(format!(
            "userName {} contains whitespace or control characters",
            quoted(&user_name)
        ));
    }
    // An invisible character makes two addresses look the same to a person
    // while Penvio sees two accounts: refuse rather than guess.
    if user_name.chars().any(is_invisible) {
        return Err(format!(
            "userName {} contains invisible formatting characters (bidi controls or zero-width)",
            quoted(&user_name)
        ));
    }
    let email = email.unwrap_or_else(|| user_name.clone());
    check_length("email", &email, MAX_EMAIL_CHARS)?;
    if !looks_like_email(&email) {
        return Err(format!("email {} is not a valid address", quoted(&email)));
    }
    let name = |key: &str, value: Option<String>| -> Result<String, String> {
        let cleaned = value.map(|v| clean_name(&v)).unwrap_or_default();
        check_length(key, &cleaned, MAX_NAME_CHARS)?;
        Ok(cleaned)
    };
    let given_name = name(
        "givenName",
        render("givenName", &mapping.given_name, &|| lookup("given_name"))?,
    )?;
    let family_name = name(
        "familyName",
        render("familyName", &mapping.family_name, &|| {
            lookup("family_name")
        })?,
    )?;
    let display_name = name(
        "displayName",
        render("displayName", &mapping.display_name, &|| {
            lookup("display_name")
                .filter(|v| !clean_name(v).is_empty())
                .or_else(|| {
                    // Composed by us from two valid names, so cut to the
                    // limit rather than skipping the user for it.
                    let composed: String = format!("{given_name} {family_name}")
                        .trim()
                        .chars()
                        .take(MAX_NAME_CHARS)
                        .collect();
                    (!composed.is_empty()).then(|| composed.trim_end().to_string())
                })
        })?,
    )?;
    let display_name = if display_name.is_empty() {
        user_name.clone()
    } else {
        display_name
    };
    let external_id = render("externalId", &mapping.external_id, &|| {
        Some(user.id.clone())
    })?
    .unwrap_or_else(|| user.id.clone());
    check_length("externalId", &external_id, MAX_EXTERNAL_ID_CHARS)?;

    Ok(UserAttributes {
        user_name,
        given_name,
        family_name,
        display_name,
        email,
        external_id,
        active: user.active,
    })
}

/// A deliberately loose check: one `@` with text on both sides and a dot in
/// the domain. Penvio validates strictly; this only catches obvious garbage
/// early so it is reported per record instead of as a failed request.
fn looks_like_email(value: &str) -> bool {
    match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

#[cfg(test)]
mod lowercase_hash_tests {
    use super::lowercase_hash;

    #[test]
    fn names_equal_after_to_lowercase_hash_alike() {
        for (a, b) in [
            ("Ada@Example.COM", "ada@example.com"),
            ("XΣ@example.com", "xς@example.com"),
            ("ΣA@example.com", "σa@example.com"),
            ("İ@example.com", "i\u{307}@example.com"),
        ] {
            assert_eq!(a.to_lowercase(), b.to_lowercase(), "{a} {b}");
            assert_eq!(lowercase_hash(a), lowercase_hash(b), "{a} {b}");
        }
        assert_ne!(
            lowercase_hash("a@example.com"),
            lowercase_hash("b@example.com")
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::SourceGroup;

    fn user(id: &str, email: Option<&str>, active: bool) -> SourceUser {
        SourceUser {
            id: id.into(),
            email: email.map(Into::into),
            given_name: Some(format!("Given{id}")),
            family_name: Some(format!("Family{id}")),
            display_name: None,
            active,
            attributes: BTreeMap::new(),
        }
    }

    fn group(id: &str, name: &str, members: &[&str]) -> SourceGroup {
        SourceGroup {
            email: None,
            id: id.into(),
            name: name.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
            built_in: false,
        }
    }

    fn all_teams() -> ScopeConfig {
        ScopeConfig {
            user_groups: vec![],
            team_groups: vec![GroupPattern::new("*").unwrap()],
        }
    }

    fn never(_: &str) -> bool {
        false
    }

    #[test]
    fn default_mapping_follows_penvios_table() {
        let mut u = user("00u1", Some("Ada@Example.com"), true);
        u.display_name = None;
        let mapped = map_user(&u, &MappingConfig::default()).unwrap();
        assert_eq!(mapped.user_name, "Ada@Example.com");
        assert_eq!(mapped.email, "Ada@Example.com");
        assert_eq!(mapped.given_name, "Given00u1");
        assert_eq!(mapped.family_name, "Family00u1");
        assert_eq!(mapped.display_name, "Given00u1 Family00u1");
        assert_eq!(mapped.external_id, "00u1");
        assert!(mapped.active);
    }

    #[test]
    fn display_name_falls_back_to_user_name_without_names() {
        let mut u = user("1", Some("x@example.com"), true);
        u.given_name = None;
        u.family_name = None;
        let mapped = map_user(&u, &MappingConfig::default()).unwrap();
        assert_eq!(mapped.display_name, "x@example.com");
    }

    #[test]
    fn overrides_render_templates_over_raw_attributes() {
        let mut u = user("1", Some("x@example.com"), true);
        u.attributes
            .insert("profile.login".into(), "login@example.com".into());
        let mapping = MappingConfig {
            user_name: Some(Template::parse("{attributes.profile.login}").unwrap()),
            display_name: Some(Template::parse("{family_name}, {given_name}").unwrap()),
            ..Default::default()
        };
        let mapped = map_user(&u, &mapping).unwrap();
        assert_eq!(mapped.user_name, "login@example.com");
        assert_eq!(mapped.email, "x@example.com");
        assert_eq!(mapped.display_name, "Family1, Given1");
    }

    #[test]
    fn an_override_referring_to_a_missing_field_skips_the_user() {
        let mapping = MappingConfig {
            display_name: Some(Template::parse("{attributes.title}").unwrap()),
            ..Default::default()
        };
        let err = map_user(&user("1", Some("x@example.com"), true), &mapping).unwrap_err();
        assert!(err.contains("mapping.displayName"), "{err}");
    }

    #[test]
    fn built_in_groups_become_teams_only_when_named_exactly() {
        let mut everyone = group("g0", "Everyone", &["1"]);
        everyone.built_in = true;
        let directory = Directory {
            users: vec![user("1", Some("a@example.com"), true)],
            groups: vec![everyone, group("g1", "Eng", &["1"])],
            skipped: vec![],
        };
        let by_glob = map_directory(&directory, &all_teams(), &MappingConfig::default(), &never);
        assert_eq!(by_glob.desired.teams.keys().collect::<Vec<_>>(), vec!["g1"]);
        let named = ScopeConfig {
            user_groups: vec![],
            team_groups: vec![
                GroupPattern::new("*").unwrap(),
                GroupPattern::new("Everyone").unwrap(),
            ],
        };
        let by_name = map_directory(&directory, &named, &MappingConfig::default(), &never);
        assert_eq!(by_name.desired.teams.len(), 2);
    }

    #[test]
    fn names_lose_control_and_bidi_characters_and_keep_the_rest() {
        let cases = [
            ("Ada\nLovelace", "Ada Lovelace"),
            ("  Ada\t\u{0}  ", "Ada"),
            ("Ada \u{202E}gpj.exe", "Ada gpj.exe"),
            ("\u{2066}x\u{2069}\u{200E}\u{200F}\u{061C}", "x"),
            ("🦀 Ferris", "🦀 Ferris"),
            ("José\u{85}Núñez", "José Núñez"),
            ("\u{202E}", ""),
        ];
        for (raw, expected) in cases {
            assert_eq!(clean_name(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn over_long_values_are_refused_and_quoted_briefly() {
        let mut u = user("1", Some("a@example.com"), true);
        u.given_name = Some("g".repeat(MAX_NAME_CHARS));
        u.family_name = Some("f".repeat(10));
        let mapped = map_user(&u, &MappingConfig::default()).unwrap();
        assert_eq!(mapped.display_name.chars().count(), MAX_NAME_CHARS);
        u.given_name = Some("g".repeat(MAX_NAME_CHARS + 1));
        let err = map_user(&u, &MappingConfig::default()).unwrap_err();
        assert!(err.starts_with("givenName is 257 characters long"), "{err}");
        assert!(err.len() < 200, "{err}");
        let long = format!("{}@example.com", "a".repeat(MAX_EMAIL_CHARS));
        let err = map_user(&user("1", Some(&long), true), &MappingConfig::default()).unwrap_err();
        assert!(err.contains("userName is 266 characters"), "{err}");
    }

    #[test]
    fn provisioned_users_with_bad_records_keep_their_last_synced_state() {
        let directory = Directory {
            users: vec![
                user("1", Some("bad"), true),
                user("2", Some("new-bad"), true),
            ],
            groups: vec![group("g1", "Eng", &["1", "2"])],
            skipped: vec![],
        };
        let last = UserAttributes {
            user_name: "a@example.com".into(),
            active: true,
            ..Default::default()
        };
        let synced = |id: &str| (id == "1").then(|| last.clone());
        let mapped = map_directory_with(
            &directory,
            &all_teams(),
            &MappingConfig::default(),
            &|id| id == "1",
            &synced,
        );
        assert_eq!(mapped.desired.users.get("1"), Some(&last));
        assert!(!mapped.desired.users.contains_key("2"));
        assert_eq!(mapped.skipped.len(), 2);
        assert!(mapped.skipped[0].reason.contains("stays in Penvio"));
        let members: Vec<&str> = mapped.desired.teams["g1"]
            .members
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(members, vec!["1"]);
    }

    #[test]
    fn a_missing_scope_group_keeps_provisioned_users_in_scope() {
        let directory = Directory {
            users: vec![
                user("1", Some("a@example.com"), true),
                user("2", Some("b@example.com"), true),
                user("3", Some("c@example.com"), true),
            ],
            groups: vec![group("g1", "Engineering", &["1"])],
            skipped: vec![],
        };
        let scope = ScopeConfig {
            user_groups: vec!["Engineering".into(), "Sales".into()],
            team_groups: vec![],
        };
        let provisioned = |id: &str| id == "2";
        let mapped = map_directory(&directory, &scope, &MappingConfig::default(), &provisioned);
        let kept: Vec<&str> = mapped.desired.users.keys().map(String::as_str).collect();
        assert_eq!(kept, vec!["1", "2"]);
        assert_eq!(mapped.out_of_scope_users, 1);
    }

    #[test]
    fn bad_records_are_skipped_with_reasons() {
        let cases = [
            (None, "no email"),
            (Some("not-an-email"), "not a valid address"),
            (Some("a b@example.com"), "whitespace"),
            (Some("a@localhost"), "not a valid address"),
        ];
        for (email, expected) in cases {
            let err = map_user(&user("1", email, true), &MappingConfig::default()).unwrap_err();
            assert!(err.contains(expected), "{email:?}: {err}");
        }
    }

    #[test]
    fn one_bad_user_does_not_stop_the_others() {
        let directory = Directory {
            users: vec![
                user("1", None, true),
                user("2", Some("b@example.com"), true),
            ],
            groups: vec![],
            skipped: vec![],
        };
        let mapped = map_directory(&directory, &all_teams(), &MappingConfig::default(), &never);
        assert_eq!(mapped.desired.users.keys().collect::<Vec<_>>(), vec!["2"]);
        assert_eq!(mapped.skipped.len(), 1);
        assert_eq!(mapped.skipped[0].id, "1");
    }

    #[test]
    fn duplicate_emails_keep_the_provisioned_or_only_active_record() {
        let directory = Directory {
            users: vec![
                user("a", Some("dup@example.com"), true),
                user("b", Some("DUP@example.com"), true),
                user("c", Some("two@example.com"), false),
                user("d", Some("two@example.com"), true),
                user("e", Some("three@example.com"), true),
                user("f", Some("three@example.com"), true),
            ],
            groups: vec![],
            skipped: vec![],
        };
        let provisioned = |id: &str| id == "b";
        let mapped = map_directory(
            &directory,
            &all_teams(),
            &MappingConfig::default(),
            &provisioned,
        );
        let kept: Vec<&str> = mapped.desired.users.keys().map(String::as_str).collect();
        assert_eq!(kept, vec!["b", "d"]);
        let skipped: BTreeMap<&str, &str> = mapped
            .skipped
            .iter()
            .map(|s| (s.id.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(skipped.len(), 4);
        assert!(skipped["a"].contains("also used by b"), "{}", skipped["a"]);
        assert!(skipped["e"].contains("also used by f"));
        assert!(skipped["f"].contains("also used by e"));
    }

    #[test]
    fn user_groups_scope_users_and_report_unknown_groups() {
        let directory = Directory {
            users: vec![
                user("1", Some("a@example.com"), true),
                user("2", Some("b@example.com"), true),
            ],
            groups: vec![group("g1", "Engineering", &["1"])],
            skipped: vec![],
        };
        let scope = ScopeConfig {
            user_groups: vec!["Engineering".into(), "Typo".into()],
            team_groups: vec![],
        };
        let mapped = map_directory(&directory, &scope, &MappingConfig::default(), &never);
        assert_eq!(mapped.desired.users.keys().collect::<Vec<_>>(), vec!["1"]);
        assert_eq!(mapped.out_of_scope_users, 1);
        assert_eq!(mapped.unmatched_user_groups, vec!["Typo".to_string()]);
        assert!(mapped.desired.teams.is_empty());
    }

    #[test]
    fn teams_hold_only_active_in_scope_members_and_follow_patterns() {
        let directory = Directory {
            users: vec![
                user("1", Some("a@example.com"), true),
                user("2", Some("b@example.com"), false),
                user("3", None, true),
            ],
            groups: vec![
                group("g1", "eng-platform", &["1", "2", "3", "ghost"]),
                group("g2", "Everyone", &["1"]),
                group("g3", "Design", &[]),
            ],
            skipped: vec![],
        };
        let scope = ScopeConfig {
            user_groups: vec![],
            team_groups: vec![
                GroupPattern::new("eng-*").unwrap(),
                GroupPattern::new("Design").unwrap(),
            ],
        };
        let mapped = map_directory(&directory, &scope, &MappingConfig::default(), &never);
        let teams: Vec<&str> = mapped.desired.teams.keys().map(String::as_str).collect();
        assert_eq!(teams, vec!["g1", "g3"]);
        let members: Vec<&str> = mapped.desired.teams["g1"]
            .members
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(members, vec!["1"]);
    }

    #[test]
    fn scope_matches_a_group_by_email_as_well_as_name() {
        let with_email = |id: &str, name: &str, email: &str, members: &[&str]| SourceGroup {
            email: Some(email.into()),
            ..group(id, name, members)
        };
        let directory = Directory {
            users: vec![
                user("1", Some("a@example.com"), true),
                user("2", Some("b@example.com"), true),
            ],
            groups: vec![
                with_email("g1", "Engineering", "eng@example.com", &["1"]),
                with_email("g2", "Sales", "sales@example.com", &["2"]),
                with_email("g3", "Ops", "ops-team@corp.example.com", &["1"]),
            ],
            skipped: vec![],
        };
        // user_groups: an email names its group, case-insensitively.
        let scope = ScopeConfig {
            user_groups: vec!["ENG@example.com".into(), "nobody@example.com".into()],
            team_groups: vec![
                GroupPattern::new("sales@example.com").unwrap(),
                GroupPattern::new("*@corp.example.com").unwrap(),
            ],
        };
        let mapped = map_directory(&directory, &scope, &MappingConfig::default(), &never);
        assert_eq!(mapped.desired.users.keys().collect::<Vec<_>>(), vec!["1"]);
        assert_eq!(mapped.unmatched_user_groups, vec!["nobody@example.com"]);
        // team_groups: an exact email and a glob over emails; Engineering
        // matches neither by name nor by email.
        let teams: Vec<&str> = mapped.desired.teams.keys().map(String::as_str).collect();
        assert_eq!(teams, vec!["g2", "g3"]);
        assert_eq!(
            mapped.desired.teams["g2"].name, "Sales",
            "the name stays the team name"
        );
        // A built-in group is never selected through its email.
        let mut everyone = with_email("g9", "Everyone", "all@example.com", &[]);
        everyone.built_in = true;
        assert!(!selects_team(
            &GroupPattern::new("all@example.com").unwrap(),
            &everyone
        ));
        assert!(selects_team(
            &GroupPattern::new("Everyone").unwrap(),
            &everyone
        ));
    }
}
