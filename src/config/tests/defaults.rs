//! Documented defaults, and the settings read beside them.

use super::*;

#[test]
fn minimal_config_gets_documented_defaults() {
    let config = load(&connection_with(""), &env()).unwrap();
    assert_eq!(config.state_dir, PathBuf::from("state"));
    assert_eq!(config.log.format, LogFormat::Text);
    assert_eq!(config.log.level, "info");
    assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
    assert!(config.listen_token.is_none());
    let connection = &config.connections[0];
    assert_eq!(connection.schedule, DEFAULT_SCHEDULE);
    assert!(connection.scope.user_groups.is_empty());
    assert_eq!(connection.scope.team_groups.len(), 1);
    assert!(connection.scope.team_groups[0].matches("any group"));
    assert_eq!(connection.mapping, MappingConfig::default());
    let target = &connection.target;
    assert_eq!(target.url.as_str(), "https://penvio.example/scim/v2/org");
    assert_eq!(target.requests_per_second.get(), 10);
    assert_eq!(target.burst.get(), 10);
    assert_eq!(target.concurrency.get(), 4);
    assert_eq!(target.member_patch_size.get(), 100);
    assert_eq!(target.timeout, Duration::from_secs(30));
    let policy = &connection.policy;
    assert_eq!(policy.on_user_removed, OnUserRemoved::Deactivate);
    assert_eq!(policy.delete_deactivated_after, None);
    assert_eq!(policy.max_deactivations, Threshold::Share(0.10));
    assert_eq!(policy.max_deletions, Threshold::Share(0.05));
}

#[test]
fn burst_defaults_to_requests_per_second() {
    let text = source_target(
        "{type: file, path: d.yaml}",
        "{url: https://p.example/s, token: t, requests_per_second: 25}",
    );
    let config = load(&text, &env()).unwrap();
    assert_eq!(config.connections[0].target.burst.get(), 25);
}

#[test]
fn scim_source_requests_per_second_defaults_to_20_and_is_checked() {
    let target = "{url: https://p.example/s, token: t}";
    let scim = |extra: &str| {
        let text = source_target(
            &format!("{{type: scim, base_url: https://idp.example/scim, token: t{extra}}}"),
            target,
        );
        load(&text, &env()).map(|config| match &config.connections[0].source {
            SourceConfig::Scim(scim) => scim.requests_per_second.get(),
            other => panic!("expected a scim source, got {other:?}"),
        })
    };
    assert_eq!(scim("").unwrap(), 20);
    assert_eq!(scim(", requests_per_second: 250").unwrap(), 250);
    for (value, problem) in [
        ("0", "must be between 1 and 1000"),
        ("-1", "must be between 1 and 1000"),
        ("1001", "must be between 1 and 1000"),
        ("0.5", "must be a whole number"),
        ("lots", "must be a whole number"),
    ] {
        let error = scim(&format!(", requests_per_second: {value}"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!(
                "{CONFIG_PATH}: connections[0].source.requests_per_second: {problem}"
            )),
            "{value}: {error}"
        );
    }
}

#[test]
fn state_dir_comes_from_systemd_or_the_config() {
    let text = connection_with("");
    let config = load(
        &text,
        &env().with_var("STATE_DIRECTORY", "/var/lib/a:/var/lib/b"),
    )
    .unwrap();
    assert_eq!(config.state_dir, PathBuf::from("/var/lib/a"));

    let text = format!("state_dir: snapshots\n{}", connection_with(""));
    let config = load(&text, &env().with_var("STATE_DIRECTORY", "/var/lib/a")).unwrap();
    assert_eq!(
        config.state_dir,
        PathBuf::from("/etc/penvio-sync/snapshots")
    );
}

#[test]
fn without_state_dir_the_cli_finds_the_packaged_services_state() {
    let text = connection_with("");
    let packaged = env().with_dir("/var/lib/penvio-sync");
    let config = load(&text, &packaged).unwrap();
    assert_eq!(config.state_dir, PathBuf::from("/var/lib/penvio-sync"));
    assert!(!config.state_dir_configured);
    // systemd's $STATE_DIRECTORY still comes first; ./state is the last resort.
    let config = load(
        &text,
        &packaged.clone().with_var("STATE_DIRECTORY", "/srv/s"),
    )
    .unwrap();
    assert_eq!(config.state_dir, PathBuf::from("/srv/s"));
    let config = load(&text, &env()).unwrap();
    assert_eq!(config.state_dir, PathBuf::from("state"));
    let text = format!("state_dir: /srv/x\n{}", connection_with(""));
    assert!(load(&text, &packaged).unwrap().state_dir_configured);
}

#[test]
fn explain_max_age_and_target_proxy_are_read_and_checked() {
    let config = load(&connection_with(""), &env()).unwrap();
    assert_eq!(config.explain_max_age, Duration::from_secs(300));
    assert!(config.connections[0].target.proxy.is_none());

    let file = "{type: file, path: d.yaml}";
    let text = format!(
        "explain_max_age: 30s\n{}",
        source_target(
            file,
            "{url: https://p.example/s, token: t, proxy: \"http://user:pw@proxy.corp:3128\"}"
        )
    );
    let config = load(&text, &env()).unwrap();
    assert_eq!(config.explain_max_age, Duration::from_secs(30));
    let proxy = config.connections[0].target.proxy.clone().unwrap();
    assert_eq!(proxy.expose(), "http://user:pw@proxy.corp:3128/");
    // Its credentials never show.
    assert!(!format!("{config:?}").contains("pw@"));

    let problem = single_problem(
        &source_target(
            file,
            "{url: https://p.example/s, token: t, proxy: \"socks5://x:1\"}",
        ),
        &env(),
    );
    assert_eq!(problem.key_path, "connections[0].target.proxy");
    let problem = single_problem(
        &format!("explain_max_age: soon\n{}", connection_with("")),
        &env(),
    );
    assert_eq!(problem.key_path, "explain_max_age");
}

#[test]
fn cron_schedules_are_normalized_to_six_fields() {
    let cases = [
        ("*/15 * * * *", Some("0 */15 * * * *")),
        ("0   6 * * 1-5", Some("0 0 6 * * 1-5")),
        ("30 0 6 * * *", Some("30 0 6 * * *")),
        ("0 0 6 * * MON", Some("0 0 6 * * MON")),
        ("61 * * * *", None),
        ("* * * *", None),
        ("0 0 0 1 1 * 2030", None),
        ("@hourly", None),
        ("not a cron at all", None),
    ];
    for (input, expected) in cases {
        assert_eq!(
            validate::normalize_schedule(input).ok().as_deref(),
            expected,
            "{input}"
        );
    }
    let config = load(&connection_with("    schedule: \"5 4 * * *\"\n"), &env()).unwrap();
    assert_eq!(config.connections[0].schedule, "0 5 4 * * *");
    let problem = single_problem(&connection_with("    schedule: \"61 * * * *\"\n"), &env());
    assert_eq!(problem.key_path, "connections[0].schedule");
    assert!(
        problem
            .message
            .starts_with("is not a valid cron expression"),
        "{}",
        problem.message
    );
}

#[test]
fn thresholds_accept_counts_and_shares() {
    let text = connection_with("    policy: {max_deactivations: 50, max_deletions: \"2.5%\"}\n");
    let config = load(&text, &env()).unwrap();
    let policy = &config.connections[0].policy;
    assert_eq!(policy.max_deactivations, Threshold::Count(50));
    assert_eq!(policy.max_deletions, Threshold::Share(0.025));
    assert_eq!(policy.max_deactivations.limit(10), 50);
    assert_eq!(policy.max_deletions.limit(200), 5);
    assert_eq!(policy.max_deletions.limit(201), 6);
}

#[test]
fn log_settings_are_read() {
    let text = format!(
        "log: {{format: json, level: \"penvio_sync=debug,info\"}}\nlisten: \"[::1]:9000\"\n{}",
        connection_with("")
    );
    let config = load(&text, &env()).unwrap();
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.log.level, "penvio_sync=debug,info");
    assert_eq!(config.listen.to_string(), "[::1]:9000");
}

#[test]
fn daemon_keys_have_defaults_and_can_be_turned_off() {
    let config = load(&connection_with(""), &env()).unwrap();
    let connection = &config.connections[0];
    assert!(connection.run_on_start);
    assert_eq!(
        connection.reconcile_schedule.as_deref(),
        Some(DEFAULT_RECONCILE_SCHEDULE)
    );

    let config = load(
        &connection_with("    run_on_start: false\n    reconcile_schedule: never\n"),
        &env(),
    )
    .unwrap();
    assert!(!config.connections[0].run_on_start);
    assert_eq!(config.connections[0].reconcile_schedule, None);

    let config = load(
        &connection_with("    reconcile_schedule: \"0 4 * * 0\"\n"),
        &env(),
    )
    .unwrap();
    assert_eq!(
        config.connections[0].reconcile_schedule.as_deref(),
        Some("0 0 4 * * 0")
    );

    let problem = single_problem(&connection_with("    run_on_start: maybe\n"), &env());
    assert_eq!(problem.key_path, "connections[0].run_on_start");
    let problem = single_problem(
        &connection_with("    reconcile_schedule: \"61 * * * *\"\n"),
        &env(),
    );
    assert_eq!(problem.key_path, "connections[0].reconcile_schedule");
}

#[test]
fn a_non_loopback_listen_needs_a_token() {
    let text = format!("listen: 0.0.0.0:9464\n{}", connection_with(""));
    let problem = single_problem(&text, &env());
    assert_eq!(problem.key_path, "listen");
    assert!(
        problem.message.contains("listen_token"),
        "{}",
        problem.message
    );
    let text = format!(
        "listen: 0.0.0.0:9464\nlisten_token: s3cret\n{}",
        connection_with("")
    );
    assert!(load(&text, &env()).is_ok());
}

#[test]
fn member_guard_and_username_reuse_settings_are_read() {
    let config = load(
        &connection_with("    policy: {max_member_removals: 3, on_username_reuse: Relink}\n"),
        &env(),
    )
    .unwrap();
    let policy = &config.connections[0].policy;
    assert_eq!(policy.max_member_removals, Threshold::Count(3));
    assert_eq!(policy.on_username_reuse, OnUserNameReuse::Relink);
}
