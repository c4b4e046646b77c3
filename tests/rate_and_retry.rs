//! Invariant 6, measured from the emulator's own request log: never more than
//! `requests_per_second` + `burst` requests in any one-second window, and
//! nothing sent before a `Retry-After` has passed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Fixture, TOKEN};
use penvio_sync::emulator::{Emulator, EmulatorConfig, Fault, ScriptedResponse};
use penvio_sync::report::exit::{EXIT_OK, EXIT_PARTIAL};
use serde_json::{Value, json};

async fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig {
        tokens: vec![TOKEN.to_string()],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

fn people(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"id": format!("u{i}"), "email": format!("p{i}@example.com")}))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn no_one_second_window_exceeds_the_rate_plus_burst() {
    let emulator = emulator().await;
    let mut fixture = Fixture::new(&emulator.base_url("rate"));
    fixture.write_directory(&people(150), &[]);
    let config = fixture
        .config_text(TOKEN)
        .replace("requests_per_second: 500", "requests_per_second: 50")
        .replace("burst: 50", "burst: 10")
        .replace("concurrency: 4", "concurrency: 16");
    std::fs::write(fixture.config_path(), &config).unwrap();
    let connection = penvio_sync::config::load_str(
        &config,
        &fixture.config_path(),
        &penvio_sync::config::ProcessEnvironment,
    )
    .unwrap()
    .connections
    .remove(0);
    let report = penvio_sync::sync::run_connection(
        &connection,
        0,
        fixture.store(),
        &penvio_sync::sync::RunOptions::sync_now(),
    )
    .await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert_eq!(emulator.users("rate").len(), 150);

    let times: Vec<_> = emulator.request_log().iter().map(|r| r.received).collect();
    assert_eq!(times.len(), 150);
    let mut worst = 0;
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|t| t.duration_since(*start) < Duration::from_secs(1))
            .count();
        worst = worst.max(in_window);
    }
    // Arrival times carry delivery delay: allow the requests of 40 ms of
    // jitter at 50/s (2) on top of the sender's cap, so a loaded machine
    // cannot fail this; a pacer that let a second burst through would.
    assert!(
        worst <= 60 + 2,
        "{worst} requests in one second (limit 50 + burst 10 + 2 of jitter)"
    );
    let span = times.last().unwrap().duration_since(times[0]);
    assert!(
        span >= Duration::from_millis(2_500),
        "150 requests at 50/s take ≥ 2.8 s, took {span:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_sent_before_retry_after_has_passed() {
    let emulator = emulator().await;
    let mut fixture = Fixture::new(&emulator.base_url("throttle"));
    fixture.write_directory(&people(6), &[]);
    emulator.inject(Fault::Respond(
        ScriptedResponse::new(429, 1)
            .method("POST")
            .retry_after_secs(2),
    ));
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert_eq!(report.target_requests.throttled, 1);
    assert_eq!(emulator.users("throttle").len(), 6);

    // Requests the other workers sent before the client had read the 429
    // arrive within moments of it: at most one in flight per other worker,
    // plus at most one more each that raced the 429 on its way back. Every
    // request sent after the client read the 429 waits the full 2 s.
    let log = emulator.request_log();
    let throttled = log.iter().position(|r| r.status == 429).unwrap();
    let at = log[throttled].received;
    // Counted, not timed: however late the in-flight ones land, a request
    // sent after the 429 was read would add to them.
    let early = log[throttled + 1..]
        .iter()
        .filter(|later| later.received.duration_since(at) < Duration::from_millis(1_990))
        .count();
    assert!(
        early <= 6,
        "{early} requests arrived within 2 s of a 429 with Retry-After: 2 (at most 6 were in flight)"
    );
    assert!(
        log.last().unwrap().received.duration_since(at) >= Duration::from_millis(1_990),
        "the throttled request was retried after Retry-After"
    );
}

/// A throttled request waits as long as Penvio asks, however many 429s
/// that takes: they do not use up the attempts meant for failures.
#[tokio::test(flavor = "multi_thread")]
async fn a_429_storm_longer_than_the_failure_retries_is_waited_out() {
    let emulator = emulator().await;
    let mut fixture = Fixture::new(&emulator.base_url("storm"));
    // One user: all ten 429s land on the same request.
    fixture.write_directory(&people(1), &[]);
    emulator.inject(Fault::Respond(
        ScriptedResponse::new(429, 10)
            .method("POST")
            .retry_after_secs(0),
    ));
    let report = fixture.sync().await;
    assert_eq!(report.exit_code, EXIT_OK, "{report:#?}");
    assert_eq!(report.target_requests.throttled, 10);
    assert_eq!(emulator.users("storm").len(), 1);
}

/// A `Retry-After` past what a request may wait fails that request at once
/// with the reason, instead of stalling the run (and every later one).
#[tokio::test(flavor = "multi_thread")]
async fn an_absurd_retry_after_fails_the_request_at_once() {
    let emulator = emulator().await;
    let mut fixture = Fixture::new(&emulator.base_url("absurd"));
    fixture.write_directory(&people(3), &[]);
    emulator.inject(Fault::Respond(
        ScriptedResponse::new(429, 1)
            .method("POST")
            .retry_after_secs(86_400),
    ));
    let started = std::time::Instant::now();
    let report = fixture.sync().await;
    // Not a speed budget: waiting as asked would take a day; anything short
    // of that means the request gave up instead of waiting.
    assert!(started.elapsed() < Duration::from_secs(3_600));
    assert_eq!(report.exit_code, EXIT_PARTIAL, "{report:#?}");
    assert_eq!(report.failures.len(), 1, "{report:#?}");
    let error = report.failures[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("POST /Users") && error.contains("asks for 86400 s"),
        "{error}"
    );
    assert_eq!(emulator.users("absurd").len(), 2, "the others were created");
}
