//! End to end: fake Okta (tests/okta_fake) → penvio-sync → the crate's SCIM
//! emulator (the target contract has its own tests against scim2-server).
//! Assertions are on what the target holds, what each side received, and
//! the snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod okta_fake;

use std::time::{Duration, Instant};

use common::emulator_target::EmulatorTarget;
use common::vendor_fake::{active, full_run};
use common::{Fixture, find, member_ids};
use jsonwebtoken::Algorithm;
use okta_fake::{API_TOKEN, OAuthApp, OktaFake};
use penvio_sync::report::exit::{EXIT_HELD_BACK, EXIT_OK};
use penvio_sync::sync::RunOptions;
use penvio_sync::timestamp::unix_now;

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/okta/test-keys");

/// git does not keep file modes: make the test keys private, as the config
/// requires of secret files.
fn private_test_keys() {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(KEYS).unwrap() {
        let path = entry.unwrap().path();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Alice and Bob in Engineering, Carol STAGED, Dave long DEPROVISIONED,
/// Erin LOCKED_OUT in an AD-imported Sales group; Everyone holds all.
async fn seeded_fake() -> OktaFake {
    let fake = OktaFake::start(2).await;
    // Seeded an hour ago: quiet since, as an org between two runs.
    fake.set_clock_offset(-3_600_000);
    fake.add_user("00u-alice", "alice@example.com", "Alice", "Smith", "ACTIVE");
    fake.add_user("00u-bob", "bob@example.com", "Bob", "Jones", "ACTIVE");
    fake.add_user(
        "00u-carol",
        "carol@example.com",
        "Carol",
        "Staged",
        "STAGED",
    );
    fake.add_user(
        "00u-dave",
        "dave@example.com",
        "Dave",
        "Gone",
        "DEPROVISIONED",
    );
    fake.add_user(
        "00u-erin",
        "erin@example.com",
        "Erin",
        "Locked",
        "LOCKED_OUT",
    );
    fake.add_group(
        "00g-eng",
        "Engineering",
        "OKTA_GROUP",
        &["00u-alice", "00u-bob"],
    );
    fake.add_group(
        "00g-everyone",
        "Everyone",
        "BUILT_IN",
        &["00u-alice", "00u-bob", "00u-carol", "00u-dave", "00u-erin"],
    );
    fake.add_group("00g-sales", "Sales", "APP_GROUP", &["00u-erin"]);
    fake
}

fn okta_fixture(
    server: &EmulatorTarget,
    org: &str,
    fake: &OktaFake,
    extra_source: &str,
) -> Fixture {
    let mut fixture = Fixture::new(&server.org_url(org));
    fixture.source_block = Some(format!(
        "    source: {{type: okta, base_url: \"{}\", token: {API_TOKEN}, requests_per_second: 200{extra_source}}}\n",
        fake.base_url
    ));
    fixture
}

/// Percent-encodes a query value as the adapter does.
fn encode(text: &str) -> String {
    text.replace(':', "%3A")
}

fn paths(fake: &OktaFake) -> Vec<String> {
    fake.log().iter().map(|l| l.line()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn initial_provision_then_a_no_op_run_reads_only_changes_and_writes_nothing() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = okta_fixture(&server, "okta-initial", &fake, "");

    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(report.source.full_fetch);
    let first = paths(&fake);
    assert_eq!(
        first,
        [
            "GET /api/v1/logs?limit=1&sortOrder=DESCENDING",
            "GET /api/v1/users?limit=200",
            "GET /api/v1/users?after=c1.5a58&limit=200",
            "GET /api/v1/groups?limit=200",
            "GET /api/v1/groups?after=c1.5a58&limit=200",
            "GET /api/v1/groups/00g-eng/users?limit=200",
            "GET /api/v1/groups/00g-sales/users?limit=200",
        ],
        "the System Log's newest event, then a first read that skips the DEPROVISIONED listing (nobody to deactivate yet) and Everyone's members"
    );
    assert_eq!(report.source_requests, 7);

    let users = server.list("okta-initial", "Users").await;
    let mut names: Vec<&str> = users
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["alice@example.com", "bob@example.com", "erin@example.com"],
        "STAGED and DEPROVISIONED users are not provisioned; LOCKED_OUT is active"
    );
    let alice = find(&users, "userName", "alice@example.com").unwrap();
    assert_eq!(alice["externalId"], "00u-alice");
    assert_eq!(alice["name"]["givenName"], "Alice");
    assert_eq!(alice["displayName"], "Alice Smith");
    let groups = server.list("okta-initial", "Groups").await;
    let mut teams: Vec<&str> = groups
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    teams.sort();
    assert_eq!(
        teams,
        ["Engineering", "Sales"],
        "BUILT_IN Everyone is not a team"
    );
    let engineering = find(&groups, "displayName", "Engineering").unwrap();
    assert_eq!(member_ids(engineering).len(), 2);

    fake.clear_log();
    let before = server.request_counts("okta-initial").await;
    let second = fixture.sync().await;
    assert_eq!(second.exit_code, EXIT_OK, "{second:#?}");
    assert!(!second.source.full_fetch, "the second run is incremental");
    assert!(second.applied.is_empty(), "{:?}", second.applied);
    assert_eq!(
        server.request_counts("okta-initial").await,
        before,
        "no request to Penvio at all"
    );
    // Erin is the newest listed user of the seed, older than the five
    // minutes before the last read: the read starts at her update. The
    // empty log starts from it too (less its own overlap).
    let erin = fake.last_updated_ms("00u-erin");
    let since = encode(&okta_fake::iso(erin));
    let log_since = encode(&okta_fake::iso(erin - 300_000));
    let log = paths(&fake);
    assert_eq!(log.len(), 4, "{log:?}");
    assert!(
        log[0].starts_with(&format!("GET /api/v1/logs?since={log_since}&until=")),
        "{log:?}"
    );
    assert!(
        log[0].ends_with("&limit=1000&sortOrder=ASCENDING"),
        "{log:?}"
    );
    assert_eq!(
        log[1..],
        [
            format!("GET /api/v1/users?filter=lastUpdated%20gt%20%22{since}%22&limit=200"),
            "GET /api/v1/groups?limit=200".to_string(),
            "GET /api/v1/groups?after=c1.5a58&limit=200".to_string(),
        ],
        "no-op: the System Log, changed users, the group listing, and no member list"
    );
    assert_eq!(second.source_requests, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_are_read_incrementally_and_applied() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = okta_fixture(&server, "okta-changes", &fake, "");
    fixture.extra_config =
        "    policy:\n      max_deactivations: 10\n      max_shrinkage: \"100%\"\n".into();
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let users = server.list("okta-changes", "Users").await;
    let alice_id = find(&users, "userName", "alice@example.com").unwrap()["id"].clone();

    // Profile and email change, suspension, deprovisioning, rename, membership.
    fake.update_profile(
        "00u-alice",
        &[("email", "alice.king@example.com"), ("lastName", "King")],
    );
    fake.set_status("00u-bob", "SUSPENDED");
    fake.set_status("00u-erin", "DEPROVISIONED");
    fake.rename_group("00g-sales", "Sales EMEA");
    fake.add_member("00g-eng", "00u-erin");
    fake.add_user("00u-frank", "frank@example.com", "Frank", "New", "ACTIVE");
    fake.add_member("00g-eng", "00u-frank");
    fake.clear_log();

    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(!report.source.full_fetch);
    let log = paths(&fake);
    assert!(log[0].starts_with("GET /api/v1/logs?since="), "{log:?}");
    let first_users = log
        .iter()
        .find(|l| l.starts_with("GET /api/v1/users"))
        .unwrap();
    assert!(
        first_users.starts_with("GET /api/v1/users?filter=lastUpdated%20gt%20%22"),
        "{log:?}"
    );
    assert!(
        log.contains(&"GET /api/v1/groups/00g-eng/users?limit=200".to_string()),
        "{log:?}"
    );
    assert!(
        !log.iter().any(|l| l.contains("00g-sales/users")),
        "a rename does not move lastMembershipUpdated: Sales' members are not read again: {log:?}"
    );

    let users = server.list("okta-changes", "Users").await;
    let alice = find(&users, "userName", "alice.king@example.com").unwrap();
    assert_eq!(
        alice["id"], alice_id,
        "an email change keeps the Penvio user"
    );
    assert_eq!(alice["name"]["familyName"], "King");
    assert!(
        !active(find(&users, "userName", "bob@example.com").unwrap()),
        "SUSPENDED deactivates"
    );
    assert!(
        !active(find(&users, "userName", "erin@example.com").unwrap()),
        "DEPROVISIONED deactivates"
    );
    assert!(active(
        find(&users, "userName", "frank@example.com").unwrap()
    ));
    let groups = server.list("okta-changes", "Groups").await;
    assert!(
        find(&groups, "displayName", "Sales EMEA").is_some(),
        "renamed"
    );
    let engineering = find(&groups, "displayName", "Engineering").unwrap();
    let frank = find(&users, "userName", "frank@example.com").unwrap();
    let mut expected = vec![
        alice_id.as_str().unwrap().to_string(),
        frank["id"].as_str().unwrap().to_string(),
    ];
    expected.sort();
    assert_eq!(
        member_ids(engineering),
        expected,
        "only active members stay in the team"
    );
    let snapshot = fixture.snapshot();
    assert!(snapshot.users["00u-erin"].deactivated_at().is_some());

    // A member leaves: only that group's member list is read again.
    fake.remove_member("00g-eng", "00u-frank");
    fake.clear_log();
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    let member_reads: Vec<String> = paths(&fake)
        .into_iter()
        .filter(|l| l.contains("/users?limit"))
        .collect();
    assert_eq!(member_reads, ["GET /api/v1/groups/00g-eng/users?limit=200"]);
    let groups = server.list("okta-changes", "Groups").await;
    assert_eq!(
        member_ids(find(&groups, "displayName", "Engineering").unwrap()).len(),
        1
    );
}

/// The seed with Erin in Engineering too, scoped to Engineering, synced.
async fn scoped_and_synced(server: &EmulatorTarget, org: &str) -> (OktaFake, Fixture) {
    let fake = seeded_fake().await;
    fake.add_member("00g-eng", "00u-erin");
    // Frank stays, so the three removals do not empty the team (which the
    // member-removal guard would rightly hold back).
    fake.add_user("00u-frank", "frank@example.com", "Frank", "Stays", "ACTIVE");
    fake.add_member("00g-eng", "00u-frank");
    let mut fixture = okta_fixture(server, org, &fake, "");
    fixture.extra_config = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"}\n    scope: {user_groups: [Engineering]}\n".into();
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let users = server.list(org, "Users").await;
    assert_eq!(users.len(), 4);
    assert!(users.iter().all(active));
    (fake, fixture)
}

/// Alice suspended, Bob deactivated and deleted (between two polls), Erin
/// out of the only scoped group.
fn remove_three(fake: &OktaFake) {
    fake.set_status("00u-alice", "SUSPENDED");
    fake.delete_user("00u-bob");
    fake.remove_member("00g-eng", "00u-erin");
}

async fn assert_three_deactivated(server: &EmulatorTarget, org: &str, fixture: &mut Fixture) {
    let users = server.list(org, "Users").await;
    for email in ["alice@example.com", "bob@example.com", "erin@example.com"] {
        assert!(
            !active(find(&users, "userName", email).unwrap()),
            "{email} deactivated in the first run after the change"
        );
    }
    let snapshot = fixture.snapshot();
    for id in ["00u-alice", "00u-bob", "00u-erin"] {
        assert!(snapshot.users[id].deactivated_at().is_some(), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn removals_reach_penvio_in_the_next_incremental_run() {
    let server = EmulatorTarget::start().await;
    let (fake, mut fixture) = scoped_and_synced(&server, "okta-removals").await;
    remove_three(&fake);
    assert!(
        fake.event_types().ends_with(&[
            "user.lifecycle.deactivate".into(),
            "user.lifecycle.delete.initiated".into(),
            "group.user_membership.remove".into()
        ]),
        "Okta deactivates before it deletes: {:?}",
        fake.event_types()
    );
    fake.clear_log();

    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(
        !report.source.full_fetch,
        "an incremental run, not a full one"
    );
    let log = paths(&fake);
    assert!(
        log.iter()
            .any(|l| l.starts_with("GET /api/v1/users?filter=id%20eq%20%2200u-")),
        "the users the log names are read again: {log:?}"
    );
    assert!(
        !log.contains(&"GET /api/v1/users?limit=200".to_string()),
        "{log:?}"
    );
    assert_three_deactivated(&server, "okta-removals", &mut fixture).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_system_log_every_run_is_a_full_read() {
    let server = EmulatorTarget::start().await;
    let (fake, mut fixture) = scoped_and_synced(&server, "okta-no-log").await;
    fake.set_log_forbidden(true);
    remove_three(&fake);
    fake.clear_log();

    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(report.source.full_fetch, "403 on the log: a full read");
    assert!(paths(&fake).contains(&"GET /api/v1/users?limit=200".to_string()));
    assert_three_deactivated(&server, "okta-no-log", &mut fixture).await;

    // Still forbidden: full again; readable again: back to incremental.
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(report.source.full_fetch);
    fake.set_log_forbidden(false);
    assert!(
        fixture.sync().await.source.full_fetch,
        "the log is probed again"
    );
    assert!(!fixture.sync().await.source.full_fetch);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_position_past_the_retention_means_a_full_read() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    // Full reads a year apart, so only the log's age decides.
    let mut fixture = okta_fixture(
        &server,
        "okta-retention",
        &fake,
        ", full_fetch_interval: 365d",
    );
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let later = |days: i64| RunOptions {
        now: unix_now() + days * 86_400,
        ..RunOptions::sync_now()
    };
    let report = fixture.run(later(2)).await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(
        !report.source.full_fetch,
        "two days: the log still holds every event"
    );
    fake.clear_log();
    let report = fixture.run(later(100)).await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(
        report.source.full_fetch,
        "100 days: events may be gone from the log, so everything is read"
    );
    let log = paths(&fake);
    assert!(
        !log.iter().any(|l| l.starts_with("GET /api/v1/logs?since=")),
        "a log past its retention is not read: {log:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mass_deletion_is_held_back_by_the_guard() {
    let server = EmulatorTarget::start().await;
    let fake = OktaFake::start(200).await;
    for i in 0..140 {
        fake.add_user(
            &format!("00u-{i:03}"),
            &format!("u{i}@example.com"),
            "User",
            "Many",
            "ACTIVE",
        );
    }
    let mut fixture = okta_fixture(&server, "okta-mass", &fake, "");
    fixture.extra_config = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"}\n".into();
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    assert_eq!(server.list("okta-mass", "Users").await.len(), 140);
    let (writes, _) = server.request_counts("okta-mass").await;

    for i in 0..129 {
        fake.delete_user(&format!("00u-{i:03}"));
    }
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_HELD_BACK, "{report:#?}");
    assert!(!report.source.full_fetch);
    assert_eq!(report.held_back.len(), 129, "every removal seen and held");
    assert_eq!(
        server.request_counts("okta-mass").await.0,
        writes,
        "nothing written"
    );
    assert!(server.list("okta-mass", "Users").await.iter().all(active));
}

#[tokio::test(flavor = "multi_thread")]
async fn everyone_becomes_a_team_only_when_named() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut globbed = okta_fixture(&server, "okta-glob", &fake, "");
    globbed.extra_config = "    scope:\n      team_groups: [\"*\", \"E*\"]\n".into();
    assert_eq!(globbed.sync().await.exit_code, EXIT_OK);
    let groups = server.list("okta-glob", "Groups").await;
    assert!(
        find(&groups, "displayName", "Everyone").is_none(),
        "a glob does not name it"
    );

    let mut named = okta_fixture(&server, "okta-named", &fake, "");
    named.extra_config = "    scope:\n      team_groups: [Everyone]\n".into();
    let report = named.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    let groups = server.list("okta-named", "Groups").await;
    assert_eq!(groups.len(), 1);
    let everyone = find(&groups, "displayName", "Everyone").unwrap();
    assert_eq!(
        member_ids(everyone).len(),
        3,
        "its active, provisioned members"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn app_id_limits_the_sync_to_assigned_users_and_groups() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    // Bob last changed an hour ago: older than the five minutes a
    // `lastUpdated` read overlaps.
    fake.set_last_updated_ms("00u-bob", fake.last_updated_ms("00u-bob") - 3_600_000);
    fake.assign_app("0oaPenvio", &["00u-alice"], &["00g-sales"]);
    let mut fixture = okta_fixture(&server, "okta-app", &fake, ", app_id: 0oaPenvio");
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    let users = server.list("okta-app", "Users").await;
    let mut names: Vec<&str> = users
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["alice@example.com", "erin@example.com"],
        "direct and through Sales"
    );
    let groups = server.list("okta-app", "Groups").await;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["displayName"], "Sales");

    // A new assignment does not move the user's lastUpdated: it is still found.
    fake.assign_app("0oaPenvio", &["00u-bob"], &[]);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(!report.source.full_fetch);
    let users = server.list("okta-app", "Users").await;
    assert!(find(&users, "userName", "bob@example.com").is_some());
    assert!(
        paths(&fake)
            .iter()
            .any(|l| l.contains("filter=id%20eq%20%2200u-bob%22")),
        "the newly assigned user is read by id"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_page_fails_the_run_and_changes_nothing() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = okta_fixture(&server, "okta-fail", &fake, "");
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let snapshot = fixture.snapshot();
    let (writes, _) = server.request_counts("okta-fail").await;

    // Bob is gone and the second page of users fails: a full read must not
    // mistake the missing page for removed users.
    fake.delete_user("00u-bob");
    fake.fail("/api/v1/users", "after=", 500);
    let report = fixture.run(full_run()).await;
    assert_ne!(report.exit_code, EXIT_OK);
    let error = report.error.clone().unwrap();
    assert!(error.contains("500"), "{error}");
    assert!(error.contains("/api/v1/users"), "{error}");
    assert_eq!(
        server.request_counts("okta-fail").await.0,
        writes,
        "nothing written"
    );
    assert_eq!(fixture.snapshot(), snapshot, "snapshot unchanged");
    let users = server.list("okta-fail", "Users").await;
    assert!(users.iter().all(active), "nobody deactivated");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_names_the_key_to_fix() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = Fixture::new(&server.org_url("okta-401"));
    fixture.source_block = Some(format!(
        "    source: {{type: okta, base_url: \"{}\", token: wrong-token}}\n",
        fake.base_url
    ));
    let report = fixture.sync().await;
    assert_ne!(report.exit_code, EXIT_OK);
    let error = report.error.unwrap();
    assert!(error.contains("connections[0].source.token"), "{error}");
    assert!(
        error.contains("Invalid token provided (E0000011)"),
        "{error}"
    );
    assert!(
        !error.contains("wrong-token"),
        "never prints the secret: {error}"
    );
    assert_eq!(fake.log().len(), 1, "a static key is not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_app_signs_assertions_and_refreshes_expiring_tokens() {
    private_test_keys();
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    // 62 s tokens are cached for 2 s (the client renews 60 s early); at 1
    // request per second the run outlives several tokens.
    fake.register_oauth_app(OAuthApp {
        client_id: "0oaSyncApp".into(),
        key_id: "penvio-key-1".into(),
        public_pem: std::fs::read(format!("{KEYS}/ec-public.pem")).unwrap(),
        algorithm: Algorithm::ES256,
        expires_in: 62,
    });
    let mut fixture = Fixture::new(&server.org_url("okta-oauth"));
    fixture.source_block = Some(format!(
        "    source:\n      type: okta\n      base_url: \"{}\"\n      requests_per_second: 1\n      oauth:\n        client_id: 0oaSyncApp\n        key_id: penvio-key-1\n        private_key_file: {KEYS}/ec-private.pem\n",
        fake.base_url
    ));
    let started = Instant::now();
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(
        started.elapsed() > Duration::from_secs(2),
        "the run outlived a token"
    );
    let (requested, valid) = fake.token_requests();
    assert!(requested >= 2, "the token was refreshed: {requested}");
    assert_eq!(
        requested, valid,
        "every assertion verified against the public key"
    );
    assert_eq!(server.list("okta-oauth", "Users").await.len(), 3);

    // A wrong key id is refused by the token endpoint: a clear message.
    let mut wrong = Fixture::new(&server.org_url("okta-oauth-bad"));
    wrong.source_block = Some(format!(
        "    source:\n      type: okta\n      base_url: \"{}\"\n      oauth:\n        client_id: 0oaSyncApp\n        key_id: other-key\n        private_key_file: {KEYS}/ec-private.pem\n",
        fake.base_url
    ));
    let report = wrong.sync().await;
    let error = report.error.unwrap();
    assert!(error.contains("invalid_client"), "{error}");
    assert!(error.contains("connections[0].source.oauth"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_waits_for_the_reset_and_completes() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = okta_fixture(&server, "okta-429", &fake, "");
    fake.throttle_next(1, 2);
    let started = Instant::now();
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited until the epoch reset: {:?}",
        started.elapsed()
    );
    let log = paths(&fake);
    assert_eq!(log[0], log[1], "the throttled request is sent again");
    assert_eq!(server.list("okta-429", "Users").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_past_the_failure_retries_is_waited_out_and_an_absurd_wait_is_refused() {
    use okta_fake::faults::Fault;
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = okta_fixture(&server, "okta-storm", &fake, "");
    // Ten 429s in a row on one request: more than the 6 attempts a failing
    // request gets, but throttling is the vendor being busy, not broken.
    fake.faults
        .inject(&["GET /api/v1/users"], 0, Some(10), Fault::Throttle(0));
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert_eq!(fake.faults.injected(), 10);
    assert_eq!(server.list("okta-storm", "Users").await.len(), 3);

    // A vendor asking to wait a day fails the run at once, saying why,
    // instead of holding it (and every later scheduled run) for a day.
    fake.faults.clear();
    fake.faults
        .inject(&["GET /api/v1/users"], 0, None, Fault::Throttle(86_400));
    let started = Instant::now();
    let report = fixture.run(full_run()).await;
    assert_ne!(report.exit_code, EXIT_OK);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let error = report.error.clone().unwrap_or_default();
    assert!(
        error.contains("asks for 86400 s") && error.contains("more than the 3600 s"),
        "{error}"
    );
    let users = server.list("okta-storm", "Users").await;
    assert!(users.iter().all(active), "nobody deactivated");
}
