//! The account of a run: what the source returned, what each operation did
//! and how the run ended. Plain values, filled by the executors (`sync`,
//! `apply`) and read by everything that reports (CLI, daemon, events,
//! alerts), so none of those depend on the executors.

pub mod exit;
pub mod render;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::SkippedRecord;
use crate::plan::{HeldBack, Operation};

/// An operation of a reviewed plan that `apply` refused to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The operation as the plan file wrote it.
    pub operation: Operation,
    /// Why it was refused.
    pub reason: String,
}

/// How a run ended. The executors decide this; the process exit code is
/// derived from it in one place ([`Outcome::exit_code`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Outcome {
    /// Every planned operation was applied (or, for a dry run, planned).
    #[default]
    Succeeded,
    /// Some operations failed; the others were applied.
    Partial,
    /// Destructive operations were held back by the guard.
    HeldBack,
    /// The run failed (fetch, credentials, state, timeout).
    Failed,
    /// A reviewed plan was refused (in whole or in part): the snapshot
    /// moved, or operations were not in the fresh plan.
    StalePlan,
}

impl Outcome {
    /// The word reports, metrics and alerts use: `succeeded`, `partial`,
    /// `held_back` or `failed` (a refused plan counts as failed).
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Partial => "partial",
            Outcome::HeldBack => "held_back",
            Outcome::Failed | Outcome::StalePlan => "failed",
        }
    }
}

/// What happened to one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationOutcome {
    /// Operation kind (`create_user`, …).
    pub kind: &'static str,
    /// Source id the operation is about.
    pub subject: String,
    /// Penvio id of the user or team, when known.
    pub penvio_id: Option<String>,
    /// SCIM attributes the operation changes.
    pub attributes: Vec<String>,
    /// What was done, for people.
    pub description: String,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// HTTP status of the failure, when the server answered.
    pub http_status: Option<u16>,
}

/// What the source returned.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceSummary {
    /// Users read.
    pub users: usize,
    /// Groups read.
    pub groups: usize,
    /// Whether the source read everything (not a delta).
    pub full_fetch: bool,
    /// Users outside `scope.user_groups`.
    pub out_of_scope_users: usize,
    /// `scope.user_groups` entries that matched no group.
    pub unmatched_user_groups: Vec<String>,
    /// Users Penvio should hold.
    pub desired_users: usize,
    /// Teams Penvio should hold.
    pub desired_teams: usize,
    /// Unix seconds the fetch completed at (the run's clock), if it did.
    pub data_read_at: Option<i64>,
}

/// What the reconciliation found, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileFindings {
    /// Users in Penvio that were linked to directory users they were not
    /// linked to before (by externalId or userName).
    pub linked_users: usize,
    /// Managed users missing from Penvio (deleted by hand).
    pub missing_users: usize,
    /// Teams linked by externalId or name.
    pub linked_teams: usize,
    /// Managed teams missing from Penvio.
    pub missing_teams: usize,
    /// Penvio users left alone: not created by us, not in the directory.
    pub unmanaged_users: usize,
    /// Penvio teams left alone.
    pub unmanaged_teams: usize,
    /// Penvio users or teams adopted (`--adopt`).
    pub adopted: usize,
}

/// Requests a client sent, for reports, tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    /// GET requests sent (retries included).
    pub reads: u64,
    /// POST/PUT/PATCH/DELETE requests sent (retries included).
    pub writes: u64,
    /// Requests retried.
    pub retries: u64,
    /// 429 answers received.
    pub throttled: u64,
}

/// The account of one run. Its JSON form is what `--json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Connection name.
    pub connection: String,
    /// Id of this run (in logs and the audit trail).
    pub run_id: String,
    /// `sync` or `reconcile`.
    pub mode: &'static str,
    /// Nothing was sent.
    pub dry_run: bool,
    /// Unix seconds at the start.
    pub started_at: i64,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// What the source returned.
    pub source: SourceSummary,
    /// Records skipped (bad data), with reasons.
    pub skipped: Vec<SkippedRecord>,
    /// Operations planned, by kind.
    pub planned: BTreeMap<&'static str, usize>,
    /// The plan's operations in order (filled for dry runs and plans).
    pub operations: Vec<Operation>,
    /// Operations applied successfully, by kind.
    pub applied: BTreeMap<&'static str, usize>,
    /// Operations that failed, with reasons.
    pub failures: Vec<OperationOutcome>,
    /// Destructive operations held back by the guard.
    pub held_back: Vec<HeldBack>,
    /// Operations of a reviewed plan that `apply` refused, with reasons:
    /// not in the plan computed at apply time (exit code 5).
    pub refused: Vec<Refusal>,
    /// Reconciliation findings (reconcile only).
    pub reconcile: Option<ReconcileFindings>,
    /// Requests sent to Penvio.
    pub target_requests: RequestCounts,
    /// Requests sent to the identity provider.
    pub source_requests: u64,
    /// The snapshot generation the run planned against (a reviewed plan
    /// applies only onto the same generation).
    pub snapshot_generation: u64,
    /// Users managed in Penvio after the run (snapshot).
    pub managed_users: usize,
    /// Teams managed in Penvio after the run (snapshot).
    pub managed_teams: usize,
    /// Why the run failed, if it did.
    pub error: Option<String>,
    /// How the run ended; set only through [`RunReport::conclude`] and
    /// [`RunReport::fail`], which keep `exit_code` in step.
    #[serde(skip)]
    pub ending: Outcome,
    /// The process exit code this run maps to (part of the `--json` form).
    pub exit_code: i32,
}

impl RunReport {
    /// An empty report of a run that starts now.
    pub fn new(
        connection: &str,
        run_id: String,
        mode: &'static str,
        dry_run: bool,
        started_at: i64,
    ) -> Self {
        RunReport {
            connection: connection.to_string(),
            run_id,
            mode,
            dry_run,
            started_at,
            duration_ms: 0,
            source: SourceSummary::default(),
            skipped: Vec::new(),
            planned: BTreeMap::new(),
            operations: Vec::new(),
            applied: BTreeMap::new(),
            failures: Vec::new(),
            held_back: Vec::new(),
            refused: Vec::new(),
            reconcile: None,
            target_requests: RequestCounts::default(),
            source_requests: 0,
            snapshot_generation: 0,
            managed_users: 0,
            managed_teams: 0,
            error: None,
            ending: Outcome::Succeeded,
            exit_code: Outcome::Succeeded.exit_code(),
        }
    }

    /// Records how the run ended.
    pub fn conclude(&mut self, outcome: Outcome) {
        self.ending = outcome;
        self.exit_code = outcome.exit_code();
    }

    /// Records that the run failed, and why.
    pub fn fail(&mut self, message: String) {
        self.error = Some(message);
        self.conclude(Outcome::Failed);
    }

    /// `succeeded`, `partial`, `held_back` or `failed`.
    pub fn outcome(&self) -> &'static str {
        self.ending.label()
    }

    /// Counts the applied and failed operations of a finished apply and
    /// concludes the run: partial if any failed, else held back if the
    /// guard held any back, else succeeded.
    pub fn record_outcomes(&mut self, outcomes: Vec<OperationOutcome>) {
        for outcome in outcomes {
            match &outcome.error {
                None => *self.applied.entry(outcome.kind).or_default() += 1,
                Some(_) => self.failures.push(outcome),
            }
        }
        self.conclude(if !self.failures.is_empty() {
            Outcome::Partial
        } else if !self.held_back.is_empty() {
            Outcome::HeldBack
        } else {
            Outcome::Succeeded
        });
    }
}
