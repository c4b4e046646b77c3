//! Active Directory specifics on recorded entries
//! (tests/fixtures/ldap/ad-user-group.ldif; slapd cannot behave like AD):
//! objectGUID in its standard string form, userAccountControl and
//! accountExpires, group ids and member DNs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use penvio_sync::config::{LdapAttributes, LdapFlavor};
use penvio_sync::source::ldap::fuzz::{Entry, entry_id, normalize_dn, read_user};

/// The LDIF records of the fixture (no line folding in it), base64 values
/// (`attr:: …`) decoded.
fn records() -> Vec<Entry> {
    let text = include_str!("fixtures/ldap/ad-user-group.ldif");
    let mut entries = Vec::new();
    for block in text.split("\n\n") {
        let mut dn = String::new();
        let mut attrs: Vec<(String, Vec<u8>)> = Vec::new();
        for line in block
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (name, value) = line.split_once(':').unwrap();
            let value = match value.strip_prefix(':') {
                Some(b64) => base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .unwrap(),
                None => value.trim().as_bytes().to_vec(),
            };
            if name == "dn" {
                dn = String::from_utf8(value).unwrap();
            } else {
                attrs.push((name.to_string(), value));
            }
        }
        if !dn.is_empty() {
            let pairs: Vec<(&str, &[u8])> = attrs
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_slice()))
                .collect();
            entries.push(Entry::new(&dn, &pairs));
        }
    }
    entries
}

fn names() -> LdapAttributes {
    LdapAttributes {
        id: "objectGUID".into(),
        email: "mail".into(),
        given_name: "givenName".into(),
        family_name: "sn".into(),
        display_name: "displayName".into(),
        group_name: "cn".into(),
        login: "sAMAccountName".into(),
    }
}

fn entry(cn: &str) -> Entry {
    records()
        .into_iter()
        .find(|e| e.dn.starts_with(&format!("CN={cn},")))
        .unwrap_or_else(|| panic!("{cn} not in the fixture"))
}

/// 2026-12-06T00:00:00Z.
const NOW: i64 = 1_796_515_200;

#[test]
fn recorded_users_have_guid_ids_and_ad_status() {
    let alice = read_user(
        &entry("Alice Smith"),
        LdapFlavor::ActiveDirectory,
        &names(),
        NOW,
    )
    .unwrap();
    assert_eq!(
        alice.id, "a5c3c8e2-5d1b-4f0e-9b7a-2c4d6e8f0a1b",
        "MS-DTYP string form"
    );
    assert_eq!(alice.email.as_deref(), Some("alice.smith@example.com"));
    assert_eq!(alice.given_name.as_deref(), Some("Alice"));
    assert!(alice.active, "userAccountControl 512, accountExpires never");
    assert_eq!(alice.attributes["sAMAccountName"], "asmith");

    let bob = read_user(
        &entry("Bob Jones"),
        LdapFlavor::ActiveDirectory,
        &names(),
        NOW,
    )
    .unwrap();
    assert_eq!(bob.id, "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0");
    assert!(!bob.active, "userAccountControl 514 = ACCOUNTDISABLE");
    assert_eq!(
        bob.email, None,
        "no mail: the engine skips him with a warning"
    );

    // Bob's accountExpires (2027-01-01) alone: active before, inactive after.
    let mut enabled_bob = entry("Bob Jones");
    enabled_bob
        .attrs
        .insert("useraccountcontrol".into(), vec![b"512".to_vec()]);
    let before = read_user(&enabled_bob, LdapFlavor::ActiveDirectory, &names(), NOW).unwrap();
    assert!(before.active);
    let after = read_user(
        &enabled_bob,
        LdapFlavor::ActiveDirectory,
        &names(),
        1_798_761_600,
    )
    .unwrap();
    assert!(!after.active, "expired at 2027-01-01T00:00:00Z");
}

#[test]
fn recorded_groups_have_guid_ids_and_member_dns() {
    let engineering = entry("Engineering");
    assert_eq!(
        entry_id(&engineering, "objectGUID").as_deref(),
        Some("7d6c5b4a-3928-4716-a5f4-e3d2c1b0a998")
    );
    let members: Vec<String> = engineering
        .texts("member")
        .iter()
        .map(|d| normalize_dn(d))
        .collect();
    assert_eq!(
        members,
        [
            "cn=alice smith,ou=staff,dc=corp,dc=example,dc=com",
            "cn=bob jones,ou=staff,dc=corp,dc=example,dc=com"
        ]
    );
    let list = entry("All Staff List");
    assert_eq!(
        entry_id(&list, "objectGUID").as_deref(),
        Some("c0ffee00-1234-4abc-8def-0123456789ab")
    );
    assert_eq!(
        normalize_dn(&list.texts("member")[0]),
        normalize_dn(&engineering.dn),
        "nested: its member is Engineering"
    );
}
