//! The snapshot in one redb file.
//!
//! redb commits are durable when `commit` returns and survive kill -9, which
//! is what lets the executor record acknowledgements in batches without ever
//! claiming more than Penvio acknowledged.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use redb::{
    Database, DatabaseError, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};
use serde::{Deserialize, Serialize};

use super::stored_user::UserRecordRef;
use super::{
    Change, RunRecord, Snapshot, SourceCache, StateError, StateStore, StoredUser, TeamRecord,
};

/// File name of the snapshot inside `state_dir`.
pub const STATE_FILE_NAME: &str = "penvio-sync.redb";

/// redb's page cache. Its default (1 GiB) keeps every page a load reads
/// resident, so loading a 1M-user snapshot doubled the process's memory for
/// no gain: a load reads each page once, in key order, and the OS page cache
/// serves any re-read.
const CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Version of the layout below; bumped on any incompatible change.
const SCHEMA_VERSION: u64 = 1;
const SCHEMA_VERSION_KEY: &str = "schema_version";

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// (connection, source user id) → postcard [`UserRecord`].
const USERS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("users");
/// (connection, source group id) → postcard [`TeamHeader`].
const TEAMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("teams");
/// (connection, team source id, member source id): one row per membership, so
/// a membership change touches one row, not the whole member list.
const MEMBERS: TableDefinition<(&str, &str, &str), ()> = TableDefinition::new("team_members");
/// (connection, team source id) → unix seconds the create was sent.
const PENDING_TEAMS: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("pending_team_creates");
/// connection → generation counter.
const GENERATIONS: TableDefinition<&str, u64> = TableDefinition::new("generations");
/// connection → JSON [`RunRecord`] of the last run.
const RUNS: TableDefinition<&str, &[u8]> = TableDefinition::new("runs");
/// connection → postcard [`SourceCache`] of an incremental adapter.
const SOURCE_CACHE: TableDefinition<&str, &[u8]> = TableDefinition::new("source_cache");

#[derive(Serialize, Deserialize)]
struct TeamHeader {
    penvio_id: String,
    name: String,
}

/// The redb-backed [`StateStore`].
pub struct RedbStateStore {
    db: Database,
    path: PathBuf,
}

fn db_err<E: Into<redb::Error>>(error: E) -> StateError {
    StateError::Database(error.into())
}

impl RedbStateStore {
    /// Opens (or creates) the state file in `state_dir`, readable only by its
    /// owner: it maps every managed identity to its Penvio id.
    pub fn open(state_dir: &Path) -> Result<Self, StateError> {
        let path = state_dir.join(STATE_FILE_NAME);
        let display = path.display().to_string();
        let io = |source| StateError::Io {
            path: display.clone(),
            source,
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .map_err(io)?;
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        std::fs::set_permissions(&path, Permissions::from_mode(0o600)).map_err(io)?;
        if let Ok(metadata) = std::fs::metadata(state_dir)
            && metadata.permissions().mode() & 0o077 != 0
        {
            // Not changed here: state_dir may be a shared directory the admin
            // chose; the file itself is 0600 either way.
            tracing::warn!(
                state_dir = %state_dir.display(),
                mode = format!("{:04o}", metadata.permissions().mode() & 0o7777),
                "The state directory is accessible to other users; chmod 700 it."
            );
        }
        let db = match Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
        {
            Ok(db) => db,
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StateError::InUse { path: display });
            }
            Err(e) => return Err(db_err(e)),
        };
        let store = RedbStateStore { db, path };
        store.initialise()?;
        Ok(store)
    }

    /// Path of the state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs redb's integrity check (repairing if needed); `true` if the file
    /// was consistent.
    pub fn check_integrity(&mut self) -> Result<bool, StateError> {
        self.db.check_integrity().map_err(db_err)
    }

    fn initialise(&self) -> Result<(), StateError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            let found = meta
                .get(SCHEMA_VERSION_KEY)
                .map_err(db_err)?
                .map(|v| v.value());
            match found {
                Some(version) if version > SCHEMA_VERSION => {
                    return Err(StateError::NewerSchema {
                        path: self.path.display().to_string(),
                        found: u32::try_from(version).unwrap_or(u32::MAX),
                        supported: SCHEMA_VERSION as u32,
                    });
                }
                Some(_) => {}
                None => {
                    meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)
                        .map_err(db_err)?;
                }
            }
            // Create every table so readers never meet a missing one.
            txn.open_table(USERS).map_err(db_err)?;
            txn.open_table(TEAMS).map_err(db_err)?;
            txn.open_table(MEMBERS).map_err(db_err)?;
            txn.open_table(PENDING_TEAMS).map_err(db_err)?;
            txn.open_table(GENERATIONS).map_err(db_err)?;
            txn.open_table(RUNS).map_err(db_err)?;
            txn.open_table(SOURCE_CACHE).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    fn read(&self) -> Result<ReadTransaction, StateError> {
        self.db.begin_read().map_err(db_err)
    }

    fn write<T>(
        &self,
        body: impl FnOnce(&WriteTransaction) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        let value = body(&txn)?;
        txn.commit().map_err(db_err)?;
        Ok(value)
    }
}

fn decode<'a, T: Deserialize<'a>>(key: &str, bytes: &'a [u8]) -> Result<T, StateError> {
    postcard::from_bytes(bytes).map_err(|e| StateError::Corrupt {
        key: key.to_string(),
        message: e.to_string(),
    })
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StateError> {
    encode_into(value, Vec::new())
}

/// Encodes into `buffer` (cleared first), so a commit of thousands of rows
/// reuses one allocation instead of growing a fresh Vec per row.
fn encode_into<T: Serialize>(value: &T, mut buffer: Vec<u8>) -> Result<Vec<u8>, StateError> {
    buffer.clear();
    postcard::to_extend(value, buffer).map_err(|e| StateError::Corrupt {
        key: "(encoding)".into(),
        message: e.to_string(),
    })
}

fn bump_generation(txn: &WriteTransaction, connection: &str) -> Result<(), StateError> {
    let mut generations = txn.open_table(GENERATIONS).map_err(db_err)?;
    let current = generations
        .get(connection)
        .map_err(db_err)?
        .map(|v| v.value())
        .unwrap_or(0);
    generations
        .insert(connection, current + 1)
        .map_err(db_err)?;
    Ok(())
}

fn clear_connection(txn: &WriteTransaction, connection: &str) -> Result<(), StateError> {
    let mut users = txn.open_table(USERS).map_err(db_err)?;
    users
        .retain_in((connection, "")..(connection, "\u{10FFFF}"), |_, _| false)
        .map_err(db_err)?;
    let mut teams = txn.open_table(TEAMS).map_err(db_err)?;
    teams
        .retain_in((connection, "")..(connection, "\u{10FFFF}"), |_, _| false)
        .map_err(db_err)?;
    let mut members = txn.open_table(MEMBERS).map_err(db_err)?;
    members
        .retain_in(
            (connection, "", "")..(connection, "\u{10FFFF}", ""),
            |_, _| false,
        )
        .map_err(db_err)?;
    let mut pending = txn.open_table(PENDING_TEAMS).map_err(db_err)?;
    pending
        .retain_in((connection, "")..(connection, "\u{10FFFF}"), |_, _| false)
        .map_err(db_err)?;
    Ok(())
}

impl StateStore for RedbStateStore {
    fn load(&self, connection: &str) -> Result<Snapshot, StateError> {
        let txn = self.read()?;
        let mut snapshot = Snapshot::default();

        // Rows come out of redb sorted by key, which is the maps' order: each
        // table is collected into a sorted Vec and the maps are bulk-built
        // from it (linear), instead of a tree insert per row.
        let users = txn.open_table(USERS).map_err(db_err)?;
        let mut rows = Vec::new();
        for row in users
            .range((connection, "")..(connection, "\u{10FFFF}"))
            .map_err(db_err)?
        {
            let (key, value) = row.map_err(db_err)?;
            let (_, source_id) = key.value();
            // Borrowed straight from the page, then packed: one copy per row.
            let record: UserRecordRef<'_> = decode(source_id, value.value())?;
            rows.push((source_id.to_string(), StoredUser::from_ref(&record)));
        }
        snapshot.users = rows.into_iter().collect();

        let teams = txn.open_table(TEAMS).map_err(db_err)?;
        let mut rows = Vec::new();
        for row in teams
            .range((connection, "")..(connection, "\u{10FFFF}"))
            .map_err(db_err)?
        {
            let (key, value) = row.map_err(db_err)?;
            let (_, source_id) = key.value();
            let header: TeamHeader = decode(source_id, value.value())?;
            rows.push((
                source_id.to_string(),
                TeamRecord {
                    penvio_id: header.penvio_id,
                    name: header.name,
                    ..TeamRecord::default()
                },
            ));
        }
        snapshot.teams = rows.into_iter().collect();

        // Memberships are sorted by (team, member): one team's members are
        // consecutive, so each set is bulk-built from one run of rows.
        let members = txn.open_table(MEMBERS).map_err(db_err)?;
        let mut current: Option<(String, Vec<String>)> = None;
        let mut flush = |run: Option<(String, Vec<String>)>| {
            if let Some((team, ids)) = run
                && let Some(record) = snapshot.teams.get_mut(&team)
            {
                record.members = ids.into_iter().collect();
            }
        };
        for row in members
            .range((connection, "", "")..(connection, "\u{10FFFF}", ""))
            .map_err(db_err)?
        {
            let (key, _) = row.map_err(db_err)?;
            let (_, team, member) = key.value();
            match &mut current {
                Some((name, ids)) if name == team => ids.push(member.to_string()),
                _ => flush(current.replace((team.to_string(), vec![member.to_string()]))),
            }
        }
        flush(current);

        let pending = txn.open_table(PENDING_TEAMS).map_err(db_err)?;
        for row in pending
            .range((connection, "")..(connection, "\u{10FFFF}"))
            .map_err(db_err)?
        {
            let (key, _) = row.map_err(db_err)?;
            snapshot
                .pending_team_creates
                .insert(key.value().1.to_string());
        }

        let generations = txn.open_table(GENERATIONS).map_err(db_err)?;
        snapshot.generation = generations
            .get(connection)
            .map_err(db_err)?
            .map(|v| v.value())
            .unwrap_or(0);
        Ok(snapshot)
    }

    fn apply(&self, connection: &str, changes: &[Change]) -> Result<(), StateError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.write(|txn| {
            let mut users = txn.open_table(USERS).map_err(db_err)?;
            let mut teams = txn.open_table(TEAMS).map_err(db_err)?;
            let mut members = txn.open_table(MEMBERS).map_err(db_err)?;
            let mut pending = txn.open_table(PENDING_TEAMS).map_err(db_err)?;
            let mut buffer = Vec::with_capacity(256);
            for change in changes {
                match change {
                    Change::PutUser { source_id, record } => {
                        buffer = encode_into(record, buffer)?;
                        users
                            .insert((connection, source_id.as_str()), buffer.as_slice())
                            .map_err(db_err)?;
                    }
                    Change::RemoveUser { source_id } => {
                        users
                            .remove((connection, source_id.as_str()))
                            .map_err(db_err)?;
                    }
                    Change::PutTeam {
                        source_id,
                        penvio_id,
                        name,
                    } => {
                        let header = TeamHeader {
                            penvio_id: penvio_id.clone(),
                            name: name.clone(),
                        };
                        teams
                            .insert(
                                (connection, source_id.as_str()),
                                encode(&header)?.as_slice(),
                            )
                            .map_err(db_err)?;
                    }
                    Change::AddMembers { team, members: ids } => {
                        if teams
                            .get((connection, team.as_str()))
                            .map_err(db_err)?
                            .is_none()
                        {
                            continue;
                        }
                        for id in ids {
                            members
                                .insert((connection, team.as_str(), id.as_str()), ())
                                .map_err(db_err)?;
                        }
                    }
                    Change::RemoveMembers { team, members: ids } => {
                        for id in ids {
                            members
                                .remove((connection, team.as_str(), id.as_str()))
                                .map_err(db_err)?;
                        }
                    }
                    Change::RemoveTeam { source_id } => {
                        teams
                            .remove((connection, source_id.as_str()))
                            .map_err(db_err)?;
                        let team = source_id.as_str();
                        members
                            .retain_in(
                                (connection, team, "")..(connection, team, "\u{10FFFF}"),
                                |_, _| false,
                            )
                            .map_err(db_err)?;
                    }
                    Change::MarkTeamCreatePending { source_id } => {
                        pending
                            .insert((connection, source_id.as_str()), ())
                            .map_err(db_err)?;
                    }
                    Change::ClearTeamCreatePending { source_id } => {
                        pending
                            .remove((connection, source_id.as_str()))
                            .map_err(db_err)?;
                    }
                }
            }
            drop((users, teams, members, pending));
            bump_generation(txn, connection)
        })
    }

    fn replace(&self, connection: &str, snapshot: &Snapshot) -> Result<(), StateError> {
        self.write(|txn| {
            clear_connection(txn, connection)?;
            let mut users = txn.open_table(USERS).map_err(db_err)?;
            let mut buffer = Vec::with_capacity(256);
            for (source_id, record) in &snapshot.users {
                buffer = encode_into(record, buffer)?;
                users
                    .insert((connection, source_id.as_str()), buffer.as_slice())
                    .map_err(db_err)?;
            }
            let mut teams = txn.open_table(TEAMS).map_err(db_err)?;
            let mut members = txn.open_table(MEMBERS).map_err(db_err)?;
            for (source_id, team) in &snapshot.teams {
                let header = TeamHeader {
                    penvio_id: team.penvio_id.clone(),
                    name: team.name.clone(),
                };
                teams
                    .insert(
                        (connection, source_id.as_str()),
                        encode(&header)?.as_slice(),
                    )
                    .map_err(db_err)?;
                for member in &team.members {
                    members
                        .insert((connection, source_id.as_str(), member.as_str()), ())
                        .map_err(db_err)?;
                }
            }
            let mut pending = txn.open_table(PENDING_TEAMS).map_err(db_err)?;
            for source_id in &snapshot.pending_team_creates {
                pending
                    .insert((connection, source_id.as_str()), ())
                    .map_err(db_err)?;
            }
            drop((users, teams, members, pending));
            bump_generation(txn, connection)
        })
    }

    fn forget(&self, connection: &str) -> Result<(), StateError> {
        self.write(|txn| {
            clear_connection(txn, connection)?;
            txn.open_table(GENERATIONS)
                .map_err(db_err)?
                .remove(connection)
                .map_err(db_err)?;
            txn.open_table(RUNS)
                .map_err(db_err)?
                .remove(connection)
                .map_err(db_err)?;
            txn.open_table(SOURCE_CACHE)
                .map_err(db_err)?
                .remove(connection)
                .map_err(db_err)?;
            Ok(())
        })
    }

    fn record_run(&self, connection: &str, run: &RunRecord) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(run).map_err(|e| StateError::Corrupt {
            key: connection.to_string(),
            message: e.to_string(),
        })?;
        self.write(|txn| {
            txn.open_table(RUNS)
                .map_err(db_err)?
                .insert(connection, bytes.as_slice())
                .map_err(db_err)?;
            Ok(())
        })
    }

    fn last_run(&self, connection: &str) -> Result<Option<RunRecord>, StateError> {
        let txn = self.read()?;
        let runs = txn.open_table(RUNS).map_err(db_err)?;
        let Some(value) = runs.get(connection).map_err(db_err)? else {
            return Ok(None);
        };
        serde_json::from_slice(value.value())
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                key: connection.to_string(),
                message: e.to_string(),
            })
    }

    fn load_source_cache(&self, connection: &str) -> Result<Option<SourceCache>, StateError> {
        let txn = self.read()?;
        let table = txn.open_table(SOURCE_CACHE).map_err(db_err)?;
        let Some(value) = table.get(connection).map_err(db_err)? else {
            return Ok(None);
        };
        decode(connection, value.value()).map(Some)
    }

    fn save_source_cache(&self, connection: &str, cache: &SourceCache) -> Result<(), StateError> {
        let bytes = encode(cache)?;
        self.write(|txn| {
            txn.open_table(SOURCE_CACHE)
                .map_err(db_err)?
                .insert(connection, bytes.as_slice())
                .map_err(db_err)?;
            Ok(())
        })
    }

    fn connections(&self) -> Result<Vec<String>, StateError> {
        let txn = self.read()?;
        let generations = txn.open_table(GENERATIONS).map_err(db_err)?;
        let mut names = Vec::new();
        for row in generations.iter().map_err(db_err)? {
            let (key, _) = row.map_err(db_err)?;
            names.push(key.value().to_string());
        }
        Ok(names)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::UserAttributes;
    use crate::state::UserRecord;

    fn user(id: &str, name: &str) -> Change {
        Change::PutUser {
            source_id: id.into(),
            record: UserRecord {
                penvio_id: format!("p-{id}"),
                attributes: UserAttributes {
                    user_name: name.into(),
                    active: true,
                    ..Default::default()
                },
                deactivated_at: None,
            }
            .into(),
        }
    }

    fn sample_changes() -> Vec<Change> {
        vec![
            user("u1", "a@example.com"),
            user("u2", "b@example.com"),
            Change::MarkTeamCreatePending {
                source_id: "g1".into(),
            },
            Change::PutTeam {
                source_id: "g1".into(),
                penvio_id: "t1".into(),
                name: "Eng".into(),
            },
            Change::ClearTeamCreatePending {
                source_id: "g1".into(),
            },
            Change::AddMembers {
                team: "g1".into(),
                members: vec!["u1".into(), "u2".into()],
            },
            Change::RemoveMembers {
                team: "g1".into(),
                members: vec!["u2".into()],
            },
            Change::MarkTeamCreatePending {
                source_id: "g2".into(),
            },
        ]
    }

    #[test]
    fn stored_changes_load_back_exactly_as_applied_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStateStore::open(dir.path()).unwrap();
        let changes = sample_changes();
        store.apply("conn", &changes[..3]).unwrap();
        store.apply("conn", &changes[3..]).unwrap();
        let mut expected = Snapshot::default();
        expected.apply(&changes[..3]);
        expected.apply(&changes[3..]);
        let loaded = store.load("conn").unwrap();
        assert_eq!(loaded, expected);
        assert_eq!(loaded.generation, 2);
        assert_eq!(
            loaded.teams["g1"].members.iter().collect::<Vec<_>>(),
            vec!["u1"]
        );
        assert!(loaded.pending_team_creates.contains("g2"));
        // Other connections are untouched.
        assert_eq!(store.load("other").unwrap(), Snapshot::default());
    }

    #[test]
    fn state_survives_reopen_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = RedbStateStore::open(dir.path()).unwrap();
            store.apply("conn", &sample_changes()).unwrap();
        }
        let store = RedbStateStore::open(dir.path()).unwrap();
        assert_eq!(store.load("conn").unwrap().users.len(), 2);
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn remove_team_drops_its_members_and_forget_clears_a_connection() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStateStore::open(dir.path()).unwrap();
        store.apply("conn", &sample_changes()).unwrap();
        store.apply("keep", &sample_changes()).unwrap();
        store
            .apply(
                "conn",
                &[Change::RemoveTeam {
                    source_id: "g1".into(),
                }],
            )
            .unwrap();
        let loaded = store.load("conn").unwrap();
        assert!(loaded.teams.is_empty());
        // Re-adding the team must not resurrect old members.
        store
            .apply(
                "conn",
                &[Change::PutTeam {
                    source_id: "g1".into(),
                    penvio_id: "t9".into(),
                    name: "Eng".into(),
                }],
            )
            .unwrap();
        assert!(store.load("conn").unwrap().teams["g1"].members.is_empty());

        store.forget("conn").unwrap();
        assert_eq!(store.load("conn").unwrap(), Snapshot::default());
        assert_eq!(store.load("keep").unwrap().users.len(), 2);
        assert_eq!(store.connections().unwrap(), vec!["keep".to_string()]);
    }

    #[test]
    fn replace_rewrites_the_whole_connection() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStateStore::open(dir.path()).unwrap();
        store.apply("conn", &sample_changes()).unwrap();
        let mut rebuilt = Snapshot::default();
        rebuilt.apply(&[user("u9", "z@example.com")]);
        store.replace("conn", &rebuilt).unwrap();
        let loaded = store.load("conn").unwrap();
        assert_eq!(loaded.users.keys().collect::<Vec<_>>(), vec!["u9"]);
        assert!(loaded.teams.is_empty());
        assert!(loaded.pending_team_creates.is_empty());
    }

    #[test]
    fn a_second_process_gets_a_clear_in_use_error_and_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = RedbStateStore::open(dir.path()).unwrap();
        // redb locks the file per process; within one process a second open
        // also reports the database as already open.
        let err = RedbStateStore::open(dir.path()).err().unwrap();
        assert!(matches!(err, StateError::InUse { .. }), "{err}");
        drop(_first);

        {
            let store = RedbStateStore::open(dir.path()).unwrap();
            store
                .write(|txn| {
                    txn.open_table(META)
                        .map_err(db_err)?
                        .insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION + 1)
                        .map_err(db_err)?;
                    Ok(())
                })
                .unwrap();
        }
        let err = RedbStateStore::open(dir.path()).err().unwrap();
        assert!(
            err.to_string().contains("newer than this penvio-sync"),
            "{err}"
        );
    }

    #[test]
    fn source_caches_round_trip_and_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStateStore::open(dir.path()).unwrap();
        assert_eq!(store.load_source_cache("conn").unwrap(), None);
        let mut cache = SourceCache {
            cursor: Some("https://graph/delta?$deltatoken=x".into()),
            last_full_fetch: 42,
            ..Default::default()
        };
        cache.directory.users.push(crate::model::SourceUser {
            id: "u1".into(),
            email: Some("a@example.com".into()),
            active: true,
            ..Default::default()
        });
        store.save_source_cache("conn", &cache).unwrap();
        assert_eq!(store.load_source_cache("conn").unwrap(), Some(cache));
        store.forget("conn").unwrap();
        assert_eq!(store.load_source_cache("conn").unwrap(), None);
    }

    #[test]
    fn run_records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStateStore::open(dir.path()).unwrap();
        assert_eq!(store.last_run("conn").unwrap(), None);
        let run = RunRecord {
            started_at: 1,
            finished_at: 2,
            mode: "sync".into(),
            outcome: "succeeded".into(),
            applied: 3,
            failed: 0,
            error: None,
        };
        store.record_run("conn", &run).unwrap();
        assert_eq!(store.last_run("conn").unwrap(), Some(run));
    }
}
