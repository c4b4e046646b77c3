//! Properties of the planner over random directories and snapshots: applying
//! the plan to a model of Penvio yields exactly the desired state, planning
//! again yields nothing, and the operation order never adds a member before
//! the user exists nor deactivates or deletes a user still in a team.
//!
//! More cases: `PROPTEST_CASES=20000 cargo test --test plan_properties`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use penvio_sync::config::Threshold;
use penvio_sync::mapping::{DesiredState, DesiredTeam};
use penvio_sync::model::UserAttributes;
use penvio_sync::plan::{Operation, Plan, PlanPolicy, RemovalAction, plan};
use penvio_sync::snapshot::{Snapshot, TeamRecord, UserRecord};
use proptest::prelude::*;

const NOW: i64 = 1_000_000;

/// Penvio as the plan's operations leave it.
#[derive(Debug, Default)]
struct Model {
    users: BTreeMap<String, UserAttributes>,
    teams: BTreeMap<String, (String, BTreeSet<String>)>,
    next_id: u32,
}

impl Model {
    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    /// A model holding exactly what a snapshot says Penvio holds.
    fn from_snapshot(snapshot: &Snapshot) -> Self {
        let mut model = Model::default();
        for record in snapshot.users.values() {
            model
                .users
                .insert(record.penvio_id().to_string(), record.attributes().clone());
        }
        for team in snapshot.teams.values() {
            let members = team
                .members
                .iter()
                .map(|m| snapshot.users[m].penvio_id().to_string())
                .collect();
            model
                .teams
                .insert(team.penvio_id.clone(), (team.name.clone(), members));
        }
        model.next_id = 10_000;
        model
    }

    /// Applies every operation as the executor would, updating `snapshot`
    /// as the executor records acknowledgements, and checks the order rules.
    fn apply(&mut self, plan: &Plan, snapshot: &mut Snapshot) -> Result<(), String> {
        for operation in &plan.operations {
            match operation {
                Operation::CreateUser {
                    source_id,
                    attributes,
                } => {
                    let id = self.new_id("p");
                    self.users.insert(id.clone(), attributes.clone());
                    snapshot.users.insert(
                        source_id.clone(),
                        UserRecord {
                            penvio_id: id,
                            attributes: attributes.clone(),
                            deactivated_at: None,
                        }
                        .into(),
                    );
                }
                Operation::UpdateUser {
                    source_id,
                    penvio_id,
                    attributes,
                    ..
                }
                | Operation::ReactivateUser {
                    source_id,
                    penvio_id,
                    attributes,
                    ..
                } => {
                    if !self.users.contains_key(penvio_id) {
                        return Err(format!("update of a user Penvio lacks: {penvio_id}"));
                    }
                    self.users.insert(penvio_id.clone(), attributes.clone());
                    let stored = snapshot.users.get_mut(source_id).ok_or("no record")?;
                    let mut record = stored.record();
                    record.attributes = attributes.clone();
                    if attributes.active {
                        record.deactivated_at = None;
                    }
                    *stored = record.into();
                }
                Operation::DeactivateUser {
                    source_id,
                    penvio_id,
                    attributes,
                    ..
                } => {
                    if let Some((team, _)) =
                        self.teams.iter().find(|(_, (_, m))| m.contains(penvio_id))
                    {
                        return Err(format!("deactivated {penvio_id} while in team {team}"));
                    }
                    self.users.insert(penvio_id.clone(), attributes.clone());
                    let stored = snapshot.users.get_mut(source_id).ok_or("no record")?;
                    let mut record = stored.record();
                    record.attributes = attributes.clone();
                    record.deactivated_at = Some(NOW);
                    *stored = record.into();
                }
                Operation::DeleteUser {
                    source_id,
                    penvio_id,
                    ..
                } => {
                    if let Some((team, _)) =
                        self.teams.iter().find(|(_, (_, m))| m.contains(penvio_id))
                    {
                        return Err(format!("deleted {penvio_id} while in team {team}"));
                    }
                    self.users.remove(penvio_id);
                    snapshot.users.remove(source_id);
                }
                Operation::CreateTeam {
                    source_id,
                    name,
                    members,
                } => {
                    let id = self.new_id("t");
                    let mut ids = BTreeSet::new();
                    for member in members {
                        let record = snapshot
                            .users
                            .get(member)
                            .ok_or_else(|| format!("member {member} added before it exists"))?;
                        ids.insert(record.penvio_id().to_string());
                    }
                    self.teams.insert(id.clone(), (name.clone(), ids));
                    snapshot.teams.insert(
                        source_id.clone(),
                        TeamRecord {
                            penvio_id: id,
                            name: name.clone(),
                            members: members.iter().cloned().collect(),
                            foreign_members: BTreeSet::new(),
                        },
                    );
                }
                Operation::RenameTeam {
                    source_id,
                    penvio_id,
                    new_name,
                    ..
                } => {
                    self.teams.get_mut(penvio_id).ok_or("no team")?.0 = new_name.clone();
                    snapshot.teams.get_mut(source_id).ok_or("no team")?.name = new_name.clone();
                }
                Operation::AddMembers {
                    team,
                    penvio_id,
                    members,
                    ..
                } => {
                    for member in members {
                        let record = snapshot
                            .users
                            .get(member)
                            .ok_or_else(|| format!("member {member} added before it exists"))?;
                        if !self.users.contains_key(record.penvio_id()) {
                            return Err(format!("member {member} is not in Penvio"));
                        }
                        self.teams
                            .get_mut(penvio_id)
                            .ok_or("no team")?
                            .1
                            .insert(record.penvio_id().to_string());
                        snapshot
                            .teams
                            .get_mut(team)
                            .ok_or("no team")?
                            .members
                            .insert(member.clone());
                    }
                }
                Operation::RemoveMembers {
                    team,
                    penvio_id,
                    members,
                    ..
                } => {
                    for member in members {
                        let record = snapshot.users.get(member).ok_or("no member record")?;
                        self.teams
                            .get_mut(penvio_id)
                            .ok_or("no team")?
                            .1
                            .remove(record.penvio_id());
                        snapshot
                            .teams
                            .get_mut(team)
                            .ok_or("no team")?
                            .members
                            .remove(member);
                    }
                }
                Operation::DeleteTeam {
                    source_id,
                    penvio_id,
                    ..
                } => {
                    self.teams.remove(penvio_id);
                    snapshot.teams.remove(source_id);
                }
            }
        }
        Ok(())
    }
}

fn attributes(id: &str, name: u8, given: u8, active: bool) -> UserAttributes {
    UserAttributes {
        user_name: format!("user{name}@example.com"),
        given_name: format!("Given{given}"),
        family_name: "Family".into(),
        display_name: format!("Given{given} Family"),
        email: format!("user{name}@example.com"),
        external_id: id.to_string(),
        active,
    }
}

/// (user id, email number, given name number, active)
fn users() -> impl Strategy<Value = BTreeMap<String, (u8, u8, bool)>> {
    prop::collection::btree_map(
        (0u8..16).prop_map(|i| format!("u{i}")),
        (0u8..6, 0u8..3, prop::bool::weighted(0.8)),
        0..12,
    )
}

/// (team id → (name number, member picks))
fn teams() -> impl Strategy<Value = BTreeMap<String, (u8, Vec<prop::sample::Index>)>> {
    prop::collection::btree_map(
        (0u8..5).prop_map(|i| format!("g{i}")),
        (
            0u8..3,
            prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        ),
        0..4,
    )
}

fn pick_members(candidates: &[String], picks: &[prop::sample::Index]) -> BTreeSet<String> {
    if candidates.is_empty() {
        return BTreeSet::new();
    }
    picks
        .iter()
        .map(|i| candidates[i.index(candidates.len())].clone())
        .collect()
}

fn build_snapshot(
    users: &BTreeMap<String, (u8, u8, bool)>,
    teams: &BTreeMap<String, (u8, Vec<prop::sample::Index>)>,
) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (i, (id, (name, given, active))) in users.iter().enumerate() {
        snapshot.users.insert(
            id.clone(),
            UserRecord {
                penvio_id: format!("p{i}"),
                attributes: attributes(id, *name, *given, *active),
                deactivated_at: (!active).then_some(NOW - 10),
            }
            .into(),
        );
    }
    let active: Vec<String> = users
        .iter()
        .filter(|(_, (_, _, a))| *a)
        .map(|(id, _)| id.clone())
        .collect();
    for (i, (id, (name, picks))) in teams.iter().enumerate() {
        snapshot.teams.insert(
            id.clone(),
            TeamRecord {
                penvio_id: format!("t{i}"),
                name: format!("Team {name}"),
                members: pick_members(&active, picks),
                foreign_members: BTreeSet::new(),
            },
        );
    }
    snapshot
}

fn build_desired(
    users: &BTreeMap<String, (u8, u8, bool)>,
    teams: &BTreeMap<String, (u8, Vec<prop::sample::Index>)>,
) -> DesiredState {
    let mut desired = DesiredState::default();
    for (id, (name, given, active)) in users {
        desired
            .users
            .insert(id.clone(), attributes(id, *name, *given, *active).into());
    }
    let active: Vec<String> = users
        .iter()
        .filter(|(_, (_, _, a))| *a)
        .map(|(id, _)| id.clone())
        .collect();
    for (id, (name, picks)) in teams {
        desired.teams.insert(
            id.clone(),
            DesiredTeam {
                name: format!("Team {name}"),
                members: pick_members(&active, picks),
            },
        );
    }
    desired
}

fn policy(on_user_removed: RemovalAction) -> PlanPolicy {
    PlanPolicy {
        on_user_removed,
        delete_deactivated_after: None,
        max_deactivations: usize::MAX,
        max_deletions: usize::MAX,
        max_shrinkage: 1.0,
        max_member_removals: Threshold::Count(u64::MAX),
        allow_deletions: true,
    }
}

/// Penvio holds exactly the desired state (through the snapshot's ids).
fn assert_desired(
    model: &Model,
    snapshot: &Snapshot,
    desired: &DesiredState,
    removal: RemovalAction,
) -> Result<(), TestCaseError> {
    for (id, wanted) in &desired.users {
        match snapshot.users.get(id) {
            Some(record) => {
                let wanted = wanted.unpack();
                prop_assert_eq!(&record.attributes(), &wanted);
                prop_assert_eq!(model.users.get(record.penvio_id()), Some(&wanted));
            }
            None => prop_assert!(!wanted.active(), "active user {} missing", id),
        }
    }
    for (id, record) in &snapshot.users {
        if desired.users.contains_key(id) {
            continue;
        }
        // A removed user is deactivated (or, by policy, gone).
        prop_assert_eq!(removal, RemovalAction::Deactivate);
        prop_assert!(!record.attributes().active);
        prop_assert!(!model.users[record.penvio_id()].active);
    }
    prop_assert_eq!(model.users.len(), snapshot.users.len());
    prop_assert_eq!(model.teams.len(), desired.teams.len());
    for (id, wanted) in &desired.teams {
        let record = snapshot
            .teams
            .get(id)
            .ok_or_else(|| TestCaseError::fail("team missing"))?;
        let (name, members) = &model.teams[&record.penvio_id];
        prop_assert_eq!(name, &wanted.name);
        let expected: BTreeSet<String> = wanted
            .members
            .iter()
            .map(|m| snapshot.users[m].penvio_id().to_string())
            .collect();
        prop_assert_eq!(members, &expected);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn applying_the_plan_converges_and_replanning_is_empty(
        before_users in users(),
        before_teams in teams(),
        after_users in users(),
        after_teams in teams(),
        delete in any::<bool>(),
    ) {
        let removal = if delete { RemovalAction::Delete } else { RemovalAction::Deactivate };
        let mut snapshot = build_snapshot(&before_users, &before_teams);
        let desired = build_desired(&after_users, &after_teams);
        let mut model = Model::from_snapshot(&snapshot);

        let first = plan(&desired, &snapshot, &policy(removal), NOW);
        prop_assert!(first.held_back.is_empty());
        model.apply(&first, &mut snapshot).map_err(TestCaseError::fail)?;
        assert_desired(&model, &snapshot, &desired, removal)?;

        let again = plan(&desired, &snapshot, &policy(removal), NOW);
        prop_assert!(again.operations.is_empty(), "second plan not empty: {:?}", again.operations);
    }

    #[test]
    fn plans_are_deterministic_and_phase_ordered(
        before_users in users(),
        before_teams in teams(),
        after_users in users(),
        after_teams in teams(),
    ) {
        let snapshot = build_snapshot(&before_users, &before_teams);
        let desired = build_desired(&after_users, &after_teams);
        let a = plan(&desired, &snapshot, &policy(RemovalAction::Deactivate), NOW);
        let b = plan(&desired, &snapshot, &policy(RemovalAction::Deactivate), NOW);
        prop_assert_eq!(&a, &b);
        let phases: Vec<_> = a.operations.iter().map(Operation::phase).collect();
        let mut sorted = phases.clone();
        sorted.sort();
        prop_assert_eq!(phases, sorted);
    }

    #[test]
    fn the_guard_never_lets_more_removals_through_than_allowed(
        before_users in users(),
        before_teams in teams(),
        after_users in users(),
        after_teams in teams(),
        max_deactivations in 0usize..4,
        max_deletions in 0usize..4,
    ) {
        let snapshot = build_snapshot(&before_users, &before_teams);
        let desired = build_desired(&after_users, &after_teams);
        let guarded = PlanPolicy {
            max_deactivations,
            max_deletions,
            max_shrinkage: 0.2,
            allow_deletions: false,
            ..policy(RemovalAction::Deactivate)
        };
        let result = plan(&desired, &snapshot, &guarded, NOW);
        let count = |kind: &str| result.operations.iter().filter(|o| o.kind() == kind).count();
        prop_assert!(count("deactivate_user") <= max_deactivations);
        prop_assert!(count("delete_user") + count("delete_team") <= max_deletions);
        // Held-back users keep their team memberships.
        let held: BTreeSet<&str> = result.held_back.iter().map(|h| h.operation.subject()).collect();
        for operation in &result.operations {
            if let Operation::RemoveMembers { members, .. } = operation {
                for member in members {
                    prop_assert!(!held.contains(member.as_str()), "held-back {} removed from a team", member);
                }
            }
        }
    }

    #[test]
    fn the_member_guard_never_lets_a_team_lose_more_than_allowed(
        before_users in users(),
        before_teams in teams(),
        after_users in users(),
        after_teams in teams(),
        max_member_removals in 0u64..4,
    ) {
        let snapshot = build_snapshot(&before_users, &before_teams);
        let desired = build_desired(&after_users, &after_teams);
        let guarded = PlanPolicy {
            max_member_removals: Threshold::Count(max_member_removals),
            allow_deletions: false,
            ..policy(RemovalAction::Deactivate)
        };
        let result = plan(&desired, &snapshot, &guarded, NOW);
        for operation in &result.operations {
            if let Operation::RemoveMembers { team, members, .. } = operation {
                let staying = members.iter().filter(|m| desired.users.contains_key(*m)).count();
                let before = snapshot.teams[team].members.len();
                let after = desired.teams.get(team).map_or(0, |t| t.members.len());
                prop_assert!(staying as u64 <= max_member_removals, "{} of {} removed from {}", staying, before, team);
                prop_assert!(staying == 0 || after > 0 || before < 2, "team {} emptied", team);
            }
        }
        // Approval lets every held-back removal through: nothing is lost.
        let approved = plan(&desired, &snapshot, &PlanPolicy { allow_deletions: true, ..guarded }, NOW);
        let held = result.held_back.iter().filter(|h| h.operation.kind() == "remove_members").count();
        let applied = |p: &Plan| p.operations.iter().filter(|o| o.kind() == "remove_members").count();
        prop_assert_eq!(applied(&result) + held, applied(&approved));
    }
}
