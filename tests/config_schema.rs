//! `penvio-sync config schema`: the example config, the demo config and every
//! starter template validate against it, and a typo does not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn example_configs_validate_against_the_schema_and_typos_do_not() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema = Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
        .args(["config", "schema"])
        .output()
        .unwrap();
    assert!(schema.status.success());
    let dir = tempfile::tempdir().unwrap();
    let schema_path = dir.path().join("penvio-sync.schema.json");
    std::fs::write(&schema_path, &schema.stdout).unwrap();

    let mut files: Vec<PathBuf> = vec![
        root.join("config/penvio-sync.example.yaml"),
        root.join("config/demo/penvio-sync.yaml"),
    ];
    for entry in std::fs::read_dir(root.join("config/templates")).unwrap() {
        files.push(entry.unwrap().path());
    }
    let typo = dir.path().join("typo.yaml");
    std::fs::write(
        &typo,
        "connections:\n  - name: c\n    source: {type: scim, base_url: https://idp.example/scim, tokn: x}\n    target: {url: https://penvio.io/api/scim/v2/o, token: t}\n",
    )
    .unwrap();

    let python = common::test_python();
    let output = Command::new(&python)
        .arg(root.join("tests/support/validate_schema.py"))
        .arg(&schema_path)
        .args(&files)
        .arg(&typo)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}; run the README's test command", python.display()));
    let report = String::from_utf8_lossy(&output.stdout);
    for file in &files {
        assert!(
            report.contains(&format!("{}: ok", file.display())),
            "{} does not validate:\n{report}{}",
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let typo_line = report
        .lines()
        .find(|l| l.starts_with(typo.to_str().unwrap()))
        .unwrap();
    assert!(
        !typo_line.ends_with(": ok"),
        "the typo is caught: {typo_line}"
    );
    assert_eq!(output.status.code(), Some(1), "only the typo fails");
}
