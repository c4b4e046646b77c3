//! End-to-end runs of the engine against the real scim2-server 0.8.3: every
//! assertion is on what the server holds, what it received, and what the
//! snapshot holds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Fixture, Scim2Server, TOKEN, find, group, member_ids, user};
use penvio_sync::progress::Progress;
use penvio_sync::report::exit::{EXIT_HELD_BACK, EXIT_OK, EXIT_RUN_FAILED};
use penvio_sync::source::FetchContext;
use penvio_sync::sync::{RunMode, RunOptions};
use penvio_sync::timestamp::unix_now;
use reqwest::Method;
use serde_json::{Value, json};

fn people(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            user(
                &format!("u{i:04}"),
                &format!("person{i:04}@example.com"),
                &format!("Given{i}"),
                &format!("Family{i}"),
            )
        })
        .collect()
}

fn active(resource: &Value) -> bool {
    resource["active"].as_bool().unwrap_or(true)
}

#[tokio::test(flavor = "multi_thread")]
async fn initial_provision_then_a_no_op_run_sends_nothing() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("initial"));
    fixture.write_directory(
        &[
            user("00u1", "ada@example.com", "Ada", "Lovelace"),
            user("00u2", "grace@example.com", "Grace", "Hopper"),
            json!({"id": "00u3", "email": "alan@example.com", "display_name": "Alan T."}),
            json!({"id": "00u4", "email": "off@example.com", "active": false}),
            json!({"id": "00u5", "given_name": "No", "family_name": "Email"}),
        ],
        &[
            group("g1", "Engineering", &["00u1", "00u3", "00u4"]),
            group("g2", "Operations", &["00u2"]),
        ],
    );
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert_eq!(report.skipped.len(), 1, "the user without email is skipped");
    assert_eq!(report.skipped[0].id, "00u5");

    let users = server.list("initial", "Users").await;
    assert_eq!(users.len(), 3, "inactive and invalid users are not created");
    let ada = find(&users, "userName", "ada@example.com").unwrap();
    assert_eq!(ada["name"]["givenName"], "Ada");
    assert_eq!(ada["name"]["familyName"], "Lovelace");
    assert_eq!(ada["displayName"], "Ada Lovelace");
    assert_eq!(ada["externalId"], "00u1");
    assert_eq!(ada["emails"][0]["value"], "ada@example.com");
    assert_eq!(ada["active"], true);
    let alan = find(&users, "userName", "alan@example.com").unwrap();
    assert_eq!(alan["displayName"], "Alan T.");

    let groups = server.list("initial", "Groups").await;
    assert_eq!(groups.len(), 2);
    let engineering = find(&groups, "displayName", "Engineering").unwrap();
    let mut expected = vec![
        ada["id"].as_str().unwrap().to_string(),
        alan["id"].as_str().unwrap().to_string(),
    ];
    expected.sort();
    assert_eq!(member_ids(engineering), expected);
    assert_eq!(engineering["externalId"], "g1");

    let snapshot = fixture.snapshot();
    assert_eq!(snapshot.users.len(), 3);
    assert_eq!(
        snapshot.users["00u1"].penvio_id(),
        ada["id"].as_str().unwrap()
    );
    assert_eq!(snapshot.teams["g1"].members.len(), 2);
    assert!(snapshot.pending_team_creates.is_empty());

    let before = server.request_counts("initial").await;
    let second = fixture.sync().await;
    assert_eq!(second.exit_code, EXIT_OK);
    assert!(second.applied.is_empty(), "{:?}", second.applied);
    let after = server.request_counts("initial").await;
    assert_eq!(
        after, before,
        "a no-op run sends no request at all (writes, reads)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_and_email_changes_keep_the_same_penvio_user() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("updates"));
    fixture.write_directory(
        &[
            user("u1", "ada@example.com", "Ada", "Lovelace"),
            user("u2", "bob@example.com", "Bob", "Builder"),
        ],
        &[],
    );
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let before = server.list("updates", "Users").await;
    let ada_id = find(&before, "userName", "ada@example.com").unwrap()["id"].clone();

    fixture.write_directory(
        &[
            user("u1", "ada.king@example.com", "Ada", "King"),
            user("u2", "bob@example.com", "Robert", "Builder"),
        ],
        &[],
    );
    let (writes_before, _) = server.request_counts("updates").await;
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert_eq!(report.applied.get("update_user"), Some(&2));
    let (writes_after, _) = server.request_counts("updates").await;
    assert_eq!(
        writes_after - writes_before,
        2,
        "one PATCH per changed user"
    );

    let users = server.list("updates", "Users").await;
    assert_eq!(users.len(), 2, "no user was created or deleted");
    let ada = find(&users, "userName", "ada.king@example.com").unwrap();
    assert_eq!(
        ada["id"], ada_id,
        "an email change is an update of the same user"
    );
    assert_eq!(ada["name"]["familyName"], "King");
    assert_eq!(ada["emails"][0]["value"], "ada.king@example.com");
    let bob = find(&users, "userName", "bob@example.com").unwrap();
    assert_eq!(bob["name"]["givenName"], "Robert");
    assert_eq!(
        fixture.snapshot().users["u1"].attributes().user_name,
        "ada.king@example.com"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn removal_deactivates_return_reactivates_and_retention_hard_deletes() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("lifecycle"));
    fixture.extra_config =
        "    policy: {delete_deactivated_after: 30d, max_deactivations: 5, max_deletions: 5, max_shrinkage: \"100%\"}\n"
            .into();
    let all = people(4);
    fixture.write_directory(&all, &[group("g", "Team", &["u0000", "u0001"])]);
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);

    // u0001 leaves: removed from the team, then deactivated.
    fixture.write_directory(
        &[all[0].clone(), all[2].clone(), all[3].clone()],
        &[group("g", "Team", &["u0000", "u0001"])],
    );
    let now = unix_now();
    let report = fixture
        .run(RunOptions {
            now,
            ..RunOptions::sync_now()
        })
        .await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert_eq!(report.applied.get("deactivate_user"), Some(&1));
    assert_eq!(report.applied.get("remove_members"), Some(&1));
    let users = server.list("lifecycle", "Users").await;
    let gone = find(&users, "externalId", "u0001").unwrap();
    assert!(!active(gone), "deactivated, not deleted");
    let team = &server.list("lifecycle", "Groups").await[0];
    assert_eq!(member_ids(team).len(), 1);
    assert_eq!(
        fixture.snapshot().users["u0001"].deactivated_at(),
        Some(now)
    );

    // Back again: reactivated, same id.
    fixture.write_directory(&all, &[group("g", "Team", &["u0000", "u0001"])]);
    let report = fixture
        .run(RunOptions {
            now: now + 60,
            ..RunOptions::sync_now()
        })
        .await;
    assert_eq!(
        report.applied.get("reactivate_user"),
        Some(&1),
        "{report:#?}"
    );
    assert_eq!(report.applied.get("add_members"), Some(&1));
    let users = server.list("lifecycle", "Users").await;
    let back = find(&users, "externalId", "u0001").unwrap();
    assert!(active(back));
    assert_eq!(back["id"], gone["id"]);
    assert_eq!(fixture.snapshot().users["u0001"].deactivated_at(), None);

    // Removed again; 29 days later nothing, 31 days later a hard delete.
    fixture.write_directory(&[all[0].clone()], &[group("g", "Team", &["u0000"])]);
    let t0 = now + 120;
    let report = fixture
        .run(RunOptions {
            now: t0,
            ..RunOptions::sync_now()
        })
        .await;
    assert_eq!(
        report.applied.get("deactivate_user"),
        Some(&3),
        "{report:#?}"
    );
    let report = fixture
        .run(RunOptions {
            now: t0 + 29 * 86_400,
            ..RunOptions::sync_now()
        })
        .await;
    assert!(report.applied.is_empty(), "{report:#?}");
    let report = fixture
        .run(RunOptions {
            now: t0 + 31 * 86_400,
            ..RunOptions::sync_now()
        })
        .await;
    assert_eq!(report.applied.get("delete_user"), Some(&3), "{report:#?}");
    let users = server.list("lifecycle", "Users").await;
    assert_eq!(users.len(), 1);
    assert_eq!(fixture.snapshot().users.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn teams_are_created_renamed_changed_and_deleted() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("teams"));
    fixture.extra_config = "    scope: {team_groups: [\"eng-*\", Design]}\n".into();
    let users = people(6);
    fixture.write_directory(
        &users,
        &[
            group("g1", "eng-platform", &["u0000", "u0001", "u0002"]),
            group("g2", "Design", &["u0003"]),
            group(
                "g3",
                "Everyone",
                &["u0000", "u0001", "u0002", "u0003", "u0004", "u0005"],
            ),
        ],
    );
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let groups = server.list("teams", "Groups").await;
    let names: BTreeSet<&str> = groups
        .iter()
        .filter_map(|g| g["displayName"].as_str())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["eng-platform", "Design"]),
        "only matching groups become teams"
    );

    fixture.write_directory(
        &users,
        &[
            group("g1", "eng-core", &["u0000", "u0004", "u0005"]),
            group("g4", "eng-new", &["u0002"]),
        ],
    );
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    for kind in [
        "rename_team",
        "add_members",
        "remove_members",
        "delete_team",
        "create_team",
    ] {
        assert_eq!(report.applied.get(kind), Some(&1), "{kind}: {report:#?}");
    }
    let groups = server.list("teams", "Groups").await;
    let names: BTreeSet<&str> = groups
        .iter()
        .filter_map(|g| g["displayName"].as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["eng-core", "eng-new"]));
    let snapshot = fixture.snapshot();
    let core = find(&groups, "displayName", "eng-core").unwrap();
    assert_eq!(
        core["id"].as_str().unwrap(),
        snapshot.teams["g1"].penvio_id,
        "renamed in place"
    );
    let expected: Vec<String> = {
        let mut ids: Vec<String> = ["u0000", "u0004", "u0005"]
            .iter()
            .map(|id| snapshot.users[*id].penvio_id().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(member_ids(core), expected);
    assert!(!snapshot.teams.contains_key("g2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn large_teams_are_chunked_and_many_users_span_pages() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("pages"));
    let users = people(250);
    let ids: Vec<String> = (0..250).map(|i| format!("u{i:04}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    fixture.write_directory(&users, &[group("big", "Everyone here", &id_refs)]);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    let groups = server.list("pages", "Groups").await;
    assert_eq!(member_ids(&groups[0]).len(), 250);
    // 250 members at member_patch_size 100: a create with 100, then 2 PATCHes.
    let (writes, _) = server.request_counts("pages").await;
    assert_eq!(writes, 250 + 3);

    // A reconcile reads every page of what Penvio holds and finds no drift.
    let report = fixture
        .run(RunOptions {
            mode: RunMode::Reconcile { adopt: false },
            ..RunOptions::sync_now()
        })
        .await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(report.applied.is_empty(), "{report:#?}");
    assert!(
        report.target_requests.reads >= 4,
        "users span 3 pages of 100, plus groups"
    );
    assert_eq!(fixture.snapshot().users.len(), 250);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pre_existing_user_is_linked_not_duplicated() {
    let server = Scim2Server::start();
    let (status, existing) = server
        .request(
            Method::POST,
            &format!("{}/Users", server.org_url("adopt")),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "ADA@example.com", "displayName": "Created by hand"
            })),
        )
        .await;
    assert_eq!(status, 201);
    let mut fixture = Fixture::new(&server.org_url("adopt"));
    fixture.write_directory(&[user("u1", "ada@example.com", "Ada", "Lovelace")], &[]);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    let users = server.list("adopt", "Users").await;
    assert_eq!(users.len(), 1, "409 led to a link, not a duplicate");
    assert_eq!(users[0]["id"], existing["id"]);
    assert_eq!(
        users[0]["displayName"], "Ada Lovelace",
        "brought to the directory's values"
    );
    assert_eq!(users[0]["externalId"], "u1");
    assert_eq!(
        fixture.snapshot().users["u1"].penvio_id(),
        existing["id"].as_str().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_token_stops_the_run_and_names_the_key() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("auth"));
    fixture.write_directory(&people(20), &[]);
    let report = fixture
        .run_with_token("regenerated-elsewhere", RunOptions::sync_now())
        .await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED);
    let error = report.error.unwrap();
    assert!(error.contains("rejected the token (401)"), "{error}");
    assert!(error.contains("connections[0].target.token"), "{error}");
    let (writes, _) = server.request_counts("auth").await;
    assert!(
        writes <= 4,
        "stopped at once (at most one request per worker): {writes}"
    );
    assert!(fixture.snapshot().users.is_empty());
    assert!(server.list("auth", "Users").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guard_holds_back_a_mass_deactivation_and_applies_the_rest() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("guard"));
    fixture.extra_config = "    policy: {max_deactivations: \"20%\"}\n".into();
    let mut users = people(10);
    fixture.write_directory(&users, &[]);
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);

    // The IdP suddenly returns 2 users, one of them renamed.
    users.truncate(2);
    users[1]["given_name"] = json!("Renamed");
    fixture.write_directory(&users, &[]);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_HELD_BACK, "{report:#?}");
    assert_eq!(report.held_back.len(), 8);
    assert_eq!(
        report.applied.get("update_user"),
        Some(&1),
        "the rest of the plan applies"
    );
    let held = server.list("guard", "Users").await;
    assert_eq!(
        held.iter().filter(|u| active(u)).count(),
        10,
        "nobody was deactivated"
    );
    assert_eq!(
        find(&held, "externalId", "u0001").unwrap()["name"]["givenName"],
        "Renamed"
    );

    let report = fixture
        .run(RunOptions {
            allow_deletions: true,
            ..RunOptions::sync_now()
        })
        .await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert_eq!(report.applied.get("deactivate_user"), Some(&8));
    let after = server.list("guard", "Users").await;
    assert_eq!(after.iter().filter(|u| active(u)).count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_fetch_changes_nothing() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("fetch"));
    fixture.write_directory(&people(3), &[]);
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let before = fixture.snapshot();
    let counts = server.request_counts("fetch").await;
    std::fs::remove_file(fixture.directory_path()).unwrap();
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED);
    assert!(report.error.unwrap().contains("Nothing was changed"));
    assert_eq!(server.request_counts("fetch").await, counts);
    assert_eq!(fixture.snapshot(), before);
    assert_eq!(
        server
            .list("fetch", "Users")
            .await
            .iter()
            .filter(|u| active(u))
            .count(),
        3
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_errors_are_retried() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("retry"));
    fixture.write_directory(&people(5), &[]);
    server.fail_next(503, 3, Some("POST")).await;
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert_eq!(report.target_requests.retries, 3);
    assert_eq!(server.list("retry", "Users").await.len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_made_by_hand_is_repaired() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("drift"));
    let users = people(3);
    fixture.write_directory(&users, &[group("g", "Team", &["u0000", "u0001"])]);
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let snapshot = fixture.snapshot();
    let base = server.org_url("drift");

    // By hand in Penvio: rename a user, deactivate another, delete a third,
    // add a stray member to the team. Each edit must take, or the test
    // would prove nothing about the repair.
    let id = |s: &str| snapshot.users[s].penvio_id().to_string();
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let team = &snapshot.teams["g"].penvio_id;
    let edits = [
        (
            Method::PATCH,
            format!("{base}/Users/{}", id("u0000")),
            Some(patch(
                json!([{"op": "replace", "path": "displayName", "value": "Hand edited"}]),
            )),
        ),
        (
            Method::PATCH,
            format!("{base}/Users/{}", id("u0001")),
            Some(patch(
                json!([{"op": "replace", "path": "active", "value": false}]),
            )),
        ),
        (
            Method::DELETE,
            format!("{base}/Users/{}", id("u0002")),
            None,
        ),
        (
            Method::PATCH,
            format!("{base}/Groups/{team}"),
            Some(patch(
                json!([{"op": "add", "path": "members", "value": [{"value": "stray-id"}]}]),
            )),
        ),
    ];
    for (method, url, body) in edits {
        let (status, answer) = server.request(method.clone(), &url, body).await;
        assert!(
            [200, 204].contains(&status),
            "hand edit {method} {url}: {status} {answer}"
        );
    }
    let drifted = server.list("drift", "Users").await;
    assert_eq!(drifted.len(), 2, "u0002 deleted by hand");
    assert_eq!(
        find(&drifted, "externalId", "u0000").unwrap()["displayName"],
        "Hand edited"
    );
    assert_eq!(
        find(&drifted, "externalId", "u0001").unwrap()["active"],
        false
    );
    let groups = server.list("drift", "Groups").await;
    assert!(member_ids(&groups[0]).contains(&"stray-id".to_string()));

    // A plain sync trusts the snapshot and sees nothing to do.
    assert!(fixture.sync().await.applied.is_empty());

    let report = fixture
        .run(RunOptions {
            mode: RunMode::Reconcile { adopt: false },
            ..RunOptions::sync_now()
        })
        .await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    // The reconcile applied exactly the four repairs, nothing more: the
    // rename undone, the deactivation undone, the deleted user recreated,
    // the stray member removed.
    let applied: Vec<(&str, usize)> = report.applied.iter().map(|(k, n)| (*k, *n)).collect();
    assert_eq!(
        applied,
        [
            ("create_user", 1),
            ("reactivate_user", 1),
            ("remove_members", 1),
            ("update_user", 1)
        ],
        "{report:#?}"
    );
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    let after = server.list("drift", "Users").await;
    assert_eq!(after.len(), 3);
    assert!(after.iter().all(active));
    assert_eq!(
        find(&after, "externalId", "u0000").unwrap()["displayName"],
        "Given0 Family0"
    );
    assert!(find(&after, "externalId", "u0002").is_some(), "recreated");
    let groups = server.list("drift", "Groups").await;
    assert!(!member_ids(&groups[0]).contains(&"stray-id".to_string()));
    assert_eq!(member_ids(&groups[0]).len(), 2);
    // And the rebuilt snapshot makes the next sync a no-op.
    let counts = server.request_counts("drift").await;
    assert!(fixture.sync().await.applied.is_empty());
    assert_eq!(server.request_counts("drift").await, counts);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_deleted_by_hand_is_recreated_on_its_next_update() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("recreate"));
    fixture.write_directory(&[user("u1", "ada@example.com", "Ada", "Lovelace")], &[]);
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let old_id = fixture.snapshot().users["u1"].penvio_id().to_string();
    server
        .request(
            Method::DELETE,
            &format!("{}/Users/{old_id}", server.org_url("recreate")),
            None,
        )
        .await;
    fixture.write_directory(&[user("u1", "ada@example.com", "Ada", "King")], &[]);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    let users = server.list("recreate", "Users").await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["name"]["familyName"], "King");
    let new_id = fixture.snapshot().users["u1"].penvio_id().to_string();
    assert_ne!(new_id, old_id);
    assert_eq!(users[0]["id"].as_str().unwrap(), new_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scim_source_reads_from_another_org() {
    let server = Scim2Server::start();
    let idp = server.org_url("idp");
    let mut ids = Vec::new();
    for i in 0..120 {
        let (status, body) = server
            .request(
                Method::POST,
                &format!("{idp}/Users"),
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("idp{i}@example.com"),
                    "name": {"givenName": format!("G{i}"), "familyName": "Idp"},
                    "emails": [{"value": format!("idp{i}@example.com"), "primary": true}],
                    "active": i != 7,
                })),
            )
            .await;
        assert_eq!(status, 201);
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    let members: Vec<Value> = ids[..10].iter().map(|id| json!({"value": id})).collect();
    let (status, _) = server
        .request(
            Method::POST,
            &format!("{idp}/Groups"),
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "First ten", "members": members})),
        )
        .await;
    assert_eq!(status, 201);

    let mut fixture = Fixture::new(&server.org_url("penvio"));
    let config = format!(
        "state_dir: {state}\nconnections:\n  - name: test\n    source: {{type: scim, base_url: {idp}, token: {TOKEN}, page_size: 50}}\n    target: {{url: {target}, token: {TOKEN}, requests_per_second: 500}}\n",
        state = fixture.state_dir().display(),
        target = server.org_url("penvio"),
    );
    let connection = penvio_sync::config::load_str(
        &config,
        &fixture.config_path(),
        &penvio_sync::config::ProcessEnvironment,
    )
    .unwrap()
    .connections
    .remove(0);
    let report =
        penvio_sync::sync::run_connection(&connection, 0, fixture.store(), &RunOptions::sync_now())
            .await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert_eq!(report.source.users, 120, "three pages of 50 were read");
    let users = server.list("penvio", "Users").await;
    assert_eq!(users.len(), 119, "the inactive IdP user is not provisioned");
    let first = find(&users, "userName", "idp0@example.com").unwrap();
    assert_eq!(first["externalId"], ids[0].as_str());
    let groups = server.list("penvio", "Groups").await;
    assert_eq!(groups.len(), 1);
    assert_eq!(
        member_ids(&groups[0]).len(),
        9,
        "members in scope and active"
    );
}

/// One read of the `idp` org straight from the scim source at
/// `requests_per_second: rate`: how long it took, and the gaps in seconds
/// between consecutive reads as they arrived at the server.
async fn timed_scim_read(
    server: &Scim2Server,
    org: &str,
    rate: u32,
    users: usize,
) -> (Duration, Vec<f64>) {
    let fixture = Fixture::new(&server.org_url("unused"));
    let config = format!(
        "state_dir: {state}\nconnections:\n  - name: test\n    source: {{type: scim, base_url: {idp}, token: {TOKEN}, page_size: 2, requests_per_second: {rate}}}\n    target: {{url: https://penvio.io/api/scim/v2/unused, token: {TOKEN}}}\n",
        state = fixture.state_dir().display(),
        idp = server.org_url(org),
    );
    let connection = penvio_sync::config::load_str(
        &config,
        &fixture.config_path(),
        &penvio_sync::config::ProcessEnvironment,
    )
    .unwrap()
    .connections
    .remove(0);
    let source = penvio_sync::source::build(&connection, 0).unwrap();
    let reads_before = server.read_times(org).await.len();
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
    let times = server.read_times(org).await.split_off(reads_before);
    let gaps = times.windows(2).map(|w| w[1] - w[0]).collect();
    (took, gaps)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scim_source_reads_at_its_requests_per_second() {
    let server = Scim2Server::start();
    let idp = server.org_url("idp-pace");
    // 24 users on pages of 2: a dozen pages, enough for the pace to show.
    let users = 24;
    for i in 0..users {
        let (status, _) = server
            .request(
                Method::POST,
                &format!("{idp}/Users"),
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("pace{i}@example.com"),
                })),
            )
            .await;
        assert_eq!(status, 201);
    }

    // At 1000/s the read is not held to the old fixed 20/s: that pace
    // never lets two reads of this sequential pager arrive less than 1/20 s
    // apart (the bucket is empty at the first request, src/ratelimit.rs).
    // No wall-clock budget: this fails only if the default were applied, or
    // if every one of a dozen round trips to a local server took 50 ms.
    let (_, gaps) = timed_scim_read(&server, "idp-pace", 1000, users).await;
    assert!(gaps.len() >= 12, "the read spans many pages: {gaps:?}");
    let fastest = gaps.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        fastest < 1.0 / 20.0,
        "at 1000/s no two reads came closer than {fastest:.3} s: the 20/s default was applied"
    );

    // At 8/s, n requests take at least (n - 1) / 8 s: well above what the
    // default would take, so the configured pace is the one applied.
    let (took, gaps) = timed_scim_read(&server, "idp-pace", 8, users).await;
    let at_8 = Duration::from_secs_f64(gaps.len() as f64 / 8.0);
    assert!(
        took >= at_8,
        "{} requests at 8/s took {took:?}, under {at_8:?}",
        gaps.len() + 1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_directory_that_suddenly_shrinks_holds_every_removal_back() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("shrink"));
    // A lenient deletion guard: only the shrinkage guard stands in the way.
    fixture.extra_config = "    policy: {max_deactivations: 100, max_deletions: 100}\n".into();
    let users = people(10);
    fixture.write_directory(&users, &[]);
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);

    fixture.write_directory(&users[..7], &[]);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_HELD_BACK, "{report:#?}");
    assert_eq!(report.held_back.len(), 3);
    assert!(
        report.held_back[0]
            .reason
            .contains("shrank from 10 active users to 7")
    );
    assert_eq!(
        server
            .list("shrink", "Users")
            .await
            .iter()
            .filter(|u| active(u))
            .count(),
        10
    );

    fixture.write_directory(&[], &[]);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_HELD_BACK);
    assert_eq!(
        report.held_back.len(),
        10,
        "an empty directory never deactivates everyone"
    );

    fixture.write_directory(&users[..9], &[]);
    let report = fixture.sync().await;
    assert_eq!(
        report.exit_code, EXIT_OK,
        "a 10% drop is within the default 20%"
    );
    assert_eq!(report.applied.get("deactivate_user"), Some(&1));
}

#[tokio::test(flavor = "multi_thread")]
async fn provision_on_demand_applies_only_the_named_users() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("only"));
    fixture.extra_config = "    policy: {max_deactivations: 5}\n".into();
    let mut users = people(4);
    fixture.write_directory(&users, &[group("g", "Team", &["u0000", "u0001"])]);
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);

    // Later: a joiner (in the team), a rename, a leaver.
    users[1]["given_name"] = json!("Renamed");
    users.remove(3);
    users.push(user("u0009", "joiner@example.com", "Jo", "Iner"));
    fixture.write_directory(&users, &[group("g", "Team", &["u0000", "u0001", "u0009"])]);
    let only = |values: &[&str]| RunOptions {
        only: values.iter().map(|v| v.to_string()).collect(),
        ..RunOptions::sync_now()
    };
    let report = fixture.run(only(&["JOINER@example.com"])).await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert_eq!(report.applied.get("create_user"), Some(&1));
    assert_eq!(report.applied.get("add_members"), Some(&1));
    assert_eq!(report.applied.len(), 2, "{:?}", report.applied);
    let held = server.list("only", "Users").await;
    assert_eq!(held.len(), 5);
    assert_eq!(
        find(&held, "externalId", "u0001").unwrap()["name"]["givenName"],
        "Given1"
    );
    assert!(
        active(find(&held, "externalId", "u0003").unwrap()),
        "the leaver waits"
    );
    let team = &server.list("only", "Groups").await[0];
    assert_eq!(member_ids(team).len(), 3);

    let unknown = fixture.run(only(&["nobody@example.com"])).await;
    assert_eq!(unknown.exit_code, EXIT_RUN_FAILED);
    assert!(unknown.error.unwrap().contains("nobody@example.com"));

    // The next full run applies the rest.
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert_eq!(report.applied.get("update_user"), Some(&1));
    assert_eq!(report.applied.get("deactivate_user"), Some(&1));
    assert_eq!(report.applied.get("create_user"), None);
}
