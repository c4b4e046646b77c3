//! Reviewed plans: `plan --out plan.json` writes the plan with the snapshot
//! generation it was computed from; `apply plan.json` applies exactly that
//! plan, and refuses if the snapshot has moved since. For change-controlled
//! organisations that approve a plan before anything changes.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::plan::Plan;

/// Version of the file format; bumped on any incompatible change.
pub const PLAN_FILE_VERSION: u32 = 1;

/// A reviewed plan file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewedPlan {
    /// [`PLAN_FILE_VERSION`] when written.
    pub version: u32,
    /// Unix seconds the plan was computed.
    pub created_at: i64,
    /// One plan per connection.
    pub connections: Vec<ConnectionPlan>,
}

/// The plan of one connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionPlan {
    /// Connection name.
    pub connection: String,
    /// Snapshot generation the plan was computed against.
    pub generation: u64,
    /// The operations, and those the guard held back (applied only with
    /// `--allow-deletions`).
    pub plan: Plan,
}

/// Errors reading or writing a plan file.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a plan this version understands.
    #[error("{path} is not a penvio-sync plan (version {PLAN_FILE_VERSION}): {message}")]
    Invalid {
        /// Path.
        path: String,
        /// What was wrong.
        message: String,
    },
}

impl ReviewedPlan {
    /// Writes the plan, owner-only (it names users and their attributes),
    /// atomically and never through a symlink.
    pub fn write(&self, path: &Path) -> Result<(), PlanFileError> {
        let io = |source| PlanFileError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        text.push(b'\n');
        crate::private_file::write_private(path, &text).map_err(io)
    }

    /// Reads a plan file.
    pub fn read(path: &Path) -> Result<Self, PlanFileError> {
        let text = std::fs::read(path).map_err(|source| PlanFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let plan: ReviewedPlan =
            serde_json::from_slice(&text).map_err(|e| PlanFileError::Invalid {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        if plan.version != PLAN_FILE_VERSION {
            return Err(PlanFileError::Invalid {
                path: path.display().to_string(),
                message: format!("written as version {}", plan.version),
            });
        }
        Ok(plan)
    }
}
