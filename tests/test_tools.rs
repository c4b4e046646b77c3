//! The README's test command must work on a new machine: every program a
//! test starts is one `scripts/test-tools` installs (or names when it
//! cannot), and CI installs nothing of its own that the README's command
//! would lack.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The programs that `Command::new` calls name with a string literal.
fn programs_started(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("Command::new(\"") {
        let rest = &text[at + "Command::new(\"".len()..];
        if let Some(end) = rest.find('"') {
            found.insert(rest[..end].to_string());
        }
    }
    found
}

/// The tools `scripts/test-tools` checks: its `"tool:package"` entries.
fn tools_checked(script: &str) -> BTreeSet<String> {
    script
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix('"')?.strip_suffix('"'))
        .filter_map(|entry| entry.split_once(':').map(|(tool, _)| tool.to_string()))
        .collect()
}

#[test]
fn every_program_a_test_starts_is_installed_by_scripts_test_tools() {
    let script = read(&root().join("scripts/test-tools"));
    let checked = tools_checked(&script);
    assert!(
        checked.contains("systemd-analyze") && checked.contains("openssl"),
        "the parser reads the tool list: {checked:?}"
    );
    let mut files = Vec::new();
    rust_files(&root().join("tests"), &mut files);
    rust_files(&root().join("benches"), &mut files);
    let mut unlisted = Vec::new();
    for file in &files {
        for program in programs_started(&read(file)) {
            // cargo runs the suite itself; `cargo deb` is checked by version.
            let known = program == "cargo" || checked.contains(&program);
            if !known {
                unlisted.push(format!("{} starts {program}", file.display()));
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "add these to scripts/test-tools: {unlisted:#?}"
    );
    assert!(
        script.contains("cargo install cargo-deb --version \"$CARGO_DEB_VERSION\" --locked"),
        "cargo-deb is installed at a pinned version"
    );
}

#[test]
fn ci_runs_the_readme_test_command_and_installs_nothing_itself() {
    let ci = read(&root().join(".ci/run"));
    let commands: Vec<&str> = ci
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for forbidden in ["apt-get", "cargo install", "pip install"] {
        assert!(
            !commands.iter().any(|l| l.contains(forbidden)),
            ".ci/run installs with {forbidden}: scripts/test must do it"
        );
    }
    assert!(commands.iter().any(|l| l.starts_with("scripts/test")));
    let readme = read(&root().join("README.md"));
    let quick_start = readme.split("---").next().unwrap();
    assert!(
        quick_start.contains("\nscripts/test "),
        "the README's quick start runs scripts/test"
    );
    let test = read(&root().join("scripts/test"));
    assert!(
        test.lines().any(|l| l.trim() == "scripts/test-tools"),
        "scripts/test runs scripts/test-tools before building"
    );
}

#[test]
fn the_programs_parser_finds_literal_command_names() {
    let text = r#"let a = Command::new("openssl"); Command::new(env!("X")); Command::new("kill")"#;
    assert_eq!(
        programs_started(text),
        ["kill", "openssl"].map(String::from).into()
    );
    assert_eq!(
        tools_checked("    \"a:b\"\n  \"c:d\"\nx"),
        ["a", "c"].map(String::from).into()
    );
}
