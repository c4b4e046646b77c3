//! Problems: each names its key path and position, all are reported at once.

use super::*;

#[test]
fn each_problem_names_its_key_path() {
    let file = "{type: file, path: d.yaml}";
    let target = "{url: https://p.example/s, token: t}";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            source_target(file, "{url: http://penvio.io/scim, token: t}"),
            "connections[0].target.url",
            "must be https (http is allowed only for loopback addresses)",
        ),
        (
            source_target(file, "{url: ftp://penvio.io/scim, token: t}"),
            "connections[0].target.url",
            "must be an https:// URL, not ftp:",
        ),
        (
            source_target(file, "{url: \"https://p.example/s?org=1\", token: t}"),
            "connections[0].target.url",
            "must not have a query (?…) or fragment (#…)",
        ),
        (
            source_target(file, "{url: \"https://u:pw@p.example/s\", token: t}"),
            "connections[0].target.url",
            "must not contain a user name or password (use the token setting)",
        ),
        (
            source_target(file, "{url: not a url, token: t}"),
            "connections[0].target.url",
            "is not a valid URL (relative URL without a base)",
        ),
        (
            source_target(file, "{token: t}"),
            "connections[0].target.url",
            "is required",
        ),
        (
            source_target(file, "{url: https://p.example/s}"),
            "connections[0].target.token",
            "is required (set token, or token_file to a file holding it)",
        ),
        (
            source_target(file, "{url: https://p.example/s, token: t, member_patch_size: 1001}"),
            "connections[0].target.member_patch_size",
            "must be between 1 and 1000",
        ),
        (
            source_target(file, "{url: https://p.example/s, token: t, concurrency: 0}"),
            "connections[0].target.concurrency",
            "must be at least 1",
        ),
        (
            source_target(file, "{url: https://p.example/s, token: t, burst: many}"),
            "connections[0].target.burst",
            "must be a whole number",
        ),
        (
            source_target(file, "{url: https://p.example/s, token: t, timeout: 30}"),
            "connections[0].target.timeout",
            "must be a duration with a unit, like \"30s\", \"1h\" or \"30d\"",
        ),
        (
            source_target(file, "{url: https://p.example/s, token: t, timeout: 0s}"),
            "connections[0].target.timeout",
            "must be longer than zero",
        ),
        (
            source_target("{type: keycloak, domain: x.example.com}", target),
            "connections[0].source.type",
            "unknown source type \"keycloak\" (expected one of: scim, file, okta, entra, onelogin, jumpcloud, pingone, google, ldap)",
        ),
        (
            source_target("{path: d.yaml}", target),
            "connections[0].source.type",
            "is required",
        ),
        (
            source_target("[file]", target),
            "connections[0].source",
            "must be a mapping of keys, not a list",
        ),
        (
            source_target("{type: file}", target),
            "connections[0].source.path",
            "is required (the directory file, relative to the config file)",
        ),
        (
            source_target("{type: file, path: a.yaml, base_url: \"file:///b.yaml\"}", target),
            "connections[0].source.path",
            "set either path or base_url, not both",
        ),
        (
            source_target("{type: file, base_url: \"https://x.example/d.yaml\"}", target),
            "connections[0].source.base_url",
            "must be a file:///absolute/path URL (or use path: instead)",
        ),
        (
            source_target("{type: scim, token: t}", target),
            "connections[0].source.base_url",
            "is required",
        ),
        (
            source_target("{type: scim, base_url: https://idp.example/scim, token: t, page_size: 0}", target),
            "connections[0].source.page_size",
            "must be between 1 and 1000",
        ),
        (
            connection_with("    schedule: \"*/15 * * *\"\n"),
            "connections[0].schedule",
            "must be a cron expression with 5 fields (minute hour day month weekday) or 6 (seconds first)",
        ),
        (
            connection_with("    policy: {max_deactivations: lots}\n"),
            "connections[0].policy.max_deactivations",
            "must be a count or a share like \"10%\"",
        ),
        (
            connection_with("    policy: {max_deletions: \"150%\"}\n"),
            "connections[0].policy.max_deletions",
            "must be a share between 0% and 100%",
        ),
        (
            connection_with("    policy: {max_deletions: -3}\n"),
            "connections[0].policy.max_deletions",
            "must be a count or a share like \"10%\"",
        ),
        (
            connection_with("    policy: {max_member_removals: half}\n"),
            "connections[0].policy.max_member_removals",
            "must be a count or a share like \"10%\"",
        ),
        (
            connection_with("    policy: {on_username_reuse: merge}\n"),
            "connections[0].policy.on_username_reuse",
            "must be one of: refuse, relink",
        ),
        (
            connection_with("    policy: {on_user_removed: purge}\n"),
            "connections[0].policy.on_user_removed",
            "must be one of: deactivate, delete",
        ),
        (
            connection_with("    policy: {on_user_removed: delete, delete_deactivated_after: 30d}\n"),
            "connections[0].policy.delete_deactivated_after",
            "applies only when on_user_removed is \"deactivate\" (removed users are already deleted at once)",
        ),
        (
            connection_with("    policy: {delete_deactivated_after: soon}\n"),
            "connections[0].policy.delete_deactivated_after",
            "must be a duration with a unit, like \"30s\", \"1h\" or \"30d\"",
        ),
        (
            connection_with("    mapping: {displayName: \"{given_name} {surname}\"}\n"),
            "connections[0].mapping.displayName",
            "unknown field \"{surname}\" (expected one of: id, email, given_name, family_name, display_name, or attributes.<name>)",
        ),
        (
            connection_with("    mapping: {userName: \"{email\"}\n"),
            "connections[0].mapping.userName",
            "has an unclosed \"{\" (write \"{{\" for a literal brace)",
        ),
        (
            connection_with("    scope: {team_groups: [\"eng-*\", \"bad [\"]}\n"),
            "connections[0].scope.team_groups[1]",
            "is not a valid pattern (invalid range pattern); use [[] and []] for literal brackets",
        ),
        (
            connection_with("    scope: {user_groups: Engineering}\n"),
            "connections[0].scope.user_groups",
            "must be a list, not a string",
        ),
        (
            "connections:\n  - name: Okta_Prod\n    source: {type: file, path: d.yaml}\n    target: {url: https://p.example/s, token: t}\n".to_owned(),
            "connections[0].name",
            "\"Okta_Prod\" may contain only lowercase letters, digits and \"-\"",
        ),
        (
            "connections:\n  - source: {type: file, path: d.yaml}\n    target: {url: https://p.example/s, token: t}\n".to_owned(),
            "connections[0].name",
            "is required",
        ),
        (
            "connections: []\n".to_owned(),
            "connections",
            "must list at least one connection",
        ),
        ("log: {}\n".to_owned(), "connections", "is required"),
        (
            format!("log: {{format: xml}}\n{}", connection_with("")),
            "log.format",
            "must be one of: text, json",
        ),
        (
            format!("log: {{level: off}}\n{}", connection_with("")),
            "log.level",
            "must be a string (quote it: YAML reads this value as a boolean)",
        ),
        (
            format!("listen: localhost\n{}", connection_with("")),
            "listen",
            "must be an IP address and port, like 127.0.0.1:9464 or [::1]:9464",
        ),
        (
            source_target("5", target),
            "connections[0].source",
            "must be a mapping of keys, not an integer",
        ),
        (
            "- a\n- b\n".to_owned(),
            "",
            "must be a mapping of keys, not a list",
        ),
    ];
    for (text, key_path, message) in cases {
        let problem = single_problem(&text, &env());
        assert_eq!(problem.key_path, key_path, "{text}");
        assert_eq!(problem.message, message, "{text}");
    }
}

#[test]
fn reports_every_problem_at_once() {
    let text = "\
log: {format: xml}
connections:
  - name: okta-prod
    source: {type: scim, base_url: http://idp.example.com/scim, token: t}
    target: {url: https://p.example/s, token: t}
    policy: {max_deactivations: many}
  - name: okta-prod
    source: {type: file, path: d.yaml}
    target: {url: http://penvio.io/scim, tokn: t}
";
    let found = problems(text, &env());
    let mut pairs: Vec<(String, String)> = found
        .iter()
        .map(|p| (p.key_path.clone(), p.message.clone()))
        .collect();
    pairs.sort();
    let expected = [
        (
            "connections[0].policy.max_deactivations",
            "must be a count or a share like \"10%\"",
        ),
        (
            "connections[0].source.base_url",
            "must be https (http is allowed only for loopback addresses)",
        ),
        (
            "connections[1].name",
            "\"okta-prod\" is used by connections[0]",
        ),
        (
            "connections[1].target.token",
            "is required (set token, or token_file to a file holding it)",
        ),
        (
            "connections[1].target.tokn",
            "unknown key (expected one of: url, token, token_file, requests_per_second, burst, concurrency, member_patch_size, timeout, ca_file, proxy, max_wait, max_pages, max_body)",
        ),
        (
            "connections[1].target.url",
            "must be https (http is allowed only for loopback addresses)",
        ),
        ("log.format", "must be one of: text, json"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(path, message)| (path.to_string(), message.to_string()))
        .collect();
    assert_eq!(pairs, expected);

    let rendered = load(text, &env()).unwrap_err().to_string();
    assert_eq!(rendered.lines().count(), found.len());
    assert!(
        rendered
            .lines()
            .all(|line| line.starts_with("/etc/penvio-sync/config.yaml: "))
    );
    assert!(rendered.contains(
        "/etc/penvio-sync/config.yaml: connections[1].name: \"okta-prod\" is used by connections[0] (line 7, column 11)"
    ));
}

#[test]
fn unknown_keys_are_all_reported_with_path_and_position() {
    let text = "\
stat_dir: /tmp
connections:
  - name: c1
    shedule: \"* * * * *\"
    source: {type: scim, base_url: https://idp.example/scim, token: t, pagesize: 10}
    target: {url: https://p.example/s, token: t}
    policy:
      max_deletes: 3
";
    let found = problems(text, &env());
    let paths: Vec<&str> = found.iter().map(|p| p.key_path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "connections[0].source.pagesize",
            "connections[0].policy.max_deletes",
            "connections[0].shedule",
            "stat_dir",
        ]
    );
    assert!(
        found
            .iter()
            .all(|p| p.message.starts_with("unknown key (expected one of: "))
    );
    assert_eq!(
        found[0].message,
        "unknown key (expected one of: type, base_url, token, token_file, page_size, timeout, requests_per_second, ca_file, proxy, allow_missing_total, max_wait, max_pages, max_body)"
    );
    assert_eq!(found[3].location, Some(Location { line: 1, column: 1 }));
    assert_eq!(found[1].location, Some(Location { line: 8, column: 7 }));
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let text = "connections:\n  - name: c1\n    source: {type: file\n    target: x\n";
    match load(text, &env()) {
        Err(ConfigError::Syntax {
            path,
            line,
            column,
            message,
        }) => {
            assert_eq!(path, PathBuf::from(CONFIG_PATH));
            assert!(line >= 3, "line {line}: {message}");
            assert!(column >= 1, "column {column}: {message}");
            assert!(!message.is_empty());
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    match load("a: 1\na: 2\n", &env()) {
        Err(ConfigError::Syntax {
            line,
            column,
            message,
            ..
        }) => {
            assert_eq!((line, column), (2, 1), "{message}");
            assert!(message.contains("duplicate"), "{message}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn load_reads_a_real_file_and_reports_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, connection_with("")).unwrap();
    let config = crate::config::load(&path).unwrap();
    assert_eq!(config.path, path);
    match &config.connections[0].source {
        SourceConfig::File(file) => assert_eq!(file.path, dir.path().join("dir.yaml")),
        other => panic!("expected a file source, got {other:?}"),
    }
    let missing = crate::config::load(&dir.path().join("nope.yaml")).unwrap_err();
    assert!(matches!(missing, ConfigError::Read { .. }), "{missing:?}");
}
