//! The planner's case tables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use super::*;
use crate::mapping::DesiredTeam;
use crate::snapshot::{TeamRecord, UserRecord};

const NOW: i64 = 1_000_000;
const DAY: i64 = 86_400;

fn attrs(name: &str, active: bool) -> UserAttributes {
    UserAttributes {
        user_name: format!("{name}@example.com"),
        given_name: name.to_uppercase(),
        family_name: "Family".into(),
        display_name: format!("{} Family", name.to_uppercase()),
        email: format!("{name}@example.com"),
        external_id: name.into(),
        active,
    }
}

fn record(name: &str, active: bool, deactivated_at: Option<i64>) -> UserRecord {
    UserRecord {
        penvio_id: format!("p-{name}"),
        attributes: attrs(name, active),
        deactivated_at,
    }
}

fn policy() -> PlanPolicy {
    PlanPolicy {
        on_user_removed: RemovalAction::Deactivate,
        delete_deactivated_after: None,
        max_deactivations: 100,
        max_deletions: 100,
        max_shrinkage: 1.0,
        max_member_removals: Threshold::Share(0.5),
        allow_deletions: false,
    }
}

fn desired(users: &[(&str, bool)], teams: &[(&str, &str, &[&str])]) -> DesiredState {
    DesiredState {
        users: users
            .iter()
            .map(|(n, a)| (n.to_string(), attrs(n, *a).into()))
            .collect(),
        teams: teams
            .iter()
            .map(|(id, name, members)| {
                (
                    id.to_string(),
                    DesiredTeam {
                        name: name.to_string(),
                        members: members.iter().map(|m| m.to_string()).collect(),
                    },
                )
            })
            .collect(),
    }
}

fn snapshot(users: &[UserRecord], teams: &[(&str, &str, &[&str])]) -> Snapshot {
    Snapshot {
        users: users
            .iter()
            .map(|r| (r.attributes.external_id.clone(), r.into()))
            .collect(),
        teams: teams
            .iter()
            .map(|(id, name, members)| {
                (
                    id.to_string(),
                    TeamRecord {
                        penvio_id: format!("t-{id}"),
                        name: name.to_string(),
                        members: members.iter().map(|m| m.to_string()).collect(),
                        foreign_members: BTreeSet::new(),
                    },
                )
            })
            .collect(),
        ..Default::default()
    }
}

fn kinds(plan: &Plan) -> Vec<(String, String)> {
    plan.operations
        .iter()
        .map(|op| (op.kind().to_string(), op.subject().to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn case_table() {
    let mut renamed = record("ren", true, None);
    renamed.attributes.user_name = "old@example.com".into();
    renamed.attributes.email = "old@example.com".into();
    struct Case {
        name: &'static str,
        desired: DesiredState,
        snapshot: Snapshot,
        policy: PlanPolicy,
        expect: Vec<(&'static str, &'static str)>,
        held: usize,
    }
    let cases = vec![
        Case {
            name: "empty snapshot provisions everyone active",
            desired: desired(&[("a", true), ("b", true), ("c", false)], &[]),
            snapshot: Snapshot::default(),
            policy: policy(),
            expect: vec![("create_user", "a"), ("create_user", "b")],
            held: 0,
        },
        Case {
            name: "unchanged directory plans nothing",
            desired: desired(&[("a", true)], &[("g", "Eng", &["a"])]),
            snapshot: snapshot(&[record("a", true, None)], &[("g", "Eng", &["a"])]),
            policy: policy(),
            expect: vec![],
            held: 0,
        },
        Case {
            name: "email change is an update of the same user",
            desired: desired(&[("ren", true)], &[]),
            snapshot: snapshot(&[renamed.clone()], &[]),
            policy: policy(),
            expect: vec![("update_user", "ren")],
            held: 0,
        },
        Case {
            name: "removed user is deactivated after leaving teams",
            desired: desired(&[("a", true)], &[("g", "Eng", &["a"])]),
            snapshot: snapshot(
                &[record("a", true, None), record("b", true, None)],
                &[("g", "Eng", &["a", "b"])],
            ),
            policy: policy(),
            expect: vec![("remove_members", "g"), ("deactivate_user", "b")],
            held: 0,
        },
        Case {
            name: "inactive in source deactivates",
            desired: desired(&[("a", false)], &[]),
            snapshot: snapshot(&[record("a", true, None)], &[]),
            policy: policy(),
            expect: vec![("deactivate_user", "a")],
            held: 0,
        },
        Case {
            name: "returning user is reactivated",
            desired: desired(&[("a", true)], &[]),
            snapshot: snapshot(&[record("a", false, Some(NOW - DAY))], &[]),
            policy: policy(),
            expect: vec![("reactivate_user", "a")],
            held: 0,
        },
        Case {
            name: "policy delete deletes removed users at once",
            desired: desired(&[("k", true)], &[]),
            snapshot: snapshot(&[record("a", true, None), record("k", true, None)], &[]),
            policy: PlanPolicy {
                on_user_removed: RemovalAction::Delete,
                ..policy()
            },
            expect: vec![("delete_user", "a")],
            held: 0,
        },
        Case {
            name: "hard delete only once retention has passed",
            desired: desired(&[], &[]),
            snapshot: snapshot(
                &[
                    record("old", false, Some(NOW - 31 * DAY)),
                    record("new", false, Some(NOW - 29 * DAY)),
                ],
                &[],
            ),
            policy: PlanPolicy {
                delete_deactivated_after: Some(Duration::from_secs(30 * DAY as u64)),
                ..policy()
            },
            expect: vec![("delete_user", "old")],
            held: 0,
        },
        Case {
            name: "team create, rename, add, remove and delete in phase order",
            desired: desired(
                &[("a", true), ("b", true), ("c", true)],
                &[("g1", "New name", &["a", "c"]), ("g2", "Fresh", &["b"])],
            ),
            snapshot: snapshot(
                &[
                    record("a", true, None),
                    record("b", true, None),
                    record("c", true, None),
                ],
                &[("g1", "Old name", &["a", "b"]), ("g3", "Gone", &["a"])],
            ),
            policy: policy(),
            expect: vec![
                ("rename_team", "g1"),
                ("create_team", "g2"),
                ("add_members", "g1"),
                ("remove_members", "g1"),
                ("delete_team", "g3"),
            ],
            held: 0,
        },
        Case {
            name: "guard holds back mass deactivation and keeps memberships",
            desired: desired(&[("a", true)], &[("g", "Eng", &["a"])]),
            snapshot: snapshot(
                &[
                    record("a", true, None),
                    record("b", true, None),
                    record("c", true, None),
                ],
                &[("g", "Eng", &["a", "b", "c"])],
            ),
            policy: PlanPolicy {
                max_deactivations: 1,
                ..policy()
            },
            expect: vec![],
            held: 2,
        },
        Case {
            name: "allow_deletions lifts the guard",
            desired: desired(&[("a", true)], &[]),
            snapshot: snapshot(
                &[
                    record("a", true, None),
                    record("b", true, None),
                    record("c", true, None),
                ],
                &[],
            ),
            policy: PlanPolicy {
                max_deactivations: 1,
                allow_deletions: true,
                ..policy()
            },
            expect: vec![("deactivate_user", "b"), ("deactivate_user", "c")],
            held: 0,
        },
        Case {
            name: "guard on deletions holds team deletes too, rest applies",
            desired: desired(&[("a", true), ("n", true)], &[]),
            snapshot: snapshot(
                &[record("a", true, None)],
                &[("g1", "One", &[]), ("g2", "Two", &[])],
            ),
            policy: PlanPolicy {
                max_deletions: 1,
                ..policy()
            },
            expect: vec![("create_user", "n")],
            held: 2,
        },
    ];
    for case in cases {
        let plan = plan(&case.desired, &case.snapshot, &case.policy, NOW);
        assert_eq!(kinds(&plan), pairs(&case.expect), "{}", case.name);
        assert_eq!(plan.held_back.len(), case.held, "{}", case.name);
    }
}

#[test]
fn the_shrinkage_guard_holds_every_destructive_operation() {
    let everyone: Vec<UserRecord> = (0..10)
        .map(|i| record(&format!("u{i}"), true, None))
        .collect();
    let snap = snapshot(&everyone, &[("g", "Team", &[])]);
    let guarded = PlanPolicy {
        max_shrinkage: 0.2,
        ..policy()
    };
    // 10 → 7 active users: a 30% drop.
    let seven: Vec<(String, bool)> = (0..7).map(|i| (format!("u{i}"), true)).collect();
    let seven: Vec<(&str, bool)> = seven.iter().map(|(n, a)| (n.as_str(), *a)).collect();
    let result = plan(&desired(&seven, &[]), &snap, &guarded, NOW);
    assert!(result.operations.is_empty(), "{result:?}");
    assert_eq!(
        result.held_back.len(),
        4,
        "3 deactivations and the team deletion"
    );
    assert!(
        result.held_back[0]
            .reason
            .contains("shrank from 10 active users to 7")
    );
    // 10 → 9 is within 20%.
    let nine: Vec<(String, bool)> = (0..9).map(|i| (format!("u{i}"), true)).collect();
    let nine: Vec<(&str, bool)> = nine.iter().map(|(n, a)| (n.as_str(), *a)).collect();
    let result = plan(&desired(&nine, &[("g", "Team", &[])]), &snap, &guarded, NOW);
    assert_eq!(kinds(&result), pairs(&[("deactivate_user", "u9")]));
    // Down to zero always trips, whatever the share below 100%.
    let lenient = PlanPolicy {
        max_shrinkage: 0.99,
        ..policy()
    };
    let result = plan(&desired(&[], &[]), &snap, &lenient, NOW);
    assert!(result.operations.is_empty());
    assert_eq!(result.held_back.len(), 11);
    // Approval lifts it.
    let approved = PlanPolicy {
        allow_deletions: true,
        ..lenient
    };
    assert_eq!(
        plan(&desired(&[], &[]), &snap, &approved, NOW)
            .operations
            .len(),
        11
    );
}

#[test]
fn the_member_guard_holds_back_emptied_and_shrunken_teams() {
    let names: Vec<String> = (0..12).map(|i| format!("u{i:02}")).collect();
    let everyone: Vec<(&str, bool)> = names.iter().map(|n| (n.as_str(), true)).collect();
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    let records: Vec<UserRecord> = names.iter().map(|n| record(n, true, None)).collect();
    let snap = snapshot(&records, &[("g", "Big", &all), ("s", "Pair", &all[..2])]);
    let guarded = PlanPolicy {
        max_deactivations: 0,
        ..policy()
    };
    let reasons =
        |plan: &Plan| -> Vec<String> { plan.held_back.iter().map(|h| h.reason.clone()).collect() };
    // The listing of the big team comes back empty: held back.
    let result = plan(
        &desired(&everyone, &[("g", "Big", &[]), ("s", "Pair", &all[..2])]),
        &snap,
        &guarded,
        NOW,
    );
    assert!(result.operations.is_empty(), "{result:?}");
    assert_eq!(result.held_back.len(), 1);
    assert!(reasons(&result)[0].contains("team Big would lose all of its 12 members"));
    // 7 of 12 (over 50%) held; 6 of 12 passes.
    let five = desired(
        &everyone,
        &[("g", "Big", &all[..5]), ("s", "Pair", &all[..2])],
    );
    let result = plan(&five, &snap, &guarded, NOW);
    assert!(reasons(&result)[0].contains("lose 7 of its 12 members"));
    let six = desired(
        &everyone,
        &[("g", "Big", &all[..6]), ("s", "Pair", &all[..2])],
    );
    assert_eq!(
        kinds(&plan(&six, &snap, &guarded, NOW)),
        pairs(&[("remove_members", "g")])
    );
    // A share does not apply to a small team, but emptying it does.
    let one_left = desired(&everyone, &[("g", "Big", &all), ("s", "Pair", &all[..1])]);
    assert_eq!(
        kinds(&plan(&one_left, &snap, &guarded, NOW)),
        pairs(&[("remove_members", "s")])
    );
    let none_left = desired(&everyone, &[("g", "Big", &all), ("s", "Pair", &[])]);
    assert_eq!(plan(&none_left, &snap, &guarded, NOW).held_back.len(), 1);
    // A count applies to every team.
    let counted = PlanPolicy {
        max_member_removals: Threshold::Count(0),
        ..guarded.clone()
    };
    assert_eq!(plan(&one_left, &snap, &counted, NOW).held_back.len(), 1);
    // Members who leave the directory do not count (the deactivation
    // guard judges them), and approval lifts the guard.
    let leavers = desired(
        &everyone[2..],
        &[("g", "Big", &all[2..]), ("s", "Pair", &[])],
    );
    let approved = PlanPolicy {
        allow_deletions: true,
        ..guarded.clone()
    };
    let result = plan(&leavers, &snap, &policy(), NOW);
    assert!(result.held_back.is_empty(), "{result:?}");
    assert_eq!(
        kinds(&result),
        pairs(&[
            ("remove_members", "g"),
            ("remove_members", "s"),
            ("deactivate_user", "u00"),
            ("deactivate_user", "u01"),
        ])
    );
    let result = plan(
        &desired(&everyone, &[("g", "Big", &[]), ("s", "Pair", &all[..2])]),
        &snap,
        &approved,
        NOW,
    );
    assert_eq!(kinds(&result), pairs(&[("remove_members", "g")]));
}

#[test]
fn updates_carry_only_changed_attributes() {
    let mut old = record("a", true, None);
    old.attributes.given_name = "Old".into();
    old.attributes.user_name = "old@example.com".into();
    let plan = plan(
        &desired(&[("a", true)], &[]),
        &snapshot(&[old], &[]),
        &policy(),
        NOW,
    );
    let Operation::UpdateUser { changes, .. } = &plan.operations[0] else {
        panic!("expected an update: {plan:?}");
    };
    let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, vec!["userName", "name.givenName"]);
    assert_eq!(changes[1].old, "Old");
    assert_eq!(changes[1].new, "A");
}

#[test]
fn plan_is_deterministic_and_ordered_by_phase() {
    let users: Vec<(String, bool)> = (0..50).map(|i| (format!("u{i:02}"), true)).collect();
    let borrowed: Vec<(&str, bool)> = users.iter().map(|(n, a)| (n.as_str(), *a)).collect();
    let d = desired(&borrowed, &[("g", "Team", &["u01", "u02"])]);
    let first = plan(&d, &Snapshot::default(), &policy(), NOW);
    let second = plan(&d, &Snapshot::default(), &policy(), NOW);
    assert_eq!(first, second);
    let phases: Vec<Phase> = first.operations.iter().map(Operation::phase).collect();
    let mut sorted = phases.clone();
    sorted.sort();
    assert_eq!(phases, sorted);
    let subjects: Vec<&str> = first.operations[..50]
        .iter()
        .map(Operation::subject)
        .collect();
    let mut sorted_subjects = subjects.clone();
    sorted_subjects.sort();
    assert_eq!(subjects, sorted_subjects);
    let _ = BTreeMap::<u8, u8>::new();
}
