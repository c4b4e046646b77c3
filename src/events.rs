//! Notable events, each in one place that logs it, counts it and (for
//! changes in Penvio) writes the audit trail, so logs, metrics and audit never
//! disagree.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::audit::{AuditEvent, AuditLog};
use crate::report::{OperationOutcome, RunReport};

/// Operations applied or failed, by connection, operation and outcome.
pub const OPERATIONS_TOTAL: &str = "penvio_sync_operations_total";
/// Finished runs, by connection, mode and outcome.
pub const RUNS_TOTAL: &str = "penvio_sync_runs_total";
/// Duration of the last run.
pub const RUN_DURATION_SECONDS: &str = "penvio_sync_last_run_duration_seconds";
/// When the last run finished.
pub const LAST_RUN_TIMESTAMP: &str = "penvio_sync_last_run_timestamp_seconds";
/// When the last successful run finished.
pub const LAST_SUCCESS_TIMESTAMP: &str = "penvio_sync_last_success_timestamp_seconds";
/// When the source data the last run relied on was read (Unix seconds):
/// every IdP removal before it has reached Penvio. Alert on
/// `time() - penvio_sync_source_data_timestamp_seconds` above the schedule.
pub const SOURCE_DATA_TIMESTAMP: &str = "penvio_sync_source_data_timestamp_seconds";
/// Requests sent to the identity provider.
pub const SOURCE_REQUESTS_TOTAL: &str = "penvio_sync_source_requests_total";
/// Requests sent to Penvio, by kind (read, write).
pub const TARGET_REQUESTS_TOTAL: &str = "penvio_sync_target_requests_total";
/// 429 answers received from Penvio.
pub const TARGET_THROTTLED_TOTAL: &str = "penvio_sync_target_throttled_total";
/// Runs in which the deletion guard held operations back.
pub const GUARD_TRIPS_TOTAL: &str = "penvio_sync_guard_trips_total";
/// Destructive operations held back in the last run.
pub const HELD_BACK: &str = "penvio_sync_held_back_operations";
/// Users managed in Penvio after the last run.
pub const MANAGED_USERS: &str = "penvio_sync_managed_users";
/// Teams managed in Penvio after the last run.
pub const MANAGED_TEAMS: &str = "penvio_sync_managed_teams";
/// Consecutive failed runs (daemon).
pub const CONSECUTIVE_FAILURES: &str = "penvio_sync_consecutive_failures";
/// Seconds until a backed-off connection runs again (daemon; 0 when not).
pub const BACKOFF_SECONDS: &str = "penvio_sync_backoff_seconds";
/// Scheduled runs skipped because the previous one was still running.
pub const SKIPPED_TICKS_TOTAL: &str = "penvio_sync_skipped_ticks_total";

/// Who is applying changes, for operation events.
#[derive(Clone)]
pub struct RunContext {
    /// Connection name.
    pub connection: String,
    /// Id of the run.
    pub run_id: String,
    /// Where the audit trail goes (none in dry runs and tests).
    pub audit: Option<Arc<AuditLog>>,
}

/// An operation was applied or failed.
pub fn operation_finished(context: &RunContext, outcome: &OperationOutcome, now: i64) {
    let result = if outcome.error.is_some() {
        "failed"
    } else {
        "applied"
    };
    metrics::counter!(
        OPERATIONS_TOTAL,
        "connection" => context.connection.clone(),
        "operation" => outcome.kind,
        "outcome" => result
    )
    .increment(1);
    match &outcome.error {
        None => tracing::info!(
            connection = %context.connection,
            run_id = %context.run_id,
            operation = outcome.kind,
            source_id = %outcome.subject,
            penvio_id = outcome.penvio_id.as_deref().unwrap_or(""),
            "Applied {}.",
            outcome.description
        ),
        Some(error) => tracing::warn!(
            connection = %context.connection,
            run_id = %context.run_id,
            operation = outcome.kind,
            source_id = %outcome.subject,
            http_status = outcome.http_status,
            %error,
            "Operation failed: {}.",
            outcome.description
        ),
    }
    if let Some(audit) = &context.audit {
        let time = humantime::format_rfc3339_seconds(
            UNIX_EPOCH + Duration::from_secs(u64::try_from(now).unwrap_or(0)),
        )
        .to_string();
        let event = AuditEvent {
            time,
            unix_time: now,
            connection: context.connection.clone(),
            run_id: context.run_id.clone(),
            operation: outcome.kind.to_string(),
            source_id: outcome.subject.clone(),
            penvio_id: outcome.penvio_id.clone(),
            attributes: outcome.attributes.clone(),
            outcome: result.to_string(),
            http_status: outcome.http_status,
            description: outcome.description.clone(),
            error: outcome.error.clone(),
        };
        if let Err(error) = audit.append(&event) {
            tracing::error!(connection = %context.connection, %error, "Could not write the audit trail.");
        }
    }
}

/// A run finished (successfully or not).
pub fn run_finished(report: &RunReport) {
    // The exit code is final here: hand the run to alerting (never waits).
    crate::notify::run_finished(report);
    count_run(report);
    log_run(report);
}

/// The run's metrics: outcome, timestamps and gauges (not for dry runs),
/// request counters (always).
fn count_run(report: &RunReport) {
    let connection = report.connection.clone();
    let outcome = report.outcome();
    if !report.dry_run {
        metrics::counter!(RUNS_TOTAL, "connection" => connection.clone(), "mode" => report.mode, "outcome" => outcome).increment(1);
        let finished = report.started_at as f64 + report.duration_ms as f64 / 1000.0;
        metrics::gauge!(LAST_RUN_TIMESTAMP, "connection" => connection.clone()).set(finished);
        if report.error.is_none() {
            metrics::gauge!(LAST_SUCCESS_TIMESTAMP, "connection" => connection.clone())
                .set(finished);
            metrics::gauge!(MANAGED_USERS, "connection" => connection.clone())
                .set(report.managed_users as f64);
            metrics::gauge!(MANAGED_TEAMS, "connection" => connection.clone())
                .set(report.managed_teams as f64);
        }
        if let Some(read_at) = report.source.data_read_at {
            metrics::gauge!(SOURCE_DATA_TIMESTAMP, "connection" => connection.clone())
                .set(read_at as f64);
        }
        metrics::gauge!(RUN_DURATION_SECONDS, "connection" => connection.clone())
            .set(report.duration_ms as f64 / 1000.0);
        metrics::gauge!(HELD_BACK, "connection" => connection.clone())
            .set(report.held_back.len() as f64);
        if !report.held_back.is_empty() {
            metrics::counter!(GUARD_TRIPS_TOTAL, "connection" => connection.clone()).increment(1);
        }
    }
    metrics::counter!(SOURCE_REQUESTS_TOTAL, "connection" => connection.clone())
        .increment(report.source_requests);
    metrics::counter!(TARGET_REQUESTS_TOTAL, "connection" => connection.clone(), "kind" => "read")
        .increment(report.target_requests.reads);
    metrics::counter!(TARGET_REQUESTS_TOTAL, "connection" => connection.clone(), "kind" => "write")
        .increment(report.target_requests.writes);
    metrics::counter!(TARGET_THROTTLED_TOTAL, "connection" => connection.clone())
        .increment(report.target_requests.throttled);
}

/// The run's log lines: skipped records, held-back operations, the end.
fn log_run(report: &RunReport) {
    for skipped in &report.skipped {
        tracing::warn!(
            connection = %report.connection,
            run_id = %report.run_id,
            kind = %skipped.kind,
            id = %skipped.id,
            reason = %skipped.reason,
            "Skipped a record from the source."
        );
    }
    for held in &report.held_back {
        tracing::warn!(
            connection = %report.connection,
            run_id = %report.run_id,
            operation = held.operation.kind(),
            subject = held.operation.subject(),
            reason = %held.reason,
            "Held back a destructive operation."
        );
    }
    match &report.error {
        Some(error) => tracing::error!(
            connection = %report.connection,
            run_id = %report.run_id,
            mode = report.mode,
            %error,
            "Run failed."
        ),
        None => tracing::info!(
            connection = %report.connection,
            run_id = %report.run_id,
            mode = report.mode,
            dry_run = report.dry_run,
            applied = report.applied.values().sum::<usize>(),
            failed = report.failures.len(),
            held_back = report.held_back.len(),
            duration_ms = report.duration_ms,
            "Run finished."
        ),
    }
}

/// A scheduled tick found the previous run of the connection still going.
pub fn tick_skipped(connection: &str, reason: &str) {
    metrics::counter!(SKIPPED_TICKS_TOTAL, "connection" => connection.to_string()).increment(1);
    tracing::info!(connection, reason, "Skipped a scheduled run.");
}
