//! Entries into the neutral model: ids (AD `objectGUID` in its standard
//! string form, `entryUUID`, `ipaUniqueID`), names, and whether an account
//! is active (AD `userAccountControl` and `accountExpires`, FreeIPA
//! `nsAccountLock`). Pure: tested on recorded entries and fuzzed.

use std::collections::BTreeMap;

use crate::config::{LdapAttributes, LdapFlavor};
use crate::model::{SkippedRecord, SourceUser};

/// `userAccountControl` ACCOUNTDISABLE (MS-ADTS 2.2.16).
pub const UAC_ACCOUNTDISABLE: i64 = 0x2;
/// `accountExpires` value meaning "never" besides 0 (MS-ADA1).
const FILETIME_NEVER: i64 = i64::MAX;
/// Seconds between 1601-01-01 (FILETIME epoch) and 1970-01-01.
const FILETIME_UNIX_OFFSET_SECS: i64 = 11_644_473_600;
/// FILETIME ticks (100 ns) per second.
const FILETIME_TICKS_PER_SEC: i64 = 10_000_000;

/// One entry as read: its DN and every attribute keyed by its lower-cased
/// name (as returned, options like `;range=0-1499` included), values raw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// The entry's DN as the server wrote it.
    pub dn: String,
    /// Lower-cased attribute name → values.
    pub attrs: BTreeMap<String, Vec<Vec<u8>>>,
}

impl Entry {
    /// Builds an entry from name/value pairs (tests, fuzzing).
    pub fn new(dn: &str, attrs: &[(&str, &[u8])]) -> Self {
        let mut entry = Entry {
            dn: dn.to_owned(),
            attrs: BTreeMap::new(),
        };
        for (name, value) in attrs {
            entry
                .attrs
                .entry(name.to_ascii_lowercase())
                .or_default()
                .push(value.to_vec());
        }
        entry
    }

    /// All values of an attribute (case-insensitive name).
    pub fn values(&self, name: &str) -> &[Vec<u8>] {
        self.attrs
            .get(&name.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// The first value as trimmed text, if any and non-empty.
    pub fn text(&self, name: &str) -> Option<String> {
        self.values(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v).trim().to_owned())
            .find(|v| !v.is_empty())
    }

    /// Every value as text.
    pub fn texts(&self, name: &str) -> Vec<String> {
        self.values(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v).trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

/// An AD `objectGUID` (16 bytes, MS-DTYP 2.3.4.2 packet form) in the
/// standard string form: the first three fields little-endian.
pub fn guid_to_string(bytes: &[u8]) -> Option<String> {
    let b: &[u8; 16] = bytes.try_into().ok()?;
    Some(format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    ))
}

/// Unix seconds an AD FILETIME (`accountExpires`) stands for; `None` for
/// "never" (0 or 0x7FFFFFFFFFFFFFFF). Errors on a value that is not a number.
pub fn account_expires_unix(value: &str) -> Result<Option<i64>, String> {
    let ticks: i64 = value
        .trim()
        .parse()
        .map_err(|_| format!("accountExpires {value:?} is not a number"))?;
    if ticks == 0 || ticks == FILETIME_NEVER {
        return Ok(None);
    }
    Ok(Some(
        ticks.div_euclid(FILETIME_TICKS_PER_SEC) - FILETIME_UNIX_OFFSET_SECS,
    ))
}

/// Whether `userAccountControl` has ACCOUNTDISABLE. AD writes it as an
/// unsigned decimal; a signed one is read too.
pub fn uac_disabled(value: &str) -> Result<bool, String> {
    let flags: i64 = value
        .trim()
        .parse()
        .map_err(|_| format!("userAccountControl {value:?} is not a number"))?;
    Ok(flags & UAC_ACCOUNTDISABLE != 0)
}

/// The attributes a user search asks for.
pub fn user_attributes(flavor: LdapFlavor, names: &LdapAttributes) -> Vec<String> {
    let mut attrs = vec![
        names.id.clone(),
        names.email.clone(),
        names.given_name.clone(),
        names.family_name.clone(),
        names.display_name.clone(),
        names.login.clone(),
    ];
    match flavor {
        LdapFlavor::ActiveDirectory => {
            attrs.push("userAccountControl".into());
            attrs.push("accountExpires".into());
        }
        LdapFlavor::FreeIpa => attrs.push("nsAccountLock".into()),
        LdapFlavor::OpenLdap | LdapFlavor::Generic => {}
    }
    attrs.dedup();
    attrs
}

/// The id of an entry: `objectGUID` rendered as a GUID string, any other id
/// attribute as its text. `None` when absent or malformed.
pub fn entry_id(entry: &Entry, id_attribute: &str) -> Option<String> {
    if id_attribute.eq_ignore_ascii_case("objectGUID") {
        return entry
            .values(id_attribute)
            .first()
            .and_then(|b| guid_to_string(b));
    }
    entry.text(id_attribute).map(|id| id.to_ascii_lowercase())
}

/// Whether the flavor's own rule finds the account disabled or expired.
fn inactive_by_flavor(entry: &Entry, flavor: LdapFlavor, now: i64) -> Result<bool, String> {
    match flavor {
        LdapFlavor::ActiveDirectory => {
            let disabled = match entry.text("userAccountControl") {
                Some(value) => uac_disabled(&value)?,
                None => false,
            };
            let expired = match entry.text("accountExpires") {
                Some(value) => account_expires_unix(&value)?.is_some_and(|at| at <= now),
                None => false,
            };
            Ok(disabled || expired)
        }
        LdapFlavor::FreeIpa => Ok(entry
            .text("nsAccountLock")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))),
        LdapFlavor::OpenLdap | LdapFlavor::Generic => Ok(false),
    }
}

fn skip(kind: &str, id: &str, reason: String) -> SkippedRecord {
    SkippedRecord {
        kind: kind.to_owned(),
        id: id.to_owned(),
        reason,
    }
}

/// A user entry as a [`SourceUser`] (active per the flavor's rule; the
/// `disabled_filter` is applied by the caller). `now`: Unix seconds.
pub fn read_user(
    entry: &Entry,
    flavor: LdapFlavor,
    names: &LdapAttributes,
    now: i64,
) -> Result<SourceUser, SkippedRecord> {
    let Some(id) = entry_id(entry, &names.id) else {
        return Err(skip(
            "user",
            &entry.dn,
            format!(
                "has no readable {} (the id attribute, `attributes.id`); is the service account allowed to read it?",
                names.id
            ),
        ));
    };
    let inactive = inactive_by_flavor(entry, flavor, now).map_err(|e| skip("user", &id, e))?;
    let mut attributes = BTreeMap::new();
    attributes.insert("dn".to_owned(), entry.dn.clone());
    if let Some(login) = entry.text(&names.login) {
        attributes.insert(names.login.clone(), login);
    }
    Ok(SourceUser {
        id,
        email: entry.text(&names.email),
        given_name: entry.text(&names.given_name),
        family_name: entry.text(&names.family_name),
        display_name: entry.text(&names.display_name),
        active: !inactive,
        attributes,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use base64::Engine;

    use super::*;

    fn b64(text: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    }

    fn ad_names() -> LdapAttributes {
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

    /// 2026-12-06, between the recorded expiry (2027-01-01) and now.
    const NOW: i64 = 1_796_515_200;

    /// Alice and Bob of tests/fixtures/ldap/ad-user-group.ldif.
    fn alice() -> Entry {
        Entry::new(
            "CN=Alice Smith,OU=Staff,DC=corp,DC=example,DC=com",
            &[
                ("objectGUID", &b64("4sjDpRtdDk+beixNbo8KGw==")),
                ("userAccountControl", b"512"),
                ("accountExpires", b"9223372036854775807"),
                ("sAMAccountName", b"asmith"),
                ("mail", b"alice.smith@example.com"),
                ("givenName", b"Alice"),
                ("sn", b"Smith"),
                ("displayName", b"Alice Smith"),
            ],
        )
    }

    fn bob() -> Entry {
        Entry::new(
            "CN=Bob Jones,OU=Staff,DC=corp,DC=example,DC=com",
            &[
                ("objectGUID", &b64("PC0eD1pLaEmHdqW0w9Lh8A==")),
                ("userAccountControl", b"514"),
                ("accountExpires", b"134432352000000000"),
            ],
        )
    }

    #[test]
    fn object_guids_render_in_the_standard_form() {
        // The pairs recorded in the fixture's header (Python uuid.bytes_le).
        let cases = [
            (
                "4sjDpRtdDk+beixNbo8KGw==",
                "a5c3c8e2-5d1b-4f0e-9b7a-2c4d6e8f0a1b",
            ),
            (
                "PC0eD1pLaEmHdqW0w9Lh8A==",
                "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
            ),
            (
                "SltsfSg5Fkel9OPSwbCpmA==",
                "7d6c5b4a-3928-4716-a5f4-e3d2c1b0a998",
            ),
            (
                "AO7/wDQSvEqN7wEjRWeJqw==",
                "c0ffee00-1234-4abc-8def-0123456789ab",
            ),
        ];
        for (wire, text) in cases {
            assert_eq!(guid_to_string(&b64(wire)).as_deref(), Some(text));
            assert_eq!(
                uuid::Uuid::from_bytes_le(b64(wire).try_into().unwrap()).to_string(),
                text,
                "agrees with the uuid crate"
            );
        }
        assert_eq!(guid_to_string(&[0; 15]), None);
        assert_eq!(guid_to_string(&[0; 17]), None);
    }

    #[test]
    fn recorded_ad_users_decode_with_status() {
        let alice = read_user(&alice(), LdapFlavor::ActiveDirectory, &ad_names(), NOW).unwrap();
        assert_eq!(alice.id, "a5c3c8e2-5d1b-4f0e-9b7a-2c4d6e8f0a1b");
        assert_eq!(alice.email.as_deref(), Some("alice.smith@example.com"));
        assert_eq!(alice.display_name.as_deref(), Some("Alice Smith"));
        assert!(alice.active, "512 = NORMAL_ACCOUNT, never expires");
        assert_eq!(alice.attributes["sAMAccountName"], "asmith");
        let bob = read_user(&bob(), LdapFlavor::ActiveDirectory, &ad_names(), NOW).unwrap();
        assert!(!bob.active, "514 = disabled");
    }

    #[test]
    fn user_account_control_and_account_expires() {
        let user = |uac: &str, expires: &str| {
            let entry = Entry::new(
                "CN=x",
                &[
                    ("objectGUID", &[7; 16]),
                    ("userAccountControl", uac.as_bytes()),
                    ("accountExpires", expires.as_bytes()),
                ],
            );
            read_user(&entry, LdapFlavor::ActiveDirectory, &ad_names(), NOW).map(|u| u.active)
        };
        // 2027-01-01 as FILETIME: in the future at NOW, past a year later.
        let jan_2027 = "134432352000000000";
        assert_eq!(account_expires_unix(jan_2027), Ok(Some(1_798_761_600)));
        assert_eq!(user("512", "0"), Ok(true), "0 = never");
        assert_eq!(user("512", "9223372036854775807"), Ok(true));
        assert_eq!(user("512", jan_2027), Ok(true), "not expired yet");
        assert_eq!(user("66048", "0"), Ok(true), "0x10200: no disable bit");
        assert_eq!(user("514", "0"), Ok(false));
        assert_eq!(user("66050", "0"), Ok(false), "0x10202");
        assert_eq!(user("512", "130000000000000000"), Ok(false), "expired 2012");
        assert!(user("x", "0").is_err(), "garbage skips the user");
        assert!(user("512", "soon").is_err());
        let later = Entry::new(
            "CN=x",
            &[
                ("objectGUID", &[7; 16]),
                ("accountExpires", jan_2027.as_bytes()),
            ],
        );
        let active = read_user(
            &later,
            LdapFlavor::ActiveDirectory,
            &ad_names(),
            1_830_000_000,
        )
        .unwrap()
        .active;
        assert!(!active, "expired by 2028");
    }

    #[test]
    fn freeipa_lock_and_missing_ids() {
        let mut names = ad_names();
        names.id = "ipaUniqueID".into();
        let locked = Entry::new(
            "uid=a,cn=users,cn=accounts,dc=x",
            &[
                ("ipaUniqueID", b"6F0A4D8E-1B2C-11EF-9A1B-525400123456"),
                ("nsAccountLock", b"TRUE"),
            ],
        );
        let user = read_user(&locked, LdapFlavor::FreeIpa, &names, NOW).unwrap();
        assert_eq!(user.id, "6f0a4d8e-1b2c-11ef-9a1b-525400123456");
        assert!(!user.active);
        let open = Entry::new(
            "uid=b,dc=x",
            &[("ipaUniqueID", b"1"), ("nsAccountLock", b"false")],
        );
        assert!(
            read_user(&open, LdapFlavor::FreeIpa, &names, NOW)
                .unwrap()
                .active
        );
        let no_id = Entry::new("uid=c,dc=x", &[("mail", b"c@x")]);
        let skipped = read_user(&no_id, LdapFlavor::FreeIpa, &names, NOW).unwrap_err();
        assert_eq!(skipped.id, "uid=c,dc=x");
        assert!(skipped.reason.contains("ipaUniqueID"), "{}", skipped.reason);
    }
}
