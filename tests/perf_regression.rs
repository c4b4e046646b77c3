//! The performance scenarios of issue 7 at 1/20 scale, as a regression check
//! in `cargo test` (debug build, shared CI machine): the same scenarios as
//! `benches/budgets.rs`, with the same result checks. Only what does not
//! depend on how busy the machine is is asserted here (memory growth per
//! user, batched commits, zero requests in a no-op run, the rate never
//! exceeded); wall-clock budgets live in `scripts/bench` alone, since this
//! suite runs beside other work on 2 cores.
//!
//! Memory is measured in child processes: this test binary runs itself with
//! `PENVIO_PERF_CHILD` set, and only the `child_scenario` test acts on it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../benches/scenarios/mod.rs"]
mod scenarios;

use std::process::Command;
use std::time::Duration;

use penvio_sync::emulator::{Emulator, EmulatorConfig};
use serde_json::Value;

const CHILD_ENV: &str = "PENVIO_PERF_CHILD";
/// Bytes per user of growth allowed here (the budget is 1 KiB in release;
/// debug builds allocate the same data, so this is slack, not a new budget).
const BYTES_PER_USER: f64 = 2048.0;

/// The hook the parent tests run in a child process; a no-op otherwise.
#[test]
fn child_scenario() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let args: Vec<String> = spec.split('\u{1f}').map(str::to_string).collect();
    let figures = scenarios::run_child(&args);
    println!("BENCH {figures}");
}

fn child(args: &[String]) -> Value {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_scenario",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, args.join("\u{1f}"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        // libtest prints "test child_scenario ... " on the same line.
        .find_map(|l| l.split_once("BENCH ").map(|(_, json)| json))
        .unwrap_or_else(|| panic!("child {args:?} printed no figures:\n{stdout}"));
    serde_json::from_str(line).unwrap()
}

fn f(value: &Value, key: &str) -> f64 {
    value[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {value}"))
}

/// B1 and B5 at 1/20: load + diff + plan of 50,000 users / 500 teams against
/// their snapshot with 1% changed (the child checks the plan's counts), and
/// the memory growth from 5,000 to 50,000 users.
#[test]
fn plan_of_a_large_snapshot_stays_fast_and_linear_in_memory() {
    let work = tempfile::tempdir().unwrap();
    let mut points = Vec::new();
    for (users, teams) in [(5_000usize, 50usize), (50_000, 500)] {
        let dir = work.path().join(format!("s{users}"));
        let dir = dir.display().to_string();
        child(&[
            "snapshot-setup".into(),
            users.to_string(),
            teams.to_string(),
            dir.clone(),
        ]);
        let floor = child(&["snapshot-floor".into(), dir.clone()]);
        let run = child(&["plan".into(), users.to_string(), teams.to_string(), dir]);
        println!("{users} users: floor {floor}, plan {run}");
        points.push((users as f64, run));
    }
    let (small, large) = (&points[0], &points[1]);
    let growth =
        (f(&large.1, "vmhwm_kib") - f(&small.1, "vmhwm_kib")) * 1024.0 / (large.0 - small.0);
    assert!(
        growth < BYTES_PER_USER,
        "peak RSS grows {growth:.0} B per user (budget 1 KiB)"
    );
}

/// B4 and B2 at 1/20: provisioning 5,000 users and 50 teams records in
/// batched commits; a second run over the same export sends nothing, and its
/// memory stays bounded.
#[test]
fn provisioning_commits_in_batches_and_a_no_op_sync_sends_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let emulator = Emulator::start(EmulatorConfig {
            tokens: vec![scenarios::TOKEN.to_string()],
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        let work = tempfile::tempdir().unwrap();
        let shape = scenarios::Shape::new(5_000, 50);
        let (b4, config) = scenarios::provision(&shape, &emulator, "org", work.path()).await;
        println!("provisioning: {b4}");
        // Batched: far fewer commits than operations (the time they take is
        // B4's budget in scripts/bench).
        assert!(f(&b4, "commits") < f(&b4, "operations") / 10.0, "{b4}");

        emulator.clear_log();
        let path = config.display().to_string();
        let noop = tokio::task::spawn_blocking(move || child(&["sync-process".into(), path]))
            .await
            .unwrap();
        println!("no-op sync: {noop}");
        assert_eq!(noop["planned"].as_u64(), Some(0));
        assert_eq!(noop["users"].as_u64(), Some(5_000));
        assert_eq!(
            (noop["reads"].as_u64(), noop["writes"].as_u64()),
            (Some(0), Some(0))
        );
        assert_eq!((emulator.read_count(), emulator.write_count()), (0, 0));
        // The `penvio-sync sync` process itself (debug build, 5,000 users).
        assert!(f(&noop, "process_hwm_kib") < 200.0 * 1024.0, "{noop}");
    });
}

/// B3 at 1/20: 1,000 creates at 500 requests per second, then again with
/// 50 ms of latency and 32 workers: the rate holds. (How close to the rate a
/// run gets is B3's budget in scripts/bench: a busy machine slows the sender,
/// never speeds it up.)
#[test]
fn provisioning_never_exceeds_the_rate_limit() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for (concurrency, latency) in [(4, None), (32, Some(Duration::from_millis(50)))] {
            let work = tempfile::tempdir().unwrap();
            let figures =
                scenarios::rate_scenario(1_000, 500, 50, concurrency, latency, work.path()).await;
            println!("rate: {figures}");
            // 500/s + a burst of 50, plus the requests of 40 ms of arrival
            // jitter at 500/s (20) on a busy machine.
            assert!(f(&figures, "worst_second") <= 570.0, "{figures}");
        }
    });
}
