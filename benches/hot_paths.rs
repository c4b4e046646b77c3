//! Micro-benchmarks of the hot paths at 100,000 users / 1,000 teams (divan):
//! snapshot load, mapping, planning, snapshot recording. For profiling and
//! before/after comparisons of a fix; the budgets are in `budgets.rs`.
//!
//! `cargo bench --bench hot_paths`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod scenarios;

use std::sync::LazyLock;

use penvio_sync::config::{MappingConfig, ScopeConfig};
use penvio_sync::mapping::{DesiredState, map_directory};
use penvio_sync::model::Directory;
use penvio_sync::plan::plan;
use penvio_sync::snapshot::Snapshot;
use penvio_sync::state::{RedbStateStore, StateStore};
use scenarios::{CONNECTION, NOW, Shape};

const SHAPE: Shape = Shape {
    users: 100_000,
    teams: 1_000,
    avg_members: 50,
    seed: 7,
};

static DESIRED: LazyLock<DesiredState> = LazyLock::new(|| scenarios::desired(&SHAPE, true));
static SNAPSHOT: LazyLock<Snapshot> =
    LazyLock::new(|| scenarios::snapshot_of(&scenarios::desired(&SHAPE, false)));
static STORE: LazyLock<(tempfile::TempDir, RedbStateStore)> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStateStore::open(dir.path()).unwrap();
    store.replace(CONNECTION, &SNAPSHOT).unwrap();
    (dir, store)
});
static DIRECTORY: LazyLock<Directory> = LazyLock::new(|| Directory {
    users: (0..SHAPE.users)
        .map(|i| scenarios::source_user(&SHAPE, i, false))
        .collect(),
    groups: (0..SHAPE.teams)
        .map(|j| penvio_sync::model::SourceGroup {
            email: None,
            id: scenarios::team_id(j),
            name: scenarios::team_name(j),
            members: scenarios::team_members(&SHAPE, j, false)
                .into_iter()
                .map(scenarios::user_id)
                .collect(),
            built_in: false,
        })
        .collect(),
    skipped: Vec::new(),
});

fn main() {
    divan::main();
}

#[divan::bench(sample_count = 10)]
fn snapshot_load() -> Snapshot {
    let loaded = STORE.1.load(CONNECTION).unwrap();
    assert_eq!(loaded.users.len(), SHAPE.users);
    loaded
}

#[divan::bench(sample_count = 10)]
fn plan_1pct_changed() -> usize {
    let snapshot = &*SNAPSHOT;
    let plan = plan(
        &DESIRED,
        snapshot,
        &scenarios::default_policy(snapshot),
        NOW,
    );
    assert_eq!(
        plan.operations.len(),
        SHAPE.changed_users() + 2 * SHAPE.changed_teams()
    );
    plan.operations.len()
}

#[divan::bench(sample_count = 10)]
fn map_directory_100k() -> usize {
    let mapped = map_directory(
        &DIRECTORY,
        &ScopeConfig::default(),
        &MappingConfig::default(),
        &|_| false,
    );
    assert_eq!(mapped.desired.users.len(), SHAPE.users);
    mapped.desired.users.len()
}

/// The changes a first provisioning of `SHAPE` records, in apply's order:
/// teams are marked pending, created with their members, then cleared.
static PROVISIONING_CHANGES: LazyLock<Vec<penvio_sync::snapshot::Change>> = LazyLock::new(|| {
    use penvio_sync::snapshot::Change;
    let snapshot = &*SNAPSHOT;
    let mut changes: Vec<Change> = snapshot
        .users
        .iter()
        .map(|(id, record)| Change::PutUser {
            source_id: id.clone(),
            record: record.clone(),
        })
        .collect();
    for (id, team) in &snapshot.teams {
        changes.push(Change::MarkTeamCreatePending {
            source_id: id.clone(),
        });
        changes.push(Change::PutTeam {
            source_id: id.clone(),
            penvio_id: team.penvio_id.clone(),
            name: team.name.clone(),
        });
        changes.push(Change::AddMembers {
            team: id.clone(),
            members: team.members.iter().cloned().collect(),
        });
        changes.push(Change::ClearTeamCreatePending {
            source_id: id.clone(),
        });
    }
    // What is timed must record the whole snapshot.
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStateStore::open(dir.path()).unwrap();
    for batch in changes.chunks(10_000) {
        store.apply(CONNECTION, batch).unwrap();
    }
    let recorded = store.load(CONNECTION).unwrap();
    assert!(recorded.users == snapshot.users && recorded.teams == snapshot.teams);
    assert!(recorded.pending_team_creates.is_empty());
    changes
});

/// Snapshot recording of a first provisioning (B4's commits without the
/// HTTP traffic competing for the cores), in apply's 10,000-change batches.
#[divan::bench(sample_count = 5)]
fn record_provisioning(bencher: divan::Bencher) {
    bencher
        .with_inputs(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = RedbStateStore::open(dir.path()).unwrap();
            (dir, store)
        })
        .bench_local_values(|(dir, store)| {
            for batch in PROVISIONING_CHANGES.chunks(10_000) {
                store.apply(CONNECTION, batch).unwrap();
            }
            (dir, store)
        });
}
