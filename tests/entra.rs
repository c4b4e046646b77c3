//! End to end: a fake Entra ID (token endpoint + Graph, `tests/entra_fake/`)
//! → penvio-sync's `entra` source → the crate's SCIM emulator (the target
//! contract has its own tests against scim2-server). Assertions are on what
//! the target holds and received, what Graph received, and the snapshot and
//! source cache.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod entra_fake;

use std::time::{Duration, Instant};

use common::emulator_target::EmulatorTarget;
use common::vendor_fake::{active_named as active, id_of, ok, user_names};
use common::{Fixture, find, member_ids};
use entra_fake::{CLIENT_SECRET, FakeEntra, fixture_text};
use penvio_sync::progress::Progress;
use penvio_sync::report::exit::EXIT_RUN_FAILED;
use penvio_sync::source::{FetchContext, SourceCache};
use penvio_sync::timestamp::unix_now;
use serde_json::{Value, json};

const SECRET_LINE: &str = "client_secret: fake-client-secret";

/// A fake tenant with three members, a guest, and groups Eng (ada, grace,
/// nested Platform) and Platform (alan).
async fn tenant() -> FakeEntra {
    let fake = FakeEntra::start().await;
    fake.put_user("ada", Some("ada@contoso.com"), "Ada", "Lovelace");
    fake.put_user("grace", Some("grace@contoso.com"), "Grace", "Hopper");
    // No mailbox: the UPN is the email.
    fake.put_user("alan", None, "Alan", "Turing");
    fake.put_user_record(
        "guest",
        json!({"mail": "gus@partner.example", "userPrincipalName": "gus_partner.example#EXT#@contoso.onmicrosoft.com",
               "givenName": "Gus", "surname": "Guest", "displayName": "Gus Guest", "userType": "Guest"}),
    );
    fake.put_group("eng", "Engineering");
    fake.put_group("platform", "Platform");
    fake.add_members("eng", &["ada", "grace", "guest"]);
    fake.add_members("platform", &["alan"]);
    fake.nest("eng", "platform");
    fake
}

fn fixture_for(server: &EmulatorTarget, org: &str, fake: &FakeEntra, extra: &[&str]) -> Fixture {
    let mut fixture = Fixture::new(&server.org_url(org));
    fixture.source_block = Some(fake.source_block(SECRET_LINE, extra));
    // The tenant is tiny: let a run deactivate a few of its users.
    fixture.extra_config = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"}\n".into();
    fixture
}

#[tokio::test(flavor = "multi_thread")]
async fn provisions_then_applies_only_graph_deltas() {
    let server = EmulatorTarget::start().await;
    let fake = tenant().await;
    let mut fixture = fixture_for(&server, "entra", &fake, &[]);

    // 1. Initial provision: a fresh delta round lists everything.
    let report = fixture.sync().await;
    ok(&report);
    assert!(report.source.full_fetch);
    let first = fake.requests();
    let users_delta = &first[0];
    assert_eq!(users_delta.path, "/v1.0/users/delta");
    assert!(
        users_delta.query.contains("$select=")
            && users_delta.query.contains("accountEnabled")
            && users_delta.query.contains("userType"),
        "{}",
        users_delta.query
    );
    assert!(
        first
            .iter()
            .any(|r| r.path == "/v1.0/groups/delta" && r.query.contains("members")),
        "{first:#?}"
    );
    assert!(
        first.iter().any(|r| r.query.contains("$skiptoken")),
        "small pages force nextLinks"
    );
    let users = server.list("entra", "Users").await;
    assert_eq!(
        user_names(&users),
        [
            "ada@contoso.com",
            "alan@contoso.onmicrosoft.com",
            "grace@contoso.com",
            "gus@partner.example"
        ]
    );
    let ada = find(&users, "userName", "ada@contoso.com").unwrap();
    assert_eq!(ada["externalId"], "ada");
    assert_eq!(ada["name"]["givenName"], "Ada");
    assert_eq!(ada["displayName"], "Ada Lovelace");
    let groups = server.list("entra", "Groups").await;
    assert_eq!(groups.len(), 2);
    let eng = find(&groups, "displayName", "Engineering").unwrap();
    let mut expected: Vec<String> = [
        "ada@contoso.com",
        "grace@contoso.com",
        "gus@partner.example",
        "alan@contoso.onmicrosoft.com",
    ]
    .iter()
    .map(|u| id_of(&users, u))
    .collect();
    expected.sort();
    assert_eq!(member_ids(eng), expected, "nested Platform is flattened");

    // 2. No-op: one request per delta resource, both deltaLinks, no writes.
    fake.clear_requests();
    let (writes_before, _) = server.request_counts("entra").await;
    let report = fixture.sync().await;
    ok(&report);
    assert!(!report.source.full_fetch);
    let (writes_after, _) = server.request_counts("entra").await;
    assert_eq!(writes_after, writes_before, "a no-op run writes nothing");
    let noop: Vec<String> = fake.requests().iter().map(|r| r.target()).collect();
    assert_eq!(noop.len(), 2, "{noop:#?}");
    assert!(
        noop[0].starts_with("/v1.0/users/delta?$deltatoken="),
        "{noop:?}"
    );
    assert!(
        noop[1].starts_with("/v1.0/groups/delta?$deltatoken="),
        "{noop:?}"
    );
    assert_eq!(report.source_requests, 2);
    println!("no-op requests: {noop:?}");

    // 3. Changes: a name, an email (same Penvio id), a disabled account, a
    //    deleted user, a group rename, membership both ways, a nested change.
    let grace_id = id_of(&users, "grace@contoso.com");
    let alan_id = id_of(&users, "alan@contoso.onmicrosoft.com");
    fake.put_user_record("ada", json!({"surname": "King", "displayName": "Ada King"}));
    fake.put_user_record("grace", json!({"mail": "grace.hopper@contoso.com"}));
    fake.put_user_record("alan", json!({"accountEnabled": false}));
    fake.delete_user("guest");
    fake.put_user("linus", Some("linus@contoso.com"), "Linus", "T");
    fake.put_group("platform", "Platform Team");
    fake.remove_members("eng", &["grace"]);
    fake.add_members("platform", &["linus"]);
    fake.clear_requests();
    let report = fixture.sync().await;
    ok(&report);
    assert!(!report.source.full_fetch);
    let users = server.list("entra", "Users").await;
    let ada = find(&users, "userName", "ada@contoso.com").unwrap();
    assert_eq!(ada["name"]["familyName"], "King");
    assert_eq!(id_of(&users, "grace.hopper@contoso.com"), grace_id);
    assert!(find(&users, "userName", "grace@contoso.com").is_none());
    assert!(!active(&users, "alan@contoso.onmicrosoft.com"), "disabled");
    assert_eq!(id_of(&users, "alan@contoso.onmicrosoft.com"), alan_id);
    assert!(
        !active(&users, "gus@partner.example"),
        "@removed user deactivated"
    );
    assert!(active(&users, "linus@contoso.com"));
    let groups = server.list("entra", "Groups").await;
    assert!(find(&groups, "displayName", "Platform").is_none());
    let platform = find(&groups, "displayName", "Platform Team").unwrap();
    assert_eq!(member_ids(platform), [id_of(&users, "linus@contoso.com")]);
    let eng = find(&groups, "displayName", "Engineering").unwrap();
    let mut expected = vec![
        id_of(&users, "ada@contoso.com"),
        id_of(&users, "linus@contoso.com"),
    ];
    expected.sort();
    assert_eq!(
        member_ids(eng),
        expected,
        "grace left, the guest was deleted, alan is disabled, linus arrived through Platform"
    );

    // 4. And a run over the changed tenant is a no-op again.
    let (writes_before, _) = server.request_counts("entra").await;
    ok(&fixture.sync().await);
    assert_eq!(server.request_counts("entra").await.0, writes_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn nested_groups_ignored_and_guests_excluded() {
    let server = EmulatorTarget::start().await;
    let fake = tenant().await;
    let mut fixture = fixture_for(
        &server,
        "direct",
        &fake,
        &["nested_groups: ignore", "include_guests: false"],
    );
    ok(&fixture.sync().await);
    let users = server.list("direct", "Users").await;
    assert_eq!(
        user_names(&users),
        [
            "ada@contoso.com",
            "alan@contoso.onmicrosoft.com",
            "grace@contoso.com"
        ]
    );
    let groups = server.list("direct", "Groups").await;
    let eng = find(&groups, "displayName", "Engineering").unwrap();
    let mut expected = vec![
        id_of(&users, "ada@contoso.com"),
        id_of(&users, "grace@contoso.com"),
    ];
    expected.sort();
    assert_eq!(member_ids(eng), expected, "direct users only, no guest");

    // The guest becomes a member: the delta brings them in from the cursor.
    fake.put_user_record("guest", json!({"userType": "Member"}));
    ok(&fixture.sync().await);
    let users = server.list("direct", "Users").await;
    assert!(active(&users, "gus@partner.example"));
    let groups = server.list("direct", "Groups").await;
    let eng = find(&groups, "displayName", "Engineering").unwrap();
    assert_eq!(member_ids(eng).len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn app_assignments_scope_users_and_groups() {
    let server = EmulatorTarget::start().await;
    let fake = tenant().await;
    let sp = "5a5a5a5a-0000-0000-0000-00000000000a";
    fake.assign(sp, "platform", true);
    fake.assign(sp, "grace", false);
    let app_line = format!("app_id: {sp}");
    let mut fixture = fixture_for(&server, "app", &fake, &[&app_line]);
    ok(&fixture.sync().await);
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.path == format!("/v1.0/servicePrincipals/{sp}/appRoleAssignedTo"))
    );
    let users = server.list("app", "Users").await;
    assert_eq!(
        user_names(&users),
        ["alan@contoso.onmicrosoft.com", "grace@contoso.com"]
    );
    let groups = server.list("app", "Groups").await;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["displayName"], "Platform");

    // A wrong app_id names the key.
    let mut wrong = fixture_for(&server, "app2", &fake, &["app_id: not-there"]);
    let report = wrong.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED);
    let error = report.error.unwrap();
    assert!(error.contains("connections[0].source.app_id"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_page_changes_nothing() {
    let server = EmulatorTarget::start().await;
    let fake = tenant().await;
    let mut fixture = fixture_for(&server, "failed", &fake, &[]);
    ok(&fixture.sync().await);
    let snapshot = fixture.snapshot();
    let cache = fixture.store().load_source_cache("test").unwrap().unwrap();
    let cache = SourceCache::decode(&cache).unwrap();
    let (writes_before, _) = server.request_counts("failed").await;

    fake.delete_user("ada");
    fake.delete_user("grace");
    fake.put_user_record("alan", json!({"accountEnabled": false}));
    // The second page of the users round fails on every attempt.
    fake.fail("users/delta?$skiptoken", 500, 100, None);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED, "{report:#?}");
    let error = report.error.unwrap();
    assert!(error.contains("500"), "{error}");
    assert!(error.contains("Nothing was changed"), "{error}");
    assert_eq!(server.request_counts("failed").await.0, writes_before);
    let users = server.list("failed", "Users").await;
    assert!(
        users.iter().all(|u| u["active"] != false),
        "nothing deactivated"
    );
    assert_eq!(fixture.snapshot(), snapshot);
    let after = fixture.store().load_source_cache("test").unwrap().unwrap();
    let after = SourceCache::decode(&after).unwrap();
    assert_eq!(after.cursor, cache.cursor);
    assert_eq!(after.directory, cache.directory);

    // Once Graph recovers, the same delta link converges.
    fake.clear_failures();
    ok(&fixture.sync().await);
    let users = server.list("failed", "Users").await;
    assert!(!active(&users, "ada@contoso.com"));
    assert!(!active(&users, "alan@contoso.onmicrosoft.com"));
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_name_the_key_to_fix() {
    let server = EmulatorTarget::start().await;
    let fake = tenant().await;

    // Token endpoint refuses a wrong secret.
    let mut fixture = Fixture::new(&server.org_url("auth"));
    fixture.source_block = Some(fake.source_block("client_secret: wrong", &[]));
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED);
    let error = report.error.unwrap();
    assert!(
        error.contains("connections[0].source.client_secret"),
        "{error}"
    );
    assert!(error.contains("AADSTS7000215"), "{error}");
    assert!(!error.contains("wrong"), "the secret never shows: {error}");

    // Graph answers 401 even to fresh tokens.
    let mut fixture = fixture_for(&server, "auth", &fake, &[]);
    fake.fail("/v1.0/users/delta", 401, 10, None);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED);
    let error = report.error.unwrap();
    assert!(
        error.contains("connections[0].source.client_secret"),
        "{error}"
    );
    assert!(error.contains("401"), "{error}");
    assert!(!error.contains(CLIENT_SECRET), "{error}");
    assert_eq!(
        fake.token_requests(),
        3,
        "one refused, then one refresh after the 401"
    );
    assert!(server.list("auth", "Users").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_credentials_and_token_refresh() {
    let server = EmulatorTarget::start().await;
    let fake = tenant().await;
    // Tokens live 60 s, inside the client's refresh margin: every request
    // needs a new token.
    fake.set_token_lifetime(60);
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("app.pem");
    std::fs::write(
        &pem,
        format!(
            "{}{}",
            fixture_text("test-only-cert.pem"),
            fixture_text("test-only-key.pem")
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pem, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut fixture = Fixture::new(&server.org_url("cert"));
    fixture.source_block =
        Some(fake.source_block(&format!("certificate_file: {}", pem.display()), &[]));
    ok(&fixture.sync().await);
    assert!(fake.token_requests() >= 2, "{}", fake.token_requests());
    assert_eq!(fake.assertions_verified(), fake.token_requests());
    assert_eq!(server.list("cert", "Users").await.len(), 4);

    // The key in its own file works too.
    fake.set_token_lifetime(3599);
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, fixture_text("test-only-cert.pem")).unwrap();
    std::fs::write(&key, fixture_text("test-only-key.pem")).unwrap();
    for file in [&cert, &key] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    fixture.source_block = Some(fake.source_block(
        &format!(
            "certificate_file: {}\n      private_key_file: {}",
            cert.display(),
            key.display()
        ),
        &[],
    ));
    fake.put_user("linus", Some("linus@contoso.com"), "Linus", "T");
    let before = fake.token_requests();
    ok(&fixture.sync().await);
    assert_eq!(
        fake.token_requests(),
        before + 1,
        "one token serves the whole run"
    );
    assert_eq!(server.list("cert", "Users").await.len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_waits_for_retry_after() {
    let server = EmulatorTarget::start().await;
    let fake = tenant().await;
    let mut fixture = fixture_for(&server, "throttle", &fake, &[]);
    fake.fail("/v1.0/groups/delta", 429, 1, Some(1));
    ok(&fixture.sync().await);
    let requests = fake.requests();
    let throttled = requests.iter().position(|r| r.status == 429).unwrap();
    let retry = &requests[throttled + 1];
    assert_eq!(retry.path, "/v1.0/groups/delta");
    assert!(
        retry.at.duration_since(requests[throttled].at) >= Duration::from_millis(950),
        "Retry-After: 1 honoured"
    );
    assert_eq!(server.list("throttle", "Groups").await.len(), 2);
}

/// One fresh delta round read straight from the source at
/// `requests_per_second: rate`: how long it took, and the gaps between
/// consecutive Graph requests as they arrived at the fake.
async fn timed_fresh_round(fake: &FakeEntra, rate: u32, users: usize) -> (Duration, Vec<Duration>) {
    let mut fixture = Fixture::new("https://penvio.io/api/scim/v2/pace");
    let pace = format!("requests_per_second: {rate}");
    fixture.source_block = Some(fake.source_block(SECRET_LINE, &[&pace]));
    let source = penvio_sync::source::build(&fixture.connection(common::TOKEN), 0).unwrap();
    fake.clear_requests();
    let progress = Progress::hidden();
    let started = Instant::now();
    let fetched = source
        .fetch(FetchContext {
            progress: &progress,
            previous: None,
            now: unix_now(),
        })
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(fetched.directory.users.len(), users);
    let times: Vec<Instant> = fake.requests().iter().map(|r| r.at).collect();
    let gaps = times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .collect();
    (took, gaps)
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_per_second_sets_the_pace_of_graph_requests() {
    // 24 users on pages of 2: a dozen pages, enough for the pace to show.
    let fake = FakeEntra::start().await;
    let users = 24;
    for i in 0..users {
        fake.put_user(&format!("u{i:02}"), None, "Given", "Family");
    }

    // At 1000/s the round is not held to the old fixed 25/s: that pace never
    // lets two requests of this sequential round arrive less than 1/25 s
    // apart (the bucket is empty at the first request, src/ratelimit.rs).
    // No wall-clock budget: this fails only if the default were applied, or
    // if every one of a dozen round trips to a local fake took 40 ms.
    let (_, gaps) = timed_fresh_round(&fake, 1000, users).await;
    assert!(gaps.len() >= 11, "the round spans many pages: {gaps:?}");
    let fastest = gaps.iter().min().copied().unwrap_or_default();
    assert!(
        fastest < Duration::from_millis(40),
        "at 1000/s no two requests came closer than {fastest:?}: the 25/s default was applied"
    );

    // At 10/s, n requests take at least (n - 1) / 10 s: well above what the
    // default would take, so the configured pace is the one applied.
    let (took, gaps) = timed_fresh_round(&fake, 10, users).await;
    let at_10 = Duration::from_secs_f64(gaps.len() as f64 / 10.0);
    assert!(
        took >= at_10,
        "{} requests at 10/s took {took:?}, under {at_10:?}",
        gaps.len() + 1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_delta_links_fall_back_to_a_full_round() {
    let server = EmulatorTarget::start().await;
    let fake = tenant().await;
    let mut fixture = fixture_for(&server, "gone", &fake, &[]);
    ok(&fixture.sync().await);
    for gone in [true, false] {
        fake.expire_delta_tokens(gone);
        fake.put_user_record(
            "ada",
            json!({"givenName": if gone { "Ada2" } else { "Ada3" }}),
        );
        fake.delete_user(if gone { "grace" } else { "alan" });
        fake.clear_requests();
        let report = fixture.sync().await;
        ok(&report);
        assert!(report.source.full_fetch, "gone={gone}");
        let requests = fake.requests();
        let expired = if gone { 410 } else { 400 };
        assert_eq!(requests[0].status, expired);
        assert!(requests[0].query.contains("$deltatoken"));
        assert!(
            requests[1].path == "/v1.0/users/delta" && requests[1].query.starts_with("$select="),
            "a fresh round: {requests:#?}"
        );
        let users = server.list("gone", "Users").await;
        let ada = find(&users, "userName", "ada@contoso.com").unwrap();
        assert_eq!(ada["name"]["givenName"], if gone { "Ada2" } else { "Ada3" });
    }
    let users = server.list("gone", "Users").await;
    assert!(!active(&users, "grace@contoso.com"));
    assert!(!active(&users, "alan@contoso.onmicrosoft.com"));
    // Converged: the next run is an ordinary, empty delta.
    fake.clear_requests();
    let report = fixture.sync().await;
    ok(&report);
    assert!(!report.source.full_fetch);
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_sample_pages_are_read() {
    let server = EmulatorTarget::start().await;
    let fake = FakeEntra::start().await;
    let sample = |name: &str| -> Value { serde_json::from_str(&fixture_text(name)).unwrap() };
    let mut users_last = sample("list-users.200.json");
    users_last["@odata.deltaLink"] =
        json!("https://graph.microsoft.com/v1.0/users/delta?$deltatoken=sample");
    fake.script(
        "/v1.0/users/delta",
        vec![sample("users-delta.page.200.json"), users_last],
    );
    fake.script(
        "/v1.0/groups/delta",
        vec![
            sample("groups-delta.initial-page.200.json"),
            sample("groups-delta.final-page.200.json"),
            sample("groups-delta.changes.200.json"),
        ],
    );
    let mut fixture = fixture_for(&server, "samples", &fake, &[]);
    let report = fixture.sync().await;
    ok(&report);
    assert_eq!(report.source.users, 3);
    assert_eq!(report.source.groups, 4);
    let users = server.list("samples", "Users").await;
    // Adams has mail; the MOD Administrator falls back to the UPN.
    assert!(
        find(&users, "userName", "Adams@contoso.com").is_some()
            || find(&users, "userName", "adams@contoso.com").is_some()
    );
    assert!(find(&users, "userName", "admin@contoso.com").is_some());
    let groups = server.list("samples", "Groups").await;
    assert_eq!(groups.len(), 4);
    // The changes page: TestGroup3 is new here, with one member left after
    // the removal (a user the sample never lists, so no Penvio member).
    fake.script(
        "/v1.0/users/delta",
        vec![sample("groups-delta.no-changes.200.json")],
    );
    let report = fixture.sync().await;
    ok(&report);
    assert_eq!(report.source.groups, 5);
    assert!(
        find(
            &server.list("samples", "Groups").await,
            "displayName",
            "TestGroup3"
        )
        .is_some()
    );
}
