//! The redb layout of the state file: table definitions and row codecs
//! shared by the store, the snapshot reader and the schema migration, so
//! none of them depends on another for them.

use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use super::StateError;

/// Version of the layout below; bumped on any incompatible change. Files
/// of an older version are migrated when opened (`schema_v1`).
pub(super) const SCHEMA_VERSION: u64 = 2;
pub(super) const SCHEMA_VERSION_KEY: &str = "schema_version";

pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// connection → generation counter.
pub(super) const GENERATIONS: TableDefinition<&str, u64> = TableDefinition::new("generations");
/// connection → JSON [`RunRecord`](super::RunRecord) of the last run.
pub(super) const RUNS: TableDefinition<&str, &[u8]> = TableDefinition::new("runs");
/// connection → the source cache of an incremental adapter, as bytes in the
/// sources' own format (`crate::source::SourceCache`).
pub(super) const SOURCE_CACHE: TableDefinition<&str, &[u8]> = TableDefinition::new("source_cache");

/// A table keyed by a source id: users (→ `user_row`), teams (→ postcard
/// [`TeamHeader`]) and pending team creates (→ nothing).
pub(super) type ByIdTable<'a, V> = TableDefinition<'a, &'static str, V>;
/// (team source id, member source id): one row per membership, so a
/// membership change touches one row, not the whole member list.
pub(super) type MembersTable<'a> = TableDefinition<'a, (&'static str, &'static str), ()>;

/// The names of one connection's snapshot tables. Each connection has its
/// own tables, so no key repeats the connection name, keys compare as plain
/// strings, and forgetting a connection drops four tables instead of
/// deleting its rows one by one.
pub(super) struct ConnectionTables {
    users: String,
    teams: String,
    members: String,
    pending: String,
}

impl ConnectionTables {
    pub(super) fn of(connection: &str) -> Self {
        ConnectionTables {
            users: format!("users/{connection}"),
            teams: format!("teams/{connection}"),
            members: format!("team_members/{connection}"),
            pending: format!("pending_team_creates/{connection}"),
        }
    }

    pub(super) fn users(&self) -> ByIdTable<'_, &'static [u8]> {
        TableDefinition::new(&self.users)
    }

    pub(super) fn teams(&self) -> ByIdTable<'_, &'static [u8]> {
        TableDefinition::new(&self.teams)
    }

    pub(super) fn members(&self) -> MembersTable<'_> {
        TableDefinition::new(&self.members)
    }

    pub(super) fn pending(&self) -> ByIdTable<'_, ()> {
        TableDefinition::new(&self.pending)
    }
}

/// A team row: the members are rows of their own.
#[derive(Serialize, Deserialize)]
pub(super) struct TeamHeader {
    pub(super) penvio_id: String,
    pub(super) name: String,
}

pub(super) fn db_err<E: Into<redb::Error>>(error: E) -> StateError {
    StateError::Database(error.into())
}

pub(super) fn decode<'a, T: Deserialize<'a>>(key: &str, bytes: &'a [u8]) -> Result<T, StateError> {
    postcard::from_bytes(bytes).map_err(|e| StateError::Corrupt {
        key: key.to_string(),
        message: e.to_string(),
    })
}

/// Encodes into `buffer` (cleared first), so a commit of thousands of rows
/// reuses one allocation instead of growing a fresh Vec per row.
pub(super) fn encode_into<T: Serialize>(
    value: &T,
    mut buffer: Vec<u8>,
) -> Result<Vec<u8>, StateError> {
    buffer.clear();
    postcard::to_extend(value, buffer).map_err(|e| StateError::Corrupt {
        key: "(encoding)".into(),
        message: e.to_string(),
    })
}
