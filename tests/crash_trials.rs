//! Randomised kill -9 trials (invariant 2): a sync is killed at a random
//! moment — during an initial 2,000-user provisioning, or during an
//! incremental run with creates, updates, email changes, membership changes
//! and deactivations — and a rerun must converge to exactly the directory in
//! Penvio (the real scim2-server) and in the snapshot, with no duplicates.
//!
//! CI runs `PENVIO_CRASH_TRIALS` (default 2) trials of each kind; the full
//! count: `PENVIO_CRASH_TRIALS=10 cargo test --release --test crash_trials -- --nocapture`
//! (20 trials in all). `PENVIO_CRASH_SEED` replays a run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, RERUN_TOKEN, Scim2Server, TOKEN, group, member_ids, user};
use serde_json::Value;

const USERS: usize = 2_000;
const TEAMS: usize = 20;

fn trials() -> usize {
    std::env::var("PENVIO_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

fn seed() -> u64 {
    std::env::var("PENVIO_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..))
}

/// The directory: users `0..n`, with `renamed` given names changed and
/// `moved` emails changed; teams of 100 consecutive users, shifted by `shift`.
fn directory(
    users: &[usize],
    renamed: &BTreeSet<usize>,
    moved: &BTreeSet<usize>,
    shift: usize,
) -> (Vec<Value>, Vec<Value>) {
    let present: BTreeSet<usize> = users.iter().copied().collect();
    let records = users
        .iter()
        .map(|&i| {
            let email = if moved.contains(&i) {
                format!("moved{i:05}@example.com")
            } else {
                format!("user{i:05}@example.com")
            };
            let given = if renamed.contains(&i) {
                format!("Renamed{i}")
            } else {
                format!("First{i}")
            };
            user(&format!("id-{i:05}"), &email, &given, &format!("Last{i}"))
        })
        .collect();
    let teams = (0..TEAMS)
        .map(|t| {
            let members: Vec<String> = (0..100)
                .map(|m| t * 100 + m + shift)
                .filter(|i| present.contains(i))
                .map(|i| format!("id-{i:05}"))
                .collect();
            let refs: Vec<&str> = members.iter().map(String::as_str).collect();
            group(&format!("team-{t:02}"), &format!("Team {t:02}"), &refs)
        })
        .collect();
    (records, teams)
}

fn sync_command(config: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_penvio-sync"));
    command
        .args(["--config", &config.display().to_string(), "sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Starts a sync and SIGKILLs it once the org has taken exactly `at` more
/// writes: the server holds every later write until the process is dead,
/// either unapplied or (`applied`) applied with only its answer held, the
/// case of a write that took but was never acknowledged. Returns whether it
/// was really interrupted (a run needing fewer writes finishes first).
async fn kill_at(server: &Scim2Server, fixture: &Fixture, at: u64, applied: bool) -> bool {
    let (start, _) = server.request_counts(&fixture.org).await;
    server.hold_after(&fixture.org, start + at, applied).await;
    let mut child = sync_command(&fixture.config_path()).spawn().unwrap();
    // Bounded only against a hang.
    let deadline = Instant::now() + Duration::from_secs(600);
    let interrupted = loop {
        if server.held_writes(&fixture.org).await > 0 {
            child.kill().unwrap(); // SIGKILL
            break true;
        }
        if child.try_wait().unwrap().is_some() {
            break false;
        }
        assert!(Instant::now() < deadline, "the sync made no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    child.wait().unwrap();
    server.release(&fixture.org).await;
    // The rerun uses the other token: the server refuses any late write of
    // the killed process.
    let config = std::fs::read_to_string(fixture.config_path())
        .unwrap()
        .replace(TOKEN, RERUN_TOKEN);
    std::fs::write(fixture.config_path(), config).unwrap();
    interrupted
}

/// The rerun succeeds and Penvio and the snapshot hold exactly `users`
/// (active, with their attributes), `removed` (deactivated) and the teams.
async fn assert_exact(
    server: &Scim2Server,
    fixture: &mut Fixture,
    (users, teams): &(Vec<Value>, Vec<Value>),
    removed: &BTreeSet<String>,
) {
    let status = sync_command(&fixture.config_path()).status().unwrap();
    assert_eq!(status.code(), Some(0), "the rerun succeeds");

    let held = server.list(&fixture.org, "Users").await;
    let names: BTreeSet<String> = held
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_lowercase())
        .collect();
    assert_eq!(names.len(), held.len(), "no duplicate userName");
    assert_eq!(
        held.len(),
        users.len() + removed.len(),
        "no duplicate or missing user"
    );
    let by_external: BTreeMap<&str, &Value> = held
        .iter()
        .map(|u| (u["externalId"].as_str().unwrap(), u))
        .collect();
    assert_eq!(
        by_external.len(),
        held.len(),
        "one Penvio user per directory user"
    );
    for wanted in users {
        let id = wanted["id"].as_str().unwrap();
        let got = by_external[id];
        assert_eq!(got["userName"], wanted["email"], "{id}");
        assert_eq!(got["name"]["givenName"], wanted["given_name"], "{id}");
        assert_eq!(got["active"], true, "{id}");
    }
    for id in removed {
        assert_eq!(
            by_external[id.as_str()]["active"],
            false,
            "{id} deactivated"
        );
    }

    let groups = server.list(&fixture.org, "Groups").await;
    assert_eq!(groups.len(), TEAMS, "no duplicate team");
    let snapshot = fixture.snapshot();
    fixture.close_store();
    assert!(snapshot.pending_team_creates.is_empty());
    assert_eq!(snapshot.users.len(), held.len());
    for (source_id, record) in &snapshot.users {
        assert_eq!(
            by_external[source_id.as_str()]["id"].as_str(),
            Some(record.penvio_id()),
            "the snapshot maps {source_id} to the Penvio user that holds it"
        );
    }
    for wanted in teams {
        let source_id = wanted["id"].as_str().unwrap();
        let team = &snapshot.teams[source_id];
        let got = groups
            .iter()
            .find(|g| g["id"].as_str() == Some(team.penvio_id.as_str()))
            .expect("the snapshot's team exists");
        let expected: BTreeSet<String> = wanted["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| snapshot.users[m.as_str().unwrap()].penvio_id().to_string())
            .collect();
        let held: BTreeSet<String> = member_ids(got).into_iter().collect();
        assert_eq!(held, expected, "members of {source_id}");
        assert_eq!(team.members.len(), expected.len());
    }

    let before = server.request_counts(&fixture.org).await;
    assert_eq!(
        sync_command(&fixture.config_path())
            .status()
            .unwrap()
            .code(),
        Some(0)
    );
    assert_eq!(
        server.request_counts(&fixture.org).await,
        before,
        "then nothing to do"
    );
}

fn fixture_for(server: &Scim2Server, org: &str) -> Fixture {
    let mut fixture = Fixture::new(&server.org_url(org));
    fixture.extra_config = "    policy: {max_deactivations: 500, max_shrinkage: \"100%\"}\n".into();
    fixture.write_config(TOKEN);
    fixture
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_random_moments_of_an_initial_provisioning() {
    let server = Scim2Server::start();
    let seed = seed();
    // First, so a failing trial can be replayed.
    eprintln!("initial trials: seed {seed} (replay with PENVIO_CRASH_SEED={seed})");
    fastrand::seed(seed);
    let everyone: Vec<usize> = (0..USERS).collect();
    let mut outcomes = Vec::new();
    for trial in 0..trials() {
        let mut fixture = fixture_for(&server, &format!("initial-{trial}"));
        let target = directory(&everyone, &BTreeSet::new(), &BTreeSet::new(), 0);
        fixture.write_directory(&target.0, &target.1);
        // Users (2,000 creates) then teams (20 creates + 20 member PATCHes).
        let at = fastrand::u64(1..=(USERS as u64 + 30));
        let interrupted = kill_at(&server, &fixture, at, fastrand::bool()).await;
        assert_exact(&server, &mut fixture, &target, &BTreeSet::new()).await;
        outcomes.push((at, interrupted));
    }
    eprintln!("seed {seed}: initial trials (kill after N writes, interrupted): {outcomes:?}");
    assert!(outcomes.iter().any(|(_, interrupted)| *interrupted));
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_random_moments_of_an_incremental_run() {
    let server = Scim2Server::start();
    let seed = seed();
    // First, so a failing trial can be replayed.
    eprintln!("incremental trials: seed {seed} (replay with PENVIO_CRASH_SEED={seed})");
    fastrand::seed(seed ^ 0x5eed);
    let mut outcomes = Vec::new();
    for trial in 0..trials() {
        let mut fixture = fixture_for(&server, &format!("incremental-{trial}"));
        let first: Vec<usize> = (0..USERS - 100).collect();
        let base = directory(&first, &BTreeSet::new(), &BTreeSet::new(), 0);
        fixture.write_directory(&base.0, &base.1);
        assert_eq!(
            sync_command(&fixture.config_path())
                .status()
                .unwrap()
                .code(),
            Some(0)
        );

        // Mixed changes: 100 joiners, 100 leavers, 100 renamed, 50 new
        // emails, every team's membership shifted by 5.
        let leavers: BTreeSet<usize> = (0..100).map(|i| i * 19).collect();
        let now: Vec<usize> = (0..USERS).filter(|i| !leavers.contains(i)).collect();
        let renamed: BTreeSet<usize> = (0..100).map(|i| 7 + i * 17).collect();
        let moved: BTreeSet<usize> = (0..50).map(|i| 3 + i * 31).collect();
        let target = directory(&now, &renamed, &moved, 5);
        fixture.write_directory(&target.0, &target.1);
        let removed: BTreeSet<String> = leavers.iter().map(|i| format!("id-{i:05}")).collect();
        // About 100 creates, 250 updates, 40 member PATCHes, 100 deactivations.
        let at = fastrand::u64(1..=480);
        let interrupted = kill_at(&server, &fixture, at, fastrand::bool()).await;
        assert_exact(&server, &mut fixture, &target, &removed).await;
        outcomes.push((at, interrupted));
    }
    eprintln!("seed {seed}: incremental trials (kill after N writes, interrupted): {outcomes:?}");
    assert!(outcomes.iter().any(|(_, interrupted)| *interrupted));
}
