//! Schema 1 of the state file, kept only to migrate it.
//!
//! Schema 1 held every connection in four shared tables keyed by
//! (connection, …), with users as postcard [`UserRecord`](super::UserRecord)s.
//! Opening such a file moves each row into its connection's own tables in
//! the compact row form (schema 2) within one write transaction, so a
//! migration either completes or leaves the file as it was.

use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};

use super::tables::{ConnectionTables, db_err};
use super::{StateError, user_row};
use crate::snapshot::{StoredUser, UserRecordRef};

const USERS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("users");
const TEAMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("teams");
const MEMBERS: TableDefinition<(&str, &str, &str), ()> = TableDefinition::new("team_members");
const PENDING_TEAMS: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("pending_team_creates");

/// What a migration moved, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Migrated {
    pub(super) users: u64,
    pub(super) memberships: u64,
}

/// The table of `connection` that rows are being moved into: rows come
/// sorted by connection, so it changes only when the connection does.
struct Destination<'txn, K: redb::Key + 'static, V: redb::Value + 'static> {
    connection: String,
    table: Option<Table<'txn, K, V>>,
}

impl<'txn, K: redb::Key + 'static, V: redb::Value + 'static> Destination<'txn, K, V> {
    fn new() -> Self {
        Destination {
            connection: String::new(),
            table: None,
        }
    }

    fn for_connection(
        &mut self,
        txn: &'txn WriteTransaction,
        connection: &str,
        definition: impl Fn(&ConnectionTables) -> TableDefinition<'_, K, V>,
    ) -> Result<&mut Table<'txn, K, V>, StateError> {
        if self.table.is_none() || self.connection != connection {
            self.table = None;
            let tables = ConnectionTables::of(connection);
            self.table = Some(txn.open_table(definition(&tables)).map_err(db_err)?);
            self.connection = connection.to_string();
        }
        self.table.as_mut().ok_or_else(|| StateError::Corrupt {
            key: connection.to_string(),
            message: "migration table not open".into(),
        })
    }
}

/// Moves every schema 1 row into the schema 2 tables and drops the schema 1
/// tables. Fails on the first row it cannot read, naming it.
pub(super) fn migrate(txn: &WriteTransaction) -> Result<Migrated, StateError> {
    let mut moved = Migrated::default();
    let mut buffer = Vec::with_capacity(256);
    {
        let old = txn.open_table(USERS).map_err(db_err)?;
        let mut new = Destination::new();
        for row in old.iter().map_err(db_err)? {
            let (key, value) = row.map_err(db_err)?;
            let (connection, source_id) = key.value();
            let record: UserRecordRef<'_> =
                postcard::from_bytes(value.value()).map_err(|e| StateError::Corrupt {
                    key: format!("{connection}/{source_id}"),
                    message: e.to_string(),
                })?;
            buffer.clear();
            user_row::encode(source_id, &StoredUser::from_ref(&record), &mut buffer);
            new.for_connection(txn, connection, ConnectionTables::users)?
                .insert(source_id, buffer.as_slice())
                .map_err(db_err)?;
            moved.users += 1;
        }
    }
    {
        let old = txn.open_table(TEAMS).map_err(db_err)?;
        let mut new = Destination::new();
        for row in old.iter().map_err(db_err)? {
            let (key, value) = row.map_err(db_err)?;
            let (connection, source_id) = key.value();
            // Team rows keep their postcard header unchanged.
            new.for_connection(txn, connection, ConnectionTables::teams)?
                .insert(source_id, value.value())
                .map_err(db_err)?;
        }
    }
    {
        let old = txn.open_table(MEMBERS).map_err(db_err)?;
        let mut new = Destination::new();
        for row in old.iter().map_err(db_err)? {
            let (key, _) = row.map_err(db_err)?;
            let (connection, team, member) = key.value();
            new.for_connection(txn, connection, ConnectionTables::members)?
                .insert((team, member), ())
                .map_err(db_err)?;
            moved.memberships += 1;
        }
    }
    {
        let old = txn.open_table(PENDING_TEAMS).map_err(db_err)?;
        let mut new = Destination::new();
        for row in old.iter().map_err(db_err)? {
            let (key, _) = row.map_err(db_err)?;
            let (connection, source_id) = key.value();
            new.for_connection(txn, connection, ConnectionTables::pending)?
                .insert(source_id, ())
                .map_err(db_err)?;
        }
    }
    txn.delete_table(USERS).map_err(db_err)?;
    txn.delete_table(TEAMS).map_err(db_err)?;
    txn.delete_table(MEMBERS).map_err(db_err)?;
    txn.delete_table(PENDING_TEAMS).map_err(db_err)?;
    Ok(moved)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;

    use redb::{Database, ReadableDatabase, ReadableTableMetadata, TableHandle};

    use super::*;
    use crate::model::UserAttributes;
    use crate::snapshot::{Snapshot, UserRecord};
    use crate::state::tables::{META, SCHEMA_VERSION, SCHEMA_VERSION_KEY};
    use crate::state::{RedbStateStore, STATE_FILE_NAME, StateStore};

    const GENERATIONS: TableDefinition<&str, u64> = TableDefinition::new("generations");

    fn record(n: u32) -> UserRecord {
        UserRecord {
            penvio_id: format!("2819c223-7f76-453a-919d-41386190464{n}"),
            attributes: UserAttributes {
                user_name: format!("user{n}@example.com"),
                given_name: "Ada".into(),
                family_name: "Lovelace".into(),
                display_name: "Ada Lovelace".into(),
                email: format!("user{n}@example.com"),
                external_id: format!("00u{n}"),
                active: n.is_multiple_of(2),
            },
            deactivated_at: (!n.is_multiple_of(2)).then_some(1_780_000_000),
        }
    }

    /// Writes a schema 1 file as penvio-sync 0.1 left it: two connections.
    fn write_schema_one(dir: &std::path::Path, user_row: Option<&[u8]>) {
        let db = Database::create(dir.join(STATE_FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            txn.open_table(META)
                .unwrap()
                .insert(SCHEMA_VERSION_KEY, 1)
                .unwrap();
            let mut users = txn.open_table(USERS).unwrap();
            for (connection, n) in [("alpha", 1), ("alpha", 2), ("beta", 3)] {
                let bytes = postcard::to_stdvec(&record(n)).unwrap();
                users
                    .insert((connection, format!("00u{n}").as_str()), bytes.as_slice())
                    .unwrap();
            }
            if let Some(row) = user_row {
                users.insert(("beta", "00u9"), row).unwrap();
            }
            let header = postcard::to_stdvec(&("t-1", "Engineering")).unwrap();
            let mut teams = txn.open_table(TEAMS).unwrap();
            teams.insert(("alpha", "00g1"), header.as_slice()).unwrap();
            let mut members = txn.open_table(MEMBERS).unwrap();
            members.insert(("alpha", "00g1", "00u1"), ()).unwrap();
            members.insert(("alpha", "00g1", "00u2"), ()).unwrap();
            let mut pending = txn.open_table(PENDING_TEAMS).unwrap();
            pending.insert(("beta", "00g7"), ()).unwrap();
            let mut generations = txn.open_table(GENERATIONS).unwrap();
            generations.insert("alpha", 5).unwrap();
            generations.insert("beta", 2).unwrap();
        }
        txn.commit().unwrap();
    }

    #[test]
    fn opening_a_schema_one_file_moves_every_row_and_drops_the_old_tables() {
        let dir = tempfile::tempdir().unwrap();
        write_schema_one(dir.path(), None);
        let store = RedbStateStore::open(dir.path()).unwrap();

        let alpha = store.load("alpha").unwrap();
        let mut expected = Snapshot::default();
        for n in [1, 2] {
            expected
                .users
                .insert(format!("00u{n}"), StoredUser::from(record(n)));
        }
        assert_eq!(alpha.users, expected.users);
        assert_eq!(alpha.teams["00g1"].penvio_id, "t-1");
        assert_eq!(alpha.teams["00g1"].name, "Engineering");
        assert_eq!(
            alpha.teams["00g1"].members,
            BTreeSet::from(["00u1".to_string(), "00u2".to_string()])
        );
        assert!(alpha.pending_team_creates.is_empty());
        assert_eq!(alpha.generation, 5);

        let beta = store.load("beta").unwrap();
        assert_eq!(beta.users.len(), 1);
        assert_eq!(beta.users["00u3"], StoredUser::from(record(3)));
        assert!(beta.teams.is_empty());
        assert!(beta.pending_team_creates.contains("00g7"));
        assert_eq!(beta.generation, 2);
        drop(store);

        let db = Database::open(dir.path().join(STATE_FILE_NAME)).unwrap();
        let txn = db.begin_read().unwrap();
        let version = txn.open_table(META).unwrap();
        let version = version.get(SCHEMA_VERSION_KEY).unwrap().unwrap().value();
        assert_eq!(version, SCHEMA_VERSION);
        let names: Vec<String> = txn
            .list_tables()
            .unwrap()
            .map(|t| t.name().to_string())
            .collect();
        for old in ["users", "teams", "team_members", "pending_team_creates"] {
            assert!(!names.iter().any(|n| n == old), "{old} left in {names:?}");
        }
        assert!(names.iter().any(|n| n == "users/alpha"), "{names:?}");
    }

    #[test]
    fn a_row_that_cannot_be_read_stops_the_migration_and_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        write_schema_one(dir.path(), Some(&[0xff, 0xff]));
        for _ in 0..2 {
            let error = RedbStateStore::open(dir.path()).err().unwrap();
            assert!(
                error
                    .to_string()
                    .contains("state record beta/00u9 is corrupt"),
                "{error}"
            );
        }
        let db = Database::open(dir.path().join(STATE_FILE_NAME)).unwrap();
        let txn = db.begin_read().unwrap();
        let users = txn.open_table(USERS).unwrap();
        assert_eq!(users.len().unwrap(), 4);
        let version = txn.open_table(META).unwrap();
        assert_eq!(version.get(SCHEMA_VERSION_KEY).unwrap().unwrap().value(), 1);
    }
}
