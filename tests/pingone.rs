//! End to end: a fake PingOne (token endpoint + Platform API,
//! `tests/pingone_fake/`) → penvio-sync's `pingone` source → the crate's
//! SCIM emulator (the target contract has its own tests against
//! scim2-server). Assertions are on what the target holds and received,
//! what PingOne received, and the snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod pingone_fake;

use std::time::Duration;

use common::emulator_target::EmulatorTarget;
use common::vendor_fake::{active_named as active, id_of, ids_of, ok, user_names};
use common::{Fixture, find, member_ids};
use penvio_sync::report::exit::EXIT_RUN_FAILED;
use pingone_fake::{CLIENT_SECRET, ENV, FakePingOne};
use serde_json::json;

const SECRET_LINE: &str = "client_secret: fake-worker~secret.1";

/// Four users; Engineering (ada, grace) with Platform (alan) nested in it;
/// edsger in no group.
async fn environment() -> FakePingOne {
    let fake = FakePingOne::start().await;
    fake.put_user("u-ada", "ada@example.com", "Ada", "Lovelace");
    fake.put_user("u-grace", "grace@example.com", "Grace", "Hopper");
    fake.put_user("u-alan", "alan@example.com", "Alan", "Turing");
    fake.put_user("u-edsger", "edsger@example.com", "Edsger", "Dijkstra");
    fake.put_group("g-eng", "Engineering", None);
    fake.put_group("g-platform", "Platform", None);
    fake.add_members("g-eng", &["u-ada", "u-grace"]);
    fake.add_members("g-platform", &["u-alan"]);
    fake.nest("g-eng", "g-platform");
    fake
}

fn fixture_for(server: &EmulatorTarget, org: &str, fake: &FakePingOne, extra: &[&str]) -> Fixture {
    let mut fixture = Fixture::new(&server.org_url(org));
    fixture.source_block = Some(fake.source_block(SECRET_LINE, extra));
    // The directory is tiny: let a run deactivate a few of its users.
    fixture.extra_config = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"}\n".into();
    fixture
}

#[tokio::test(flavor = "multi_thread")]
async fn provisions_then_applies_only_changes() {
    let server = EmulatorTarget::start().await;
    let fake = environment().await;
    let mut fixture = fixture_for(&server, "p1", &fake, &[]);

    // 1. Initial provision.
    let report = fixture.sync().await;
    ok(&report);
    assert!(report.source.full_fetch);
    let users = server.list("p1", "Users").await;
    assert_eq!(
        user_names(&users),
        [
            "ada@example.com",
            "alan@example.com",
            "edsger@example.com",
            "grace@example.com"
        ]
    );
    let ada = find(&users, "userName", "ada@example.com").unwrap();
    assert_eq!(ada["externalId"], "u-ada");
    assert_eq!(ada["name"]["givenName"], "Ada");
    assert_eq!(ada["name"]["familyName"], "Lovelace");
    assert_eq!(ada["displayName"], "Ada Lovelace");
    let groups = server.list("p1", "Groups").await;
    assert_eq!(groups.len(), 2);
    let eng = find(&groups, "displayName", "Engineering").unwrap();
    assert_eq!(
        member_ids(eng),
        ids_of(
            &users,
            &["ada@example.com", "grace@example.com", "alan@example.com"]
        ),
        "nested Platform is flattened"
    );
    assert!(
        fake.requests().iter().any(|r| r.query.contains("cursor=")),
        "small pages force next links"
    );

    // 2. No-op: no writes, and exactly these reads of PingOne.
    fake.clear_requests();
    let (writes_before, _) = server.request_counts("p1").await;
    let report = fixture.sync().await;
    ok(&report);
    assert_eq!(
        server.request_counts("p1").await.0,
        writes_before,
        "a no-op run writes nothing"
    );
    let noop: Vec<String> = fake.requests().iter().map(|r| r.target()).collect();
    let env = format!("/v1/environments/{ENV}");
    let cursor = |target: &String, path: &str| {
        target.starts_with(&format!("{env}/{path}?cursor=")) && target.ends_with("&limit=1000")
    };
    assert_eq!(noop.len(), 8, "{noop:#?}");
    assert_eq!(noop[0], format!("{env}/users?limit=1000"));
    assert!(cursor(&noop[1], "users"), "{noop:#?}");
    assert_eq!(noop[2], format!("{env}/groups?limit=1000"));
    assert_eq!(
        noop[3],
        format!("{env}/users?filter=memberOfGroups[id eq \"g-eng\"]&limit=1000")
    );
    assert!(cursor(&noop[4], "users"), "{noop:#?}");
    assert_eq!(
        noop[5],
        format!("{env}/groups/g-eng/memberOfGroups?limit=1000")
    );
    assert_eq!(
        noop[6],
        format!("{env}/users?filter=memberOfGroups[id eq \"g-platform\"]&limit=1000")
    );
    assert_eq!(
        noop[7],
        format!("{env}/groups/g-platform/memberOfGroups?limit=1000")
    );
    assert_eq!(report.source_requests, 8);
    println!("no-op requests ({}): {noop:#?}", noop.len());

    // 3. Changes: a name, an email (same Penvio id), a disabled account, a
    //    deleted user, a new user arriving through a nested group, a member
    //    leaving.
    let grace_id = id_of(&users, "grace@example.com");
    let alan_id = id_of(&users, "alan@example.com");
    fake.update_user(
        "u-ada",
        json!({"name": {"given": "Ada", "family": "King", "formatted": "Ada King"}}),
    );
    fake.update_user("u-grace", json!({"email": "grace.hopper@example.com"}));
    fake.set_enabled("u-alan", false);
    fake.delete_user("u-edsger");
    fake.put_user("u-linus", "linus@example.com", "Linus", "Torvalds");
    fake.add_members("g-platform", &["u-linus"]);
    fake.remove_members("g-eng", &["u-grace"]);
    let report = fixture.sync().await;
    ok(&report);
    let users = server.list("p1", "Users").await;
    let ada = find(&users, "userName", "ada@example.com").unwrap();
    assert_eq!(ada["name"]["familyName"], "King");
    assert_eq!(ada["displayName"], "Ada King");
    assert_eq!(id_of(&users, "grace.hopper@example.com"), grace_id);
    assert!(find(&users, "userName", "grace@example.com").is_none());
    assert!(
        !active(&users, "alan@example.com"),
        "disabled → deactivated"
    );
    assert_eq!(id_of(&users, "alan@example.com"), alan_id);
    assert!(
        !active(&users, "edsger@example.com"),
        "removed → deactivated"
    );
    assert!(active(&users, "linus@example.com"));
    let groups = server.list("p1", "Groups").await;
    let eng = find(&groups, "displayName", "Engineering").unwrap();
    assert_eq!(
        member_ids(eng),
        ids_of(&users, &["ada@example.com", "linus@example.com"]),
        "grace left, alan is disabled, linus arrived through Platform"
    );
    let platform = find(&groups, "displayName", "Platform").unwrap();
    assert_eq!(member_ids(platform), ids_of(&users, &["linus@example.com"]));

    // 4. Converged: the next run writes nothing.
    let (writes_before, _) = server.request_counts("p1").await;
    ok(&fixture.sync().await);
    assert_eq!(server.request_counts("p1").await.0, writes_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn nested_groups_flatten_or_ignore_under_both_filter_behaviours() {
    let server = EmulatorTarget::start().await;
    for indirect in [true, false] {
        let fake = environment().await;
        fake.set_filter_includes_indirect(indirect);
        for (mode, expected) in [
            (
                "flatten",
                &["ada@example.com", "alan@example.com", "grace@example.com"][..],
            ),
            ("ignore", &["ada@example.com", "grace@example.com"][..]),
        ] {
            let org = format!("nest-{mode}-{indirect}");
            let line = format!("nested_groups: {mode}");
            let mut fixture = fixture_for(&server, &org, &fake, &[&line]);
            ok(&fixture.sync().await);
            let users = server.list(&org, "Users").await;
            let groups = server.list(&org, "Groups").await;
            let eng = find(&groups, "displayName", "Engineering").unwrap();
            assert_eq!(
                member_ids(eng),
                ids_of(&users, expected),
                "{mode}, filter lists indirect members: {indirect}"
            );
        }
        // alan joins Engineering directly too: with `ignore` he is a member,
        // and only he is looked up (he is listed for both groups).
        fake.add_members("g-eng", &["u-alan"]);
        fake.clear_requests();
        let org = format!("nest-direct-{indirect}");
        let mut fixture = fixture_for(&server, &org, &fake, &["nested_groups: ignore"]);
        ok(&fixture.sync().await);
        let users = server.list(&org, "Users").await;
        let groups = server.list(&org, "Groups").await;
        let eng = find(&groups, "displayName", "Engineering").unwrap();
        assert_eq!(
            member_ids(eng),
            ids_of(
                &users,
                &["ada@example.com", "alan@example.com", "grace@example.com"]
            )
        );
        let lookups: Vec<String> = fake
            .requests()
            .iter()
            .map(|r| r.path.clone())
            .filter(|p| p.contains("/users/") && p.ends_with("/memberOfGroups"))
            .collect();
        assert_eq!(
            lookups,
            [format!(
                "/v1/environments/{ENV}/users/u-alan/memberOfGroups"
            )]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn population_scope_limits_users_and_groups() {
    let server = EmulatorTarget::start().await;
    let fake = environment().await;
    fake.put_user("u-pat", "pat@example.com", "Pat", "Sales");
    fake.set_population("u-pat", "pop-sales");
    fake.put_group("g-sales", "Sales", Some("pop-sales"));
    fake.put_group("g-ops", "Ops", Some(pingone_fake::POPULATION));
    fake.add_members("g-sales", &["u-pat"]);
    fake.add_members("g-eng", &["u-pat"]);
    fake.add_members("g-ops", &["u-ada"]);
    let line = format!("population_id: {}", pingone_fake::POPULATION);
    let mut fixture = fixture_for(&server, "pop", &fake, &[&line]);
    ok(&fixture.sync().await);
    assert!(
        fake.requests().iter().any(|r| r.path.ends_with("/users")
            && r.query.contains(&format!(
                "filter=population.id eq \"{}\"",
                pingone_fake::POPULATION
            ))),
        "the population filter is sent"
    );
    let users = server.list("pop", "Users").await;
    assert!(find(&users, "userName", "pat@example.com").is_none());
    assert_eq!(users.len(), 4);
    let groups = server.list("pop", "Groups").await;
    let mut names: Vec<&str> = groups
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["Engineering", "Ops", "Platform"],
        "environment groups and the population's groups"
    );
    let eng = find(&groups, "displayName", "Engineering").unwrap();
    assert_eq!(
        member_ids(eng).len(),
        3,
        "pat, outside the population, is no member"
    );

    // Moving pat into the population brings them in.
    fake.set_population("u-pat", pingone_fake::POPULATION);
    ok(&fixture.sync().await);
    let users = server.list("pop", "Users").await;
    assert!(active(&users, "pat@example.com"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_page_changes_nothing() {
    let server = EmulatorTarget::start().await;
    let fake = environment().await;
    let mut fixture = fixture_for(&server, "failed", &fake, &[]);
    ok(&fixture.sync().await);
    let snapshot = fixture.snapshot();
    let (writes_before, _) = server.request_counts("failed").await;

    fake.delete_user("u-ada");
    fake.set_enabled("u-alan", false);
    // The second page of the user listing fails on every attempt.
    fake.fail(
        &format!("/environments/{ENV}/users?cursor="),
        500,
        100,
        None,
    );
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

    // Once PingOne recovers, the run converges.
    fake.clear_failures();
    ok(&fixture.sync().await);
    let users = server.list("failed", "Users").await;
    assert!(!active(&users, "ada@example.com"));
    assert!(!active(&users, "alan@example.com"));
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_name_the_key_to_fix() {
    let server = EmulatorTarget::start().await;
    let fake = environment().await;

    // The token endpoint refuses a wrong secret.
    let mut fixture = Fixture::new(&server.org_url("auth"));
    fixture.source_block = Some(fake.source_block("client_secret: wrong-secret", &[]));
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED);
    let error = report.error.unwrap();
    assert!(
        error.contains("connections[0].source.client_secret"),
        "{error}"
    );
    assert!(error.contains("invalid_client"), "{error}");
    assert!(!error.contains("wrong-secret"), "no secret shown: {error}");

    // The API answers 401 even to a fresh token.
    let tokens_before = fake.token_requests();
    let mut fixture = fixture_for(&server, "auth", &fake, &[]);
    fake.fail(&format!("/environments/{ENV}/users"), 401, 10, None);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED);
    let error = report.error.unwrap();
    assert!(
        error.contains("connections[0].source.client_secret"),
        "{error}"
    );
    assert!(error.contains("401"), "{error}");
    assert!(error.contains("ACCESS_FAILED"), "{error}");
    assert!(!error.contains(CLIENT_SECRET), "{error}");
    assert_eq!(
        fake.token_requests() - tokens_before,
        2,
        "one token, then one refresh after the 401"
    );
    assert!(server.list("auth", "Users").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn expiring_tokens_are_refreshed_and_client_secret_post_works() {
    let server = EmulatorTarget::start().await;
    let fake = environment().await;
    fake.set_client_secret_post(true);
    // Tokens live 30 s, inside the client's refresh margin: every request
    // needs a new one.
    fake.set_token_lifetime(30);

    // The app wants CLIENT_SECRET_POST; Basic (the default) is refused.
    let mut fixture = fixture_for(&server, "post", &fake, &[]);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED);
    let error = report.error.unwrap();
    assert!(
        error.contains("connections[0].source.token_auth_method"),
        "{error}"
    );

    let before = fake.token_requests();
    let mut fixture = fixture_for(
        &server,
        "post",
        &fake,
        &["token_auth_method: client_secret_post"],
    );
    ok(&fixture.sync().await);
    assert!(
        fake.token_requests() - before >= 2,
        "{}",
        fake.token_requests() - before
    );
    assert_eq!(server.list("post", "Users").await.len(), 4);

    // With an hour-long token, one token serves the whole run.
    fake.set_token_lifetime(3600);
    fake.put_user("u-linus", "linus@example.com", "Linus", "Torvalds");
    let before = fake.token_requests();
    ok(&fixture.sync().await);
    assert_eq!(fake.token_requests(), before + 1);
    assert_eq!(server.list("post", "Users").await.len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_waits_for_retry_after_or_the_body() {
    let server = EmulatorTarget::start().await;
    let fake = environment().await;
    let mut fixture = fixture_for(&server, "throttle", &fake, &[]);
    let groups = format!("/v1/environments/{ENV}/groups?");
    fake.fail(&groups, 429, 1, Some(1));
    // No Retry-After header: the REQUEST_LIMITED body's retryAfter (2 s
    // ahead, whole seconds) is the only hint.
    fake.throttle_by_body("memberOfGroups[id eq \"g-platform\"]", 1, 2);
    ok(&fixture.sync().await);
    let requests = fake.requests();
    let throttled: Vec<usize> = requests
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == 429)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(throttled.len(), 2, "{requests:#?}");
    for index in throttled {
        let retry = &requests[index + 1];
        assert_eq!(
            retry.target(),
            requests[index].target(),
            "the same page again"
        );
        assert!(
            retry.at.duration_since(requests[index].at) >= Duration::from_millis(950),
            "waited: {:?}",
            retry.at.duration_since(requests[index].at)
        );
    }
    assert_eq!(server.list("throttle", "Groups").await.len(), 2);
}
