//! Proxies (issue 14): `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` are honoured
//! for remote endpoints and never for loopback, where a proxy would only
//! collect tokens (the Penvio token of a local target, the daemon's API
//! token); an endpoint's own `proxy:` is used for it. A recording proxy on
//! loopback counts what reaches it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Fixture, Scim2Server, TOKEN, user};

/// Largest request head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;

/// A proxy that records the request line of everything sent to it and
/// answers 502 (it forwards nothing).
struct RecordingProxy {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl RecordingProxy {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let record = record.clone();
                std::thread::spawn(move || answer(stream, &record));
            }
        });
        RecordingProxy { url, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn answer(mut stream: TcpStream, record: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    record
        .lock()
        .unwrap()
        .push(text.lines().next().unwrap_or_default().to_string());
    let _ = stream
        .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

/// The CLI with every proxy variable pointing at `proxy` (and no NO_PROXY
/// unless given).
fn cli_behind(proxy: &str, no_proxy: Option<&str>, config: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_penvio-sync"));
    command
        .args(["--config", config.to_str().unwrap()])
        .args(args);
    set_proxy_env(&mut command, proxy, no_proxy);
    command.output().unwrap()
}

fn set_proxy_env(command: &mut Command, proxy: &str, no_proxy: Option<&str>) {
    for name in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        command.env(name, proxy);
    }
    command.env_remove("NO_PROXY").env_remove("no_proxy");
    if let Some(list) = no_proxy {
        command.env("NO_PROXY", list);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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

#[tokio::test(flavor = "multi_thread")]
async fn loopback_targets_and_the_daemon_never_go_through_the_proxy() {
    let proxy = RecordingProxy::start();
    let server = Scim2Server::start();
    let fixture = Fixture::new(&server.org_url("proxied"));
    fixture.write_directory(
        &[
            user("u1", "ada@example.com", "Ada", "Lovelace"),
            user("u2", "bob@example.com", "Bob", "Builder"),
        ],
        &[],
    );
    let port = free_port();
    let config = fixture.config_path();
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\n{}    schedule: \"0 0 0 1 1 *\"\n    run_on_start: false\n    reconcile_schedule: never\n",
            fixture.config_text(TOKEN)
        ),
    )
    .unwrap();

    // A local run: every request to the loopback target goes direct
    // (before: each of them, with the Penvio token, went to the proxy).
    let output = cli_behind(&proxy.url, None, &config, &["sync"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(server.list("proxied", "Users").await.len(), 2);
    assert_eq!(proxy.seen(), Vec::<String>::new());

    // The daemon (behind the same proxy) and the CLI forwarding to it.
    let mut command = Command::new(env!("CARGO_BIN_EXE_penvio-sync"));
    command
        .args([
            "--config",
            config.to_str().unwrap(),
            "daemon",
            "--allow-root",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    set_proxy_env(&mut command, &proxy.url, None);
    let _daemon = Daemon(command.spawn().unwrap());
    let direct = reqwest::Client::builder().no_proxy().build().unwrap();
    eventually("the daemon serves", Duration::from_secs(30), || async {
        direct
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
    })
    .await;
    fixture.write_directory(
        &[
            user("u1", "ada@example.com", "Ada", "Lovelace"),
            user("u2", "bob@example.com", "Bob", "Builder"),
            user("u3", "cy@example.com", "Cy", "Young"),
        ],
        &[],
    );
    let output = cli_behind(&proxy.url, None, &config, &["sync"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("The daemon holds the state"), "{stderr}");
    assert_eq!(server.list("proxied", "Users").await.len(), 3);
    assert_eq!(
        proxy.seen(),
        Vec::<String>::new(),
        "0 requests reached the proxy"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_endpoints_use_the_environment_proxy_or_their_own() {
    let from_env = RecordingProxy::start();
    let explicit = RecordingProxy::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("directory.json"),
        r#"{"users": [], "groups": []}"#,
    )
    .unwrap();
    let config_with = |target_extra: &str| {
        let path = dir.path().join("config.yaml");
        std::fs::write(
            &path,
            format!(
                "state_dir: {state}\nconnections:\n  - name: remote\n    source: {{type: file, path: {source}}}\n    target: {{url: https://penvio.example/api/scim/v2/org, token: t, timeout: 5s{target_extra}}}\n",
                state = dir.path().join("state").display(),
                source = dir.path().join("directory.json").display(),
            ),
        )
        .unwrap();
        path
    };

    // The environment's proxy, for a remote https endpoint: a CONNECT tunnel.
    let config = config_with("");
    let output = cli_behind(&from_env.url, None, &config, &["check", "--connectivity"]);
    assert_ne!(output.status.code(), Some(0), "the proxy forwards nothing");
    assert!(
        from_env
            .seen()
            .iter()
            .any(|line| line.starts_with("CONNECT penvio.example:443")),
        "{:?}",
        from_env.seen()
    );

    // The endpoint's own proxy wins over the environment's.
    let before = from_env.seen().len();
    let config = config_with(&format!(", proxy: \"{}\"", explicit.url));
    let output = cli_behind(&from_env.url, None, &config, &["check", "--connectivity"]);
    assert_ne!(output.status.code(), Some(0));
    assert!(
        explicit
            .seen()
            .iter()
            .any(|line| line.starts_with("CONNECT penvio.example:443")),
        "{:?}",
        explicit.seen()
    );
    assert_eq!(from_env.seen().len(), before);

    // A scim source's own proxy, too.
    let path = dir.path().join("scim-source.yaml");
    std::fs::write(
        &path,
        format!(
            "state_dir: {state}\nconnections:\n  - name: idp\n    source: {{type: scim, base_url: https://idp.example/scim/v2, token: s, timeout: 5s, proxy: \"{proxy}\"}}\n    target: {{url: http://127.0.0.1:9/scim/v2/org, token: t, timeout: 5s}}\n",
            state = dir.path().join("state").display(),
            proxy = explicit.url,
        ),
    )
    .unwrap();
    let output = cli_behind(&from_env.url, None, &path, &["check", "--connectivity"]);
    assert_ne!(output.status.code(), Some(0));
    assert!(
        explicit
            .seen()
            .iter()
            .any(|line| line.starts_with("CONNECT idp.example:443")),
        "{:?}",
        explicit.seen()
    );
    assert_eq!(
        from_env.seen().len(),
        before,
        "nor does the loopback target"
    );

    // NO_PROXY exempts a host from the environment's proxy.
    let config = config_with("");
    let _ = cli_behind(
        &from_env.url,
        Some("penvio.example"),
        &config,
        &["check", "--connectivity"],
    );
    assert_eq!(from_env.seen().len(), before);
}

/// Each vendor source's own `proxy:` carries its requests (API and token
/// endpoint alike), whatever the environment's proxy says.
#[test]
fn vendor_sources_use_their_own_proxy() {
    let from_env = RecordingProxy::start();
    let explicit = RecordingProxy::start();
    let dir = tempfile::tempdir().unwrap();
    let sources = [
        (
            "okta",
            "{type: okta, domain: acme.okta.com, token: s}",
            "acme.okta.com:443",
        ),
        (
            "entra",
            "{type: entra, tenant_id: contoso.onmicrosoft.com, client_id: 11111111-2222-3333-4444-555555555555, client_secret: s}",
            "login.microsoftonline.com:443",
        ),
        (
            "onelogin",
            "{type: onelogin, subdomain: acme, client_id: c, client_secret: s}",
            "acme.onelogin.com:443",
        ),
        (
            "jumpcloud",
            "{type: jumpcloud, region: us, api_key: s}",
            "console.jumpcloud.com:443",
        ),
        (
            "pingone",
            "{type: pingone, environment_id: 11111111-2222-3333-4444-555555555555, region: com, client_id: c, client_secret: s}",
            "auth.pingone.com:443",
        ),
    ];
    let runs: Vec<_> = sources
        .iter()
        .map(|(name, source, _)| {
            let path = dir.path().join(format!("{name}.yaml"));
            let source = source.replacen(
                '}',
                &format!(", timeout: 5s, max_wait: 1s, proxy: \"{}\"}}", explicit.url),
                1,
            );
            std::fs::write(
                &path,
                format!(
                    "state_dir: {state}\nconnections:\n  - name: {name}\n    source: {source}\n    target: {{url: http://127.0.0.1:9/scim/v2/org, token: t, timeout: 5s}}\n",
                    state = dir.path().join(name).display(),
                ),
            )
            .unwrap();
            let proxy = from_env.url.clone();
            std::thread::spawn(move || {
                cli_behind(&proxy, None, &path, &["check", "--connectivity"])
            })
        })
        .collect();
    for (run, (name, _, host)) in runs.into_iter().zip(&sources) {
        let output = run.join().unwrap();
        assert_ne!(
            output.status.code(),
            Some(0),
            "{name}: the proxy forwards nothing"
        );
        assert_ne!(
            output.status.code(),
            Some(2),
            "{name}: the config is valid: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            explicit
                .seen()
                .iter()
                .any(|line| line.starts_with(&format!("CONNECT {host}"))),
            "{name}: {:?}",
            explicit.seen()
        );
    }
    assert!(
        from_env.seen().is_empty(),
        "the environment's proxy was used: {:?}",
        from_env.seen()
    );
}

/// An IdP that cannot be reached: the error names the request's URL without
/// its query string (before: `…/api/v1/users?limit=200` in full, and a
/// query can carry filters with user data or credentials).
#[test]
fn network_errors_show_urls_without_their_query() {
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "state_dir: {state}\nconnections:\n  - name: okta\n    source: {{type: okta, base_url: \"http://127.0.0.1:{closed}\", token: ssws-token, timeout: 2s}}\n    target: {{url: \"http://127.0.0.1:{closed}/scim/v2/org\", token: t, timeout: 2s}}\n",
            state = dir.path().join("state").display(),
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
        .args(["--config", config.to_str().unwrap(), "sync"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("http://127.0.0.1:{closed}/api/v1/")),
        "the URL is named: {text}"
    );
    assert!(!text.contains("limit="), "no query string: {text}");
}
