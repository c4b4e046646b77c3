//! Reviewed plans: `plan --out` writes exactly what `apply` will do, `apply`
//! does exactly that (nothing the directory changed since), approves held-back
//! removals only with --allow-deletions, and refuses a plan whose snapshot has
//! moved (exit code 5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Output};

use common::{Fixture, Scim2Server, TOKEN, find, user};
use serde_json::Value;

fn run(config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewed_plan_is_applied_exactly_or_refused_when_stale() {
    let server = Scim2Server::start();
    let mut fixture = Fixture::new(&server.org_url("reviewed"));
    fixture.extra_config = "    policy: {max_deactivations: 1, max_shrinkage: \"100%\"}\n".into();
    let config = fixture.write_config(TOKEN);
    let everyone = [
        user("u1", "ada@example.com", "Ada", "Lovelace"),
        user("u2", "bob@example.com", "Bob", "Builder"),
        user("u3", "cy@example.com", "Cy", "Young"),
        user("u4", "di@example.com", "Di", "Prince"),
    ];
    fixture.write_directory(&everyone, &[]);
    assert_eq!(run(&config, &["sync"]).status.code(), Some(0));

    // A rename and two leavers (over max_deactivations: held back).
    fixture.write_directory(
        &[
            user("u1", "ada@example.com", "Ada", "King"),
            everyone[1].clone(),
        ],
        &[],
    );
    let plan_file = fixture.dir.path().join("plan.json");
    let planned = run(&config, &["plan", "--out", plan_file.to_str().unwrap()]);
    assert_eq!(planned.status.code(), Some(4), "{}", text(&planned));
    let written: Value = serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    let entry = &written["connections"][0];
    assert_eq!(entry["connection"], "test");
    assert_eq!(entry["plan"]["operations"].as_array().unwrap().len(), 1);
    assert_eq!(entry["plan"]["operations"][0]["op"], "update_user");
    assert_eq!(entry["plan"]["held_back"].as_array().unwrap().len(), 2);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&plan_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // The directory changes again after review: apply still does only the plan.
    fixture.write_directory(
        &[
            user("u1", "ada@example.com", "Ada", "King"),
            everyone[1].clone(),
            user("u9", "new@example.com", "New", "Comer"),
        ],
        &[],
    );
    let applied = run(&config, &["apply", plan_file.to_str().unwrap()]);
    assert_eq!(
        applied.status.code(),
        Some(4),
        "held-back removals remain: {}",
        text(&applied)
    );
    let users = server.list("reviewed", "Users").await;
    assert_eq!(
        users.len(),
        4,
        "the user added after review was not created"
    );
    assert_eq!(
        find(&users, "externalId", "u1").unwrap()["name"]["familyName"],
        "King"
    );
    assert!(
        users.iter().all(|u| u["active"] == true),
        "nothing deactivated"
    );

    // The same file again: the snapshot has moved, so it is refused.
    let stale = run(&config, &["apply", plan_file.to_str().unwrap()]);
    assert_eq!(stale.status.code(), Some(5));
    assert!(text(&stale).contains("the snapshot has moved since this plan was computed"));

    // A fresh plan, reviewed, approves the held-back deactivations.
    fixture.write_directory(
        &[
            user("u1", "ada@example.com", "Ada", "King"),
            everyone[1].clone(),
        ],
        &[],
    );
    let approved_file = fixture.dir.path().join("approved.json");
    assert_eq!(
        run(&config, &["plan", "--out", approved_file.to_str().unwrap()])
            .status
            .code(),
        Some(4)
    );
    let approved = run(
        &config,
        &[
            "apply",
            approved_file.to_str().unwrap(),
            "--allow-deletions",
        ],
    );
    assert_eq!(approved.status.code(), Some(0), "{}", text(&approved));
    let users = server.list("reviewed", "Users").await;
    assert_eq!(users.iter().filter(|u| u["active"] == false).count(), 2);

    // And a file that is not a plan is a clear usage error.
    std::fs::write(fixture.dir.path().join("junk.json"), "{}").unwrap();
    let junk = run(
        &config,
        &[
            "apply",
            fixture.dir.path().join("junk.json").to_str().unwrap(),
        ],
    );
    assert_eq!(junk.status.code(), Some(2));
    assert!(text(&junk).contains("is not a penvio-sync plan"));
}
