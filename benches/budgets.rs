//! The performance budgets of issue 7, measured and printed as one table.
//!
//! `scripts/bench` runs this (`cargo bench --bench budgets -- [options]`):
//!
//! ```text
//! --runs N       repetitions of the repeatable scenarios (median reported; default 3)
//! --scale D      divide every size (and time budget) by D: a quick look; the
//!                budgets are defined at D = 1 (memory budgets are not scaled)
//! --only LIST    comma-separated scenarios: b1,b2,b3,b4,b5 (default: all)
//! --json PATH    also write every figure as JSON
//! ```
//!
//! Scenarios that measure memory run as child processes of this binary
//! (`budgets child MODE ARGS…`), each reporting its own peak RSS (VmHWM).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod scenarios;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

struct Options {
    runs: usize,
    scale: usize,
    only: Vec<String>,
    json: Option<PathBuf>,
}

struct Row {
    id: &'static str,
    what: String,
    figure: String,
    budget: String,
    ratio: f64,
    ok: bool,
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("child") {
        let figures = scenarios::run_child(&args[1..]);
        println!("BENCH {figures}");
        return;
    }
    let mut options = Options {
        runs: 3,
        scale: 1,
        only: Vec::new(),
        json: None,
    };
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--runs" => options.runs = value.parse().expect("--runs N"),
            "--scale" => options.scale = value.parse().expect("--scale D"),
            "--only" => options.only = value.split(',').map(str::to_string).collect(),
            "--json" => options.json = Some(PathBuf::from(value)),
            other => panic!("unknown option {other:?} (see benches/budgets.rs)"),
        }
        i += 2;
    }
    let wanted = |id: &str| options.only.is_empty() || options.only.iter().any(|o| o == id);

    let work_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-work");
    std::fs::create_dir_all(&work_root).unwrap();
    let temporary = tempfile::tempdir_in(&work_root).unwrap();
    // PENVIO_BENCH_KEEP=1 keeps the exports, states and configs for a
    // profiler (`heaptrack penvio-sync --config …/provision-0.yaml sync`).
    let (work, _removed_at_exit) = if std::env::var_os("PENVIO_BENCH_KEEP").is_some() {
        let kept = temporary.keep();
        eprintln!("keeping the work files in {}", kept.display());
        (kept, None)
    } else {
        (temporary.path().to_path_buf(), Some(temporary))
    };
    let mut rows = Vec::new();
    let mut all = json!({"runs": options.runs, "scale": options.scale});

    if wanted("b1") || wanted("b5") {
        let figures = plan_scenarios(&options, &work, &mut rows, wanted("b5"));
        all["plan"] = figures;
    }
    if wanted("b2") || wanted("b4") || wanted("b3") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        if wanted("b2") || wanted("b4") {
            all["provision_and_noop"] =
                runtime.block_on(provision_and_noop(&options, &work, &mut rows));
        }
        if wanted("b3") {
            all["rate"] = runtime.block_on(rate(&options, &work, &mut rows));
        }
    }

    print_table(&rows);
    if let Some(path) = &options.json {
        all["rows"] = rows
            .iter()
            .map(|r| json!({"id": r.id, "what": r.what, "figure": r.figure, "budget": r.budget, "ratio": r.ratio, "ok": r.ok}))
            .collect();
        std::fs::write(path, serde_json::to_vec_pretty(&all).unwrap()).unwrap();
    }
    if rows.iter().any(|r| !r.ok) {
        eprintln!("Some budgets are missed (ok = no).");
    }
}

/// Runs a child scenario of this binary and returns its figures.
fn child(args: &[String]) -> Value {
    let exe = std::env::current_exe().unwrap();
    let output = Command::new(exe).arg("child").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH "))
        .unwrap_or_else(|| panic!("child {args:?} printed no figures:\n{stdout}"));
    serde_json::from_str(line).unwrap()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn field(runs: &[Value], key: &str) -> f64 {
    median(runs.iter().map(|r| r[key].as_f64().unwrap()).collect())
}

fn mib(kib: f64) -> f64 {
    kib / 1024.0
}

/// B1 and B5: load + diff + plan at three sizes, each in fresh children.
fn plan_scenarios(options: &Options, work: &Path, rows: &mut Vec<Row>, b5: bool) -> Value {
    let sizes: &[(usize, usize)] = if b5 {
        &[(10_000, 100), (100_000, 1_000), (1_000_000, 10_000)]
    } else {
        &[(1_000_000, 10_000)]
    };
    let mut results = Vec::new();
    for &(users, teams) in sizes {
        let (users, teams) = (users / options.scale, (teams / options.scale).max(1));
        let dir = work.join(format!("snapshot-{users}"));
        let n = |v: usize| v.to_string();
        let setup = child(&[
            "snapshot-setup".into(),
            n(users),
            n(teams),
            dir.display().to_string(),
        ]);
        eprintln!("snapshot of {users} users written: {setup}");
        let mut floors = Vec::new();
        let mut plans = Vec::new();
        for run in 0..options.runs {
            floors.push(child(&["snapshot-floor".into(), dir.display().to_string()]));
            plans.push(child(&[
                "plan".into(),
                n(users),
                n(teams),
                dir.display().to_string(),
            ]));
            eprintln!("plan {users} run {run}: {}", plans.last().unwrap());
        }
        let summary = json!({
            "users": users,
            "teams": teams,
            "memberships": setup["memberships"],
            "floor_ms": field(&floors, "floor_ms"),
            "load_ms": field(&plans, "load_ms"),
            "plan_ms": field(&plans, "plan_ms"),
            "total_ms": field(&plans, "total_ms"),
            "vmhwm_kib": field(&plans, "vmhwm_kib"),
            "baseline_kib": field(&plans, "baseline_kib"),
            "desired_kib": field(&plans, "desired_kib"),
            "runs": plans,
        });
        std::fs::remove_dir_all(&dir).ok();
        results.push(summary);
    }

    let largest = results.last().unwrap();
    let (total, floor, hwm) = (
        largest["total_ms"].as_f64().unwrap(),
        largest["floor_ms"].as_f64().unwrap(),
        largest["vmhwm_kib"].as_f64().unwrap(),
    );
    let users = largest["users"].as_u64().unwrap();
    let teams = largest["teams"].as_u64().unwrap();
    let scaled = |budget: f64| budget / options.scale as f64;
    rows.push(Row {
        id: "B1",
        what: format!(
            "load+diff+plan {users} users / {teams} teams, 1% changed (load {:.0} ms, plan {:.0} ms)",
            largest["load_ms"].as_f64().unwrap(),
            largest["plan_ms"].as_f64().unwrap()
        ),
        figure: format!("{total:.0} ms"),
        budget: format!("≤ {:.0} ms", scaled(2000.0)),
        ratio: total / scaled(2000.0),
        ok: total <= scaled(2000.0),
    });
    rows.push(Row {
        id: "B1",
        what: "peak RSS of the plan child".into(),
        figure: format!("{:.0} MiB", mib(hwm)),
        budget: "≤ 600 MiB".into(),
        ratio: mib(hwm) / 600.0,
        ok: mib(hwm) <= 600.0,
    });
    rows.push(Row {
        id: "B1",
        what: format!("time / floor (reading the snapshot tables: {floor:.0} ms)"),
        figure: format!("{:.2}×", total / floor),
        budget: "≤ 2×".into(),
        ratio: total / floor / 2.0,
        ok: total / floor <= 2.0,
    });

    if b5 {
        let point = |r: &Value| {
            (
                r["users"].as_f64().unwrap(),
                r["vmhwm_kib"].as_f64().unwrap(),
            )
        };
        let (u0, m0) = point(&results[0]);
        let (u1, m1) = point(&results[1]);
        let (u2, m2) = point(&results[2]);
        let baseline = results[0]["baseline_kib"].as_f64().unwrap();
        let slope_all = (m2 - m0) / (u2 - u0) * 1024.0;
        let slope_low = (m1 - m0) / (u1 - u0) * 1024.0;
        let slope_high = (m2 - m1) / (u2 - u1) * 1024.0;
        let above_baseline = (m2 - baseline) / u2 * 1024.0;
        rows.push(Row {
            id: "B5",
            what: format!(
                "peak RSS at {u0:.0} / {u1:.0} / {u2:.0} users: {:.0} / {:.0} / {:.0} MiB (baseline {:.1} MiB)",
                mib(m0),
                mib(m1),
                mib(m2),
                mib(baseline)
            ),
            figure: format!("{above_baseline:.0} B/user above baseline"),
            budget: "≤ 600 B/user".into(),
            ratio: above_baseline / 600.0,
            ok: above_baseline <= 600.0,
        });
        let linear = slope_high / slope_low;
        rows.push(Row {
            id: "B5",
            what: format!(
                "growth per user {u0:.0}→{u1:.0}: {slope_low:.0} B, {u1:.0}→{u2:.0}: {slope_high:.0} B (overall {slope_all:.0} B)"
            ),
            figure: format!("{linear:.2} (slope ratio)"),
            budget: "roughly linear: 0.5–2".into(),
            ratio: linear,
            ok: (0.5..=2.0).contains(&linear),
        });
    }
    json!(results)
}

/// B4 (provision 100k users + 1k teams, timing commits), then B2 (no-op
/// syncs of the same directory in children).
async fn provision_and_noop(options: &Options, work: &Path, rows: &mut Vec<Row>) -> Value {
    use penvio_sync::emulator::{Emulator, EmulatorConfig};
    let shape = scenarios::Shape::new(100_000 / options.scale, (1_000 / options.scale).max(1));
    let emulator = Emulator::start(EmulatorConfig {
        tokens: vec![scenarios::TOKEN.to_string()],
        max_logged_requests: 0,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    // B4 is a median like every time figure: each run provisions a fresh
    // org and state directory; B2 then runs against the last one.
    let mut provisions = Vec::new();
    let mut config_path = PathBuf::new();
    for run in 0..options.runs.max(1) {
        let dir = work.join(format!("provision-{run}"));
        std::fs::create_dir_all(&dir).unwrap();
        let org = format!("org-{run}");
        let (b4, path) = scenarios::provision(&shape, &emulator, &org, &dir).await;
        eprintln!("provisioned (run {run}): {b4}");
        provisions.push(b4);
        config_path = path;
    }
    let share = field(&provisions, "commit_share");
    let b4 = provisions
        .iter()
        .min_by(|a, b| {
            let distance = |v: &Value| (v["commit_share"].as_f64().unwrap() - share).abs();
            distance(a).total_cmp(&distance(b))
        })
        .unwrap()
        .clone();
    rows.push(Row {
        id: "B4",
        what: format!(
            "time committing while applying {} ops (median of {} runs: {:.0} ms of {:.0} ms, of it {:.0} ms on a core, {} commits, {:.0} ops/s)",
            b4["operations"],
            provisions.len(),
            b4["commit_ms"].as_f64().unwrap(),
            b4["apply_ms"].as_f64().unwrap(),
            b4["commit_cpu_ms"].as_f64().unwrap(),
            b4["commits"],
            b4["ops_per_s"].as_f64().unwrap()
        ),
        figure: format!("{:.1}%", share * 100.0),
        budget: "≤ 10%".into(),
        ratio: share / 0.10,
        ok: share <= 0.10,
    });

    let mut runs = Vec::new();
    let mut target_requests = 0;
    for run in 0..options.runs {
        emulator.clear_log();
        let figures = tokio::task::spawn_blocking({
            let path = config_path.display().to_string();
            move || child(&["sync-process".into(), path])
        })
        .await
        .unwrap();
        let seen = emulator.read_count() + emulator.write_count();
        assert_eq!(figures["users"].as_u64(), Some(shape.users as u64));
        assert_eq!(figures["teams"].as_u64(), Some(shape.teams as u64));
        assert_eq!(figures["planned"].as_u64(), Some(0), "{figures}");
        target_requests += seen
            + figures["reads"].as_u64().unwrap() as usize
            + figures["writes"].as_u64().unwrap() as usize;
        eprintln!("no-op sync run {run}: {figures} (emulator saw {seen} requests)");
        runs.push(figures);
    }
    let wall = field(&runs, "wall_ms");
    let hwm = field(&runs, "process_hwm_kib");
    let scaled = |budget: f64| budget / options.scale as f64;
    rows.push(Row {
        id: "B2",
        what: format!(
            "no-op sync {} users / {} teams (file source): requests to the target",
            shape.users, shape.teams
        ),
        figure: format!("{target_requests}"),
        budget: "0 reads, 0 writes".into(),
        ratio: target_requests as f64,
        ok: target_requests == 0,
    });
    rows.push(Row {
        id: "B2",
        what: "no-op `penvio-sync sync` wall time, whole process (start to exit)".into(),
        figure: format!("{wall:.0} ms"),
        budget: format!("≤ {:.0} ms", scaled(250.0)),
        ratio: wall / scaled(250.0),
        ok: wall <= scaled(250.0),
    });
    rows.push(Row {
        id: "B2",
        what: "no-op `penvio-sync sync` peak RSS, whole process".into(),
        figure: format!("{:.0} MiB", mib(hwm)),
        budget: "≤ 100 MiB".into(),
        ratio: mib(hwm) / 100.0,
        ok: mib(hwm) <= 100.0,
    });
    json!({"b4": provisions, "b2": runs})
}

/// B3: provisioning at 500 requests per second, without and with latency.
async fn rate(options: &Options, work: &Path, rows: &mut Vec<Row>) -> Value {
    let users = 20_000 / options.scale;
    let mut results = Vec::new();
    for (concurrency, latency) in [(4, None), (32, Some(Duration::from_millis(50)))] {
        let dir = work.join(format!("rate-{concurrency}"));
        std::fs::create_dir_all(&dir).unwrap();
        let figures = scenarios::rate_scenario(users, 500, 50, concurrency, latency, &dir).await;
        eprintln!("rate: {figures}");
        let share = figures["achieved_share"].as_f64().unwrap();
        let worst = figures["worst_second"].as_u64().unwrap();
        let label = match latency {
            None => format!("concurrency {concurrency}, no latency"),
            Some(l) => format!("concurrency {concurrency}, {} ms latency", l.as_millis()),
        };
        rows.push(Row {
            id: "B3",
            what: format!(
                "{users} user creates at 500/s ({label}): achieved {:.1}/s",
                figures["achieved_rps"].as_f64().unwrap()
            ),
            figure: format!("{:.1}%", share * 100.0),
            budget: "≥ 95% of 500/s".into(),
            ratio: share / 0.95,
            ok: share >= 0.95,
        });
        rows.push(Row {
            id: "B3",
            what: format!(
                "busiest one-second window ({label}; after the first second: {})",
                figures["worst_second_steady"]
            ),
            figure: format!("{worst}"),
            budget: "≤ 550 (500 + burst 50)".into(),
            ratio: worst as f64 / 550.0,
            ok: worst <= 550,
        });
        results.push(figures);
    }
    json!(results)
}

fn print_table(rows: &[Row]) {
    println!();
    println!("| id | measure | figure | budget | ratio | ok |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {:.2} | {} |",
            r.id,
            r.what,
            r.figure,
            r.budget,
            r.ratio,
            if r.ok { "yes" } else { "NO" }
        );
    }
}
