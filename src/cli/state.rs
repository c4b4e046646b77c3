//! `penvio-sync state`: inspect or reset the snapshot.

use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::json;

use super::access::open_local_state;
use crate::config::Config;
use crate::report::exit::{EXIT_OK, EXIT_RUN_FAILED};
use crate::snapshot::Snapshot;
use crate::state::StateStore;
use crate::sync::ago;
use crate::timestamp::unix_now;

/// Options of `state`.
#[derive(Debug, Args, Clone)]
pub struct StateArgs {
    #[command(subcommand)]
    action: StateAction,
}

#[derive(Debug, Subcommand, Clone)]
enum StateAction {
    /// Counts and the last run, per connection.
    Show {
        /// Only this connection.
        #[arg(long)]
        connection: Option<String>,
    },
    /// The whole snapshot as JSON.
    Export {
        /// Only this connection.
        #[arg(long)]
        connection: Option<String>,
    },
    /// Delete a connection's snapshot (the next sync links users again by
    /// userName; run `reconcile` to rebuild it from Penvio instead).
    Forget {
        /// The connection to forget.
        #[arg(long)]
        connection: String,
    },
}

/// Runs `state`'s action on the state opened here; the exit code.
pub(super) fn run(config: &Config, args: StateArgs) -> i32 {
    let store = match open_local_state(config) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let result = match args.action {
        StateAction::Show { connection } => show(
            config,
            &store,
            &names(config, &store, connection.as_deref()),
        ),
        StateAction::Export { connection } => {
            export(&store, names(config, &store, connection.as_deref()))
        }
        StateAction::Forget { connection } => forget(&store, &connection),
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    }
}

/// The connection named, else every configured one and every one the
/// state still holds.
fn names(config: &Config, store: &Arc<dyn StateStore>, only: Option<&str>) -> Vec<String> {
    if let Some(name) = only {
        return vec![name.to_string()];
    }
    let mut names: Vec<String> = config.connections.iter().map(|c| c.name.clone()).collect();
    for stored in store.connections().unwrap_or_default() {
        if !names.contains(&stored) {
            names.push(stored);
        }
    }
    names
}

fn load_snapshot(store: &dyn StateStore, name: &str) -> Result<Snapshot, i32> {
    store.load(name).map_err(|error| {
        eprintln!("{error}");
        EXIT_RUN_FAILED
    })
}

/// `state show`: counts, the last run and the age of the source data.
fn show(config: &Config, store: &Arc<dyn StateStore>, names: &[String]) -> Result<(), i32> {
    let now = unix_now();
    for name in names {
        let snapshot = load_snapshot(store.as_ref(), name)?;
        print_counts(name, &snapshot);
        print_last_run(config, store.as_ref(), name, now);
    }
    Ok(())
}

/// The snapshot's line of `state show`.
fn print_counts(name: &str, snapshot: &Snapshot) {
    let active = snapshot.users.values().filter(|u| u.active()).count();
    println!(
        "{name}: {} users ({active} active, {} deactivated), {} teams, {} memberships, generation {}",
        snapshot.users.len(),
        snapshot.users.len() - active,
        snapshot.teams.len(),
        snapshot
            .teams
            .values()
            .map(|t| t.members.len())
            .sum::<usize>(),
        snapshot.generation
    );
    if !snapshot.pending_team_creates.is_empty() {
        println!(
            "  {} team creates awaiting confirmation (resolved on the next run)",
            snapshot.pending_team_creates.len()
        );
    }
}

/// The last run's lines of `state show`, and the age of its source data.
fn print_last_run(config: &Config, store: &dyn StateStore, name: &str, now: i64) {
    match store.last_run(name) {
        Ok(Some(run)) => println!(
            "  last run: {} {} {}, {} applied, {} failed{}",
            run.mode,
            run.outcome,
            ago(run.started_at, now),
            run.applied,
            run.failed,
            run.error.map(|e| format!(": {e}")).unwrap_or_default()
        ),
        Ok(None) => println!("  never run"),
        Err(error) => eprintln!("  {error}"),
    }
    let limit = config
        .connections
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.source.staleness_limit());
    if let Ok(Some(run)) = store.last_run(name) {
        for line in source_age_lines(run.source_read_at, now, limit) {
            println!("{line}");
        }
    }
}

/// `state export`: the snapshots as one JSON object by connection.
fn export(store: &Arc<dyn StateStore>, names: Vec<String>) -> Result<(), i32> {
    let mut exported = serde_json::Map::new();
    for name in names {
        let snapshot = load_snapshot(store.as_ref(), &name)?;
        let teams: serde_json::Map<String, serde_json::Value> = snapshot
            .teams
            .iter()
            .map(|(id, team)| {
                (
                    id.clone(),
                    json!({"penvio_id": team.penvio_id, "name": team.name, "members": team.members}),
                )
            })
            .collect();
        exported.insert(
            name,
            json!({
                "generation": snapshot.generation,
                "users": snapshot.users,
                "teams": teams,
                "pending_team_creates": snapshot.pending_team_creates,
            }),
        );
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&exported).unwrap_or_default()
    );
    Ok(())
}

/// `state forget`: deletes the connection's snapshot.
fn forget(store: &Arc<dyn StateStore>, connection: &str) -> Result<(), i32> {
    match store.forget(connection) {
        Ok(()) => {
            println!(
                "Forgot the snapshot of {connection}. The next sync links existing Penvio users by userName; `penvio-sync reconcile` rebuilds the snapshot from Penvio."
            );
            Ok(())
        }
        Err(error) => {
            eprintln!("{error}");
            Err(EXIT_RUN_FAILED)
        }
    }
}

/// The `state show` lines on the age of the source data the last run
/// relied on, with a warning past the source's `full_fetch_interval`.
fn source_age_lines(
    read_at: Option<i64>,
    now: i64,
    limit: Option<std::time::Duration>,
) -> Vec<String> {
    let Some(read_at) = read_at else {
        return vec!["  source data: never read completely".to_string()];
    };
    let mut lines = vec![format!(
        "  source data: read {} (removals made in the IdP before then are applied)",
        ago(read_at, now)
    )];
    let age = u64::try_from(now.saturating_sub(read_at)).unwrap_or(0);
    if let Some(limit) = limit.filter(|l| age > l.as_secs()) {
        lines.push(format!(
            "  warning: the source data is older than full_fetch_interval ({}): removals in the IdP since then have not reached Penvio; check why runs fail",
            humantime::format_duration(limit)
        ));
    }
    lines
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use super::source_age_lines;

    #[test]
    fn old_source_data_is_warned_about_past_the_interval() {
        let day = Some(Duration::from_secs(86_400));
        let fresh = source_age_lines(Some(1_000), 1_060, day);
        assert_eq!(fresh.len(), 1, "{fresh:?}");
        assert!(fresh[0].starts_with("  source data: read "), "{fresh:?}");
        let stale = source_age_lines(Some(1_000), 1_000 + 86_401, day);
        assert_eq!(stale.len(), 2, "{stale:?}");
        assert!(
            stale[1].contains("older than full_fetch_interval (1day)"),
            "{stale:?}"
        );
        assert_eq!(
            source_age_lines(None, 5, day),
            ["  source data: never read completely"]
        );
    }
}
