//! The LDAP source's test server: a real OpenLDAP slapd started per test
//! (tests/support/slapd.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/slapd.rs"]
mod slapd;

use std::process::Command;

use slapd::{BASE_DN, READER_DN, READER_PASSWORD, SIZE_LIMIT, Slapd};

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
