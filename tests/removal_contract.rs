//! The removal contract (README, "Removals"), for the sources that read in
//! full every run (JumpCloud, PingOne, SCIM, file) and for Entra's delta:
//! after an initial sync, a deactivation, a hard delete and a removal from
//! the only scoped group in the IdP are all applied by the very next run;
//! and a mass removal (129 of 140 users) is held back by the guard.
//! OneLogin and Okta have theirs in tests/onelogin.rs and tests/okta.rs
//! (`removals_reach_penvio_in_the_next_incremental_run`). End to end: each
//! vendor fake → penvio-sync → the real scim2-server.
// Each fake includes tests/fake_faults as a module of its own.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::duplicate_mod
)]

mod common;
mod entra_fake;
mod jumpcloud_fake;
mod pingone_fake;

use common::{Fixture, Scim2Server, find};
use penvio_sync::report::RunReport;
use penvio_sync::report::exit::{EXIT_HELD_BACK, EXIT_OK};
use reqwest::Method;
use serde_json::{Value, json};

/// Lets a small directory lose a few users per run; scoped to Engineering.
const POLICY_AND_SCOPE: &str = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"}\n    scope: {user_groups: [Engineering]}\n";

fn ok(report: &RunReport) {
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
}

fn active(users: &[Value], user_name: &str) -> bool {
    find(users, "userName", user_name)
        .unwrap_or_else(|| panic!("{user_name} not in Penvio"))["active"]
        .as_bool()
        .unwrap_or(true)
}

/// The initial sync provisions `emails` active; after `remove` in the IdP
/// the next run deactivates every one of them and only them (`kept` stay).
async fn next_run_deactivates(
    server: &Scim2Server,
    fixture: &mut Fixture,
    emails: &[&str],
    kept: &[&str],
    remove: impl AsyncFnOnce(),
) -> RunReport {
    ok(&fixture.sync().await);
    let users = server.list(&fixture.org, "Users").await;
    for email in emails.iter().chain(kept) {
        assert!(active(&users, email), "{email} provisioned active");
    }
    remove().await;
    let report = fixture.sync().await;
    ok(&report);
    let users = server.list(&fixture.org, "Users").await;
    for email in emails {
        assert!(
            !active(&users, email),
            "{email} deactivated by the next run"
        );
    }
    for email in kept {
        assert!(active(&users, email), "{email} stays active");
    }
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn jumpcloud_removals_reach_penvio_in_the_next_run() {
    use jumpcloud_fake::{API_KEY, JumpCloudFake};
    let server = Scim2Server::start();
    let fake = JumpCloudFake::start().await;
    for (id, email) in [
        ("u-alice", "alice@example.com"),
        ("u-bob", "bob@example.com"),
        ("u-carl", "carl@example.com"),
        ("u-dana", "dana@example.com"),
    ] {
        fake.add_user(id, email, "First", "Last");
    }
    fake.add_group(
        "g-eng",
        "Engineering",
        &["u-alice", "u-bob", "u-carl", "u-dana"],
    );
    let mut fixture = Fixture::new(&server.org_url("jc-removals"));
    fixture.source_block = Some(format!(
        "    source: {{type: jumpcloud, base_url: \"{}\", api_key: {API_KEY}, page_size: 2, requests_per_second: 200}}\n",
        fake.base_url
    ));
    fixture.extra_config = POLICY_AND_SCOPE.into();
    next_run_deactivates(
        &server,
        &mut fixture,
        &["alice@example.com", "bob@example.com", "carl@example.com"],
        &["dana@example.com"],
        async || {
            fake.set_user(
                "u-alice",
                &[("state", json!("SUSPENDED")), ("suspended", json!(true))],
            );
            fake.delete_user("u-bob");
            fake.remove_member("g-eng", "u-carl");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pingone_removals_reach_penvio_in_the_next_run() {
    use pingone_fake::FakePingOne;
    let server = Scim2Server::start();
    let fake = FakePingOne::start().await;
    for (id, email) in [
        ("u-ada", "ada@example.com"),
        ("u-grace", "grace@example.com"),
        ("u-alan", "alan@example.com"),
        ("u-edsger", "edsger@example.com"),
    ] {
        fake.put_user(id, email, "First", "Last");
    }
    fake.put_group("g-eng", "Engineering", None);
    fake.add_members("g-eng", &["u-ada", "u-grace", "u-alan", "u-edsger"]);
    let mut fixture = Fixture::new(&server.org_url("p1-removals"));
    fixture.source_block = Some(fake.source_block("client_secret: fake-worker~secret.1", &[]));
    fixture.extra_config = POLICY_AND_SCOPE.into();
    next_run_deactivates(
        &server,
        &mut fixture,
        &["ada@example.com", "grace@example.com", "alan@example.com"],
        &["edsger@example.com"],
        async || {
            fake.set_enabled("u-ada", false);
            fake.delete_user("u-grace");
            fake.remove_members("g-eng", &["u-alan"]);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn entra_delta_removals_reach_penvio_in_the_next_run() {
    use entra_fake::FakeEntra;
    let server = Scim2Server::start();
    let fake = FakeEntra::start().await;
    for id in ["ada", "grace", "alan", "linus", "edsger"] {
        fake.put_user(id, Some(&format!("{id}@contoso.com")), "First", "Last");
    }
    fake.put_group("eng", "Engineering");
    fake.add_members("eng", &["ada", "grace", "alan", "linus", "edsger"]);
    let mut fixture = Fixture::new(&server.org_url("entra-removals"));
    fixture.source_block = Some(fake.source_block("client_secret: fake-client-secret", &[]));
    fixture.extra_config = POLICY_AND_SCOPE.into();
    let report = next_run_deactivates(
        &server,
        &mut fixture,
        &[
            "ada@contoso.com",
            "grace@contoso.com",
            "alan@contoso.com",
            "linus@contoso.com",
        ],
        &["edsger@contoso.com"],
        async || {
            // Disabled; soft-deleted (@removed "changed"); deleted for good
            // (@removed "deleted"); out of the only scoped group.
            fake.put_user_record("ada", json!({"accountEnabled": false}));
            fake.delete_user("grace");
            fake.purge_user("alan");
            fake.remove_members("eng", &["linus"]);
        },
    )
    .await;
    assert!(!report.source.full_fetch, "a delta round, not a full one");
}

#[tokio::test(flavor = "multi_thread")]
async fn scim_source_removals_reach_penvio_in_the_next_run() {
    let server = Scim2Server::start();
    let source = server.org_url("idp-directory");
    let mut ids = Vec::new();
    for name in ["ada", "grace", "alan", "edsger"] {
        let (status, user) = server
            .request(
                Method::POST,
                &format!("{source}/Users"),
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("{name}@example.com"),
                    "emails": [{"value": format!("{name}@example.com"), "primary": true}],
                    "active": true
                })),
            )
            .await;
        assert_eq!(status, 201, "{user}");
        ids.push(user["id"].as_str().unwrap().to_string());
    }
    let group = |members: &[String]| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Engineering",
            "members": members.iter().map(|id| json!({"value": id})).collect::<Vec<_>>()
        })
    };
    let (status, created) = server
        .request(Method::POST, &format!("{source}/Groups"), Some(group(&ids)))
        .await;
    assert_eq!(status, 201, "{created}");
    let group_id = created["id"].as_str().unwrap().to_string();

    let mut fixture = Fixture::new(&server.org_url("scim-removals"));
    fixture.source_block = Some(format!(
        "    source: {{type: scim, base_url: \"{source}\", token: {}, page_size: 2}}\n",
        common::TOKEN
    ));
    fixture.extra_config = POLICY_AND_SCOPE.into();
    next_run_deactivates(
        &server,
        &mut fixture,
        &["ada@example.com", "grace@example.com", "alan@example.com"],
        &["edsger@example.com"],
        async || {
            let patch = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": false}]
            });
            let (status, body) = server
                .request(
                    Method::PATCH,
                    &format!("{source}/Users/{}", ids[0]),
                    Some(patch),
                )
                .await;
            assert!(matches!(status, 200 | 204), "{status} {body}");
            let (status, _) = server
                .request(Method::DELETE, &format!("{source}/Users/{}", ids[1]), None)
                .await;
            assert_eq!(status, 204);
            // Alan leaves (Grace is gone already).
            let remaining = [ids[0].clone(), ids[3].clone()];
            let (status, body) = server
                .request(
                    Method::PUT,
                    &format!("{source}/Groups/{group_id}"),
                    Some(group(&remaining)),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        },
    )
    .await;
}

fn file_user(n: usize) -> Value {
    common::user(
        &format!("u{n}"),
        &format!("u{n}@example.com"),
        "First",
        "Last",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn file_removals_reach_penvio_in_the_next_run() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("file-removals"));
    fixture.extra_config = POLICY_AND_SCOPE.into();
    let users: Vec<Value> = (0..4).map(file_user).collect();
    fixture.write_directory(
        &users,
        &[common::group(
            "g-eng",
            "Engineering",
            &["u0", "u1", "u2", "u3"],
        )],
    );
    let path = fixture.directory_path();
    let write = |users: &[Value], members: &[&str]| {
        let export =
            json!({"users": users, "groups": [common::group("g-eng", "Engineering", members)]});
        std::fs::write(&path, serde_json::to_vec(&export).unwrap()).unwrap();
    };
    next_run_deactivates(
        &server,
        &mut fixture,
        &["u0@example.com", "u1@example.com", "u2@example.com"],
        &["u3@example.com"],
        async || {
            // u0 deactivated, u1 gone from the export, u2 out of the group.
            let mut u0 = file_user(0);
            u0["active"] = json!(false);
            write(&[u0, file_user(2), file_user(3)], &["u0", "u3"]);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn file_mass_removal_is_held_back_by_the_guard() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("file-mass"));
    fixture.extra_config = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"}\n".into();
    let users: Vec<Value> = (0..140).map(file_user).collect();
    fixture.write_directory(&users, &[]);
    ok(&fixture.sync().await);
    let (writes, _) = server.request_counts("file-mass").await;
    fixture.write_directory(&users[129..], &[]);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_HELD_BACK, "{report:#?}");
    assert_eq!(report.held_back.len(), 129);
    assert_eq!(
        server.request_counts("file-mass").await.0,
        writes,
        "nothing written"
    );
}

/// A policy that lets a large directory shrink, so only the count guard
/// (`max_deactivations: 10`) stands in the way of a mass removal.
const COUNT_GUARD: &str = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"}\n";

/// The initial sync provisions 140 users; after `remove` takes 129 of them
/// out of the IdP, the next run holds every deactivation back (exit 4) and
/// writes nothing to Penvio.
async fn mass_removal_is_held_back(
    server: &Scim2Server,
    fixture: &mut Fixture,
    remove: impl AsyncFnOnce(),
) {
    ok(&fixture.sync().await);
    assert_eq!(server.list(&fixture.org, "Users").await.len(), 140);
    let (writes, _) = server.request_counts(&fixture.org).await;
    remove().await;
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_HELD_BACK, "{report:#?}");
    assert_eq!(report.held_back.len(), 129, "{report:#?}");
    assert_eq!(
        server.request_counts(&fixture.org).await.0,
        writes,
        "nothing written"
    );
    let users = server.list(&fixture.org, "Users").await;
    assert!(users.iter().all(|u| u["active"] != json!(false)));
}

#[tokio::test(flavor = "multi_thread")]
async fn jumpcloud_mass_removal_is_held_back_by_the_guard() {
    use jumpcloud_fake::{API_KEY, JumpCloudFake};
    let server = Scim2Server::start();
    let fake = JumpCloudFake::start().await;
    for n in 0..140 {
        fake.add_user(
            &format!("u-{n:03}"),
            &format!("u{n:03}@example.com"),
            "First",
            "Last",
        );
    }
    let mut fixture = Fixture::new(&server.org_url("jc-mass"));
    fixture.source_block = Some(format!(
        "    source: {{type: jumpcloud, base_url: \"{}\", api_key: {API_KEY}, requests_per_second: 200}}\n",
        fake.base_url
    ));
    fixture.extra_config = COUNT_GUARD.into();
    mass_removal_is_held_back(&server, &mut fixture, async || {
        for n in 0..129 {
            fake.delete_user(&format!("u-{n:03}"));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pingone_mass_removal_is_held_back_by_the_guard() {
    use pingone_fake::FakePingOne;
    let server = Scim2Server::start();
    let fake = FakePingOne::start().await;
    for n in 0..140 {
        fake.put_user(
            &format!("u-{n:03}"),
            &format!("u{n:03}@example.com"),
            "First",
            "Last",
        );
    }
    let mut fixture = Fixture::new(&server.org_url("p1-mass"));
    fixture.source_block = Some(fake.source_block("client_secret: fake-worker~secret.1", &[]));
    fixture.extra_config = COUNT_GUARD.into();
    mass_removal_is_held_back(&server, &mut fixture, async || {
        for n in 0..129 {
            fake.delete_user(&format!("u-{n:03}"));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn entra_mass_removal_is_held_back_by_the_guard() {
    use entra_fake::FakeEntra;
    let server = Scim2Server::start();
    let fake = FakeEntra::start().await;
    for n in 0..140 {
        let id = format!("u{n:03}");
        fake.put_user(&id, Some(&format!("{id}@contoso.com")), "First", "Last");
    }
    let mut fixture = Fixture::new(&server.org_url("entra-mass"));
    fixture.source_block = Some(fake.source_block("client_secret: fake-client-secret", &[]));
    fixture.extra_config = COUNT_GUARD.into();
    // Soft and hard deletes alike, seen through the delta.
    mass_removal_is_held_back(&server, &mut fixture, async || {
        for n in 0..129 {
            let id = format!("u{n:03}");
            if n % 2 == 0 {
                fake.delete_user(&id);
            } else {
                fake.purge_user(&id);
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scim_source_mass_removal_is_held_back_by_the_guard() {
    let server = Scim2Server::start();
    let source = server.org_url("idp-mass");
    let mut ids = Vec::new();
    for n in 0..140 {
        let (status, user) = server
            .request(
                Method::POST,
                &format!("{source}/Users"),
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("u{n:03}@example.com"),
                    "emails": [{"value": format!("u{n:03}@example.com"), "primary": true}],
                })),
            )
            .await;
        assert_eq!(status, 201, "{user}");
        ids.push(user["id"].as_str().unwrap().to_string());
    }
    let mut fixture = Fixture::new(&server.org_url("scim-mass"));
    fixture.source_block = Some(format!(
        "    source: {{type: scim, base_url: \"{source}\", token: {}}}\n",
        common::TOKEN
    ));
    fixture.extra_config = COUNT_GUARD.into();
    mass_removal_is_held_back(&server, &mut fixture, async || {
        for id in &ids[..129] {
            let (status, _) = server
                .request(Method::DELETE, &format!("{source}/Users/{id}"), None)
                .await;
            assert_eq!(status, 204);
        }
    })
    .await;
}
