//! End to end: fake JumpCloud (tests/jumpcloud_fake) → penvio-sync → the
//! crate's SCIM emulator (the target contract has its own tests against
//! scim2-server). Assertions are on what the target holds, what each side
//! received, and the snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod jumpcloud_fake;

use std::time::{Duration, Instant};

use common::emulator_target::EmulatorTarget;
use common::vendor_fake::{active, user_names};
use common::{Fixture, find, member_ids};
use jumpcloud_fake::{API_KEY, JumpCloudFake, ServiceAccount};
use penvio_sync::report::exit::EXIT_OK;
use serde_json::json;

/// Alice and Bob in Engineering; Carol STAGED, Dave suspended, Erin not yet
/// activated and Frank active in Sales.
async fn seeded_fake() -> JumpCloudFake {
    let fake = JumpCloudFake::start().await;
    fake.add_user("u-alice", "alice@example.com", "Alice", "Smith");
    fake.add_user("u-bob", "bob@example.com", "Bob", "Jones");
    fake.add_user("u-carol", "carol@example.com", "Carol", "Staged");
    fake.set_user(
        "u-carol",
        &[("state", json!("STAGED")), ("activated", json!(false))],
    );
    fake.add_user("u-dave", "dave@example.com", "Dave", "Away");
    fake.set_user(
        "u-dave",
        &[("state", json!("SUSPENDED")), ("suspended", json!(true))],
    );
    fake.add_user("u-erin", "erin@example.com", "Erin", "Pending");
    fake.set_user("u-erin", &[("activated", json!(false))]);
    fake.add_user("u-frank", "frank@example.com", "Frank", "Sales");
    fake.add_group("g-eng", "Engineering", &["u-alice", "u-bob"]);
    fake.add_group("g-sales", "Sales", &["u-dave", "u-erin", "u-frank"]);
    fake
}

/// A connection reading the fake with an API key, two records per page.
fn jc_fixture(server: &EmulatorTarget, org: &str, fake: &JumpCloudFake, extra: &str) -> Fixture {
    let mut fixture = Fixture::new(&server.org_url(org));
    fixture.source_block = Some(format!(
        "    source: {{type: jumpcloud, base_url: \"{}\", api_key: {API_KEY}, page_size: 2, requests_per_second: 200{extra}}}\n",
        fake.base_url
    ));
    fixture
}

/// Every read of a full fetch of the seeded fake with `page_size: 2` and no
/// `x-total-count`: users until `totalCount` (6), groups and members until
/// a short page.
const FULL_READ: [&str; 9] = [
    "GET /api/systemusers?limit=2&skip=0",
    "GET /api/systemusers?limit=2&skip=2",
    "GET /api/systemusers?limit=2&skip=4",
    "GET /api/v2/usergroups?limit=2&skip=0",
    "GET /api/v2/usergroups?limit=2&skip=2",
    "GET /api/v2/usergroups/g-eng/members?limit=2&skip=0",
    "GET /api/v2/usergroups/g-eng/members?limit=2&skip=2",
    "GET /api/v2/usergroups/g-sales/members?limit=2&skip=0",
    "GET /api/v2/usergroups/g-sales/members?limit=2&skip=2",
];

#[tokio::test(flavor = "multi_thread")]
async fn initial_provision_then_a_no_op_run_writes_nothing() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = jc_fixture(&server, "jc-initial", &fake, "");

    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(report.source.full_fetch);
    assert_eq!(fake.lines(), FULL_READ);
    assert_eq!(report.source_requests, 9);

    let users = server.list("jc-initial", "Users").await;
    assert_eq!(
        user_names(&users),
        ["alice@example.com", "bob@example.com", "frank@example.com"],
        "STAGED, suspended and not-yet-activated users are not provisioned"
    );
    let alice = find(&users, "userName", "alice@example.com").unwrap();
    assert_eq!(alice["externalId"], "u-alice");
    assert_eq!(alice["name"]["givenName"], "Alice");
    assert_eq!(alice["name"]["familyName"], "Smith");
    assert_eq!(alice["displayName"], "Alice Smith");
    let groups = server.list("jc-initial", "Groups").await;
    let engineering = find(&groups, "displayName", "Engineering").unwrap();
    assert_eq!(member_ids(engineering).len(), 2);
    let sales = find(&groups, "displayName", "Sales").unwrap();
    let frank = find(&users, "userName", "frank@example.com").unwrap();
    assert_eq!(
        member_ids(sales),
        [frank["id"].as_str().unwrap()],
        "only provisioned members are team members"
    );

    fake.clear_log();
    let before = server.request_counts("jc-initial").await;
    let second = fixture.sync().await;
    assert_eq!(second.exit_code, EXIT_OK, "{second:#?}");
    assert!(second.applied.is_empty(), "{:?}", second.applied);
    assert_eq!(
        server.request_counts("jc-initial").await,
        before,
        "no request to Penvio at all"
    );
    assert_eq!(
        fake.lines(),
        FULL_READ,
        "no-op: the same nine reads, nothing else"
    );
    assert_eq!(second.source_requests, 9);
    assert!(
        fake.log().iter().all(|l| l.org_id.is_none()),
        "no x-org-id unless configured"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_are_applied_and_an_email_change_keeps_the_penvio_user() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = jc_fixture(&server, "jc-changes", &fake, "");
    fixture.extra_config =
        "    policy:\n      max_deactivations: 10\n      max_shrinkage: \"100%\"\n".into();
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let users = server.list("jc-changes", "Users").await;
    let alice_id = find(&users, "userName", "alice@example.com").unwrap()["id"].clone();

    // Email and name change, suspension, removal, activation, rename and
    // membership changes.
    fake.set_user(
        "u-alice",
        &[
            ("email", json!("alice.king@example.com")),
            ("lastname", json!("King")),
            ("displayname", json!("Alice King")),
        ],
    );
    fake.set_user(
        "u-bob",
        &[("state", json!("SUSPENDED")), ("suspended", json!(true))],
    );
    fake.delete_user("u-frank");
    fake.set_user("u-erin", &[("activated", json!(true))]);
    fake.rename_group("g-sales", "Sales EMEA");
    fake.add_member("g-eng", "u-erin");

    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    let users = server.list("jc-changes", "Users").await;
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
    assert!(
        !active(find(&users, "userName", "frank@example.com").unwrap()),
        "removed → deactivated"
    );
    let erin = find(&users, "userName", "erin@example.com").unwrap();
    assert!(active(erin), "activation provisions the user");
    let groups = server.list("jc-changes", "Groups").await;
    assert!(find(&groups, "displayName", "Sales").is_none());
    let sales = find(&groups, "displayName", "Sales EMEA").unwrap();
    assert_eq!(member_ids(sales), [erin["id"].as_str().unwrap()]);
    let engineering = find(&groups, "displayName", "Engineering").unwrap();
    let mut expected = vec![
        alice_id.as_str().unwrap().to_string(),
        erin["id"].as_str().unwrap().to_string(),
    ];
    expected.sort();
    assert_eq!(
        member_ids(engineering),
        expected,
        "Bob (suspended) left, Erin joined"
    );
    let snapshot = fixture.snapshot();
    assert!(snapshot.users["u-frank"].deactivated_at().is_some());
    assert!(snapshot.users["u-bob"].deactivated_at().is_some());

    // A member leaves.
    fake.remove_member("g-eng", "u-erin");
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    let groups = server.list("jc-changes", "Groups").await;
    assert_eq!(
        member_ids(find(&groups, "displayName", "Engineering").unwrap()),
        [alice_id.as_str().unwrap()]
    );
    assert!(
        active(
            find(
                &server.list("jc-changes", "Users").await,
                "userName",
                "erin@example.com"
            )
            .unwrap()
        ),
        "leaving a team does not deactivate"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_or_short_listing_fails_the_run_and_changes_nothing() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = jc_fixture(&server, "jc-fail", &fake, "");
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let snapshot = fixture.snapshot();
    let (writes, _) = server.request_counts("jc-fail").await;

    // Bob is gone and the second page of users fails: the missing page must
    // not be mistaken for removed users.
    fake.delete_user("u-bob");
    fake.fail("/api/systemusers", "skip=2", 500);
    let report = fixture.sync().await;
    assert_ne!(report.exit_code, EXIT_OK);
    let error = report.error.clone().unwrap();
    assert!(error.contains("500"), "{error}");
    assert!(error.contains("/api/systemusers"), "{error}");
    assert_eq!(
        server.request_counts("jc-fail").await.0,
        writes,
        "nothing written"
    );
    assert_eq!(fixture.snapshot(), snapshot, "snapshot unchanged");
    assert!(
        server.list("jc-fail", "Users").await.iter().all(active),
        "nobody deactivated"
    );

    // The pages answer, but fewer users than totalCount announces (the
    // directory changed while it was paged): still incomplete.
    fake.clear_failures();
    fake.set_total_count_offset(1);
    let report = fixture.sync().await;
    assert_ne!(report.exit_code, EXIT_OK);
    let error = report.error.clone().unwrap();
    assert!(error.contains("totalCount"), "{error}");
    assert_eq!(
        server.request_counts("jc-fail").await.0,
        writes,
        "nothing written"
    );
    assert_eq!(fixture.snapshot(), snapshot, "snapshot unchanged");

    // Once the listing is complete, Bob's removal is applied.
    fake.set_total_count_offset(0);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    let users = server.list("jc-fail", "Users").await;
    assert!(!active(
        find(&users, "userName", "bob@example.com").unwrap()
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_api_key_names_the_key_to_fix() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = Fixture::new(&server.org_url("jc-401"));
    fixture.source_block = Some(format!(
        "    source: {{type: jumpcloud, base_url: \"{}\", api_key: wrong-jc-key}}\n",
        fake.base_url
    ));
    let report = fixture.sync().await;
    assert_ne!(report.exit_code, EXIT_OK);
    let error = report.error.unwrap();
    assert!(error.contains("connections[0].source.api_key"), "{error}");
    assert!(error.contains("401"), "{error}");
    assert!(error.contains("Unauthorized"), "{error}");
    assert!(
        !error.contains("wrong-jc-key"),
        "never prints the secret: {error}"
    );
    assert_eq!(fake.log().len(), 1, "a static key is not retried");
    assert!(server.list("jc-401", "Users").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multi_tenant_admin_sends_the_org_id() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    fake.require_org_id("5e8f7a6b5c4d3e2f1a0b9c8d");

    let mut missing = jc_fixture(&server, "jc-mtp-missing", &fake, "");
    let report = missing.sync().await;
    let error = report.error.unwrap();
    assert!(error.contains("connections[0].source.org_id"), "{error}");

    fake.clear_log();
    let mut fixture = jc_fixture(
        &server,
        "jc-mtp",
        &fake,
        ", org_id: 5e8f7a6b5c4d3e2f1a0b9c8d",
    );
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(
        fake.log()
            .iter()
            .all(|l| l.org_id.as_deref() == Some("5e8f7a6b5c4d3e2f1a0b9c8d")),
        "x-org-id on every request"
    );
    assert_eq!(server.list("jc-mtp", "Users").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_account_refreshes_expiring_tokens() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let source = |secret: &str, org: &str| {
        format!(
            "    source:\n      type: jumpcloud\n      base_url: \"{}\"\n      token_url: \"{}\"\n      client_id: penvio-sync-sa\n      client_secret: {secret}\n      page_size: 2\n      requests_per_second: 2\n",
            fake.base_url,
            fake.token_url()
        ) + org
    };

    // 61 s tokens are cached for 1 s (the client renews 60 s early): at two
    // requests per second the run outlives several of them.
    fake.register_service_account(ServiceAccount {
        client_id: "penvio-sync-sa".into(),
        client_secret: "sa-secret".into(),
        expires_in: 61,
        lifetime: Duration::from_secs(61),
    });
    let mut fixture = Fixture::new(&server.org_url("jc-oauth"));
    fixture.source_block = Some(source("sa-secret", ""));
    let started = Instant::now();
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(started.elapsed() > Duration::from_secs(2));
    let (requested, valid) = fake.token_requests();
    assert!(requested >= 2, "renewed before expiry: {requested}");
    assert_eq!(
        requested, valid,
        "Basic client auth, grant and scope accepted"
    );
    assert_eq!(server.list("jc-oauth", "Users").await.len(), 3);

    // Tokens that die long before their announced hour: every 401 is cured
    // by fetching a new token, and the run completes.
    fake.register_service_account(ServiceAccount {
        client_id: "penvio-sync-sa".into(),
        client_secret: "sa-secret".into(),
        expires_in: 3600,
        lifetime: Duration::from_millis(700),
    });
    fake.clear_log();
    let before = fake.token_requests().0;
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    let refreshed = fake.token_requests().0 - before;
    assert!(refreshed >= 2, "refreshed after 401: {refreshed}");
    let lines = fake.lines();
    for path in FULL_READ {
        assert!(lines.iter().any(|l| l == path), "{path} read: {lines:?}");
    }

    // A wrong secret: a clear message naming the keys, never the secret.
    let mut wrong = Fixture::new(&server.org_url("jc-oauth-bad"));
    wrong.source_block = Some(source("not-the-secret", ""));
    let error = wrong.sync().await.error.unwrap();
    assert!(error.contains("invalid_client"), "{error}");
    assert!(
        error.contains("connections[0].source.client_secret"),
        "{error}"
    );
    assert!(!error.contains("not-the-secret"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_is_waited_out_with_or_without_retry_after() {
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    let mut fixture = jc_fixture(&server, "jc-429", &fake, "");
    fake.throttle_next(&[Some(1), None]);
    let started = Instant::now();
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After: {:?}",
        started.elapsed()
    );
    let lines = fake.lines();
    assert_eq!(lines[0], lines[1], "the throttled request is sent again");
    assert_eq!(lines[1], lines[2], "and again after the backoff");
    assert_eq!(lines.len(), FULL_READ.len() + 2);
    assert_eq!(report.source_requests, 11);
    assert_eq!(server.list("jc-429", "Users").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_capping_limit_is_paged_by_its_totals() {
    // The server silently answers 2 records when 100 are asked for; v1's
    // totalCount and v2's x-total-count keep the listing going.
    let server = EmulatorTarget::start().await;
    let fake = seeded_fake().await;
    fake.set_max_limit(2);
    fake.send_v2_total_count(true);
    let mut fixture = Fixture::new(&server.org_url("jc-cap"));
    fixture.source_block = Some(format!(
        "    source: {{type: jumpcloud, base_url: \"{}\", api_key: {API_KEY}, requests_per_second: 200}}\n",
        fake.base_url
    ));
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert_eq!(
        fake.lines(),
        [
            "GET /api/systemusers?limit=100&skip=0",
            "GET /api/systemusers?limit=100&skip=2",
            "GET /api/systemusers?limit=100&skip=4",
            "GET /api/v2/usergroups?limit=100&skip=0",
            "GET /api/v2/usergroups/g-eng/members?limit=100&skip=0",
            "GET /api/v2/usergroups/g-sales/members?limit=100&skip=0",
            "GET /api/v2/usergroups/g-sales/members?limit=100&skip=2",
        ]
    );
    let users = server.list("jc-cap", "Users").await;
    assert_eq!(users.len(), 3);
    let groups = server.list("jc-cap", "Groups").await;
    assert_eq!(
        member_ids(find(&groups, "displayName", "Sales").unwrap()).len(),
        1,
        "Frank, read from the second page of members"
    );
}
