//! `penvio-sync demo`: the real engine end to end with no external service.
//!
//! It serves the project's SCIM emulator on loopback, syncs a built-in
//! directory into it, applies a change, and shows that a third run over the
//! unchanged directory sends nothing. Everything runs through the same config
//! loader, snapshot store and executor as a production sync.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{self, Config, ConnectionConfig, ProcessEnvironment};
use crate::emulator::{Emulator, EmulatorConfig};
use crate::report::RunReport;
use crate::report::exit::{EXIT_OK, EXIT_RUN_FAILED};
use crate::report::render::render_report;
use crate::state::{RedbStateStore, StateStore};
use crate::sync::{RunOptions, run_connection};
use crate::timestamp::unix_now;

const DEMO_CONFIG: &str = include_str!("../config/demo/penvio-sync.yaml");
const DEMO_DIRECTORY: &str = include_str!("../config/demo/directory.yaml");
const DEMO_DIRECTORY_CHANGED: &str = include_str!("../config/demo/directory-changed.yaml");
const DEMO_TOKEN: &str = "demo-token";
const DEMO_ORG: &str = "demo-org";

/// Runs the demo and returns the exit code.
pub async fn run_demo() -> i32 {
    match demo().await {
        Ok(true) => EXIT_OK,
        Ok(false) => EXIT_RUN_FAILED,
        Err(message) => {
            eprintln!("demo failed: {message}");
            EXIT_RUN_FAILED
        }
    }
}

async fn demo() -> Result<bool, String> {
    let emulator = Emulator::start(EmulatorConfig {
        tokens: vec![DEMO_TOKEN.to_string()],
        ..Default::default()
    })
    .await
    .map_err(|e| format!("cannot start the SCIM emulator: {e}"))?;
    let workspace = Workspace::create(&emulator)?;
    let connection = workspace
        .config
        .connections
        .first()
        .ok_or("the demo config has no connection")?;
    let store: Arc<dyn StateStore> =
        Arc::new(RedbStateStore::open(&workspace.config.state_dir).map_err(|e| e.to_string())?);

    println!("penvio-sync demo");
    println!(
        "  SCIM emulator (Penvio stand-in): {}",
        emulator.base_url(DEMO_ORG)
    );
    println!("  state: {}\n", workspace.state_dir.display());

    let first = first_run(&emulator, connection, &store).await;
    let second = changed_run(&emulator, connection, &store, &workspace.directory_path).await?;
    let (third, writes, reads) = unchanged_run(&emulator, connection, &store).await;
    print_summary(&emulator);
    emulator.shutdown().await;
    let _ = std::fs::remove_dir_all(&workspace.workdir);
    let ok = [&first, &second, &third]
        .iter()
        .all(|r| r.error.is_none() && r.failures.is_empty())
        && writes == 0
        && reads == 0;
    if !ok {
        println!("The demo did not behave as expected: see the reports above.");
    }
    Ok(ok)
}

/// The demo's files: its config (pointing at the emulator), directory and
/// state, in a fresh private directory.
struct Workspace {
    workdir: PathBuf,
    directory_path: PathBuf,
    state_dir: PathBuf,
    config: Config,
}

impl Workspace {
    fn create(emulator: &Emulator) -> Result<Self, String> {
        let workdir = tempfile_dir()?;
        let directory_path = workdir.join("directory.yaml");
        let state_dir = workdir.join("state");
        let config_path = workdir.join("penvio-sync.yaml");
        let config_text = DEMO_CONFIG
            .replace("DEMO_STATE_DIR", &state_dir.display().to_string())
            .replace("DEMO_DIRECTORY", &directory_path.display().to_string())
            .replace("DEMO_TARGET_URL", &emulator.base_url(DEMO_ORG));
        write(&config_path, &config_text)?;
        write(&directory_path, DEMO_DIRECTORY)?;
        let config = config::load_str(&config_text, &config_path, &ProcessEnvironment)
            .map_err(|e| e.to_string())?;
        Ok(Workspace {
            workdir,
            directory_path,
            state_dir,
            config,
        })
    }
}

/// Step 1: the first run provisions the directory.
async fn first_run(
    emulator: &Emulator,
    connection: &ConnectionConfig,
    store: &Arc<dyn StateStore>,
) -> RunReport {
    println!("1. First run: provision the directory (config/demo/directory.yaml).");
    let first = run_connection(connection, 0, store.clone(), &RunOptions::sync_now()).await;
    print!("{}", render_report(&first));
    println!(
        "   Penvio now holds {} users and {} teams.\n",
        emulator.users(DEMO_ORG).len(),
        emulator.groups(DEMO_ORG).len()
    );
    first
}

/// Step 2: the directory changes; the plan, then a run applying only that.
async fn changed_run(
    emulator: &Emulator,
    connection: &ConnectionConfig,
    store: &Arc<dyn StateStore>,
    directory_path: &Path,
) -> Result<RunReport, String> {
    println!("2. The directory changes (config/demo/directory-changed.yaml). The plan:");
    write(directory_path, DEMO_DIRECTORY_CHANGED)?;
    let plan_options = RunOptions {
        dry_run: true,
        ..RunOptions::sync_now()
    };
    let plan = run_connection(connection, 0, store.clone(), &plan_options).await;
    print!("{}", render_report(&plan));
    println!("   Second run: apply only those changes.");
    emulator.clear_log();
    let second = run_connection(connection, 0, store.clone(), &RunOptions::sync_now()).await;
    print!("{}", render_report(&second));
    println!(
        "   Penvio received {} for this change.\n",
        crate::plural::count(emulator.write_count(), "write")
    );
    Ok(second)
}

/// Step 3: a run over the unchanged directory, with the writes and reads
/// Penvio received (both should be zero).
async fn unchanged_run(
    emulator: &Emulator,
    connection: &ConnectionConfig,
    store: &Arc<dyn StateStore>,
) -> (RunReport, usize, usize) {
    println!("3. Third run over the unchanged directory: nothing to send.");
    emulator.clear_log();
    let third = run_connection(connection, 0, store.clone(), &RunOptions::sync_now()).await;
    print!("{}", render_report(&third));
    let writes = emulator.write_count();
    let reads = emulator.read_count();
    println!(
        "   Penvio received {} and {}.\n",
        crate::plural::count(writes, "write"),
        crate::plural::count(reads, "read")
    );
    (third, writes, reads)
}

/// What Penvio (the emulator) holds at the end.
fn print_summary(emulator: &Emulator) {
    let users = emulator.users(DEMO_ORG);
    let active = users
        .iter()
        .filter(|u| u.get("active").and_then(|a| a.as_bool()).unwrap_or(true))
        .count();
    println!(
        "Done at {}: Penvio holds {} users ({} active) and {} teams.",
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(u64::try_from(unix_now()).unwrap_or(0))
        ),
        users.len(),
        active,
        emulator.groups(DEMO_ORG).len()
    );
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A fresh private directory under the system temp dir.
fn tempfile_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!(
        "penvio-sync-demo-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}
