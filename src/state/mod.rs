//! The snapshot: what Penvio last acknowledged, per connection.
//!
//! It is the agent's only state. The planner diffs the desired directory
//! against it, and the executor records each acknowledged operation in it, so
//! a run over an unchanged directory sends nothing (invariant 3) and a crash
//! loses at most the acknowledgements of the last uncommitted batch, which the
//! next run repeats idempotently (invariant 2).

mod redb_store;
mod schema_v1;
mod snapshot_reader;
mod tables;
mod user_row;

use serde::{Deserialize, Serialize};

use crate::snapshot::{Change, Snapshot};

pub use redb_store::{RedbStateStore, STATE_FILE_NAME};

/// Summary of the last run of a connection, kept for `state show` and the
/// daemon's status endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RunRecord {
    /// Unix seconds at the start of the run.
    pub started_at: i64,
    /// Unix seconds at the end of the run.
    pub finished_at: i64,
    /// `sync` or `reconcile`.
    pub mode: String,
    /// `succeeded`, `partial`, `held_back` or `failed`.
    pub outcome: String,
    /// Operations applied.
    pub applied: u64,
    /// Operations failed.
    pub failed: u64,
    /// Error message of a failed run.
    pub error: Option<String>,
    /// Unix seconds when the source data this run relied on was read: this
    /// run's start if its fetch completed, else carried over from the run
    /// before (so a run of failures shows its age growing). Every removal
    /// made in the IdP before this time has been seen.
    #[serde(default)]
    pub source_read_at: Option<i64>,
}

/// Errors of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state directory or file could not be created or opened.
    #[error("cannot open state file {path}: {source}")]
    Io {
        /// Path of the state file.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Another process (usually the daemon) has the file open.
    #[error("state file {path} is in use by another penvio-sync process (is the daemon running?)")]
    InUse {
        /// Path of the state file.
        path: String,
    },
    /// The file was written by a newer penvio-sync.
    #[error(
        "state file {path} has schema version {found}, newer than this penvio-sync supports ({supported}); upgrade penvio-sync"
    )]
    NewerSchema {
        /// Path of the state file.
        path: String,
        /// Version found.
        found: u32,
        /// Version this build writes.
        supported: u32,
    },
    /// The database reported an error.
    #[error("state database error: {0}")]
    Database(#[from] redb::Error),
    /// A stored record could not be decoded.
    #[error("state record {key} is corrupt: {message}")]
    Corrupt {
        /// Record key.
        key: String,
        /// Decoder message.
        message: String,
    },
    /// The thread that records acknowledged changes could not start or
    /// died; what it had not committed is re-planned by the next run.
    #[error("the recorder thread {0}")]
    Recorder(String),
}

/// Storage of snapshots. The planner and executor only see this trait, so a
/// different store (or an in-memory one for tests) can stand in.
pub trait StateStore: Send + Sync {
    /// Loads one connection's snapshot (empty if it was never synced).
    fn load(&self, connection: &str) -> Result<Snapshot, StateError>;
    /// Records acknowledged changes in one durable transaction.
    fn apply(&self, connection: &str, changes: &[Change]) -> Result<(), StateError>;
    /// Replaces a connection's snapshot (after a reconciliation).
    fn replace(&self, connection: &str, snapshot: &Snapshot) -> Result<(), StateError>;
    /// Removes everything stored for a connection.
    fn forget(&self, connection: &str) -> Result<(), StateError>;
    /// Stores the summary of a run.
    fn record_run(&self, connection: &str, run: &RunRecord) -> Result<(), StateError>;
    /// The summary of the last run, if any.
    fn last_run(&self, connection: &str) -> Result<Option<RunRecord>, StateError>;
    /// Names of connections that have state.
    fn connections(&self) -> Result<Vec<String>, StateError>;
    /// The stored source cache of an incremental adapter, if any: bytes
    /// whose format the sources own (`crate::source::SourceCache`).
    fn load_source_cache(&self, connection: &str) -> Result<Option<Vec<u8>>, StateError>;
    /// Replaces the source cache after a complete fetch.
    fn save_source_cache(&self, connection: &str, cache: &[u8]) -> Result<(), StateError>;
}
