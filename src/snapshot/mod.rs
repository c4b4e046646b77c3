//! The snapshot: what Penvio last acknowledged, per connection, and the
//! acknowledged changes that move it. Pure values (no I/O): the planner
//! diffs against a snapshot, the executor records [`Change`]s, and the state
//! store (`crate::state`) persists both.

pub(crate) mod stored_user;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::UserAttributes;

pub use stored_user::StoredUser;
pub(crate) use stored_user::UserRecordRef;

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
