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

/// Creates a Penvio user by hand (not through the agent): the kind of
/// account a forged plan would aim at.
async fn seed_by_hand(server: &Scim2Server, org: &str, user_name: &str) -> Value {
    let (status, created) = server
        .request(
            reqwest::Method::POST,
            &format!("{}/Users", server.org_url(org)),
            Some(serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": user_name,
                "displayName": "Made by hand",
                "active": true
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created
}

fn read_plan(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write_plan(path: &std::path::Path, plan: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(plan).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_edited_to_deactivate_a_foreign_user_is_refused() {
    let server = Scim2Server::start();
    let foreign = seed_by_hand(&server, "forged", "admin@elsewhere.example").await;
    let foreign_id = foreign["id"].as_str().unwrap();
    let mut fixture = Fixture::new(&server.org_url("forged"));
    fixture.extra_config = "    policy: {max_deactivations: 10, max_shrinkage: \"100%\"}\n".into();
    let config = fixture.write_config(TOKEN);
    let ada = user("u1", "ada@example.com", "Ada", "Lovelace");
    let bob = user("u2", "bob@example.com", "Bob", "Builder");
    fixture.write_directory(&[ada.clone(), bob.clone()], &[]);
    assert_eq!(run(&config, &["sync"]).status.code(), Some(0));

    // Bob leaves; the reviewed plan deactivates him. The file is then edited
    // so the deactivation names the hand-made admin's Penvio id, and a second
    // one is added under a made-up source id.
    fixture.write_directory(std::slice::from_ref(&ada), &[]);
    let plan_file = fixture.dir.path().join("plan.json");
    let planned = run(&config, &["plan", "--out", plan_file.to_str().unwrap()]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
    let genuine = read_plan(&plan_file);
    let mut forged = genuine.clone();
    let operations = forged["connections"][0]["plan"]["operations"]
        .as_array_mut()
        .unwrap();
    assert_eq!(operations.len(), 1);
    assert_eq!(operations[0]["op"], "deactivate_user");
    operations[0]["penvio_id"] = Value::from(foreign_id);
    let mut stranger = operations[0].clone();
    stranger["source_id"] = Value::from("not-ours");
    operations.push(stranger);
    write_plan(&plan_file, &forged);

    let applied = run(
        &config,
        &["apply", plan_file.to_str().unwrap(), "--allow-deletions"],
    );
    let output = text(&applied);
    assert_eq!(applied.status.code(), Some(5), "{output}");
    assert!(
        output.contains("refused: 2 operations of the reviewed plan were not sent"),
        "{output}"
    );
    assert!(
        output.contains(foreign_id),
        "the refusal names the id: {output}"
    );
    let users = server.list("forged", "Users").await;
    let still = find(&users, "id", foreign_id).unwrap();
    assert_eq!(still["active"], true, "the foreign user is untouched");
    assert_eq!(still["meta"]["version"], foreign["meta"]["version"]);
    assert_eq!(
        find(&users, "externalId", "u2").unwrap()["active"],
        true,
        "nothing the reviewer did not approve was applied"
    );

    // The genuine file, unedited, still applies.
    write_plan(&plan_file, &genuine);
    let applied = run(&config, &["apply", plan_file.to_str().unwrap()]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    let users = server.list("forged", "Users").await;
    assert_eq!(find(&users, "externalId", "u2").unwrap()["active"], false);
    assert_eq!(find(&users, "id", foreign_id).unwrap()["active"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn hand_added_deletions_are_refused_and_the_guard_still_applies() {
    let server = Scim2Server::start();
    let admin = seed_by_hand(&server, "mass", "root@example.com").await;
    let mut fixture = Fixture::new(&server.org_url("mass"));
    fixture.extra_config = "    policy: {on_user_removed: delete, max_deletions: 5, max_deactivations: 5, max_shrinkage: \"100%\"}\n".into();
    let config = fixture.write_config(TOKEN);
    let everyone: Vec<Value> = (0..13)
        .map(|i| {
            user(
                &format!("u{i:02}"),
                &format!("p{i:02}@example.com"),
                "P",
                "Q",
            )
        })
        .collect();
    fixture.write_directory(&everyone, &[]);
    assert_eq!(run(&config, &["sync"]).status.code(), Some(0));
    let users = server.list("mass", "Users").await;
    assert_eq!(users.len(), 14);
    let delete = |source_id: &str, penvio_id: &str| {
        serde_json::json!({
            "op": "delete_user", "source_id": source_id, "penvio_id": penvio_id,
            "user_name": "x", "reason": "removed_from_source"
        })
    };

    // Nothing to do; the file gains 12 deletions: 11 managed users and the
    // hand-made admin account.
    let plan_file = fixture.dir.path().join("plan.json");
    assert_eq!(
        run(&config, &["plan", "--out", plan_file.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let mut forged = read_plan(&plan_file);
    let mut added: Vec<Value> = (1..12)
        .map(|i| {
            let id = format!("u{i:02}");
            delete(
                &id,
                find(&users, "externalId", &id).unwrap()["id"]
                    .as_str()
                    .unwrap(),
            )
        })
        .collect();
    added.push(delete("admin", admin["id"].as_str().unwrap()));
    forged["connections"][0]["plan"]["operations"] = Value::from(added);
    write_plan(&plan_file, &forged);
    for args in [vec![], vec!["--allow-deletions"]] {
        let mut argv = vec!["apply", plan_file.to_str().unwrap()];
        argv.extend(args);
        let applied = run(&config, &argv);
        assert_eq!(applied.status.code(), Some(5), "{}", text(&applied));
        assert!(text(&applied).contains("refused: 12 operations"));
        assert_eq!(
            server.list("mass", "Users").await.len(),
            14,
            "nothing deleted"
        );
    }

    // Twelve users really leave: the plan holds their deletions back. The
    // file is edited to move them into the operations; apply keeps them held
    // back (exit 4) until --allow-deletions approves them.
    fixture.write_directory(&everyone[..1], &[]);
    let planned = run(&config, &["plan", "--out", plan_file.to_str().unwrap()]);
    assert_eq!(planned.status.code(), Some(4), "{}", text(&planned));
    let mut moved = read_plan(&plan_file);
    let entry = &mut moved["connections"][0]["plan"];
    let held: Vec<Value> = entry["held_back"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["operation"].clone())
        .collect();
    assert_eq!(held.len(), 12);
    entry["operations"] = Value::from(held);
    entry["held_back"] = Value::from(Vec::<Value>::new());
    write_plan(&plan_file, &moved);
    let applied = run(&config, &["apply", plan_file.to_str().unwrap()]);
    assert_eq!(applied.status.code(), Some(4), "{}", text(&applied));
    assert_eq!(
        server.list("mass", "Users").await.len(),
        14,
        "nothing deleted"
    );
    let approved = run(
        &config,
        &["apply", plan_file.to_str().unwrap(), "--allow-deletions"],
    );
    assert_eq!(approved.status.code(), Some(0), "{}", text(&approved));
    let users = server.list("mass", "Users").await;
    assert_eq!(users.len(), 2, "u00 and the hand-made admin remain");
    assert!(find(&users, "id", admin["id"].as_str().unwrap()).is_some());
}

/// The daemon's `POST /v1/connections/NAME/apply` hands its JSON body, one
/// [`ConnectionPlan`], to `sync::apply_reviewed`: the same checks hold for a
/// body nobody wrote with `plan --out`.
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_apply_path_refuses_a_hand_made_plan_body() {
    use penvio_sync::plan::{Operation, Plan, RemovalReason};
    use penvio_sync::report::exit::EXIT_STALE_PLAN;
    use penvio_sync::reviewed::ConnectionPlan;
    use penvio_sync::sync::{RunOptions, apply_reviewed};

    let server = Scim2Server::start();
    let admin = seed_by_hand(&server, "body", "root@example.com").await;
    let mut fixture = Fixture::new(&server.org_url("body"));
    fixture.extra_config =
        "    policy: {on_user_removed: delete, max_deletions: 5, max_shrinkage: \"100%\"}\n".into();
    let everyone: Vec<Value> = (0..12)
        .map(|i| {
            user(
                &format!("u{i:02}"),
                &format!("p{i:02}@example.com"),
                "P",
                "Q",
            )
        })
        .collect();
    fixture.write_directory(&everyone, &[]);
    assert_eq!(fixture.sync().await.exit_code, 0);
    let snapshot = fixture.snapshot();
    let mut operations: Vec<Operation> = snapshot
        .users
        .iter()
        .take(11)
        .map(|(source_id, record)| Operation::DeleteUser {
            source_id: source_id.clone(),
            penvio_id: record.penvio_id().to_string(),
            user_name: String::new(),
            reason: RemovalReason::RemovedFromSource,
        })
        .collect();
    operations.push(Operation::DeleteUser {
        source_id: "u11".into(),
        penvio_id: admin["id"].as_str().unwrap().to_string(),
        user_name: "root@example.com".into(),
        reason: RemovalReason::RemovedFromSource,
    });
    let body = ConnectionPlan {
        connection: "test".into(),
        generation: snapshot.generation,
        plan: Plan {
            operations,
            held_back: Vec::new(),
        },
    };
    let options = RunOptions {
        allow_deletions: true,
        ..RunOptions::sync_now()
    };
    let report = apply_reviewed(
        &fixture.connection(TOKEN),
        0,
        fixture.store(),
        &body,
        &options,
    )
    .await;
    assert_eq!(report.exit_code, EXIT_STALE_PLAN, "{report:#?}");
    assert_eq!(report.refused.len(), 12);
    assert!(report.applied.is_empty());
    assert!(
        report.refused[11].reason.contains("this connection holds"),
        "{}",
        report.refused[11].reason
    );
    let users = server.list("body", "Users").await;
    assert_eq!(users.len(), 13, "nothing deleted");
    assert!(users.iter().all(|u| u["active"] == true));
}
