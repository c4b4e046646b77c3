//! Property-based fuzzing of every parser that reads bytes we do not
//! control: the config, the directory export, each vendor's response
//! pages, Penvio's SCIM responses, `Link` and `Retry-After` headers.
//!
//! `cargo fuzz` needs a nightly toolchain; these properties run on stable
//! with proptest, feeding both arbitrary bytes and structure-aware
//! mutations of valid documents (truncation, flipped bytes, wrong types,
//! huge numbers and strings, deep nesting, YAML alias bombs). The
//! properties: nothing panics, every failure is an `Err` value, and large
//! or hostile inputs finish in bounded time and memory.
//!
//! CI runs 256 cases per property. A long run (here 100,000 cases per
//! property, release build for speed):
//!
//! ```sh
//! PENVIO_FUZZ_CASES=100000 cargo test --release --test fuzz_parsers -- --test-threads=1
//! ```
//!
//! A failing case is shrunk and printed; proptest also saves its seed in
//! `tests/fuzz_parsers.proptest-regressions` (commit that file) so every
//! later run replays it first, before the random cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant, UNIX_EPOCH};

use penvio_sync::config::{self, MemoryEnvironment};
use penvio_sync::ratelimit::{RequestPacer, parse_retry_after};
use penvio_sync::scim::{Created, ErrorBody, ListResponse, ScimGroup, ScimUser};
use penvio_sync::source::FileSource;
use penvio_sync::source::fuzz::{
    LISTINGS, Listing, parse_page, parse_rfc3339, summarise_error_bodies,
};
use penvio_sync::source::kit::paging::link_next;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence, TestRunner};
use reqwest::header::{HeaderMap, HeaderValue, LINK};
use serde_json::{Value, json};

/// Cases per property: 256 in CI, `PENVIO_FUZZ_CASES` for a long run.
fn cases() -> u32 {
    std::env::var("PENVIO_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Where failing seeds are saved and replayed from (relative to the package
/// root, where `cargo test` runs test binaries).
const REGRESSIONS: FileFailurePersistence =
    FileFailurePersistence::Direct("tests/fuzz_parsers.proptest-regressions");

/// Runs `property` over `strategy` for `cases` cases and returns how many
/// ran, so the total can be printed (`--nocapture`).
fn run<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(REGRESSIONS)),
        ..ProptestConfig::default()
    });
    if let Err(error) = runner.run(&strategy, property) {
        panic!("{name}: {error}");
    }
    println!("{name}: {cases} cases");
}

/// The bound on any single parse, generous for debug builds on a busy CI
/// machine: the point is "not quadratic, not hung", not a benchmark.
const TIME_BOUND: Duration = Duration::from_secs(10);

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < TIME_BOUND, "{what} took {took:?}");
    out
}

// ---------------------------------------------------------------- seeds

const CONFIG: &str = "state_dir: /var/lib/penvio-sync\nconnections:\n  - name: main\n    source: {type: file, path: /srv/directory.yaml}\n    target:\n      url: https://penvio.io/api/scim/v2/org-1\n      token: literal-token\n      requests_per_second: 10\n    scope:\n      user_groups: [Engineering]\n      team_groups: [\"eng-*\", Design]\n    mapping:\n      displayName: \"{family_name}, {given_name}\"\n    policy:\n      max_shrinkage: 20%\n";

const EXPORT_YAML: &str = "users:\n  - {id: u1, email: ada@example.com, given_name: Ada, family_name: Lovelace}\n  - id: u2\n    email: grace@example.com\n    display_name: Grace\n    active: false\ngroups:\n  - {id: g1, name: Engineering, members: [u1, u2]}\n";

/// A valid sample body of each listing (vendor fixtures where we have them).
fn sample(listing: Listing) -> String {
    let array = |one: &str| format!("[{one}]");
    match listing {
        Listing::OktaUsers => include_str!("fixtures/okta/list-users.200.json").into(),
        Listing::OktaGroups => include_str!("fixtures/okta/list-groups.200.json").into(),
        Listing::GraphUsersDelta => include_str!("fixtures/entra/users-delta.page.200.json").into(),
        Listing::GraphGroupsDelta => {
            include_str!("fixtures/entra/groups-delta.initial-page.200.json").into()
        }
        Listing::GraphAssignments => json!({"value": [
            {"principalId": "p1", "principalType": "User"},
            {"principalId": "p2", "principalType": "Group"}
        ]})
        .to_string(),
        Listing::OneLoginUsers => array(include_str!("fixtures/onelogin/user-v2.schema-example.json")),
        Listing::OneLoginRoles => array(include_str!("fixtures/onelogin/role.schema-example.json")),
        Listing::OneLoginGroupsV1 => include_str!("fixtures/onelogin/groups-v1.200.json").into(),
        Listing::OneLoginRoleUsers => include_str!("fixtures/onelogin/role-users-v2.200.json").into(),
        Listing::JumpCloudUsers => format!(
            "{{\"totalCount\": 1, \"results\": [{}]}}",
            include_str!("fixtures/jumpcloud/systemuser.schema-shape.json")
        ),
        Listing::JumpCloudGroups => array(include_str!("fixtures/jumpcloud/usergroup.schema-shape.json")),
        Listing::JumpCloudMembers => {
            include_str!("fixtures/jumpcloud/usergroup-members.schema-shape.json").into()
        }
        Listing::PingOneUsers => include_str!("fixtures/pingone/list-users.page.json").into(),
        Listing::PingOneGroups => json!({
            "_links": {"next": {"href": "https://api.pingone.com/v1/environments/e/groups?cursor=x"}},
            "_embedded": {"groups": [
                {"id": "g1", "name": "Engineering", "population": {"id": "p1"}},
                {"id": "g2", "name": "Design"}
            ]}
        })
        .to_string(),
        Listing::PingOneMemberships => json!({
            "_embedded": {"groupMemberships": [
                {"id": "g1", "type": "DIRECT"}, {"id": "g2", "type": "INDIRECT"}, {"id": "g3"}
            ]}
        })
        .to_string(),
        Listing::GoogleUsers => include_str!("fixtures/google/users-list.schema-built.200.json").into(),
        Listing::GoogleGroups => include_str!("fixtures/google/groups-list.200.json").into(),
        Listing::GoogleMembers => {
            include_str!("fixtures/google/members-list.derived.schema-built.200.json").into()
        }
    }
}

const SCIM_LIST: &str = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":2,"itemsPerPage":2,"startIndex":1,"Resources":[{"id":"1","userName":"ada@example.com","externalId":"u1","name":{"givenName":"Ada","familyName":"Lovelace"},"displayName":"Ada","emails":[{"value":"ada@example.com","primary":true,"type":"work"}],"active":true,"groups":[{"value":"g"}]},{"id":"2","userName":"b@example.com"}]}"#;
const SCIM_GROUP: &str =
    r#"{"id":"g","displayName":"Eng","externalId":"g1","members":[{"value":"1"},{"value":"2"}]}"#;
const SCIM_ERROR: &str = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"userName taken"}"#;

// ----------------------------------------------------- structure-aware mutation

/// One change to a JSON document. Raw text (numbers JSON values cannot
/// hold, deep nesting) is spliced in after serialising, through a marker,
/// so building the document never recurses deeply itself.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace a node by a value of another type.
    WrongType(u8),
    /// Replace a node by raw number text (`1e308`, `1e400`, `-0`, 40 digits…).
    Number(u8),
    /// Replace a node by a long or hostile string.
    Text(u8, usize),
    /// Replace a node by `depth` nested arrays or objects.
    Deep(usize, bool),
    /// Remove a key or element.
    Remove,
    /// Repeat an array element many times.
    Repeat(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0u8..8).prop_map(Mutation::WrongType),
        (0u8..10).prop_map(Mutation::Number),
        ((0u8..6), (0usize..20_000)).prop_map(|(k, n)| Mutation::Text(k, n)),
        ((1usize..12_000), any::<bool>()).prop_map(|(d, o)| Mutation::Deep(d, o)),
        Just(Mutation::Remove),
        (1usize..50).prop_map(Mutation::Repeat),
    ]
}

/// A byte-level change after serialising.
#[derive(Debug, Clone)]
enum ByteEdit {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        any::<usize>().prop_map(ByteEdit::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(at, bit)| ByteEdit::Flip(at, bit)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, b)| ByteEdit::Insert(at, b)),
    ]
}

fn raw_number(kind: u8) -> String {
    [
        "1e308",
        "-1e308",
        "1e400",
        "1e-400",
        "-0",
        "18446744073709551616",
        "-9223372036854775809",
        "123456789012345678901234567890123456789",
        "0.0000000000000000000000000000001",
        "4.9e-324",
    ][usize::from(kind) % 10]
        .to_string()
}

fn hostile_text(kind: u8, len: usize) -> String {
    let unit = ["x", "\u{202E}", "\u{0}", "😀", "\\", "é\u{301}"][usize::from(kind) % 6];
    unit.repeat(len.max(1) / unit.len().max(1) + 1)
}

fn deep(depth: usize, objects: bool) -> String {
    if objects {
        format!("{}null{}", "{\"a\":".repeat(depth), "}".repeat(depth))
    } else {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }
}

/// Counts nodes in pre-order (iteratively: documents here are shallow).
fn node_count(value: &Value) -> usize {
    let mut stack = vec![value];
    let mut count = 0;
    while let Some(node) = stack.pop() {
        count += 1;
        match node {
            Value::Array(items) => stack.extend(items.iter()),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    count
}

/// Applies `f` to the `target`-th node in pre-order, with its parent.
fn with_node(value: &mut Value, target: usize, f: &mut dyn FnMut(&mut Value)) -> bool {
    fn walk(
        node: &mut Value,
        target: usize,
        seen: &mut usize,
        f: &mut dyn FnMut(&mut Value),
    ) -> bool {
        if *seen == target {
            f(node);
            return true;
        }
        *seen += 1;
        match node {
            Value::Array(items) => items.iter_mut().any(|c| walk(c, target, seen, f)),
            Value::Object(map) => map.values_mut().any(|c| walk(c, target, seen, f)),
            _ => false,
        }
    }
    let mut seen = 0;
    walk(value, target, &mut seen, f)
}

/// Applies the mutations to a JSON document and returns its bytes.
fn mutate_json(seed: &str, mutations: &[(usize, Mutation)], edits: &[ByteEdit]) -> Vec<u8> {
    let mut doc: Value = serde_json::from_str(seed).expect("seed is valid JSON");
    let mut raw = Vec::new();
    for (pick, mutation) in mutations {
        let target = pick % node_count(&doc);
        with_node(&mut doc, target, &mut |node| {
            let marker = |raw: &mut Vec<String>, text: String| {
                raw.push(text);
                Value::String(format!("@@RAW{}@@", raw.len() - 1))
            };
            *node = match mutation {
                Mutation::WrongType(k) => [
                    Value::Null,
                    json!(true),
                    json!(0),
                    json!(-1.5),
                    json!(""),
                    json!([]),
                    json!({}),
                    json!([{"id": null}]),
                ][usize::from(*k) % 8]
                    .clone(),
                Mutation::Number(k) => marker(&mut raw, raw_number(*k)),
                Mutation::Text(k, n) => Value::String(hostile_text(*k, *n)),
                Mutation::Deep(d, o) => marker(&mut raw, deep(*d, *o)),
                Mutation::Remove => match node.take() {
                    Value::Array(mut items) => {
                        items.pop();
                        Value::Array(items)
                    }
                    Value::Object(mut map) => {
                        let first = map.keys().next().cloned();
                        if let Some(key) = first {
                            map.remove(&key);
                        }
                        Value::Object(map)
                    }
                    _ => Value::Null,
                },
                Mutation::Repeat(n) => match node.take() {
                    Value::Array(items) if !items.is_empty() => {
                        Value::Array(items.iter().cycle().take(*n).cloned().collect())
                    }
                    other => other,
                },
            };
        });
    }
    let mut text = serde_json::to_string(&doc).expect("serialise");
    for (i, piece) in raw.iter().enumerate() {
        text = text.replace(&format!("\"@@RAW{i}@@\""), piece);
    }
    apply_edits(text.into_bytes(), edits)
}

fn apply_edits(mut bytes: Vec<u8>, edits: &[ByteEdit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len().max(1);
        match edit {
            ByteEdit::Truncate(at) => bytes.truncate(at % len),
            ByteEdit::Flip(at, bit) => {
                if let Some(b) = bytes.get_mut(at % len) {
                    *b ^= 1 << (bit % 8);
                }
            }
            ByteEdit::Insert(at, extra) => {
                let at = (at % len).min(bytes.len());
                bytes.splice(at..at, extra.iter().copied());
            }
        }
    }
    bytes
}

fn mutations() -> impl Strategy<Value = (Vec<(usize, Mutation)>, Vec<ByteEdit>)> {
    (
        prop::collection::vec((any::<usize>(), mutation()), 1..4),
        prop::collection::vec(byte_edit(), 0..2),
    )
}

// ---------------------------------------------------------------- config

fn load_config(text: &str) {
    let env = MemoryEnvironment::new().with_var("PENVIO_TOKEN", "t");
    let result = timed("config", || {
        config::load_str(text, Path::new("/etc/penvio-sync/config.yaml"), &env)
    });
    if let Err(error) = result {
        // Errors are values with a message naming the problem.
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn the_seed_config_is_valid() {
    let env = MemoryEnvironment::new();
    config::load_str(CONFIG, Path::new("/etc/penvio-sync/config.yaml"), &env).unwrap();
}

#[test]
fn config_parser_survives_arbitrary_bytes() {
    run(
        "config/bytes",
        cases(),
        prop::collection::vec(any::<u8>(), 0..4096),
        |bytes| {
            load_config(&String::from_utf8_lossy(&bytes));
            Ok(())
        },
    );
}

/// Line-level mutations keep the YAML mostly well-formed, so validation
/// (not only the parser) sees odd values.
#[test]
fn config_parser_survives_mutated_valid_configs() {
    let fragments = prop_oneof![
        Just("    token: ${PENVIO_TOKEN}".to_string()),
        Just("    token: ${UNSET_VARIABLE}".to_string()),
        Just("      requests_per_second: 1e308".to_string()),
        Just("      requests_per_second: -1".to_string()),
        Just("      requests_per_second: 18446744073709551616".to_string()),
        Just("    policy: {max_shrinkage: .nan}".to_string()),
        Just("    schedule: \"* * * * * * * *\"".to_string()),
        Just("      url: http://example.com/scim".to_string()),
        Just("    mapping: {display_name: \"{{{{\"}".to_string()),
        Just("&a [*a]".to_string()),
        Just("  - name: main".to_string()),
        Just("    scope: {team_groups: [\"[\"]}".to_string()),
        "[ -~]{0,80}".prop_map(|s| s),
        (1usize..5_000).prop_map(|n| format!("    name: {}", "\u{202E}x".repeat(n))),
    ];
    let strategy = (
        prop::collection::vec((any::<usize>(), 0u8..3, fragments), 1..5),
        prop::collection::vec(byte_edit(), 0..2),
    );
    run("config/mutated", cases(), strategy, |(edits, bytes)| {
        let mut lines: Vec<String> = CONFIG.lines().map(str::to_string).collect();
        for (at, op, fragment) in edits {
            let at = at % (lines.len() + 1);
            match op {
                0 => lines.insert(at, fragment),
                1 if at < lines.len() => lines[at] = fragment,
                _ if at < lines.len() => {
                    lines.remove(at);
                }
                _ => {}
            }
        }
        let text = apply_edits(lines.join("\n").into_bytes(), &bytes);
        load_config(&String::from_utf8_lossy(&text));
        Ok(())
    });
}

// ---------------------------------------------------------------- file source

fn parse_export(text: &str, is_json: bool) {
    let result = timed("file source", || FileSource::parse(text, is_json, "fuzz"));
    if let Ok(directory) = result {
        // Every record is either read or skipped with a reason.
        for skipped in &directory.skipped {
            assert!(!skipped.reason.is_empty());
        }
    }
}

#[test]
fn file_source_survives_arbitrary_bytes() {
    let strategy = (prop::collection::vec(any::<u8>(), 0..4096), any::<bool>());
    run("file/bytes", cases(), strategy, |(bytes, is_json)| {
        parse_export(&String::from_utf8_lossy(&bytes), is_json);
        Ok(())
    });
}

#[test]
fn file_source_survives_mutated_exports() {
    let seed: Value = serde_saphyr::from_str(EXPORT_YAML).unwrap();
    let seed = seed.to_string();
    run(
        "file/mutated",
        cases(),
        mutations(),
        |(mutations, edits)| {
            let bytes = mutate_json(&seed, &mutations, &edits);
            let text = String::from_utf8_lossy(&bytes);
            // JSON is also YAML: both parsers get every document.
            parse_export(&text, true);
            parse_export(&text, false);
            Ok(())
        },
    );
}

// ---------------------------------------------------------------- vendor pages

fn parse_vendor(listing: Listing, body: &[u8]) {
    let result = timed("vendor page", || parse_page(listing, body));
    match result {
        Ok(directory) => {
            for skipped in &directory.skipped {
                assert!(!skipped.reason.is_empty(), "{listing:?}");
            }
        }
        Err(message) => assert!(!message.is_empty(), "{listing:?}"),
    }
    let _ = timed("error bodies", || summarise_error_bodies(body));
}

#[test]
fn vendor_samples_parse_into_records() {
    for listing in LISTINGS {
        let directory = parse_page(*listing, sample(*listing).as_bytes())
            .unwrap_or_else(|e| panic!("{listing:?}: {e}"));
        assert!(
            !directory.users.is_empty()
                || !directory.groups.is_empty()
                || !directory.skipped.is_empty(),
            "{listing:?} sample gave nothing: {directory:?}"
        );
    }
}

#[test]
fn vendor_pages_survive_arbitrary_bytes() {
    let strategy = (
        prop::sample::select(LISTINGS.to_vec()),
        prop::collection::vec(any::<u8>(), 0..4096),
    );
    run("vendor/bytes", cases() * 2, strategy, |(listing, bytes)| {
        parse_vendor(listing, &bytes);
        Ok(())
    });
}

#[test]
fn vendor_pages_survive_mutated_samples() {
    let strategy = (prop::sample::select(LISTINGS.to_vec()), mutations());
    run(
        "vendor/mutated",
        cases() * 4,
        strategy,
        |(listing, (mutations, edits))| {
            let body = mutate_json(&sample(listing), &mutations, &edits);
            parse_vendor(listing, &body);
            Ok(())
        },
    );
}

#[test]
fn pingone_dates_never_overflow() {
    let strategy = prop_oneof![
        "[0-9TZ:+.\\- ]{0,40}".prop_map(|s| s),
        (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>()).prop_map(|(y, mo, h, off)| {
            format!("{y}-{:02}-01T{h}:00:00+{off}:00", mo.rem_euclid(13))
        }),
    ];
    // Regressions: these overflowed i64 arithmetic (a panic in debug builds).
    for text in [
        "9223372036854775807-01-01T00:00:00Z",
        "2026-01-01T00:00:00+9223372036854775807:00",
        "2026-01-01T9223372036854775807:00:00Z",
    ] {
        assert_eq!(parse_rfc3339(text), None, "{text}");
    }
    assert_eq!(parse_rfc3339("1970-01-01T00:00:10Z"), Some(10));
    run("pingone/rfc3339", cases(), strategy, |text| {
        let _ = parse_rfc3339(&text);
        let body = json!({"details": [{"innerError": {"retryAfter": text}}]}).to_string();
        let _ = summarise_error_bodies(body.as_bytes());
        Ok(())
    });
}

// ---------------------------------------------------------------- SCIM responses

fn parse_scim(body: &[u8]) {
    timed("scim", || {
        if let Ok(list) = serde_json::from_slice::<ListResponse<ScimUser>>(body) {
            for user in &list.resources {
                let _ = user.attributes();
            }
        }
        let _ = serde_json::from_slice::<ListResponse<ScimGroup>>(body);
        let _ = serde_json::from_slice::<ScimGroup>(body);
        let _ = serde_json::from_slice::<ScimUser>(body).map(|u| u.attributes());
        let _ = serde_json::from_slice::<ErrorBody>(body);
        let _ = serde_json::from_slice::<Created>(body);
    });
}

#[test]
fn scim_responses_survive_arbitrary_bytes() {
    run(
        "scim/bytes",
        cases(),
        prop::collection::vec(any::<u8>(), 0..4096),
        |bytes| {
            parse_scim(&bytes);
            Ok(())
        },
    );
}

#[test]
fn scim_responses_survive_mutated_samples() {
    let strategy = (
        prop::sample::select(vec![SCIM_LIST, SCIM_GROUP, SCIM_ERROR]),
        mutations(),
    );
    run(
        "scim/mutated",
        cases() * 2,
        strategy,
        |(seed, (mutations, edits))| {
            parse_scim(&mutate_json(seed, &mutations, &edits));
            Ok(())
        },
    );
}

// ---------------------------------------------------------------- headers

fn link_value() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        "<[ -~]{0,40}>".prop_map(|s| s),
        Just("; rel=\"next\"".to_string()),
        Just("; rel=next".to_string()),
        Just("; rel=\"self next\"".to_string()),
        Just("; rel=".to_string()),
        Just(", ".to_string()),
        Just("<".to_string()),
        Just(">".to_string()),
        Just(";".to_string()),
        Just("=".to_string()),
        "[ -~]{0,20}".prop_map(|s| s),
    ];
    prop::collection::vec(part, 0..12).prop_map(|parts| parts.concat())
}

#[test]
fn link_next_survives_arbitrary_headers() {
    let strategy = prop::collection::vec(
        prop_oneof![
            link_value().prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..200),
        ],
        0..4,
    );
    run("link_next", cases() * 2, strategy, |values| {
        let mut headers = HeaderMap::new();
        for value in &values {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.append(LINK, value);
            }
        }
        if let Some(next) = timed("link", || link_next(&headers)) {
            // The target is returned verbatim from one of the headers.
            let found = headers
                .get_all(LINK)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains(&format!("<{next}>")));
            prop_assert!(found, "{next:?} not in {headers:?}");
        }
        Ok(())
    });
}

#[test]
fn retry_after_values_never_panic_parser_or_pacer() {
    let value = prop_oneof![
        "[ -~]{0,40}".prop_map(|s| s),
        any::<u64>().prop_map(|n| n.to_string()),
        Just("18446744073709551615".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("Fri, 31 Dec 9999 23:59:59 GMT".to_string()),
        Just("Thu, 01 Jan 1970 00:00:00 GMT".to_string()),
        Just("-1".to_string()),
        Just("1.5".to_string()),
    ];
    let strategy = (value, any::<u32>());
    run("retry_after", cases() * 2, strategy, |(value, now)| {
        let now = UNIX_EPOCH + Duration::from_secs(u64::from(now));
        let parsed = parse_retry_after(&value, now);
        if let Ok(seconds) = value.trim().parse::<u64>() {
            prop_assert_eq!(parsed, Some(Duration::from_secs(seconds)));
        }
        // Whatever a server sends, pausing on it must not panic (a huge
        // value means "wait a very long time", not an Instant overflow).
        if let Some(delay) = parsed {
            let pacer = RequestPacer::new(1.try_into().unwrap(), 1.try_into().unwrap());
            pacer.pause_for(delay);
        }
        Ok(())
    });
}

// ---------------------------------------------------------------- bounds

/// Nesting far deeper than any parser's limit is an error, not a stack
/// overflow: serde_json stops at 128 levels, serde-saphyr at 64.
#[test]
fn ten_thousand_levels_of_nesting_are_errors() {
    let depth = 10_000;
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!("{}null{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    let block: String = (0..depth)
        .map(|i| format!("{}-\n", " ".repeat(i)))
        .collect();
    for listing in LISTINGS {
        for body in [&arrays, &objects] {
            // An error, or (serde skips an unknown field's value without
            // building it) a page with nothing in it.
            let result = parse_page(*listing, body.as_bytes());
            let empty = result
                .as_ref()
                .is_ok_and(|d| d.users.is_empty() && d.skipped.is_empty());
            assert!(result.is_err() || empty, "{listing:?}: {result:?}");
        }
    }
    for body in [&arrays, &objects] {
        parse_scim(body.as_bytes());
    }
    for text in [
        format!("{{\"users\": [{arrays}]}}"),
        format!("users:\n  - {arrays}"),
        format!("users:\n{block}"),
    ] {
        let json = text.starts_with('{');
        let result = timed("deep export", || FileSource::parse(&text, json, "deep"));
        let deep_record_skipped = result
            .as_ref()
            .is_ok_and(|d| d.users.is_empty() && !d.skipped.is_empty());
        assert!(result.is_err() || deep_record_skipped, "{result:?}");
        let result = timed("deep config", || {
            config::load_str(&text, Path::new("/c.yaml"), &MemoryEnvironment::new())
        });
        assert!(result.is_err());
    }
}

/// The YAML "billion laughs": ten levels of ten aliases each would expand
/// to 10^10 nodes. serde-saphyr caps alias replay (1,000,000 events), so
/// both YAML readers fail in bounded time and memory.
#[test]
fn yaml_alias_bombs_are_refused_in_bounded_time() {
    let mut bomb = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let prev = level - 1;
        bomb.push_str(&format!(
            "a{level}: &a{level} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    let before = peak_rss_kib();
    let config = timed("config bomb", || {
        config::load_str(&bomb, Path::new("/c.yaml"), &MemoryEnvironment::new())
    });
    assert!(config.is_err());
    let export = format!(
        "users: {}",
        bomb.replace('\n', "\n  ").replacen("a0:", "- a0:", 1)
    );
    let export = format!("{export}\nusers_bomb: &u [*a9]\n");
    let file = timed("export bomb", || {
        FileSource::parse(&export, false, "bomb.yaml")
    });
    assert!(file.is_err(), "{:?}", file.map(|d| d.users.len()));
    let nested = format!(
        "users:\n  - &x {{id: u1, email: a@example.com}}\n{}",
        "  - *x\n".repeat(200_000)
    );
    let many = timed("alias fan-out", || {
        FileSource::parse(&nested, false, "many.yaml")
    });
    assert!(many.is_err() || many.is_ok_and(|d| d.users.len() <= 200_001));
    if let (Some(before), Some(after)) = (before, peak_rss_kib()) {
        assert!(
            after - before < 1024 * 1024,
            "peak RSS grew by {} KiB",
            after - before
        );
    }
}

/// Peak resident memory of this process (Linux), to bound hostile inputs.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Inputs of about 1 MB (long strings, many records, huge numbers) parse
/// in bounded time, whatever they hold.
#[test]
fn one_megabyte_inputs_parse_in_bounded_time() {
    const MB: usize = 1 << 20;
    let strategy = (0u8..5, prop::sample::select(LISTINGS.to_vec()));
    let cases = (cases() / 32).max(4);
    run("one_megabyte", cases, strategy, |(shape, listing)| {
        let body = match shape {
            0 => format!("[{{\"id\": \"{}\"}}]", "x".repeat(MB)),
            1 => format!(
                "[{}{{}}]",
                "{\"id\":\"u\",\"status\":\"ACTIVE\"},".repeat(MB / 32)
            ),
            2 => format!("[{}0]", "1e308,".repeat(MB / 6)),
            3 => format!(
                "{{\"value\": [{}{{}}]}}",
                "{\"id\":\"\\u202e\"},".repeat(MB / 16)
            ),
            _ => "\"".repeat(MB),
        };
        parse_vendor(listing, body.as_bytes());
        parse_scim(body.as_bytes());
        parse_export(&format!("{{\"users\": {body}}}"), true);
        parse_export(&format!("users: {body}"), false);
        Ok(())
    });
}

/// Printed with `--nocapture`: what one CI run executes.
#[test]
fn total_executions() {
    let c = u64::from(cases());
    let total = c // config/bytes
        + c // config/mutated
        + c // file/bytes
        + c // file/mutated
        + 2 * c // vendor/bytes
        + 4 * c // vendor/mutated
        + c // pingone/rfc3339
        + c // scim/bytes
        + 2 * c // scim/mutated
        + 2 * c // link_next
        + 2 * c // retry_after
        + (c / 32).max(4); // one_megabyte
    println!("fuzz_parsers: {total} generated cases per run ({c} per unit)");
}
