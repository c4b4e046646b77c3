//! Budget B6 for the `ldap` source: the LDAP requests of a no-op run over
//! `PENVIO_B6_USERS` users (2,000 by default, a quick test in CI;
//! `scripts/bench` sets 100,000) in `users / 1,000` groupOfNames of 50,
//! beside the minimum a complete read needs. slapd is loaded offline with
//! slapadd (the load time is printed), the first sync provisions into the
//! emulator, the second is the measured no-op: it must plan nothing and
//! send nothing to Penvio. `PENVIO_B6_LDAP_TABLE` names a file for the
//! table row.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support/slapd.rs"]
mod slapd;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use common::{Fixture, TOKEN};
use penvio_sync::emulator::{Emulator, EmulatorConfig};
use penvio_sync::report::RunReport;
use penvio_sync::report::exit::EXIT_OK;
use penvio_sync::state::{RedbStateStore, StateStore};
use penvio_sync::sync::{RunOptions, run_connection};
use slapd::{BASE_DN, READER_DN, READER_PASSWORD, Slapd, base_ldif};

/// Entries per page: AD's MaxPageSize, the largest page an AD admin gets
/// without changing the domain's LDAP policy.
const PAGE: usize = 1_000;
/// Members per group.
const GROUP_SIZE: usize = 50;

fn users() -> usize {
    std::env::var("PENVIO_B6_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// The directory as LDIF: the base entries, the users, the groups.
fn ldif(users: usize, groups: usize) -> String {
    let mut text = base_ldif();
    for i in 0..users {
        let _ = write!(
            text,
            "\ndn: uid=user{i},ou=people,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: user{i}\ncn: First Last{i}\ngivenName: First\nsn: Last{i}\nmail: user{i}@example.com\n"
        );
    }
    for g in 0..groups {
        let _ = write!(
            text,
            "\ndn: cn=team{g},ou=groups,{BASE_DN}\nobjectClass: groupOfNames\ncn: Team {g}\n"
        );
        for k in 0..GROUP_SIZE {
            let _ = writeln!(
                text,
                "member: uid=user{},ou=people,{BASE_DN}",
                (g * GROUP_SIZE + k) % users
            );
        }
    }
    text
}

async fn run(fixture: &Fixture, store: &Arc<dyn StateStore>) -> RunReport {
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

#[tokio::test(flavor = "multi_thread")]
async fn a_no_op_run_reads_the_directory_in_the_fewest_pages() {
    let users = users();
    let groups = (users / 1_000).max(2);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("directory.ldif");
    std::fs::write(&file, ldif(users, groups)).unwrap();
    let clock = Instant::now();
    let slapd = Slapd::start_loaded(&file);
    println!(
        "slapd: {users} users loaded with slapadd and started in {:.1?} (start-up {:.1?})",
        clock.elapsed(),
        slapd.startup
    );

    let emulator = Emulator::start(EmulatorConfig {
        tokens: vec![TOKEN.to_string()],
        max_logged_requests: 0,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let mut fixture = Fixture::new(&emulator.base_url("ldap"));
    fixture.source_block = Some(format!(
        "    source: {{type: ldap, flavor: openldap, url: '{}', bind_dn: '{READER_DN}', bind_password: '{READER_PASSWORD}', base_dn: '{BASE_DN}', page_size: {PAGE}}}\n",
        slapd.url
    ));
    let store: Arc<dyn StateStore> = Arc::new(RedbStateStore::open(&fixture.state_dir()).unwrap());
    let clock = Instant::now();
    let first = run(&fixture, &store).await;
    assert_eq!(first.source.desired_users, users, "{first:#?}");
    println!("first sync {:.1?}", clock.elapsed());

    emulator.clear_log();
    let clock = Instant::now();
    let noop = run(&fixture, &store).await;
    let took = clock.elapsed();
    assert!(noop.planned.is_empty(), "{:?}", noop.planned);
    assert_eq!(
        (emulator.read_count(), emulator.write_count()),
        (0, 0),
        "a no-op sends nothing to Penvio"
    );
    // A complete read: the bind, every page of users and of groups, and one
    // page of the (no) users the openldap default disabled_filter matches.
    let minimum = 1 + users.div_ceil(PAGE) + groups.div_ceil(PAGE) + 1;
    let figure = noop.source_requests as usize;
    let row = format!(
        "| B6 | ldap (slapd): LDAP requests for a no-op run at {users} users ({took:.1?}) | {figure} | = {minimum} (1 bind + ⌈{users} users / {PAGE}⌉ + ⌈{groups} groups / {PAGE}⌉ + 1 disabled_filter page) | {:.2} | {} |\n",
        figure as f64 / minimum as f64,
        if figure <= minimum { "yes" } else { "NO" }
    );
    print!("{row}");
    if let Ok(path) = std::env::var("PENVIO_B6_LDAP_TABLE") {
        std::fs::write(path, &row).unwrap();
    }
    assert_eq!(figure, minimum, "{noop:#?}");
}
