//! The binary as users and their scripts see it: commands, output, exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Output};

use common::{Fixture, Scim2Server, TOKEN, user};
use serde_json::Value;

fn penvio_sync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
        .args(args)
        .env_remove("PENVIO_SYNC_CONFIG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn demo_runs_end_to_end_and_its_third_run_sends_nothing() {
    let output = penvio_sync(&["demo"]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains("applied: 3 create_team, 10 create_user"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Penvio received 6 writes for this change."),
        "{stdout}"
    );
    assert!(
        stdout.contains("Penvio received 0 writes and 0 reads."),
        "{stdout}"
    );
    // Counts of one read as one: the plan and reports people review.
    for singular in [
        "skipped 1 record:",
        "+ add 1 member to team Engineering",
        "- remove 1 member from team Engineering",
    ] {
        assert!(stdout.contains(singular), "no {singular:?} in:\n{stdout}");
    }
    for plural_of_one in ["1 records", "1 members", "1 writes"] {
        assert!(
            !stdout.contains(plural_of_one),
            "{plural_of_one:?} in:\n{stdout}"
        );
    }
}

#[test]
fn a_bad_config_exits_2_naming_file_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "connections:\n  - name: Bad_Name\n    source: {type: file, path: x.yaml}\n    target: {url: http://penvio.example.com/api/scim/v2/o, token: t}\n",
    )
    .unwrap();
    let output = penvio_sync(&["--config", path.to_str().unwrap(), "check"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("bad.yaml"), "{stderr}");
    assert!(stderr.contains("connections[0].name"), "{stderr}");
    assert!(stderr.contains("connections[0].target.url"), "{stderr}");
    assert!(stderr.contains("https"), "{stderr}");

    let missing = penvio_sync(&["--config", "/nonexistent/penvio.yaml", "sync"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("/nonexistent/penvio.yaml"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_plan_state_and_check_through_the_binary() {
    let server = Scim2Server::start();
    let fixture = Fixture::new(&server.org_url("cli"));
    fixture.write_directory(
        &[
            user("u1", "ada@example.com", "Ada", "Lovelace"),
            user("u2", "bob@example.com", "Bob", "Builder"),
        ],
        &[],
    );
    let config = fixture.write_config(TOKEN);
    let config = config.to_str().unwrap();

    let check = penvio_sync(&["--config", config, "check", "--connectivity"]);
    let stdout = text(&check.stdout);
    assert_eq!(check.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("configuration is valid"), "{stdout}");
    assert!(
        stdout.contains("Penvio: reachable, token accepted"),
        "{stdout}"
    );
    let fingerprint = penvio_sync::config::Secret::new(TOKEN.into()).fingerprint();
    assert!(
        stdout.contains(&format!(
            "credentials (fingerprints): target.token {fingerprint}"
        )),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN));

    // A regenerated token: check says so plainly and names the key.
    let wrong = fixture.dir.path().join("wrong.yaml");
    std::fs::write(&wrong, fixture.config_text("regenerated-in-penvio")).unwrap();
    let rejected = penvio_sync(&[
        "--config",
        wrong.to_str().unwrap(),
        "check",
        "--connectivity",
    ]);
    assert_eq!(rejected.status.code(), Some(1));
    let rejected_out = text(&rejected.stdout);
    assert!(
        rejected_out.contains(
            "token rejected (401) — it may have been regenerated; update connections[0].target.token"
        ),
        "{rejected_out}"
    );

    let plan = penvio_sync(&["--config", config, "plan"]);
    let stdout = text(&plan.stdout);
    assert_eq!(plan.status.code(), Some(0));
    assert!(stdout.contains("+ create user ada@example.com"), "{stdout}");
    assert!(
        server.list("cli", "Users").await.is_empty(),
        "plan sends nothing"
    );

    let sync = penvio_sync(&["--config", config, "sync", "--json"]);
    assert_eq!(sync.status.code(), Some(0), "{}", text(&sync.stderr));
    let report: Value = serde_json::from_slice(&sync.stdout).unwrap();
    assert_eq!(report["applied"]["create_user"], 2);
    assert_eq!(report["exit_code"], 0);
    assert_eq!(server.list("cli", "Users").await.len(), 2);

    let plan = penvio_sync(&["--config", config, "plan"]);
    assert!(
        text(&plan.stdout).contains("No changes"),
        "{}",
        text(&plan.stdout)
    );

    let show = penvio_sync(&["--config", config, "state", "show"]);
    let stdout = text(&show.stdout);
    assert!(
        stdout.contains("test: 2 users (2 active, 0 deactivated)"),
        "{stdout}"
    );
    assert!(stdout.contains("last run: sync succeeded"), "{stdout}");
    assert!(
        stdout.contains("  source data: read ") && !stdout.contains("warning"),
        "{stdout}"
    );

    let export = penvio_sync(&["--config", config, "state", "export"]);
    let exported: Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(
        exported["test"]["users"]["u1"]["attributes"]["user_name"],
        "ada@example.com"
    );
    assert!(
        !text(&export.stdout).contains(TOKEN),
        "no secret in the export"
    );

    let unknown = penvio_sync(&["--config", config, "sync", "--connection", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("no connection named \"nope\""));

    // The guard, through the binary: exit code 4.
    fixture.write_directory(&[], &[]);
    let held = penvio_sync(&["--config", config, "sync"]);
    assert_eq!(held.status.code(), Some(4), "{}", text(&held.stdout));
    assert!(text(&held.stdout).contains("held back: 2 destructive operations"));
    let allowed = penvio_sync(&["--config", config, "sync", "--allow-deletions"]);
    assert_eq!(allowed.status.code(), Some(0));

    let forget = penvio_sync(&[
        "--config",
        config,
        "state",
        "forget",
        "--connection",
        "test",
    ]);
    assert_eq!(forget.status.code(), Some(0));
    let show = penvio_sync(&["--config", config, "state", "show"]);
    assert!(
        text(&show.stdout).contains("test: 0 users"),
        "{}",
        text(&show.stdout)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line_with_connection_and_run_id() {
    let server = Scim2Server::start();
    let fixture = Fixture::new(&server.org_url("jsonlogs"));
    fixture.write_directory(
        &[
            user("u1", "ada@example.com", "Ada", "Lovelace"),
            serde_json::json!({"id": "u2", "given_name": "No email"}),
        ],
        &[],
    );
    let config = fixture.config_text(TOKEN).replacen(
        "connections:",
        "log: {format: json, level: info}\nconnections:",
        1,
    );
    std::fs::write(fixture.config_path(), config).unwrap();
    let output = penvio_sync(&["--config", fixture.config_path().to_str().unwrap(), "sync"]);
    assert_eq!(output.status.code(), Some(0));
    let stderr = text(&output.stderr);
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(lines.len() >= 3, "{stderr}");
    for line in &lines {
        assert_eq!(line["connection"], "test", "{line}");
        assert!(
            line["run_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("test-")),
            "{line}"
        );
    }
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("Applied create user ada@example.com")),
        "{messages:?}"
    );
    assert!(messages.contains(&"Skipped a record from the source."));
    assert!(messages.contains(&"Run finished."));
    assert!(!stderr.contains(TOKEN), "no secret in the logs");
}

#[test]
fn init_writes_a_starter_config_once_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("penvio-sync.yaml");
    let path_text = path.to_str().unwrap();
    let first = penvio_sync(&["init", "--source", "entra", "--output", path_text]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("type: entra"));
    assert!(
        written.contains("GroupMember.Read.All"),
        "the admin steps are in the comments"
    );

    let again = penvio_sync(&["--config", path_text, "init", "--source", "okta"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("never overwrites"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);

    // The written config is what check expects, once the CHANGE-ME values
    // and the secret variables are filled in.
    let filled = written.replace("CHANGE-ME", "contoso");
    std::fs::write(&path, filled).unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
        .args(["--config", path_text, "check"])
        .env("PENVIO_TOKEN", "t")
        .env("PENVIO_ENTRA_SECRET", "s")
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
}
