//! Budget B6 of issue 7: the requests each source adapter sends to its
//! vendor for a no-op run, beside the minimum the vendor API allows (pages
//! at the vendor's largest page size; a delta API: one request per resource).
//!
//! Each vendor's fake (test-only modules) holds `PENVIO_B6_USERS` users
//! (2,000 by default, so this is a normal, quick test in CI; `scripts/bench`
//! sets 100,000) in `users / 1,000` groups of 50, and pages at the vendor's
//! documented page size. A first sync provisions them into an emulator (one
//! per source, dropped after); the second is the measured no-op, which must
//! plan nothing and send nothing to Penvio. Token requests are counted apart
//! (an access token is fetched per run where the vendor uses OAuth).
//!
//! Covered: Okta (System Log and incremental users), JumpCloud (no delta API), Entra (delta,
//! pages of 200 records as Graph serves them), OneLogin (`updated_since` on
//! users plus every user id for deletions, roles and role members in full),
//! PingOne (no delta API; member and nesting reads per group), Google
//! Workspace (no delta API; members per group with derived membership), and
//! the generic SCIM source (a second
//! emulator as the source directory). `PENVIO_B6_VENDORS=okta,scim` runs
//! some of them only.
//!
//! At 100,000 users the whole test takes about two minutes (release, 2
//! cores), mostly the six provisioning syncs; Entra's first round is paced
//! by the adapter's fixed 25 requests/s, the SCIM source by its 20.
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
mod google_fake;
mod jumpcloud_fake;
mod okta_fake;
mod onelogin_fake;
mod pingone_fake;

use std::sync::Arc;
use std::time::Instant;

use common::{Fixture, TOKEN};
use penvio_sync::emulator::{Emulator, EmulatorConfig, ResourceKind};
use penvio_sync::report::RunReport;
use penvio_sync::report::exit::EXIT_OK;
use penvio_sync::state::{RedbStateStore, StateStore};
use penvio_sync::sync::{RunOptions, run_connection};
use serde_json::json;

/// Okta's largest page of `/api/v1/users` (its documented maximum).
const OKTA_USER_PAGE: usize = 200;
/// The Okta fake's page cap for every listing: Okta documents 200 as the
/// most per page it recommends for groups and group members.
const OKTA_PAGE: usize = 200;
/// JumpCloud's cap on `limit` for v1 `/api/systemusers` and v2 listings.
const JUMPCLOUD_PAGE: usize = 100;
/// Graph's page for a delta round: 200 directory objects, what Graph serves
/// without `Prefer: odata.maxpagesize` and its cap with it (FACTS only says
/// "server-chosen"; the figure is Microsoft's answer on Microsoft Q&A). The
/// no-op's cost does not depend on it; the first round's does.
const ENTRA_DELTA_PAGE: usize = 200;
/// Members in the `members@delta` of one group record (a group of 50 fits
/// one record; the no-op reads none).
const ENTRA_MEMBERS_PER_RECORD: usize = 100;
/// OneLogin's largest `limit` on v2 listings (spec: "max 100"); the adapter
/// always asks for it.
const ONELOGIN_PAGE: usize = 100;
/// PingOne's largest `limit` on users and groups (spec: 1..1000); the
/// adapter's `page_size` defaults to it.
const PINGONE_PAGE: usize = pingone_fake::MAX_LIMIT;
/// Google's `maxResults` caps: `users.list` 500, `groups.list` and
/// `members.list` 200 (discovery document); the adapter always asks for them.
const GOOGLE_USER_PAGE: usize = 500;
const GOOGLE_GROUP_PAGE: usize = 200;
/// Largest `count` of the generic SCIM source (`page_size` 1..=1000), and
/// the emulator's page cap (`DEFAULT_PAGE_SIZE_MAX`).
const SCIM_PAGE: usize = 1000;
/// Members per group.
const GROUP_SIZE: usize = 50;

fn users() -> usize {
    std::env::var("PENVIO_B6_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// Whether `PENVIO_B6_VENDORS` (a comma list; unset: all) names `vendor`.
fn wanted(vendor: &str) -> bool {
    std::env::var("PENVIO_B6_VENDORS")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .is_none_or(|v| v.split(',').any(|name| name.trim() == vendor))
}

fn groups(users: usize) -> usize {
    (users / 1_000).max(2)
}

/// Members of group `g`: 50 consecutive users.
fn members(g: usize, users: usize) -> Vec<usize> {
    (0..GROUP_SIZE)
        .map(|k| (g * GROUP_SIZE + k) % users)
        .collect()
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
    /// B2 through this vendor's fake: the no-op `penvio-sync sync` as a
    /// process of its own (wall seconds, peak RSS in KiB), where measured.
    process: Option<(f64, u64)>,
}

/// Vendors whose no-op run is also measured as a whole process (B2 through
/// an adapter, beside B2 of the `file` source in `scripts/bench`).
const PROCESS_MEASURED: &[&str] = &["okta"];

/// Runs the fixture's connection with a fast target (the provisioning run
/// is setup, not measured).
async fn run(fixture: &mut Fixture, store: &Arc<dyn StateStore>) -> RunReport {
    let config = fast_config(fixture);
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

/// The fixture's config with a target fast enough not to pace the setup.
fn fast_config(fixture: &Fixture) -> String {
    fixture
        .config_text(TOKEN)
        .replace("requests_per_second: 500", "requests_per_second: 100000")
        .replace("burst: 50", "burst: 100000")
        .replace("concurrency: 4", "concurrency: 16")
}

/// Whole-process no-op runs measured per vendor; the figures are medians.
const PROCESS_RUNS: usize = 3;

/// [`whole_process_noop`] `PROCESS_RUNS` times: the median wall time and
/// the median peak RSS (each run is the same no-op; one slow start or a
/// busy neighbour should not decide the figure).
fn median_process_noop(fixture: &Fixture, emulator: &Emulator) -> (f64, u64) {
    let runs: Vec<(f64, u64)> = (0..PROCESS_RUNS)
        .map(|_| whole_process_noop(fixture, emulator))
        .collect();
    let mut walls: Vec<f64> = runs.iter().map(|r| r.0).collect();
    let mut peaks: Vec<u64> = runs.iter().map(|r| r.1).collect();
    walls.sort_by(f64::total_cmp);
    peaks.sort_unstable();
    println!("whole-process no-op runs (s, KiB): {runs:?}");
    (walls[PROCESS_RUNS / 2], peaks[PROCESS_RUNS / 2])
}

/// One more no-op run, by the binary as a process of its own under
/// `/usr/bin/time` (which execs fresh and then forks it, so its peak RSS is
/// the run's own, not this test process's): (wall seconds, peak KiB).
fn whole_process_noop(fixture: &Fixture, emulator: &Emulator) -> (f64, u64) {
    let config = fixture.config_path();
    std::fs::write(&config, fast_config(fixture)).unwrap();
    let figures = fixture.dir.path().join("time.txt");
    emulator.clear_log();
    let output = std::process::Command::new("time")
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(&figures)
        .arg(env!("CARGO_BIN_EXE_penvio-sync"))
        .arg("--config")
        .arg(&config)
        .args(["sync", "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["planned"], serde_json::json!({}), "{report}");
    assert_eq!((emulator.read_count(), emulator.write_count()), (0, 0));
    let text = std::fs::read_to_string(&figures).unwrap();
    let mut fields = text.split_whitespace();
    let wall: f64 = fields.next().and_then(|f| f.parse().ok()).unwrap();
    let kib: u64 = fields.next().and_then(|f| f.parse().ok()).unwrap();
    (wall, kib)
}

/// What a vendor's fake reports about the requests it received.
struct Counters<R, C, T> {
    /// API requests so far (token requests left out).
    requests: R,
    /// Forgets them.
    clear: C,
    /// Token requests so far.
    tokens: T,
}

/// First sync (provisioning), then the measured no-op: (API requests,
/// token requests) of the no-op.
async fn measure<R, C, T>(
    vendor: &'static str,
    source_block: String,
    users: usize,
    counters: Counters<R, C, T>,
) -> (usize, usize, Option<(f64, u64)>)
where
    R: Fn() -> usize,
    C: Fn(),
    T: Fn() -> usize,
{
    // A target of its own per vendor, dropped after: six provisioned copies
    // of 100,000 users would hold gigabytes for nothing.
    let emulator = target().await;
    let clock = Instant::now();
    let mut fixture = Fixture::new(&emulator.base_url(vendor));
    fixture.source_block = Some(source_block);
    let store: Arc<dyn StateStore> = Arc::new(RedbStateStore::open(&fixture.state_dir()).unwrap());
    let first = run(&mut fixture, &store).await;
    assert_eq!(first.source.desired_users, users, "{vendor}: {first:#?}");
    let provisioned = clock.elapsed();

    (counters.clear)();
    let tokens_before = (counters.tokens)();
    emulator.clear_log();
    let noop = run(&mut fixture, &store).await;
    assert!(noop.planned.is_empty(), "{vendor}: {:?}", noop.planned);
    assert_eq!(noop.source.desired_users, users);
    assert_eq!(
        (emulator.read_count(), emulator.write_count()),
        (0, 0),
        "{vendor}: a no-op run sent requests to Penvio"
    );
    println!(
        "{vendor}: first sync {provisioned:.1?}, no-op {:.1?}",
        clock.elapsed() - provisioned
    );
    let counted = ((counters.requests)(), (counters.tokens)() - tokens_before);
    // The binary opens the state file itself: this process lets go of it.
    drop(store);
    let process = PROCESS_MEASURED
        .contains(&vendor)
        .then(|| median_process_noop(&fixture, &emulator));
    (counted.0, counted.1, process)
}

/// Whether a request path is a token endpoint's (the fakes that log token
/// requests with the others).
fn is_token(path: &str) -> bool {
    path.ends_with("/token")
}

async fn okta(users: usize) -> Measured {
    use okta_fake::{API_TOKEN, OktaFake};
    let fake = OktaFake::start(OKTA_PAGE).await;
    // The org last changed an hour ago: the no-op measured is a quiet org's,
    // not one inside the five minutes a `lastUpdated` read overlaps.
    fake.set_clock_offset(-3_600_000);
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
    let (api_requests, token_requests, process) = measure(
        "okta",
        block,
        users,
        Counters {
            requests: || fake.log().iter().filter(|l| !is_token(&l.path)).count(),
            clear: || fake.clear_log(),
            tokens: || fake.token_requests().0 as usize,
        },
    )
    .await;
    // Removals: one System Log read (lifecycle and membership events since
    // the last position; none). Users: one delta request (lastUpdated
    // filter). Groups: Okta has no delta, so one listing; members are
    // re-read only for groups whose lastMembershipUpdated moved (none).
    Measured {
        vendor: "okta",
        api_requests,
        token_requests,
        minimum: 2 + g.div_ceil(OKTA_PAGE),
        process,
        formula: format!(
            "1 System Log read (removals) + 1 user delta + ⌈{g} groups / {OKTA_PAGE}⌉ (user page {OKTA_USER_PAGE})"
        ),
    }
}

async fn jumpcloud(users: usize) -> Measured {
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
    let (api_requests, token_requests, process) = measure(
        "jumpcloud",
        block,
        users,
        Counters {
            requests: || fake.log().iter().filter(|l| !is_token(&l.path)).count(),
            clear: || fake.clear_log(),
            tokens: || fake.token_requests().0 as usize,
        },
    )
    .await;
    // No delta API: every run lists users and groups, and each group's
    // members. v1 users carry `totalCount`, so the last page is known; v2
    // lists (groups, members) carry no total JumpCloud promises (FACTS:
    // `x-total-count` [?]), so they end on a page shorter than `limit`:
    // ⌊n / limit⌋ + 1 pages (an empty one when n is a multiple of it).
    let v2_pages = |n: usize| n / JUMPCLOUD_PAGE + 1;
    let member_pages = g * v2_pages(GROUP_SIZE);
    Measured {
        vendor: "jumpcloud",
        process,
        api_requests,
        token_requests,
        minimum: users.div_ceil(JUMPCLOUD_PAGE) + v2_pages(g) + member_pages,
        formula: format!(
            "⌈{users} users / {JUMPCLOUD_PAGE}⌉ (totalCount) + ⌊{g} groups / {JUMPCLOUD_PAGE}⌋ + 1 + {member_pages} member pages (v2: no total, ends on a short page; no delta API)"
        ),
    }
}

async fn entra(users: usize) -> Measured {
    use entra_fake::FakeEntra;
    let fake = FakeEntra::start_paged(ENTRA_DELTA_PAGE, ENTRA_MEMBERS_PER_RECORD).await;
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
    let block = fake.source_block(
        "client_secret: fake-client-secret",
        &["requests_per_second: 1000"],
    );
    let (api_requests, token_requests, process) = measure(
        "entra",
        block,
        users,
        Counters {
            requests: || fake.requests().len(),
            clear: || fake.clear_requests(),
            tokens: || fake.token_requests() as usize,
        },
    )
    .await;
    Measured {
        vendor: "entra",
        process,
        api_requests,
        token_requests,
        minimum: 2,
        formula: format!(
            "1 users delta + 1 groups delta, members ride on the groups delta (delta page {ENTRA_DELTA_PAGE})"
        ),
    }
}

async fn onelogin(users: usize) -> Measured {
    use onelogin_fake::{CLIENT_ID, CLIENT_SECRET, OneLoginFake};
    let fake = OneLoginFake::start(ONELOGIN_PAGE).await;
    // OneLogin ids are integers; every user in the default group 1.
    for i in 0..users {
        fake.add_user(i as u64 + 1, &email(i), "First", "Last", 1, 1);
    }
    let r = groups(users);
    for j in 0..r {
        let ids: Vec<u64> = members(j, users).iter().map(|i| *i as u64 + 1).collect();
        fake.add_role(1_000_000 + j as u64, &format!("Team {j}"), &ids);
    }
    let block = format!(
        "    source: {{type: onelogin, base_url: \"{}\", client_id: {CLIENT_ID}, client_secret: {CLIENT_SECRET}, requests_per_second: 1000}}\n",
        fake.base_url
    );
    let (api_requests, token_requests, process) = measure(
        "onelogin",
        block,
        users,
        Counters {
            requests: || fake.log().iter().filter(|l| !is_token(&l.path)).count(),
            clear: || fake.clear_log(),
            tokens: || fake.token_requests() as usize,
        },
    )
    .await;
    // Users: `updated_since` (the newest user comes back: `updated_since`
    // is inclusive) fits one page; deletions leave no trace there, so every
    // user id is listed too (`fields=id`, 100 a page). Roles and role
    // members have no delta in OneLogin: the role listing, and each role's
    // users (50: one page).
    let member_pages = r * GROUP_SIZE.div_ceil(ONELOGIN_PAGE);
    let id_pages = users.div_ceil(ONELOGIN_PAGE);
    Measured {
        vendor: "onelogin",
        process,
        api_requests,
        token_requests,
        minimum: 1 + id_pages + r.div_ceil(ONELOGIN_PAGE) + member_pages,
        formula: format!(
            "1 user delta (updated_since) + ⌈{users} user ids / {ONELOGIN_PAGE}⌉ (deletions) + ⌈{r} roles / {ONELOGIN_PAGE}⌉ + {member_pages} role member pages (no delta for roles)"
        ),
    }
}

async fn pingone(users: usize) -> Measured {
    use pingone_fake::{CLIENT_SECRET, FakePingOne};
    let fake = FakePingOne::start_with_page_cap(PINGONE_PAGE).await;
    for i in 0..users {
        fake.put_user(
            &format!("20000000-0000-4000-8000-{i:012}"),
            &email(i),
            "First",
            "Last",
        );
    }
    let g = groups(users);
    for j in 0..g {
        let id = format!("30000000-0000-4000-8000-{j:012}");
        fake.put_group(&id, &format!("Team {j}"), None);
        let ids: Vec<String> = members(j, users)
            .iter()
            .map(|i| format!("20000000-0000-4000-8000-{i:012}"))
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        fake.add_members(&id, &refs);
    }
    let block = fake.source_block(
        &format!("client_secret: {CLIENT_SECRET}"),
        &["requests_per_second: 1000"],
    );
    let (api_requests, token_requests, process) = measure(
        "pingone",
        block,
        users,
        Counters {
            requests: || fake.requests().len(),
            clear: || fake.clear_requests(),
            tokens: || fake.token_requests() as usize,
        },
    )
    .await;
    // No delta API: every run lists users and groups; per group, its
    // members (the `memberOfGroups` filter on users, 50: one page) and the
    // groups it is nested in (nesting is on no listing; needed to flatten).
    let member_pages = g * GROUP_SIZE.div_ceil(PINGONE_PAGE);
    Measured {
        vendor: "pingone",
        process,
        api_requests,
        token_requests,
        minimum: users.div_ceil(PINGONE_PAGE) + g.div_ceil(PINGONE_PAGE) + member_pages + g,
        formula: format!(
            "⌈{users} users / {PINGONE_PAGE}⌉ + ⌈{g} groups / {PINGONE_PAGE}⌉ + {member_pages} member pages + {g} nesting reads (no delta API)"
        ),
    }
}

async fn google(users: usize) -> Measured {
    use google_fake::FakeGoogle;
    let fake = FakeGoogle::start_with_page_cap(GOOGLE_USER_PAGE).await;
    // The impersonated admin is one of the users.
    let id = |i: usize| {
        if i + 1 == users {
            "u-admin".to_string()
        } else {
            format!("1{i:020}")
        }
    };
    for i in 0..users - 1 {
        fake.put_user(&id(i), &email(i), "First", "Last");
    }
    let g = groups(users);
    for j in 0..g {
        let group = format!("0{j:014}");
        fake.put_group(
            &group,
            &format!("team{j}@example.com"),
            &format!("Team {j}"),
        );
        let ids: Vec<String> = members(j, users).iter().map(|i| id(*i)).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        fake.add_members(&group, &refs);
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("google-key.json");
    std::fs::write(&key, fake.key_file()).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let block = fake.source_block(&key, &["requests_per_second: 1000"]);
    let (api_requests, token_requests, process) = measure(
        "google",
        block,
        users,
        Counters {
            requests: || fake.requests().len(),
            clear: || fake.clear_requests(),
            tokens: || fake.token_requests() as usize,
        },
    )
    .await;
    // No delta API: every run lists users and groups, and each group's
    // members (50: one page).
    let member_pages = g * GROUP_SIZE.div_ceil(GOOGLE_GROUP_PAGE);
    Measured {
        vendor: "google",
        process,
        api_requests,
        token_requests,
        minimum: users.div_ceil(GOOGLE_USER_PAGE) + g.div_ceil(GOOGLE_GROUP_PAGE) + member_pages,
        formula: format!(
            "⌈{users} users / {GOOGLE_USER_PAGE}⌉ + ⌈{g} groups / {GOOGLE_GROUP_PAGE}⌉ + {member_pages} member pages (no delta API)"
        ),
    }
}

async fn scim(users: usize) -> Measured {
    // The source directory: another emulator, seeded without HTTP.
    let source = target().await;
    let org = "idp";
    let mut ids = Vec::with_capacity(users);
    for i in 0..users {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": email(i),
            "name": {"givenName": "First", "familyName": "Last"},
            "emails": [{"value": email(i), "type": "work", "primary": true}],
            "active": true,
        });
        let stored = source.insert(org, ResourceKind::User, &user).unwrap();
        ids.push(stored["id"].as_str().unwrap().to_string());
    }
    let g = groups(users);
    for j in 0..g {
        let members: Vec<_> = members(j, users)
            .iter()
            .map(|i| json!({"value": ids[*i]}))
            .collect();
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": format!("Team {j}"),
            "members": members,
        });
        source.insert(org, ResourceKind::Group, &group).unwrap();
    }
    let block = format!(
        "    source: {{type: scim, base_url: \"{}\", token: {TOKEN}, page_size: {SCIM_PAGE}, requests_per_second: 1000}}\n",
        source.base_url(org)
    );
    let (api_requests, token_requests, process) = measure(
        "scim",
        block,
        users,
        Counters {
            requests: || source.read_count() + source.write_count(),
            clear: || source.clear_log(),
            tokens: || 0,
        },
    )
    .await;
    // No delta: users and groups (members inline) at the largest page.
    Measured {
        vendor: "scim",
        process,
        api_requests,
        token_requests,
        minimum: users.div_ceil(SCIM_PAGE) + g.div_ceil(SCIM_PAGE),
        formula: format!(
            "⌈{users} users / {SCIM_PAGE}⌉ + ⌈{g} groups / {SCIM_PAGE}⌉, members inline (no delta)"
        ),
    }
}

/// An emulator accepting the fixture's token, keeping no request log.
async fn target() -> Emulator {
    Emulator::start(EmulatorConfig {
        tokens: vec![TOKEN.to_string()],
        max_logged_requests: 0,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn no_op_runs_send_the_minimum_requests_to_each_vendor() {
    let users = users();
    let clock = Instant::now();
    let mut results = Vec::new();
    macro_rules! vendor {
        ($name:ident) => {
            if wanted(stringify!($name)) {
                results.push($name(users).await);
                println!(
                    "{} measured after {:.1?}",
                    stringify!($name),
                    clock.elapsed()
                );
            }
        };
    }
    vendor!(okta);
    vendor!(jumpcloud);
    vendor!(entra);
    vendor!(onelogin);
    vendor!(pingone);
    vendor!(google);
    vendor!(scim);
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
        if let Some((wall, kib)) = m.process {
            let (ms, mib) = (wall * 1000.0, kib as f64 / 1024.0);
            let b2 = format!(
                "| B2 | {}: no-op `penvio-sync sync` at {users} users through its fake, whole process, median of 3: wall | {ms:.0} ms | ≤ 250 ms | {:.2} | {} |\n| B2 | {}: the same run's peak RSS | {mib:.0} MiB | ≤ 100 MiB | {:.2} | {} |\n",
                m.vendor,
                ms / 250.0,
                if ms <= 250.0 { "yes" } else { "NO" },
                m.vendor,
                mib / 100.0,
                if mib <= 100.0 { "yes" } else { "NO" },
            );
            print!("{b2}");
            rows.push_str(&b2);
        }
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
