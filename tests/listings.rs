//! Issue 14, truncated listings (invariant 1): a SCIM listing is complete
//! only when the distinct ids read equal `totalResults`. Each attack is
//! replayed against the real scim2-server as Penvio: a SCIM source whose
//! second page comes back empty while `totalResults` says 105, one that
//! sends no `totalResults`, and a reconcile whose listing of Penvio is cut
//! short. Each run fails (exit 1), nobody is deactivated in Penvio, and the
//! snapshot is unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod scim_fake;

use common::{Fixture, Scim2Server};
use penvio_sync::report::RunReport;
use penvio_sync::report::exit::{EXIT_OK, EXIT_RUN_FAILED};
use penvio_sync::sync::{RunMode, RunOptions};
use scim_fake::{Quirks, ScimSourceFake, TruncatingProxy};

/// More than one page of 100, and few enough missing (5) that no guard
/// would hold the deactivations back: exactly the attack.
const USERS: usize = 105;

fn ok(report: &RunReport) {
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
}

fn failed_with<'a>(report: &'a RunReport, needle: &str) -> &'a str {
    assert_eq!(report.exit_code, EXIT_RUN_FAILED, "{report:#?}");
    let error = report.error.as_deref().unwrap_or_default();
    assert!(error.contains(needle), "{error}");
    assert!(report.applied.values().all(|n| *n == 0), "{report:#?}");
    error
}

async fn active_users(server: &Scim2Server, org: &str) -> usize {
    server
        .list(org, "Users")
        .await
        .iter()
        .filter(|u| u["active"].as_bool().unwrap_or(true))
        .count()
}

/// Syncs the fake's 105 users into a fresh org and returns the fixture.
async fn provisioned(server: &Scim2Server, org: &str, source: &ScimSourceFake) -> Fixture {
    let mut fixture = Fixture::new(&server.org_url(org));
    fixture.source_block = Some(source.source_block(&[]));
    ok(&fixture.sync().await);
    assert_eq!(active_users(server, org).await, USERS);
    assert_eq!(fixture.snapshot().users.len(), USERS);
    fixture
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_page_before_total_results_fails_the_run_and_deactivates_nobody() {
    let server = Scim2Server::start();
    let source = ScimSourceFake::start(USERS).await;
    let mut fixture = provisioned(&server, "empty-page", &source).await;
    let before = fixture.snapshot();

    source.set_quirks(Quirks {
        empty_after: Some(1),
        ..Quirks::default()
    });
    let report = fixture.sync().await;
    let error = failed_with(&report, "incomplete listing");
    assert!(
        error.contains("empty after 100 of the 105 resources"),
        "{error}"
    );
    assert_eq!(active_users(&server, "empty-page").await, USERS);
    assert_eq!(fixture.snapshot(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_without_total_results_fails_unless_explicitly_allowed() {
    let server = Scim2Server::start();
    let source = ScimSourceFake::start(USERS).await;
    let mut fixture = provisioned(&server, "no-total", &source).await;
    let before = fixture.snapshot();

    // Every page is served, but nothing proves the listing complete.
    source.set_quirks(Quirks {
        omit_total: true,
        ..Quirks::default()
    });
    let report = fixture.sync().await;
    let error = failed_with(&report, "no totalResults");
    assert!(
        error.contains("`connections[0].source.allow_missing_total: true`"),
        "{error}"
    );
    assert_eq!(active_users(&server, "no-total").await, USERS);
    assert_eq!(fixture.snapshot(), before);

    // The same without a total and with a page emptied: still refused.
    source.set_quirks(Quirks {
        omit_total: true,
        empty_after: Some(1),
    });
    failed_with(&fixture.sync().await, "no totalResults");
    assert_eq!(active_users(&server, "no-total").await, USERS);
    assert_eq!(fixture.snapshot(), before);

    // The documented unsafe switch reads until an empty page.
    source.set_quirks(Quirks {
        omit_total: true,
        ..Quirks::default()
    });
    fixture.source_block = Some(source.source_block(&["allow_missing_total: true"]));
    let report = fixture.sync().await;
    ok(&report);
    assert_eq!(report.source.users, USERS);
    assert_eq!(active_users(&server, "no-total").await, USERS);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_listing_of_penvio_fails_reconcile_and_keeps_the_managed_users() {
    let server = Scim2Server::start();
    let source = ScimSourceFake::start(USERS).await;
    let mut fixture = provisioned(&server, "reconcile", &source).await;
    let before = fixture.snapshot();

    let origin = server.root.trim_end_matches("/api/scim/v2").to_string();
    let proxy = TruncatingProxy::start(&origin).await;
    proxy.set_truncate(true);
    fixture.target_url = format!(
        "{}/api/scim/v2/reconcile",
        proxy.origin.trim_end_matches('/')
    );
    let reconcile = RunOptions {
        mode: RunMode::Reconcile { adopt: false },
        ..RunOptions::sync_now()
    };
    let report = fixture.run(reconcile.clone()).await;
    let error = failed_with(&report, "cannot read what Penvio holds");
    assert!(error.contains("incomplete listing"), "{error}");
    assert!(proxy.truncated() >= 1, "the proxy never cut a page");
    assert_eq!(fixture.snapshot(), before);
    assert_eq!(fixture.snapshot().users.len(), USERS);
    assert_eq!(active_users(&server, "reconcile").await, USERS);

    // Through the same proxy, untouched, the reconcile completes.
    proxy.set_truncate(false);
    ok(&fixture.run(reconcile).await);
    assert_eq!(fixture.snapshot().users.len(), USERS);
}
