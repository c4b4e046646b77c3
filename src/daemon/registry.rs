//! The daemon's connections: their config, whether a run is in progress,
//! failures and backoff, and the last report. Every way a run starts (cron
//! tick, startup, API, CLI forwarding) goes through [`Registry::trigger`], so
//! the "never two runs of one connection at once" rule lives in one place.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditLog;
use crate::config::{Config, ConnectionConfig};
use crate::events;
use crate::report::RunReport;
use crate::report::exit::EXIT_RUN_FAILED;
use crate::reviewed::ConnectionPlan;
use crate::state::StateStore;
use crate::sync::{RunMode, RunOptions, apply_reviewed, run_connection};
use crate::timestamp::unix_now;

/// Failed runs in a row before a connection backs off.
const BACKOFF_AFTER_FAILURES: u32 = 2;

/// Backoff after consecutive failures: doubles from `base`, capped at `cap`.
#[derive(Debug, Clone, Copy)]
pub struct BackoffPolicy {
    /// First delay.
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            base: Duration::from_secs(60),
            cap: Duration::from_secs(3600),
        }
    }
}

impl BackoffPolicy {
    /// The delay after `failures` consecutive failures (none below the threshold).
    pub fn delay(&self, failures: u32) -> Option<Duration> {
        if failures < BACKOFF_AFTER_FAILURES {
            return None;
        }
        let exponent = (failures - BACKOFF_AFTER_FAILURES).min(16);
        Some(self.base.saturating_mul(1u32 << exponent).min(self.cap))
    }
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The daemon started (`run_on_start`).
    Startup,
    /// A cron tick.
    Schedule,
    /// The HTTP API (or a forwarded CLI command).
    Api,
}

/// Why a run did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    /// No such connection.
    #[error("no connection named {0:?}")]
    Unknown(String),
    /// A run of this connection is in progress.
    #[error("a run of {0} is already in progress")]
    Busy(String),
    /// A scheduled run waits out the backoff.
    #[error("{0} is backing off after consecutive failures")]
    BackingOff(String),
    /// The daemon is stopping.
    #[error("the daemon is shutting down")]
    ShuttingDown,
    /// An `explain` of this connection is in progress (each may read the
    /// whole directory, so they run one at a time).
    #[error("an explain of {0} is already in progress; try again in a few seconds")]
    ExplainInProgress(String),
}

/// The directory an `explain` fetched last, reused while younger than
/// `explain_max_age`.
struct FetchedDirectory {
    at: Instant,
    directory: Arc<crate::model::Directory>,
}

/// One connection's `explain` slot: held for the length of one explain.
type ExplainSlot = Arc<tokio::sync::Mutex<Option<FetchedDirectory>>>;

/// The state of one connection, as `/v1/connections` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectionStatus {
    /// Connection name.
    pub name: String,
    /// A run is in progress.
    pub running: bool,
    /// Unix seconds the last run finished.
    pub last_run_at: Option<i64>,
    /// Unix seconds the last successful run finished.
    pub last_success_at: Option<i64>,
    /// Failed runs in a row.
    pub consecutive_failures: u32,
    /// Unix seconds until which scheduled runs are skipped.
    pub backoff_until: Option<i64>,
    /// The last run's report.
    pub last_report: Option<RunReport>,
}

/// All connections of the running config.
pub struct Registry {
    configs: Mutex<BTreeMap<String, (usize, ConnectionConfig)>>,
    statuses: Mutex<BTreeMap<String, ConnectionStatus>>,
    running: Arc<Mutex<BTreeSet<String>>>,
    store: Arc<dyn StateStore>,
    audit: Arc<AuditLog>,
    shutdown: CancellationToken,
    backoff: BackoffPolicy,
    explains: Mutex<BTreeMap<String, ExplainSlot>>,
    explain_max_age: Mutex<Duration>,
}

/// Marks a connection as running until dropped, however the run ends.
struct RunningGuard {
    running: Arc<Mutex<BTreeSet<String>>>,
    name: String,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.name);
    }
}

impl Registry {
    /// A registry over `config`'s connections.
    pub fn new(
        config: &Config,
        store: Arc<dyn StateStore>,
        audit: Arc<AuditLog>,
        shutdown: CancellationToken,
        backoff: BackoffPolicy,
    ) -> Self {
        let registry = Registry {
            configs: Mutex::new(BTreeMap::new()),
            statuses: Mutex::new(BTreeMap::new()),
            running: Arc::new(Mutex::new(BTreeSet::new())),
            store,
            audit,
            shutdown,
            backoff,
            explains: Mutex::new(BTreeMap::new()),
            explain_max_age: Mutex::new(config.explain_max_age),
        };
        let _ = registry.reload(config);
        registry
    }

    /// Takes a new config: added connections appear, removed ones go, changed
    /// ones take effect from their next run, and backoff ends. A run in
    /// progress finishes with the config it started with. Returns the names
    /// of the connections that are new.
    pub fn reload(&self, config: &Config) -> Vec<String> {
        let configs: BTreeMap<String, (usize, ConnectionConfig)> = config
            .connections
            .iter()
            .enumerate()
            .map(|(index, c)| (c.name.clone(), (index, c.clone())))
            .collect();
        let mut statuses = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        statuses.retain(|name, _| configs.contains_key(name));
        let added: Vec<String> = configs
            .keys()
            .filter(|name| !statuses.contains_key(*name))
            .cloned()
            .collect();
        for name in configs.keys() {
            let status = statuses
                .entry(name.clone())
                .or_insert_with(|| ConnectionStatus {
                    name: name.clone(),
                    ..ConnectionStatus::default()
                });
            status.consecutive_failures = 0;
            status.backoff_until = None;
        }
        *self.configs.lock().unwrap_or_else(|e| e.into_inner()) = configs;
        // A fetch made with the old source settings no longer explains anything.
        self.explains
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        *self
            .explain_max_age
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = config.explain_max_age;
        added
    }

    /// The connections' configs.
    pub fn connections(&self) -> Vec<ConnectionConfig> {
        self.configs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// The status of one connection.
    pub fn status(&self, name: &str) -> Option<ConnectionStatus> {
        let mut status = self
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()?;
        status.running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(name);
        Some(status)
    }

    /// The status of every connection.
    pub fn statuses(&self) -> Vec<ConnectionStatus> {
        let names: Vec<String> = self
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        names.iter().filter_map(|name| self.status(name)).collect()
    }

    /// Runs a connection now, unless it is running (or, for scheduled runs,
    /// backing off). Returns the run's report.
    pub async fn trigger(
        &self,
        name: &str,
        mode: RunMode,
        dry_run: bool,
        allow_deletions: bool,
        origin: Origin,
    ) -> Result<RunReport, TriggerError> {
        self.trigger_only(name, mode, dry_run, allow_deletions, origin, Vec::new())
            .await
    }

    /// [`Registry::trigger`] restricted to some users (`sync --only`).
    pub async fn trigger_only(
        &self,
        name: &str,
        mode: RunMode,
        dry_run: bool,
        allow_deletions: bool,
        origin: Origin,
        only: Vec<String>,
    ) -> Result<RunReport, TriggerError> {
        let (index, config, _guard) = self.claim(name, origin)?;
        let options = RunOptions {
            mode,
            dry_run,
            allow_deletions,
            now: unix_now(),
            show_progress: false,
            cancel: self.shutdown.child_token(),
            audit: (!dry_run).then(|| self.audit.clone()),
            only,
        };
        let report = run_connection(&config, index, self.store.clone(), &options).await;
        if !dry_run {
            self.record(&report);
        }
        Ok(report)
    }

    /// Applies a plan an admin reviewed (`plan --out`, then `apply`) under
    /// the same one-run-per-connection rule as every other run; it applies
    /// only onto the snapshot generation it was computed against.
    pub async fn apply_reviewed(
        &self,
        plan: &ConnectionPlan,
        allow_deletions: bool,
    ) -> Result<RunReport, TriggerError> {
        let (index, config, _guard) = self.claim(&plan.connection, Origin::Api)?;
        let options = RunOptions {
            allow_deletions,
            show_progress: false,
            cancel: self.shutdown.child_token(),
            audit: Some(self.audit.clone()),
            ..RunOptions::sync_now()
        };
        let report = apply_reviewed(&config, index, self.store.clone(), plan, &options).await;
        self.record(&report);
        Ok(report)
    }

    /// Explains `subject` for connection `name` from the snapshot the daemon
    /// holds and the directory (`penvio-sync explain` while it runs). One
    /// explain per connection at a time (a second gets
    /// [`TriggerError::ExplainInProgress`]); the directory fetched by the
    /// last one is reused while younger than `explain_max_age`, so repeated
    /// questions do not each read the whole directory. It only reads, so it
    /// does not wait for a run in progress.
    pub async fn explain(
        &self,
        name: &str,
        subject: &str,
    ) -> Result<Result<Option<String>, crate::explain::ExplainError>, TriggerError> {
        let (index, config) = self.connection(name)?;
        let slot = self
            .explains
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_string())
            .or_default()
            .clone();
        let Ok(mut cached) = slot.try_lock() else {
            return Err(TriggerError::ExplainInProgress(name.to_string()));
        };
        let max_age = *self
            .explain_max_age
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = unix_now();
        let directory = match cached.as_ref().filter(|c| c.at.elapsed() <= max_age) {
            Some(fresh) => fresh.directory.clone(),
            None => match crate::explain::fetch_directory(&config, index, now).await {
                Ok(directory) => {
                    let directory = Arc::new(directory);
                    *cached = Some(FetchedDirectory {
                        at: Instant::now(),
                        directory: directory.clone(),
                    });
                    directory
                }
                Err(error) => return Ok(Err(error)),
            },
        };
        Ok(crate::explain::explain_fetched(
            &config,
            &directory,
            self.store.as_ref(),
            subject,
            now,
        ))
    }

    /// The config of connection `name` and its index in the config file.
    fn connection(&self, name: &str) -> Result<(usize, ConnectionConfig), TriggerError> {
        self.configs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| TriggerError::Unknown(name.to_string()))
    }

    /// Marks `name` as running, unless it is (or, for scheduled runs, is
    /// backing off); the guard unmarks it.
    fn claim(
        &self,
        name: &str,
        origin: Origin,
    ) -> Result<(usize, ConnectionConfig, RunningGuard), TriggerError> {
        if self.shutdown.is_cancelled() {
            return Err(TriggerError::ShuttingDown);
        }
        let (index, config) = self.connection(name)?;
        if origin != Origin::Api {
            let backoff_until = self.status(name).and_then(|s| s.backoff_until);
            if backoff_until.is_some_and(|until| unix_now() < until) {
                events::tick_skipped(name, "backing off after consecutive failures");
                return Err(TriggerError::BackingOff(name.to_string()));
            }
        }
        if !self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string())
        {
            if origin == Origin::Schedule {
                events::tick_skipped(name, "the previous run is still in progress");
            }
            return Err(TriggerError::Busy(name.to_string()));
        }
        let guard = RunningGuard {
            running: self.running.clone(),
            name: name.to_string(),
        };
        Ok((index, config, guard))
    }

    fn record(&self, report: &RunReport) {
        let finished = report.started_at + i64::try_from(report.duration_ms / 1000).unwrap_or(0);
        let mut statuses = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        let Some(status) = statuses.get_mut(&report.connection) else {
            return;
        };
        status.last_run_at = Some(finished);
        if report.exit_code == EXIT_RUN_FAILED {
            status.consecutive_failures += 1;
            status.backoff_until = self
                .backoff
                .delay(status.consecutive_failures)
                .map(|d| finished + i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        } else {
            status.consecutive_failures = 0;
            status.backoff_until = None;
            status.last_success_at = Some(finished);
        }
        metrics::gauge!(events::CONSECUTIVE_FAILURES, "connection" => report.connection.clone())
            .set(f64::from(status.consecutive_failures));
        status.last_report = Some(report.clone());
    }

    /// Seconds of backoff left per connection (for metrics and /readyz).
    pub fn backoff_remaining(&self, now: i64) -> Vec<(String, i64)> {
        self.statuses()
            .into_iter()
            .map(|s| {
                let left = s.backoff_until.map_or(0, |until| (until - now).max(0));
                (s.name, left)
            })
            .collect()
    }

    /// True while any run is in progress.
    pub fn any_running(&self) -> bool {
        !self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_after_repeated_failures_and_is_capped() {
        let policy = BackoffPolicy {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(60),
        };
        assert_eq!(policy.delay(0), None);
        assert_eq!(policy.delay(1), None);
        assert_eq!(policy.delay(2), Some(Duration::from_secs(10)));
        assert_eq!(policy.delay(3), Some(Duration::from_secs(20)));
        assert_eq!(policy.delay(4), Some(Duration::from_secs(40)));
        assert_eq!(policy.delay(5), Some(Duration::from_secs(60)));
        assert_eq!(policy.delay(40), Some(Duration::from_secs(60)));
    }
}
