//! `penvio-sync audit`: the trail of changes applied to Penvio.

use clap::Args;

use crate::audit::{AuditEvent, AuditLog};
use crate::config::Config;
use crate::report::exit::{EXIT_CONFIG, EXIT_OK, EXIT_RUN_FAILED};
use crate::timestamp::unix_now;

/// Options of `audit`.
#[derive(Debug, Args, Clone)]
pub struct AuditArgs {
    /// Only this connection.
    #[arg(long)]
    pub connection: Option<String>,
    /// Only events since this long ago (`1h`, `7d`) or since this time
    /// (RFC 3339, e.g. `2026-11-30T00:00:00Z`).
    #[arg(long)]
    pub since: Option<String>,
    /// Print the events as JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// Parses `--since`: a duration ago or an RFC 3339 time, as unix seconds.
pub fn parse_since(text: &str, now: i64) -> Result<i64, String> {
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(now - i64::try_from(ago.as_secs()).unwrap_or(i64::MAX));
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .ok_or_else(|| format!("--since {text:?}: expected a duration like 1h or 7d, or a time like 2026-11-30T00:00:00Z"))
}

/// Prints the audit events asked for; the exit code.
pub(super) fn run(config: &Config, args: &AuditArgs) -> i32 {
    let since = match args.since.as_deref().map(|s| parse_since(s, unix_now())) {
        Some(Err(message)) => {
            eprintln!("{message}");
            return EXIT_CONFIG;
        }
        Some(Ok(since)) => Some(since),
        None => None,
    };
    let log = AuditLog::in_state_dir(&config.state_dir);
    let events = match log.read(args.connection.as_deref(), since) {
        Ok(events) => events,
        Err(error) => {
            eprintln!("{error}");
            return EXIT_RUN_FAILED;
        }
    };
    for event in &events {
        if args.json {
            println!("{}", serde_json::to_string(event).unwrap_or_default());
        } else {
            println!("{}", event_line(event));
        }
    }
    if events.is_empty() && !args.json {
        eprintln!("No audit events in {}.", log.path().display());
    }
    EXIT_OK
}

/// One event as a line of text.
fn event_line(event: &AuditEvent) -> String {
    format!(
        "{} {} {} {} {} {}{}",
        event.time,
        event.connection,
        event.outcome,
        event.operation,
        event.penvio_id.as_deref().unwrap_or("-"),
        event.description,
        event
            .error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_durations_and_times() {
        assert_eq!(parse_since("1h", 10_000), Ok(10_000 - 3600));
        assert_eq!(parse_since("2026-11-30T00:00:00Z", 0), Ok(1_795_996_800));
        assert!(parse_since("yesterday", 0).is_err());
    }
}
