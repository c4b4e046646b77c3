//! Shared harness of the integration tests: the real scim2-server (PyPI)
//! started on a free loopback port, and a fixture that writes a directory
//! export and a config and runs the engine against them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod emulator_target;
pub mod vendor_fake;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use penvio_sync::config::{self, ConnectionConfig, ProcessEnvironment};
use penvio_sync::report::RunReport;
use penvio_sync::snapshot::Snapshot;
use penvio_sync::state::{RedbStateStore, StateStore};
use penvio_sync::sync::{RunOptions, run_connection};
use serde_json::{Value, json};

/// The token every test server accepts.
pub const TOKEN: &str = "integration-token";
/// A second token the server accepts: a run after a killed one uses it, so
/// the server can tell the killed client's late writes apart
/// ([`Scim2Server::release`]).
pub const RERUN_TOKEN: &str = "integration-token-rerun";

/// The Python of the test venv (created by the README's test command).
pub fn test_python() -> PathBuf {
    std::env::var_os("PENVIO_TEST_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python"),
        PathBuf::from,
    )
}

/// The real scim2-server 0.8.3, killed on drop.
pub struct Scim2Server {
    child: Child,
    /// `http://127.0.0.1:PORT/api/scim/v2` (append `/<org>`).
    pub root: String,
    http: reqwest::Client,
}

impl Scim2Server {
    /// Starts the server; fails the test with instructions if the venv is missing.
    pub fn start() -> Self {
        Self::start_accepting(&[])
    }

    /// Starts the server accepting `extra` bearer tokens besides [`TOKEN`]
    /// and [`RERUN_TOKEN`].
    pub fn start_accepting(extra: &[&str]) -> Self {
        let python = test_python();
        assert!(
            python.exists(),
            "{} is missing: run the README's test command (scripts/test), which creates the venv with the pinned scim2-server",
            python.display()
        );
        let launcher = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/support/scim2_server_launcher.py");
        let mut child = Command::new(python)
            .arg(launcher)
            .args(["--token", TOKEN, "--token", RERUN_TOKEN])
            .args(extra.iter().flat_map(|token| ["--token", token]))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start scim2-server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let root = line
            .trim()
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("unexpected banner from scim2-server: {line:?}"))
            .to_string();
        Scim2Server {
            child,
            root,
            http: reqwest::Client::new(),
        }
    }

    /// The SCIM base URL of one org.
    pub fn org_url(&self, org: &str) -> String {
        format!("{}/{org}", self.root)
    }

    fn server_url(&self, path: &str) -> String {
        let origin = self.root.trim_end_matches("/api/scim/v2");
        format!("{origin}{path}")
    }

    /// The launcher's request statistics (`/__requests`).
    async fn stats(&self) -> Value {
        self.http
            .get(self.server_url("/__requests"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// (writes, reads) the org has received.
    pub async fn request_counts(&self, org: &str) -> (u64, u64) {
        let stats = self.stats().await;
        let org = &stats["by_org"][org];
        (
            org["writes"].as_u64().unwrap_or(0),
            org["reads"].as_u64().unwrap_or(0),
        )
    }

    /// When each read of the org arrived, in seconds on the server's
    /// monotonic clock, oldest first.
    pub async fn read_times(&self, org: &str) -> Vec<f64> {
        let stats = self.stats().await;
        stats["read_times"][org]
            .as_array()
            .map(|times| times.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    }

    /// Once the org has taken `after` writes, holds every further write
    /// unapplied until [`Scim2Server::release`]: a test can then kill its
    /// client at an exact point however busy the machine is.
    pub async fn hold_writes_after(&self, org: &str, after: u64) {
        self.hold_after(org, after, false).await;
    }

    /// Like [`Scim2Server::hold_writes_after`], but the writes past the
    /// point are applied and only their answers held (with `apply`).
    pub async fn hold_after(&self, org: &str, after: u64, apply: bool) {
        let apply = u8::from(apply);
        let url = self.server_url(&format!("/__hold?org={org}&after={after}&apply={apply}"));
        let status = self.http.post(url).send().await.unwrap().status();
        assert!(status.is_success(), "{status}");
    }

    /// Writes of the org being held now (see [`Scim2Server::hold_writes_after`]).
    pub async fn held_writes(&self, org: &str) -> u64 {
        let stats = self.stats().await;
        stats["held"][org].as_u64().unwrap_or(0)
    }

    /// Answers the held writes 503 without applying them, and stops holding;
    /// later writes with the token used while holding are refused the same
    /// way, so the next run must use [`RERUN_TOKEN`].
    pub async fn release(&self, org: &str) {
        let url = self.server_url(&format!("/__release?org={org}"));
        let status = self.http.post(url).send().await.unwrap().status();
        assert!(status.is_success(), "{status}");
    }

    /// Answers the next `count` requests (of `method`, if given) with `status`.
    pub async fn fail_next(&self, status: u16, count: u32, method: Option<&str>) {
        let mut url = format!(
            "{}?status={status}&count={count}",
            self.server_url("/__fail")
        );
        if let Some(method) = method {
            url.push_str(&format!("&method={method}"));
        }
        self.http.post(url).send().await.unwrap();
    }

    /// Every resource of a type (`Users`, `Groups`) in an org.
    pub async fn list(&self, org: &str, resource: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut start = 1;
        loop {
            let page: Value = self
                .http
                .get(format!(
                    "{}/{resource}?startIndex={start}&count=500",
                    self.org_url(org)
                ))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let resources = page["Resources"].as_array().cloned().unwrap_or_default();
            let n = resources.len();
            items.extend(resources);
            start += n;
            if n == 0 || start as u64 > page["totalResults"].as_u64().unwrap_or(0) {
                break;
            }
        }
        items
    }

    /// Sends a request with the token and returns (status, body).
    pub async fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, url).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

impl Drop for Scim2Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A user of a directory export.
pub fn user(id: &str, email: &str, given: &str, family: &str) -> Value {
    json!({"id": id, "email": email, "given_name": given, "family_name": family})
}

/// A group of a directory export.
pub fn group(id: &str, name: &str, members: &[&str]) -> Value {
    json!({"id": id, "name": name, "members": members})
}

/// One connection syncing a `file` directory into one org of a SCIM server.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub org: String,
    pub target_url: String,
    pub extra_config: String,
    /// Replaces the `source:` line (default: the fixture's file export),
    /// e.g. `"    source: {type: okta, ...}\n"`.
    pub source_block: Option<String>,
    store: Option<Arc<dyn StateStore>>,
}

impl Fixture {
    /// A fixture writing to `target_url` (an org URL).
    pub fn new(target_url: &str) -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            org: target_url
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
            target_url: target_url.to_string(),
            extra_config: String::new(),
            source_block: None,
            store: None,
        }
    }

    pub fn directory_path(&self) -> PathBuf {
        self.dir.path().join("directory.json")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("penvio-sync.yaml")
    }

    /// Writes the directory export the next run reads.
    pub fn write_directory(&self, users: &[Value], groups: &[Value]) {
        let export = json!({"users": users, "groups": groups});
        std::fs::write(
            self.directory_path(),
            serde_json::to_vec_pretty(&export).unwrap(),
        )
        .unwrap();
    }

    /// The config text: `extra` is YAML inserted under the connection
    /// (e.g. a `policy:` block).
    pub fn config_text(&self, token: &str) -> String {
        let source = self.source_block.clone().unwrap_or_else(|| {
            format!(
                "    source: {{type: file, path: {}}}\n",
                self.directory_path().display()
            )
        });
        format!(
            "state_dir: {state}\nconnections:\n  - name: test\n{source}    target:\n      url: {url}\n      token: {token}\n      requests_per_second: 500\n      burst: 50\n      concurrency: 4\n{extra}",
            state = self.state_dir().display(),
            url = self.target_url,
            extra = self.extra_config,
        )
    }

    /// Writes the config file (for CLI tests) and returns its path.
    pub fn write_config(&self, token: &str) -> PathBuf {
        std::fs::write(self.config_path(), self.config_text(token)).unwrap();
        self.config_path()
    }

    /// The validated connection.
    pub fn connection(&self, token: &str) -> ConnectionConfig {
        let text = self.config_text(token);
        let config = config::load_str(&text, &self.config_path(), &ProcessEnvironment)
            .unwrap_or_else(|e| panic!("test config invalid: {e}\n{text}"));
        config.connections.into_iter().next().unwrap()
    }

    /// The store (opened once per fixture, like a daemon would).
    pub fn store(&mut self) -> Arc<dyn StateStore> {
        if self.store.is_none() {
            self.store = Some(Arc::new(RedbStateStore::open(&self.state_dir()).unwrap()));
        }
        self.store.clone().unwrap()
    }

    /// Closes the store so another process can open it.
    pub fn close_store(&mut self) {
        self.store = None;
    }

    /// Runs the engine once.
    pub async fn run(&mut self, options: RunOptions) -> RunReport {
        self.run_with_token(TOKEN, options).await
    }

    /// Runs the engine once with a given target token.
    pub async fn run_with_token(&mut self, token: &str, options: RunOptions) -> RunReport {
        let connection = self.connection(token);
        let store = self.store();
        run_connection(&connection, 0, store, &options).await
    }

    /// Runs a sync now.
    pub async fn sync(&mut self) -> RunReport {
        self.run(RunOptions::sync_now()).await
    }

    /// The connection's snapshot.
    pub fn snapshot(&mut self) -> Snapshot {
        self.store().load("test").unwrap()
    }
}

/// Finds a resource by a string attribute.
pub fn find<'a>(items: &'a [Value], key: &str, value: &str) -> Option<&'a Value> {
    items.iter().find(|item| item[key].as_str() == Some(value))
}

/// Sorted member ids of a group resource.
pub fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|v| v["value"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}
