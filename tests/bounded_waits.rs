//! Issue 14, runs that never end (invariant 11): every server-directed wait
//! is capped by `max_wait`, every pager refuses a link it already followed,
//! bodies are capped by `max_body` while streaming, and `run_timeout` bounds
//! the whole run. Each hostile answer comes from a vendor fake's fault layer
//! (tests/fake_faults) and is replayed against the real scim2-server as
//! Penvio: the run ends with an error naming what the server sent, nothing
//! is changed in Penvio, and the snapshot is untouched.
//!
//! "Ends" is checked under [`HANG`], a bound far above any honest run here
//! (a few requests to loopback fakes) and far below the waits the servers
//! ask for (years): it only trips if a run obeys the hostile header.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Each fake includes tests/fake_faults as its own `faults` module.
#![allow(clippy::duplicate_mod)]

mod common;
mod entra_fake;
mod jumpcloud_fake;
mod okta_fake;
mod onelogin_fake;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use common::{Fixture, Scim2Server};
use penvio_sync::report::RunReport;
use penvio_sync::report::exit::{EXIT_OK, EXIT_RUN_FAILED};
use penvio_sync::sync::RunOptions;
use penvio_sync::timestamp::unix_now;
use serde_json::{Value, json};

/// Generous bound on a run that must not wait: see the file comment.
const HANG: Duration = Duration::from_secs(60);
/// What a hostile server asks to wait, in seconds (about 31 years).
const FOREVER: u64 = 999_999_999;

const POLICY: &str = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"}\n";

fn fixture_for(server: &Scim2Server, org: &str, source_block: String) -> Fixture {
    let mut fixture = Fixture::new(&server.org_url(org));
    fixture.source_block = Some(source_block);
    fixture.extra_config = POLICY.into();
    fixture
}

/// A run with every read full: each one is two days past the last, so past
/// any `full_fetch_interval`.
fn full_run() -> RunOptions {
    static DAYS: AtomicI64 = AtomicI64::new(0);
    let days = DAYS.fetch_add(2, Ordering::Relaxed) + 2;
    RunOptions {
        now: unix_now() + days * 86_400,
        ..RunOptions::sync_now()
    }
}

/// Runs once under [`HANG`]; a run still waiting then fails the test.
async fn run_bounded(fixture: &mut Fixture) -> RunReport {
    tokio::time::timeout(HANG, fixture.run(full_run()))
        .await
        .expect("the run obeyed a hostile wait instead of failing")
}

fn ok(report: &RunReport) {
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
}

/// Asserts a failed run that changed nothing, whose error has every needle.
fn failed_with(report: &RunReport, needles: &[&str]) {
    assert_eq!(report.exit_code, EXIT_RUN_FAILED, "{report:#?}");
    let error = report.error.as_deref().unwrap_or_default();
    for needle in needles {
        assert!(error.contains(needle), "{needle:?} not in: {error}");
    }
    assert!(report.applied.values().all(|n| *n == 0), "{report:#?}");
}

async fn active_count(server: &Scim2Server, org: &str) -> usize {
    server
        .list(org, "Users")
        .await
        .iter()
        .filter(|u| u["active"].as_bool().unwrap_or(true))
        .count()
}

async fn onelogin() -> onelogin_fake::OneLoginFake {
    let fake = onelogin_fake::OneLoginFake::start(2).await;
    fake.add_group(501, "Default");
    for (id, email) in [
        (101, "alice@example.com"),
        (102, "bob@example.com"),
        (103, "carl@example.com"),
    ] {
        fake.add_user(id, email, "Test", "User", 1, 501);
    }
    fake
}

fn onelogin_block(fake: &onelogin_fake::OneLoginFake) -> String {
    format!(
        "    source: {{type: onelogin, base_url: \"{}\", client_id: {}, client_secret: {}, requests_per_second: 200}}\n",
        fake.base_url,
        onelogin_fake::CLIENT_ID,
        onelogin_fake::CLIENT_SECRET
    )
}

async fn okta() -> okta_fake::OktaFake {
    let fake = okta_fake::OktaFake::start(2).await;
    for (id, email) in [
        ("00u-alice", "alice@example.com"),
        ("00u-bob", "bob@example.com"),
        ("00u-carl", "carl@example.com"),
        ("00u-dana", "dana@example.com"),
        ("00u-erin", "erin@example.com"),
    ] {
        fake.add_user(id, email, "Test", "User", "ACTIVE");
    }
    fake
}

fn okta_block(fake: &okta_fake::OktaFake, extra: &str) -> String {
    format!(
        "    source: {{type: okta, base_url: \"{}\", token: {}, requests_per_second: 200{extra}}}\n",
        fake.base_url,
        okta_fake::API_TOKEN
    )
}

/// Syncs once cleanly, then replays `inject` and expects a bounded failure
/// naming `needles`, with Penvio and the snapshot as they were.
async fn refused_after_a_clean_run(
    server: &Scim2Server,
    org: &str,
    mut fixture: Fixture,
    inject: impl FnOnce(),
    needles: &[&str],
) {
    ok(&run_bounded(&mut fixture).await);
    let before = fixture.snapshot();
    let active = active_count(server, org).await;
    assert!(active > 0);
    inject();
    let report = run_bounded(&mut fixture).await;
    failed_with(&report, needles);
    assert_eq!(fixture.snapshot(), before);
    assert_eq!(active_count(server, org).await, active);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_far_rate_limit_reset_on_a_200_fails_instead_of_pausing() {
    use onelogin_fake::faults::Fault;
    let server = Scim2Server::start();
    let fake = onelogin().await;
    let fixture = fixture_for(&server, "ol-200", onelogin_block(&fake));
    let faults = fake.faults.clone();
    refused_after_a_clean_run(
        &server,
        "ol-200",
        fixture,
        move || {
            faults.inject(
                &["GET /api/2/users"],
                0,
                None,
                Fault::Headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "999999999"),
                ]),
            )
        },
        &[
            "`x-ratelimit-reset: 999999999`",
            "`connections[0].source.max_wait`",
            "200 OK",
        ],
    )
    .await;

    // Okta's epoch reset, on a 200 as well.
    let fake = okta().await;
    let fixture = fixture_for(&server, "okta-200", okta_block(&fake, ""));
    let faults = fake.faults.clone();
    refused_after_a_clean_run(
        &server,
        "okta-200",
        fixture,
        move || {
            faults.inject(
                &["GET /api/v1/users"],
                0,
                None,
                okta_fake::faults::Fault::Headers(&[
                    ("x-rate-limit-limit", "600"),
                    ("x-rate-limit-remaining", "0"),
                    ("x-rate-limit-reset", "99999999999"),
                ]),
            )
        },
        &["`x-rate-limit-reset: 99999999999`", "max_wait"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_far_wait_on_a_429_fails_at_once() {
    let server = Scim2Server::start();
    // OneLogin's reset header instead of Retry-After.
    let fake = onelogin().await;
    let fixture = fixture_for(&server, "ol-429", onelogin_block(&fake));
    let faults = fake.faults.clone();
    refused_after_a_clean_run(
        &server,
        "ol-429",
        fixture,
        move || {
            faults.inject(
                &["GET /api/2/users"],
                0,
                None,
                onelogin_fake::faults::Fault::ThrottleWith(&[("x-ratelimit-reset", "999999999")]),
            )
        },
        &["`x-ratelimit-reset: 999999999`", "429 Too Many Requests"],
    )
    .await;

    // Retry-After on a later Okta page.
    let fake = okta().await;
    let fixture = fixture_for(&server, "okta-429", okta_block(&fake, ""));
    let faults = fake.faults.clone();
    refused_after_a_clean_run(
        &server,
        "okta-429",
        fixture,
        move || {
            faults.inject(
                &["GET /api/v1/users?after="],
                0,
                None,
                okta_fake::faults::Fault::Throttle(FOREVER),
            )
        },
        &["`retry-after: 999999999`", "max_wait", "/api/v1/users"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_far_retry_after_from_a_token_endpoint_fails_at_once() {
    let server = Scim2Server::start();
    // Entra: the token endpoint throttles the first token of a run.
    let fake = entra_fake::FakeEntra::start().await;
    fake.put_user("ada", Some("ada@contoso.com"), "Ada", "Lovelace");
    fake.put_user("grace", Some("grace@contoso.com"), "Grace", "Hopper");
    let block = fake.source_block(
        &format!("client_secret: {}", entra_fake::CLIENT_SECRET),
        &[],
    );
    let mut entra = fixture_for(&server, "entra-token", block);
    fake.faults.inject(
        &["POST /contoso-tenant/oauth2/v2.0/token"],
        0,
        None,
        entra_fake::faults::Fault::Throttle(FOREVER),
    );
    let report = run_bounded(&mut entra).await;
    failed_with(
        &report,
        &[
            "/oauth2/v2.0/token",
            "`retry-after: 999999999`",
            "`connections[0].source.max_wait`",
        ],
    );
    assert_eq!(active_count(&server, "entra-token").await, 0);
    assert!(entra.snapshot().users.is_empty());

    // JumpCloud: a service account's token endpoint, likewise.
    let fake = jumpcloud_fake::JumpCloudFake::start().await;
    fake.add_user("u-alice", "alice@example.com", "Alice", "Smith");
    fake.register_service_account(jumpcloud_fake::ServiceAccount {
        client_id: "penvio-sync-sa".into(),
        client_secret: "sa-secret".into(),
        expires_in: 3600,
        lifetime: Duration::from_secs(3600),
    });
    let block = format!(
        "    source:\n      type: jumpcloud\n      base_url: \"{}\"\n      token_url: \"{}\"\n      client_id: penvio-sync-sa\n      client_secret: sa-secret\n",
        fake.base_url,
        fake.token_url()
    );
    let mut jumpcloud = fixture_for(&server, "jc-token", block);
    fake.faults.inject(
        &["POST /oauth2/token"],
        0,
        None,
        jumpcloud_fake::faults::Fault::Throttle(FOREVER),
    );
    let report = run_bounded(&mut jumpcloud).await;
    failed_with(&report, &["/oauth2/token", "`retry-after: 999999999`"]);
    assert_eq!(active_count(&server, "jc-token").await, 0);
}

/// Graph pages that never end: `first` links to B, B to C, C back to B
/// (repeated far beyond what a bounded pager reads), with one record each.
fn cycling_pages(resource: &str, record: Value) -> Vec<Value> {
    let link =
        |token: &str| format!("https://graph.microsoft.com/v1.0/{resource}?$skiptoken={token}");
    let page = |next: String| json!({"value": [record.clone()], "@odata.nextLink": next});
    let mut pages = vec![page(link("B"))];
    for _ in 0..100 {
        pages.push(page(link("C")));
        pages.push(page(link("B")));
    }
    pages
}

#[tokio::test(flavor = "multi_thread")]
async fn graph_next_links_that_cycle_fail_after_a_bounded_number_of_requests() {
    let server = Scim2Server::start();
    let fake = entra_fake::FakeEntra::start().await;
    fake.put_user("ada", Some("ada@contoso.com"), "Ada", "Lovelace");
    let sp = "5a5a5a5a-0000-0000-0000-00000000000a";
    fake.assign(sp, "ada", false);

    // The delta round: initial → B → C → B …
    fake.script(
        "/v1.0/users/delta",
        cycling_pages("users/delta", json!({"id": "ada"})),
    );
    let block = fake.source_block(
        &format!("client_secret: {}", entra_fake::CLIENT_SECRET),
        &[],
    );
    let mut delta = fixture_for(&server, "graph-cycle", block);
    let report = run_bounded(&mut delta).await;
    failed_with(&report, &["reading /users/delta", "already sent"]);
    let delta_reads = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/v1.0/users/delta")
        .count();
    assert_eq!(
        delta_reads, 3,
        "initial, B and C; the repeat of B is refused"
    );
    assert!(delta.snapshot().users.is_empty());

    // The app-assignments listing cycles the same way.
    fake.script("/v1.0/users/delta", Vec::new());
    fake.clear_requests();
    let assigned = format!("/v1.0/servicePrincipals/{sp}/appRoleAssignedTo");
    fake.script(
        &assigned,
        cycling_pages(
            &format!("servicePrincipals/{sp}/appRoleAssignedTo"),
            json!({"principalId": "ada", "principalType": "User"}),
        ),
    );
    let block = fake.source_block(
        &format!("client_secret: {}", entra_fake::CLIENT_SECRET),
        &[&format!("app_id: {sp}")],
    );
    let mut assignments = fixture_for(&server, "graph-cycle-app", block);
    let report = run_bounded(&mut assignments).await;
    failed_with(&report, &["reading the app's assignments", "already sent"]);
    let assignment_reads = fake
        .requests()
        .iter()
        .filter(|r| r.path == assigned)
        .count();
    assert_eq!(assignment_reads, 3);
    assert_eq!(active_count(&server, "graph-cycle-app").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_longer_than_max_pages_fails_the_run() {
    let server = Scim2Server::start();
    let fake = okta().await;
    // Five users at two a page take three pages.
    let mut fixture = fixture_for(&server, "okta-pages", okta_block(&fake, ", max_pages: 2"));
    let report = run_bounded(&mut fixture).await;
    failed_with(
        &report,
        &["more than 2 pages, the most `connections[0].source.max_pages` allows"],
    );
    let user_pages = fake
        .log()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v1/users")
        .count();
    assert_eq!(user_pages, 2, "the third page is never asked for");
    assert_eq!(active_count(&server, "okta-pages").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_larger_than_max_body_fails_the_run() {
    let server = Scim2Server::start();
    let fake = okta().await;
    // Pages of two users are a few KiB; the padded page is 1 MiB more,
    // streamed without a length.
    let fixture = fixture_for(
        &server,
        "okta-body",
        okta_block(&fake, ", max_body: 256KiB"),
    );
    let faults = fake.faults.clone();
    refused_after_a_clean_run(
        &server,
        "okta-body",
        fixture,
        move || {
            faults.inject(
                &["GET /api/v1/users?after="],
                0,
                None,
                okta_fake::faults::Fault::Padded(1 << 20),
            )
        },
        &[
            "larger than the 262144 bytes `connections[0].source.max_body`",
            "/api/v1/users",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_past_run_timeout_fails_like_a_source_error() {
    let server = Scim2Server::start();
    let fake = okta().await;
    // One request may take long (timeout 10m); the run may not (2s).
    let mut fixture = fixture_for(&server, "okta-slow", okta_block(&fake, ", timeout: 10m"));
    fixture.extra_config.push_str("    run_timeout: 2s\n");
    ok(&run_bounded(&mut fixture).await);
    let before = fixture.snapshot();
    let active = active_count(&server, "okta-slow").await;
    // A complete read now would deactivate bob; a later page never answers.
    fake.delete_user("00u-bob");
    fake.faults.inject(
        &["GET /api/v1/users?after="],
        0,
        None,
        okta_fake::faults::Fault::Slow(Duration::from_secs(600)),
    );
    let report = run_bounded(&mut fixture).await;
    failed_with(
        &report,
        &["`connections[0].run_timeout` (2s)", "was stopped"],
    );
    assert_eq!(fixture.snapshot(), before);
    assert_eq!(active_count(&server, "okta-slow").await, active);
}
