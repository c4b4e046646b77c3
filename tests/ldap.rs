//! End to end: a real OpenLDAP slapd (started per test, tests/support/slapd.rs)
//! → penvio-sync's `ldap` source → the real scim2-server. Assertions are on
//! what the SCIM server holds and received, the run report and the snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support/slapd.rs"]
mod slapd;

use std::process::Command;

use common::{Fixture, Scim2Server, find, member_ids};
use penvio_sync::report::RunReport;
use penvio_sync::report::exit::{EXIT_OK, EXIT_RUN_FAILED};
use serde_json::Value;
use slapd::{BASE_DN, READER_DN, READER_PASSWORD, SIZE_LIMIT, Slapd};

/// Entries per page: with 6 users, three pages, and more than one page of
/// groups.
const PAGE_SIZE: usize = 2;

fn person(uid: &str, given: &str, family: &str, extra: &str) -> String {
    format!(
        "dn: uid={uid},ou=people,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {given} {family}\ngivenName: {given}\nsn: {family}\nmail: {uid}@example.com\n{extra}{}\n",
        if extra.is_empty() { "" } else { "\n" }
    )
}

/// Six people (linus locked by ppolicy, carol a posixAccount); Engineering
/// (ada, grace) with Platform (alan) nested in it; the posixGroup
/// developers (memberUid carol, alan); edsger in no group.
fn directory_ldif() -> String {
    let mut ldif = String::new();
    ldif += &person("ada", "Ada", "Lovelace", "");
    ldif += &person("grace", "Grace", "Hopper", "");
    ldif += &person("alan", "Alan", "Turing", "");
    ldif += &person("edsger", "Edsger", "Dijkstra", "");
    ldif += &person(
        "linus",
        "Linus",
        "Torvalds",
        "pwdAccountLockedTime: 000001010000Z",
    );
    ldif += &person(
        "carol",
        "Carol",
        "White",
        "objectClass: posixAccount\nuidNumber: 10003\ngidNumber: 10000\nhomeDirectory: /home/carol",
    );
    ldif += &format!(
        "dn: cn=platform,ou=groups,{BASE_DN}\nobjectClass: groupOfNames\ncn: Platform\nmember: uid=alan,ou=people,{BASE_DN}\n\n"
    );
    ldif += &format!(
        "dn: cn=engineering,ou=groups,{BASE_DN}\nobjectClass: groupOfNames\ncn: Engineering\nmember: uid=ada,ou=people,{BASE_DN}\nmember: UID=Grace, ou=people,{BASE_DN}\nmember: cn=platform,ou=groups,{BASE_DN}\n\n"
    );
    ldif += &format!(
        "dn: cn=developers,ou=groups,{BASE_DN}\nobjectClass: posixGroup\ncn: Developers\ngidNumber: 10000\nmemberUid: carol\nmemberUid: alan\n\n"
    );
    ldif
}

fn started() -> Slapd {
    let slapd = Slapd::start();
    slapd.modify(&directory_ldif());
    slapd
}

/// The `source:` block; `extra` is more flow-mapping keys.
fn source_block(url: &str, password: &str, extra: &str) -> String {
    format!(
        "    source: {{type: ldap, flavor: openldap, url: '{url}', bind_dn: '{READER_DN}', bind_password: '{password}', base_dn: '{BASE_DN}', page_size: {PAGE_SIZE}, timeout: 20s{extra}}}\n"
    )
}

fn fixture_for(server: &Scim2Server, org: &str, slapd: &Slapd) -> Fixture {
    let mut fixture = Fixture::new(&server.org_url(org));
    fixture.source_block = Some(source_block(&slapd.url, READER_PASSWORD, ""));
    // The directory is tiny: let a run deactivate a few of its users.
    fixture.extra_config = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"}\n".into();
    fixture
}

fn ok(report: &RunReport) {
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
}

fn user_names(users: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = users
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn id_of(users: &[Value], user_name: &str) -> String {
    find(users, "userName", user_name).unwrap_or_else(|| panic!("{user_name} not in Penvio"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn active(users: &[Value], user_name: &str) -> bool {
    find(users, "userName", user_name)
        .unwrap_or_else(|| panic!("{user_name} not in Penvio"))["active"]
        .as_bool()
        .unwrap_or(true)
}

fn ids_of(users: &[Value], names: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = names.iter().map(|n| id_of(users, n)).collect();
    ids.sort();
    ids
}

async fn team(server: &Scim2Server, org: &str, name: &str) -> Vec<String> {
    let groups = server.list(org, "Groups").await;
    member_ids(find(&groups, "displayName", name).unwrap_or_else(|| panic!("no team {name}")))
}

/// The test server: starts (its start-up time is printed), loads LDIF
/// with the overlays running, and holds the service account to its size
/// limit unless it pages: a read that does not page stops at SIZE_LIMIT
/// entries (rc 4 sizeLimitExceeded), a paged one reads everything.
#[test]
fn slapd_starts_and_only_paged_reads_see_everything() {
    let slapd = started();
    println!("slapd start-up: {:?}", slapd.startup);
    let search = |paged: bool| {
        let mut command = Command::new("ldapsearch");
        command
            .args([
                "-x",
                "-LLL",
                "-H",
                &slapd.url,
                "-D",
                READER_DN,
                "-w",
                READER_PASSWORD,
            ])
            .args(["-b", BASE_DN]);
        if paged {
            command.args(["-E", "pr=2/noprompt"]);
        }
        command
            .args(["(objectClass=inetOrgPerson)", "dn"])
            .output()
            .unwrap()
    };
    let unpaged = search(false);
    assert_eq!(
        unpaged.status.code(),
        Some(4),
        "sizeLimitExceeded without paging"
    );
    let paged = search(true);
    assert!(paged.status.success(), "{paged:?}");
    let dns = String::from_utf8_lossy(&paged.stdout)
        .matches("dn: uid=")
        .count();
    assert_eq!(dns, 6, "every person through pages of 2");
    assert!(dns > SIZE_LIMIT);
    let memberof = Command::new("ldapsearch")
        .args([
            "-x",
            "-LLL",
            "-H",
            &slapd.url,
            "-D",
            READER_DN,
            "-w",
            READER_PASSWORD,
        ])
        .args([
            "-b",
            &format!("uid=ada,ou=people,{BASE_DN}"),
            "-s",
            "base",
            "memberOf",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&memberof.stdout).contains("memberOf: cn=engineering"),
        "the memberOf overlay runs on online loads"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn provisions_then_a_no_op_run_sends_nothing() {
    let server = Scim2Server::start();
    let slapd = started();
    let mut fixture = fixture_for(&server, "l1", &slapd);

    let report = fixture.sync().await;
    ok(&report);
    let users = server.list("l1", "Users").await;
    assert_eq!(
        user_names(&users),
        [
            "ada@example.com",
            "alan@example.com",
            "carol@example.com",
            "edsger@example.com",
            "grace@example.com",
        ],
        "linus is locked: never provisioned"
    );
    assert!(
        users.len() > SIZE_LIMIT,
        "more users than one unpaged read gets"
    );
    let ada = find(&users, "userName", "ada@example.com").unwrap();
    let ada_uuid = slapd.entry_uuid(&format!("uid=ada,ou=people,{BASE_DN}"));
    assert_eq!(
        ada["externalId"],
        ada_uuid.as_str(),
        "entryUUID, not the DN"
    );
    assert_eq!(ada["name"]["givenName"], "Ada");
    assert_eq!(ada["name"]["familyName"], "Lovelace");
    assert!(find(&users, "userName", "linus@example.com").is_none());
    assert!(active(&users, "edsger@example.com"));
    assert_eq!(
        team(&server, "l1", "Engineering").await,
        ids_of(
            &users,
            &["ada@example.com", "grace@example.com", "alan@example.com"]
        ),
        "nested Platform flattened; a DN spelled differently still matches"
    );
    assert_eq!(
        team(&server, "l1", "Developers").await,
        ids_of(&users, &["alan@example.com", "carol@example.com"]),
        "posixGroup memberUid resolved to users"
    );

    // No-op: nothing sent to Penvio; the LDAP reads are paged: 1 bind +
    // 3 user pages (6 users) + 1 page of locked users + 2 group pages.
    let before = server.request_counts("l1").await;
    let report = fixture.sync().await;
    ok(&report);
    assert_eq!(
        server.request_counts("l1").await,
        before,
        "no writes, no reads"
    );
    let sent = &report.target_requests;
    assert_eq!(
        (sent.reads, sent.writes),
        (0, 0),
        "0 Penvio requests: {report:#?}"
    );
    assert_eq!(report.source_requests, 7, "{report:#?}");
    println!(
        "no-op run: {} LDAP requests, 0 Penvio requests",
        report.source_requests
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_renames_moves_deletes_and_group_changes() {
    let server = Scim2Server::start();
    let slapd = started();
    let mut fixture = fixture_for(&server, "l2", &slapd);
    ok(&fixture.sync().await);
    let users = server.list("l2", "Users").await;
    let grace_id = id_of(&users, "grace@example.com");
    let ada_id = id_of(&users, "ada@example.com");

    // Change: a name and an email (same Penvio user).
    slapd.modify(&format!(
        "dn: uid=ada,ou=people,{BASE_DN}\nchangetype: modify\nreplace: sn\nsn: King\n-\nreplace: mail\nmail: ada.king@example.com\n"
    ));
    // Rename and move to another OU: the same Penvio user, still a member.
    slapd.modify(&format!(
        "dn: uid=grace,ou=people,{BASE_DN}\nchangetype: modrdn\nnewrdn: uid=ghopper\ndeleteoldrdn: 1\nnewsuperior: ou=contractors,{BASE_DN}\n"
    ));
    let report = fixture.sync().await;
    ok(&report);
    let users = server.list("l2", "Users").await;
    assert_eq!(id_of(&users, "ada.king@example.com"), ada_id);
    let ada = find(&users, "userName", "ada.king@example.com").unwrap();
    assert_eq!(ada["name"]["familyName"], "King");
    assert_eq!(
        id_of(&users, "grace@example.com"),
        grace_id,
        "moved, same user"
    );
    assert!(active(&users, "grace@example.com"));
    assert_eq!(users.len(), 5, "no duplicate after the move");
    assert!(
        team(&server, "l2", "Engineering").await.contains(&grace_id),
        "memberOf refint renamed her member value"
    );

    // Delete, disable, and group changes.
    slapd.modify(&format!(
        "dn: uid=edsger,ou=people,{BASE_DN}\nchangetype: delete\n"
    ));
    slapd.modify(&format!(
        "dn: uid=alan,ou=people,{BASE_DN}\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n"
    ));
    slapd.modify(&format!(
        "dn: cn=engineering,ou=groups,{BASE_DN}\nchangetype: modify\ndelete: member\nmember: uid=ada,ou=people,{BASE_DN}\n"
    ));
    slapd.modify(&format!(
        "dn: cn=developers,ou=groups,{BASE_DN}\nchangetype: modify\nadd: memberUid\nmemberUid: ada\n"
    ));
    let report = fixture.sync().await;
    ok(&report);
    let users = server.list("l2", "Users").await;
    assert!(
        !active(&users, "edsger@example.com"),
        "deleted → deactivated"
    );
    assert!(!active(&users, "alan@example.com"), "locked → deactivated");
    assert!(active(&users, "ada.king@example.com"));
    assert_eq!(
        team(&server, "l2", "Engineering").await,
        ids_of(&users, &["grace@example.com"]),
        "ada removed; alan inactive"
    );
    assert_eq!(
        team(&server, "l2", "Developers").await,
        ids_of(&users, &["ada.king@example.com", "carol@example.com"])
    );

    // Converged.
    let before = server.request_counts("l2").await;
    ok(&fixture.sync().await);
    assert_eq!(server.request_counts("l2").await.0, before.0);
}

/// The run failed, Penvio got no write and nobody was deactivated.
async fn failed_safely(server: &Scim2Server, fixture: &mut Fixture, writes_before: u64) -> String {
    let snapshot = fixture.snapshot();
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED, "{report:#?}");
    assert_eq!(server.request_counts(&fixture.org).await.0, writes_before);
    let users = server.list(&fixture.org, "Users").await;
    assert!(
        users
            .iter()
            .filter(|u| u["userName"] != "linus@example.com")
            .all(|u| u["active"] != false),
        "nothing deactivated"
    );
    assert_eq!(
        fixture.snapshot().users,
        snapshot.users,
        "snapshot untouched"
    );
    let error = report.error.unwrap();
    println!("the run failed with: {error}");
    error
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_page_deactivates_nobody() {
    let server = Scim2Server::start();
    let mut slapd = started();
    let mut fixture = fixture_for(&server, "l3", &slapd);
    ok(&fixture.sync().await);
    let (writes, _) = server.request_counts("l3").await;
    // ada is deleted, and the reader may now page through 4 entries in
    // total: pages 1 and 2 of the user listing arrive, page 3 fails
    // (sizeLimitExceeded). A partial read must not deactivate ada, nor the
    // users the missing page would have held.
    slapd.modify(&format!(
        "dn: uid=ada,ou=people,{BASE_DN}\nchangetype: delete\n"
    ));
    slapd.restart_with_reader_total(4);
    let error = failed_safely(&server, &mut fixture, writes).await;
    assert!(error.contains("reading users"), "{error}");
    assert!(error.contains("size limit"), "{error}");
    assert!(error.contains("connections[0].source.page_size"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_server_deactivates_nobody() {
    let server = Scim2Server::start();
    let mut slapd = started();
    let mut fixture = fixture_for(&server, "l4", &slapd);
    ok(&fixture.sync().await);
    let (writes, _) = server.request_counts("l4").await;
    slapd.modify(&format!(
        "dn: uid=ada,ou=people,{BASE_DN}\nchangetype: delete\n"
    ));
    slapd.kill();
    let error = failed_safely(&server, &mut fixture, writes).await;
    assert!(error.contains("cannot connect"), "{error}");
    assert!(error.contains("connections[0].source.url"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_bind_says_which_keys_to_check() {
    let server = Scim2Server::start();
    let slapd = started();
    let mut fixture = fixture_for(&server, "l5", &slapd);
    ok(&fixture.sync().await);
    let (writes, _) = server.request_counts("l5").await;
    fixture.source_block = Some(source_block(&slapd.url, "wrong-password", ""));
    let error = failed_safely(&server, &mut fixture, writes).await;
    assert!(error.contains("invalid credentials (49)"), "{error}");
    assert!(error.contains("connections[0].source.bind_dn"), "{error}");
    assert!(
        error.contains("connections[0].source.bind_password"),
        "{error}"
    );
    assert!(
        !error.contains("wrong-password"),
        "no secret shown: {error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ldaps_and_starttls_with_a_private_ca() {
    let server = Scim2Server::start();
    let slapd = Slapd::start_with(true, &[]);
    slapd.modify(&directory_ldif());
    let ca = slapd.ca_file();
    let ldaps = slapd.ldaps_url.clone().unwrap();

    // LDAPS with the CA named.
    let mut fixture = Fixture::new(&server.org_url("tls"));
    fixture.source_block = Some(source_block(
        &ldaps,
        READER_PASSWORD,
        &format!(", ca_file: '{}'", ca.display()),
    ));
    ok(&fixture.sync().await);
    assert_eq!(server.list("tls", "Users").await.len(), 5);

    // StartTLS on the plain port, same CA.
    let mut starttls = Fixture::new(&server.org_url("starttls"));
    starttls.source_block = Some(source_block(
        &slapd.url,
        READER_PASSWORD,
        &format!(", starttls: true, ca_file: '{}'", ca.display()),
    ));
    ok(&starttls.sync().await);
    assert_eq!(server.list("starttls", "Users").await.len(), 5);

    // Without the CA the certificate is not trusted: a clear message.
    let mut untrusted = Fixture::new(&server.org_url("untrusted"));
    untrusted.source_block = Some(source_block(&ldaps, READER_PASSWORD, ""));
    let report = untrusted.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED, "{report:#?}");
    let error = report.error.unwrap();
    println!("untrusted CA: {error}");
    assert!(error.contains("TLS failed"), "{error}");
    assert!(error.contains("connections[0].source.ca_file"), "{error}");
    assert!(server.list("untrusted", "Users").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn referrals_are_followed_only_when_configured() {
    let server = Scim2Server::start();
    let slapd = started();
    // A second server holds ou=partners; the first refers to it.
    let partners = Slapd::start();
    partners.modify(&format!(
        "dn: ou=partners,{BASE_DN}\nobjectClass: organizationalUnit\nou: partners\n\ndn: uid=pat,ou=partners,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: pat\ncn: Pat Partner\nsn: Partner\nmail: pat@example.com\n"
    ));
    let referral = format!("{}/ou=partners,{BASE_DN}", partners.url);
    slapd.modify(&format!(
        "dn: ou=partners,{BASE_DN}\nobjectClass: referral\nobjectClass: extensibleObject\nou: partners\nref: {referral}\n"
    ));

    // Default: the continuation reference is ignored.
    let mut fixture = fixture_for(&server, "refs", &slapd);
    ok(&fixture.sync().await);
    let users = server.list("refs", "Users").await;
    assert!(find(&users, "userName", "pat@example.com").is_none());
    assert_eq!(users.len(), 5);

    // A base that is itself the referral: a clear error, nothing followed.
    let mut based = Fixture::new(&server.org_url("based"));
    based.source_block = Some(source_block(
        &slapd.url,
        READER_PASSWORD,
        &format!(", user_base: 'ou=partners,{BASE_DN}'"),
    ));
    let report = based.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED, "{report:#?}");
    let error = report.error.unwrap();
    println!("referral refused: {error}");
    assert!(error.contains(&referral), "{error}");
    assert!(error.contains("connections[0].source.user_base"), "{error}");
    assert!(error.contains("not followed"), "{error}");

    // follow_referrals: true reads pat from the second server.
    fixture.source_block = Some(source_block(
        &slapd.url,
        READER_PASSWORD,
        ", follow_referrals: true",
    ));
    let report = fixture.sync().await;
    ok(&report);
    let users = server.list("refs", "Users").await;
    assert!(active(&users, "pat@example.com"), "followed to {referral}");
    assert_eq!(users.len(), 6);
    // And the referred base works too.
    based.source_block = Some(source_block(
        &slapd.url,
        READER_PASSWORD,
        &format!(", user_base: 'ou=partners,{BASE_DN}', follow_referrals: true"),
    ));
    ok(&based.sync().await);
    assert_eq!(
        user_names(&server.list("based", "Users").await),
        ["pat@example.com"]
    );
}

/// `check --connectivity`: binds and reads the user base entry; a bad
/// password and a missing base are named.
#[tokio::test(flavor = "multi_thread")]
async fn check_connectivity_binds_and_reads_the_user_base() {
    use penvio_sync::source::{SourceError, build};
    let server = Scim2Server::start();
    let slapd = started();
    let mut fixture = fixture_for(&server, "check", &slapd);
    let check = |fixture: &Fixture| {
        let connection = fixture.connection(common::TOKEN);
        async move { build(&connection, 0).unwrap().check().await }
    };
    check(&fixture).await.unwrap();

    fixture.source_block = Some(source_block(&slapd.url, "wrong-password", ""));
    let error = check(&fixture).await.unwrap_err();
    assert!(matches!(error, SourceError::Unauthorized { .. }), "{error}");

    fixture.source_block = Some(source_block(
        &slapd.url,
        READER_PASSWORD,
        &format!(", user_base: 'ou=nowhere,{BASE_DN}'"),
    ));
    let error = check(&fixture).await.unwrap_err().to_string();
    assert!(error.contains("connections[0].source.user_base"), "{error}");
    assert!(error.contains("does not exist"), "{error}");
}
