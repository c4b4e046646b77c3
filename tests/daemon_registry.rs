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

/// A registry over `fixture`'s config text, with its own store.
fn registry_for(text: &str, fixture: &Fixture) -> (Arc<Registry>, config::Config) {
    let config = config::load_str(text, &fixture.config_path(), &ProcessEnvironment).unwrap();
    let store: Arc<dyn StateStore> = Arc::new(RedbStateStore::open(&config.state_dir).unwrap());
    let registry = Arc::new(Registry::new(
        &config,
        store,
        Arc::new(AuditLog::in_state_dir(&config.state_dir)),
        CancellationToken::new(),
        BackoffPolicy::default(),
    ));
    (registry, config)
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_reuses_a_fresh_directory_and_fetches_again_when_it_is_old() {
    let fixture = Fixture::new("http://127.0.0.1:9/scim/v2/unused");
    fixture.write_directory(&[user("u1", "ada@example.com", "Ada", "L")], &[]);
    let text = fixture.config_text(TOKEN);
    let (registry, _) = registry_for(&text, &fixture);
    let explained = registry
        .explain("test", "ada@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(explained.unwrap().contains("ada@example.com"));

    // A user added since: the directory fetched a moment ago is reused
    // (default explain_max_age is minutes), so it is not seen yet...
    fixture.write_directory(
        &[
            user("u1", "ada@example.com", "Ada", "L"),
            user("u2", "bob@example.com", "Bob", "B"),
        ],
        &[],
    );
    let cached = registry
        .explain("test", "bob@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cached, None, "answered from the reused directory");

    // ...and with explain_max_age: 0s every explain fetches afresh.
    let fresh = format!("explain_max_age: 0s\n{text}");
    let config = config::load_str(&fresh, &fixture.config_path(), &ProcessEnvironment).unwrap();
    registry.reload(&config);
    let refetched = registry
        .explain("test", "bob@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(refetched.unwrap().contains("bob@example.com"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_concurrent_explain_of_a_connection_is_refused() {
    // A SCIM source that accepts the connection and answers nothing until
    // the test lets it go: the first explain stays in its fetch.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut fixture = Fixture::new("http://127.0.0.1:9/scim/v2/unused");
    fixture.source_block = Some(format!(
        "    source: {{type: scim, base_url: \"http://127.0.0.1:{port}/scim/v2\", token: t, timeout: 60s}}\n"
    ));
    let (registry, _) = registry_for(&fixture.config_text(TOKEN), &fixture);
    let first = {
        let registry = registry.clone();
        tokio::spawn(async move { registry.explain("test", "ada@example.com").await })
    };
    let (held, _) = listener.accept().await.unwrap();

    let second = registry.explain("test", "ada@example.com").await;
    assert_eq!(
        second.unwrap_err(),
        TriggerError::ExplainInProgress("test".into())
    );

    // The source hangs up: the first explain ends (with the source's error)
    // and the next one may run.
    drop(held);
    drop(listener);
    let first = first.await.unwrap().unwrap();
    assert!(first.is_err(), "the source failed: {first:?}");
    let third = registry.explain("test", "ada@example.com").await;
    assert!(
        third.unwrap().is_err(),
        "ran (and failed to fetch) instead of being refused"
    );
}
