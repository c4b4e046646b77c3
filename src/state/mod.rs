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
mod stored_user;
mod user_row;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{Directory, UserAttributes};

pub use redb_store::{RedbStateStore, STATE_FILE_NAME};
pub use stored_user::StoredUser;

/// What Penvio holds for one user this agent manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The user's id in Penvio.
    pub penvio_id: String,
    /// The attributes last acknowledged by Penvio.
    pub attributes: UserAttributes,
    /// Unix seconds when the agent deactivated the user, so hard deletes can
    /// follow the retention policy; `None` while active.
    pub deactivated_at: Option<i64>,
}

/// What Penvio holds for one team this agent manages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TeamRecord {
    /// The team's id in Penvio.
    pub penvio_id: String,
    /// The team name last acknowledged.
    pub name: String,
    /// Source ids of the members last acknowledged.
    pub members: BTreeSet<String>,
    /// Penvio ids of members that map to no managed user. Only a
    /// reconciliation finds these (members added by hand in Penvio); they are
    /// removed as drift and never persisted.
    pub foreign_members: BTreeSet<String>,
}

/// One connection's snapshot, loaded whole for planning.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Managed users by source id, packed (see [`StoredUser`]).
    pub users: BTreeMap<String, StoredUser>,
    /// Managed teams by source id.
    pub teams: BTreeMap<String, TeamRecord>,
    /// Teams whose create was sent but not acknowledged (a crash or a failed
    /// request may have hidden a success): looked up before creating again,
    /// since Penvio accepts duplicate team names.
    pub pending_team_creates: BTreeSet<String>,
    /// Increases with every committed change, so a reviewed plan can tell
    /// whether the snapshot moved since it was computed.
    pub generation: u64,
}

/// One acknowledged change, recorded in the order it was acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A user was created, linked, updated, deactivated or reactivated.
    PutUser {
        /// Source id.
        source_id: String,
        /// The record Penvio now holds, already packed: the recorder thread
        /// reads it in one piece, and the snapshot copies it in one piece.
        record: StoredUser,
    },
    /// A user was deleted in Penvio (or found gone).
    RemoveUser {
        /// Source id.
        source_id: String,
    },
    /// A team was created or renamed; members are recorded separately.
    PutTeam {
        /// Source id.
        source_id: String,
        /// Penvio id.
        penvio_id: String,
        /// Team name.
        name: String,
    },
    /// Members were acknowledged as added.
    AddMembers {
        /// Team source id.
        team: String,
        /// Member source ids.
        members: Vec<String>,
    },
    /// Members were acknowledged as removed.
    RemoveMembers {
        /// Team source id.
        team: String,
        /// Member source ids.
        members: Vec<String>,
    },
    /// A team was deleted in Penvio (or found gone).
    RemoveTeam {
        /// Source id.
        source_id: String,
    },
    /// A team create is about to be sent (write-ahead marker).
    MarkTeamCreatePending {
        /// Source id.
        source_id: String,
    },
    /// A pending team create was resolved (created, found or abandoned).
    ClearTeamCreatePending {
        /// Source id.
        source_id: String,
    },
}

/// What an incremental source read last time: the whole directory after the
/// last complete fetch, and the adapter's cursor to continue from. It
/// describes the IdP, not Penvio, so it is kept apart from the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SourceCache {
    /// The directory as of the last complete fetch.
    pub directory: Directory,
    /// Adapter cursor (delta link, timestamp) to continue from.
    pub cursor: Option<String>,
    /// Unix seconds of the last full (non-incremental) fetch.
    pub last_full_fetch: i64,
}

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
    /// The source cache of an incremental adapter, if any.
    fn load_source_cache(&self, connection: &str) -> Result<Option<SourceCache>, StateError>;
    /// Replaces the source cache after a complete fetch.
    fn save_source_cache(&self, connection: &str, cache: &SourceCache) -> Result<(), StateError>;
}

impl Snapshot {
    /// Applies changes in memory exactly as the store does on disk, so the
    /// executor's view and the file never disagree.
    pub fn apply(&mut self, changes: &[Change]) {
        for change in changes {
            match change {
                Change::PutUser { source_id, record } => {
                    self.users.insert(source_id.clone(), record.clone());
                }
                Change::RemoveUser { source_id } => {
                    self.users.remove(source_id);
                }
                Change::PutTeam {
                    source_id,
                    penvio_id,
                    name,
                } => {
                    let team = self.teams.entry(source_id.clone()).or_default();
                    team.penvio_id.clone_from(penvio_id);
                    team.name.clone_from(name);
                }
                Change::AddMembers { team, members } => {
                    if let Some(record) = self.teams.get_mut(team) {
                        record.members.extend(members.iter().cloned());
                    }
                }
                Change::RemoveMembers { team, members } => {
                    if let Some(record) = self.teams.get_mut(team) {
                        for member in members {
                            record.members.remove(member);
                        }
                    }
                }
                Change::RemoveTeam { source_id } => {
                    self.teams.remove(source_id);
                }
                Change::MarkTeamCreatePending { source_id } => {
                    self.pending_team_creates.insert(source_id.clone());
                }
                Change::ClearTeamCreatePending { source_id } => {
                    self.pending_team_creates.remove(source_id);
                }
            }
        }
        if !changes.is_empty() {
            self.generation += 1;
        }
    }
}
