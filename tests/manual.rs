//! The man page and shell completions in assets/ (installed by the .deb) are
//! exactly what the CLI definition generates: never stale.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

fn generated(args: &[&str]) -> Vec<u8> {
    let output = Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}");
    output.stdout
}

#[test]
fn assets_match_the_cli_definition() {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    for (args, file) in [
        (&["man"][..], "penvio-sync.1"),
        (&["completions", "bash"][..], "completions/penvio-sync.bash"),
        (&["completions", "zsh"][..], "completions/_penvio-sync"),
        (&["completions", "fish"][..], "completions/penvio-sync.fish"),
    ] {
        let committed = std::fs::read(assets.join(file)).unwrap();
        assert!(
            committed == generated(args),
            "assets/{file} is stale: run scripts/update-assets"
        );
    }
    let man = String::from_utf8(generated(&["man"])).unwrap();
    for command in ["SYNC", "PLAN", "RECONCILE", "EXPLAIN", "DAEMON", "INIT"] {
        assert!(
            man.contains(&format!("PENVIO-SYNC {command}")),
            "{command} in the man page"
        );
    }
    let bash = String::from_utf8(generated(&["completions", "bash"])).unwrap();
    assert!(bash.contains("--allow-deletions") && bash.contains("reconcile"));
}
