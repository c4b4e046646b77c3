//! kill -9 in the middle of a run, then a rerun: Penvio (the real
//! scim2-server) and the snapshot converge to exactly the directory, with no
//! duplicate users or teams (invariant 2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, RERUN_TOKEN, Scim2Server, TOKEN, group, member_ids, user};
use serde_json::Value;

const USERS: usize = 2_000;
const TEAMS: usize = 20;
const TEAM_SIZE: usize = 100;

fn directory() -> (Vec<Value>, Vec<Value>) {
    let users: Vec<Value> = (0..USERS)
        .map(|i| {
            user(
                &format!("id-{i:05}"),
                &format!("user{i:05}@example.com"),
                &format!("First{i}"),
                &format!("Last{i}"),
            )
        })
        .collect();
    let groups: Vec<Value> = (0..TEAMS)
        .map(|t| {
            let members: Vec<String> = (0..TEAM_SIZE)
                .map(|m| format!("id-{:05}", t * TEAM_SIZE + m))
                .collect();
            let refs: Vec<&str> = members.iter().map(String::as_str).collect();
            group(&format!("team-{t:02}"), &format!("Team {t:02}"), &refs)
        })
        .collect();
    (users, groups)
}

fn sync_command(config: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_penvio-sync"));
    command
        .args(["--config", &config.display().to_string(), "sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Starts a sync and kills it with SIGKILL once the org has applied exactly
/// `kill_after_writes` writes: the server holds every later write unapplied
/// until the process is dead, so the kill lands at that point however busy
/// the machine is. Asserts it was really interrupted.
async fn interrupted_sync(server: &Scim2Server, fixture: &Fixture, kill_after_writes: u64) {
    server
        .hold_writes_after(&fixture.org, kill_after_writes)
        .await;
    let mut child = sync_command(&fixture.config_path()).spawn().unwrap();
    // Bounded only against a hang: the hold is reached as soon as the sync
    // has sent that many writes.
    let deadline = Instant::now() + Duration::from_secs(600);
    while server.held_writes(&fixture.org).await == 0 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the sync finished ({status}) before it could be interrupted at {kill_after_writes} writes"
            );
        }
        assert!(Instant::now() < deadline, "the sync made no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "the process was killed, not finished");
    server.release(&fixture.org).await;
    let (writes, _) = server.request_counts(&fixture.org).await;
    assert_eq!(writes, kill_after_writes, "killed at exactly that write");
}

/// The rerun after a kill, and the one after it, use [`RERUN_TOKEN`]: the
/// server refuses any late write of the killed process.
async fn assert_converged(server: &Scim2Server, fixture: &mut Fixture) {
    let config = std::fs::read_to_string(fixture.config_path())
        .unwrap()
        .replace(TOKEN, RERUN_TOKEN);
    std::fs::write(fixture.config_path(), config).unwrap();
    let status = sync_command(&fixture.config_path()).status().unwrap();
    assert_eq!(status.code(), Some(0), "the rerun succeeds");

    let users = server.list(&fixture.org, "Users").await;
    let names: BTreeSet<String> = users
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_lowercase())
        .collect();
    assert_eq!(users.len(), USERS, "no duplicate and no missing user");
    assert_eq!(names.len(), USERS);
    let groups = server.list(&fixture.org, "Groups").await;
    let team_names: BTreeSet<&str> = groups
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(groups.len(), TEAMS, "no duplicate team");
    assert_eq!(team_names.len(), TEAMS);

    let snapshot = fixture.snapshot();
    fixture.close_store();
    assert_eq!(snapshot.users.len(), USERS);
    assert!(snapshot.pending_team_creates.is_empty());
    let server_ids: BTreeMap<&str, &Value> = users
        .iter()
        .map(|u| (u["id"].as_str().unwrap(), u))
        .collect();
    for (source_id, record) in &snapshot.users {
        let held = server_ids
            .get(record.penvio_id())
            .unwrap_or_else(|| panic!("{source_id} maps to a user Penvio does not hold"));
        assert_eq!(held["externalId"].as_str(), Some(source_id.as_str()));
    }
    for group in &groups {
        let team = snapshot
            .teams
            .values()
            .find(|t| t.penvio_id == group["id"].as_str().unwrap())
            .expect("every team is in the snapshot");
        let expected: BTreeSet<String> = team
            .members
            .iter()
            .map(|m| snapshot.users[m].penvio_id().to_string())
            .collect();
        assert_eq!(team.members.len(), TEAM_SIZE);
        let held: BTreeSet<String> = member_ids(group).into_iter().collect();
        assert_eq!(held, expected);
    }

    // And the run after that sends nothing.
    let before = server.request_counts(&fixture.org).await;
    let status = sync_command(&fixture.config_path()).status().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(server.request_counts(&fixture.org).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_user_creation_then_rerun_converges() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("crash-users"));
    fixture.extra_config = String::new();
    let (users, groups) = directory();
    fixture.write_directory(&users, &groups);
    fixture.write_config(TOKEN);
    interrupted_sync(&server, &fixture, 700).await;
    let partial = server.list(&fixture.org, "Users").await.len();
    assert_eq!(partial, 700, "interrupted mid-way, after 700 user creates");
    assert_converged(&server, &mut fixture).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_team_creation_then_rerun_converges() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("crash-teams"));
    let (users, groups) = directory();
    fixture.write_directory(&users, &groups);
    // Small membership chunks make the team phase long enough to land in.
    fixture.extra_config = String::new();
    let config = fixture.config_text(TOKEN).replace(
        "      concurrency: 4\n",
        "      concurrency: 4\n      member_patch_size: 10\n",
    );
    std::fs::write(fixture.config_path(), &config).unwrap();
    interrupted_sync(&server, &fixture, (USERS + 25) as u64).await;
    let teams = server.list(&fixture.org, "Groups").await.len();
    assert!(
        teams > 0 && teams < TEAMS,
        "interrupted during team creation: {teams} teams"
    );

    // Rerun with the same (small-chunk) config, then check convergence.
    assert_converged(&server, &mut fixture).await;
}
