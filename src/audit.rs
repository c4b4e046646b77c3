//! The audit trail: one JSON line per change applied to Penvio, in
//! `state_dir/audit.jsonl`, size-capped with rotation.
//!
//! Penvio promises an audit trail of provisioning changes; this file is the
//! agent's side of it, kept next to the state so it survives restarts and can
//! be shipped by any log collector.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// File name of the current audit log inside `state_dir`.
pub const AUDIT_FILE_NAME: &str = "audit.jsonl";
/// Rotate when the current file passes this size.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Rotated files kept (`audit.jsonl.1` … `.N`).
pub const DEFAULT_KEEP: usize = 5;

/// One change applied (or attempted) in Penvio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// RFC 3339 time the outcome was known.
    pub time: String,
    /// Unix seconds of `time`, for filtering.
    pub unix_time: i64,
    /// Connection name.
    pub connection: String,
    /// The run the change belongs to.
    pub run_id: String,
    /// Operation kind (`create_user`, `add_members`, …).
    pub operation: String,
    /// Source id the operation is about (the team's for memberships).
    pub source_id: String,
    /// Penvio id of the user or team, when known.
    pub penvio_id: Option<String>,
    /// Names of the attributes changed.
    pub attributes: Vec<String>,
    /// `applied` or `failed`.
    pub outcome: String,
    /// HTTP status of a failure, when the server answered.
    pub http_status: Option<u16>,
    /// What was done, for people.
    pub description: String,
    /// Why it failed.
    pub error: Option<String>,
}

/// Errors of the audit log.
#[derive(Debug, thiserror::Error)]
#[error("audit log {path}: {source}")]
pub struct AuditError {
    path: String,
    #[source]
    source: std::io::Error,
}

/// An append-only, rotating JSON-lines file.
pub struct AuditLog {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: Mutex<Option<File>>,
}

impl AuditLog {
    /// The audit log of a state directory.
    pub fn in_state_dir(state_dir: &Path) -> Self {
        Self::new(
            state_dir.join(AUDIT_FILE_NAME),
            DEFAULT_MAX_BYTES,
            DEFAULT_KEEP,
        )
    }

    /// A log at `path`, rotated past `max_bytes`, keeping `keep` old files.
    pub fn new(path: PathBuf, max_bytes: u64, keep: usize) -> Self {
        AuditLog {
            path,
            max_bytes,
            keep,
            file: Mutex::new(None),
        }
    }

    /// Path of the current file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, source: std::io::Error) -> AuditError {
        AuditError {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Appends one event (one line, flushed), rotating first if the file is full.
    pub fn append(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(event)
            .map_err(|e| self.error(std::io::Error::other(e.to_string())))?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let size = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if size > 0 && size + line.len() as u64 > self.max_bytes {
            *file = None;
            self.rotate().map_err(|e| self.error(e))?;
        }
        if file.is_none() {
            *file = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(&self.path)
                    .map_err(|e| self.error(e))?,
            );
        }
        if let Some(handle) = file.as_mut() {
            handle.write_all(&line).map_err(|e| self.error(e))?;
            handle.flush().map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// audit.jsonl.(N-1) → .N, …, audit.jsonl → .1; the oldest is dropped.
    fn rotate(&self) -> std::io::Result<()> {
        let numbered = |n: usize| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.keep == 0 {
            return std::fs::remove_file(&self.path);
        }
        let _ = std::fs::remove_file(numbered(self.keep));
        for n in (1..self.keep).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))
    }

    /// Every event still on disk, oldest first (rotated files included),
    /// optionally only one connection's and only those at or after `since`.
    pub fn read(
        &self,
        connection: Option<&str>,
        since: Option<i64>,
    ) -> Result<Vec<AuditEvent>, AuditError> {
        let mut files: Vec<PathBuf> = (1..=self.keep)
            .rev()
            .map(|n| PathBuf::from(format!("{}.{n}", self.path.display())))
            .collect();
        files.push(self.path.clone());
        let mut events = Vec::new();
        for path in files {
            let Ok(file) = File::open(&path) else {
                continue;
            };
            for line in BufReader::new(file).lines() {
                let line = line.map_err(|e| self.error(e))?;
                // A torn last line (crash mid-write) is skipped, not fatal.
                let Ok(event) = serde_json::from_str::<AuditEvent>(&line) else {
                    continue;
                };
                if connection.is_some_and(|c| c != event.connection) {
                    continue;
                }
                if since.is_some_and(|s| event.unix_time < s) {
                    continue;
                }
                events.push(event);
            }
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize, connection: &str) -> AuditEvent {
        AuditEvent {
            time: "2026-11-30T00:00:00Z".into(),
            unix_time: n as i64,
            connection: connection.into(),
            run_id: "r1".into(),
            operation: "create_user".into(),
            source_id: format!("u{n}"),
            penvio_id: Some(format!("p{n}")),
            attributes: vec!["userName".into()],
            outcome: "applied".into(),
            http_status: None,
            description: format!("create user u{n}@example.com"),
            error: None,
        }
    }

    #[test]
    fn events_append_rotate_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join(AUDIT_FILE_NAME), 600, 2);
        for n in 0..12 {
            log.append(&event(n, if n % 2 == 0 { "a" } else { "b" }))
                .unwrap();
        }
        assert!(dir.path().join("audit.jsonl.1").exists());
        assert!(dir.path().join("audit.jsonl.2").exists());
        assert!(
            !dir.path().join("audit.jsonl.3").exists(),
            "only `keep` files are kept"
        );
        let all = log.read(None, None).unwrap();
        let times: Vec<i64> = all.iter().map(|e| e.unix_time).collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted, "oldest first across rotated files");
        assert_eq!(*times.last().unwrap(), 11);
        assert!(all.len() < 12, "the oldest events were rotated away");
        let only_a = log.read(Some("a"), Some(6)).unwrap();
        assert!(
            only_a
                .iter()
                .all(|e| e.connection == "a" && e.unix_time >= 6)
        );
        assert!(!only_a.is_empty());
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(log.path()).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }
}
