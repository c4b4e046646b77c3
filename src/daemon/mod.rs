//! `penvio-sync daemon`: runs every connection on its schedule, serves the
//! local endpoint, reloads on SIGHUP and stops cleanly on SIGTERM.

pub mod api;
mod registry;
mod scheduler;
pub mod server;
pub mod token;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

pub use registry::{BackoffPolicy, ConnectionStatus, Origin, Registry, TriggerError};
use scheduler::Scheduler;
use server::{ServerState, router};

use crate::audit::AuditLog;
use crate::config::{self, Config};
use crate::notify::{self, Notifier};
use crate::report::exit::{EXIT_CONFIG, EXIT_OK, EXIT_RUN_FAILED};
use crate::state::{RedbStateStore, StateError, StateStore};
use crate::sync::RunMode;
use crate::telemetry;

/// How long a stopping daemon waits for runs in progress to finish their
/// operations in flight before it exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How long a stopping daemon waits for alerts being delivered.
const ALERT_FLUSH_ON_STOP: Duration = Duration::from_secs(10);

/// How often the housekeeping loop runs (metrics upkeep, watchdog).
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(5);

/// Whether the process runs as root.
fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs the daemon until SIGTERM/SIGINT; returns the exit code.
pub async fn run(
    config_path: &Path,
    environment: &'static dyn config::Environment,
    allow_root: bool,
) -> i32 {
    match serve_until_stopped(config_path, environment, allow_root).await {
        Ok(code) | Err(code) => code,
    }
}

/// The daemon's life: start (each step's failure is the exit code), run
/// until a stop signal, stop.
async fn serve_until_stopped(
    config_path: &Path,
    environment: &'static dyn config::Environment,
    allow_root: bool,
) -> Result<i32, i32> {
    let config = load_config(config_path, environment, allow_root)?;
    let store = open_state(&config)?;
    let metrics = match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => Some(handle),
        Err(error) => {
            tracing::warn!(%error, "Metrics are disabled.");
            None
        }
    };
    let shutdown = CancellationToken::new();
    let registry = Arc::new(Registry::new(
        &config,
        store,
        Arc::new(AuditLog::in_state_dir(&config.state_dir)),
        shutdown.clone(),
        BackoffPolicy::default(),
    ));
    let endpoint = start_endpoint(&config, &registry, metrics.clone(), &shutdown).await?;
    let mut scheduler = start_scheduler(&registry, &config).await?;

    tracing::info!(
        listen = %config.listen,
        connections = config.connections.len(),
        state = %config.state_dir.display(),
        "Daemon started."
    );
    let _ = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status("running")]);
    spawn_housekeeping(metrics, shutdown.clone());
    start_alerts(&config);
    spawn_stale_checks(shutdown.clone());
    start_runs_on_start(&registry, &config, None);

    let running = Running {
        config_path,
        environment,
        registry: &registry,
        server: &endpoint.state,
        listen: config.listen,
    };
    let code = wait_for_signals(&running, &mut scheduler).await;
    stop(scheduler, &shutdown, &registry, endpoint.task).await;
    Ok(code)
}

/// Loads the config, starts logging, and refuses root unless allowed.
fn load_config(
    config_path: &Path,
    environment: &'static dyn config::Environment,
    allow_root: bool,
) -> Result<Config, i32> {
    let config = match config::load_with(config_path, environment) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return Err(EXIT_CONFIG);
        }
    };
    telemetry::init(config.log.format, &config.log.level);
    if running_as_root() && !allow_root {
        tracing::error!(
            "Refusing to run as root: run as a dedicated user (the systemd unit uses DynamicUser=yes), or pass --allow-root."
        );
        return Err(EXIT_CONFIG);
    }
    Ok(config)
}

/// Opens the state, which the daemon holds for as long as it runs.
fn open_state(config: &Config) -> Result<Arc<dyn StateStore>, i32> {
    match RedbStateStore::open(&config.state_dir) {
        Ok(store) => Ok(Arc::new(store)),
        Err(error @ StateError::InUse { .. }) => {
            tracing::error!(%error, "Another process holds the state; is a daemon already running?");
            Err(EXIT_RUN_FAILED)
        }
        Err(error) => {
            tracing::error!(%error, "Cannot open the state.");
            Err(EXIT_RUN_FAILED)
        }
    }
}

/// The local endpoint, serving until shutdown.
struct Endpoint {
    /// What its handlers share (the token is replaced on reload).
    state: Arc<ServerState>,
    /// The serving task; it ends after shutdown.
    task: tokio::task::JoinHandle<()>,
}

/// Binds `listen`, sets up the API token and serves the endpoint.
async fn start_endpoint(
    config: &Config,
    registry: &Arc<Registry>,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    shutdown: &CancellationToken,
) -> Result<Endpoint, i32> {
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(listen = %config.listen, %error, "Cannot listen.");
            return Err(EXIT_RUN_FAILED);
        }
    };
    let token = match token::daemon_token(config) {
        Ok(token) => token,
        Err(error) => {
            tracing::error!(%error, "Cannot set up the API token.");
            return Err(EXIT_RUN_FAILED);
        }
    };
    if config.listen_token.is_none() {
        tracing::info!(
            file = %token::token_path(&config.state_dir).display(),
            "The API requires the token in this file (no listen_token is configured)."
        );
    }
    let state = Arc::new(ServerState::new(
        registry.clone(),
        metrics,
        config.listen,
        token,
    ));
    let server_shutdown = shutdown.clone();
    let server_state = state.clone();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router(server_state))
            .with_graceful_shutdown(async move { server_shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "The endpoint stopped.");
        }
    });
    Ok(Endpoint { state, task })
}

/// Starts the scheduler with every connection's schedule installed.
async fn start_scheduler(registry: &Arc<Registry>, config: &Config) -> Result<Scheduler, i32> {
    let mut scheduler = match Scheduler::start().await {
        Ok(scheduler) => scheduler,
        Err(error) => {
            tracing::error!(%error, "Cannot start the scheduler.");
            return Err(EXIT_RUN_FAILED);
        }
    };
    if let Err(error) = scheduler.install(registry, &config.connections).await {
        tracing::error!(%error, "Cannot schedule the connections.");
        return Err(EXIT_RUN_FAILED);
    }
    Ok(scheduler)
}

/// Stops cleanly: no new runs, operations in flight finish (within
/// [`SHUTDOWN_GRACE`]), the endpoint closes, queued alerts are delivered.
async fn stop(
    mut scheduler: Scheduler,
    shutdown: &CancellationToken,
    registry: &Registry,
    server: tokio::task::JoinHandle<()>,
) {
    let _ = sd_notify::notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    tracing::info!("Stopping: no new runs; operations in flight finish.");
    if let Err(error) = scheduler.shutdown().await {
        tracing::warn!(%error, "The scheduler did not stop cleanly.");
    }
    shutdown.cancel();
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while registry.any_running() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if registry.any_running() {
        tracing::warn!(
            "Runs still in progress after the grace period; exiting anyway (the next start converges)."
        );
    }
    let _ = server.await;
    if let Some(notifier) = notify::install(None)
        && !notifier.finish(ALERT_FLUSH_ON_STOP).await
    {
        tracing::warn!("Alerts still being delivered at stop were abandoned.");
    }
    tracing::info!("Daemon stopped.");
}

/// Starts (or, on reload, replaces) the alert dispatcher of `config`. The
/// old one finishes its queued alerts in the background.
fn start_alerts(config: &Config) {
    let notifier = match Notifier::start(config) {
        Ok(notifier) => notifier,
        Err(error) => {
            tracing::error!(error = %error.without_url(), "Alerts are disabled: cannot build the HTTP client.");
            None
        }
    };
    if let Some(old) = notify::install(notifier) {
        tokio::spawn(async move { old.finish(ALERT_FLUSH_ON_STOP).await });
    }
}

/// Asks the installed notifier to look for stale connections, at the pace
/// it asks for (a quarter of the shortest `stale_after`, at most a minute).
fn spawn_stale_checks(shutdown: CancellationToken) {
    tokio::spawn(async move {
        loop {
            let interval = notify::installed()
                .map(|n| n.stale_check_interval())
                .unwrap_or(HOUSEKEEPING_INTERVAL);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(interval) => {
                    if let Some(notifier) = notify::installed() {
                        notifier.check_stale(crate::timestamp::unix_now());
                    }
                }
            }
        }
    });
}

/// Metrics upkeep and the systemd watchdog, from a loop that only runs while
/// the runtime is healthy (a wedged runtime stops the pings, and systemd
/// restarts the service).
fn spawn_housekeeping(
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    shutdown: CancellationToken,
) {
    let watchdog = sd_notify::watchdog_enabled();
    let interval = watchdog
        .map(|usec| (usec / 2).min(HOUSEKEEPING_INTERVAL))
        .unwrap_or(HOUSEKEEPING_INTERVAL);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {
                    if watchdog.is_some() {
                        let _ = sd_notify::notify(&[NotifyState::Watchdog]);
                    }
                    if let Some(handle) = &metrics {
                        handle.run_upkeep();
                    }
                }
            }
        }
    });
}

fn start_runs_on_start(registry: &Arc<Registry>, config: &Config, only: Option<&[String]>) {
    for connection in config
        .connections
        .iter()
        .filter(|c| c.run_on_start && only.is_none_or(|names| names.contains(&c.name)))
    {
        let registry = registry.clone();
        let name = connection.name.clone();
        tokio::spawn(async move {
            let _ = registry
                .trigger(&name, RunMode::Sync, false, false, Origin::Startup)
                .await;
        });
    }
}

/// What a reload needs of the running daemon.
struct Running<'a> {
    config_path: &'a Path,
    environment: &'static dyn config::Environment,
    registry: &'a Arc<Registry>,
    server: &'a Arc<ServerState>,
    /// The address the endpoint is bound to (a changed `listen` needs a restart).
    listen: std::net::SocketAddr,
}

/// Handles SIGHUP (reload) until SIGTERM or SIGINT; returns the exit code.
async fn wait_for_signals(running: &Running<'_>, scheduler: &mut Scheduler) -> i32 {
    let (Ok(mut terminate), Ok(mut interrupt), Ok(mut hangup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("Cannot install signal handlers.");
        return EXIT_RUN_FAILED;
    };
    loop {
        tokio::select! {
            _ = terminate.recv() => return EXIT_OK,
            _ = interrupt.recv() => return EXIT_OK,
            _ = hangup.recv() => reload(running, scheduler).await,
        }
    }
}

async fn reload(running: &Running<'_>, scheduler: &mut Scheduler) {
    let _ = sd_notify::notify(&[NotifyState::Reloading]);
    match config::load_with(running.config_path, running.environment) {
        Ok(config) => {
            reload_token(running, &config);
            start_alerts(&config);
            let registry = running.registry;
            let added = registry.reload(&config);
            match scheduler.install(registry, &config.connections).await {
                Ok(()) => tracing::info!(
                    connections = config.connections.len(),
                    "Reloaded the config."
                ),
                Err(error) => {
                    tracing::error!(%error, "Reloaded the config, but scheduling failed.")
                }
            }
            // New connections start as they would at daemon start.
            start_runs_on_start(registry, &config, Some(&added));
        }
        Err(error) => tracing::error!(
            error = %error,
            "The new config is invalid; keeping the running one."
        ),
    }
    let _ = sd_notify::notify(&[NotifyState::Ready]);
}

/// Takes the reloaded config's token (`listen_token`, else the token file,
/// which an admin may have replaced); a changed `listen` is only reported.
fn reload_token(running: &Running<'_>, config: &Config) {
    match token::daemon_token(config) {
        Ok(token) => running.server.set_token(token),
        Err(error) => {
            tracing::error!(%error, "Cannot read the new API token; keeping the running one.")
        }
    }
    if config.listen != running.listen {
        tracing::warn!(
            listen = %running.listen,
            new_listen = %config.listen,
            "`listen` changed: the endpoint keeps its address until the daemon restarts."
        );
    }
}
