//! `penvio-sync explain`: the admin's questions ("why was this user not
//! created?", "why is this group not a team?") answered from the same fetch,
//! mapping, snapshot and plan a sync uses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::{Fixture, Scim2Server, TOKEN, group, user};
use serde_json::json;

fn explain(config: &std::path::Path, subject: &str) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
        .args(["--config", config.to_str().unwrap(), "explain", subject])
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_answers_why_for_users_and_teams() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("explain"));
    fixture.extra_config =
        "    scope: {user_groups: [Engineering], team_groups: [\"Eng*\"]}\n".into();
    fixture.write_directory(
        &[
            user("00u-ada", "ada@example.com", "Ada", "Lovelace"),
            user("00u-bob", "bob@example.com", "Bob", "Builder"),
            user("00u-dup1", "same@example.com", "First", "Claimant"),
            user("00u-dup2", "SAME@example.com", "Second", "Claimant"),
            json!({"id": "00u-noemail", "given_name": "No", "family_name": "Email"}),
        ],
        &[
            group(
                "g-eng",
                "Engineering",
                &["00u-ada", "00u-dup1", "00u-dup2", "00u-noemail"],
            ),
            group("g-mkt", "Marketing", &["00u-bob"]),
        ],
    );
    assert_eq!(fixture.sync().await.exit_code, 0);
    fixture.close_store();
    let config = fixture.write_config(TOKEN);

    let (code, text) = explain(&config, "bob@example.com");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("User bob@example.com (00u-bob)"), "{text}");
    assert!(
        text.contains("OUT OF SCOPE: not a member of any scope.user_groups group (Engineering); member of: Marketing"),
        "{text}"
    );
    assert!(text.contains("Not in Penvio yet"), "{text}");

    let (_, text) = explain(&config, "same@example.com");
    assert!(text.contains("User same@example.com (00u-dup1)"), "{text}");
    assert!(
        text.contains("SKIPPED: duplicate email same@example.com: also used by 00u-dup2"),
        "{text}"
    );
    assert!(
        text.contains("In scope through scope.user_groups: Engineering"),
        "{text}"
    );

    let (_, text) = explain(&config, "ada@example.com");
    assert!(
        text.contains("userName = \"ada@example.com\"   ← email"),
        "{text}"
    );
    assert!(text.contains("In Penvio (snapshot): id "), "{text}");
    assert!(text.contains("teams: Engineering"), "{text}");
    assert!(
        text.contains("nothing: Penvio already matches the directory."),
        "{text}"
    );

    let (_, text) = explain(&config, "00u-noemail");
    assert!(text.contains("Cannot be mapped: no email"), "{text}");

    let (_, text) = explain(&config, "Engineering");
    assert!(
        text.contains("Becomes a team: matched by scope.team_groups pattern \"Eng*\""),
        "{text}"
    );
    assert!(
        text.contains("Members in scope (1): ada@example.com"),
        "{text}"
    );
    let (_, text) = explain(&config, "Marketing");
    assert!(
        text.contains("NOT a team: no scope.team_groups pattern matches \"Marketing\""),
        "{text}"
    );

    // A user who left: what the next sync will do, and why.
    fixture.write_directory(
        &[user("00u-bob", "bob@example.com", "Bob", "Builder")],
        &[
            group("g-eng", "Engineering", &[]),
            group("g-mkt", "Marketing", &["00u-bob"]),
        ],
    );
    let (_, text) = explain(&config, "ada@example.com");
    assert!(
        text.contains("NOT in the IdP's directory as read now"),
        "{text}"
    );
    assert!(
        text.contains("deactivate user ada@example.com") || text.contains("HELD BACK"),
        "{text}"
    );

    let (code, text) = explain(&config, "nobody@example.com");
    assert_eq!(code, 1);
    assert!(
        text.contains("Nothing named \"nobody@example.com\""),
        "{text}"
    );
}
