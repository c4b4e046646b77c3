//! Alerts (issue 19): tell a person when a sync fails, is held back, or goes
//! stale, through webhooks, Slack, Teams or e-mail.
//!
//! A run hands its facts over in one place ([`run_finished`], called where
//! the report's exit code is final) with a non-blocking `try_send` onto a
//! bounded queue; a background dispatcher decides what to send
//! ([`dedup`]: one alert per channel, connection and event until it
//! recovers), keeps that state in `state_dir`, and delivers with bounded
//! retries ([`deliver`]). A full queue drops work and counts it, so a dead
//! receiver never delays, blocks or fails a run.

pub mod dedup;
pub mod deliver;
pub mod delivery_events;
mod email;
pub mod event;
mod failure;
pub mod payload;
pub mod sign;
pub mod stale;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};

use crate::config::{Config, NotificationConfig};
use crate::report::RunReport;

use dedup::{Decision, DedupState};
use deliver::Deliverer;
use event::{Alert, RunFacts};

/// Work waiting for the dispatcher; beyond this, new work is dropped.
const QUEUE_CAPACITY: usize = 256;
/// Alerts delivered at once.
const MAX_CONCURRENT_DELIVERIES: usize = 4;
/// Longest pause between stale checks in the daemon.
const MAX_STALE_CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// Shortest pause between stale checks.
const MIN_STALE_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How long the CLI waits for alerts of its runs before exiting.
pub const CLI_FLUSH_TIMEOUT: Duration = Duration::from_secs(20);

/// The installed notifier, if the config has `notifications:`.
static GLOBAL: Mutex<Option<Arc<Notifier>>> = Mutex::new(None);

/// What the dispatcher is asked to do.
enum Command {
    /// A run finished.
    Run(RunFacts),
    /// Look for stale connections at this unix time.
    StaleCheck(i64),
}

/// The alerting of one config: a queue into a background dispatcher.
pub struct Notifier {
    sender: Mutex<Option<mpsc::Sender<Command>>>,
    dispatcher: Mutex<Option<JoinHandle<()>>>,
    stale_check_interval: Duration,
}

impl Notifier {
    /// Starts the dispatcher for `config` (inside a tokio runtime); `None`
    /// when no notifications are configured.
    pub fn start(config: &Config) -> Result<Option<Arc<Self>>, reqwest::Error> {
        if config.notifications.is_empty() {
            return Ok(None);
        }
        let now = crate::timestamp::unix_now();
        let state_path = DedupState::path(&config.state_dir);
        let mut state = DedupState::load(&state_path);
        let mut watched_new = false;
        let connections: Vec<(String, Duration)> = config
            .connections
            .iter()
            .map(|c| {
                watched_new |= state.watch(&c.name, now);
                (c.name.clone(), stale::default_stale_after(&c.schedule, now))
            })
            .collect();
        let dispatcher = Dispatcher {
            channels: Arc::new(config.notifications.clone()),
            connections,
            state,
            state_path,
            watched_new,
            deliverer: Deliverer::new()?,
            in_flight: JoinSet::new(),
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT_DELIVERIES)),
        };
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let handle = tokio::spawn(dispatcher.run(receiver));
        Ok(Some(Arc::new(Notifier {
            sender: Mutex::new(Some(sender)),
            dispatcher: Mutex::new(Some(handle)),
            stale_check_interval: stale_check_interval(&config.notifications),
        })))
    }

    /// How often the daemon should look for stale connections.
    pub fn stale_check_interval(&self) -> Duration {
        self.stale_check_interval
    }

    fn submit(&self, command: Command, what: &str) {
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = sender.as_ref()
            && sender.try_send(command).is_err()
        {
            delivery_events::dropped(what);
        }
    }

    /// Hands a finished run over (never waits).
    pub fn observe_run(&self, report: &RunReport) {
        if !report.dry_run {
            self.submit(Command::Run(RunFacts::from_report(report)), "run");
        }
    }

    /// Asks for a stale check at `now` (never waits).
    pub fn check_stale(&self, now: i64) {
        self.submit(Command::StaleCheck(now), "stale check");
    }

    /// Closes the queue and waits up to `timeout` for queued and in-flight
    /// alerts; returns whether they all finished.
    pub async fn finish(&self, timeout: Duration) -> bool {
        drop(self.sender.lock().unwrap_or_else(|e| e.into_inner()).take());
        let handle = self
            .dispatcher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match handle {
            Some(handle) => tokio::time::timeout(timeout, handle).await.is_ok(),
            None => true,
        }
    }
}

/// A quarter of the shortest `stale_after`, within 1s..=60s, so a stale
/// connection is reported within a quarter of its threshold.
fn stale_check_interval(channels: &[NotificationConfig]) -> Duration {
    channels
        .iter()
        .filter_map(|c| c.stale_after)
        .map(|after| after / 4)
        .min()
        .unwrap_or(MAX_STALE_CHECK_INTERVAL)
        .clamp(MIN_STALE_CHECK_INTERVAL, MAX_STALE_CHECK_INTERVAL)
}

/// Makes `notifier` the one runs report to; returns the previous one.
pub fn install(notifier: Option<Arc<Notifier>>) -> Option<Arc<Notifier>> {
    std::mem::replace(
        &mut *GLOBAL.lock().unwrap_or_else(|e| e.into_inner()),
        notifier,
    )
}

/// The installed notifier.
pub fn installed() -> Option<Arc<Notifier>> {
    GLOBAL.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// A run's report is final: hand it to the installed notifier, if any.
pub fn run_finished(report: &RunReport) {
    if let Some(notifier) = installed() {
        notifier.observe_run(report);
    }
}

/// Starts alerting for a CLI command run outside the daemon; call
/// [`finish_cli`] before exiting. A notifier that cannot start is logged and
/// skipped: alerts never fail a run.
pub fn start_cli(config: &Config) {
    match Notifier::start(config) {
        Ok(notifier) => {
            install(notifier);
        }
        Err(error) => {
            tracing::warn!(error = %error.without_url(), "Alerts are disabled: cannot build the HTTP client.")
        }
    }
}

/// Waits (bounded by [`CLI_FLUSH_TIMEOUT`]) for the alerts of this process.
pub async fn finish_cli() {
    if let Some(notifier) = install(None)
        && !notifier.finish(CLI_FLUSH_TIMEOUT).await
    {
        tracing::warn!(
            timeout_secs = CLI_FLUSH_TIMEOUT.as_secs(),
            "Some alerts were still being delivered at exit and were abandoned."
        );
    }
}

/// The result of `notify test` for one channel.
#[derive(Debug)]
pub struct TestResult {
    /// The channel's name.
    pub name: String,
    /// The channel's type.
    pub kind: &'static str,
    /// Attempts made, or the error of the last one.
    pub result: Result<u32, String>,
}

/// Sends a test alert through each channel (or only `name`), one after the
/// other, waiting for each delivery.
pub async fn send_test(
    config: &Config,
    name: Option<&str>,
) -> Result<Vec<TestResult>, reqwest::Error> {
    let deliverer = Deliverer::new()?;
    let alert = Alert::test(crate::timestamp::unix_now());
    let mut results = Vec::new();
    for channel in config
        .notifications
        .iter()
        .filter(|c| name.is_none_or(|name| c.name == name))
    {
        let result = deliverer
            .deliver(channel, &alert)
            .await
            .map_err(|(error, _)| error.to_string());
        results.push(TestResult {
            name: channel.name.clone(),
            kind: channel.channel.kind(),
            result,
        });
    }
    Ok(results)
}

/// The background side: dedup decisions, state, deliveries.
struct Dispatcher {
    channels: Arc<Vec<NotificationConfig>>,
    connections: Vec<(String, Duration)>,
    state: DedupState,
    state_path: PathBuf,
    /// Connections were added to the stale baselines at start.
    watched_new: bool,
    deliverer: Deliverer,
    in_flight: JoinSet<()>,
    permits: Arc<Semaphore>,
}

impl Dispatcher {
    async fn run(mut self, mut receiver: mpsc::Receiver<Command>) {
        // Keep the stale baselines of new connections (only then: a CLI
        // whose runs the daemon performs must not rewrite its file). Before
        // a first run the state directory may not exist yet (the store
        // creates it, with its own permissions): the first decision saves.
        let directory_exists = self.state_path.parent().is_some_and(Path::is_dir);
        if self.watched_new && directory_exists {
            self.save();
        }
        while let Some(command) = receiver.recv().await {
            let alerts = match command {
                Command::Run(facts) => self.on_run(&facts),
                Command::StaleCheck(now) => self.on_stale_check(now),
            };
            if !alerts.is_empty() {
                self.save();
            }
            for (channel, alert) in alerts {
                self.spawn_delivery(channel, alert).await;
            }
        }
        while self.in_flight.join_next().await.is_some() {}
    }

    fn on_run(&mut self, facts: &RunFacts) -> Vec<(usize, Alert)> {
        let Some(result) = facts.classify() else {
            return Vec::new();
        };
        let decisions: Vec<Decision> =
            self.state
                .on_run(&self.channels, &facts.connection, result, facts.finished_at);
        if result.is_ok() {
            // The last success moved: keep it even when nothing is sent.
            self.save();
        }
        decisions
            .into_iter()
            .map(|d| (d.channel, Alert::for_run(d.event, facts)))
            .collect()
    }

    fn on_stale_check(&mut self, now: i64) -> Vec<(usize, Alert)> {
        let due = self
            .state
            .on_stale_check(&self.channels, &self.connections, now);
        due.into_iter()
            .map(|(decision, connection)| {
                let last = self.state.last_success.get(&connection).copied();
                (decision.channel, Alert::stale(&connection, last, now))
            })
            .collect()
    }

    fn save(&self) {
        if let Err(error) = self.state.save(&self.state_path) {
            delivery_events::state_not_saved(&error);
        }
    }

    /// Waits for a delivery slot (so the queue, not memory, absorbs a
    /// backlog), then delivers in a task of its own.
    async fn spawn_delivery(&mut self, channel: usize, alert: Alert) {
        while self.in_flight.try_join_next().is_some() {}
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return;
        };
        let channels = self.channels.clone();
        let deliverer = self.deliverer.clone();
        self.in_flight.spawn(async move {
            let _permit = permit;
            let Some(channel) = channels.get(channel) else {
                return;
            };
            match deliverer.deliver(channel, &alert).await {
                Ok(attempts) => delivery_events::delivered(&channel.name, alert.event, attempts),
                Err((error, attempts)) => delivery_events::delivery_failed(
                    &channel.name,
                    alert.event,
                    attempts,
                    &error.to_string(),
                ),
            }
        });
    }
}
