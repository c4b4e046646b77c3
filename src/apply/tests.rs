//! The executor against the in-memory target: each case seeds Penvio and the
//! snapshot, applies a plan, and checks what Penvio holds, what the stored
//! snapshot says and each operation's outcome.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::model::UserAttributes;
use crate::plan::{AttributeChange, RemovalReason};
use crate::snapshot::{StoredUser, TeamRecord};
use crate::state::RedbStateStore;
use crate::target::memory::{Call, MemoryTarget};

const CONNECTION: &str = "main";
const NOW: i64 = 1_700_000_000;

fn attrs(name: &str) -> UserAttributes {
    UserAttributes {
        user_name: format!("{name}@example.com"),
        given_name: name.into(),
        family_name: "Test".into(),
        display_name: name.into(),
        email: format!("{name}@example.com"),
        external_id: name.into(),
        active: true,
    }
}

fn renamed(name: &str, display_name: &str) -> UserAttributes {
    UserAttributes {
        display_name: display_name.into(),
        ..attrs(name)
    }
}

fn change(path: &str, old: &str, new: &str) -> AttributeChange {
    AttributeChange {
        path: path.into(),
        old: old.into(),
        new: new.into(),
    }
}

fn create(name: &str) -> Operation {
    Operation::CreateUser {
        source_id: name.into(),
        attributes: attrs(name),
    }
}

fn update(name: &str, penvio_id: &str, display_name: &str) -> Operation {
    Operation::UpdateUser {
        source_id: name.into(),
        penvio_id: penvio_id.into(),
        attributes: renamed(name, display_name),
        changes: vec![change("displayName", name, display_name)],
    }
}

fn deactivate(name: &str, penvio_id: &str) -> Operation {
    Operation::DeactivateUser {
        source_id: name.into(),
        penvio_id: penvio_id.into(),
        attributes: UserAttributes {
            active: false,
            ..attrs(name)
        },
        changes: vec![change("active", "true", "false")],
        reason: RemovalReason::InactiveInSource,
    }
}

fn members(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

/// A snapshot holding `users` (source id, Penvio id).
fn holding(users: &[(&str, &str)]) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (source_id, penvio_id) in users {
        snapshot.users.insert(
            source_id.to_string(),
            StoredUser::new(penvio_id, &attrs(source_id), None),
        );
    }
    snapshot
}

/// Seeds Penvio with `names` (ids u1, u2, … in order) and the snapshot with
/// the same users.
fn managed(target: &MemoryTarget, names: &[&str]) -> Snapshot {
    let ids: Vec<String> = names.iter().map(|n| target.add_user(&attrs(n))).collect();
    let pairs: Vec<(&str, &str)> = names
        .iter()
        .zip(&ids)
        .map(|(n, id)| (*n, id.as_str()))
        .collect();
    holding(&pairs)
}

/// Penvio, the state store and the applies run against them.
struct World {
    target: MemoryTarget,
    store: Arc<dyn StateStore>,
    _dir: tempfile::TempDir,
}

impl World {
    fn new(given: &Snapshot, target: MemoryTarget) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> = Arc::new(RedbStateStore::open(dir.path()).unwrap());
        store.replace(CONNECTION, given).unwrap();
        World {
            target,
            store,
            _dir: dir,
        }
    }

    fn stored(&self) -> Snapshot {
        self.store.load(CONNECTION).unwrap()
    }

    async fn apply(
        &self,
        operations: Vec<Operation>,
        cancel: &CancellationToken,
    ) -> Result<ApplyReport, ApplyError> {
        let plan = Plan {
            operations,
            ..Plan::default()
        };
        let settings = ApplySettings {
            concurrency: 1,
            member_patch_size: 2,
            now: NOW,
            cancel: cancel.clone(),
            events: RunContext {
                connection: CONNECTION.into(),
                run_id: "test".into(),
                audit: None,
            },
            on_username_reuse: OnUserNameReuse::Refuse,
        };
        let mut snapshot = self.stored();
        let applied = apply_plan(
            &plan,
            &mut snapshot,
            &self.target,
            self.store.clone(),
            CONNECTION,
            &settings,
            &Progress::hidden(),
        )
        .await;
        // The in-memory view and the stored snapshot never disagree.
        let stored = self.stored();
        assert_eq!(stored.users, snapshot.users);
        assert_eq!(stored.teams, snapshot.teams);
        applied
    }
}

/// What a case observes after the apply.
struct Seen {
    report: ApplyReport,
    stored: Snapshot,
    target: MemoryTarget,
}

impl Seen {
    fn penvio_id(&self, source_id: &str) -> Option<String> {
        self.stored
            .users
            .get(source_id)
            .map(|u| u.penvio_id().to_string())
    }

    fn only_outcome(&self) -> &OperationOutcome {
        assert_eq!(self.report.outcomes.len(), 1, "{:?}", self.report.outcomes);
        &self.report.outcomes[0]
    }
}

struct Case {
    name: &'static str,
    /// Seeds Penvio; returns the snapshot before the run.
    given: fn(&MemoryTarget) -> Snapshot,
    plan: fn() -> Vec<Operation>,
    then: fn(&Seen),
}

fn user_cases() -> Vec<Case> {
    vec![
        Case {
            name: "a create adds the user and records its id",
            given: |_| Snapshot::default(),
            plan: || vec![create("ada")],
            then: |seen| {
                let users = seen.target.users();
                assert_eq!(users.len(), 1);
                let (id, held) = users.iter().next().unwrap();
                assert_eq!(held, &attrs("ada"));
                assert_eq!(seen.penvio_id("ada").as_deref(), Some(id.as_str()));
                assert_eq!(seen.only_outcome().error, None);
            },
        },
        Case {
            name: "link on 409: the existing user is found, updated and linked",
            given: |target| {
                target.add_user(&renamed("ada", "Old Name"));
                Snapshot::default()
            },
            plan: || vec![create("ada")],
            then: |seen| {
                let users = seen.target.users();
                assert_eq!(users.len(), 1, "no duplicate: {users:?}");
                assert_eq!(users["u1"], attrs("ada"), "attributes brought up to date");
                assert_eq!(seen.penvio_id("ada").as_deref(), Some("u1"));
                let outcome = seen.only_outcome();
                assert_eq!(outcome.error, None);
                assert!(
                    outcome
                        .description
                        .ends_with("(linked the existing Penvio user)")
                );
            },
        },
        Case {
            name: "409 on an account held for another source user is refused",
            given: |target| {
                let id = target.add_user(&attrs("ada"));
                holding(&[("old-ada", &id)])
            },
            plan: || {
                vec![Operation::CreateUser {
                    source_id: "new-ada".into(),
                    attributes: attrs("ada"),
                }]
            },
            then: |seen| {
                let error = seen.only_outcome().error.clone().unwrap_or_default();
                assert!(
                    error.starts_with("skipped: userName ada@example.com"),
                    "{error}"
                );
                assert_eq!(seen.penvio_id("old-ada").as_deref(), Some("u1"));
                assert_eq!(seen.penvio_id("new-ada"), None);
            },
        },
        Case {
            name: "recreate on 404: an update of a user deleted in Penvio recreates it",
            given: |_| holding(&[("ada", "gone")]),
            plan: || vec![update("ada", "gone", "Ada L")],
            then: |seen| {
                let users = seen.target.users();
                assert_eq!(users.len(), 1);
                let (id, held) = users.iter().next().unwrap();
                assert_eq!(held, &renamed("ada", "Ada L"));
                assert_eq!(seen.penvio_id("ada").as_deref(), Some(id.as_str()));
                let outcome = seen.only_outcome();
                assert_eq!(outcome.error, None);
                assert_eq!(outcome.penvio_id.as_deref(), Some(id.as_str()));
                assert!(
                    outcome
                        .description
                        .ends_with("(was missing in Penvio: recreated)")
                );
            },
        },
        Case {
            name: "an update sends only the changed attributes",
            given: |target| managed(target, &["ada"]),
            plan: || vec![update("ada", "u1", "Ada L")],
            then: |seen| {
                assert_eq!(seen.target.users()["u1"], renamed("ada", "Ada L"));
                let stored = &seen.stored.users["ada"];
                assert_eq!(stored.attributes(), renamed("ada", "Ada L"));
                assert_eq!(
                    seen.only_outcome().description,
                    "update user ada@example.com (displayName)"
                );
            },
        },
        Case {
            name: "a rejected update fails that operation only; the snapshot keeps the old values",
            given: |target| {
                target.fail_next(
                    Call::UpdateUser,
                    TargetError::Rejected {
                        status: 400,
                        message: "PATCH /Users/u1: 400 invalidValue: bad".into(),
                    },
                );
                managed(target, &["ada", "bob"])
            },
            plan: || vec![update("ada", "u1", "Ada L"), update("bob", "u2", "Bob B")],
            then: |seen| {
                let failed = &seen.report.outcomes[0];
                assert_eq!(failed.http_status, Some(400));
                assert_eq!(seen.stored.users["ada"].attributes(), attrs("ada"));
                assert_eq!(seen.target.users()["u1"], attrs("ada"));
                assert_eq!(seen.report.outcomes[1].error, None);
                assert_eq!(seen.target.users()["u2"], renamed("bob", "Bob B"));
            },
        },
        Case {
            name: "a deactivation sets active false and records when",
            given: |target| managed(target, &["ada"]),
            plan: || vec![deactivate("ada", "u1")],
            then: |seen| {
                assert!(!seen.target.users()["u1"].active);
                let stored = &seen.stored.users["ada"];
                assert!(!stored.active());
                assert_eq!(stored.deactivated_at(), Some(NOW));
            },
        },
        Case {
            name: "a deactivation of a user gone from Penvio drops it from the snapshot",
            given: |_| holding(&[("ada", "gone")]),
            plan: || vec![deactivate("ada", "gone")],
            then: |seen| {
                assert!(seen.stored.users.is_empty());
                assert!(seen.target.users().is_empty(), "nothing recreated");
                let outcome = seen.only_outcome();
                assert_eq!(outcome.error, None);
                assert!(outcome.description.ends_with("(already gone from Penvio)"));
            },
        },
        Case {
            name: "a delete removes the user from Penvio and the snapshot",
            given: |target| managed(target, &["ada"]),
            plan: || {
                vec![Operation::DeleteUser {
                    source_id: "ada".into(),
                    penvio_id: "u1".into(),
                    user_name: "ada@example.com".into(),
                    reason: RemovalReason::RemovedFromSource,
                }]
            },
            then: |seen| {
                assert!(seen.target.users().is_empty());
                assert!(seen.stored.users.is_empty());
            },
        },
    ]
}

/// A snapshot holding users a, b, c (u1–u3) and team `eng` (t4) with `a`.
fn with_team(target: &MemoryTarget) -> Snapshot {
    let mut snapshot = managed(target, &["a", "b", "c"]);
    let team = target.add_team("Eng", "eng", &["u1"]);
    snapshot.teams.insert(
        "eng".into(),
        TeamRecord {
            penvio_id: team,
            name: "Eng".into(),
            members: BTreeSet::from(["a".to_string()]),
            foreign_members: BTreeSet::new(),
        },
    );
    snapshot
}

fn stored_members(seen: &Seen, team: &str) -> Vec<String> {
    seen.stored.teams[team].members.iter().cloned().collect()
}

fn held_members(seen: &Seen, id: &str) -> Vec<String> {
    seen.target.teams()[id].members.iter().cloned().collect()
}

fn team_cases() -> Vec<Case> {
    vec![
        Case {
            name: "a team create sends the first chunk, then adds the rest",
            given: |target| managed(target, &["a", "b", "c"]),
            plan: || {
                vec![Operation::CreateTeam {
                    source_id: "eng".into(),
                    name: "Eng".into(),
                    members: members(&["a", "b", "c", "nobody"]),
                }]
            },
            then: |seen| {
                let teams = seen.target.teams();
                assert_eq!(teams.len(), 1);
                let (id, team) = teams.iter().next().unwrap();
                assert_eq!(team.external_id, "eng");
                assert_eq!(held_members(seen, id), ["u1", "u2", "u3"]);
                assert_eq!(stored_members(seen, "eng"), ["a", "b", "c"]);
                assert!(seen.stored.pending_team_creates.is_empty());
                let outcome = seen.only_outcome();
                assert!(outcome.description.ends_with(
                    "(1 members left for the next run: their users are not in Penvio yet)"
                ));
            },
        },
        Case {
            name: "members are added and removed by Penvio id",
            given: with_team,
            plan: || {
                vec![
                    Operation::AddMembers {
                        team: "eng".into(),
                        penvio_id: "t4".into(),
                        team_name: "Eng".into(),
                        members: members(&["b", "c"]),
                    },
                    Operation::RemoveMembers {
                        team: "eng".into(),
                        penvio_id: "t4".into(),
                        team_name: "Eng".into(),
                        members: members(&["a"]),
                        foreign_members: Vec::new(),
                    },
                ]
            },
            then: |seen| {
                assert_eq!(held_members(seen, "t4"), ["u2", "u3"]);
                assert_eq!(stored_members(seen, "eng"), ["b", "c"]);
            },
        },
        Case {
            name: "a rename and a delete reach Penvio and the snapshot",
            given: with_team,
            plan: || {
                vec![Operation::RenameTeam {
                    source_id: "eng".into(),
                    penvio_id: "t4".into(),
                    old_name: "Eng".into(),
                    new_name: "Engineering".into(),
                }]
            },
            then: |seen| {
                assert_eq!(seen.target.teams()["t4"].name, "Engineering");
                assert_eq!(seen.stored.teams["eng"].name, "Engineering");
                assert_eq!(
                    seen.only_outcome().description,
                    "rename team \"Eng\" → \"Engineering\""
                );
            },
        },
        Case {
            name: "a team deleted by hand in Penvio leaves the snapshot on 404",
            given: |target| {
                let snapshot = with_team(target);
                target.fail_next(
                    Call::AddMembers,
                    TargetError::NotFound {
                        message: "PATCH /Groups/t4: not found (404)".into(),
                    },
                );
                snapshot
            },
            plan: || {
                vec![Operation::AddMembers {
                    team: "eng".into(),
                    penvio_id: "t4".into(),
                    team_name: "Eng".into(),
                    members: members(&["b"]),
                }]
            },
            then: |seen| {
                assert_eq!(seen.only_outcome().http_status, Some(404));
                assert!(!seen.stored.teams.contains_key("eng"), "recreated next run");
            },
        },
        Case {
            name: "a delete removes the team",
            given: with_team,
            plan: || {
                vec![Operation::DeleteTeam {
                    source_id: "eng".into(),
                    penvio_id: "t4".into(),
                    name: "Eng".into(),
                }]
            },
            then: |seen| {
                assert!(seen.target.teams().is_empty());
                assert!(seen.stored.teams.is_empty());
            },
        },
    ]
}

#[tokio::test]
async fn operations_reach_the_target_and_the_snapshot() {
    for case in user_cases().into_iter().chain(team_cases()) {
        let target = MemoryTarget::default();
        let given = (case.given)(&target);
        let world = World::new(&given, target);
        let report = world
            .apply((case.plan)(), &CancellationToken::new())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let seen = Seen {
            report,
            stored: world.stored(),
            target: world.target.clone(),
        };
        println!("case: {}", case.name);
        (case.then)(&seen);
    }
}

#[tokio::test]
async fn outcome_unknown_is_not_recorded_and_the_next_run_checks_again() {
    // (what is lost, the plan, what the next run finds)
    type LostAnswer = (Call, fn() -> Operation, &'static str);
    let cases: [LostAnswer; 2] = [
        (
            Call::CreateUser,
            || create("ada"),
            "(linked the existing Penvio user)",
        ),
        (
            Call::CreateTeam,
            || Operation::CreateTeam {
                source_id: "eng".into(),
                name: "Eng".into(),
                members: Vec::new(),
            },
            "(found the team an interrupted run created)",
        ),
    ];
    for (call, operation, found) in cases {
        let target = MemoryTarget::default();
        target.lose_next_answer(call);
        let world = World::new(&Snapshot::default(), target);
        let first = world
            .apply(vec![operation()], &CancellationToken::new())
            .await
            .unwrap();
        assert!(first.outcomes[0].error.is_some(), "{call:?}: {first:?}");
        let stored = world.stored();
        assert!(
            stored.users.is_empty() && stored.teams.is_empty(),
            "{call:?}: {stored:?}"
        );
        // Penvio did apply it: the next run must find it, not duplicate it.
        let held = world.target.users().len() + world.target.teams().len();
        assert_eq!(held, 1, "{call:?}");

        let second = world
            .apply(vec![operation()], &CancellationToken::new())
            .await
            .unwrap();
        let outcome = &second.outcomes[0];
        assert_eq!(outcome.error, None, "{call:?}");
        assert!(
            outcome.description.ends_with(found),
            "{call:?}: {}",
            outcome.description
        );
        let held = world.target.users().len() + world.target.teams().len();
        assert_eq!(held, 1, "{call:?}: no duplicate");
        let stored = world.stored();
        assert_eq!(stored.users.len() + stored.teams.len(), 1, "{call:?}");
        assert!(stored.pending_team_creates.is_empty(), "{call:?}");
    }
}

#[tokio::test]
async fn a_stop_mid_plan_records_only_what_was_done() {
    let names = ["a", "b", "c", "d", "e"];
    let target = MemoryTarget::default();
    let cancel = CancellationToken::new();
    target.stop_after(2, cancel.clone());
    let world = World::new(&Snapshot::default(), target);
    let plan: Vec<Operation> = names.iter().map(|n| create(n)).collect();

    let report = world.apply(plan.clone(), &cancel).await.unwrap();
    assert_eq!(report.outcomes.len(), 2, "{report:?}");
    let stored = world.stored();
    let recorded: Vec<&str> = stored.users.keys().map(String::as_str).collect();
    assert_eq!(recorded, ["a", "b"], "the rest are not marked done");
    assert_eq!(world.target.users().len(), 2);

    // The next run does the rest, once each.
    let report = world.apply(plan, &CancellationToken::new()).await.unwrap();
    assert!(
        report.outcomes.iter().all(|o| o.error.is_none()),
        "{report:?}"
    );
    assert_eq!(world.stored().users.len(), 5);
    assert_eq!(world.target.users().len(), 5);
}

#[tokio::test]
async fn refused_credentials_stop_the_plan() {
    let target = MemoryTarget::default();
    target.fail_next(
        Call::CreateUser,
        TargetError::Unauthorized {
            status: 401,
            message: "Penvio rejected the token (401)".into(),
        },
    );
    let world = World::new(&Snapshot::default(), target);
    let applied = world
        .apply(vec![create("a"), create("b")], &CancellationToken::new())
        .await;
    match applied {
        Err(ApplyError::Unauthorized(error)) => assert_eq!(error.status(), Some(401)),
        other => panic!("expected a stop, got {other:?}"),
    }
    assert_eq!(world.target.writes(), 0, "nothing sent after the 401");
    assert!(world.stored().users.is_empty());
}
