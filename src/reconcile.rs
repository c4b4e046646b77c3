//! Reconciliation: rebuild the snapshot from what Penvio really holds.
//!
//! Pure: takes the desired state, the old snapshot and Penvio's listing, and
//! returns the snapshot that describes Penvio as it is. Planning against it
//! repairs drift made by hand (changed attributes, reactivated or deleted
//! users, stray team members). Penvio users and teams this agent neither
//! created nor can match to the directory are left alone unless adopted.

use std::collections::{BTreeSet, HashMap};

use crate::mapping::DesiredState;
use crate::scim::{ScimGroup, ScimUser};
use crate::snapshot::{Snapshot, StoredUser, TeamRecord, UserRecord};

/// Prefix of the snapshot keys of adopted Penvio resources that match no
/// directory record: they are managed from now on (and so removed).
pub const ADOPTED_PREFIX: &str = "adopted:";

use crate::report::ReconcileFindings;

/// Rebuilds the snapshot from Penvio's listing.
pub fn rebuild_snapshot(
    desired: &DesiredState,
    old: &Snapshot,
    penvio_users: &[ScimUser],
    penvio_groups: &[ScimGroup],
    adopt: bool,
    now: i64,
) -> (Snapshot, ReconcileFindings) {
    let mut rebuild = Rebuild {
        desired,
        old,
        adopt,
        now,
        snapshot: Snapshot {
            generation: old.generation,
            ..Snapshot::default()
        },
        findings: ReconcileFindings::default(),
    };
    rebuild.users(penvio_users);
    rebuild.teams(penvio_groups);
    (rebuild.snapshot, rebuild.findings)
}

/// Penvio's users indexed the three ways a directory user can match one.
struct UserIndex<'a> {
    by_id: HashMap<&'a str, &'a ScimUser>,
    by_external: HashMap<&'a str, Vec<&'a ScimUser>>,
    by_name: HashMap<String, Vec<&'a ScimUser>>,
}

impl<'a> UserIndex<'a> {
    fn new(users: &'a [ScimUser]) -> Self {
        let mut index = UserIndex {
            by_id: users.iter().map(|u| (u.id.as_str(), u)).collect(),
            by_external: HashMap::new(),
            by_name: HashMap::new(),
        };
        for user in users {
            if let Some(external) = user.external_id.as_deref() {
                index.by_external.entry(external).or_default().push(user);
            }
            index
                .by_name
                .entry(user.user_name.to_lowercase())
                .or_default()
                .push(user);
        }
        index
    }
}

/// Penvio's groups indexed the three ways a directory group can match one.
struct GroupIndex<'a> {
    by_id: HashMap<&'a str, &'a ScimGroup>,
    by_external: HashMap<&'a str, Vec<&'a ScimGroup>>,
    by_name: HashMap<&'a str, Vec<&'a ScimGroup>>,
}

impl<'a> GroupIndex<'a> {
    fn new(groups: &'a [ScimGroup]) -> Self {
        let mut index = GroupIndex {
            by_id: groups.iter().map(|g| (g.id.as_str(), g)).collect(),
            by_external: HashMap::new(),
            by_name: HashMap::new(),
        };
        for group in groups {
            if let Some(external) = group.external_id.as_deref() {
                index.by_external.entry(external).or_default().push(group);
            }
            index
                .by_name
                .entry(group.display_name.as_str())
                .or_default()
                .push(group);
        }
        index
    }
}

/// One reconciliation: the inputs, and the snapshot and findings it builds.
struct Rebuild<'a> {
    desired: &'a DesiredState,
    old: &'a Snapshot,
    adopt: bool,
    now: i64,
    snapshot: Snapshot,
    findings: ReconcileFindings,
}

impl Rebuild<'_> {
    /// Users: directory users linked (known id, else a free unambiguous
    /// externalId or userName), then users only the old snapshot holds,
    /// then the rest (adopted or left alone).
    fn users(&mut self, penvio_users: &[ScimUser]) {
        let index = UserIndex::new(penvio_users);
        let mut claimed: BTreeSet<&str> = BTreeSet::new();
        self.link_desired_users(&index, &mut claimed);
        for (source_id, previous) in &self.old.users {
            if self.desired.users.contains_key(source_id) {
                continue;
            }
            match index.by_id.get(previous.penvio_id()) {
                Some(user) if !claimed.contains(user.id.as_str()) => {
                    claimed.insert(user.id.as_str());
                    let record = self.record_for(user, Some(previous));
                    self.snapshot.users.insert(source_id.clone(), record);
                }
                _ => {}
            }
        }
        for user in penvio_users {
            if claimed.contains(user.id.as_str()) {
                continue;
            }
            if self.adopt {
                self.findings.adopted += 1;
                let record = self.record_for(user, None);
                let key = format!("{ADOPTED_PREFIX}{}", user.id);
                self.snapshot.users.insert(key, record);
            } else {
                self.findings.unmanaged_users += 1;
            }
        }
    }

    fn link_desired_users<'u>(&mut self, index: &UserIndex<'u>, claimed: &mut BTreeSet<&'u str>) {
        // Penvio user id → the directory user the old snapshot held it for.
        let old_owner: HashMap<&str, &str> = self
            .old
            .users
            .iter()
            .filter(|(key, _)| !key.starts_with(ADOPTED_PREFIX))
            .map(|(key, record)| (record.penvio_id(), key.as_str()))
            .collect();
        for (source_id, wanted) in &self.desired.users {
            let previous = self.old.users.get(source_id);
            let known = previous.and_then(|p| index.by_id.get(p.penvio_id()).copied());
            // Never link by externalId or userName to an account held for
            // another directory user (an email reused after a leaver): the
            // create then meets it and `policy.on_username_reuse` decides.
            let free = |user: &&ScimUser| {
                old_owner
                    .get(user.id.as_str())
                    .is_none_or(|owner| *owner == source_id.as_str())
            };
            let found = known
                .or_else(|| only_one(index.by_external.get(source_id.as_str())).filter(free))
                .or_else(|| {
                    only_one(index.by_name.get(&wanted.user_name().to_lowercase())).filter(free)
                })
                .filter(|user| !claimed.contains(user.id.as_str()));
            match found {
                Some(user) => {
                    claimed.insert(user.id.as_str());
                    if known.is_none() {
                        self.findings.linked_users += 1;
                    }
                    let record = self.record_for(user, previous);
                    self.snapshot.users.insert(source_id.clone(), record);
                }
                None if previous.is_some() => self.findings.missing_users += 1,
                None => {}
            }
        }
    }

    /// The record of a Penvio user, keeping an earlier deactivation time.
    fn record_for(&self, user: &ScimUser, previous: Option<&StoredUser>) -> StoredUser {
        StoredUser::from(UserRecord {
            penvio_id: user.id.clone(),
            attributes: user.attributes(),
            deactivated_at: match (
                user.active.unwrap_or(true),
                previous.and_then(StoredUser::deactivated_at),
            ) {
                (true, _) => None,
                (false, Some(at)) => Some(at),
                (false, None) => Some(self.now),
            },
        })
    }

    /// Teams, the same way as users: directory teams linked (known id,
    /// else externalId, else an unambiguous name), then teams only the old
    /// snapshot holds, then the rest. Members are read back through the
    /// users just rebuilt.
    fn teams(&mut self, penvio_groups: &[ScimGroup]) {
        let index = GroupIndex::new(penvio_groups);
        let member_key: MemberKeys = self
            .snapshot
            .users
            .iter()
            .map(|(key, record)| (record.penvio_id().to_string(), key.clone()))
            .collect();
        let mut claimed: BTreeSet<&str> = BTreeSet::new();
        self.link_desired_teams(&index, &member_key, &mut claimed);
        for (source_id, previous) in &self.old.teams {
            if self.desired.teams.contains_key(source_id) {
                continue;
            }
            if let Some(group) = index.by_id.get(previous.penvio_id.as_str())
                && !claimed.contains(group.id.as_str())
            {
                claimed.insert(group.id.as_str());
                let record = team_record(group, &member_key);
                self.snapshot.teams.insert(source_id.clone(), record);
            }
        }
        for group in penvio_groups {
            if claimed.contains(group.id.as_str()) {
                continue;
            }
            if self.adopt {
                self.findings.adopted += 1;
                let record = team_record(group, &member_key);
                let key = format!("{ADOPTED_PREFIX}{}", group.id);
                self.snapshot.teams.insert(key, record);
            } else {
                self.findings.unmanaged_teams += 1;
            }
        }
    }

    fn link_desired_teams<'g>(
        &mut self,
        index: &GroupIndex<'g>,
        member_key: &MemberKeys,
        claimed: &mut BTreeSet<&'g str>,
    ) {
        for (source_id, wanted) in &self.desired.teams {
            let previous = self.old.teams.get(source_id);
            let known = previous.and_then(|p| index.by_id.get(p.penvio_id.as_str()).copied());
            let found = known
                .or_else(|| {
                    index
                        .by_external
                        .get(source_id.as_str())
                        .and_then(|list| list.first().copied())
                })
                .or_else(|| only_one(index.by_name.get(wanted.name.as_str())))
                .filter(|group| !claimed.contains(group.id.as_str()));
            match found {
                Some(group) => {
                    claimed.insert(group.id.as_str());
                    if known.is_none() {
                        self.findings.linked_teams += 1;
                    }
                    let record = team_record(group, member_key);
                    self.snapshot.teams.insert(source_id.clone(), record);
                }
                None => {
                    if previous.is_some() {
                        self.findings.missing_teams += 1;
                    }
                    if self.old.pending_team_creates.contains(source_id) {
                        self.snapshot.pending_team_creates.insert(source_id.clone());
                    }
                }
            }
        }
    }
}

/// Penvio user id → snapshot key, to read team members back.
type MemberKeys = HashMap<String, String>;

/// A team's record, members mapped to snapshot keys; members that map to no
/// managed user are foreign (removed as drift).
fn team_record(group: &ScimGroup, member_key: &MemberKeys) -> TeamRecord {
    let mut record = TeamRecord {
        penvio_id: group.id.clone(),
        name: group.display_name.clone(),
        ..TeamRecord::default()
    };
    for member in &group.members {
        match member_key.get(member.value.as_str()) {
            Some(key) => {
                record.members.insert(key.clone());
            }
            None => {
                record.foreign_members.insert(member.value.clone());
            }
        }
    }
    record
}

/// The single match, if there is exactly one: an ambiguous match is never
/// linked, since linking the wrong account is worse than creating one.
fn only_one<'a, T>(list: Option<&Vec<&'a T>>) -> Option<&'a T> {
    match list.map(Vec::as_slice) {
        Some([only]) => Some(*only),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mapping::DesiredTeam;
    use crate::model::UserAttributes;

    fn wanted(name: &str) -> UserAttributes {
        UserAttributes {
            user_name: format!("{name}@example.com"),
            email: format!("{name}@example.com"),
            display_name: name.into(),
            external_id: name.into(),
            active: true,
            ..Default::default()
        }
    }

    fn scim_user(id: &str, user_name: &str, external: Option<&str>, active: bool) -> ScimUser {
        serde_json::from_value(json!({
            "id": id, "userName": user_name, "externalId": external, "active": active,
            "displayName": "Changed by hand",
            "emails": [{"value": user_name, "primary": true}]
        }))
        .unwrap()
    }

    #[test]
    fn links_by_external_id_and_user_name_and_leaves_strangers_alone() {
        let mut desired = DesiredState::default();
        desired.users.insert("a".into(), wanted("a").into());
        desired.users.insert("b".into(), wanted("b").into());
        desired.users.insert("c".into(), wanted("c").into());
        let users = vec![
            scim_user("p1", "whatever@example.com", Some("a"), true),
            scim_user("p2", "B@example.com", None, false),
            scim_user("p3", "stranger@example.com", None, true),
        ];
        let (snapshot, findings) =
            rebuild_snapshot(&desired, &Snapshot::default(), &users, &[], false, 100);
        assert_eq!(snapshot.users["a"].penvio_id(), "p1");
        assert_eq!(snapshot.users["b"].penvio_id(), "p2");
        assert_eq!(snapshot.users["b"].deactivated_at(), Some(100));
        assert_eq!(
            snapshot.users["a"].attributes().display_name,
            "Changed by hand"
        );
        assert!(!snapshot.users.contains_key("c"));
        assert_eq!(findings.linked_users, 2);
        assert_eq!(findings.unmanaged_users, 1);

        let (adopted, findings) =
            rebuild_snapshot(&desired, &Snapshot::default(), &users, &[], true, 100);
        assert_eq!(findings.adopted, 1);
        assert!(adopted.users.contains_key("adopted:p3"));
    }

    #[test]
    fn an_account_held_for_another_user_is_never_linked_by_user_name() {
        // The leaver "old" holds p1; the newcomer "new" has the same email.
        let mut desired = DesiredState::default();
        desired.users.insert(
            "new".into(),
            UserAttributes {
                external_id: "new".into(),
                ..wanted("old")
            }
            .into(),
        );
        let users = vec![scim_user("p1", "old@example.com", Some("old"), false)];
        let (first, _) = rebuild_snapshot(&desired, &Snapshot::default(), &users, &[], false, 100);
        assert_eq!(first.users["new"].penvio_id(), "p1", "a free account links");
        let mut old = Snapshot::default();
        old.users.insert(
            "old".into(),
            StoredUser::from(UserRecord {
                penvio_id: "p1".into(),
                attributes: wanted("old"),
                deactivated_at: Some(50),
            }),
        );
        for adopt in [false, true] {
            let (snapshot, findings) = rebuild_snapshot(&desired, &old, &users, &[], adopt, 100);
            assert!(!snapshot.users.contains_key("new"), "adopt {adopt}");
            assert_eq!(snapshot.users["old"].penvio_id(), "p1");
            assert_eq!(findings.linked_users, 0);
            assert_eq!(findings.adopted, 0);
        }
    }

    #[test]
    fn team_members_map_back_and_strays_are_foreign() {
        let mut desired = DesiredState::default();
        desired.users.insert("a".into(), wanted("a").into());
        desired.teams.insert(
            "g".into(),
            DesiredTeam {
                name: "Eng".into(),
                members: ["a".to_string()].into(),
            },
        );
        let users = vec![scim_user("p1", "a@example.com", Some("a"), true)];
        let groups: Vec<ScimGroup> = vec![
            serde_json::from_value(json!({
                "id": "t1", "displayName": "Eng", "externalId": "g",
                "members": [{"value": "p1"}, {"value": "by-hand"}]
            }))
            .unwrap(),
        ];
        let (snapshot, findings) =
            rebuild_snapshot(&desired, &Snapshot::default(), &users, &groups, false, 0);
        let team = &snapshot.teams["g"];
        assert_eq!(team.penvio_id, "t1");
        assert_eq!(team.members.iter().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(
            team.foreign_members.iter().collect::<Vec<_>>(),
            vec!["by-hand"]
        );
        assert_eq!(findings.linked_teams, 1);
    }
}
