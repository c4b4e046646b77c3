//! The snapshot in one redb file.
//!
//! redb commits are durable when `commit` returns and survive kill -9, which
//! is what lets the executor record acknowledgements in batches without ever
//! claiming more than Penvio acknowledged.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use redb::{
    Database, DatabaseError, ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction,
};

use super::tables::{
    ConnectionTables, GENERATIONS, META, RUNS, SCHEMA_VERSION, SCHEMA_VERSION_KEY, SOURCE_CACHE,
    TeamHeader, db_err, encode_into,
};
use super::{RunRecord, StateError, StateStore, schema_v1, snapshot_reader, user_row};
use crate::snapshot::{Change, Snapshot};

/// File name of the snapshot inside `state_dir`.
pub const STATE_FILE_NAME: &str = "penvio-sync.redb";

/// redb's page cache. Its default (1 GiB) keeps every page a load reads
/// resident, so loading a 1M-user snapshot doubled the process's memory for
/// no gain: a load reads each page once, in key order, and the OS page cache
/// serves any re-read. 2 MiB holds the trees' upper levels, which is what a
/// commit re-reads: measured on B2/B4 (issue 20), 8 → 2 MiB cut a no-op
/// run's peak RSS 105 → 96 MiB with commits still 7.7% of the apply time.
const CACHE_BYTES: usize = 2 * 1024 * 1024;

/// The redb-backed [`StateStore`].
pub struct RedbStateStore {
    db: Database,
    path: PathBuf,
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
                Some(SCHEMA_VERSION) => {}
                Some(_) => {
                    let moved = schema_v1::migrate(&txn)?;
                    tracing::info!(
                        path = %self.path.display(),
                        users = moved.users,
                        memberships = moved.memberships,
                        "Migrated the state file to schema version {SCHEMA_VERSION}."
                    );
                    meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)
                        .map_err(db_err)?;
                }
                None => {
                    meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)
                        .map_err(db_err)?;
                }
            }
            // Create the shared tables so readers never meet a missing one;
            // a connection's own tables are created by its first write.
            txn.open_table(GENERATIONS).map_err(db_err)?;
            txn.open_table(RUNS).map_err(db_err)?;
            txn.open_table(SOURCE_CACHE).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)
    }

    pub(super) fn read(&self) -> Result<ReadTransaction, StateError> {
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
    let tables = ConnectionTables::of(connection);
    txn.delete_table(tables.users()).map_err(db_err)?;
    txn.delete_table(tables.teams()).map_err(db_err)?;
    txn.delete_table(tables.members()).map_err(db_err)?;
    txn.delete_table(tables.pending()).map_err(db_err)?;
    Ok(())
}

impl StateStore for RedbStateStore {
    fn load(&self, connection: &str) -> Result<Snapshot, StateError> {
        let txn = self.read()?;
        let mut snapshot = snapshot_reader::read_snapshot(&txn, connection)?;
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
        let tables = ConnectionTables::of(connection);
        self.write(|txn| {
            let mut users = txn.open_table(tables.users()).map_err(db_err)?;
            let mut teams = txn.open_table(tables.teams()).map_err(db_err)?;
            let mut members = txn.open_table(tables.members()).map_err(db_err)?;
            let mut pending = txn.open_table(tables.pending()).map_err(db_err)?;
            let mut buffer = Vec::with_capacity(256);
            for change in changes {
                match change {
                    Change::PutUser { source_id, record } => {
                        buffer.clear();
                        user_row::encode(source_id, record, &mut buffer);
                        users
                            .insert(source_id.as_str(), buffer.as_slice())
                            .map_err(db_err)?;
                    }
                    Change::RemoveUser { source_id } => {
                        users.remove(source_id.as_str()).map_err(db_err)?;
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
                        buffer = encode_into(&header, buffer)?;
                        teams
                            .insert(source_id.as_str(), buffer.as_slice())
                            .map_err(db_err)?;
                    }
                    Change::AddMembers { team, members: ids } => {
                        if teams.get(team.as_str()).map_err(db_err)?.is_none() {
                            continue;
                        }
                        for id in ids {
                            members
                                .insert((team.as_str(), id.as_str()), ())
                                .map_err(db_err)?;
                        }
                    }
                    Change::RemoveMembers { team, members: ids } => {
                        for id in ids {
                            members
                                .remove((team.as_str(), id.as_str()))
                                .map_err(db_err)?;
                        }
                    }
                    Change::RemoveTeam { source_id } => {
                        teams.remove(source_id.as_str()).map_err(db_err)?;
                        let team = source_id.as_str();
                        members
                            .retain_in((team, "")..(team, "\u{10FFFF}"), |_, _| false)
                            .map_err(db_err)?;
                    }
                    Change::MarkTeamCreatePending { source_id } => {
                        pending.insert(source_id.as_str(), ()).map_err(db_err)?;
                    }
                    Change::ClearTeamCreatePending { source_id } => {
                        pending.remove(source_id.as_str()).map_err(db_err)?;
                    }
                }
            }
            drop((users, teams, members, pending));
            bump_generation(txn, connection)
        })
    }

    fn replace(&self, connection: &str, snapshot: &Snapshot) -> Result<(), StateError> {
        let tables = ConnectionTables::of(connection);
        self.write(|txn| {
            clear_connection(txn, connection)?;
            let mut users = txn.open_table(tables.users()).map_err(db_err)?;
            let mut buffer = Vec::with_capacity(256);
            for (source_id, record) in &snapshot.users {
                buffer.clear();
                user_row::encode(source_id, record, &mut buffer);
                users
                    .insert(source_id.as_str(), buffer.as_slice())
                    .map_err(db_err)?;
            }
            let mut teams = txn.open_table(tables.teams()).map_err(db_err)?;
            let mut members = txn.open_table(tables.members()).map_err(db_err)?;
            for (source_id, team) in &snapshot.teams {
                let header = TeamHeader {
                    penvio_id: team.penvio_id.clone(),
                    name: team.name.clone(),
                };
                buffer = encode_into(&header, buffer)?;
                teams
                    .insert(source_id.as_str(), buffer.as_slice())
                    .map_err(db_err)?;
                for member in &team.members {
                    members
                        .insert((source_id.as_str(), member.as_str()), ())
                        .map_err(db_err)?;
                }
            }
            let mut pending = txn.open_table(tables.pending()).map_err(db_err)?;
            for source_id in &snapshot.pending_team_creates {
                pending.insert(source_id.as_str(), ()).map_err(db_err)?;
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

    fn load_source_cache(&self, connection: &str) -> Result<Option<Vec<u8>>, StateError> {
        let txn = self.read()?;
        let table = txn.open_table(SOURCE_CACHE).map_err(db_err)?;
        let value = table.get(connection).map_err(db_err)?;
        Ok(value.map(|value| value.value().to_vec()))
    }

    fn save_source_cache(&self, connection: &str, cache: &[u8]) -> Result<(), StateError> {
        self.write(|txn| {
            txn.open_table(SOURCE_CACHE)
                .map_err(db_err)?
                .insert(connection, cache)
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
    use crate::snapshot::UserRecord;

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
    fn a_damaged_user_row_fails_the_load_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStateStore::open(dir.path()).unwrap();
        store.apply("conn", &sample_changes()).unwrap();
        let tables = ConnectionTables::of("conn");
        store
            .write(|txn| {
                let mut users = txn.open_table(tables.users()).map_err(db_err)?;
                users
                    .insert("u2", [0x01u8, 0x05].as_slice())
                    .map_err(db_err)?;
                Ok(())
            })
            .unwrap();
        let error = store.load("conn").err().unwrap();
        assert_eq!(
            error.to_string(),
            "state record conn/u2 is corrupt: the row ends early"
        );
        // Other connections still load.
        store.apply("other", &sample_changes()).unwrap();
        assert_eq!(store.load("other").unwrap().users.len(), 2);
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
        let cache = b"PSC\x02 any bytes the sources wrote".to_vec();
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
            source_read_at: Some(1),
        };
        store.record_run("conn", &run).unwrap();
        assert_eq!(store.last_run("conn").unwrap(), Some(run));
    }
}
