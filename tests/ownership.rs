//! Ownership: penvio-sync never deactivates, deletes or edits a Penvio user or
//! team it did not create or link, through sync and reconcile alike, unless
//! the admin asks it to adopt them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Fixture, Scim2Server, find, group, member_ids, user};
use penvio_sync::report::exit::EXIT_OK;
use penvio_sync::sync::{RunMode, RunOptions};
use reqwest::Method;
use serde_json::{Value, json};

async fn seed_foreign(server: &Scim2Server, org: &str) -> (Value, Value) {
    let base = server.org_url(org);
    let (status, foreign_user) = server
        .request(
            Method::POST,
            &format!("{base}/Users"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "contractor@elsewhere.example",
                "displayName": "Made by hand",
                "externalId": "not-ours",
                "active": true
            })),
        )
        .await;
    assert_eq!(status, 201);
    let (status, foreign_team) = server
        .request(
            Method::POST,
            &format!("{base}/Groups"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Hand-made team",
                "members": [{"value": foreign_user["id"]}]
            })),
        )
        .await;
    assert_eq!(status, 201);
    (foreign_user, foreign_team)
}

fn reconcile(adopt: bool) -> RunOptions {
    RunOptions {
        mode: RunMode::Reconcile { adopt },
        allow_deletions: adopt,
        ..RunOptions::sync_now()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_users_and_teams_survive_sync_and_reconcile_untouched() {
    let server = Scim2Server::start();
    let (foreign_user, foreign_team) = seed_foreign(&server, "own").await;
    let mut fixture = Fixture::new(&server.org_url("own"));
    fixture.extra_config = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"}\n".into();
    fixture.write_directory(
        &[
            user("u1", "ada@example.com", "Ada", "Lovelace"),
            user("u2", "bob@example.com", "Bob", "Builder"),
        ],
        &[group("g1", "Engineering", &["u1", "u2"])],
    );
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    // Our user leaves; our team changes.
    fixture.write_directory(
        &[user("u1", "ada@example.com", "Ada", "Lovelace")],
        &[group("g1", "Engineering", &["u1"])],
    );
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let report = fixture.run(reconcile(false)).await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    let findings = report.reconcile.unwrap();
    assert_eq!(findings.unmanaged_users, 1);
    assert_eq!(findings.unmanaged_teams, 1);

    let users = server.list("own", "Users").await;
    let still = find(&users, "userName", "contractor@elsewhere.example").unwrap();
    assert_eq!(still["id"], foreign_user["id"]);
    assert_eq!(still["active"], true);
    assert_eq!(still["displayName"], "Made by hand");
    assert_eq!(
        still["meta"]["version"], foreign_user["meta"]["version"],
        "never edited"
    );
    let groups = server.list("own", "Groups").await;
    let team = find(&groups, "displayName", "Hand-made team").unwrap();
    assert_eq!(
        member_ids(team),
        vec![foreign_user["id"].as_str().unwrap().to_string()]
    );
    assert_eq!(team["meta"]["version"], foreign_team["meta"]["version"]);
    assert!(
        !find(&users, "userName", "bob@example.com").unwrap()["active"]
            .as_bool()
            .unwrap()
    );
    assert!(
        fixture
            .snapshot()
            .users
            .values()
            .all(|r| r.penvio_id() != foreign_user["id"].as_str().unwrap()),
        "the foreign user is not in the snapshot"
    );

    // Only an explicit --adopt takes them over (and then removes them, as
    // they match nothing in the directory).
    let report = fixture.run(reconcile(true)).await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert_eq!(report.reconcile.unwrap().adopted, 2);
    let users = server.list("own", "Users").await;
    let adopted = find(&users, "userName", "contractor@elsewhere.example").unwrap();
    assert_eq!(adopted["active"], false);
    let groups = server.list("own", "Groups").await;
    assert!(find(&groups, "displayName", "Hand-made team").is_none());
    assert!(find(&groups, "displayName", "Engineering").is_some());
}
