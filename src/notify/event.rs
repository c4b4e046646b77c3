//! What an alert says: the facts of a finished run, which event they are,
//! and the [`Alert`] every payload is built from. Pure: no I/O, no clock.

use serde::Serialize;

use crate::config::AlertEvent;
use crate::report::RunReport;
use crate::report::exit::{EXIT_HELD_BACK, EXIT_OK, EXIT_PARTIAL, EXIT_RUN_FAILED};

/// Part of the message the Penvio client gives a 401/403 (see
/// `scim::client::ScimError::Unauthorized`): "Penvio rejected the token (401)".
const PENVIO_TOKEN_REJECTED: &str = "Penvio rejected the token (401)";

/// The facts of one finished run an alert needs, copied out of the
/// [`RunReport`] so the run hands them over without waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFacts {
    /// Connection name.
    pub connection: String,
    /// Id of the run.
    pub run_id: String,
    /// `succeeded`, `partial`, `held_back` or `failed`.
    pub outcome: &'static str,
    /// The run's exit code.
    pub exit_code: i32,
    /// Operation counts.
    pub counts: Counts,
    /// The first error (run error, failed operation or held-back reason).
    pub first_error: Option<String>,
    /// Unix seconds the run finished.
    pub finished_at: i64,
}

/// Operation counts of a run, as the webhook payload shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Operations applied.
    pub applied: usize,
    /// Operations that failed.
    pub failed: usize,
    /// Destructive operations held back by the guard.
    pub held_back: usize,
    /// Source records skipped as bad data.
    pub skipped: usize,
}

impl RunFacts {
    /// The facts of a report.
    pub fn from_report(report: &RunReport) -> Self {
        let first_error = report
            .error
            .clone()
            .or_else(|| report.failures.iter().find_map(|f| f.error.clone()))
            .or_else(|| report.held_back.first().map(|h| h.reason.clone()));
        let finished_ms = report.duration_ms / 1000;
        RunFacts {
            connection: report.connection.clone(),
            run_id: report.run_id.clone(),
            outcome: report.outcome(),
            exit_code: report.exit_code,
            counts: Counts {
                applied: report.applied.values().sum(),
                failed: report.failures.len(),
                held_back: report.held_back.len(),
                skipped: report.skipped.len(),
            },
            first_error,
            finished_at: report.started_at + i64::try_from(finished_ms).unwrap_or(0),
        }
    }

    /// What the run means for alerting: `Ok(())` for a success (which may
    /// recover earlier alerts), `Err(event)` for a problem, `None` for
    /// neither (apply refusing a stale reviewed plan).
    pub fn classify(&self) -> Option<Result<(), AlertEvent>> {
        match self.exit_code {
            EXIT_OK => Some(Ok(())),
            EXIT_PARTIAL => Some(Err(AlertEvent::Partial)),
            EXIT_HELD_BACK => Some(Err(AlertEvent::HeldBack)),
            EXIT_RUN_FAILED
                if self
                    .first_error
                    .as_deref()
                    .is_some_and(|e| e.contains(PENVIO_TOKEN_REJECTED)) =>
            {
                Some(Err(AlertEvent::TokenRejected))
            }
            EXIT_RUN_FAILED => Some(Err(AlertEvent::RunFailed)),
            _ => None,
        }
    }
}

/// One alert, the documented body of a webhook and the source of every
/// other payload. Holds no secret: errors name config keys, never values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// Payload format version.
    pub version: u32,
    /// `run_failed`, `held_back`, `partial`, `stale`, `recovered`,
    /// `token_rejected` or `test`.
    pub event: &'static str,
    /// Connection name (empty for `test`).
    pub connection: String,
    /// Id of the run that raised it (none for `stale` and `test`).
    pub run_id: Option<String>,
    /// The run's outcome (none for `stale` and `test`).
    pub outcome: Option<&'static str>,
    /// The run's operation counts.
    pub counts: Counts,
    /// The first error, without its fix.
    pub first_error: Option<String>,
    /// What to do, as the error names it.
    pub fix: Option<String>,
    /// RFC 3339 time of the event.
    pub time: String,
    /// A short sentence for people (Slack, Teams, e-mail subject).
    pub summary: String,
}

/// The version of the webhook body.
pub const PAYLOAD_VERSION: u32 = 1;

impl Alert {
    /// The alert for `event` raised by a run.
    pub fn for_run(event: AlertEvent, facts: &RunFacts) -> Self {
        let (first_error, fix) = match &facts.first_error {
            Some(error) if event != AlertEvent::Recovered => split_fix(error),
            _ => (None, None),
        };
        let summary = match event {
            AlertEvent::RunFailed => format!("Sync of {} failed.", facts.connection),
            AlertEvent::TokenRejected => format!(
                "Penvio rejected the token of {} (401): it was probably regenerated.",
                facts.connection
            ),
            AlertEvent::Partial => format!(
                "Sync of {}: {} failed.",
                facts.connection,
                crate::plural::count(facts.counts.failed, "operation")
            ),
            AlertEvent::HeldBack => format!(
                "Sync of {}: the guard held back {}; review and run with --allow-deletions if intended.",
                facts.connection,
                crate::plural::count(facts.counts.held_back, "destructive operation")
            ),
            AlertEvent::Recovered => format!("Sync of {} recovered.", facts.connection),
            AlertEvent::Stale => format!("{} is stale.", facts.connection),
        };
        Alert {
            version: PAYLOAD_VERSION,
            event: event.as_str(),
            connection: facts.connection.clone(),
            run_id: Some(facts.run_id.clone()),
            outcome: Some(facts.outcome),
            counts: facts.counts,
            first_error,
            fix,
            time: rfc3339(facts.finished_at),
            summary,
        }
    }

    /// The `stale` alert: no successful run since `since` (or ever).
    pub fn stale(connection: &str, last_success: Option<i64>, now: i64) -> Self {
        let summary = match last_success {
            Some(at) => format!(
                "{connection} is stale: no successful sync since {}.",
                rfc3339(at)
            ),
            None => format!("{connection} is stale: no successful sync yet."),
        };
        Alert {
            version: PAYLOAD_VERSION,
            event: AlertEvent::Stale.as_str(),
            connection: connection.to_owned(),
            run_id: None,
            outcome: None,
            counts: Counts::default(),
            first_error: None,
            fix: Some(
                "Check the daemon's logs and `penvio-sync status`; run `penvio-sync sync` to see the error."
                    .to_owned(),
            ),
            time: rfc3339(now),
            summary,
        }
    }

    /// The message `notify test` sends.
    pub fn test(now: i64) -> Self {
        Alert {
            version: PAYLOAD_VERSION,
            event: "test",
            connection: String::new(),
            run_id: None,
            outcome: None,
            counts: Counts::default(),
            first_error: None,
            fix: None,
            time: rfc3339(now),
            summary: "Test alert from penvio-sync: this channel works.".to_owned(),
        }
    }
}

/// Splits "What happened. What to do" at the first sentence end when the
/// rest names a key or command (in backticks, as penvio-sync's errors do);
/// otherwise the whole text is the error and there is no fix to show.
fn split_fix(error: &str) -> (Option<String>, Option<String>) {
    match error.split_once(". ") {
        Some((what, fix)) if fix.contains('`') => {
            (Some(format!("{what}.")), Some(fix.trim().to_owned()))
        }
        _ => (Some(error.to_owned()), None),
    }
}

fn rfc3339(unix: i64) -> String {
    let secs = u64::try_from(unix).unwrap_or(0);
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn facts(exit_code: i32, error: Option<&str>) -> RunFacts {
        RunFacts {
            connection: "c".into(),
            run_id: "c-1".into(),
            outcome: "failed",
            exit_code,
            counts: Counts::default(),
            first_error: error.map(str::to_owned),
            finished_at: 0,
        }
    }

    #[test]
    fn exit_codes_map_to_events() {
        let cases = [
            (EXIT_OK, None, Some(Ok(()))),
            (EXIT_PARTIAL, None, Some(Err(AlertEvent::Partial))),
            (EXIT_HELD_BACK, None, Some(Err(AlertEvent::HeldBack))),
            (
                EXIT_RUN_FAILED,
                Some("fetch failed"),
                Some(Err(AlertEvent::RunFailed)),
            ),
            (
                EXIT_RUN_FAILED,
                Some("Penvio rejected the token (401) on GET /Users. It may have been regenerated"),
                Some(Err(AlertEvent::TokenRejected)),
            ),
            (
                EXIT_RUN_FAILED,
                Some("Okta rejected the token (401) on GET /users."),
                Some(Err(AlertEvent::RunFailed)),
            ),
            (crate::report::exit::EXIT_STALE_PLAN, None, None),
        ];
        for (code, error, expected) in cases {
            assert_eq!(facts(code, error).classify(), expected, "{code} {error:?}");
        }
    }

    #[test]
    fn the_fix_is_split_from_the_error() {
        let alert = Alert::for_run(
            AlertEvent::TokenRejected,
            &facts(
                1,
                Some(
                    "Penvio rejected the token (401) on GET /Users. It may have been regenerated: update `x`",
                ),
            ),
        );
        assert_eq!(
            alert.first_error.as_deref(),
            Some("Penvio rejected the token (401) on GET /Users.")
        );
        assert_eq!(
            alert.fix.as_deref(),
            Some("It may have been regenerated: update `x`")
        );
        assert_eq!(alert.time, "1970-01-01T00:00:00Z");
        let plain = "file source: cannot read d.json. Nothing was changed in Penvio.";
        let alert = Alert::for_run(AlertEvent::RunFailed, &facts(1, Some(plain)));
        assert_eq!(alert.first_error.as_deref(), Some(plain));
        assert_eq!(alert.fix, None);
    }
}
