//! The performance budgets of issue 7 at 1/20 scale, as a regression check
//! in `cargo test` (debug build, shared CI machine): the same scenarios as
//! `benches/budgets.rs`, with the same result checks, and thresholds
//! generous enough for an unoptimised build on 2 busy cores. They catch an
//! order-of-magnitude regression (a quadratic loop, a write in a no-op run,
//! a rate limiter that stops holding); `scripts/bench` measures the budgets.
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
    let total = f(&large.1, "total_ms");
    assert!(
        total < 20_000.0,
        "load+plan of 50k users took {total:.0} ms (release budget at 1M: 2 s)"
    );
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
        assert!(
            f(&b4, "commit_share") < 0.5,
            "committing took {:.0}% of applying (budget 10%)",
            f(&b4, "commit_share") * 100.0
        );
        assert!(f(&b4, "commits") < f(&b4, "operations") / 10.0);

        emulator.clear_log();
        let path = config.display().to_string();
        let noop = tokio::task::spawn_blocking(move || child(&["sync-noop".into(), path]))
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
        assert!(f(&noop, "wall_ms") < 15_000.0, "{noop}");
        assert!(f(&noop, "vmhwm_kib") < 200.0 * 1024.0, "{noop}");
    });
}

/// B3 at 1/20: 1,000 creates at 500 requests per second, then again with
/// 50 ms of latency and 32 workers: the rate holds and is nearly reached.
#[test]
fn provisioning_runs_close_to_the_rate_limit_and_never_above_it() {
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
            assert!(f(&figures, "achieved_share") > 0.75, "{figures}");
            // 500/s + a burst of 50, plus a few requests of arrival jitter
            // on a busy debug build.
            assert!(f(&figures, "worst_second") <= 560.0, "{figures}");
        }
    });
}
