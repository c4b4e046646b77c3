//! The daemon as ops run it: a child process with per-second schedules, a
//! file source and the real scim2-server; systemd notifications on a socket
//! the test listens on; the HTTP endpoint; signals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Fixture, Scim2Server, TOKEN, user};
use serde_json::Value;

const LISTEN_TOKEN: &str = "daemon-api-token";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Collects every sd_notify datagram the daemon sends.
struct NotifySocket {
    path: std::path::PathBuf,
    messages: Arc<Mutex<Vec<String>>>,
}

impl NotifySocket {
    fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sink = messages.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = socket.recv(&mut buffer) {
                sink.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buffer[..n]).into_owned());
            }
        });
        NotifySocket { path, messages }
    }

    fn saw(&self, needle: &str) -> bool {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.lines().any(|line| line == needle))
    }
}

struct Daemon {
    child: Child,
    base: String,
}

impl Daemon {
    fn start(config: &Path, notify: Option<&NotifySocket>, port: u16) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_penvio-sync"));
        command
            .args([
                "--config",
                config.to_str().unwrap(),
                "daemon",
                "--allow-root",
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(notify) = notify {
            command
                .env("NOTIFY_SOCKET", &notify.path)
                .env("WATCHDOG_USEC", "1000000");
        }
        Daemon {
            child: command.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the daemon did not exit within {within:?}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn connection_block(name: &str, directory: &Path, url: &str, token: &str) -> String {
    format!(
        "  - name: {name}\n    schedule: \"* * * * * *\"\n    reconcile_schedule: never\n    source: {{type: file, path: {}}}\n    target: {{url: {url}, token: {token}, requests_per_second: 500}}\n",
        directory.display()
    )
}

fn metric(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_schedules_serves_forwards_reloads_and_stops() {
    let server = Scim2Server::start();
    let fixture = Fixture::new(&server.org_url("daemon"));
    fixture.write_directory(
        &[
            user("u1", "ada@example.com", "Ada", "Lovelace"),
            user("u2", "bob@example.com", "Bob", "Builder"),
        ],
        &[],
    );
    let port = free_port();
    let header = format!(
        "state_dir: {}\nlisten: 127.0.0.1:{port}\nlisten_token: {LISTEN_TOKEN}\nlog: {{format: json, level: info}}\nconnections:\n",
        fixture.state_dir().display()
    );
    let first = connection_block(
        "test",
        &fixture.directory_path(),
        &server.org_url("daemon"),
        TOKEN,
    );
    std::fs::write(fixture.config_path(), format!("{header}{first}")).unwrap();

    let notify = NotifySocket::bind(fixture.dir.path());
    let mut daemon = Daemon::start(&fixture.config_path(), Some(&notify), port);
    let http = reqwest::Client::new();

    // Ready, alive, and the run at start provisions the directory.
    eventually("READY=1", Duration::from_secs(20), || async {
        notify.saw("READY=1")
    })
    .await;
    eventually("WATCHDOG=1", Duration::from_secs(5), || async {
        notify.saw("WATCHDOG=1")
    })
    .await;
    eventually("initial provisioning", Duration::from_secs(20), || async {
        server.list("daemon", "Users").await.len() == 2
    })
    .await;
    let health = http
        .get(format!("{}/healthz", daemon.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = http
        .get(format!("{}/readyz", daemon.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    // A scheduled run picks up a change within seconds.
    fixture.write_directory(
        &[
            user("u1", "ada@example.com", "Ada", "King"),
            user("u2", "bob@example.com", "Bob", "Builder"),
            user("u3", "cy@example.com", "Cy", "Young"),
        ],
        &[],
    );
    eventually(
        "a scheduled run applies the change",
        Duration::from_secs(20),
        || async {
            let users = server.list("daemon", "Users").await;
            users.len() == 3 && users.iter().any(|u| u["name"]["familyName"] == "King")
        },
    )
    .await;

    // The API needs the token, and runs on demand.
    let url = format!("{}/v1/connections/test/sync", daemon.base);
    let refused = http.post(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let mut report: Option<Value> = None;
    for _ in 0..50 {
        let response = http
            .post(&url)
            .bearer_auth(LISTEN_TOKEN)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        if response.status() == 409 {
            // A scheduled run was in progress: exactly the documented answer.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        assert_eq!(response.status(), 200);
        report = Some(response.json().await.unwrap());
        break;
    }
    let report = report.expect("the API ran the connection");
    assert_eq!(report["exit_code"], 0);
    assert_eq!(report["connection"], "test");

    // The CLI forwards to the daemon (it holds the state) with the same output and exit code.
    let mut forwarded = None;
    for _ in 0..50 {
        let output = Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
            .args([
                "--config",
                fixture.config_path().to_str().unwrap(),
                "sync",
                "--json",
            ])
            .output()
            .unwrap();
        if output.status.code() == Some(1)
            && String::from_utf8_lossy(&output.stderr).contains("already in progress")
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        forwarded = Some(output);
        break;
    }
    let output = forwarded.expect("a forwarded sync ran");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("The daemon holds the state"));
    let forwarded_report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(forwarded_report["connection"], "test");
    assert_eq!(forwarded_report["exit_code"], 0);

    // Metrics after known runs.
    let metrics = http
        .get(format!("{}/metrics", daemon.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let succeeded = metric(
        &metrics,
        "penvio_sync_runs_total{connection=\"test\",mode=\"sync\",outcome=\"succeeded\"}",
    )
    .unwrap_or_else(|| panic!("no runs_total series:\n{metrics}"));
    assert!(succeeded >= 3.0, "{succeeded}");
    assert_eq!(
        metric(&metrics, "penvio_sync_managed_users{connection=\"test\"}"),
        Some(3.0)
    );
    assert_eq!(
        metric(
            &metrics,
            "penvio_sync_operations_total{connection=\"test\",operation=\"create_user\",outcome=\"applied\"}"
        ),
        Some(3.0),
        "{metrics}"
    );
    assert!(
        metric(
            &metrics,
            "penvio_sync_last_success_timestamp_seconds{connection=\"test\"}"
        )
        .is_some()
    );
    assert_eq!(
        metric(
            &metrics,
            "penvio_sync_consecutive_failures{connection=\"test\"}"
        ),
        Some(0.0)
    );

    // SIGHUP: a new connection (to a second org) and a broken one take effect.
    let second = connection_block(
        "second",
        &fixture.directory_path(),
        &server.org_url("daemon-second"),
        TOKEN,
    );
    let broken = connection_block(
        "broken",
        &fixture.directory_path(),
        &server.org_url("daemon-broken"),
        "wrong-token",
    );
    std::fs::write(
        fixture.config_path(),
        format!("{header}{first}{second}{broken}"),
    )
    .unwrap();
    daemon.signal("HUP");
    eventually(
        "the added connection syncs",
        Duration::from_secs(20),
        || async { server.list("daemon-second", "Users").await.len() == 3 },
    )
    .await;

    // Repeated 401s: the connection backs off and /readyz says so.
    eventually(
        "/readyz fails for the broken connection",
        Duration::from_secs(20),
        || async {
            let response = http
                .get(format!("{}/readyz", daemon.base))
                .send()
                .await
                .unwrap();
            if response.status() != 503 {
                return false;
            }
            let body: Value = response.json().await.unwrap();
            body["backing_off"]
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n == "broken"))
        },
    )
    .await;
    let status: Value = http
        .get(format!("{}/v1/connections/broken", daemon.base))
        .bearer_auth(LISTEN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let failures = status["consecutive_failures"].as_u64().unwrap();
    assert!(failures >= 2);
    assert!(
        status["last_report"]["error"]
            .as_str()
            .unwrap()
            .contains("rejected the token")
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later: Value = http
        .get(format!("{}/v1/connections/broken", daemon.base))
        .bearer_auth(LISTEN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        later["consecutive_failures"].as_u64().unwrap(),
        failures,
        "no runs while backing off"
    );

    // An invalid config on SIGHUP keeps the running one.
    std::fs::write(fixture.config_path(), "connections: [").unwrap();
    daemon.signal("HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let listed: Value = http
        .get(format!("{}/v1/connections", daemon.base))
        .bearer_auth(LISTEN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["connections"].as_array().unwrap().len(), 3);

    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(40)), Some(0));
    assert!(notify.saw("STOPPING=1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_run_exits_0_and_the_next_start_converges() {
    let server = Scim2Server::start();
    let fixture = Fixture::new(&server.org_url("term"));
    let users: Vec<Value> = (0..1500)
        .map(|i| user(&format!("id{i}"), &format!("u{i}@example.com"), "G", "F"))
        .collect();
    fixture.write_directory(&users, &[]);
    let port = free_port();
    let config = format!(
        "state_dir: {}\nlisten: 127.0.0.1:{port}\nconnections:\n  - name: test\n    schedule: \"0 0 0 1 1 *\"\n    reconcile_schedule: never\n    source: {{type: file, path: {}}}\n    target: {{url: {}, token: {TOKEN}, requests_per_second: 150}}\n",
        fixture.state_dir().display(),
        fixture.directory_path().display(),
        server.org_url("term"),
    );
    std::fs::write(fixture.config_path(), config).unwrap();

    let mut daemon = Daemon::start(&fixture.config_path(), None, port);
    eventually(
        "the run at start is under way",
        Duration::from_secs(30),
        || async { server.request_counts("term").await.0 >= 200 },
    )
    .await;
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(40)), Some(0));
    let partial = server.list("term", "Users").await.len();
    assert!(partial < 1500, "stopped mid-run: {partial}");

    // Everything Penvio acknowledged was recorded: the restart creates only
    // the rest, with no duplicates.
    let mut daemon = Daemon::start(&fixture.config_path(), None, port);
    eventually("the restart converges", Duration::from_secs(60), || async {
        server.list("term", "Users").await.len() == 1500
    })
    .await;
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(40)), Some(0));
    let users = server.list("term", "Users").await;
    let names: std::collections::BTreeSet<&str> = users
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 1500);
    let (writes, _) = server.request_counts("term").await;
    assert!(
        writes <= 1500 + 8,
        "acknowledged creates were not repeated ({writes} writes for 1500 users)"
    );
}

/// Runs the CLI against `config`, again while the daemon answers that a run
/// is in progress (the run at start, here).
async fn cli_through_daemon(config: &Path, args: &[&str]) -> std::process::Output {
    for _ in 0..100 {
        let output = Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
            .args(["--config", config.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        if String::from_utf8_lossy(&output.stderr).contains("already in progress") {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        return output;
    }
    panic!("the daemon stayed busy: {args:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn plans_are_reviewed_and_applied_and_users_explained_through_the_running_daemon() {
    let server = Scim2Server::start();
    let fixture = Fixture::new(&server.org_url("review"));
    fixture.write_directory(
        &[
            user("u1", "ada@example.com", "Ada", "Lovelace"),
            user("u2", "bob@example.com", "Bob", "Builder"),
        ],
        &[],
    );
    let port = free_port();
    let config = format!(
        "state_dir: {}\nlisten: 127.0.0.1:{port}\nlisten_token: {LISTEN_TOKEN}\nconnections:\n  - name: test\n    schedule: \"0 0 0 1 1 *\"\n    reconcile_schedule: never\n    source: {{type: file, path: {}}}\n    target: {{url: {}, token: {TOKEN}, requests_per_second: 500}}\n",
        fixture.state_dir().display(),
        fixture.directory_path().display(),
        server.org_url("review"),
    );
    std::fs::write(fixture.config_path(), config).unwrap();
    let mut daemon = Daemon::start(&fixture.config_path(), None, port);
    eventually(
        "the run at start provisions",
        Duration::from_secs(30),
        || async { server.list("review", "Users").await.len() == 2 },
    )
    .await;

    fixture.write_directory(
        &[
            user("u1", "ada@example.com", "Ada", "King"),
            user("u2", "bob@example.com", "Bob", "Builder"),
            user("u3", "cy@example.com", "Cy", "Young"),
        ],
        &[],
    );
    let plan_file = fixture.dir.path().join("reviewed.json");
    let config = fixture.config_path();
    let planned =
        cli_through_daemon(&config, &["plan", "--out", plan_file.to_str().unwrap()]).await;
    let stderr = String::from_utf8_lossy(&planned.stderr);
    assert_eq!(planned.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("The daemon holds the state"), "{stderr}");
    assert!(stderr.contains("test: 2 operations planned"), "{stderr}");
    let written: Value = serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    assert_eq!(written["connections"][0]["connection"], "test");
    assert_eq!(
        written["connections"][0]["plan"]["operations"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // A plan changes nothing.
    let users = server.list("review", "Users").await;
    assert_eq!(users.len(), 2);
    assert!(users.iter().all(|u| u["name"]["familyName"] != "King"));

    let applied = cli_through_daemon(&config, &["apply", plan_file.to_str().unwrap()]).await;
    let stderr = String::from_utf8_lossy(&applied.stderr);
    assert_eq!(applied.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("The daemon holds the state"), "{stderr}");
    let users = server.list("review", "Users").await;
    assert_eq!(users.len(), 3);
    assert!(users.iter().any(|u| u["name"]["familyName"] == "King"));

    // The snapshot moved: the same plan is refused as stale (exit 5).
    let again = cli_through_daemon(&config, &["apply", plan_file.to_str().unwrap()]).await;
    assert_eq!(
        again.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("the snapshot has moved"));
    assert_eq!(server.list("review", "Users").await.len(), 3);

    // explain reads the daemon's snapshot through it, too.
    let explained = cli_through_daemon(&config, &["explain", "cy@example.com"]).await;
    let stdout = String::from_utf8_lossy(&explained.stdout);
    assert_eq!(
        explained.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&explained.stderr)
    );
    assert!(stdout.contains("Connection test:"), "{stdout}");
    assert!(stdout.contains("User cy@example.com (u3)"), "{stdout}");
    assert!(stdout.contains("In Penvio (snapshot): id "), "{stdout}");
    let unknown = cli_through_daemon(&config, &["explain", "nobody@example.com"]).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("Nothing named \"nobody@example.com\"")
    );

    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(40)), Some(0));
}

#[test]
fn the_daemon_refuses_root_without_allow_root() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "state_dir: {}\nlisten: 127.0.0.1:{}\nconnections:\n  - name: c\n    run_on_start: false\n    source: {{type: file, path: d.yaml}}\n    target: {{url: https://penvio.example/scim/v2/o, token: t}}\n",
            dir.path().join("state").display(),
            free_port()
        ),
    )
    .unwrap();
    let uid = Command::new("id").arg("-u").output().unwrap();
    let is_root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    let mut child = Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
        .args(["--config", config.to_str().unwrap(), "daemon"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if is_root {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&output.stderr).contains("Refusing to run as root"));
    } else {
        std::thread::sleep(Duration::from_secs(1));
        assert!(
            child.try_wait().unwrap().is_none(),
            "a normal user may run the daemon"
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}
