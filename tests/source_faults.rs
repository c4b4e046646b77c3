//! Invariant 1 under source faults: for every vendor adapter, a fetch broken
//! on a later page (HTML instead of JSON, JSON cut in half, a 5xx storm
//! longer than the retry budget, a response slower than `timeout`, a
//! connection closed mid-body, a revoked token) fails the run with an error
//! naming the request, deactivates and deletes nothing, and leaves the
//! snapshot as it was; a 429 storm with `Retry-After` is waited out. Once the
//! fault clears, the next run converges (the removed users are deactivated).
//! The OAuth adapters (Entra, OneLogin, PingOne, Google) also meet a token endpoint
//! in a 5xx storm, and a revoked token whose refresh gets an HTML page.
//!
//! An adapter's scenarios run concurrently against one scim2-server (one org
//! each), so the file's runtime is about that of its slowest scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Each fake includes tests/fake_faults as its own `faults` module, so this
// crate, which uses all six fakes, loads that file six times on purpose.
#![allow(clippy::duplicate_mod)]

mod common;
mod entra_fake;
mod google_fake;
mod jumpcloud_fake;
mod okta_fake;
mod onelogin_fake;
mod pingone_fake;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::vendor_fake::full_run;
use common::{Fixture, Scim2Server, find};
use penvio_sync::report::exit::EXIT_OK;
use penvio_sync::sync::RunOptions;
use serde_json::{Value, json};

/// The client timeout of every run but the faulted one of the slow-answer
/// scenario: nothing on a loaded machine takes that long.
const PATIENT: &str = "timeout: 30s";
/// The client timeout of the slow-answer scenario's faulted run.
const TIMEOUT: &str = "timeout: 2s";
/// How long a slow answer takes: three times [`TIMEOUT`], so no load on the
/// machine can make it look prompt.
const SLOW: Duration = Duration::from_secs(6);
/// 429s in a row (fewer than the 6 attempts of the retry budget).
const THROTTLED: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Html,
    Truncated,
    Storm,
    Slow,
    Reset,
    Throttle,
    Revoked,
    /// The token endpoint fails (a storm) when the run starts.
    TokenStorm,
    /// The token is revoked mid-paging and the refresh gets an HTML page.
    RefreshHtml,
}

const KINDS: [Kind; 7] = [
    Kind::Html,
    Kind::Truncated,
    Kind::Storm,
    Kind::Slow,
    Kind::Reset,
    Kind::Throttle,
    Kind::Revoked,
];

/// Faults of the token endpoint, for the adapters that fetch OAuth tokens.
const TOKEN_KINDS: [Kind; 2] = [Kind::TokenStorm, Kind::RefreshHtml];

/// Converts a [`Kind`] to one fake's `faults::Fault`s and injects them on
/// the page (`$needles`) or the token endpoint (`$token`).
macro_rules! inject {
    ($faults:expr, $module:ident, $needles:expr, $token:expr, $kind:expr) => {{
        use $module::faults::Fault;
        let (fault, times) = match $kind {
            Kind::Html => (Fault::Html, None),
            Kind::Truncated => (Fault::Truncated, None),
            Kind::Storm => (Fault::Storm, None),
            Kind::Slow => (Fault::Slow(SLOW), None),
            Kind::Reset => (Fault::Reset, None),
            Kind::Throttle => (Fault::Throttle(1), Some(THROTTLED)),
            Kind::Revoked | Kind::RefreshHtml => (Fault::Revoked, None),
            Kind::TokenStorm => (Fault::Storm, None),
        };
        match $kind {
            Kind::TokenStorm => $faults.inject(&[$token], 0, None, fault),
            Kind::RefreshHtml => {
                $faults.inject($needles, 0, None, fault);
                // The run's first token passes; its refresh gets a login page.
                $faults.inject(&[$token], 1, None, Fault::Html);
            }
            _ => $faults.inject($needles, 0, times, fault),
        }
    }};
}

/// One adapter wired to a seeded fake and a fixture.
struct Case {
    fixture: Fixture,
    /// Injects a fault on the chosen later page.
    inject: Box<dyn Fn(Kind)>,
    clear: Box<dyn Fn()>,
    injected: Box<dyn Fn() -> u64>,
    /// Removes users from the directory (holds the fake alive).
    remove: Box<dyn Fn()>,
    /// userNames the removal deactivates once a run completes.
    removed: &'static [&'static str],
    /// Text the error must contain: the faulted request's path.
    page: String,
    /// The token endpoint's path, for adapters with OAuth tokens.
    token: Option<&'static str>,
    /// A run that reads everything (past `full_fetch_interval` if any).
    options: fn() -> RunOptions,
}

const TOKEN_ENTRA: &str = "POST /contoso-tenant/oauth2/v2.0/token";
const TOKEN_ONELOGIN: &str = "POST /auth/oauth2/v2/token";
const TOKEN_PINGONE: &str = "/as/token";
const TOKEN_GOOGLE: &str = "POST /token";

const POLICY: &str = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"}\n";

fn fixture(server: &Scim2Server, org: &str, source_block: String) -> Fixture {
    let mut fixture = Fixture::new(&server.org_url(org));
    fixture.source_block = Some(source_block);
    fixture.extra_config = POLICY.into();
    fixture
}

async fn okta_case(server: &Scim2Server, org: &str, timeout: &str) -> Case {
    let fake = okta_fake::OktaFake::start(2).await;
    for (id, email, first) in [
        ("00u-alice", "alice@example.com", "Alice"),
        ("00u-bob", "bob@example.com", "Bob"),
        ("00u-carl", "carl@example.com", "Carl"),
        ("00u-dana", "dana@example.com", "Dana"),
    ] {
        fake.add_user(id, email, first, "Tester", "ACTIVE");
    }
    fake.add_group(
        "00g-eng",
        "Engineering",
        "OKTA_GROUP",
        &["00u-alice", "00u-bob"],
    );
    let block = format!(
        "    source: {{type: okta, base_url: \"{}\", token: {}, requests_per_second: 200, timeout: {timeout}}}\n",
        fake.base_url,
        okta_fake::API_TOKEN
    );
    let (f1, f2, f3) = (
        fake.faults.clone(),
        fake.faults.clone(),
        fake.faults.clone(),
    );
    Case {
        fixture: fixture(server, org, block),
        inject: Box::new(move |kind| {
            inject!(f1, okta_fake, &["GET /api/v1/users?after="], "-", kind)
        }),
        clear: Box::new(move || f2.clear()),
        injected: Box::new(move || f3.injected()),
        remove: Box::new(move || fake.delete_user("00u-bob")),
        removed: &["bob@example.com"],
        page: "/api/v1/users".into(),
        token: None,
        options: full_run,
    }
}

async fn entra_case(server: &Scim2Server, org: &str, timeout: &str) -> Case {
    let fake = Arc::new(entra_fake::FakeEntra::start().await);
    fake.put_user("ada", Some("ada@contoso.com"), "Ada", "Lovelace");
    fake.put_user("grace", Some("grace@contoso.com"), "Grace", "Hopper");
    fake.put_user("alan", Some("alan@contoso.com"), "Alan", "Turing");
    fake.put_user("edsger", Some("edsger@contoso.com"), "Edsger", "Dijkstra");
    fake.put_group("eng", "Engineering");
    fake.add_members("eng", &["ada", "grace"]);
    let block = fake.source_block(
        &format!("client_secret: {}", entra_fake::CLIENT_SECRET),
        &[&format!("timeout: {timeout}")],
    );
    let (f1, f2, f3) = (
        fake.faults.clone(),
        fake.faults.clone(),
        fake.faults.clone(),
    );
    Case {
        fixture: fixture(server, org, block),
        inject: Box::new(move |kind| {
            inject!(
                f1,
                entra_fake,
                &["users/delta?$skiptoken"],
                TOKEN_ENTRA,
                kind
            )
        }),
        clear: Box::new(move || f2.clear()),
        injected: Box::new(move || f3.injected()),
        remove: Box::new(move || {
            fake.delete_user("ada");
            fake.delete_user("grace");
            fake.delete_user("alan");
        }),
        // Three changes: the delta spans two pages.
        removed: &["ada@contoso.com", "grace@contoso.com", "alan@contoso.com"],
        page: "/v1.0/users/delta".into(),
        token: Some(TOKEN_ENTRA),
        options: RunOptions::sync_now,
    }
}

async fn onelogin_case(server: &Scim2Server, org: &str, timeout: &str) -> Case {
    let fake = onelogin_fake::OneLoginFake::start(2).await;
    fake.add_group(501, "Default");
    for (id, email, first) in [
        (101, "alice@example.com", "Alice"),
        (102, "bob@example.com", "Bob"),
        (103, "carl@example.com", "Carl"),
        (104, "dana@example.com", "Dana"),
    ] {
        fake.add_user(id, email, first, "Tester", 1, 501);
    }
    fake.add_role(201, "Engineering", &[101, 102]);
    let block = format!(
        "    source: {{type: onelogin, base_url: \"{}\", client_id: {}, client_secret: {}, requests_per_second: 200, timeout: {timeout}}}\n",
        fake.base_url,
        onelogin_fake::CLIENT_ID,
        onelogin_fake::CLIENT_SECRET
    );
    let (f1, f2, f3) = (
        fake.faults.clone(),
        fake.faults.clone(),
        fake.faults.clone(),
    );
    Case {
        fixture: fixture(server, org, block),
        inject: Box::new(move |kind| {
            inject!(
                f1,
                onelogin_fake,
                &["GET /api/2/users?", "cursor="],
                TOKEN_ONELOGIN,
                kind
            )
        }),
        clear: Box::new(move || f2.clear()),
        injected: Box::new(move || f3.injected()),
        remove: Box::new(move || fake.delete_user(102)),
        removed: &["bob@example.com"],
        page: "/api/2/users".into(),
        token: Some(TOKEN_ONELOGIN),
        options: full_run,
    }
}

async fn jumpcloud_case(server: &Scim2Server, org: &str, timeout: &str) -> Case {
    let fake = jumpcloud_fake::JumpCloudFake::start().await;
    for (id, email, first) in [
        ("u-alice", "alice@example.com", "Alice"),
        ("u-bob", "bob@example.com", "Bob"),
        ("u-carl", "carl@example.com", "Carl"),
        ("u-dana", "dana@example.com", "Dana"),
    ] {
        fake.add_user(id, email, first, "Tester");
    }
    fake.add_group("g-eng", "Engineering", &["u-alice", "u-bob"]);
    let block = format!(
        "    source: {{type: jumpcloud, base_url: \"{}\", api_key: {}, page_size: 2, requests_per_second: 200, timeout: {timeout}}}\n",
        fake.base_url,
        jumpcloud_fake::API_KEY
    );
    let (f1, f2, f3) = (
        fake.faults.clone(),
        fake.faults.clone(),
        fake.faults.clone(),
    );
    Case {
        fixture: fixture(server, org, block),
        inject: Box::new(move |kind| {
            inject!(
                f1,
                jumpcloud_fake,
                &["GET /api/systemusers?", "skip=2"],
                "-",
                kind
            )
        }),
        clear: Box::new(move || f2.clear()),
        injected: Box::new(move || f3.injected()),
        remove: Box::new(move || fake.delete_user("u-bob")),
        removed: &["bob@example.com"],
        page: "/api/systemusers".into(),
        token: None,
        options: RunOptions::sync_now,
    }
}

async fn pingone_case(server: &Scim2Server, org: &str, timeout: &str) -> Case {
    let fake = Arc::new(pingone_fake::FakePingOne::start().await);
    fake.put_user("u-ada", "ada@example.com", "Ada", "Lovelace");
    fake.put_user("u-grace", "grace@example.com", "Grace", "Hopper");
    fake.put_user("u-alan", "alan@example.com", "Alan", "Turing");
    fake.put_user("u-edsger", "edsger@example.com", "Edsger", "Dijkstra");
    fake.put_group("g-eng", "Engineering", None);
    fake.add_members("g-eng", &["u-ada", "u-grace"]);
    let block = fake.source_block(
        &format!("client_secret: {}", pingone_fake::CLIENT_SECRET),
        &[&format!("timeout: {timeout}")],
    );
    let needle = format!("/environments/{}/users?cursor=", pingone_fake::ENV);
    let (f1, f2, f3) = (
        fake.faults.clone(),
        fake.faults.clone(),
        fake.faults.clone(),
    );
    Case {
        fixture: fixture(server, org, block),
        inject: Box::new(move |kind| {
            inject!(f1, pingone_fake, &[needle.as_str()], TOKEN_PINGONE, kind)
        }),
        clear: Box::new(move || f2.clear()),
        injected: Box::new(move || f3.injected()),
        remove: Box::new(move || fake.delete_user("u-ada")),
        removed: &["ada@example.com"],
        page: format!("/environments/{}/users", pingone_fake::ENV),
        token: Some(TOKEN_PINGONE),
        options: RunOptions::sync_now,
    }
}

async fn google_case(server: &Scim2Server, org: &str, timeout: &str) -> Case {
    let fake = Arc::new(google_fake::FakeGoogle::start().await);
    // With the impersonated admin, four users.
    fake.put_user("u-ada", "ada@example.com", "Ada", "Lovelace");
    fake.put_user("u-grace", "grace@example.com", "Grace", "Hopper");
    fake.put_user("u-alan", "alan@example.com", "Alan", "Turing");
    fake.put_group("g-eng", "eng@example.com", "Engineering");
    fake.add_members("g-eng", &["u-ada", "u-grace"]);
    let mut fixture = fixture(server, org, String::new());
    let key = fixture.dir.path().join("google-key.json");
    std::fs::write(&key, fake.key_file()).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    fixture.source_block = Some(fake.source_block(&key, &[&format!("timeout: {timeout}")]));
    let (f1, f2, f3) = (
        fake.faults.clone(),
        fake.faults.clone(),
        fake.faults.clone(),
    );
    Case {
        fixture,
        inject: Box::new(move |kind| {
            inject!(
                f1,
                google_fake,
                &["GET /admin/directory/v1/users?", "pageToken="],
                TOKEN_GOOGLE,
                kind
            )
        }),
        clear: Box::new(move || f2.clear()),
        injected: Box::new(move || f3.injected()),
        remove: Box::new(move || fake.delete_user("u-ada")),
        removed: &["ada@example.com"],
        page: "/admin/directory/v1/users".into(),
        token: Some(TOKEN_GOOGLE),
        options: RunOptions::sync_now,
    }
}

#[derive(Debug, Clone, Copy)]
enum Adapter {
    Okta,
    Entra,
    OneLogin,
    JumpCloud,
    PingOne,
    Google,
}

async fn case(adapter: Adapter, server: &Scim2Server, org: &str, timeout: &str) -> Case {
    match adapter {
        Adapter::Okta => okta_case(server, org, timeout).await,
        Adapter::Entra => entra_case(server, org, timeout).await,
        Adapter::OneLogin => onelogin_case(server, org, timeout).await,
        Adapter::JumpCloud => jumpcloud_case(server, org, timeout).await,
        Adapter::PingOne => pingone_case(server, org, timeout).await,
        Adapter::Google => google_case(server, org, timeout).await,
    }
}

fn active(users: &[Value], user_name: &str) -> bool {
    find(users, "userName", user_name).unwrap_or_else(|| panic!("{user_name} is not in the target"))
        ["active"]
        .as_bool()
        .unwrap_or(true)
}

/// What the error must say about a fault, besides naming the page.
fn expected_text(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Html | Kind::Truncated => &["unexpected response body"],
        Kind::Storm => &["failed after"],
        Kind::Slow => &["failed after", "timed out"],
        Kind::Reset => &["failed after"],
        Kind::Revoked => &["401"],
        Kind::TokenStorm => &["500", "502", "503"],
        // A sign-in page where the token should be: said so, with its start.
        Kind::RefreshHtml => &["with a body that is not JSON (starts \"<"],
        Kind::Throttle => &[],
    }
}

/// Provision, remove users and break a later page, check invariant 1, clear
/// the fault and check convergence. Returns a line for the outcome table.
async fn scenario(adapter: Adapter, kind: Kind, server: &Scim2Server) -> String {
    let label = format!("{adapter:?}/{kind:?}");
    let org = format!("{adapter:?}-{kind:?}").to_lowercase();
    let mut case = case(adapter, server, &org, "30s").await;
    let first = case.fixture.sync().await;
    assert_eq!(
        first.exit_code, EXIT_OK,
        "{label}: provisioning failed: {:?}",
        first.error
    );
    let provisioned = server.list(&org, "Users").await;
    assert_eq!(provisioned.len(), 4, "{label}: {provisioned:#?}");
    let snapshot = case.fixture.snapshot();
    let (writes, _) = server.request_counts(&org).await;

    (case.remove)();
    (case.inject)(kind);
    // Only the slow scenario's faulted run has a short client timeout: on a
    // loaded machine a short timeout elsewhere (provisioning, the rerun, the
    // other scenarios) would only add noise.
    let patient = case.fixture.source_block.clone();
    if kind == Kind::Slow {
        let block = patient.clone().unwrap_or_default();
        assert!(block.contains(PATIENT), "{label}: {block}");
        case.fixture.source_block = Some(block.replace(PATIENT, TIMEOUT));
    }
    let started = Instant::now();
    let report = case.fixture.run((case.options)()).await;
    let elapsed = started.elapsed();
    case.fixture.source_block = patient;
    assert!((case.injected)() > 0, "{label}: the fault was never hit");
    let users = server.list(&org, "Users").await;
    let outcome = if kind == Kind::Throttle {
        assert_eq!(report.exit_code, EXIT_OK, "{label}: {report:#?}");
        for name in case.removed {
            assert!(!active(&users, name), "{label}: {name} not deactivated");
        }
        format!("{label}: completed after {THROTTLED} 429s in {elapsed:.1?}")
    } else {
        assert_ne!(report.exit_code, EXIT_OK, "{label}: {report:#?}");
        let error = report.error.clone().unwrap_or_default();
        let named = match kind {
            Kind::TokenStorm | Kind::RefreshHtml => {
                let token = case.token.unwrap_or_default();
                token.rsplit(' ').next().unwrap_or(token).to_string()
            }
            _ => case.page.clone(),
        };
        assert!(
            error.contains(&named),
            "{label}: the error does not name {named}: {error}"
        );
        if kind == Kind::Revoked {
            assert!(
                error.contains("connections[0].source."),
                "{label}: the error names no key to fix: {error}"
            );
            assert_eq!(
                error.matches('`').count() % 2,
                0,
                "{label}: unbalanced quoting: {error}"
            );
        }
        let wanted = expected_text(kind);
        assert!(
            wanted.iter().any(|w| error.contains(w)),
            "{label}: expected one of {wanted:?} in: {error}"
        );
        assert_eq!(
            server.request_counts(&org).await.0,
            writes,
            "{label}: nothing may be written"
        );
        assert!(
            users.iter().all(|u| u["active"] != json!(false)),
            "{label}: somebody was deactivated: {users:#?}"
        );
        assert_eq!(users.len(), 4, "{label}: somebody was deleted");
        assert_eq!(
            case.fixture.snapshot(),
            snapshot,
            "{label}: snapshot changed"
        );
        format!("{label}: failed in {elapsed:.1?}: {error}")
    };

    // The fault clears: the next run converges.
    (case.clear)();
    let rerun = case.fixture.run((case.options)()).await;
    assert_eq!(
        rerun.exit_code, EXIT_OK,
        "{label}: the rerun failed: {:?}",
        rerun.error
    );
    let users = server.list(&org, "Users").await;
    for name in case.removed {
        assert!(!active(&users, name), "{label}: {name} still active");
    }
    let still = users.iter().filter(|u| u["active"] != json!(false)).count();
    assert_eq!(still, 4 - case.removed.len(), "{label}: {users:#?}");
    outcome
}

/// Runs the seven faults of one adapter (and the two token-endpoint faults
/// of an OAuth adapter) concurrently and prints the outcomes.
async fn every_fault(adapter: Adapter, oauth: bool) {
    let server = Scim2Server::start();
    let s = &server;
    let token_faults = async {
        if oauth {
            let both = tokio::join!(
                scenario(adapter, TOKEN_KINDS[0], s),
                scenario(adapter, TOKEN_KINDS[1], s)
            );
            vec![both.0, both.1]
        } else {
            Vec::new()
        }
    };
    let (outcomes, token_outcomes) = tokio::join!(page_faults(adapter, s), token_faults);
    for line in outcomes.into_iter().chain(token_outcomes) {
        eprintln!("{line}");
    }
}

async fn page_faults(adapter: Adapter, s: &Scim2Server) -> Vec<String> {
    let outcomes = tokio::join!(
        scenario(adapter, KINDS[0], s),
        scenario(adapter, KINDS[1], s),
        scenario(adapter, KINDS[2], s),
        scenario(adapter, KINDS[3], s),
        scenario(adapter, KINDS[4], s),
        scenario(adapter, KINDS[5], s),
        scenario(adapter, KINDS[6], s),
    );
    vec![
        outcomes.0, outcomes.1, outcomes.2, outcomes.3, outcomes.4, outcomes.5, outcomes.6,
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn okta_survives_source_faults() {
    every_fault(Adapter::Okta, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn entra_survives_source_faults() {
    every_fault(Adapter::Entra, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn onelogin_survives_source_faults() {
    every_fault(Adapter::OneLogin, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn jumpcloud_survives_source_faults() {
    every_fault(Adapter::JumpCloud, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pingone_survives_source_faults() {
    every_fault(Adapter::PingOne, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn google_survives_source_faults() {
    every_fault(Adapter::Google, true).await;
}
