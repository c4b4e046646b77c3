//! Secrets never show: every command, at the most verbose log level, with
//! every kind of secret configured (literal, ${ENV}, *_file) — nothing in
//! stdout, stderr, the audit trail, the snapshot file or `state export`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::Scim2Server;
use reqwest::Method;
use serde_json::json;

/// Secret values, each distinctive so a leak of any of them is found (the
/// SCIM server accepts each of the first three).
const LITERAL_TARGET_TOKEN: &str = "penvio-literal-7d04c1b9";
const ENV_SOURCE_TOKEN: &str = "idp-env-e2a61f38";
const FILE_TARGET_TOKEN: &str = "penvio-file-94b3d05c";
const LISTEN_TOKEN: &str = "listen-token-8c1f0e2a";
const OKTA_TOKEN: &str = "okta-ssws-3b9d77e1";
const ENTRA_SECRET: &str = "entra-secret-5a2c90d4";

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_appears_in_any_output_log_audit_or_state() {
    let server =
        Scim2Server::start_accepting(&[LITERAL_TARGET_TOKEN, ENV_SOURCE_TOKEN, FILE_TARGET_TOKEN]);
    let idp = server.org_url("hygiene-idp");
    for i in 0..3 {
        let (status, _) = server
            .request(
                Method::POST,
                &format!("{idp}/Users"),
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("h{i}@example.com"),
                    "emails": [{"value": format!("h{i}@example.com"), "primary": true}]
                })),
            )
            .await;
        assert_eq!(status, 201);
    }
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("penvio-token");
    std::fs::write(&token_file, format!("{FILE_TARGET_TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let entra_file = dir.path().join("entra-secret");
    std::fs::write(&entra_file, ENTRA_SECRET).unwrap();
    std::fs::set_permissions(&entra_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        "state_dir: {state}
listen: 127.0.0.1:{port}
listen_token: {LISTEN_TOKEN}
log: {{format: json, level: trace}}
connections:
  - name: scim-env
    source: {{type: scim, base_url: {idp}, token: \"${{HYGIENE_SOURCE_TOKEN}}\"}}
    target: {{url: {target}, token: {LITERAL_TARGET_TOKEN}}}
  - name: scim-file
    source: {{type: scim, base_url: {idp}, token: \"${{HYGIENE_SOURCE_TOKEN}}\"}}
    target: {{url: {target2}, token_file: {token_file}}}
  - name: okta-refused
    source: {{type: okta, base_url: \"{origin}\", token: {OKTA_TOKEN}}}
    target: {{url: {target3}, token: {LITERAL_TARGET_TOKEN}}}
  - name: entra-refused
    source:
      type: entra
      tenant_id: contoso
      client_id: 11111111-2222-3333-4444-555555555555
      client_secret_file: {entra}
      base_url: \"{origin}/v1.0\"
      token_url: \"{origin}/contoso/oauth2/v2.0/token\"
    target: {{url: {target3}, token: {LITERAL_TARGET_TOKEN}}}
",
        state = dir.path().join("state").display(),
        target = server.org_url("hygiene-a"),
        target2 = server.org_url("hygiene-b"),
        target3 = server.org_url("hygiene-c"),
        token_file = token_file.display(),
        entra = entra_file.display(),
        // The SCIM server's origin answers 404 to vendor paths: those
        // connections fail fast, after sending their credentials.
        origin = server.root.trim_end_matches("/api/scim/v2"),
    );
    let config_path = dir.path().join("config.yaml");
    std::fs::write(&config_path, config).unwrap();

    let secrets = [
        LITERAL_TARGET_TOKEN,
        ENV_SOURCE_TOKEN,
        FILE_TARGET_TOKEN,
        LISTEN_TOKEN,
        OKTA_TOKEN,
        ENTRA_SECRET,
    ];
    let commands: &[&[&str]] = &[
        &["check"],
        &["check", "--connectivity"],
        &["plan"],
        &["plan", "--json"],
        &["sync"],
        &["sync", "--json"],
        &["reconcile", "--dry-run"],
        &["reconcile", "--json"],
        &["state", "show"],
        &["state", "export"],
        &["audit"],
        &["audit", "--json"],
    ];
    let mut checked = 0;
    for args in commands {
        let output = Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
            .arg("--config")
            .arg(&config_path)
            .args(*args)
            .env("RUST_LOG", "trace")
            .env("HYGIENE_SOURCE_TOKEN", ENV_SOURCE_TOKEN)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if std::env::var_os("HYGIENE_DEBUG").is_some() {
            eprintln!(
                "== {args:?} {:?}\n{stdout}\n{}",
                output.status,
                &stderr[..stderr.len().min(3000)]
            );
        }
        assert!(
            !stderr.is_empty() || !stdout.is_empty(),
            "{args:?} printed nothing"
        );
        assert_ne!(
            output.status.code(),
            Some(2),
            "{args:?}: the config is valid\n{stderr}"
        );
        for secret in secrets {
            assert!(
                !stdout.contains(secret),
                "{args:?} printed a secret on stdout"
            );
            assert!(
                !stderr.contains(secret),
                "{args:?} logged a secret on stderr"
            );
            checked += 2;
        }
    }
    // The runs really happened (so the logs had something to leak).
    assert_eq!(server.list("hygiene-a", "Users").await.len(), 3);
    assert_eq!(server.list("hygiene-b", "Users").await.len(), 3);

    for file in ["state/penvio-sync.redb", "state/audit.jsonl"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!bytes.is_empty(), "{file} is empty");
        for secret in secrets {
            assert!(!text.contains(secret), "{file} contains a secret");
            checked += 1;
        }
    }
    let distinct: std::collections::BTreeSet<&str> = secrets.into_iter().collect();
    assert_eq!(distinct.len(), secrets.len(), "every secret is distinct");
    assert!(checked >= 150, "{checked} checks");
}
