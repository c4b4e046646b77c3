//! End to end: fake OneLogin (tests/onelogin_fake) → penvio-sync → the
//! crate's SCIM emulator (the target contract has its own tests against
//! scim2-server). Assertions are on what the target holds, what each side
//! received, and the snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod onelogin_fake;

use std::time::{Duration, Instant};

use common::emulator_target::EmulatorTarget;
use common::vendor_fake::{active, full_run};
use common::{Fixture, find, member_ids};
use onelogin_fake::{CLIENT_ID, CLIENT_SECRET, OneLoginFake};
use penvio_sync::report::exit::{EXIT_HELD_BACK, EXIT_OK};
use serde_json::{Value, json};

const TOKEN_LINE: &str = "POST /auth/oauth2/v2/token";

/// Alice and Bob in role Engineering and group Default; Carol Unactivated;
/// Dave Suspended; Erin Locked (still active) in Sales and Contractors;
/// Fred not approved (`state` 0). Role Admins is empty.
async fn seeded_fake() -> OneLoginFake {
    let fake = OneLoginFake::start(2).await;
    fake.add_group(501, "Default");
    fake.add_group(502, "Contractors");
    fake.add_group(503, "Empty");
    fake.add_user(101, "alice@example.com", "Alice", "Smith", 1, 501);
    fake.add_user(102, "bob@example.com", "Bob", "Jones", 1, 501);
    fake.add_user(103, "carol@example.com", "Carol", "New", 0, 501);
    fake.add_user(104, "dave@example.com", "Dave", "Away", 2, 501);
    fake.add_user(105, "erin@example.com", "Erin", "Locked", 3, 502);
    fake.add_user(106, "fred@example.com", "Fred", "Pending", 1, 502);
    fake.update_user(106, &[("state", json!(0))]);
    fake.add_role(201, "Engineering", &[101, 102]);
    fake.add_role(202, "Sales", &[105]);
    fake.add_role(203, "Admins", &[]);
    fake
}

fn onelogin_fixture(
    server: &EmulatorTarget,
    org: &str,
    fake: &OneLoginFake,
    extra_source: &str,
) -> Fixture {
    let mut fixture = Fixture::new(&server.org_url(org));
    fixture.source_block = Some(format!(
        "    source: {{type: onelogin, base_url: \"{}\", client_id: {CLIENT_ID}, client_secret: {CLIENT_SECRET}, requests_per_second: 200{extra_source}}}\n",
        fake.base_url
    ));
    fixture.extra_config =
        "    policy:\n      max_deactivations: 10\n      max_shrinkage: \"100%\"\n".into();
    fixture
}

fn paths(fake: &OneLoginFake) -> Vec<String> {
    fake.log().iter().map(|l| l.line()).collect()
}

fn user_names(users: &[Value]) -> Vec<&str> {
    let mut names: Vec<&str> = users
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    names.sort();
    names
}

fn penvio_id(users: &[Value], email: &str) -> String {
    find(users, "userName", email).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn initial_provision_then_a_no_op_run_reads_only_changes_and_writes_nothing() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = onelogin_fixture(&server, "ol-initial", &fake, "");

    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(report.source.full_fetch);
    assert_eq!(
        paths(&fake),
        [
            TOKEN_LINE,
            "GET /api/2/users?limit=100",
            "GET /api/2/users?limit=100&cursor=b2ZmZ5a58X",
            "GET /api/2/users?limit=100&cursor=b2ZmZ5a5eX",
            "GET /api/2/roles?limit=100",
            "GET /api/2/roles?limit=100&cursor=b2ZmZ5a58X",
            "GET /api/2/roles/201/users?limit=100",
            "GET /api/2/roles/202/users?limit=100",
            "GET /api/2/roles/203/users?limit=100",
        ]
    );
    assert_eq!(report.source_requests, 8, "token requests are not counted");

    let users = server.list("ol-initial", "Users").await;
    assert_eq!(
        user_names(&users),
        ["alice@example.com", "bob@example.com", "erin@example.com"],
        "unactivated, suspended and unapproved users are not provisioned; locked is active"
    );
    let alice = find(&users, "userName", "alice@example.com").unwrap();
    assert_eq!(alice["externalId"], "101");
    assert_eq!(alice["name"]["givenName"], "Alice");
    assert_eq!(alice["name"]["familyName"], "Smith");
    assert_eq!(alice["displayName"], "Alice Smith");
    let groups = server.list("ol-initial", "Groups").await;
    let mut teams: Vec<&str> = groups
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    teams.sort();
    assert_eq!(teams, ["Admins", "Engineering", "Sales"], "roles are teams");
    let engineering = find(&groups, "displayName", "Engineering").unwrap();
    let mut expected = vec![
        penvio_id(&users, "alice@example.com"),
        penvio_id(&users, "bob@example.com"),
    ];
    expected.sort();
    assert_eq!(member_ids(engineering), expected);

    fake.clear_log();
    let before = server.request_counts("ol-initial").await;
    let second = fixture.sync().await;
    assert_eq!(second.exit_code, EXIT_OK, "{second:#?}");
    assert!(!second.source.full_fetch, "the second run is incremental");
    assert!(second.applied.is_empty(), "{:?}", second.applied);
    assert_eq!(
        server.request_counts("ol-initial").await,
        before,
        "no request to Penvio at all"
    );
    // Fred's approval change was the newest update of the seed.
    assert_eq!(
        paths(&fake),
        [
            TOKEN_LINE,
            "GET /api/2/users?limit=100&updated_since=2024-03-01T00%3A00%3A07.000Z",
            "GET /api/2/users?limit=100&fields=id",
            "GET /api/2/users?limit=100&fields=id&cursor=b2ZmZ5a58X",
            "GET /api/2/users?limit=100&fields=id&cursor=b2ZmZ5a5eX",
            "GET /api/2/roles?limit=100",
            "GET /api/2/roles?limit=100&cursor=b2ZmZ5a58X",
            "GET /api/2/roles/201/users?limit=100",
            "GET /api/2/roles/202/users?limit=100",
            "GET /api/2/roles/203/users?limit=100",
        ],
        "no-op: a token, changed users, every user id, and the roles with their members"
    );
    assert_eq!(second.source_requests, 9);
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_are_read_incrementally_and_applied() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    // The last page of each listing ends with an empty After-Cursor.
    fake.set_empty_final_cursor(true);
    let mut fixture = onelogin_fixture(&server, "ol-changes", &fake, "");
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let users = server.list("ol-changes", "Users").await;
    let alice_id = penvio_id(&users, "alice@example.com");

    // Email and name change, suspension, a new user, role changes.
    fake.update_user(
        101,
        &[
            ("email", json!("alice.king@example.com")),
            ("lastname", json!("King")),
        ],
    );
    fake.update_user(102, &[("status", json!(2))]);
    fake.add_user(107, "gina@example.com", "Gina", "New", 1, 501);
    fake.add_role_member(201, 107);
    fake.add_role_member(201, 105);
    fake.remove_role_member(202, 105);
    fake.clear_log();

    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(!report.source.full_fetch);
    let log = paths(&fake);
    assert!(
        log[1].starts_with("GET /api/2/users?limit=100&updated_since=2024-03-01T"),
        "{log:?}"
    );
    assert!(
        !log.contains(&"GET /api/2/users?limit=100".to_string()),
        "no full listing: {log:?}"
    );

    let users = server.list("ol-changes", "Users").await;
    let alice = find(&users, "userName", "alice.king@example.com").unwrap();
    assert_eq!(
        alice["id"], alice_id,
        "an email change keeps the Penvio user"
    );
    assert_eq!(alice["name"]["familyName"], "King");
    assert!(
        !active(find(&users, "userName", "bob@example.com").unwrap()),
        "suspended → deactivated"
    );
    assert!(active(
        find(&users, "userName", "gina@example.com").unwrap()
    ));
    let groups = server.list("ol-changes", "Groups").await;
    let engineering = find(&groups, "displayName", "Engineering").unwrap();
    let mut expected = vec![
        alice_id.clone(),
        penvio_id(&users, "erin@example.com"),
        penvio_id(&users, "gina@example.com"),
    ];
    expected.sort();
    assert_eq!(
        member_ids(engineering),
        expected,
        "new members in, the suspended member out"
    );
    assert!(member_ids(find(&groups, "displayName", "Sales").unwrap()).is_empty());
    let snapshot = fixture.snapshot();
    assert!(snapshot.users["102"].deactivated_at().is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn removals_reach_penvio_in_the_next_incremental_run() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    fake.add_role_member(201, 105);
    // Gina stays, so the three removals do not empty the team (which the
    // member-removal guard would rightly hold back).
    fake.add_user(107, "gina@example.com", "Gina", "Stays", 1, 501);
    fake.add_role_member(201, 107);
    let mut fixture = onelogin_fixture(&server, "ol-removals", &fake, "");
    fixture
        .extra_config
        .push_str("    scope: {user_groups: [Engineering]}\n");
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let users = server.list("ol-removals", "Users").await;
    assert_eq!(
        user_names(&users),
        [
            "alice@example.com",
            "bob@example.com",
            "erin@example.com",
            "gina@example.com"
        ]
    );
    assert!(users.iter().all(active));

    // Alice suspended, Bob deleted (hard: gone from every listing), Erin
    // leaves the only scoped role.
    fake.update_user(101, &[("status", json!(2))]);
    fake.delete_user(102);
    fake.remove_role_member(201, 105);
    fake.clear_log();

    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(
        !report.source.full_fetch,
        "an incremental run, not a full one"
    );
    let log = paths(&fake);
    assert!(
        !log.contains(&"GET /api/2/users?limit=100".to_string()),
        "no full listing: {log:?}"
    );
    let users = server.list("ol-removals", "Users").await;
    for email in ["alice@example.com", "bob@example.com", "erin@example.com"] {
        assert!(
            !active(find(&users, "userName", email).unwrap()),
            "{email} deactivated in the first run after the change"
        );
    }
    let snapshot = fixture.snapshot();
    for id in ["101", "102", "105"] {
        assert!(snapshot.users[id].deactivated_at().is_some(), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_created_with_an_older_stamp_is_read_by_id() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = onelogin_fixture(&server, "ol-late", &fake, "");
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    // Gina becomes visible with an `updated_at` older than the cursor.
    fake.add_user(107, "gina@example.com", "Gina", "Late", 1, 501);
    fake.set_updated_at(107, "2024-03-01T00:00:00.000Z");
    fake.clear_log();

    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(!report.source.full_fetch);
    assert!(
        paths(&fake).contains(&"GET /api/2/users?limit=100&user_ids=107".to_string()),
        "{:?}",
        paths(&fake)
    );
    let users = server.list("ol-late", "Users").await;
    assert!(active(
        find(&users, "userName", "gina@example.com").unwrap()
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mass_deletion_is_held_back_by_the_guard() {
    let server = EmulatorTarget::start().await;
    let fake = OneLoginFake::start(100).await;
    for id in 1000..1140 {
        fake.add_user(id, &format!("u{id}@example.com"), "User", "Many", 1, 501);
    }
    let mut fixture = onelogin_fixture(&server, "ol-mass", &fake, "");
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    assert_eq!(server.list("ol-mass", "Users").await.len(), 140);
    let (writes, _) = server.request_counts("ol-mass").await;

    for id in 1000..1129 {
        fake.delete_user(id);
    }
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_HELD_BACK, "{report:#?}");
    assert!(!report.source.full_fetch);
    assert_eq!(report.held_back.len(), 129, "every removal seen and held");
    assert_eq!(
        server.request_counts("ol-mass").await.0,
        writes,
        "nothing written"
    );
    assert!(server.list("ol-mass", "Users").await.iter().all(active));
}

#[tokio::test(flavor = "multi_thread")]
async fn teams_from_groups_follow_the_users_group_id() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = onelogin_fixture(&server, "ol-groups", &fake, ", teams_from: groups");
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    let log = paths(&fake);
    assert!(log.contains(&"GET /api/1/groups".to_string()), "{log:?}");
    assert!(
        log.contains(&"GET /api/1/groups?after_cursor=b2ZmZ5a58X".to_string()),
        "v1 paging: {log:?}"
    );
    assert!(!log.iter().any(|l| l.contains("/roles")), "{log:?}");
    let users = server.list("ol-groups", "Users").await;
    let groups = server.list("ol-groups", "Groups").await;
    let mut teams: Vec<&str> = groups
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    teams.sort();
    assert_eq!(teams, ["Contractors", "Default", "Empty"]);
    let mut default = vec![
        penvio_id(&users, "alice@example.com"),
        penvio_id(&users, "bob@example.com"),
    ];
    default.sort();
    assert_eq!(
        member_ids(find(&groups, "displayName", "Default").unwrap()),
        default
    );

    // Bob moves to Contractors: an incremental read sees his new group_id.
    fake.update_user(102, &[("group_id", json!(502))]);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(!report.source.full_fetch);
    let groups = server.list("ol-groups", "Groups").await;
    assert_eq!(
        member_ids(find(&groups, "displayName", "Default").unwrap()),
        [penvio_id(&users, "alice@example.com")]
    );
    let mut contractors = vec![
        penvio_id(&users, "bob@example.com"),
        penvio_id(&users, "erin@example.com"),
    ];
    contractors.sort();
    assert_eq!(
        member_ids(find(&groups, "displayName", "Contractors").unwrap()),
        contractors
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_page_fails_the_run_and_changes_nothing() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = onelogin_fixture(&server, "ol-fail", &fake, "");
    let first = fixture.sync().await;
    assert_eq!(first.exit_code, EXIT_OK);
    let read_at = first.source.data_read_at.unwrap();
    let snapshot = fixture.snapshot();
    let (writes, _) = server.request_counts("ol-fail").await;

    // Bob is gone and the second page of users fails: a full read must not
    // mistake the missing page for removed users.
    fake.delete_user(102);
    fake.fail("/api/2/users", "cursor=", 500);
    let report = fixture.run(full_run()).await;
    assert_ne!(report.exit_code, EXIT_OK);
    let error = report.error.clone().unwrap();
    assert!(error.contains("500"), "{error}");
    assert!(error.contains("/api/2/users"), "{error}");
    assert_eq!(
        server.request_counts("ol-fail").await.0,
        writes,
        "nothing written"
    );
    assert_eq!(fixture.snapshot(), snapshot, "snapshot unchanged");
    let users = server.list("ol-fail", "Users").await;
    assert!(users.iter().all(active), "nobody deactivated");
    // `state show`'s source age: the failed run relied on no new data, so
    // the time of the last complete read carries over.
    let store = fixture.store();
    let run = store.last_run("test").unwrap().unwrap();
    assert_eq!(run.outcome, "failed");
    assert!(report.source.data_read_at.is_none());
    assert_eq!(run.source_read_at, Some(read_at));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_credential_pair_names_the_key_to_fix() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = Fixture::new(&server.org_url("ol-401"));
    fixture.source_block = Some(format!(
        "    source: {{type: onelogin, base_url: \"{}\", client_id: {CLIENT_ID}, client_secret: wrong-secret-value}}\n",
        fake.base_url
    ));
    let report = fixture.sync().await;
    assert_ne!(report.exit_code, EXIT_OK);
    let error = report.error.unwrap();
    assert!(
        error.contains("connections[0].source.client_secret"),
        "{error}"
    );
    assert!(error.contains("401"), "{error}");
    assert!(error.contains("Unauthorized Error"), "{error}");
    assert!(
        !error.contains("wrong-secret-value"),
        "never prints the secret: {error}"
    );
    assert_eq!(
        paths(&fake),
        [TOKEN_LINE],
        "a refused credential pair is not retried, and no API call follows"
    );
    assert!(server.list("ol-401", "Users").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn expiring_tokens_are_refreshed() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;

    // Tokens revoked after three uses: the 401 makes the client fetch a new
    // one and repeat the request.
    fake.set_token_lifetime(36_000, Some(3));
    let mut fixture = onelogin_fixture(&server, "ol-token-uses", &fake, "");
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(
        fake.token_requests() >= 3,
        "refreshed after each 401: {}",
        fake.token_requests()
    );
    assert_eq!(server.list("ol-token-uses", "Users").await.len(), 3);

    // 61 s tokens are cached for 1 s (the client renews 60 s early); at 2
    // requests per second the eight reads take about 3 s and outlive
    // several of them.
    fake.set_token_lifetime(61, None);
    let before = fake.token_requests();
    let mut fixture = Fixture::new(&server.org_url("ol-token-time"));
    fixture.source_block = Some(format!(
        "    source: {{type: onelogin, base_url: \"{}\", client_id: {CLIENT_ID}, client_secret: {CLIENT_SECRET}, requests_per_second: 2}}\n",
        fake.base_url
    ));
    let started = Instant::now();
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(started.elapsed() > Duration::from_secs(2));
    assert!(
        fake.token_requests() - before >= 2,
        "renewed before expiry: {}",
        fake.token_requests() - before
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_waits_for_the_reset_and_completes() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = onelogin_fixture(&server, "ol-429", &fake, "");
    fake.throttle_next(1, 2);
    let started = Instant::now();
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited the X-RateLimit-Reset seconds: {:?}",
        started.elapsed()
    );
    let log = paths(&fake);
    assert_eq!(log[0], TOKEN_LINE);
    assert_eq!(log[1], log[2], "the throttled request is sent again");
    assert_eq!(server.list("ol-429", "Users").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_gets_a_token_and_reads_one_page_of_users() {
    let fake = seeded_fake().await;
    let mut fixture = Fixture::new("https://penvio.io/api/scim/v2/ol-check");
    fixture.source_block = Some(format!(
        "    source: {{type: onelogin, base_url: \"{}\", client_id: {CLIENT_ID}, client_secret: {CLIENT_SECRET}}}\n",
        fake.base_url
    ));
    let source = penvio_sync::source::build(&fixture.connection(common::TOKEN), 0).unwrap();
    assert_eq!(source.kind(), "onelogin");
    source.check().await.unwrap();
    assert_eq!(
        paths(&fake),
        [TOKEN_LINE, "GET /api/2/users?limit=1"],
        "a token and one page, no paging"
    );
    assert_eq!(source.requests_sent(), 1);
}
