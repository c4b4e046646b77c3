//! Active Directory specifics, where slapd cannot behave like AD: decoding
//! of recorded entries (tests/fixtures/ldap/ad-user-group.ldif: objectGUID
//! in its standard string form, userAccountControl and accountExpires,
//! group ids and member DNs), and end to end through a small fake AD
//! (binary GUIDs on the wire, range retrieval, the bind sub-code advice)
//! into the real scim2-server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

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

/// A small fake Active Directory where slapd cannot behave like one: binary
/// `objectGUID` values on the wire, a group whose `member` comes back
/// ranged (`member;range=0-1`, then `member;range=2-*`), and AD's bind
/// failure diagnostic with its `data 775` sub-code. It speaks just enough
/// LDAPv3 BER for ldap3's bind, search and unbind (no paging control in
/// its answers: one page each).
mod fake_ad {
    use ldap3::asn1::{PL, StructureTag, TagClass, parse_tag};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Every search received: (base, attributes).
    pub type SearchLog = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<String>)>>>;

    pub const PASSWORD: &str = "Correct-Horse-1";
    pub const USERS: &str = "OU=Staff,DC=corp,DC=example,DC=com";
    pub const GROUPS: &str = "OU=Groups,DC=corp,DC=example,DC=com";
    pub const BIG: &str = "CN=Big,OU=Groups,DC=corp,DC=example,DC=com";
    /// Groups whose range retrieval the fake breaks off.
    pub const BROKEN_GROUPS: &str = "OU=Broken,DC=corp,DC=example,DC=com";
    const HALF: &str = "CN=Half,OU=Broken,DC=corp,DC=example,DC=com";
    /// The diagnostic AD sends for a locked-out account (FACTS §1).
    const LOCKED: &str =
        "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 775, v4563";

    fn universal(id: u64, payload: PL) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id,
            payload,
        }
    }
    fn octets(bytes: &[u8]) -> StructureTag {
        universal(4, PL::P(bytes.to_vec()))
    }
    fn integer(value: u64, id: u64) -> StructureTag {
        let mut bytes: Vec<u8> = value
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        if bytes.first().is_none_or(|b| b & 0x80 != 0) {
            bytes.insert(0, 0);
        }
        universal(id, PL::P(bytes))
    }
    fn application(id: u64, children: Vec<StructureTag>) -> StructureTag {
        StructureTag {
            class: TagClass::Application,
            id,
            payload: PL::C(children),
        }
    }

    /// BER (definite lengths) of a tag tree.
    fn encode(tag: &StructureTag, out: &mut Vec<u8>) {
        let class = match tag.class {
            TagClass::Universal => 0x00,
            TagClass::Application => 0x40,
            TagClass::Context => 0x80,
            TagClass::Private => 0xC0,
        };
        let (constructed, body) = match &tag.payload {
            PL::P(bytes) => (0, bytes.clone()),
            PL::C(children) => {
                let mut body = Vec::new();
                for child in children {
                    encode(child, &mut body);
                }
                (0x20, body)
            }
        };
        out.push(class | constructed | tag.id as u8);
        if body.len() < 0x80 {
            out.push(body.len() as u8);
        } else {
            let len = (body.len() as u32).to_be_bytes();
            out.push(0x84);
            out.extend(len);
        }
        out.extend(body);
    }

    fn message(id: u64, op: StructureTag) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&universal(16, PL::C(vec![integer(id, 2), op])), &mut out);
        out
    }

    fn result(kind: u64, rc: u64, text: &str) -> StructureTag {
        application(
            kind,
            vec![integer(rc, 10), octets(b""), octets(text.as_bytes())],
        )
    }

    fn entry(dn: &str, attrs: &[(&str, Vec<&[u8]>)]) -> StructureTag {
        let attrs = attrs
            .iter()
            .map(|(name, values)| {
                universal(
                    16,
                    PL::C(vec![
                        octets(name.as_bytes()),
                        universal(17, PL::C(values.iter().map(|v| octets(v)).collect())),
                    ]),
                )
            })
            .collect();
        application(4, vec![octets(dn.as_bytes()), universal(16, PL::C(attrs))])
    }

    fn guid(text: &str) -> Vec<u8> {
        uuid::Uuid::parse_str(text).unwrap().to_bytes_le().to_vec()
    }

    fn person(dn: &str, id: &str, mail: &str, uac: &[u8]) -> StructureTag {
        entry(
            dn,
            &[
                ("objectGUID", vec![&guid(id)]),
                ("mail", vec![mail.as_bytes()]),
                ("givenName", vec![b"First"]),
                ("sn", vec![b"Last"]),
                ("userAccountControl", vec![uac]),
                ("accountExpires", vec![b"0"]),
            ],
        )
    }

    /// Entries answering a search (`base`, requested attributes).
    fn answer(base: &str, attributes: &[String]) -> Vec<StructureTag> {
        if base == USERS {
            vec![
                person(
                    &format!("CN=Alice Smith,{USERS}"),
                    "a5c3c8e2-5d1b-4f0e-9b7a-2c4d6e8f0a1b",
                    "alice@example.com",
                    b"512",
                ),
                person(
                    &format!("CN=Bob Jones,{USERS}"),
                    "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
                    "bob@example.com",
                    b"514",
                ),
                person(
                    &format!("CN=Carl Ranged,{USERS}"),
                    "11111111-2222-4333-8444-555555555555",
                    "carl@example.com",
                    b"66048",
                ),
            ]
        } else if base == GROUPS {
            let alice = format!("CN=Alice Smith,{USERS}");
            let bob = format!("CN=Bob Jones,{USERS}");
            vec![entry(
                BIG,
                &[
                    (
                        "objectGUID",
                        vec![&guid("7d6c5b4a-3928-4716-a5f4-e3d2c1b0a998")],
                    ),
                    ("cn", vec![b"Big"]),
                    ("member;range=0-1", vec![alice.as_bytes(), bob.as_bytes()]),
                ],
            )]
        } else if base == BROKEN_GROUPS {
            let alice = format!("CN=Alice Smith,{USERS}");
            vec![entry(
                HALF,
                &[
                    (
                        "objectGUID",
                        vec![&guid("22222222-2222-4333-8444-555555555555")],
                    ),
                    ("cn", vec![b"Half"]),
                    ("member;range=0-0", vec![alice.as_bytes()]),
                ],
            )]
        } else if base == HALF {
            // The next chunk does not continue where the first ended.
            let carl = format!("CN=Carl Ranged,{USERS}");
            vec![entry(HALF, &[("member;range=5-*", vec![carl.as_bytes()])])]
        } else if base == BIG && attributes.iter().any(|a| a == "member;range=2-*") {
            let carl = format!("CN=Carl Ranged,{USERS}");
            vec![entry(BIG, &[("member;range=2-*", vec![carl.as_bytes()])])]
        } else {
            Vec::new()
        }
    }

    fn text(tag: &StructureTag) -> String {
        match &tag.payload {
            PL::P(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            PL::C(_) => String::new(),
        }
    }

    async fn serve(mut stream: TcpStream, searches: SearchLog) {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let Ok((rest, tag)) = parse_tag(&buffer) else {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
                continue;
            };
            buffer = rest.to_vec();
            let Some(parts) = tag.expect_constructed() else {
                return;
            };
            let id = match &parts[0].payload {
                PL::P(bytes) => bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)),
                PL::C(_) => return,
            };
            let op = parts[1].clone();
            let mut out = Vec::new();
            match op.id {
                0 => {
                    let fields = op.expect_constructed().unwrap_or_default();
                    let ok = fields.get(2).is_some_and(|p| text(p) == PASSWORD);
                    let reply = if ok {
                        result(1, 0, "")
                    } else {
                        result(1, 49, LOCKED)
                    };
                    out.extend(message(id, reply));
                }
                3 => {
                    let fields = op.expect_constructed().unwrap_or_default();
                    let base = text(&fields[0]);
                    let attributes: Vec<String> = match &fields[7].payload {
                        PL::C(items) => items.iter().map(text).collect(),
                        PL::P(_) => Vec::new(),
                    };
                    for found in answer(&base, &attributes) {
                        out.extend(message(id, found));
                    }
                    searches.lock().unwrap().push((base, attributes));
                    out.extend(message(id, result(5, 0, "")));
                }
                2 => return,
                _ => out.extend(message(id, result(1, 53, "unwilling"))),
            }
            if stream.write_all(&out).await.is_err() {
                return;
            }
        }
    }

    /// The fake, on a random loopback port.
    pub struct FakeAd {
        pub url: String,
        pub searches: SearchLog,
    }

    impl FakeAd {
        pub async fn start() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("ldap://{}", listener.local_addr().unwrap());
            let searches = std::sync::Arc::default();
            let log = std::sync::Arc::clone(&searches);
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, std::sync::Arc::clone(&log)));
                }
            });
            FakeAd { url, searches }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fake_ad_end_to_end_guids_ranges_status_and_bind_advice() {
    use common::{Fixture, Scim2Server, find, member_ids};
    use fake_ad::{BIG, BROKEN_GROUPS, FakeAd, GROUPS, PASSWORD, USERS};

    let server = Scim2Server::start();
    let ad = FakeAd::start().await;
    let block = |password: &str| {
        format!(
            "    source: {{type: ldap, flavor: active_directory, url: '{}', bind_dn: 'svc@corp.example.com', bind_password: '{password}', base_dn: 'DC=corp,DC=example,DC=com', user_base: '{USERS}', group_base: '{GROUPS}'}}\n",
            ad.url
        )
    };
    let mut fixture = Fixture::new(&server.org_url("ad"));
    fixture.source_block = Some(block(PASSWORD));
    let report = fixture.sync().await;
    assert_eq!(
        report.exit_code,
        penvio_sync::report::exit::EXIT_OK,
        "{report:#?}"
    );
    let users = server.list("ad", "Users").await;
    let alice = find(&users, "userName", "alice@example.com").unwrap();
    assert_eq!(
        alice["externalId"], "a5c3c8e2-5d1b-4f0e-9b7a-2c4d6e8f0a1b",
        "objectGUID string form"
    );
    assert!(
        find(&users, "userName", "bob@example.com").is_none(),
        "514: disabled, not provisioned"
    );
    let carl = find(&users, "userName", "carl@example.com").unwrap();
    assert_eq!(carl["externalId"], "11111111-2222-4333-8444-555555555555");
    let groups = server.list("ad", "Groups").await;
    let big = find(&groups, "displayName", "Big").unwrap();
    let mut expected = vec![
        alice["id"].as_str().unwrap().to_string(),
        carl["id"].as_str().unwrap().to_string(),
    ];
    expected.sort();
    assert_eq!(
        member_ids(big),
        expected,
        "carl came from the second range chunk"
    );
    let searches = ad.searches.lock().unwrap().clone();
    assert!(
        searches.contains(&(BIG.to_string(), vec!["member;range=2-*".to_string()])),
        "{searches:#?}"
    );

    // A range retrieval that breaks off fails the run: nobody leaves Big
    // and nobody is deactivated on an incomplete member list.
    fixture.source_block = Some(block(PASSWORD).replace(GROUPS, BROKEN_GROUPS));
    let report = fixture.sync().await;
    assert_eq!(
        report.exit_code,
        penvio_sync::report::exit::EXIT_RUN_FAILED,
        "{report:#?}"
    );
    let error = report.error.unwrap();
    assert!(error.contains("range retrieval"), "{error}");
    assert!(error.contains("CN=Half"), "{error}");
    assert_eq!(server.list("ad", "Groups").await, groups, "teams unchanged");

    fixture.source_block = Some(block("wrong"));
    let report = fixture.sync().await;
    assert_eq!(
        report.exit_code,
        penvio_sync::report::exit::EXIT_RUN_FAILED,
        "{report:#?}"
    );
    let error = report.error.unwrap();
    assert!(error.contains("AD code 775"), "{error}");
    assert!(error.contains("locked out"), "{error}");
    assert!(
        error.contains("connections[0].source.bind_password"),
        "{error}"
    );
}
