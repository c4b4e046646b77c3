//! Alerts (issue 19) end to end: the CLI and the daemon as ops run them,
//! the in-process emulator as Penvio, a local HTTP receiver (random port)
//! that records every request and verifies the webhook HMAC itself, and a
//! real SMTP server (aiosmtpd, pinned in tests/support/requirements-smtp.txt).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use common::{TOKEN, test_python, user};
use penvio_sync::config::{self, ProcessEnvironment};
use penvio_sync::emulator::{Emulator, EmulatorConfig, ScriptedResponse};
use penvio_sync::notify::{self, Notifier};
use penvio_sync::state::{RedbStateStore, StateStore};
use penvio_sync::sync::{RunOptions, run_connection};
use serde_json::{Value, json};

/// The key the webhook channel signs with; the receiver checks it.
const HOOK_KEY: &str = "hook-signing-key";
/// A token the emulator refuses (a regenerated token).
const STALE_TOKEN: &str = "regenerated-long-ago";
/// Upper bound for waiting on an event that should happen (generous: the
/// suite runs on a loaded 2-core machine; passing tests never wait it out).
const EVENT_WAIT: Duration = Duration::from_secs(60);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// What the receiver does with requests.
#[derive(Default)]
struct Behaviour {
    /// Answer 500 to this many requests first.
    fail_first: AtomicUsize,
    /// Hold every request open this long before answering.
    hold: Mutex<Option<Duration>>,
    /// Requests answered after a hold.
    released: AtomicUsize,
    requests: Mutex<Vec<Received>>,
}

/// A local HTTP receiver standing in for Slack, Teams and webhooks.
struct Receiver {
    base: String,
    state: Arc<Behaviour>,
}

async fn receive(
    State(state): State<Arc<Behaviour>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state.requests.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    let hold = *state.hold.lock().unwrap();
    if let Some(hold) = hold {
        tokio::time::sleep(hold).await;
        state.released.fetch_add(1, Ordering::SeqCst);
    }
    let failing = state
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

impl Receiver {
    async fn start() -> Self {
        let state = Arc::new(Behaviour::default());
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { base, state }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }

    fn at(&self, path: &str) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// The `event` field of each JSON body at `path` (webhook), in order.
    fn events(&self, path: &str) -> Vec<String> {
        self.at(path)
            .iter()
            .map(|r| r.json()["event"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn wait_for(&self, what: &str, count: usize) {
        let deadline = Instant::now() + EVENT_WAIT;
        while self.requests().len() < count {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Checks the webhook signature as a receiver would: HMAC-SHA256 under the
/// shared key of `"<timestamp>.<body>"`, compared in constant time.
fn verify_signature(request: &Received) {
    let timestamp = request.headers["x-penvio-sync-timestamp"].to_str().unwrap();
    let signature = request.headers["x-penvio-sync-signature"].to_str().unwrap();
    let hex = signature.strip_prefix("sha256=").expect("sha256= prefix");
    let tag: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, HOOK_KEY.as_bytes());
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(&request.body);
    aws_lc_rs::hmac::verify(&key, &message, &tag).expect("the HMAC verifies");
    let forged = [&message[..], b" "].concat();
    assert!(aws_lc_rs::hmac::verify(&key, &forged, &tag).is_err());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig {
        tokens: vec![TOKEN.to_owned()],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

/// A temporary setup: directory export, state and config for one
/// connection `hr` with the given `notifications:` block.
struct Setup {
    dir: tempfile::TempDir,
    target: String,
}

impl Setup {
    fn new(emulator: &Emulator, org: &str) -> Self {
        Setup {
            dir: tempfile::tempdir().unwrap(),
            target: emulator.base_url(org),
        }
    }

    fn directory(&self) -> PathBuf {
        self.dir.path().join("directory.json")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("penvio-sync.yaml")
    }

    fn write_users(&self, count: usize) {
        let users: Vec<Value> = (0..count)
            .map(|i| {
                user(
                    &format!("u{i}"),
                    &format!("u{i}@example.com"),
                    "U",
                    &format!("{i}"),
                )
            })
            .collect();
        let export = json!({"users": users, "groups": []});
        std::fs::write(self.directory(), serde_json::to_vec(&export).unwrap()).unwrap();
    }

    fn config_text(&self, token: &str, top: &str, connection: &str, notifications: &str) -> String {
        format!(
            "state_dir: {state}\n{top}connections:\n  - name: hr\n    source: {{type: file, path: {dir}}}\n    target: {{url: {url}, token: {token}, requests_per_second: 500}}\n    scope: {{team_groups: []}}\n{connection}notifications:\n{notifications}",
            state = self.dir.path().join("state").display(),
            dir = self.directory().display(),
            url = self.target,
        )
    }

    fn write_config(&self, token: &str, notifications: &str) {
        std::fs::write(
            self.config_path(),
            self.config_text(token, "", "", notifications),
        )
        .unwrap();
    }

    /// Runs the CLI off the runtime's threads (the emulator and receiver
    /// keep serving); the CLI waits for its alerts before it exits.
    async fn cli(&self, args: &[&str]) -> Output {
        let config = self.config_path();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
                .arg("--config")
                .arg(&config)
                .args(&args)
                .env("RUST_LOG", "info")
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    }

    async fn sync(&self) -> i32 {
        self.cli(&["sync"]).await.status.code().unwrap()
    }
}

fn three_channels(receiver: &Receiver) -> String {
    format!(
        "  - {{name: hook, type: webhook, url: \"{}\", secret: {HOOK_KEY}}}\n  - {{name: chat, type: slack, url: \"{}\"}}\n  - {{name: room, type: teams, url: \"{}\"}}\n",
        receiver.url("/hook"),
        receiver.url("/slack"),
        receiver.url("/teams"),
    )
}

/// Every event fires once per channel until the connection recovers, then
/// one `recovered`; the bodies have the documented shapes, the webhook is
/// signed, and no payload holds a token or a channel URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_fires_once_until_recovered_on_every_channel() {
    let emulator = emulator().await;
    let receiver = Receiver::start().await;
    let setup = Setup::new(&emulator, "alerts");
    setup.write_users(10);
    let channels = three_channels(&receiver);

    // A regenerated token: token_rejected, once however often it happens.
    setup.write_config(STALE_TOKEN, &channels);
    assert_eq!(setup.sync().await, 1);
    assert_eq!(setup.sync().await, 1);
    assert_eq!(receiver.events("/hook"), ["token_rejected"]);

    // Fixed: one recovered; a second success sends nothing.
    setup.write_config(TOKEN, &channels);
    assert_eq!(setup.sync().await, 0);
    assert_eq!(setup.sync().await, 0);
    assert_eq!(receiver.events("/hook"), ["token_rejected", "recovered"]);

    // The export vanishes: run_failed (once).
    std::fs::remove_file(setup.directory()).unwrap();
    assert_eq!(setup.sync().await, 1);
    assert_eq!(setup.sync().await, 1);
    // Half the directory is gone: the guard holds the deactivations back.
    setup.write_users(5);
    assert_eq!(setup.sync().await, 4);
    assert_eq!(setup.sync().await, 4);
    // Back to 10, plus a newcomer Penvio refuses: partial.
    setup.write_users(11);
    emulator.inject(
        ScriptedResponse::new(400, 1)
            .method("POST")
            .path_prefix("/Users")
            .into(),
    );
    assert_eq!(setup.sync().await, 3);
    // All good again: one recovered closes all three.
    assert_eq!(setup.sync().await, 0);
    assert_eq!(
        receiver.events("/hook"),
        [
            "token_rejected",
            "recovered",
            "run_failed",
            "held_back",
            "partial",
            "recovered"
        ]
    );

    assert_shapes(&receiver);
}

/// The bodies of the scenario above: documented webhook JSON, signed;
/// Slack text and a Teams card; no secret anywhere.
fn assert_shapes(receiver: &Receiver) {
    let hooks = receiver.at("/hook");
    for request in &hooks {
        verify_signature(request);
        assert_eq!(request.headers["content-type"], "application/json");
        let body = request.json();
        assert_eq!(body["version"], 1);
        assert_eq!(body["connection"], "hr");
        assert!(body["run_id"].as_str().unwrap().starts_with("hr-"));
        assert!(body["time"].as_str().unwrap().ends_with('Z'));
    }
    let rejected = hooks[0].json();
    assert_eq!(rejected["outcome"], "failed");
    assert!(
        rejected["first_error"]
            .as_str()
            .unwrap()
            .contains("rejected the token (401)"),
        "{rejected}"
    );
    assert!(
        rejected["fix"]
            .as_str()
            .unwrap()
            .contains("connections[0].target.token"),
        "{rejected}"
    );
    let held = hooks[3].json();
    assert_eq!(held["outcome"], "held_back");
    assert_eq!(held["counts"]["held_back"], 5);
    let partial = hooks[4].json();
    assert_eq!(partial["counts"]["failed"], 1);
    assert_eq!(partial["counts"]["applied"], 0);

    let slack = receiver.at("/slack");
    assert_eq!(slack.len(), 6);
    let text = slack[0].json()["text"].as_str().unwrap().to_owned();
    assert!(
        text.starts_with("Penvio rejected the token of hr (401)"),
        "{text}"
    );
    assert!(text.contains("What to do:"), "{text}");
    let teams = receiver.at("/teams");
    assert_eq!(teams.len(), 6);
    let card = teams[5].json();
    assert_eq!(card["type"], "message");
    let content = &card["attachments"][0]["content"];
    assert_eq!(content["type"], "AdaptiveCard");
    assert_eq!(content["body"][0]["text"], "Sync of hr recovered.");

    for request in receiver.requests() {
        let body = String::from_utf8_lossy(&request.body).into_owned();
        for secret in [TOKEN, STALE_TOKEN, HOOK_KEY, receiver.base.as_str()] {
            assert!(!body.contains(secret), "{secret} leaked into {body}");
        }
    }
}

/// A receiver that fails twice gets the alert on the third attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_the_alert_after_retries() {
    let emulator = emulator().await;
    let receiver = Receiver::start().await;
    receiver.state.fail_first.store(2, Ordering::SeqCst);
    let setup = Setup::new(&emulator, "retries");
    setup.write_config(
        TOKEN,
        &format!(
            "  - {{name: hook, type: webhook, url: \"{}\", secret: {HOOK_KEY}}}\n",
            receiver.url("/hook")
        ),
    );
    let output = setup.cli(&["sync"]).await;
    assert_eq!(output.status.code(), Some(1), "no export: the run fails");
    let requests = receiver.at("/hook");
    assert_eq!(requests.len(), 3, "two 500s, then 200");
    for request in &requests {
        verify_signature(request);
        assert_eq!(
            request.json(),
            requests[0].json(),
            "the same alert each time"
        );
    }
    let log = without_ansi(&String::from_utf8_lossy(&output.stderr));
    assert!(
        log.contains("Sent an alert") && log.contains("attempts=3"),
        "{log}"
    );
    assert!(!log.contains("Could not save the alert state"), "{log}");
}

/// Log text without terminal colour codes.
fn without_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The real SMTP server.
struct SmtpSink {
    child: Child,
    port: u16,
    messages: Arc<Mutex<Vec<Value>>>,
}

impl SmtpSink {
    fn start() -> Self {
        let python = test_python();
        assert!(
            python.exists(),
            "{} is missing: run scripts/test, which creates the venv with the pinned aiosmtpd",
            python.display()
        );
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.next().unwrap().unwrap();
        let port = ready.strip_prefix("ready ").unwrap().parse().unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sink = messages.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).unwrap());
            }
        });
        SmtpSink {
            child,
            port,
            messages,
        }
    }

    fn messages(&self) -> Vec<Value> {
        self.messages.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize) {
        let deadline = Instant::now() + EVENT_WAIT;
        while self.messages().len() < count {
            assert!(Instant::now() < deadline, "timed out waiting for e-mail");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// E-mail goes through a real SMTP server; `notify test` reports each
/// channel and fails when one does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_alerts_and_notify_test_through_a_real_smtp_server() {
    let smtp = SmtpSink::start();
    let emulator = emulator().await;
    let setup = Setup::new(&emulator, "mail");
    let closed = free_port();
    setup.write_config(
        TOKEN,
        &format!(
            "  - {{name: mail, type: email, smtp_url: \"smtp://127.0.0.1:{}\", from: \"penvio-sync <sync@example.com>\", to: [ops@example.com, oncall@example.com]}}\n  - {{name: gone, type: webhook, url: \"http://127.0.0.1:{closed}/hook\"}}\n",
            smtp.port
        ),
    );

    let only_mail = setup.cli(&["notify", "test", "--name", "mail"]).await;
    let stdout = String::from_utf8_lossy(&only_mail.stdout).into_owned();
    assert_eq!(only_mail.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.trim(), "ok      mail (email)");
    smtp.wait_for(1).await;
    let test_mail = &smtp.messages()[0];
    assert_eq!(
        test_mail["rcpt_tos"],
        json!(["ops@example.com", "oncall@example.com"])
    );
    let data = test_mail["data"].as_str().unwrap();
    assert!(
        data.contains("Subject: [penvio-sync] Test alert from penvio-sync"),
        "{data}"
    );
    assert!(data.contains("Content-Type: text/plain"), "{data}");

    let both = setup.cli(&["notify", "test"]).await;
    let stdout = String::from_utf8_lossy(&both.stdout).into_owned();
    assert_eq!(both.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("ok      mail (email)"), "{stdout}");
    assert!(stdout.contains("FAILED  gone (webhook)"), "{stdout}");
    assert!(
        !stdout.contains(&closed.to_string()),
        "the URL is a secret: {stdout}"
    );

    // `check` lists the channels, never their URLs.
    let check = setup.cli(&["check"]).await;
    let stdout = String::from_utf8_lossy(&check.stdout).into_owned();
    assert_eq!(check.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("notification gone (webhook): run_failed"),
        "{stdout}"
    );
    assert!(!stdout.contains(&closed.to_string()), "{stdout}");

    // A failing run sends one run_failed e-mail.
    assert_eq!(setup.sync().await, 1);
    smtp.wait_for(3).await;
    let alert = smtp.messages()[2]["data"].as_str().unwrap().to_owned();
    assert!(
        alert.contains("Subject: [penvio-sync] Sync of hr failed."),
        "{alert}"
    );
    assert!(alert.contains("Error: "), "{alert}");
    assert!(!alert.contains(TOKEN), "{alert}");
}

/// A receiver that holds every request open far longer than a run takes, and
/// a channel whose port refuses connections, never slow a run down: the run
/// ends while the receiver still holds the alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_receiver_never_slows_a_run() {
    let emulator = emulator().await;
    let receiver = Receiver::start().await;
    let setup = Setup::new(&emulator, "dead");
    setup.write_users(3);
    let notifications = format!(
        "  - {{name: hang, type: webhook, url: \"{}\"}}\n  - {{name: refused, type: slack, url: \"http://127.0.0.1:{}/x\"}}\n",
        receiver.url("/hang"),
        free_port()
    );
    let text = setup.config_text(TOKEN, "", "", &notifications);
    let config = config::load_str(&text, &setup.config_path(), &ProcessEnvironment).unwrap();
    let connection = &config.connections[0];
    let store: Arc<dyn StateStore> = Arc::new(RedbStateStore::open(&config.state_dir).unwrap());

    // Baseline: a failing run without alerts.
    std::fs::remove_file(setup.directory()).unwrap();
    notify::install(None);
    let started = Instant::now();
    let report = run_connection(connection, 0, store.clone(), &RunOptions::sync_now()).await;
    let baseline = started.elapsed();
    assert_eq!(report.exit_code, 1);

    // The receiver holds each request for far longer than the run took.
    let hold = (baseline * 50).max(Duration::from_secs(120));
    *receiver.state.hold.lock().unwrap() = Some(hold);
    notify::install(Notifier::start(&config).unwrap());

    let started = Instant::now();
    let report = run_connection(connection, 0, store.clone(), &RunOptions::sync_now()).await;
    let failed_run = started.elapsed();
    assert_eq!(report.exit_code, 1);
    receiver.wait_for("the run_failed alert to arrive", 1).await;

    // While that alert is held open, a successful run queues `recovered`.
    setup.write_users(3);
    let started = Instant::now();
    let report = run_connection(connection, 0, store.clone(), &RunOptions::sync_now()).await;
    let recovering_run = started.elapsed();
    assert_eq!(report.exit_code, 0);
    assert_eq!(
        receiver.state.released.load(Ordering::SeqCst),
        0,
        "the runs ended while the receiver still held the alerts"
    );
    println!(
        "baseline {baseline:?}, failing run with alerts {failed_run:?}, recovering run {recovering_run:?}, receiver hold {hold:?}"
    );
    // Margin: half the hold, itself 50 x the baseline run (or 2 minutes).
    assert!(failed_run < hold / 2 && recovering_run < hold / 2);
    receiver.wait_for("the recovered alert to arrive", 2).await;
    assert_eq!(receiver.events("/hang"), ["run_failed", "recovered"]);
    notify::install(None);
}

/// The daemon finds a connection that has not succeeded within
/// `stale_after`, alerts once, counts it in /metrics, and sends
/// `recovered` after the next successful run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_reports_a_stale_connection_once_then_recovered() {
    let emulator = emulator().await;
    let receiver = Receiver::start().await;
    let setup = Setup::new(&emulator, "stale");
    setup.write_users(2);
    let port = free_port();
    let text = setup.config_text(
        TOKEN,
        &format!("listen: 127.0.0.1:{port}\nlisten_token: daemon-token\n"),
        "    schedule: \"0 0 3 1 1 *\"\n    run_on_start: false\n    reconcile_schedule: never\n",
        &format!(
            "  - {{name: hook, type: webhook, url: \"{}\", events: [stale, recovered], stale_after: 2s}}\n",
            receiver.url("/hook")
        ),
    );
    std::fs::write(setup.config_path(), text).unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
        .arg("--config")
        .arg(setup.config_path())
        .args(["daemon", "--allow-root"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    receiver.wait_for("the stale alert", 1).await;
    let stale = receiver.at("/hook")[0].json();
    assert_eq!(stale["event"], "stale");
    assert_eq!(stale["connection"], "hr");
    assert!(stale["run_id"].is_null());

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let metrics_text = || async {
        http.get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let sent = "penvio_sync_alerts_sent_total{channel=\"hook\",event=\"stale\"} 1";
    let deadline = Instant::now() + EVENT_WAIT;
    while !metrics_text().await.contains(sent) {
        assert!(Instant::now() < deadline, "no {sent} in /metrics");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A successful run on demand closes it with one `recovered`; the stale
    // checks that ran meanwhile (every second) sent nothing more.
    let response = http
        .post(format!("{base}/v1/connections/hr/sync"))
        .bearer_auth("daemon-token")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    receiver.wait_for("the recovered alert", 2).await;
    // (Without runs it goes stale again 2s later: only the first two count.)
    assert_eq!(receiver.events("/hook")[..2], ["stale", "recovered"]);
    let state: BTreeMap<String, Value> = serde_json::from_slice(
        &std::fs::read(setup.dir.path().join("state/notify-state.json")).unwrap(),
    )
    .unwrap();
    assert!(state["last_success"]["hr"].is_i64(), "{state:?}");
    let _ = daemon.kill();
    let _ = daemon.wait();
}

/// The shipped Prometheus rules use only metric names the daemon exports.
#[test]
fn the_shipped_prometheus_rules_use_exported_metric_names() {
    use penvio_sync::events;
    use penvio_sync::notify::delivery_events;
    let exported = [
        events::RUNS_TOTAL,
        events::LAST_SUCCESS_TIMESTAMP,
        events::HELD_BACK,
        events::CONSECUTIVE_FAILURES,
        delivery_events::ALERT_DELIVERY_FAILURES_TOTAL,
        delivery_events::ALERTS_DROPPED_TOTAL,
    ];
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/prometheus/penvio-sync.rules.yml"),
    )
    .unwrap();
    let used: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("penvio_sync_"))
        .collect();
    assert!(used.len() >= 5, "{used:?}");
    for name in &used {
        assert!(exported.contains(name), "{name} is not exported");
    }
    for name in exported {
        assert!(used.contains(&name), "no rule uses {name}");
    }
}
