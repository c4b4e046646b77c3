//! The Debian package `cargo deb` builds: what it installs, which files are
//! conffiles, and that its maintainer scripts create the service user.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {command:?}: {e} (is cargo-deb installed? scripts/test-tools installs it)"
        )
    });
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn build_package(out: &Path) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The test binary's sibling: the penvio-sync binary cargo test built.
    run(Command::new("cargo")
        .current_dir(manifest)
        .args(["deb", "--no-build", "--profile", "dev", "--quiet", "-o"])
        .arg(out));
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("a .deb was written")
}

#[test]
fn the_package_installs_binary_unit_and_config_as_a_conffile_and_creates_the_user() {
    let out = tempfile::tempdir().unwrap();
    let deb = build_package(out.path());

    let contents = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for path in [
        "./usr/bin/penvio-sync",
        "./lib/systemd/system/penvio-sync.service",
        "./etc/penvio-sync/config.yaml",
        "./usr/share/doc/penvio-sync/README.md",
        "./usr/share/man/man1/penvio-sync.1",
        "./usr/share/bash-completion/completions/penvio-sync",
        "./usr/share/zsh/vendor-completions/_penvio-sync",
        "./usr/share/fish/vendor_completions.d/penvio-sync.fish",
    ] {
        assert!(contents.contains(path), "{path} missing from:\n{contents}");
    }
    let config_line = contents
        .lines()
        .find(|l| l.ends_with("./etc/penvio-sync/config.yaml"))
        .unwrap();
    assert!(
        config_line.starts_with("-rw-r-----"),
        "config is not world-readable: {config_line}"
    );

    let control = out.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/penvio-sync/config.yaml");
    let fields = std::fs::read_to_string(control.join("control")).unwrap();
    assert!(fields.contains("Package: penvio-sync"));
    assert!(fields.contains("adduser"), "{fields}");
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(postinst.contains("adduser --system"), "{postinst}");
    run(Command::new("sh").arg("-n").arg(control.join("postinst")));
    run(Command::new("sh").arg("-n").arg(control.join("postrm")));
    run(Command::new("sh").arg("-n").arg(control.join("prerm")));

    // The packaged unit and config are the repository's.
    let root = out.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        std::fs::read(root.join("lib/systemd/system/penvio-sync.service")).unwrap(),
        std::fs::read(manifest.join("systemd/penvio-sync.service")).unwrap()
    );
    let version = run(Command::new(root.join("usr/bin/penvio-sync")).arg("--version"));
    assert!(version.starts_with("penvio-sync "), "{version}");
}
