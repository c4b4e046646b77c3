//! Budget B6 of issue 7: the requests each source adapter sends to its
//! vendor for a no-op run, beside the minimum the vendor API allows (pages
//! at the vendor's largest page size; a delta API: one request per resource).
//!
//! Each vendor's fake (test-only modules) holds `PENVIO_B6_USERS` users
//! (2,000 by default, so this is a normal, quick test in CI; `scripts/bench`
//! sets 100,000) in `users / 1,000` groups of 50. A first sync provisions
//! them into the emulator; the second is the measured no-op, which must plan
//! nothing and send nothing to Penvio. Token requests are counted apart (an
//! access token is fetched per run where the vendor uses OAuth).
//!
//! Covered: Okta (incremental users), JumpCloud (no delta API), Entra (delta).
//! Not covered yet: OneLogin and PingOne, whose fakes cap every page at 2
//! records, so their request counts at scale say nothing about the vendor's
//! page sizes.
//!
//! The test fails on a broken no-op or on an adapter sending more than
//! twice its minimum; equality with the minimum is the budget, reported by
//! `scripts/bench` (set `PENVIO_B6_TABLE` to a file to get the table rows).
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
mod okta_fake;

use std::sync::Arc;

use common::{Fixture, TOKEN};
use penvio_sync::emulator::{Emulator, EmulatorConfig};
use penvio_sync::state::{RedbStateStore, StateStore};
use penvio_sync::sync::{EXIT_OK, RunOptions, RunReport, run_connection};

/// Okta's largest page of `/api/v1/users` (its documented maximum).
const OKTA_USER_PAGE: usize = 200;
/// The Okta fake's page cap for every listing: Okta documents 200 as the
/// most per page it recommends for groups and group members.
const OKTA_PAGE: usize = 200;
/// JumpCloud's cap on `limit` for v1 `/api/systemusers` and v2 listings.
const JUMPCLOUD_PAGE: usize = 100;

fn users() -> usize {
    std::env::var("PENVIO_B6_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

fn groups(users: usize) -> usize {
    (users / 1_000).max(2)
}

/// Members of group `g`: 50 consecutive users.
fn members(g: usize, users: usize) -> Vec<usize> {
    (0..50).map(|k| (g * 50 + k) % users).collect()
}

fn email(i: usize) -> String {
    format!("user{i}@example.com")
}

struct Measured {
    vendor: &'static str,
    api_requests: usize,
    token_requests: usize,
    minimum: usize,
    formula: String,
}

/// Runs the fixture's connection with a fast target (the provisioning run
/// is setup, not measured).
async fn run(fixture: &mut Fixture, store: &Arc<dyn StateStore>) -> RunReport {
    let config = fixture
        .config_text(TOKEN)
        .replace("requests_per_second: 500", "requests_per_second: 100000")
        .replace("burst: 50", "burst: 100000")
        .replace("concurrency: 4", "concurrency: 16");
    let connection = penvio_sync::config::load_str(
        &config,
        &fixture.config_path(),
        &penvio_sync::config::ProcessEnvironment,
    )
    .unwrap_or_else(|e| panic!("{e}\n{config}"))
    .connections
    .remove(0);
    let report = run_connection(&connection, 0, store.clone(), &RunOptions::sync_now()).await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    report
}

/// First sync (provisioning), then the measured no-op; `log` returns the
/// fake's request targets so far, `clear` forgets them.
async fn measure(
    vendor: &'static str,
    emulator: &Emulator,
    source_block: String,
    users: usize,
    log: impl Fn() -> Vec<String>,
    clear: impl Fn(),
) -> (usize, usize) {
    let mut fixture = Fixture::new(&emulator.base_url(vendor));
    fixture.source_block = Some(source_block);
    let store: Arc<dyn StateStore> = Arc::new(RedbStateStore::open(&fixture.state_dir()).unwrap());
    let first = run(&mut fixture, &store).await;
    assert_eq!(first.source.desired_users, users, "{vendor}: {first:#?}");

    clear();
    emulator.clear_log();
    let noop = run(&mut fixture, &store).await;
    assert!(noop.planned.is_empty(), "{vendor}: {:?}", noop.planned);
    assert_eq!(noop.source.desired_users, users);
    assert_eq!(
        (emulator.read_count(), emulator.write_count()),
        (0, 0),
        "{vendor}: a no-op run sent requests to Penvio"
    );
    let seen = log();
    // Token endpoints by path (Entra's delta links carry `$deltatoken` in
    // their query).
    let tokens = seen
        .iter()
        .filter(|l| l.split('?').next().unwrap_or_default().contains("token"))
        .count();
    (seen.len() - tokens, tokens)
}

async fn okta(emulator: &Emulator, users: usize) -> Measured {
    use okta_fake::{API_TOKEN, OktaFake};
    let fake = OktaFake::start(OKTA_PAGE).await;
    for i in 0..users {
        fake.add_user(&format!("00u{i:07}"), &email(i), "First", "Last", "ACTIVE");
    }
    let g = groups(users);
    for j in 0..g {
        let ids: Vec<String> = members(j, users)
            .iter()
            .map(|i| format!("00u{i:07}"))
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        fake.add_group(
            &format!("00g{j:05}"),
            &format!("Team {j}"),
            "OKTA_GROUP",
            &refs,
        );
    }
    let block = format!(
        "    source: {{type: okta, base_url: \"{}\", token: {API_TOKEN}, requests_per_second: 1000}}\n",
        fake.base_url
    );
    let (api_requests, token_requests) = measure(
        "okta",
        emulator,
        block,
        users,
        || fake.log().iter().map(|l| l.line()).collect(),
        || fake.clear_log(),
    )
    .await;
    // Users: one delta request (lastUpdated filter). Groups: Okta has no
    // delta, so one listing; members are re-read only for groups whose
    // lastMembershipUpdated moved (none).
    Measured {
        vendor: "okta",
        api_requests,
        token_requests,
        minimum: 1 + g.div_ceil(OKTA_PAGE),
        formula: format!("1 user delta + ⌈{g} groups / {OKTA_PAGE}⌉ (user page {OKTA_USER_PAGE})"),
    }
}

async fn jumpcloud(emulator: &Emulator, users: usize) -> Measured {
    use jumpcloud_fake::{API_KEY, JumpCloudFake};
    let fake = JumpCloudFake::start().await;
    for i in 0..users {
        fake.add_user(&format!("u{i:07}"), &email(i), "First", "Last");
    }
    let g = groups(users);
    for j in 0..g {
        let ids: Vec<String> = members(j, users)
            .iter()
            .map(|i| format!("u{i:07}"))
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        fake.add_group(&format!("g{j:05}"), &format!("Team {j}"), &refs);
    }
    let block = format!(
        "    source: {{type: jumpcloud, base_url: \"{}\", api_key: {API_KEY}, page_size: {JUMPCLOUD_PAGE}, requests_per_second: 1000}}\n",
        fake.base_url
    );
    let (api_requests, token_requests) = measure(
        "jumpcloud",
        emulator,
        block,
        users,
        || fake.lines(),
        || fake.clear_log(),
    )
    .await;
    // No delta API: every run lists users and groups, and each group's
    // members (50 each: one page).
    let member_pages: usize = (0..g).map(|_| 50usize.div_ceil(JUMPCLOUD_PAGE)).sum();
    Measured {
        vendor: "jumpcloud",
        api_requests,
        token_requests,
        minimum: users.div_ceil(JUMPCLOUD_PAGE) + g.div_ceil(JUMPCLOUD_PAGE) + member_pages,
        formula: format!(
            "⌈{users} users / {JUMPCLOUD_PAGE}⌉ + ⌈{g} groups / {JUMPCLOUD_PAGE}⌉ + {member_pages} member pages (no delta API)"
        ),
    }
}

/// The Entra fake pages 2 records at a time (to force paging in its own
/// tests), so a first full read of 100,000 users is 50,000 requests: its
/// directory is capped here. The no-op is a delta round, whose cost does not
/// depend on the directory's size.
const ENTRA_MAX_USERS: usize = 1_000;

async fn entra(emulator: &Emulator, users: usize) -> Measured {
    use entra_fake::FakeEntra;
    let users = users.min(ENTRA_MAX_USERS);
    let fake = FakeEntra::start().await;
    for i in 0..users {
        fake.put_user(
            &format!("00000000-0000-0000-0000-{i:012}"),
            Some(&email(i)),
            "First",
            "Last",
        );
    }
    let g = groups(users);
    for j in 0..g {
        let id = format!("10000000-0000-0000-0000-{j:012}");
        fake.put_group(&id, &format!("Team {j}"));
        let ids: Vec<String> = members(j, users)
            .iter()
            .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        fake.add_members(&id, &refs);
    }
    let block = fake.source_block("client_secret: fake-client-secret", &[]);
    let (api_requests, token_requests) = measure(
        "entra",
        emulator,
        block,
        users,
        || fake.requests().iter().map(|l| l.target()).collect(),
        || fake.clear_requests(),
    )
    .await;
    Measured {
        vendor: "entra",
        api_requests,
        token_requests,
        minimum: 2,
        formula: format!(
            "1 users delta + 1 groups delta, members ride on the groups delta (fake capped at {users} users)"
        ),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_op_runs_send_the_minimum_requests_to_each_vendor() {
    let users = users();
    let emulator = Emulator::start(EmulatorConfig {
        tokens: vec![TOKEN.to_string()],
        max_logged_requests: 0,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let clock = std::time::Instant::now();
    let mut results = vec![okta(&emulator, users).await];
    println!("okta measured after {:?}", clock.elapsed());
    results.push(jumpcloud(&emulator, users).await);
    println!("jumpcloud measured after {:?}", clock.elapsed());
    results.push(entra(&emulator, users).await);
    println!("entra measured after {:?}", clock.elapsed());
    let mut rows = String::new();
    for m in &results {
        let ratio = m.api_requests as f64 / m.minimum as f64;
        let row = format!(
            "| B6 | {}: vendor requests for a no-op run at {users} users (+ {} token) | {} | = {} ({}) | {ratio:.2} | {} |\n",
            m.vendor,
            m.token_requests,
            m.api_requests,
            m.minimum,
            m.formula,
            if m.api_requests <= m.minimum {
                "yes"
            } else {
                "NO"
            }
        );
        print!("{row}");
        rows.push_str(&row);
    }
    if let Ok(path) = std::env::var("PENVIO_B6_TABLE") {
        std::fs::write(path, &rows).unwrap();
    }
    for m in &results {
        assert!(
            m.api_requests <= 2 * m.minimum,
            "{}: {} requests for a no-op run, minimum {} ({})",
            m.vendor,
            m.api_requests,
            m.minimum,
            m.formula
        );
    }
}
