//! The shipped systemd unit, checked with systemd's own tools.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

fn unit() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("systemd/penvio-sync.service")
}

#[test]
fn the_unit_rates_ok_in_systemd_analyze_security() {
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit())
        .output()
        .expect(
            "systemd-analyze is needed (Debian package systemd; scripts/test-tools installs it)",
        );
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| {
            panic!(
                "no score in:\n{text}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score in {line:?}"));
    assert!(score <= 1.5, "exposure {score} > 1.5: {line}");
    assert!(line.contains("OK"), "{line}");
}

#[test]
fn the_unit_runs_the_daemon_with_notify_watchdog_reload_and_a_config_check() {
    let text = std::fs::read_to_string(unit()).unwrap();
    let has = |directive: &str| text.lines().any(|l| l.trim() == directive);
    assert!(has("Type=notify"));
    assert!(has("WatchdogSec=60s"));
    assert!(has("ExecReload=/bin/kill -HUP $MAINPID"));
    assert!(has(
        "ExecStartPre=/usr/bin/penvio-sync --config /etc/penvio-sync/config.yaml check"
    ));
    assert!(has(
        "ExecStart=/usr/bin/penvio-sync --config /etc/penvio-sync/config.yaml daemon"
    ));
    assert!(has("DynamicUser=yes"));
    assert!(has("StateDirectory=penvio-sync"));
    assert!(has("ConfigurationDirectory=penvio-sync"));
    assert!(text.contains("LoadCredential=penvio-token:"));
}
