//! The pure half of the Entra adapter: applying delta records onto the
//! stored base, and deriving the neutral directory from it. No I/O here.
//!
//! The base is every Entra user (as the selected Graph properties) and every
//! group with its *direct* members (users and nested groups). The directory
//! handed to the engine is derived from it: guests and users outside the
//! app's assignments are left out, nested groups are flattened or ignored.
//! Users left out are kept in the cursor, so a later change of `userType`,
//! assignment or config brings them in without a full fetch.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::proto::{GroupRecord, ODATA_GROUP, ODATA_USER, UserRecord};
use crate::config::{EmailFrom, NestedGroups};
use crate::model::{Directory, SkippedRecord, SourceUser};
use crate::source::kit::values::team;

/// Version of the cursor layout; another version starts a fresh round.
pub const CURSOR_VERSION: u32 = 1;

/// Guest accounts' UPNs carry this marker (`ada_example.com#EXT#@contoso…`).
const GUEST_UPN_MARKER: &str = "#EXT#";

/// The Graph properties of a user the adapter selects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawUser {
    /// `accountEnabled`.
    pub account_enabled: Option<bool>,
    /// `mail`.
    pub mail: Option<String>,
    /// `userPrincipalName`.
    pub user_principal_name: Option<String>,
    /// `givenName`.
    pub given_name: Option<String>,
    /// `surname`.
    pub surname: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `userType` (`Member` or `Guest`).
    pub user_type: Option<String>,
}

/// Attribute names (the Graph property names) kept on each [`SourceUser`].
const ATTR_MAIL: &str = "mail";
const ATTR_UPN: &str = "userPrincipalName";
const ATTR_USER_TYPE: &str = "userType";
const ATTR_ENABLED: &str = "accountEnabled";

impl RawUser {
    /// Overlays the properties present in a delta record; `null` clears.
    fn merge(&mut self, record: &UserRecord) {
        let text = |value: &Value| value.as_str().map(str::to_string);
        for (key, value) in record {
            match key.as_str() {
                "accountEnabled" => self.account_enabled = value.as_bool(),
                "mail" => self.mail = text(value),
                "userPrincipalName" => self.user_principal_name = text(value),
                "givenName" => self.given_name = text(value),
                "surname" => self.surname = text(value),
                "displayName" => self.display_name = text(value),
                "userType" => self.user_type = text(value),
                _ => {}
            }
        }
    }

    fn is_guest(&self) -> bool {
        self.user_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("guest"))
    }

    /// The email per `email_from`; `None` makes the engine skip the user.
    fn email(&self, email_from: EmailFrom) -> Option<String> {
        let non_empty = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let upn =
            non_empty(&self.user_principal_name).filter(|upn| !upn.contains(GUEST_UPN_MARKER));
        match email_from {
            EmailFrom::Mail => non_empty(&self.mail).or(upn),
            EmailFrom::UserPrincipalName => upn,
        }
    }

    /// The neutral user; raw Graph fields go into `attributes`.
    fn to_source_user(&self, id: &str, email_from: EmailFrom) -> SourceUser {
        let enabled = self.account_enabled.map(|b| b.to_string());
        let attributes = [
            (ATTR_MAIL, &self.mail),
            (ATTR_UPN, &self.user_principal_name),
            (ATTR_USER_TYPE, &self.user_type),
            (ATTR_ENABLED, &enabled),
        ];
        let pair = |(key, value): (&str, &Option<String>)| Some((key.into(), value.clone()?));
        SourceUser {
            id: id.to_string(),
            email: self.email(email_from),
            given_name: self.given_name.clone(),
            family_name: self.surname.clone(),
            display_name: self.display_name.clone(),
            // Graph omits accountEnabled only if it was not selected; treat
            // a missing value as enabled rather than deactivate everyone.
            active: self.account_enabled.unwrap_or(true),
            attributes: attributes.into_iter().filter_map(pair).collect(),
        }
    }

    /// Back from a neutral user of the previous directory (lossless for
    /// the selected properties, which are kept in `attributes`).
    fn from_source_user(user: &SourceUser) -> Self {
        let attr = |key: &str| user.attributes.get(key).cloned();
        RawUser {
            account_enabled: attr(ATTR_ENABLED).map(|v| v == "true"),
            mail: attr(ATTR_MAIL),
            user_principal_name: attr(ATTR_UPN),
            given_name: user.given_name.clone(),
            surname: user.family_name.clone(),
            display_name: user.display_name.clone(),
            user_type: attr(ATTR_USER_TYPE),
        }
    }
}

/// A group and its direct members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupNode {
    /// `displayName`.
    pub name: Option<String>,
    /// Direct member users.
    pub users: BTreeSet<String>,
    /// Direct member groups.
    pub groups: BTreeSet<String>,
}

/// Everything Entra holds that the adapter tracks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Base {
    /// Users by object id.
    pub users: BTreeMap<String, RawUser>,
    /// Groups by object id.
    pub groups: BTreeMap<String, GroupNode>,
}

/// The adapter's cursor: both delta links and the parts of the base that
/// the directory does not carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Layout version.
    pub version: u32,
    /// Where the next `/users/delta` round starts.
    pub users_delta: String,
    /// Where the next `/groups/delta` round starts.
    pub groups_delta: String,
    /// Every group with its direct members.
    pub groups: BTreeMap<String, GroupNode>,
    /// Users left out of the directory (guests, unassigned).
    pub hidden_users: BTreeMap<String, RawUser>,
}

impl Cursor {
    /// Parses a stored cursor; `None` (start afresh) for another layout.
    pub fn decode(text: &str) -> Option<Self> {
        serde_json::from_str::<Cursor>(text)
            .ok()
            .filter(|cursor| cursor.version == CURSOR_VERSION)
    }

    /// What a round continues from: the base (the previous directory's
    /// users, the hidden users and the groups) and both delta links.
    pub fn into_start(self, previous: &Directory) -> (Base, String, String) {
        let users = previous.users.iter();
        let users = users.map(|user| (user.id.clone(), RawUser::from_source_user(user)));
        let users = users.chain(self.hidden_users).collect();
        let groups = self.groups;
        (Base { users, groups }, self.users_delta, self.groups_delta)
    }
}

impl Base {
    /// Applies `/users/delta` records in order (later records win; a
    /// removed user leaves the base).
    pub fn apply_users(&mut self, records: &[UserRecord]) {
        for record in records {
            let Some(id) = record.get("id").and_then(Value::as_str) else {
                continue;
            };
            if record.contains_key("@removed") {
                self.users.remove(id);
            } else {
                self.users.entry(id.to_string()).or_default().merge(record);
            }
        }
    }

    /// Applies `/groups/delta` records in order. A group repeated across
    /// pages (large memberships are split) is merged, never replaced.
    pub fn apply_groups(&mut self, records: &[GroupRecord]) {
        for record in records {
            if record.removed.is_some() {
                self.groups.remove(&record.id);
                continue;
            }
            let node = self.groups.entry(record.id.clone()).or_default();
            if let Some(name) = &record.display_name {
                node.name = Some(name.clone());
            }
            for change in &record.members_delta {
                let id = change.id.clone();
                match (change.removed.is_some(), change.odata_type.as_deref()) {
                    (false, Some(ODATA_USER)) => node.users.insert(id),
                    (false, Some(ODATA_GROUP)) => node.groups.insert(id),
                    // Removals may come without a type: drop both ways.
                    (true, _) => node.users.remove(&id) | node.groups.remove(&id),
                    // Devices, contacts, service principals are not people.
                    _ => false,
                };
            }
        }
    }

    /// Users of `group`, flattening nested groups at any depth (cycles are
    /// possible in Entra and are cut).
    fn transitive_users(&self, group: &str) -> BTreeSet<String> {
        let mut users = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut stack = vec![group.to_string()];
        while let Some(id) = stack.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            if let Some(node) = self.groups.get(&id) {
                users.extend(node.users.iter().cloned());
                stack.extend(node.groups.iter().cloned());
            }
        }
        users
    }
}

/// What decides which users and groups the directory holds.
#[derive(Debug, Clone)]
pub struct Derive<'a> {
    /// Email source.
    pub email_from: EmailFrom,
    /// Nested group handling.
    pub nested_groups: NestedGroups,
    /// Whether guests are synced.
    pub include_guests: bool,
    /// App assignments, when `app_id` scopes the sync.
    pub assignments: Option<&'a Assignments>,
}

/// Users and groups assigned to the enterprise app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignments {
    /// Directly assigned users.
    pub users: BTreeSet<String>,
    /// Assigned groups (their direct members are assigned; Entra does not
    /// cascade app assignment to nested groups).
    pub groups: BTreeSet<String>,
}

/// The directory and the hidden users, derived from the base.
pub fn derive(base: &Base, options: &Derive<'_>) -> (Directory, BTreeMap<String, RawUser>) {
    let assigned: Option<BTreeSet<&str>> =
        options.assignments.map(|Assignments { users, groups }| {
            let nodes = groups.iter().filter_map(|id| base.groups.get(id));
            let ids = users.iter().chain(nodes.flat_map(|node| &node.users));
            ids.map(String::as_str).collect()
        });
    let mut directory = Directory::default();
    let mut hidden = BTreeMap::new();
    let mut visible = BTreeSet::new();
    for (id, user) in &base.users {
        let in_scope = (options.include_guests || !user.is_guest())
            && assigned
                .as_ref()
                .is_none_or(|ids| ids.contains(id.as_str()));
        if in_scope {
            visible.insert(id.as_str());
            directory
                .users
                .push(user.to_source_user(id, options.email_from));
        } else {
            hidden.insert(id.clone(), user.clone());
        }
    }
    for (id, node) in &base.groups {
        if let Some(assignments) = options.assignments
            && !assignments.groups.contains(id)
        {
            continue;
        }
        let Some(name) = node.name.clone().filter(|n| !n.trim().is_empty()) else {
            directory.skipped.push(SkippedRecord {
                kind: "group".into(),
                id: id.clone(),
                reason: "Graph returned the group without a displayName".into(),
            });
            continue;
        };
        let members = match options.nested_groups {
            NestedGroups::Flatten => base.transitive_users(id),
            NestedGroups::Ignore => node.users.clone(),
        };
        let members = members.into_iter().filter(|m| visible.contains(m.as_str()));
        directory
            .groups
            .push(team(id.clone(), name, members.collect()));
    }
    (directory, hidden)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Delta records (users or groups) from their JSON.
    fn records<T: serde::de::DeserializeOwned>(value: Value) -> Vec<T> {
        serde_json::from_value(value).unwrap()
    }

    /// Derives with mail as email, flattened groups and guests, as `change`d.
    fn derived<'a>(base: &Base, change: impl FnOnce(&mut Derive<'a>)) -> (Directory, Hidden) {
        let mut options = Derive {
            email_from: EmailFrom::Mail,
            nested_groups: NestedGroups::Flatten,
            include_guests: true,
            assignments: None,
        };
        change(&mut options);
        derive(base, &options)
    }

    type Hidden = BTreeMap<String, RawUser>;

    fn group<'d>(directory: &'d Directory, id: &str) -> &'d crate::model::SourceGroup {
        directory.groups.iter().find(|g| g.id == id).unwrap()
    }

    fn member(id: &str, kind: &str) -> Value {
        json!({"@odata.type": kind, "id": id})
    }

    #[test]
    fn a_group_repeated_across_pages_is_merged() {
        let mut base = Base::default();
        base.apply_groups(&records(json!([
            {"id": "g1", "displayName": "Eng", "members@delta": [member("u1", ODATA_USER), member("u2", ODATA_USER)]},
            {"id": "g2", "displayName": "Ops"},
            {"id": "g1", "members@delta": [member("u3", ODATA_USER), member("g2", ODATA_GROUP), member("d1", "#microsoft.graph.device")]},
        ])));
        let g1 = &base.groups["g1"];
        assert_eq!(
            g1.name.as_deref(),
            Some("Eng"),
            "a repeat without name keeps it"
        );
        assert_eq!(g1.users.iter().collect::<Vec<_>>(), ["u1", "u2", "u3"]);
        assert_eq!(g1.groups.iter().collect::<Vec<_>>(), ["g2"]);
    }

    #[test]
    fn removals_and_changes_apply_onto_the_base() {
        let mut base = Base::default();
        base.apply_users(&records(json!([
            {"id": "u1", "mail": "a@x.com", "accountEnabled": true, "givenName": "A"},
            {"id": "u2", "mail": "b@x.com", "accountEnabled": true},
        ])));
        base.apply_groups(&records(json!([
            {"id": "g1", "displayName": "Eng", "members@delta": [member("u1", ODATA_USER), member("u2", ODATA_USER)]},
            {"id": "g2", "displayName": "Gone"},
        ])));
        base.apply_users(&records(json!([
            {"id": "u1", "accountEnabled": false},
            {"id": "u2", "@removed": {"reason": "changed"}},
        ])));
        base.apply_groups(&records(json!([
            {"id": "g1", "displayName": "Engineering", "members@delta": [{"@odata.type": ODATA_USER, "id": "u2", "@removed": {"reason": "deleted"}}]},
            {"id": "g2", "@removed": {"reason": "deleted"}},
        ])));
        let u1 = &base.users["u1"];
        assert_eq!(u1.account_enabled, Some(false));
        assert_eq!(
            u1.mail.as_deref(),
            Some("a@x.com"),
            "absent properties are kept"
        );
        assert_eq!(u1.given_name.as_deref(), Some("A"));
        assert!(!base.users.contains_key("u2"));
        assert!(!base.groups.contains_key("g2"));
        let (directory, _) = derived(&base, |_| {});
        assert_eq!(directory.groups.len(), 1);
        assert_eq!(directory.groups[0].name, "Engineering");
        assert_eq!(directory.groups[0].members, ["u1"]);
        assert!(!directory.users[0].active);
    }

    #[test]
    fn nested_groups_flatten_or_not_and_cycles_end() {
        let mut base = Base::default();
        base.apply_users(&records(json!([{"id": "u1", "mail": "a@x.com"}, {"id": "u2", "mail": "b@x.com"}, {"id": "u3", "mail": "c@x.com"}])));
        base.apply_groups(&records(json!([
            {"id": "outer", "displayName": "Outer", "members@delta": [member("u1", ODATA_USER), member("inner", ODATA_GROUP)]},
            {"id": "inner", "displayName": "Inner", "members@delta": [member("u2", ODATA_USER), member("deep", ODATA_GROUP)]},
            {"id": "deep", "displayName": "Deep", "members@delta": [member("u3", ODATA_USER), member("outer", ODATA_GROUP)]},
        ])));
        let (flat, _) = derived(&base, |_| {});
        assert_eq!(group(&flat, "outer").members, ["u1", "u2", "u3"]);
        let (direct, _) = derived(&base, |o| o.nested_groups = NestedGroups::Ignore);
        assert_eq!(group(&direct, "outer").members, ["u1"]);
    }

    #[test]
    fn email_guests_and_assignments() {
        let mut base = Base::default();
        base.apply_users(&records(json!([
            {"id": "m1", "mail": null, "userPrincipalName": "m1@contoso.com", "userType": "Member"},
            {"id": "m2", "mail": "real@contoso.com", "userPrincipalName": "m2@contoso.com", "userType": "Member"},
            {"id": "g1", "mail": null, "userPrincipalName": "ada_x.com#EXT#@contoso.onmicrosoft.com", "userType": "Guest"},
            {"id": "g2", "mail": "bob@x.com", "userPrincipalName": "bob_x.com#EXT#@contoso.onmicrosoft.com", "userType": "Guest"},
        ])));
        base.apply_groups(&records(json!([
            {"id": "team", "displayName": "Team", "members@delta": [member("m2", ODATA_USER), member("g2", ODATA_USER)]},
            {"id": "other", "displayName": "Other", "members@delta": [member("m1", ODATA_USER)]},
        ])));
        let (all, hidden) = derived(&base, |_| {});
        let email =
            |d: &Directory, id: &str| d.users.iter().find(|u| u.id == id).unwrap().email.clone();
        assert_eq!(
            email(&all, "m1").as_deref(),
            Some("m1@contoso.com"),
            "UPN fallback"
        );
        assert_eq!(email(&all, "m2").as_deref(), Some("real@contoso.com"));
        assert_eq!(email(&all, "g1"), None, "a guest UPN is no email");
        assert!(hidden.is_empty());
        let (upn, _) = derived(&base, |o| o.email_from = EmailFrom::UserPrincipalName);
        assert_eq!(email(&upn, "m2").as_deref(), Some("m2@contoso.com"));

        let (members_only, hidden) = derived(&base, |o| o.include_guests = false);
        assert_eq!(members_only.users.len(), 2);
        assert_eq!(hidden.keys().collect::<Vec<_>>(), ["g1", "g2"]);
        let team = group(&members_only, "team");
        assert_eq!(team.members, ["m2"], "hidden users are not members");

        let assignments = Assignments {
            users: BTreeSet::from(["m1".to_string()]),
            groups: BTreeSet::from(["team".to_string()]),
        };
        let (scoped, hidden) = derived(&base, |o| o.assignments = Some(&assignments));
        let ids: Vec<_> = scoped.users.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["g2", "m1", "m2"]);
        assert_eq!(hidden.keys().collect::<Vec<_>>(), ["g1"]);
        let groups: Vec<_> = scoped.groups.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(groups, ["team"]);
    }

    #[test]
    fn the_cursor_round_trips_through_the_directory() {
        let mut base = Base::default();
        base.apply_users(&records(json!([
            {"id": "u1", "mail": "a@x.com", "userPrincipalName": "a@x.com", "accountEnabled": false, "givenName": "A", "surname": "B", "displayName": "A B", "userType": "Member"},
            {"id": "g1", "mail": "g@y.com", "userType": "Guest", "accountEnabled": true},
        ])));
        base.apply_groups(&records(
            json!([{"id": "t", "displayName": "T", "members@delta": [member("u1", ODATA_USER)]}]),
        ));
        let (directory, hidden) = derived(&base, |o| o.include_guests = false);
        let cursor = Cursor {
            version: CURSOR_VERSION,
            users_delta: "u".into(),
            groups_delta: "g".into(),
            groups: base.groups.clone(),
            hidden_users: hidden,
        };
        let decoded = Cursor::decode(&serde_json::to_string(&cursor).unwrap()).unwrap();
        assert_eq!(decoded, cursor);
        let start = (base, "u".to_string(), "g".to_string());
        assert_eq!(decoded.into_start(&directory), start);
        assert!(Cursor::decode("{\"version\":0}").is_none());
        assert!(
            Cursor::decode("https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x").is_none()
        );
    }
}
