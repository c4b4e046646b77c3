//! Property-based fuzzing of the LDAP entry decoding (bytes the directory
//! controls): objectGUID rendering, range-retrieval attribute names,
//! FILETIME/userAccountControl values, bind diagnostics, DNs and whole
//! entries. Properties: nothing panics, valid inputs round-trip, and every
//! bad value is an `Err`/`None`, never a wrong answer.
//!
//! CI runs 256 cases per property; `PENVIO_FUZZ_CASES=100000` for a long run
//! (as in tests/fuzz_parsers.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use penvio_sync::config::{LdapAttributes, LdapFlavor};
use penvio_sync::source::ldap::fuzz::{
    Entry, account_expires_unix, ad_bind_advice, ad_bind_subcode, entry_id, guid_to_string,
    normalize_dn, parse_range_attribute, read_user, uac_disabled,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

fn cases() -> u32 {
    std::env::var("PENVIO_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn run<S: Strategy>(
    name: &str,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    if let Err(error) = runner.run(&strategy, property) {
        panic!("{name}: {error}");
    }
}

#[test]
fn guids_render_like_the_uuid_crate_and_only_from_16_bytes() {
    run(
        "guid",
        proptest::collection::vec(any::<u8>(), 0..40),
        |bytes| {
            match guid_to_string(&bytes) {
                Some(text) => {
                    prop_assert_eq!(bytes.len(), 16);
                    let expected = uuid::Uuid::from_bytes_le(bytes.clone().try_into().unwrap());
                    prop_assert_eq!(text, expected.to_string());
                }
                None => prop_assert_ne!(bytes.len(), 16),
            }
            Ok(())
        },
    );
}

#[test]
fn range_attribute_names_parse_or_are_refused() {
    let names = prop_oneof![
        any::<String>(),
        (any::<u64>(), any::<u64>(), any::<bool>()).prop_map(|(a, b, star)| {
            if star {
                format!("member;range={a}-*")
            } else {
                format!("Member;Range={a}-{b}")
            }
        }),
        "[a-z;=0-9*-]{0,30}",
    ];
    run("range", names, |name| {
        if let Some(chunk) = parse_range_attribute(&name) {
            prop_assert!(name.to_ascii_lowercase().contains(";range="));
            if let Some(high) = chunk.high {
                prop_assert!(high >= chunk.low);
                if let Some(next) = chunk.next_request() {
                    let again = parse_range_attribute(&next).unwrap();
                    prop_assert_eq!(again.low, high + 1);
                    prop_assert_eq!(again.high, None);
                }
            } else {
                prop_assert_eq!(chunk.next_request(), None);
            }
        }
        Ok(())
    });
}

#[test]
fn timestamps_and_flags_never_panic_and_round_trip() {
    run("filetime", any::<i64>(), |ticks| {
        let parsed = account_expires_unix(&ticks.to_string()).unwrap();
        if ticks == 0 || ticks == i64::MAX {
            prop_assert_eq!(parsed, None);
        } else {
            let secs = parsed.unwrap();
            prop_assert_eq!(secs, ticks.div_euclid(10_000_000) - 11_644_473_600);
        }
        prop_assert_eq!(uac_disabled(&ticks.to_string()).unwrap(), ticks & 2 != 0);
        Ok(())
    });
    run("garbage", any::<String>(), |text| {
        let _ = account_expires_unix(&text);
        let _ = uac_disabled(&text);
        if let Some(code) = ad_bind_subcode(&text) {
            prop_assert!(code.len() <= 8 && code.chars().all(|c| c.is_ascii_hexdigit()));
            let _ = ad_bind_advice(&code);
        }
        let once = normalize_dn(&text);
        if !text.contains('#') {
            // (A uniqueMember `#'…'B` suffix is stripped once, by design.)
            prop_assert_eq!(
                normalize_dn(&once),
                once.clone(),
                "normalizing is idempotent"
            );
        }
        Ok(())
    });
}

#[test]
fn arbitrary_entries_decode_or_are_skipped() {
    let names = LdapAttributes {
        id: "objectGUID".into(),
        email: "mail".into(),
        given_name: "givenName".into(),
        family_name: "sn".into(),
        display_name: "displayName".into(),
        group_name: "cn".into(),
        login: "sAMAccountName".into(),
    };
    let attribute = prop_oneof![
        Just("objectGUID".to_string()),
        Just("userAccountControl".to_string()),
        Just("accountExpires".to_string()),
        Just("mail".to_string()),
        Just("nsAccountLock".to_string()),
        "[a-zA-Z;=0-9-]{1,12}",
    ];
    let entries = proptest::collection::vec(
        (attribute, proptest::collection::vec(any::<u8>(), 0..24)),
        0..8,
    );
    run("entry", (entries, any::<i64>()), |(attrs, now)| {
        let pairs: Vec<(&str, &[u8])> = attrs
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let entry = Entry::new("CN=fuzz,DC=x", &pairs);
        for flavor in [
            LdapFlavor::ActiveDirectory,
            LdapFlavor::FreeIpa,
            LdapFlavor::OpenLdap,
        ] {
            match read_user(&entry, flavor, &names, now) {
                Ok(user) => {
                    prop_assert_eq!(Some(user.id.clone()), entry_id(&entry, "objectGUID"));
                    prop_assert_eq!(user.id.len(), 36, "a GUID string, never the DN");
                }
                Err(skip) => prop_assert!(!skip.reason.is_empty()),
            }
        }
        Ok(())
    });
}
