//! Synthetic directories and the budget scenarios of issue 7.
//!
//! Shared by `benches/budgets.rs` (full scale, release build, run by
//! `scripts/bench`) and `tests/perf_regression.rs` (1/20 scale, debug build,
//! generous thresholds, part of `cargo test`). Every scenario checks its
//! result (plan counts, what the emulator holds, request counts), so no
//! figure can be met by skipping work.
//!
//! Scenarios that measure memory run in a child process of their own (see
//! [`run_child`]), which prints one `BENCH {json}` line with its figures and
//! its peak RSS (`VmHWM`), so scenarios never pollute each other's peak.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use penvio_sync::config::{self, ConnectionConfig, MappingConfig, ProcessEnvironment};
use penvio_sync::mapping::{DesiredState, DesiredTeam, map_user};
use penvio_sync::model::SourceUser;
use penvio_sync::plan::{Plan, PlanPolicy, RemovalAction, plan};
use penvio_sync::snapshot::{Change, Snapshot, TeamRecord, UserRecord};
use penvio_sync::state::{RedbStateStore, RunRecord, StateError, StateStore};
use serde_json::{Value, json};

/// The connection name every scenario uses.
pub const CONNECTION: &str = "bench";
/// The token the emulator accepts.
pub const TOKEN: &str = "bench-token";
/// Fixed "now" of every plan, so runs are reproducible.
pub const NOW: i64 = 1_780_000_000;

/// Size and seed of a synthetic directory.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Users.
    pub users: usize,
    /// Teams (IdP groups, all selected as teams).
    pub teams: usize,
    /// Average members per team (uniform in 2..=2·avg−2, duplicates merged).
    pub avg_members: usize,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Shape {
    /// `users` users and `teams` teams of 50 members on average, seed 7.
    pub fn new(users: usize, teams: usize) -> Self {
        Shape {
            users,
            teams,
            avg_members: 50,
            seed: 7,
        }
    }

    /// Users whose family name differs in the changed directory (1%).
    pub fn changed_users(&self) -> usize {
        self.users.div_ceil(100)
    }

    /// Teams that gain one member and lose one in the changed directory (1%).
    pub fn changed_teams(&self) -> usize {
        self.teams.div_ceil(100)
    }
}

const GIVEN: [&str; 16] = [
    "Ada", "Alan", "Barbara", "Claude", "Dennis", "Edsger", "Frances", "Grace", "Hedy", "Ivan",
    "Joan", "Ken", "Linus", "Margaret", "Niklaus", "Radia",
];
const FAMILY: [&str; 16] = [
    "Lovelace",
    "Turing",
    "Liskov",
    "Shannon",
    "Ritchie",
    "Dijkstra",
    "Allen",
    "Hopper",
    "Lamarr",
    "Sutherland",
    "Clarke",
    "Thompson",
    "Torvalds",
    "Hamilton",
    "Wirth",
    "Perlman",
];

/// Source id of user `i` (Okta-like, fixed width).
pub fn user_id(i: usize) -> String {
    format!("00u{i:09}")
}

/// Source id of team `j`.
pub fn team_id(j: usize) -> String {
    format!("00g{j:07}")
}

/// A UUID-shaped Penvio id.
pub fn penvio_id(kind: u32, i: usize) -> String {
    format!("{kind:08x}-0000-4000-8000-{i:012x}")
}

/// User `i` as the IdP returns it; `changed` gives 1% of users a new family name.
pub fn source_user(shape: &Shape, i: usize, changed: bool) -> SourceUser {
    let mut rng = fastrand::Rng::with_seed(shape.seed.wrapping_mul(1_000_003) ^ i as u64);
    let given = GIVEN[rng.usize(..GIVEN.len())];
    let family = if changed && i.is_multiple_of(100) {
        "Changed"
    } else {
        FAMILY[rng.usize(..FAMILY.len())]
    };
    SourceUser {
        id: user_id(i),
        email: Some(format!(
            "{}.{}{i}@example.com",
            given.to_lowercase(),
            family.to_lowercase()
        )),
        given_name: Some(given.to_string()),
        family_name: Some(family.to_string()),
        display_name: None,
        active: true,
        attributes: BTreeMap::new(),
    }
}

/// Member indexes of team `j`; `changed` makes 1% of teams lose their first
/// member and gain one they did not have.
pub fn team_members(shape: &Shape, j: usize, changed: bool) -> BTreeSet<usize> {
    let mut rng = fastrand::Rng::with_seed(shape.seed.wrapping_mul(7_000_003) ^ (j as u64) << 1);
    let max = (2 * shape.avg_members).saturating_sub(2).max(2);
    let count = rng.usize(2..=max).min(shape.users);
    let mut members = BTreeSet::new();
    for _ in 0..count {
        members.insert(rng.usize(..shape.users));
    }
    if changed && j.is_multiple_of(100) && members.len() < shape.users {
        let first = *members.iter().next().unwrap();
        let mut extra = rng.usize(..shape.users);
        while members.contains(&extra) {
            extra = (extra + 1) % shape.users;
        }
        members.remove(&first);
        members.insert(extra);
    }
    members
}

/// Name of team `j`.
pub fn team_name(j: usize) -> String {
    format!("Team {j:05}")
}

/// The desired state of the (changed) directory, mapped user by user with
/// the default mapping, without ever holding the whole source directory.
pub fn desired(shape: &Shape, changed: bool) -> DesiredState {
    let mapping = MappingConfig::default();
    let mut state = DesiredState {
        // Collected and bulk-built, as `map_directory` builds its users map.
        users: (0..shape.users)
            .map(|i| {
                let user = source_user(shape, i, changed);
                let attributes = map_user(&user, &mapping).unwrap();
                (user.id, attributes.into())
            })
            .collect(),
        ..DesiredState::default()
    };
    for j in 0..shape.teams {
        state.teams.insert(
            team_id(j),
            DesiredTeam {
                name: team_name(j),
                members: team_members(shape, j, changed)
                    .into_iter()
                    .map(user_id)
                    .collect(),
            },
        );
    }
    state
}

/// The snapshot Penvio would hold after applying `desired`.
pub fn snapshot_of(desired: &DesiredState) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (n, (id, attributes)) in desired.users.iter().enumerate() {
        snapshot.users.insert(
            id.clone(),
            UserRecord {
                penvio_id: penvio_id(1, n),
                attributes: attributes.unpack(),
                deactivated_at: None,
            }
            .into(),
        );
    }
    for (n, (id, team)) in desired.teams.iter().enumerate() {
        snapshot.teams.insert(
            id.clone(),
            TeamRecord {
                penvio_id: penvio_id(2, n),
                name: team.name.clone(),
                members: team.members.clone(),
                foreign_members: BTreeSet::new(),
            },
        );
    }
    snapshot
}

/// The directory as a `file` source export (JSON), with every field the
/// `file` source documents on every user (as a real HR export carries
/// them): id, email, given, family and display name, and `active`.
pub fn write_export(shape: &Shape, path: &Path) {
    let users: Vec<Value> = (0..shape.users)
        .map(|i| {
            let u = source_user(shape, i, false);
            let display = format!(
                "{} {}",
                u.given_name.as_deref().unwrap_or_default(),
                u.family_name.as_deref().unwrap_or_default()
            );
            json!({"id": u.id, "email": u.email, "given_name": u.given_name, "family_name": u.family_name, "display_name": display, "active": true})
        })
        .collect();
    let groups: Vec<Value> = (0..shape.teams)
        .map(|j| {
            let members: Vec<String> = team_members(shape, j, false)
                .into_iter()
                .map(user_id)
                .collect();
            json!({"id": team_id(j), "name": team_name(j), "members": members})
        })
        .collect();
    let text = serde_json::to_vec(&json!({"users": users, "groups": groups})).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Total memberships of the unchanged directory.
pub fn membership_count(shape: &Shape) -> usize {
    (0..shape.teams)
        .map(|j| team_members(shape, j, false).len())
        .sum()
}

/// The plan policy `sync` derives from the default policy block.
pub fn default_policy(snapshot: &Snapshot) -> PlanPolicy {
    let policy = config::PolicyConfig::default();
    PlanPolicy {
        on_user_removed: RemovalAction::Deactivate,
        delete_deactivated_after: None,
        max_deactivations: policy.max_deactivations.limit(snapshot.users.len()),
        max_deletions: policy
            .max_deletions
            .limit(snapshot.users.len() + snapshot.teams.len()),
        max_shrinkage: policy.max_shrinkage,
        max_member_removals: policy.max_member_removals,
        allow_deletions: false,
    }
}

/// Operations of a plan by kind.
pub fn plan_counts(plan: &Plan) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for operation in &plan.operations {
        *counts.entry(operation.kind()).or_default() += 1;
    }
    counts
}

/// Peak resident set of this process (KiB), from `/proc/self/status`.
pub fn vm_hwm_kib() -> u64 {
    proc_status_kib("VmHWM:")
}

/// Current resident set of this process (KiB).
pub fn vm_rss_kib() -> u64 {
    proc_status_kib("VmRSS:")
}

fn proc_status_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A connection reading `export` and writing to `url`, with state in `state_dir`.
pub fn connection(
    state_dir: &Path,
    export: &Path,
    url: &str,
    requests_per_second: u32,
    burst: u32,
    concurrency: usize,
) -> (String, ConnectionConfig) {
    let text = format!(
        "state_dir: {state}\nconnections:\n  - name: {CONNECTION}\n    source: {{type: file, path: {export}}}\n    target:\n      url: {url}\n      token: {TOKEN}\n      requests_per_second: {requests_per_second}\n      burst: {burst}\n      concurrency: {concurrency}\n      member_patch_size: 1000\n",
        state = state_dir.display(),
        export = export.display(),
    );
    let config_path = state_dir.with_extension("yaml");
    let connection = config::load_str(&text, &config_path, &ProcessEnvironment)
        .unwrap_or_else(|e| panic!("bench config invalid: {e}\n{text}"))
        .connections
        .remove(0);
    (text, connection)
}

// ---------------------------------------------------------------- children

/// Runs one child scenario and returns its figures (the caller prints them
/// as `BENCH {json}`). `args`: the mode, then its parameters.
pub fn run_child(args: &[String]) -> Value {
    // The allocator set up as the binary sets it up.
    penvio_sync::allocator::release_freed_memory_promptly();
    let mode = args.first().map(String::as_str).unwrap_or_default();
    let arg = |i: usize| -> &str { args.get(i).map(String::as_str).unwrap_or_default() };
    let baseline_kib = vm_rss_kib();
    let mut figures = match mode {
        // setup USERS TEAMS DIR: writes the snapshot of the unchanged directory.
        "snapshot-setup" => {
            let shape = Shape::new(arg(1).parse().unwrap(), arg(2).parse().unwrap());
            snapshot_setup(&shape, Path::new(arg(3)))
        }
        // floor DIR: reads every row of the snapshot tables, decoding nothing.
        "snapshot-floor" => snapshot_floor(Path::new(arg(1))),
        // plan USERS TEAMS DIR: load + diff + plan against the changed directory.
        "plan" => {
            let shape = Shape::new(arg(1).parse().unwrap(), arg(2).parse().unwrap());
            plan_scenario(&shape, Path::new(arg(3)))
        }
        // sync-process CONFIG: one `penvio-sync sync` of the config, as a process.
        "sync-process" => whole_process_sync(Path::new(arg(1))),
        other => panic!("unknown child scenario {other:?}"),
    };
    figures["baseline_kib"] = json!(baseline_kib);
    figures["vmhwm_kib"] = json!(vm_hwm_kib());
    figures
}

fn snapshot_setup(shape: &Shape, dir: &Path) -> Value {
    let clock = Instant::now();
    let snapshot = snapshot_of(&desired(shape, false));
    let memberships: usize = snapshot.teams.values().map(|t| t.members.len()).sum();
    let store = RedbStateStore::open(dir).unwrap();
    let write = Instant::now();
    store.replace(CONNECTION, &snapshot).unwrap();
    json!({
        "users": snapshot.users.len(),
        "teams": snapshot.teams.len(),
        "memberships": memberships,
        "write_ms": millis(write.elapsed()),
        "total_ms": millis(clock.elapsed()),
    })
}

/// The floor of B1: the time to read every row the snapshot holds for the
/// connection through redb, touching each key and value but decoding none.
/// The table definitions mirror `src/state/redb_store.rs`; a layout change
/// there makes this fail loudly (wrong table type), never silently.
fn snapshot_floor(dir: &Path) -> Value {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};
    let users = format!("users/{CONNECTION}");
    let teams = format!("teams/{CONNECTION}");
    let members = format!("team_members/{CONNECTION}");
    let users: TableDefinition<&str, &[u8]> = TableDefinition::new(&users);
    let teams: TableDefinition<&str, &[u8]> = TableDefinition::new(&teams);
    let members: TableDefinition<(&str, &str), ()> = TableDefinition::new(&members);
    let path = dir.join(penvio_sync::state::STATE_FILE_NAME);
    let clock = Instant::now();
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let (mut rows, mut bytes) = (0usize, 0usize);
    for table in [users, teams] {
        for row in txn.open_table(table).unwrap().iter().unwrap() {
            let (key, value) = row.unwrap();
            rows += 1;
            bytes += key.value().len() + value.value().len();
        }
    }
    for row in txn.open_table(members).unwrap().iter().unwrap() {
        let (key, _) = row.unwrap();
        let (team, member) = key.value();
        rows += 1;
        bytes += team.len() + member.len();
    }
    json!({"rows": rows, "bytes": bytes, "floor_ms": millis(clock.elapsed())})
}

fn plan_scenario(shape: &Shape, dir: &Path) -> Value {
    let desired = desired(shape, true);
    let desired_kib = vm_rss_kib();
    let store = RedbStateStore::open(dir).unwrap();
    let clock = Instant::now();
    let snapshot = store.load(CONNECTION).unwrap();
    let loaded = clock.elapsed();
    let plan = plan(&desired, &snapshot, &default_policy(&snapshot), NOW);
    let total = clock.elapsed();

    // Check the work was done: exactly the 1% that changed, nothing else.
    assert_eq!(snapshot.users.len(), shape.users);
    assert_eq!(snapshot.teams.len(), shape.teams);
    let counts = plan_counts(&plan);
    let expected: BTreeMap<&str, usize> = [
        ("update_user", shape.changed_users()),
        ("add_members", shape.changed_teams()),
        ("remove_members", shape.changed_teams()),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect();
    assert_eq!(counts, expected, "plan of the 1% changed directory");
    assert!(plan.held_back.is_empty());
    json!({
        "users": shape.users,
        "teams": shape.teams,
        "load_ms": millis(loaded),
        "plan_ms": millis(total - loaded),
        "total_ms": millis(total),
        "operations": plan.operations.len(),
        "desired_kib": desired_kib,
    })
}

/// Runs the release binary's `sync --json` on `config` as its own process
/// (from this small child, so the figure is not the bench parent's size:
/// a forked process's `ru_maxrss` starts at its parent's):
/// wall time from spawn to exit and its peak RSS (`ru_maxrss` from
/// `wait4`, the figure `/usr/bin/time -f %M` prints), so start-up, config
/// loading, the state open and the exit all count, as they do for a user.
// Reaped by `wait4` below, which also yields its resource usage.
#[allow(clippy::zombie_processes)]
fn whole_process_sync(config: &Path) -> Value {
    let clock = std::time::Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_penvio-sync"))
        .arg("--config")
        .arg(config)
        .args(["sync", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                std::io::Read::read_to_end(&mut pipe, &mut bytes).unwrap();
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not waited for anywhere else, and
    // `status`/`usage` outlive the call.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = clock.elapsed();
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "sync exited with {status}: {}",
        String::from_utf8_lossy(&stderr)
    );
    // One connection: `sync --json` prints its report as one object.
    let report: Value = serde_json::from_slice(&stdout).unwrap_or_else(|e| {
        panic!(
            "sync --json printed no report ({e}): {}",
            String::from_utf8_lossy(&stdout)
        )
    });
    json!({
        "wall_ms": wall.as_secs_f64() * 1000.0,
        "process_hwm_kib": usage.ru_maxrss,
        "users": report["source"]["desired_users"],
        "teams": report["source"]["desired_teams"],
        "planned": report["planned"].as_object().map(|p| p.values().filter_map(Value::as_u64).sum::<u64>()).unwrap_or(0),
        "reads": report["target_requests"]["reads"],
        "writes": report["target_requests"]["writes"],
    })
}

// ------------------------------------------------- in-process scenarios

/// A store that times every commit of acknowledged changes (B4).
pub struct TimingStore {
    inner: RedbStateStore,
    /// (commits, changes, total wall time committing, CPU time of it).
    pub commits: Mutex<(usize, usize, Duration, Duration)>,
}

impl TimingStore {
    /// Wraps a store.
    pub fn new(inner: RedbStateStore) -> Self {
        TimingStore {
            inner,
            commits: Mutex::new((0, 0, Duration::ZERO, Duration::ZERO)),
        }
    }
}

/// CPU time of the calling thread: beside the wall time of a commit, it
/// tells how much of that time the recorder waited for a core.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

impl StateStore for TimingStore {
    fn load(&self, connection: &str) -> Result<Snapshot, StateError> {
        self.inner.load(connection)
    }
    fn apply(&self, connection: &str, changes: &[Change]) -> Result<(), StateError> {
        let (clock, cpu) = (Instant::now(), thread_cpu_time());
        let result = self.inner.apply(connection, changes);
        let (wall, cpu) = (clock.elapsed(), thread_cpu_time().saturating_sub(cpu));
        let mut commits = self.commits.lock().unwrap();
        commits.0 += 1;
        commits.1 += changes.len();
        commits.2 += wall;
        commits.3 += cpu;
        result
    }
    fn replace(&self, connection: &str, snapshot: &Snapshot) -> Result<(), StateError> {
        self.inner.replace(connection, snapshot)
    }
    fn forget(&self, connection: &str) -> Result<(), StateError> {
        self.inner.forget(connection)
    }
    fn record_run(&self, connection: &str, run: &RunRecord) -> Result<(), StateError> {
        self.inner.record_run(connection, run)
    }
    fn last_run(&self, connection: &str) -> Result<Option<RunRecord>, StateError> {
        self.inner.last_run(connection)
    }
    fn connections(&self) -> Result<Vec<String>, StateError> {
        self.inner.connections()
    }
    fn load_source_cache(&self, connection: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.inner.load_source_cache(connection)
    }
    fn save_source_cache(&self, connection: &str, cache: &[u8]) -> Result<(), StateError> {
        self.inner.save_source_cache(connection, cache)
    }
}

/// B4: initial provisioning of `shape` (≈ users + teams operations) against
/// the emulator at `emulator_url`, timing the commits; leaves the snapshot in
/// `state_dir` and the export at `export` for B2.
pub async fn provision(
    shape: &Shape,
    emulator: &penvio_sync::emulator::Emulator,
    org: &str,
    work: &Path,
) -> (Value, PathBuf) {
    use penvio_sync::apply::{ApplySettings, apply_plan};
    use penvio_sync::emulator::ResourceKind;

    let state_dir = work.join("state");
    let export = work.join("directory.json");
    write_export(shape, &export);
    let (text, connection) = connection(
        &state_dir,
        &export,
        &emulator.base_url(org),
        1_000_000,
        1_000_000,
        16,
    );
    let config_path = work.join("penvio-sync.yaml");
    std::fs::write(&config_path, text).unwrap();

    let store = Arc::new(TimingStore::new(RedbStateStore::open(&state_dir).unwrap()));
    let mut snapshot = store.load(CONNECTION).unwrap();
    let desired = desired(shape, false);
    let plan = plan(&desired, &snapshot, &default_policy(&snapshot), NOW);
    let operations = plan.operations.len();
    assert_eq!(operations, shape.users + shape.teams);
    let client = penvio_sync::sync::target_client(&connection, 0).unwrap();
    let settings = ApplySettings {
        concurrency: connection.target.concurrency.get(),
        member_patch_size: connection.target.member_patch_size.get(),
        now: NOW,
        cancel: tokio_util::sync::CancellationToken::new(),
        events: penvio_sync::events::RunContext {
            connection: CONNECTION.into(),
            run_id: "bench".into(),
            audit: None,
        },
        on_username_reuse: config::OnUserNameReuse::Refuse,
    };
    let clock = Instant::now();
    let applied = apply_plan(
        &plan,
        &mut snapshot,
        &client,
        store.clone(),
        CONNECTION,
        &settings,
        &penvio_sync::progress::Progress::hidden(),
    )
    .await
    .unwrap();
    let apply_time = clock.elapsed();
    let failures = applied
        .outcomes
        .iter()
        .filter(|o| o.error.is_some())
        .count();
    assert_eq!(failures, 0);
    assert_eq!(applied.outcomes.len(), operations);

    // What Penvio holds and what the snapshot recorded.
    assert_eq!(emulator.count(org, ResourceKind::User), shape.users);
    assert_eq!(emulator.count(org, ResourceKind::Group), shape.teams);
    let held_members: usize = emulator
        .groups(org)
        .iter()
        .map(|g| g["members"].as_array().map_or(0, Vec::len))
        .sum();
    let memberships = membership_count(shape);
    assert_eq!(held_members, memberships);
    let reloaded = store.load(CONNECTION).unwrap();
    assert_eq!(reloaded.users.len(), shape.users);
    assert_eq!(reloaded.teams.len(), shape.teams);
    let recorded: usize = reloaded.teams.values().map(|t| t.members.len()).sum();
    assert_eq!(recorded, memberships);
    assert!(
        plan_counts(&penvio_sync::plan::plan(
            &desired,
            &reloaded,
            &default_policy(&reloaded),
            NOW
        ))
        .is_empty(),
        "the recorded snapshot must plan nothing"
    );

    let (commits, changes, committing, committing_cpu) = *store.commits.lock().unwrap();
    let figures = json!({
        "operations": operations,
        "apply_ms": millis(apply_time),
        "commit_ms": millis(committing),
        "commit_cpu_ms": millis(committing_cpu),
        "commits": commits,
        "changes": changes,
        "commit_share": committing.as_secs_f64() / apply_time.as_secs_f64(),
        "ops_per_s": operations as f64 / apply_time.as_secs_f64(),
    });
    (figures, config_path)
}

/// B3: provisioning `users` users at `rate` requests per second (burst
/// `burst`), through the real `sync`; figures from the emulator's log.
pub async fn rate_scenario(
    users: usize,
    rate: u32,
    burst: u32,
    concurrency: usize,
    latency: Option<Duration>,
    work: &Path,
) -> Value {
    use penvio_sync::emulator::{Emulator, EmulatorConfig, ResourceKind};
    let emulator = Emulator::start(EmulatorConfig {
        tokens: vec![TOKEN.to_string()],
        latency,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let shape = Shape::new(users, 0);
    let export = work.join("directory.json");
    write_export(&shape, &export);
    let (_, connection) = connection(
        &work.join("state"),
        &export,
        &emulator.base_url("rate"),
        rate,
        burst,
        concurrency,
    );
    let store: Arc<dyn StateStore> = Arc::new(RedbStateStore::open(&work.join("state")).unwrap());
    let report = penvio_sync::sync::run_connection(
        &connection,
        0,
        store,
        &penvio_sync::sync::RunOptions::sync_now(),
    )
    .await;
    assert_eq!(report.exit_code, 0, "{:?}", report.error);
    assert_eq!(emulator.count("rate", ResourceKind::User), users);
    let times: Vec<Instant> = emulator
        .request_log()
        .iter()
        .filter(|r| r.is_write)
        .map(|r| r.received)
        .collect();
    assert_eq!(times.len(), users, "one write per user, no retries");
    let span = times.last().unwrap().duration_since(times[0]);
    let achieved = (times.len() - 1) as f64 / span.as_secs_f64();
    // Busiest one-second window, from the emulator's arrival times; and the
    // same over windows that start after the first second (the cold start
    // holds the burst, and arrival jitter can squeeze it).
    let (mut worst, mut worst_steady) = (0, 0);
    let mut end = 0;
    for (i, start) in times.iter().enumerate() {
        while end < times.len() && times[end].duration_since(*start) < Duration::from_secs(1) {
            end += 1;
        }
        worst = worst.max(end - i);
        if start.duration_since(times[0]) >= Duration::from_secs(1) {
            worst_steady = worst_steady.max(end - i);
        }
    }
    json!({
        "users": users,
        "rate": rate,
        "burst": burst,
        "concurrency": concurrency,
        "latency_ms": latency.map_or(0, |l| l.as_millis() as u64),
        "span_s": span.as_secs_f64(),
        "achieved_rps": achieved,
        "achieved_share": achieved / f64::from(rate),
        "worst_second": worst,
        "worst_second_steady": worst_steady,
        "throttled": report.target_requests.throttled,
    })
}
