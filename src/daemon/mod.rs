//! `penvio-sync daemon`: runs every connection on its schedule, serves the
//! local endpoint, reloads on SIGHUP and stops cleanly on SIGTERM.

mod registry;
mod scheduler;
pub mod server;

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
use crate::state::{RedbStateStore, StateError, StateStore};
use crate::sync::{EXIT_CONFIG, EXIT_OK, EXIT_RUN_FAILED, RunMode};
use crate::telemetry;

/// How long a stopping daemon waits for runs in progress to finish their
/// operations in flight before it exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

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
    let config = match config::load_with(config_path, environment) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return EXIT_CONFIG;
        }
    };
    telemetry::init(config.log.format, &config.log.level);
    if running_as_root() && !allow_root {
        tracing::error!(
            "Refusing to run as root: run as a dedicated user (the systemd unit uses DynamicUser=yes), or pass --allow-root."
        );
        return EXIT_CONFIG;
    }
    let store: Arc<dyn StateStore> = match RedbStateStore::open(&config.state_dir) {
        Ok(store) => Arc::new(store),
        Err(error @ StateError::InUse { .. }) => {
            tracing::error!(%error, "Another process holds the state; is a daemon already running?");
            return EXIT_RUN_FAILED;
        }
        Err(error) => {
            tracing::error!(%error, "Cannot open the state.");
            return EXIT_RUN_FAILED;
        }
    };
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

    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(listen = %config.listen, %error, "Cannot listen.");
            return EXIT_RUN_FAILED;
        }
    };
    let state = Arc::new(ServerState {
        registry: registry.clone(),
        metrics: metrics.clone(),
        token: config.listen_token.clone(),
    });
    let server_shutdown = shutdown.clone();
    let server = tokio::spawn(async move {
        let served = axum::serve(listener, router(state))
            .with_graceful_shutdown(async move { server_shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "The endpoint stopped.");
        }
    });

    let mut scheduler = match Scheduler::start().await {
        Ok(scheduler) => scheduler,
        Err(error) => {
            tracing::error!(%error, "Cannot start the scheduler.");
            return EXIT_RUN_FAILED;
        }
    };
    if let Err(error) = scheduler.install(&registry, &config.connections).await {
        tracing::error!(%error, "Cannot schedule the connections.");
        return EXIT_RUN_FAILED;
    }

    tracing::info!(
        listen = %config.listen,
        connections = config.connections.len(),
        state = %config.state_dir.display(),
        "Daemon started."
    );
    let _ = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status("running")]);
    spawn_housekeeping(metrics, shutdown.clone());
    start_runs_on_start(&registry, &config, None);

    let code = wait_for_signals(config_path, environment, &registry, &mut scheduler).await;

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
    tracing::info!("Daemon stopped.");
    code
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

/// Handles SIGHUP (reload) until SIGTERM or SIGINT; returns the exit code.
async fn wait_for_signals(
    config_path: &Path,
    environment: &'static dyn config::Environment,
    registry: &Arc<Registry>,
    scheduler: &mut Scheduler,
) -> i32 {
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
            _ = hangup.recv() => reload(config_path, environment, registry, scheduler).await,
        }
    }
}

async fn reload(
    config_path: &Path,
    environment: &'static dyn config::Environment,
    registry: &Arc<Registry>,
    scheduler: &mut Scheduler,
) {
    let _ = sd_notify::notify(&[NotifyState::Reloading]);
    match config::load_with(config_path, environment) {
        Ok(config) => {
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
