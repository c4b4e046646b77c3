//! Email reuse: a leaver's account is deactivated in Penvio; a new directory
//! user (another id) gets the same email. The agent must not hand the
//! leaver's account to the newcomer unless `policy.on_username_reuse:
//! relink` says they are the same person — through sync and reconcile
//! --adopt alike.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{Fixture, Scim2Server, find, user};
use penvio_sync::audit::AuditLog;
use penvio_sync::report::RunReport;
use penvio_sync::report::exit::{EXIT_OK, EXIT_PARTIAL};
use penvio_sync::sync::{RunMode, RunOptions};

const POLICY: &str = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"";

fn policy(extra: &str) -> String {
    format!("{POLICY}{extra}}}\n")
}

/// Syncs a leaver "old1" (sam@example.com) in, then out: their account is
/// deactivated. Returns the account's Penvio id.
async fn leaver_deactivated(server: &Scim2Server, fixture: &mut Fixture, org: &str) -> String {
    let stays = user("u1", "ada@example.com", "Ada", "Lovelace");
    fixture.write_directory(
        &[stays.clone(), user("old1", "sam@example.com", "Sam", "Old")],
        &[],
    );
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    fixture.write_directory(std::slice::from_ref(&stays), &[]);
    assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
    let users = server.list(org, "Users").await;
    let account = find(&users, "userName", "sam@example.com").unwrap();
    assert_eq!(account["active"], false);
    // The newcomer arrives with the leaver's email.
    fixture.write_directory(&[stays, user("new7", "sam@example.com", "Sam", "New")], &[]);
    account["id"].as_str().unwrap().to_string()
}

fn audited(fixture: &Fixture) -> RunOptions {
    RunOptions {
        audit: Some(Arc::new(AuditLog::in_state_dir(&fixture.state_dir()))),
        ..RunOptions::sync_now()
    }
}

fn assert_refused(report: &RunReport) {
    assert_eq!(report.exit_code, EXIT_PARTIAL, "{report:#?}");
    assert_eq!(report.failures.len(), 1, "{report:#?}");
    let warning = report.failures[0].error.as_deref().unwrap();
    for needle in ["old1", "new7", "policy.on_username_reuse: relink"] {
        assert!(warning.contains(needle), "{needle} missing from: {warning}");
    }
}

async fn assert_untouched(server: &Scim2Server, fixture: &mut Fixture, org: &str, id: &str) {
    let users = server.list(org, "Users").await;
    let account = find(&users, "id", id).unwrap();
    assert_eq!(account["active"], false, "the leaver stays deactivated");
    assert_eq!(account["externalId"], "old1");
    assert_eq!(account["name"]["familyName"], "Old");
    let snapshot = fixture.snapshot();
    assert!(!snapshot.users.contains_key("new7"));
    assert_eq!(snapshot.users["old1"].penvio_id(), id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reused_email_is_not_linked_unless_relink_is_configured() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("reuse"));
    fixture.extra_config = policy("");
    let id = leaver_deactivated(&server, &mut fixture, "reuse").await;

    let report = fixture.run(audited(&fixture)).await;
    assert_refused(&report);
    assert_untouched(&server, &mut fixture, "reuse", &id).await;

    // Opting in: the account is linked to the newcomer (and reactivated),
    // the leaver's mapping is dropped, and the audit trail says so.
    fixture.extra_config = policy(", on_username_reuse: relink");
    let report = fixture.run(audited(&fixture)).await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    let users = server.list("reuse", "Users").await;
    let account = find(&users, "id", &id).unwrap();
    assert_eq!(account["active"], true);
    assert_eq!(account["externalId"], "new7");
    assert_eq!(account["name"]["familyName"], "New");
    let snapshot = fixture.snapshot();
    assert_eq!(snapshot.users["new7"].penvio_id(), id);
    assert!(!snapshot.users.contains_key("old1"));
    let events = AuditLog::in_state_dir(&fixture.state_dir())
        .read(Some("test"), None)
        .unwrap();
    let relink = events
        .iter()
        .find(|e| e.source_id == "new7" && e.outcome == "applied")
        .unwrap();
    assert!(
        relink
            .description
            .contains(&format!("relinked Penvio user {id} from source user old1")),
        "{}",
        relink.description
    );
    assert_eq!(relink.penvio_id.as_deref(), Some(id.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_adopt_does_not_link_a_reused_email_either() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("adopt"));
    fixture.extra_config = policy("");
    let id = leaver_deactivated(&server, &mut fixture, "adopt").await;
    let adopt = |fixture: &Fixture| RunOptions {
        mode: RunMode::Reconcile { adopt: true },
        allow_deletions: true,
        ..audited(fixture)
    };

    let report = fixture.run(adopt(&fixture)).await;
    assert_refused(&report);
    let findings = report.reconcile.clone().unwrap();
    assert_eq!((findings.linked_users, findings.adopted), (0, 0));
    assert_untouched(&server, &mut fixture, "adopt", &id).await;

    fixture.extra_config = policy(", on_username_reuse: relink");
    let report = fixture.run(adopt(&fixture)).await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    let users = server.list("adopt", "Users").await;
    let account = find(&users, "id", &id).unwrap();
    assert_eq!(account["active"], true);
    assert_eq!(account["externalId"], "new7");
    assert_eq!(fixture.snapshot().users["new7"].penvio_id(), id);
    let events = AuditLog::in_state_dir(&fixture.state_dir())
        .read(Some("test"), None)
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.source_id == "new7" && e.description.contains("from source user old1"))
    );
}

/// The leaver goes and the newcomer arrives in the same run: the leaver's
/// deactivation is planned against the account the newcomer's create meets.
/// Relinked, the account is the newcomer's and is not deactivated; refused,
/// the leaver's account is deactivated and stays theirs.
#[tokio::test(flavor = "multi_thread")]
async fn a_leaver_and_a_newcomer_in_one_run_never_share_an_account() {
    let server = Scim2Server::start();
    for (org, extra, code, active, owner) in [
        ("same-run-refuse", "", EXIT_PARTIAL, false, "old1"),
        (
            "same-run-relink",
            ", on_username_reuse: relink",
            EXIT_OK,
            true,
            "new7",
        ),
    ] {
        let mut fixture = Fixture::new(&server.org_url(org));
        fixture.extra_config = policy(extra);
        let stays = user("u1", "ada@example.com", "Ada", "Lovelace");
        fixture.write_directory(
            &[stays.clone(), user("old1", "sam@example.com", "Sam", "Old")],
            &[],
        );
        assert_eq!(fixture.sync().await.exit_code, EXIT_OK);
        fixture.write_directory(&[stays, user("new7", "sam@example.com", "Sam", "New")], &[]);
        let report = fixture.sync().await;
        assert_eq!(report.exit_code, code, "{org}: {report:#?}");
        let users = server.list(org, "Users").await;
        assert_eq!(users.len(), 2, "{org}: no second account");
        let account = find(&users, "userName", "sam@example.com").unwrap();
        assert_eq!(account["active"], active, "{org}");
        assert_eq!(account["externalId"], owner, "{org}");
        let snapshot = fixture.snapshot();
        assert_eq!(
            snapshot.users[owner].penvio_id(),
            account["id"].as_str().unwrap()
        );
        assert_eq!(snapshot.users.len(), 2, "{org}: one mapping per account");
    }
}
