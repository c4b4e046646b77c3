//! Invariant 7 end to end: bad data from the IdP (here a `file` export)
//! skips that one record with exactly one reason naming it, the rest of the
//! run applies, and nothing is deactivated because a record was bad.
//! Penvio is the in-process SCIM emulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use common::{Fixture, TOKEN, group, user};
use penvio_sync::emulator::{Emulator, EmulatorConfig};
use penvio_sync::report::RunReport;
use penvio_sync::report::exit::EXIT_OK;
use serde_json::{Value, json};

async fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig {
        tokens: vec![TOKEN.to_string()],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

/// Skipped records by id: each id must appear once (one warning per record).
fn skipped(report: &RunReport) -> BTreeMap<String, String> {
    let mut by_id = BTreeMap::new();
    for record in &report.skipped {
        let previous = by_id.insert(record.id.clone(), record.reason.clone());
        assert!(
            previous.is_none(),
            "{} skipped twice: {:#?}",
            record.id,
            report.skipped
        );
    }
    by_id
}

/// Penvio's users by userName.
fn penvio_users(emulator: &Emulator, org: &str) -> BTreeMap<String, Value> {
    emulator
        .users(org)
        .into_iter()
        .map(|u| (u["userName"].as_str().unwrap().to_string(), u))
        .collect()
}

/// Every user Penvio holds is active: no bad record became a deactivation.
fn assert_all_active(emulator: &Emulator, org: &str) {
    for (name, user) in penvio_users(emulator, org) {
        assert_ne!(user["active"], json!(false), "{name} was deactivated");
    }
}

fn assert_ok(report: &RunReport) {
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_and_invalid_emails_skip_only_those_users() {
    let emulator = emulator().await;
    let mut fixture = Fixture::new(&emulator.base_url("emails"));
    fixture.write_directory(
        &[
            user("ok", "ok@example.com", "Ok", "User"),
            json!({"id": "no-email", "given_name": "No"}),
            user("invalid", "not-an-email", "In", "Valid"),
            user("spaced", "a b@example.com", "Spa", "Ced"),
            user("rtl", "ad\u{202E}a@example.com", "R", "L"),
        ],
        &[group("g1", "Eng", &["ok", "no-email", "invalid"])],
    );
    let report = fixture.sync().await;
    assert_ok(&report);
    let skipped = skipped(&report);
    assert_eq!(
        skipped.keys().collect::<Vec<_>>(),
        vec!["invalid", "no-email", "rtl", "spaced"]
    );
    assert!(skipped["no-email"].contains("no email"), "{skipped:?}");
    assert!(skipped["invalid"].contains("not a valid address"));
    assert!(skipped["spaced"].contains("whitespace"));
    assert!(skipped["rtl"].contains("invisible"));
    let users = penvio_users(&emulator, "emails");
    assert_eq!(users.keys().collect::<Vec<_>>(), vec!["ok@example.com"]);
    let teams = emulator.groups("emails");
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0]["members"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_email_that_turns_bad_skips_the_user_without_deactivating_it() {
    let emulator = emulator().await;
    let mut fixture = Fixture::new(&emulator.base_url("turns"));
    let good = [
        user("u1", "ada@example.com", "Ada", "Lovelace"),
        user("u2", "grace@example.com", "Grace", "Hopper"),
    ];
    fixture.write_directory(&good, &[group("g1", "Eng", &["u1", "u2"])]);
    assert_ok(&fixture.sync().await);

    fixture.write_directory(
        &[
            user("u1", "not-an-email", "Ada", "Lovelace"),
            user("u2", "grace@example.com", "Grace", "Hopper-Renamed"),
        ],
        &[group("g1", "Eng", &["u1", "u2"])],
    );
    let report = fixture.sync().await;
    assert_ok(&report);
    let skipped = skipped(&report);
    assert_eq!(skipped.keys().collect::<Vec<_>>(), vec!["u1"]);
    assert!(
        skipped["u1"].contains("stays in Penvio"),
        "{}",
        skipped["u1"]
    );
    assert_eq!(report.planned.get("deactivate_user"), None, "{report:#?}");
    assert_all_active(&emulator, "turns");
    let users = penvio_users(&emulator, "turns");
    assert_eq!(
        users["grace@example.com"]["name"]["familyName"],
        "Hopper-Renamed"
    );
    assert_eq!(users["ada@example.com"]["name"]["familyName"], "Lovelace");
    let teams = emulator.groups("turns");
    assert_eq!(teams[0]["members"].as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_emails_skip_every_claimant_until_one_is_in_penvio() {
    let emulator = emulator().await;
    let mut fixture = Fixture::new(&emulator.base_url("dups"));
    fixture.write_directory(
        &[
            user("a", "same@example.com", "A", "One"),
            user("b", "same@example.com", "B", "Two"),
            // Emails that differ only by case are one address.
            user("c", "Case@Example.com", "C", "Three"),
            user("d", "case@example.com", "D", "Four"),
            user("e", "fine@example.com", "E", "Five"),
        ],
        &[],
    );
    let report = fixture.sync().await;
    assert_ok(&report);
    let skipped = skipped(&report);
    assert_eq!(skipped.keys().collect::<Vec<_>>(), vec!["a", "b", "c", "d"]);
    assert!(skipped["a"].contains("also used by b"), "{}", skipped["a"]);
    assert!(skipped["c"].contains("also used by d"), "{}", skipped["c"]);
    assert!(skipped["d"].contains("duplicate email case@example.com"));
    let users = penvio_users(&emulator, "dups");
    assert_eq!(users.keys().collect::<Vec<_>>(), vec!["fine@example.com"]);

    // Once one claimant is in Penvio, a newcomer with the same address
    // (in another case) cannot take the account, and the holder stays.
    fixture.write_directory(&[user("e", "fine@example.com", "E", "Five")], &[]);
    assert_ok(&fixture.sync().await);
    fixture.write_directory(
        &[
            user("e", "fine@example.com", "E", "Five"),
            user("f", "FINE@example.com", "F", "Six"),
        ],
        &[],
    );
    let report = fixture.sync().await;
    assert_ok(&report);
    let skipped = self::skipped(&report);
    assert_eq!(skipped.keys().collect::<Vec<_>>(), vec!["f"]);
    assert!(skipped["f"].contains("also used by e"));
    assert_eq!(emulator.users("dups").len(), 1);
    assert_all_active(&emulator, "dups");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_id_uses_the_first_record_only() {
    let emulator = emulator().await;
    let mut fixture = Fixture::new(&emulator.base_url("ids"));
    fixture.write_directory(
        &[
            user("u1", "first@example.com", "First", "Record"),
            user("u1", "second@example.com", "Second", "Record"),
            user("u2", "other@example.com", "Other", "User"),
        ],
        &[
            group("g1", "Eng", &["u1"]),
            group("g1", "Eng again", &["u2"]),
        ],
    );
    let report = fixture.sync().await;
    assert_ok(&report);
    let users: Vec<_> = report.skipped.iter().filter(|s| s.kind == "user").collect();
    let groups: Vec<_> = report
        .skipped
        .iter()
        .filter(|s| s.kind == "group")
        .collect();
    assert_eq!(users.len(), 1, "{:#?}", report.skipped);
    assert_eq!(users[0].id, "u1");
    assert!(users[0].reason.contains("twice"));
    assert_eq!(groups.len(), 1, "{:#?}", report.skipped);
    assert_eq!(groups[0].id, "g1");
    let names = penvio_users(&emulator, "ids");
    assert_eq!(
        names.keys().collect::<Vec<_>>(),
        vec!["first@example.com", "other@example.com"]
    );
    let teams = emulator.groups("ids");
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0]["displayName"], "Eng");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_that_is_not_a_user_is_reported_and_the_team_still_syncs() {
    let emulator = emulator().await;
    let mut fixture = Fixture::new(&emulator.base_url("ghost"));
    fixture.write_directory(
        &[user("u1", "ada@example.com", "Ada", "Lovelace")],
        &[group("g1", "Eng", &["u1", "ghost", "ghost"])],
    );
    let report = fixture.sync().await;
    assert_ok(&report);
    assert_eq!(report.skipped.len(), 1, "{:#?}", report.skipped);
    let record = &report.skipped[0];
    assert_eq!(
        (record.kind.as_str(), record.id.as_str()),
        ("member", "ghost")
    );
    assert!(record.reason.contains("group g1"), "{}", record.reason);
    let teams = emulator.groups("ghost");
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0]["members"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_scope_group_does_not_deactivate_its_members() {
    let emulator = emulator().await;
    let mut fixture = Fixture::new(&emulator.base_url("scope"));
    fixture.extra_config =
        "    scope:\n      user_groups: [Sales, Engineering]\n      team_groups: []\n".into();
    let people: Vec<Value> = (0..10)
        .map(|i| user(&format!("u{i}"), &format!("p{i}@example.com"), "P", "Q"))
        .collect();
    let everyone: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
    let engineering: Vec<&str> = everyone[1..].iter().map(String::as_str).collect();
    fixture.write_directory(
        &people,
        &[
            group("g-sales", "Sales", &["u0"]),
            group("g-eng", "Engineering", &engineering),
        ],
    );
    let report = fixture.sync().await;
    assert_ok(&report);
    assert_eq!(emulator.users("scope").len(), 10);

    // Sales disappears (deleted or renamed in the IdP); u0 was only in it.
    let mut more = people.clone();
    more.push(user("new", "new@example.com", "New", "Hire"));
    fixture.write_directory(&more, &[group("g-eng", "Engineering", &engineering)]);
    let report = fixture.sync().await;
    assert_ok(&report);
    assert_eq!(
        report.source.unmatched_user_groups,
        vec!["Sales".to_string()]
    );
    assert!(report.skipped.is_empty(), "{:#?}", report.skipped);
    assert_eq!(report.planned.get("deactivate_user"), None, "{report:#?}");
    assert_all_active(&emulator, "scope");
    // A user the scope does not reach is still not added.
    assert!(!penvio_users(&emulator, "scope").contains_key("new@example.com"));
    assert_eq!(emulator.users("scope").len(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_megabyte_names_are_refused_with_a_short_reason() {
    let emulator = emulator().await;
    let mut fixture = Fixture::new(&emulator.base_url("huge"));
    let huge = "x".repeat(1 << 20);
    fixture.write_directory(
        &[
            user("big", "big@example.com", &huge, "Name"),
            json!({"id": "bigdisplay", "email": "bd@example.com", "display_name": huge}),
            user(
                "long-email",
                &format!("{}@example.com", "a".repeat(300)),
                "L",
                "E",
            ),
            user("ok", "ok@example.com", &"y".repeat(256), "Max"),
        ],
        &[
            group("g-big", &huge, &["ok"]),
            group("g1", "Eng", &["ok", "big"]),
        ],
    );
    let report = fixture.sync().await;
    assert_ok(&report);
    let skipped = skipped(&report);
    assert_eq!(
        skipped.keys().collect::<Vec<_>>(),
        vec!["big", "bigdisplay", "g-big", "long-email"]
    );
    assert!(skipped["big"].contains("givenName is 1048576 characters long"));
    assert!(skipped["bigdisplay"].contains("displayName is 1048576 characters"));
    assert!(skipped["long-email"].contains("userName is 312 characters"));
    assert!(skipped["g-big"].contains("team name is 1048576 characters"));
    for reason in skipped.values() {
        assert!(
            reason.len() < 400,
            "reason quotes too much: {} bytes",
            reason.len()
        );
    }
    let users = penvio_users(&emulator, "huge");
    assert_eq!(users.keys().collect::<Vec<_>>(), vec!["ok@example.com"]);
    assert_eq!(
        users["ok@example.com"]["name"]["givenName"],
        "y".repeat(256)
    );
    let teams = emulator.groups("huge");
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0]["displayName"], "Eng");
}

#[tokio::test(flavor = "multi_thread")]
async fn control_characters_and_bidi_overrides_are_removed_from_names() {
    let emulator = emulator().await;
    let mut fixture = Fixture::new(&emulator.base_url("clean"));
    let users = [
        json!({
            "id": "u1",
            "email": "ada@example.com",
            "given_name": "Ada\u{0}\nMaria\t",
            "family_name": "Love\u{202E}lace",
            "display_name": "Ada \u{202E}gpj.exe\u{2066}\u{2069}"
        }),
        json!({
            "id": "u2",
            "email": "ferris@example.com",
            "given_name": "🦀 Ferris",
            "family_name": "קראב\u{200F}",
            "display_name": "\u{202E}\u{202E}"
        }),
    ];
    fixture.write_directory(
        &users,
        &[group("g1", "Eng\u{202E}ineering\u{7}", &["u1", "u2"])],
    );
    let report = fixture.sync().await;
    assert_ok(&report);
    assert!(report.skipped.is_empty(), "{:#?}", report.skipped);
    let held = penvio_users(&emulator, "clean");
    let ada = &held["ada@example.com"];
    assert_eq!(ada["name"]["givenName"], "Ada Maria");
    assert_eq!(ada["name"]["familyName"], "Lovelace");
    assert_eq!(ada["displayName"], "Ada gpj.exe");
    let ferris = &held["ferris@example.com"];
    assert_eq!(ferris["name"]["givenName"], "🦀 Ferris");
    assert_eq!(ferris["name"]["familyName"], "קראב");
    // Nothing left of the display name: composed from the names instead.
    assert_eq!(ferris["displayName"], "🦀 Ferris קראב");
    assert_eq!(emulator.groups("clean")[0]["displayName"], "Engineering");

    // The cleaned values are what the snapshot remembers: no churn.
    emulator.clear_log();
    let again = fixture.sync().await;
    assert_ok(&again);
    assert_eq!(emulator.write_count(), 0, "{again:#?}");
}
