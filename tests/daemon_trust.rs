//! The daemon's API as an attacker sees it (issue 14): the real
//! `penvio-sync daemon` process, a file source and the real scim2-server as
//! Penvio. Each attack must be refused with nothing written to Penvio; the
//! admin's own tools (the CLI forwarding to the daemon) keep working.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, Scim2Server, TOKEN, user};
use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `penvio-sync daemon` as a child process, killed on drop.
struct Daemon {
    child: Child,
    base: String,
}

impl Daemon {
    async fn start(config: &Path, port: u16) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
            .args([
                "--config",
                config.to_str().unwrap(),
                "daemon",
                "--allow-root",
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let daemon = Daemon {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let health = format!("{}/healthz", daemon.base);
        eventually("the daemon serves", Duration::from_secs(30), || async {
            http.get(&health).send().await.is_ok()
        })
        .await;
        daemon
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
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

/// A daemon config: one connection that never runs by itself (no run at
/// start, a schedule once a year), so every write Penvio sees came from a
/// request the test made. `header` is extra top-level YAML.
fn config_text(fixture: &Fixture, port: u16, header: &str, rate: u32) -> String {
    format!(
        "state_dir: {state}\nlisten: 127.0.0.1:{port}\n{header}connections:\n  - name: test\n    schedule: \"0 0 0 1 1 *\"\n    run_on_start: false\n    reconcile_schedule: never\n    source: {{type: file, path: {dir}}}\n    target: {{url: {url}, token: {TOKEN}, requests_per_second: {rate}}}\n",
        state = fixture.state_dir().display(),
        dir = fixture.directory_path().display(),
        url = fixture.target_url,
    )
}

fn users(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| user(&format!("u{i}"), &format!("u{i}@example.com"), "G", "F"))
        .collect()
}

fn cli(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
        .args(["--config", config.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

fn token_file(fixture: &Fixture) -> PathBuf {
    fixture.state_dir().join("listen_token")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_needs_the_generated_token_and_refuses_web_pages_and_rebinding() {
    let server = Scim2Server::start();
    let fixture = Fixture::new(&server.org_url("trust"));
    fixture.write_directory(&users(3), &[]);
    let port = free_port();
    std::fs::write(fixture.config_path(), config_text(&fixture, port, "", 500)).unwrap();
    let _daemon = Daemon::start(&fixture.config_path(), port).await;

    // No listen_token configured: the daemon generated one, private to its user.
    let path = token_file(&fixture);
    let mode = std::fs::symlink_metadata(&path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let token = std::fs::read_to_string(&path).unwrap().trim().to_string();
    assert_eq!(token.len(), 64, "256 bits as hex");
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));

    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let sync = format!("http://127.0.0.1:{port}/v1/connections/test/sync?allow_deletions=true");
    let json = ("content-type", "application/json");
    let attempts = [
        // Before: 200 and every user written, with no credentials at all.
        ("no token", http.post(&sync).header(json.0, json.1), 401),
        (
            "a wrong token",
            http.post(&sync).header(json.0, json.1).bearer_auth("guess"),
            401,
        ),
        // A web page the admin has open (cross-site, with the token guessed or not).
        (
            "a web page's request",
            http.post(&sync)
                .header(json.0, json.1)
                .header("origin", "https://evil.example")
                .bearer_auth(&token),
            403,
        ),
        // A "simple" cross-site POST (no preflight) cannot set a JSON content type.
        ("no content type", http.post(&sync).bearer_auth(&token), 415),
        (
            "a form's content type",
            http.post(&sync)
                .header("content-type", "application/x-www-form-urlencoded")
                .bearer_auth(&token)
                .body("a=b"),
            415,
        ),
        // DNS rebinding: a hostile name that resolves to 127.0.0.1.
        (
            "a foreign Host",
            http.post(&sync)
                .header(json.0, json.1)
                .header("host", format!("evil.example:{port}"))
                .bearer_auth(&token),
            403,
        ),
        (
            "a foreign Host reading",
            http.get(format!("http://127.0.0.1:{port}/v1/connections"))
                .header("host", "rebind.evil.example")
                .bearer_auth(&token),
            403,
        ),
        (
            "no token reading",
            http.get(format!(
                "http://127.0.0.1:{port}/v1/connections/test/explain?subject=u1"
            )),
            401,
        ),
    ];
    for (what, request, status) in attempts {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{what}");
    }
    assert_eq!(
        server.request_counts("trust").await.0,
        0,
        "no writes in Penvio"
    );
    assert!(server.list("trust", "Users").await.is_empty());

    // Probes and scrapers stay open.
    for open in ["healthz", "readyz", "metrics"] {
        let response = http
            .get(format!("http://127.0.0.1:{port}/{open}"))
            .send()
            .await
            .unwrap();
        assert_ne!(response.status().as_u16(), 401, "{open}");
    }

    // The admin's CLI reads the generated token and forwards.
    let output = cli(&fixture.config_path(), &["sync", "--json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("The daemon holds the state"), "{stderr}");
    assert_eq!(server.list("trust", "Users").await.len(), 3);
    // And with localhost as the Host, the API answers the token's bearer.
    let listed = http
        .get(format!("http://localhost:{port}/v1/connections"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_replaces_the_token_from_the_file_or_the_config() {
    let server = Scim2Server::start();
    let fixture = Fixture::new(&server.org_url("rotate"));
    fixture.write_directory(&users(1), &[]);
    let port = free_port();
    std::fs::write(fixture.config_path(), config_text(&fixture, port, "", 500)).unwrap();
    let daemon = Daemon::start(&fixture.config_path(), port).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let list = format!("http://127.0.0.1:{port}/v1/connections");
    let status = |token: String| {
        let request = http.get(&list).bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let generated = std::fs::read_to_string(token_file(&fixture))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(status(generated.clone()).await, 200);

    // The admin replaces the file (keeping it private) and reloads.
    let replaced = "0123456789abcdef0123456789abcdef-rotated".to_string();
    std::fs::remove_file(token_file(&fixture)).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(token_file(&fixture))
        .unwrap();
    writeln!(file, "{replaced}").unwrap();
    drop(file);
    daemon.signal("HUP");
    eventually(
        "the new file token is accepted",
        Duration::from_secs(20),
        || {
            let answer = status(replaced.clone());
            async move { answer.await == 200 }
        },
    )
    .await;
    assert_eq!(
        status(generated.clone()).await,
        401,
        "the old token is refused"
    );

    // A listen_token in the config takes over from the file.
    let configured = "configured-listen-token";
    std::fs::write(
        fixture.config_path(),
        config_text(
            &fixture,
            port,
            &format!("listen_token: {configured}\n"),
            500,
        ),
    )
    .unwrap();
    daemon.signal("HUP");
    eventually(
        "the configured token is accepted",
        Duration::from_secs(20),
        || {
            let answer = status(configured.to_string());
            async move { answer.await == 200 }
        },
    )
    .await;
    assert_eq!(status(replaced).await, 401, "the file's token is refused");
    assert_eq!(server.request_counts("rotate").await.0, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_caller_disconnects_still_completes() {
    let server = Scim2Server::start();
    let fixture = Fixture::new(&server.org_url("hangup"));
    let count = 300;
    fixture.write_directory(&users(count), &[]);
    let port = free_port();
    // 50 writes per second: the run takes at least 6 s, long enough to
    // disconnect in the middle of it.
    std::fs::write(
        fixture.config_path(),
        config_text(&fixture, port, "listen_token: t0ken\n", 50),
    )
    .unwrap();
    let _daemon = Daemon::start(&fixture.config_path(), port).await;

    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /v1/connections/test/sync HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer t0ken\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
    )
    .unwrap();
    eventually("the run is under way", Duration::from_secs(30), || async {
        server.request_counts("hangup").await.0 >= 5
    })
    .await;
    // The caller goes away mid-apply (before: the run was aborted here).
    stream.shutdown(std::net::Shutdown::Both).unwrap();
    drop(stream);
    let before = server.list("hangup", "Users").await.len();
    assert!(
        before < count,
        "disconnected mid-run ({before} of {count} written)"
    );

    eventually(
        "every user reaches Penvio",
        Duration::from_secs(120),
        || async { server.list("hangup", "Users").await.len() == count },
    )
    .await;
    // The run finished and was recorded as the last report.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let status_url = format!("http://127.0.0.1:{port}/v1/connections/test");
    eventually("the run is recorded", Duration::from_secs(30), || async {
        let status: Value = http
            .get(&status_url)
            .bearer_auth("t0ken")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status["last_report"]["exit_code"] == 0 && status["running"] == false
    })
    .await;
}

#[test]
fn check_warns_when_the_cli_and_the_service_may_use_different_state() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let body = "connections:\n  - name: c\n    source: {type: file, path: d.yaml}\n    target: {url: https://penvio.example/scim/v2/o, token: t}\n";
    std::fs::write(&config, body).unwrap();
    let check = || {
        Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
            .args(["--config", config.to_str().unwrap(), "check"])
            .current_dir(dir.path())
            .env_remove("STATE_DIRECTORY")
            .output()
            .unwrap()
    };
    let output = check();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    if Path::new("/var/lib/penvio-sync").is_dir() {
        // The CLI found the packaged service's state: both agree.
        assert!(stdout.contains("state: /var/lib/penvio-sync"), "{stdout}");
        assert!(!stdout.contains("warning: state_dir"), "{stdout}");
    } else {
        assert!(stdout.contains("warning: state_dir is not set"), "{stdout}");
        assert!(stdout.contains("/var/lib/penvio-sync"), "{stdout}");
    }

    // An explicit state_dir: nothing to warn about.
    std::fs::write(
        &config,
        format!("state_dir: {}\n{body}", dir.path().join("s").display()),
    )
    .unwrap();
    let stdout = String::from_utf8_lossy(&check().stdout).into_owned();
    assert!(!stdout.contains("warning: state_dir"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_files_never_follow_a_symlink_and_are_private() {
    let server = Scim2Server::start();
    let fixture = Fixture::new(&server.org_url("planfile"));
    fixture.write_directory(&users(2), &[]);
    let port = free_port();
    std::fs::write(fixture.config_path(), config_text(&fixture, port, "", 500)).unwrap();
    let _daemon = Daemon::start(&fixture.config_path(), port).await;

    // Another local user planted a symlink where the admin writes the plan.
    let victim = fixture.dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let plan = fixture.dir.path().join("plan.json");
    std::os::unix::fs::symlink(&victim, &plan).unwrap();
    let output = cli(
        &fixture.config_path(),
        &["plan", "--out", plan.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("The daemon holds the state"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let metadata = std::fs::symlink_metadata(&plan).unwrap();
    assert!(
        metadata.file_type().is_file(),
        "the symlink was replaced, not followed"
    );
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    let written: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    assert_eq!(written["connections"][0]["connection"], "test");

    // An existing world-readable file does not keep its mode.
    std::fs::set_permissions(&plan, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = cli(
        &fixture.config_path(),
        &["plan", "--out", plan.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(0));
    let mode = std::fs::symlink_metadata(&plan)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        server.request_counts("planfile").await.0,
        0,
        "a plan writes nothing"
    );
}
