//! End to end: a fake Google Workspace (JWT bearer token endpoint + Admin
//! SDK Directory API, `tests/google_fake/`) → penvio-sync's `google` source
//! → the real scim2-server. Assertions are on what the SCIM server holds
//! and received, what Google received, the snapshot and the exit code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod google_fake;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::{Fixture, Scim2Server, find, member_ids};
use google_fake::federation::{AUDIENCE, JWT_TOKEN_TYPE, Subject};
use google_fake::{ADMIN, CLIENT_ID, FakeGoogle};
use penvio_sync::report::RunReport;
use penvio_sync::report::exit::{EXIT_OK, EXIT_RUN_FAILED};
use serde_json::{Value, json};

/// The admin plus four users; Engineering (ada, grace) with Platform (alan)
/// nested in it; edsger in no group.
async fn workspace() -> FakeGoogle {
    let fake = FakeGoogle::start().await;
    fake.put_user("u-ada", "ada@example.com", "Ada", "Lovelace");
    fake.put_user("u-grace", "grace@example.com", "Grace", "Hopper");
    fake.put_user("u-alan", "alan@example.com", "Alan", "Turing");
    fake.put_user("u-edsger", "edsger@example.com", "Edsger", "Dijkstra");
    fake.put_group("g-eng", "eng@example.com", "Engineering");
    fake.put_group("g-platform", "platform@example.com", "Platform");
    fake.add_members("g-eng", &["u-ada", "u-grace"]);
    fake.add_members("g-platform", &["u-alan"]);
    fake.nest("g-eng", "g-platform");
    fake
}

/// Writes the key file (0600, `token_uri` at the fake) into the fixture.
fn key_file(fixture: &Fixture, fake: &FakeGoogle) -> PathBuf {
    let path = fixture.dir.path().join("google-key.json");
    std::fs::write(&path, fake.key_file()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn fixture_for(server: &Scim2Server, org: &str, fake: &FakeGoogle, extra: &[&str]) -> Fixture {
    let mut fixture = Fixture::new(&server.org_url(org));
    let key = key_file(&fixture, fake);
    fixture.source_block = Some(fake.source_block(&key, extra));
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
    find(users, "userName", user_name).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn active(users: &[Value], user_name: &str) -> bool {
    find(users, "userName", user_name).unwrap()["active"]
        .as_bool()
        .unwrap_or(true)
}

fn ids_of(users: &[Value], names: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = names.iter().map(|n| id_of(users, n)).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn provisions_then_applies_only_changes() {
    let server = Scim2Server::start();
    let fake = workspace().await;
    let mut fixture = fixture_for(&server, "g1", &fake, &[]);

    // 1. Initial provision.
    let report = fixture.sync().await;
    ok(&report);
    let users = server.list("g1", "Users").await;
    assert_eq!(
        user_names(&users),
        [
            "ada@example.com",
            "admin@example.com",
            "alan@example.com",
            "edsger@example.com",
            "grace@example.com"
        ]
    );
    let ada = find(&users, "userName", "ada@example.com").unwrap();
    assert_eq!(ada["externalId"], "u-ada");
    assert_eq!(ada["name"]["givenName"], "Ada");
    assert_eq!(ada["name"]["familyName"], "Lovelace");
    assert_eq!(ada["displayName"], "Ada Lovelace");
    let groups = server.list("g1", "Groups").await;
    assert_eq!(groups.len(), 2);
    let eng = find(&groups, "displayName", "Engineering").unwrap();
    assert_eq!(
        member_ids(eng),
        ids_of(
            &users,
            &["ada@example.com", "alan@example.com", "grace@example.com"]
        ),
        "alan comes in through nested Platform (includeDerivedMembership)"
    );
    assert_eq!(fake.token_requests(), 1, "one token serves the run");

    // 2. No-op: no writes, and exactly these reads of Google.
    fake.clear_requests();
    let (writes_before, _) = server.request_counts("g1").await;
    let report = fixture.sync().await;
    ok(&report);
    assert_eq!(
        server.request_counts("g1").await.0,
        writes_before,
        "a no-op run writes nothing"
    );
    let noop = fake.requests();
    let shown: Vec<String> = noop
        .iter()
        .map(|r| {
            let token = if r.param("pageToken").is_some() {
                " (next page)"
            } else {
                ""
            };
            format!("{}{token}", r.path)
        })
        .collect();
    println!("no-op requests ({}): {shown:#?}", shown.len());
    // 5 users at the fake's 2 per page: 3 pages; 2 groups: 1 page;
    // Engineering's 3 users + the Platform row: 2 pages; Platform: 1 page.
    assert_eq!(
        shown,
        [
            "/admin/directory/v1/users",
            "/admin/directory/v1/users (next page)",
            "/admin/directory/v1/users (next page)",
            "/admin/directory/v1/groups",
            "/admin/directory/v1/groups/g-eng/members",
            "/admin/directory/v1/groups/g-eng/members (next page)",
            "/admin/directory/v1/groups/g-platform/members",
        ]
    );
    assert_eq!(report.source_requests, 7);
    let first = &noop[0];
    assert_eq!(first.param("customer"), Some("my_customer"));
    assert_eq!(first.param("maxResults"), Some("500"));
    assert_eq!(first.param("projection"), Some("basic"));
    assert_eq!(first.param("quotaUser"), Some("penvio-sync-test"));
    assert!(
        first
            .param("fields")
            .unwrap()
            .starts_with("nextPageToken,users(")
    );
    assert_eq!(noop[3].param("maxResults"), Some("200"));
    assert_eq!(noop[4].param("maxResults"), Some("200"));
    assert_eq!(noop[4].param("includeDerivedMembership"), Some("true"));
    assert!(noop.iter().all(|r| r.status == 200));

    // 3. Changes: a name, an email (same Penvio id), a suspension, an
    //    archived user, a deleted user, a member leaving, a group renamed
    //    (name and email).
    let grace_id = id_of(&users, "grace@example.com");
    let alan_id = id_of(&users, "alan@example.com");
    let eng_id = eng["id"].as_str().unwrap().to_string();
    fake.update_user(
        "u-ada",
        json!({"name": {"givenName": "Ada", "familyName": "King", "fullName": "Ada King"}}),
    );
    fake.update_user(
        "u-grace",
        json!({"primaryEmail": "grace.hopper@example.com"}),
    );
    fake.set_suspended("u-alan", true);
    fake.update_user("u-edsger", json!({"archived": true}));
    fake.put_user("u-linus", "linus@example.com", "Linus", "Torvalds");
    fake.add_members("g-platform", &["u-linus"]);
    fake.remove_members("g-eng", &["u-grace"]);
    fake.put_group("g-eng", "engineering@example.com", "Engineering & Research");
    let report = fixture.sync().await;
    ok(&report);
    let users = server.list("g1", "Users").await;
    let ada = find(&users, "userName", "ada@example.com").unwrap();
    assert_eq!(ada["name"]["familyName"], "King");
    assert_eq!(ada["displayName"], "Ada King");
    assert_eq!(id_of(&users, "grace.hopper@example.com"), grace_id);
    assert!(find(&users, "userName", "grace@example.com").is_none());
    assert!(
        !active(&users, "alan@example.com"),
        "suspended → deactivated"
    );
    assert_eq!(id_of(&users, "alan@example.com"), alan_id);
    assert!(
        !active(&users, "edsger@example.com"),
        "archived → deactivated"
    );
    assert!(active(&users, "linus@example.com"));
    let groups = server.list("g1", "Groups").await;
    assert_eq!(groups.len(), 2);
    let renamed = find(&groups, "displayName", "Engineering & Research").unwrap();
    assert_eq!(renamed["id"], eng_id.as_str(), "a rename keeps the team");
    assert_eq!(
        member_ids(renamed),
        ids_of(&users, &["ada@example.com", "linus@example.com"]),
        "grace left, alan is suspended, linus arrived through Platform"
    );

    // 4. Deletion: a user deleted in Google is deactivated in the next run.
    fake.delete_user("u-ada");
    ok(&fixture.sync().await);
    let users = server.list("g1", "Users").await;
    assert!(!active(&users, "ada@example.com"), "deleted → deactivated");

    // 5. Converged: the next run writes nothing.
    let (writes_before, _) = server.request_counts("g1").await;
    ok(&fixture.sync().await);
    assert_eq!(server.request_counts("g1").await.0, writes_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn query_and_org_units_scope_the_users() {
    let server = Scim2Server::start();
    let fake = workspace().await;
    fake.update_user("u-ada", json!({"orgUnitPath": "/Staff"}));
    fake.update_user("u-grace", json!({"orgUnitPath": "/Staff/Eng"}));
    fake.update_user("u-alan", json!({"orgUnitPath": "/Contractors"}));
    fake.set_suspended("u-grace", true);
    let mut fixture = fixture_for(
        &server,
        "ou",
        &fake,
        &["org_units: [/Staff]", "query: \"isSuspended=false\""],
    );
    ok(&fixture.sync().await);
    let users = server.list("ou", "Users").await;
    assert_eq!(user_names(&users), ["ada@example.com"]);
    let sent: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/users") && r.param("pageToken").is_none())
        .filter_map(|r| r.param("query").map(str::to_string))
        .collect();
    assert_eq!(sent, ["orgUnitPath='/Staff' isSuspended=false"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_page_fails_the_run_and_deactivates_nobody() {
    let server = Scim2Server::start();
    let fake = workspace().await;
    let mut fixture = fixture_for(&server, "failed", &fake, &[]);
    ok(&fixture.sync().await);
    let snapshot = fixture.snapshot();
    let (writes_before, _) = server.request_counts("failed").await;

    fake.delete_user("u-ada");
    fake.set_suspended("u-alan", true);
    // A later page of the user listing answers 503 backendError on every
    // attempt: what other sync tools read as "everyone left".
    fake.fail_later_page("/users", 503, "backendError", 100);
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED, "{report:#?}");
    let error = report.error.unwrap();
    assert!(error.contains("503"), "{error}");
    assert!(error.contains("Service unavailable"), "{error}");
    assert!(error.contains("Nothing was changed"), "{error}");
    assert_eq!(server.request_counts("failed").await.0, writes_before);
    let users = server.list("failed", "Users").await;
    assert!(
        users.iter().all(|u| u["active"] != false),
        "nothing deactivated"
    );
    assert_eq!(fixture.snapshot(), snapshot);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_are_waited_out() {
    let server = Scim2Server::start();
    let fake = workspace().await;
    let mut fixture = fixture_for(&server, "throttle", &fake, &[]);
    // Google's per-user limit answers 403, not 429.
    fake.fail("/groups/g-eng/members", 403, "userRateLimitExceeded", 1);
    fake.fail("/groups", 429, "rateLimitExceeded", 1);
    ok(&fixture.sync().await);
    let requests = fake.requests();
    let refused: Vec<usize> = requests
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == 403 || r.status == 429)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(refused.len(), 2, "{requests:#?}");
    for index in refused {
        let retry = &requests[index + 1];
        assert_eq!(retry.path, requests[index].path, "the same page again");
        assert_eq!(retry.status, 200);
    }
    let groups = server.list("throttle", "Groups").await;
    assert_eq!(groups.len(), 2);
    let users = server.list("throttle", "Users").await;
    assert_eq!(users.len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_delegation_fails_with_the_admin_console_fix() {
    let server = Scim2Server::start();
    let fake = workspace().await;
    let mut fixture = fixture_for(&server, "revoked", &fake, &[]);
    ok(&fixture.sync().await);
    let (writes_before, _) = server.request_counts("revoked").await;

    fake.revoke_delegation();
    fake.clear_requests();
    // A fresh fixture so no cached token outlives the revocation (as after
    // an hour, or a restart).
    let mut again = fixture_for(&server, "revoked", &fake, &[]);
    let report = again.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED, "{report:#?}");
    let error = report.error.unwrap();
    assert!(error.contains("unauthorized_client"), "{error}");
    assert!(
        error.contains(&format!(
            "domain-wide delegation is not granted for client id {CLIENT_ID}"
        )),
        "{error}"
    );
    assert!(
        error.contains("admin.directory.group.member.readonly"),
        "{error}"
    );
    assert!(!error.contains("BEGIN PRIVATE KEY"), "{error}");
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.status != 200 || r.path.contains("v1"))
    );
    assert_eq!(server.request_counts("revoked").await.0, writes_before);
    assert!(
        server
            .list("revoked", "Users")
            .await
            .iter()
            .all(|u| u["active"] != false)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_admin_or_unknown_subject_is_explained() {
    let server = Scim2Server::start();
    let fake = workspace().await;
    // A user who exists but is no admin: the token is issued, the API
    // refuses.
    let mut fixture = fixture_for(&server, "sub", &fake, &[]);
    let key = fixture.dir.path().join("google-key.json");
    fixture.source_block = Some(
        fake.source_block(&key, &[])
            .replace(ADMIN, "ada@example.com"),
    );
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED);
    let error = report.error.unwrap();
    assert!(error.contains("403"), "{error}");
    assert!(error.contains("Not Authorized"), "{error}");
    assert!(
        error.contains("connections[0].source.admin_email"),
        "{error}"
    );

    // Nobody of that address: the token endpoint says invalid_grant.
    fixture.source_block = Some(
        fake.source_block(&key, &[])
            .replace(ADMIN, "nobody@example.com"),
    );
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED);
    let error = report.error.unwrap();
    assert!(error.contains("invalid_grant"), "{error}");
    assert!(error.contains("nobody@example.com"), "{error}");
    assert!(error.contains("clock"), "{error}");
    assert!(server.list("sub", "Users").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn keyless_signing_through_iam_credentials() {
    let server = Scim2Server::start();
    let fake = workspace().await;
    let mut fixture = Fixture::new(&server.org_url("keyless"));
    fixture.source_block = Some(fake.iam_source_block(&[]));
    fixture.extra_config = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"}\n".into();
    ok(&fixture.sync().await);
    assert_eq!(server.list("keyless", "Users").await.len(), 5);
    assert_eq!(
        fake.keyless_requests(),
        (1, 1),
        "one metadata token and one signJwt for the run's one token"
    );
    assert_eq!(fake.token_requests(), 1);
    assert!(
        std::fs::read_dir(fixture.dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".json")),
        "no key file exists"
    );

    // The VM's account loses Token Creator: the run fails and says so.
    fake.revoke_token_creator();
    let mut again = Fixture::new(&server.org_url("keyless"));
    again.source_block = Some(fake.iam_source_block(&[]));
    let report = again.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED, "{report:#?}");
    let error = report.error.unwrap();
    assert!(error.contains("signJwt"), "{error}");
    assert!(
        error.contains("roles/iam.serviceAccountTokenCreator"),
        "{error}"
    );
    assert!(
        error.contains("connections[0].source.service_account"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn scope_names_groups_by_their_email() {
    let server = Scim2Server::start();
    let fake = workspace().await;
    let mut fixture = fixture_for(&server, "by-email", &fake, &[]);
    // Only members of eng@ (ada, grace and alan through nested Platform)
    // are users; only the group whose address is platform@ becomes a team.
    // Engineering matches neither pattern by name nor by address.
    fixture.extra_config = format!(
        "{}    scope:\n      user_groups: [ENG@example.com]\n      team_groups: [platform@example.com, \"sales*\"]\n",
        fixture.extra_config
    );
    ok(&fixture.sync().await);
    let users = server.list("by-email", "Users").await;
    assert_eq!(
        user_names(&users),
        ["ada@example.com", "alan@example.com", "grace@example.com"],
        "scoped by the group's email, case-insensitively"
    );
    let groups = server.list("by-email", "Groups").await;
    let names: Vec<&str> = groups
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Platform"], "only the group named by email");
    assert_eq!(
        member_ids(&groups[0]),
        ids_of(&users, &["alan@example.com"])
    );
}

/// Writes an `external_account` credential file into the fixture.
fn credential_file(fixture: &Fixture, text: &str) -> PathBuf {
    let path = fixture.dir.path().join("federation.json");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn keyless_through_workload_identity_federation() {
    let server = Scim2Server::start();
    let fake = workspace().await;

    // 1. A subject token in a file (a Kubernetes projected token, say), a
    //    service account to impersonate: subject token → STS →
    //    generateAccessToken → signJwt → JWT bearer grant.
    let mut fixture = Fixture::new(&server.org_url("wif"));
    let subject = fixture.dir.path().join("subject-token");
    std::fs::write(&subject, "eyJ.subject-1.sig\n").unwrap();
    fake.accept_subject_token("eyJ.subject-1.sig");
    let file = fake.external_account_file(Subject::File(&subject), true);
    let path = credential_file(&fixture, &file);
    fixture.source_block = Some(fake.federated_source_block(&path, &[]));
    fixture.extra_config = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"}\n".into();
    ok(&fixture.sync().await);
    assert_eq!(server.list("wif", "Users").await.len(), 5);
    assert_eq!(server.list("wif", "Groups").await.len(), 2);
    let sts = fake.sts_requests();
    assert_eq!(sts.len(), 1, "{sts:#?}");
    let form = &sts[0].form;
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:token-exchange"
    );
    assert_eq!(form["audience"], AUDIENCE);
    assert_eq!(form["subject_token"], "eyJ.subject-1.sig");
    assert_eq!(form["subject_token_type"], JWT_TOKEN_TYPE);
    assert!(!sts[0].authorized, "STS gets no Authorization header");
    assert_eq!(sts[0].status, 200);
    assert_eq!(
        fake.federation_requests(),
        (0, 1),
        "one generateAccessToken"
    );
    assert_eq!(
        fake.keyless_requests(),
        (0, 1),
        "no metadata server; one signJwt"
    );
    assert_eq!(fake.token_requests(), 1);

    // 2. The subject token rotates and the pool no longer trusts the old
    //    one: the next run's token is minted from the file's new content.
    std::fs::write(&subject, "eyJ.subject-2.sig").unwrap();
    fake.accept_subject_token("eyJ.subject-2.sig");
    ok(&fixture.sync().await);
    let sts = fake.sts_requests();
    assert_eq!(sts.len(), 2);
    assert_eq!(sts[1].form["subject_token"], "eyJ.subject-2.sig");

    // 3. A subject token the pool does not trust: the run fails, names the
    //    provider to check, changes nothing, and never shows the token.
    std::fs::write(&subject, "eyJ.stolen.sig").unwrap();
    let (writes_before, _) = server.request_counts("wif").await;
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_RUN_FAILED, "{report:#?}");
    let error = report.error.unwrap();
    assert!(error.contains("invalid_grant"), "{error}");
    assert!(error.contains("\"audience\""), "{error}");
    assert!(
        error.contains("connections[0].source.credentials_file"),
        "{error}"
    );
    assert!(!error.contains("eyJ.stolen.sig"), "{error}");
    assert_eq!(server.request_counts("wif").await.0, writes_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn federation_from_a_subject_token_url_without_impersonation() {
    let server = Scim2Server::start();
    let fake = workspace().await;
    fake.accept_subject_token("eyJ.azure-mi.sig");
    let mut fixture = Fixture::new(&server.org_url("wif-url"));
    // No impersonation URL: the federated identity calls signJwt itself,
    // so `service_account` names the account with the delegation.
    let file = fake.external_account_file(Subject::Url, false);
    let path = credential_file(&fixture, &file);
    let service_account = format!("service_account: {}", google_fake::CLIENT_EMAIL);
    fixture.source_block = Some(fake.federated_source_block(&path, &[&service_account]));
    ok(&fixture.sync().await);
    assert_eq!(server.list("wif-url", "Users").await.len(), 5);
    assert_eq!(
        fake.federation_requests(),
        (1, 0),
        "the subject token from the URL (Metadata: True); no impersonation"
    );
    assert_eq!(
        fake.sts_requests()[0].form["subject_token"],
        "eyJ.azure-mi.sig"
    );
    assert_eq!(fake.keyless_requests(), (0, 1));
}

#[test]
fn a_credential_file_pointing_off_google_is_refused_before_any_request() {
    let fake_origin = "http://127.0.0.1:9";
    let dir = tempfile::tempdir().unwrap();
    let sample: Value = serde_json::from_str(include_str!(
        "fixtures/google/external_account.credential.json"
    ))
    .unwrap();
    let cases = [
        (
            "token_url",
            "https://sts.googleapis.com.attacker.example/v1/token",
            "\"token_url\" on a host that is not Google's sts API",
        ),
        (
            "token_url",
            "http://sts.googleapis.com/v1/token",
            "\"token_url\" that must be https",
        ),
        (
            "service_account_impersonation_url",
            "https://attacker.example/v1/projects/-/serviceAccounts/x@p.iam.gserviceaccount.com:generateAccessToken",
            "\"service_account_impersonation_url\" on a host that is not Google's iamcredentials API",
        ),
        (
            "service_account_impersonation_url",
            "http://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/x@p.iam.gserviceaccount.com:generateAccessToken",
            "\"service_account_impersonation_url\" that must be https",
        ),
    ];
    for (key, value, expected) in cases {
        let mut file = sample.clone();
        file[key] = json!(value);
        let path = dir.path().join("federation.json");
        std::fs::write(&path, file.to_string()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let text = format!(
            "state_dir: {state}\nconnections:\n  - name: c\n    source:\n      type: google\n      signer: iam\n      admin_email: {ADMIN}\n      credentials_file: {path}\n      iam_url: {fake_origin}\n      token_url: {fake_origin}/token\n    target: {{url: https://p.example/scim/v2/o, token: t}}\n",
            state = dir.path().display(),
            path = path.display(),
        );
        let error = penvio_sync::config::load_str(
            &text,
            &dir.path().join("p.yaml"),
            &penvio_sync::config::ProcessEnvironment,
        )
        .err()
        .unwrap_or_else(|| panic!("{key} = {value} was accepted"))
        .to_string();
        assert!(
            error.contains(&format!(
                "connections[0].source.credentials_file: has a {expected}"
            )),
            "{error}"
        );
    }
}
