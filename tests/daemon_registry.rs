//! The daemon's run registry in-process: one run per connection at a time,
//! whatever starts it, and backoff that ends on success.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Fixture, TOKEN, user};
use penvio_sync::audit::AuditLog;
use penvio_sync::config::{self, ProcessEnvironment};
use penvio_sync::daemon::{BackoffPolicy, Origin, Registry, TriggerError};
use penvio_sync::emulator::{Emulator, EmulatorConfig, Fault};
use penvio_sync::state::{RedbStateStore, StateStore};
use penvio_sync::sync::RunMode;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_never_runs_twice_at_once_and_backoff_ends_on_success() {
    let emulator = Emulator::start(EmulatorConfig {
        tokens: vec![TOKEN.to_string()],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    // Every request takes a second: the run lasts at least two (8 users, 4
    // at a time), far longer than the few microseconds between seeing it
    // run and the triggers below.
    emulator.inject(Fault::Latency(Some(Duration::from_secs(1))));
    let fixture = Fixture::new(&emulator.base_url("registry"));
    fixture.write_directory(
        &(0..8)
            .map(|i| user(&format!("u{i}"), &format!("u{i}@example.com"), "G", "F"))
            .collect::<Vec<_>>(),
        &[],
    );
    let text = fixture.config_text(TOKEN);
    let config = config::load_str(&text, &fixture.config_path(), &ProcessEnvironment).unwrap();
    let store: Arc<dyn StateStore> = Arc::new(RedbStateStore::open(&config.state_dir).unwrap());
    let registry = Arc::new(Registry::new(
        &config,
        store,
        Arc::new(AuditLog::in_state_dir(&config.state_dir)),
        CancellationToken::new(),
        BackoffPolicy::default(),
    ));

    let first = {
        let registry = registry.clone();
        tokio::spawn(async move {
            registry
                .trigger("test", RunMode::Sync, false, false, Origin::Api)
                .await
        })
    };
    // Wait for the run to be under way instead of sleeping a guessed time;
    // it has at least two seconds of requests ahead of it then.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !registry.status("test").unwrap().running {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for origin in [Origin::Schedule, Origin::Api, Origin::Startup] {
        let second = registry
            .trigger(
                "test",
                RunMode::Reconcile { adopt: false },
                false,
                false,
                origin,
            )
            .await;
        assert_eq!(second.unwrap_err(), TriggerError::Busy("test".into()));
    }
    let report = first.await.unwrap().unwrap();
    assert_eq!(report.exit_code, 0, "{report:#?}");
    assert_eq!(emulator.users("registry").len(), 8);
    let status = registry.status("test").unwrap();
    assert!(!status.running);
    assert!(status.last_success_at.is_some());
    assert_eq!(status.last_report.unwrap().run_id, report.run_id);

    // Unknown names are refused.
    let unknown = registry
        .trigger("nope", RunMode::Sync, false, false, Origin::Api)
        .await;
    assert_eq!(unknown.unwrap_err(), TriggerError::Unknown("nope".into()));
}
