//! `ca_file`: an endpoint behind a private CA is trusted by naming that CA,
//! and only then; certificate checks cannot be turned off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is needed to make a test CA");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA and a server certificate for 127.0.0.1 it signed.
fn make_ca(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=penvio-sync test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    );
}

/// A TLS server answering every request with an HTML page.
struct TlsServer(Child, u16);

impl TlsServer {
    fn start(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("openssl")
            .current_dir(dir)
            .args([
                "s_server",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-cert",
                "leaf.pem",
                "-key",
                "leaf.key",
                "-www",
                "-quiet",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsServer(child, port)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn check(dir: &Path, port: u16, ca_line: &str) -> String {
    let config = dir.join(format!("config-{}.yaml", ca_line.len()));
    std::fs::write(
        &config,
        format!(
            "state_dir: {}\nconnections:\n  - name: ca\n    source: {{type: file, path: dir.yaml}}\n    target:\n      url: https://127.0.0.1:{port}/api/scim/v2/org\n      token: t\n      timeout: 5s\n{ca_line}",
            dir.join("state").display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("dir.yaml"), "users: []\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "check",
            "--connectivity",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_private_ca_is_trusted_only_when_named() {
    let dir = tempfile::tempdir().unwrap();
    make_ca(dir.path());
    let server = TlsServer::start(dir.path());

    let without = check(dir.path(), server.1, "");
    assert!(
        without.contains("certificate") || without.contains("UnknownIssuer"),
        "the unknown CA is refused: {without}"
    );

    let with = check(dir.path(), server.1, "      ca_file: ca.pem\n");
    let penvio = with
        .lines()
        .find(|l| l.contains("Penvio:"))
        .unwrap_or_default();
    assert!(
        penvio.contains("200 OK with a body that is not SCIM JSON"),
        "TLS succeeds with the CA (the HTML page is then refused as a SCIM answer): {with}"
    );
    assert!(!penvio.contains("certificate"), "{penvio}");

    // A ca_file that is not a certificate is a config error naming the key.
    std::fs::write(dir.path().join("bad.pem"), "not a certificate").unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
        .args(["--config"])
        .arg(dir.path().join("config-0.yaml"))
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(0),
        "the config without ca_file stays valid"
    );
    let text = std::fs::read_to_string(dir.path().join("config-0.yaml"))
        .unwrap()
        .replace("timeout: 5s\n", "timeout: 5s\n      ca_file: bad.pem\n");
    std::fs::write(dir.path().join("bad.yaml"), text).unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
        .arg("--config")
        .arg(dir.path().join("bad.yaml"))
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("connections[0].target.ca_file"), "{stderr}");
}

fn check_source(dir: &Path, port: u16, ca_line: &str) -> String {
    let config = dir.join(format!("source-{}.yaml", ca_line.len()));
    std::fs::write(
        &config,
        format!(
            "state_dir: {}\nconnections:\n  - name: ca\n    source:\n      type: okta\n      base_url: https://127.0.0.1:{port}\n      token: t\n      timeout: 5s\n{ca_line}    target: {{url: http://127.0.0.1:9/api/scim/v2/org, token: t}}\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "check",
            "--connectivity",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find(|l| l.contains("source:"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn vendor_sources_take_a_private_ca_too() {
    let dir = tempfile::tempdir().unwrap();
    make_ca(dir.path());
    let server = TlsServer::start(dir.path());
    let without = check_source(dir.path(), server.1, "");
    assert!(
        without.contains("certificate") || without.contains("UnknownIssuer"),
        "{without}"
    );
    let with = check_source(dir.path(), server.1, "      ca_file: ca.pem\n");
    assert!(with.contains("FAILED"), "{with}");
    assert!(
        !with.contains("certificate"),
        "TLS is trusted with the CA: {with}"
    );
}
