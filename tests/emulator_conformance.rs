//! The SCIM emulator: conformance (scim2-tester, a third-party checker run
//! in Python) and behaviour tests over real HTTP with reqwest.
//!
//! The conformance test needs the pinned checkers, which the README's test
//! command (`scripts/test`) installs into `target/venv`; or set
//! `PENVIO_TEST_PYTHON=/path/to/python`. `PENVIO_CHECKERS_VERBOSE=1` lists
//! every check, not only the ones that did not succeed (with `-- --nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use penvio_sync::emulator::{Emulator, EmulatorConfig, Fault, ResourceKind, ScriptedResponse};
use reqwest::StatusCode;
use serde_json::{Value, json};

const TOKEN: &str = "test-token";
/// scim2-tester 0.5.2 derives 69 checks from what the emulator advertises
/// (discovery, CRUD, attribute projection, PATCH add/remove/replace of every
/// attribute); all must succeed. Raise this when the schema grows.
const MIN_SUCCESSES: usize = 69;

async fn start() -> Emulator {
    Emulator::start(EmulatorConfig {
        tokens: vec![TOKEN.into()],
        ..EmulatorConfig::default()
    })
    .await
    .expect("start the emulator")
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn send(req: reqwest::RequestBuilder) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let resp = req.bearer_auth(TOKEN).send().await.expect("request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON body")
    };
    (status, headers, body)
}

async fn create_user(base: &str, user_name: &str) -> Value {
    let (status, _, body) = send(http().post(format!("{base}/Users")).json(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "externalId": format!("ext-{user_name}"),
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "displayName": "Ada Lovelace",
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true,
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn checkers_python() -> PathBuf {
    std::env::var_os("PENVIO_TEST_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python"),
        PathBuf::from,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim2_tester_reports_no_errors() {
    let python = checkers_python();
    assert!(
        python.exists(),
        "No Python with the SCIM checkers at {}: run the README's test command (scripts/test), \
         which creates target/venv with the pinned checkers, or set PENVIO_TEST_PYTHON.",
        python.display()
    );
    let emulator = start().await;
    let base = emulator.base_url("conformance");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/scim2_tester_check.py");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(&script)
            .args(["--base-url", &base, "--token", TOKEN])
            .args(std::env::var_os("PENVIO_CHECKERS_VERBOSE").map(|_| "--all"))
            .output()
    })
    .await
    .expect("join")
    .expect("run the scim2-tester script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "scim2-tester failed:\n{stdout}\n{stderr}"
    );
    let successes = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SUMMARY "))
        .and_then(|s| {
            s.split_whitespace()
                .find_map(|kv| kv.strip_prefix("success="))
        })
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    assert!(
        successes >= MIN_SUCCESSES,
        "only {successes} checks succeeded:\n{stdout}"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn create_get_delete_user() {
    let emu = start().await;
    let base = emu.base_url("org-1");
    let resp = http()
        .post(format!("{base}/Users"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/scim+json")
        .body(json!({"userName": "ada@example.com", "active": true}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["content-type"], "application/scim+json");
    assert_eq!(resp.headers()["etag"], "W/\"1\"");
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let user: Value = resp.json().await.unwrap();
    let uid = id(&user);
    assert_eq!(uid.len(), 32);
    assert!(uid.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(location, format!("{base}/Users/{uid}"));
    assert_eq!(user["meta"]["location"], json!(location));
    assert_eq!(user["meta"]["resourceType"], "User");
    assert!(user["meta"]["created"].is_string() && user["meta"]["lastModified"].is_string());

    let (status, _, got) = send(http().get(&location)).await;
    assert_eq!((status, got), (StatusCode::OK, user));
    let (status, _, _) = send(http().delete(&location)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, err) = send(http().get(&location)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["status"], "404");
    assert_eq!(
        err["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    let (status, _, _) = send(http().delete(&location)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _, err) = send(
        http()
            .post(format!("{base}/Users"))
            .json(&json!({"active": true})),
    )
    .await;
    assert_eq!(
        (status, err["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidValue"))
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn list_paging_filters_and_projection() {
    let emu = start().await;
    let base = emu.base_url("org-1");
    for i in 0..25 {
        create_user(&base, &format!("user{i:02}@example.com")).await;
    }
    let (status, _, page) = send(
        http()
            .get(format!("{base}/Users"))
            .query(&[("startIndex", "11"), ("count", "10")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["totalResults"], 25);
    assert_eq!(page["itemsPerPage"], 10);
    assert_eq!(page["startIndex"], 11);
    assert_eq!(page["Resources"][0]["userName"], "user10@example.com");

    let (_, _, page) = send(http().get(format!("{base}/Users?count=0"))).await;
    assert_eq!(
        (page["totalResults"].as_u64(), page["itemsPerPage"].as_u64()),
        (Some(25), Some(0))
    );

    let cases = [
        (r#"userName eq "USER07@example.com""#, 1),
        (r#"externalId eq "ext-user07@example.com""#, 1),
        (r#"externalId eq "EXT-user07@example.com""#, 0),
        (r#"userName sw "user1""#, 10),
        (r#"emails[type eq "work" and value ew "5@example.com"]"#, 2),
        (r#"emails.value co "USER2""#, 5),
        (r#"not (userName sw "user1") and active eq true"#, 15),
        (
            r#"(userName eq "user01@example.com" or userName eq "user02@example.com") and name.givenName pr"#,
            2,
        ),
        (r#"meta.lastModified gt "2000-01-01T00:00:00Z""#, 25),
        (r#"userName gt "user20@example.com""#, 4),
    ];
    for (filter, want) in cases {
        let (status, _, page) = send(
            http()
                .get(format!("{base}/Users"))
                .query(&[("filter", filter)]),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{filter}");
        assert_eq!(page["totalResults"], want, "{filter}");
    }
    let (status, _, err) = send(
        http()
            .get(format!("{base}/Users"))
            .query(&[("filter", "userName eq")]),
    )
    .await;
    assert_eq!(
        (status, err["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidFilter"))
    );

    let (_, _, page) = send(http().get(format!("{base}/Users")).query(&[
        ("sortBy", "userName"),
        ("sortOrder", "descending"),
        ("count", "1"),
        ("attributes", "userName"),
    ]))
    .await;
    let first = &page["Resources"][0];
    assert_eq!(first["userName"], "user24@example.com");
    assert!(first.get("emails").is_none() && first["id"].is_string());

    let (status, _, page) = send(http().post(format!("{base}/Users/.search")).json(
        &json!({"filter": "userName eq \"user03@example.com\"", "excludedAttributes": ["emails"]}),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["totalResults"], 1);
    assert!(page["Resources"][0].get("emails").is_none());
    emu.shutdown().await;
}

#[tokio::test]
async fn patch_answers_204_and_applies() {
    let emu = start().await;
    let base = emu.base_url("org-1");
    let user = create_user(&base, "ada@example.com").await;
    let url = format!("{base}/Users/{}", id(&user));
    let (status, headers, body) = send(http().patch(&url).json(&json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "active", "value": false},
            {"op": "replace", "path": "name.givenName", "value": "Augusta"},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "augusta@example.com"},
        ]
    })))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    assert_eq!(headers["etag"], "W/\"2\"");
    let stored = &emu.users("org-1")[0];
    assert_eq!(stored["active"], false);
    assert_eq!(stored["name"]["givenName"], "Augusta");
    assert_eq!(stored["emails"][0]["value"], "augusta@example.com");

    // Entra style: no path, dotted keys.
    let (status, _, body) = send(http().patch(format!("{url}?attributes=active,name")).json(
        &json!({
            "Operations": [{"op": "replace", "value": {"active": true, "name.familyName": "King"}}]
        }),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["active"], true);
    assert_eq!(body["name"]["familyName"], "King");
    assert!(body.get("userName").is_none());

    // The parameter's presence alone asks for the resource back.
    let (status, _, body) = send(
        http()
            .patch(format!("{url}?excludedAttributes="))
            .json(&json!({
                "Operations": [{"op": "add", "path": "displayName", "value": "Ada K."}]
            })),
    )
    .await;
    assert_eq!(
        (status, body["displayName"].as_str()),
        (StatusCode::OK, Some("Ada K."))
    );

    let bad = [
        (
            json!({"op": "replace", "path": "active", "value": "False"}),
            "invalidValue",
        ),
        (
            json!({"op": "replace", "path": "id", "value": "x"}),
            "mutability",
        ),
        (
            json!({"op": "replace", "path": "nickName", "value": "x"}),
            "invalidPath",
        ),
        (
            json!({"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "x"}}),
            "noTarget",
        ),
    ];
    for (op, want) in bad {
        let (status, _, err) = send(http().patch(&url).json(&json!({"Operations": [op]}))).await;
        assert_eq!(
            (status, err["scimType"].as_str()),
            (StatusCode::BAD_REQUEST, Some(want)),
            "{op}"
        );
    }
    // A stale ETag is refused.
    let (status, _, _) = send(
        http()
            .patch(&url)
            .header("if-match", "W/\"1\"")
            .json(&json!({"Operations": [{"op": "replace", "path": "active", "value": false}]})),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    emu.shutdown().await;
}

#[tokio::test]
async fn group_members_add_remove_like_the_real_server() {
    let emu = start().await;
    let base = emu.base_url("org-1");
    let a = id(&create_user(&base, "a@example.com").await);
    let b = id(&create_user(&base, "b@example.com").await);
    let (status, _, group) = send(
        http()
            .post(format!("{base}/Groups"))
            .json(&json!({"displayName": "Team", "externalId": "g1", "members": [{"value": a}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let url = format!("{base}/Groups/{}", id(&group));
    let add = json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": a}, {"value": b}, {"value": "not-a-user"}]}]});
    let (status, _, _) = send(http().patch(&url).json(&add)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        emu.groups("org-1")[0]["members"].as_array().unwrap().len(),
        3
    );

    let (status, _, page) = send(
        http()
            .get(format!("{base}/Groups"))
            .query(&[("filter", format!("members.value eq \"{b}\""))]),
    )
    .await;
    assert_eq!(
        (status, page["totalResults"].as_u64()),
        (StatusCode::OK, Some(1))
    );

    let remove = json!({"Operations": [
        {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
        {"op": "remove", "path": "members[value eq \"not-a-user\"]"},
    ]});
    let (status, _, _) = send(http().patch(&url).json(&remove)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(emu.groups("org-1")[0]["members"], json!([{"value": b}]));

    let with_value =
        json!({"Operations": [{"op": "remove", "path": "members", "value": [{"value": b}]}]});
    let (status, _, err) = send(http().patch(&url).json(&with_value)).await;
    assert_eq!(
        (status, err["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidValue"))
    );
    assert_eq!(err["detail"], "a remove operation carries no value");

    // Deleting a user leaves it in members (no cleanup, like the real server).
    let (status, _, _) = send(http().delete(format!("{base}/Users/{b}"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(emu.groups("org-1")[0]["members"], json!([{"value": b}]));

    let (_, _, page) = send(http().get(format!("{base}/Groups?excludedAttributes=members"))).await;
    assert!(page["Resources"][0].get("members").is_none());
    assert_eq!(page["Resources"][0]["displayName"], "Team");
    emu.shutdown().await;
}

#[tokio::test]
async fn user_name_is_unique_ignoring_case() {
    let emu = start().await;
    let base = emu.base_url("org-1");
    create_user(&base, "carol@example.com").await;
    let dave = create_user(&base, "dave@example.com").await;
    let (status, _, err) = send(
        http()
            .post(format!("{base}/Users"))
            .json(&json!({"userName": "CAROL@example.com"})),
    )
    .await;
    assert_eq!(
        (status, err["scimType"].as_str()),
        (StatusCode::CONFLICT, Some("uniqueness"))
    );
    assert_eq!(err["status"], "409");
    let url = format!("{base}/Users/{}", id(&dave));
    let (status, _, _) = send(
        http()
            .put(&url)
            .json(&json!({"userName": "Carol@Example.com"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let patch = json!({"Operations": [{"op": "replace", "path": "userName", "value": "carol@EXAMPLE.com"}]});
    let (status, _, _) = send(http().patch(&url).json(&patch)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // PUT replaces everything and keeps its own name.
    let (status, _, body) = send(
        http()
            .put(&url)
            .json(&json!({"userName": "DAVE@example.com", "active": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("emails").is_none());
    assert_eq!(body["meta"]["version"], "W/\"2\"");
    assert_eq!(emu.count("org-1", ResourceKind::User), 2);
    emu.shutdown().await;
}

#[tokio::test]
async fn auth_orgs_and_routing() {
    let emu = Emulator::start(EmulatorConfig {
        orgs: vec!["org-1".into()],
        tokens: vec![TOKEN.into()],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let base = emu.base_url("org-1");
    let resp = http().get(format!("{base}/Users")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["status"], "401");
    let resp = http()
        .get(format!("{base}/Users"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    for open in [
        "ServiceProviderConfig",
        "Schemas",
        "ResourceTypes",
        "ResourceTypes/User",
    ] {
        let resp = http().get(format!("{base}/{open}")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{open}");
    }
    let (_, _, spc) = send(http().get(format!("{base}/ServiceProviderConfig"))).await;
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["filter"]["maxResults"], 1000);

    let (status, _, _) = send(http().get(emu.base_url("org-2") + "/Users")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, err) = send(http().get(format!("{base}/Nope"))).await;
    assert_eq!(
        (status, err["status"].as_str()),
        (StatusCode::NOT_FOUND, Some("404"))
    );
    let (status, headers, _) = send(http().delete(format!("{base}/Users"))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "GET, POST");
    let (status, _, _) = send(http().post(format!("{base}/Schemas"))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    emu.shutdown().await;
}

#[tokio::test]
async fn scripted_faults_and_latency() {
    let emu = start().await;
    let base = emu.base_url("org-1");
    emu.inject(Fault::Respond(
        ScriptedResponse::new(429, 2)
            .method("POST")
            .path_prefix("/Users")
            .retry_after_secs(3),
    ));
    // A GET does not match the POST-only fault.
    let (status, _, _) = send(http().get(format!("{base}/Users"))).await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..2 {
        let (status, headers, err) = send(
            http()
                .post(format!("{base}/Users"))
                .json(&json!({"userName": "x@y"})),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers["retry-after"], "3");
        assert_eq!(err["status"], "429");
    }
    assert!(
        emu.users("org-1").is_empty(),
        "a faulted request must not be applied"
    );
    create_user(&base, "x@y").await;
    assert!(emu.faults().scripted.is_empty());

    emu.inject(ScriptedResponse::new(503, 1).into());
    let (status, _, _) = send(http().get(format!("{base}/ServiceProviderConfig"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    emu.inject(Fault::Latency(Some(Duration::from_millis(150))));
    let started = Instant::now();
    let (status, _, _) = send(http().get(format!("{base}/Users"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
    emu.inject(Fault::Latency(None));
    emu.shutdown().await;
}

#[tokio::test]
async fn request_log_counts_reads_and_writes() {
    let emu = start().await;
    let base = emu.base_url("org-1");
    let user = create_user(&base, "ada@example.com").await;
    send(http().get(format!("{base}/Users/{}", id(&user)))).await;
    send(
        http()
            .post(format!("{base}/Users/.search"))
            .json(&json!({"filter": "active eq true"})),
    )
    .await;
    send(
        http()
            .patch(format!("{base}/Users/{}", id(&user)))
            .json(&json!({"Operations": [{"op": "replace", "path": "active", "value": false}]})),
    )
    .await;
    assert_eq!((emu.write_count(), emu.read_count()), (2, 2));
    let log = emu.request_log();
    let shape: Vec<(&str, u16, bool)> = log
        .iter()
        .map(|r| (r.method.as_str(), r.status, r.is_write))
        .collect();
    assert_eq!(
        shape,
        [
            ("POST", 201, true),
            ("GET", 200, false),
            ("POST", 200, false),
            ("PATCH", 204, true)
        ]
    );
    assert_eq!(log[0].path, "/api/scim/v2/org-1/Users");
    assert!(log.windows(2).all(|w| w[0].received <= w[1].received));
    emu.clear_log();
    send(http().get(format!(
        "{base}/Users?filter=userName%20eq%20%22ada%40example.com%22"
    )))
    .await;
    let log = emu.request_log();
    assert_eq!((log.len(), emu.write_count(), emu.read_count()), (1, 0, 1));
    assert_eq!(
        log[0].query.as_deref(),
        Some("filter=userName%20eq%20%22ada%40example.com%22")
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equality_filters_stay_fast_on_a_large_store() {
    let emu = start().await;
    let base = emu.base_url("big");
    for i in 0..20_000 {
        emu.insert(
            "big",
            ResourceKind::User,
            &json!({"userName": format!("u{i}@example.com"), "externalId": format!("e{i}")}),
        )
        .unwrap();
    }
    assert_eq!(emu.count("big", ResourceKind::User), 20_000);
    for i in (0..20_000).step_by(1000) {
        let filter = format!(
            "userName eq \"U{i}@example.com\" or externalId eq \"e{}\"",
            i + 1
        );
        let (status, _, page) = send(
            http()
                .get(format!("{base}/Users"))
                .query(&[("filter", filter.as_str())]),
        )
        .await;
        assert_eq!(
            (status, page["totalResults"].as_u64()),
            (StatusCode::OK, Some(2))
        );
    }
    // That these lookups use the indexes rather than a scan is shown by the
    // store's unit tests (candidates narrow an `or` of indexed equalities);
    // no wall-clock bound here, the suite runs on a loaded machine.
    let (_, _, page) = send(http().get(format!("{base}/Users?startIndex=19999&count=5"))).await;
    assert_eq!(
        (page["itemsPerPage"].as_u64(), page["totalResults"].as_u64()),
        (Some(2), Some(20_000))
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_team_membership_patches_stay_fast() {
    let emu = start().await;
    let base = emu.base_url("big");
    // 50k members is a body of about 2.5 MB: above axum's default extractor limit.
    let members: Vec<Value> = (0..50_000)
        .map(|i| json!({"value": format!("{i:032x}")}))
        .collect();
    let (status, _, group) = send(
        http()
            .post(format!("{base}/Groups"))
            .json(&json!({"displayName": "Everyone", "members": members})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let url = format!("{base}/Groups/{}", id(&group));
    for chunk in 0..10 {
        // Half of each chunk is already a member and must not be stored twice.
        let value: Vec<Value> = (0..100)
            .map(|i| json!({"value": format!("{:032x}", 49_950 + chunk * 100 + i)}))
            .collect();
        let patch = json!({"Operations": [{"op": "add", "path": "members", "value": value}]});
        let (status, _, _) = send(http().patch(&url).json(&patch)).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let stored = &emu.groups("big")[0];
    assert_eq!(stored["members"].as_array().unwrap().len(), 50_950);
    emu.shutdown().await;
}
