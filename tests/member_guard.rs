//! The membership guard: a group listing that comes back empty must not
//! empty its team in Penvio. Member removals over `max_member_removals`, or
//! a team going to zero, are held back (exit 4) until approved.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Fixture, Scim2Server, find, group, member_ids, user};
use penvio_sync::report::exit::{EXIT_HELD_BACK, EXIT_OK};
use penvio_sync::sync::RunOptions;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_group_listing_is_held_back_until_approved() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("members"));
    let users: Vec<Value> = (0..12)
        .map(|i| {
            user(
                &format!("u{i:02}"),
                &format!("p{i:02}@example.com"),
                "P",
                "Q",
            )
        })
        .collect();
    let ids: Vec<String> = (0..12).map(|i| format!("u{i:02}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    fixture.write_directory(&users, &[group("g1", "Engineering", &ids)]);
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let team_members = || async {
        let groups = server.list("members", "Groups").await;
        member_ids(find(&groups, "displayName", "Engineering").unwrap()).len()
    };
    assert_eq!(team_members().await, 12);

    // The IdP answers the group with no members; the users are all still there.
    fixture.write_directory(&users, &[group("g1", "Engineering", &[])]);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_HELD_BACK, "{report:#?}");
    assert_eq!(report.held_back.len(), 1);
    assert_eq!(report.held_back[0].operation.kind(), "remove_members");
    assert!(
        report.held_back[0]
            .reason
            .contains("team Engineering would lose all of its 12 members"),
        "{}",
        report.held_back[0].reason
    );
    assert_eq!(team_members().await, 12, "the team keeps its members");
    assert_eq!(fixture.snapshot().teams["g1"].members.len(), 12);

    // Losing 7 of 12 (over the default 50%) is held back too; 6 is not.
    fixture.write_directory(&users, &[group("g1", "Engineering", &ids[..5])]);
    assert_eq!(fixture.sync().await.exit_code, EXIT_HELD_BACK);
    assert_eq!(team_members().await, 12);
    fixture.write_directory(&users, &[group("g1", "Engineering", &ids[..6])]);
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    assert_eq!(team_members().await, 6);

    // Approved, the emptying applies.
    fixture.write_directory(&users, &[group("g1", "Engineering", &[])]);
    let approved = fixture
        .run(RunOptions {
            allow_deletions: true,
            ..RunOptions::sync_now()
        })
        .await;
    assert_eq!(approved.exit_code, EXIT_OK, "{approved:#?}");
    assert_eq!(team_members().await, 0);
    assert!(fixture.snapshot().teams["g1"].members.is_empty());
}
