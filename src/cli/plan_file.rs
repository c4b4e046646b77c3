//! The plan file of `plan --out`: what it is made of and how it is written,
//! whether the dry runs ran here or in the daemon.

use std::path::Path;

use serde::Deserialize;

use crate::plan::{HeldBack, Operation, Plan};
use crate::report::RunReport;
use crate::report::exit::EXIT_RUN_FAILED;
use crate::reviewed::{ConnectionPlan, PLAN_FILE_VERSION, ReviewedPlan};
use crate::timestamp::unix_now;

/// The parts of a dry run's report a reviewed plan is made of: read from a
/// local [`RunReport`] or from the daemon's JSON report.
#[derive(Debug, Deserialize)]
pub(super) struct PlannedRun {
    /// The planned operations, in order.
    pub operations: Vec<Operation>,
    /// What the guard held back.
    pub held_back: Vec<HeldBack>,
    /// The snapshot generation the plan was computed against.
    pub snapshot_generation: u64,
    /// Why the run failed, if it did (then there is no plan).
    pub error: Option<String>,
}

impl From<&RunReport> for PlannedRun {
    fn from(report: &RunReport) -> Self {
        PlannedRun {
            operations: report.operations.clone(),
            held_back: report.held_back.clone(),
            snapshot_generation: report.snapshot_generation,
            error: report.error.clone(),
        }
    }
}

impl PlannedRun {
    /// The connection's entry in the plan file.
    pub fn into_connection_plan(self, connection: String) -> ConnectionPlan {
        ConnectionPlan {
            connection,
            generation: self.snapshot_generation,
            plan: Plan {
                operations: self.operations,
                held_back: self.held_back,
            },
        }
    }
}

/// Writes the plans of `plan --out` for review, saying what to run next.
pub(super) fn write_plan_file(path: &Path, plans: Vec<ConnectionPlan>) -> Result<(), i32> {
    let reviewed = ReviewedPlan {
        version: PLAN_FILE_VERSION,
        created_at: unix_now(),
        connections: plans,
    };
    if let Err(error) = reviewed.write(path) {
        eprintln!("{error}");
        return Err(EXIT_RUN_FAILED);
    }
    eprintln!(
        "Plan written to {}. Review it, then: penvio-sync apply {}",
        path.display(),
        path.display()
    );
    Ok(())
}
