//! Tests of the whole load path: YAML text → validated config or problems.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const CONFIG_PATH: &str = "/etc/penvio-sync/config.yaml";

fn env() -> MemoryEnvironment {
    MemoryEnvironment::new()
}

fn load(text: &str, env: &MemoryEnvironment) -> Result<Config, ConfigError> {
    load_str(text, Path::new(CONFIG_PATH), env)
}

/// A valid one-connection config with `extra` appended inside the connection.
fn connection_with(extra: &str) -> String {
    format!(
        "connections:\n  - name: c1\n    source: {{type: file, path: dir.yaml}}\n    target: {{url: https://penvio.example/scim/v2/org, token: tgt-secret}}\n{extra}"
    )
}

/// A config whose only connection has the given source and target mappings.
fn source_target(source: &str, target: &str) -> String {
    format!("connections:\n  - name: c1\n    source: {source}\n    target: {target}\n")
}

fn problems(text: &str, env: &MemoryEnvironment) -> Vec<Problem> {
    match load(text, env) {
        Ok(config) => panic!("expected problems, got {config:?}"),
        Err(error) => error.problems().to_vec(),
    }
}

fn single_problem(text: &str, env: &MemoryEnvironment) -> Problem {
    let problems = problems(text, env);
    assert_eq!(problems.len(), 1, "{text}\n{problems:#?}");
    problems.into_iter().next().unwrap()
}

/// Every `source.type` the validator accepts is shown in the example config
/// and documented in the README, so neither falls behind a new source.
#[test]
fn the_example_and_the_readme_name_every_source_type() {
    let example = include_str!("../../config/penvio-sync.example.yaml");
    let readme = include_str!("../../README.md");
    for kind in super::source::SOURCE_TYPES {
        let shown = example.lines().any(|l| {
            let l = l.trim_start_matches([' ', '#']);
            l == format!("type: {kind}")
        });
        assert!(
            shown,
            "config/penvio-sync.example.yaml shows no `type: {kind}` source"
        );
        assert!(
            readme.contains(&format!("| `{kind}` |")),
            "README.md's source table has no row for `{kind}`"
        );
    }
    assert!(
        !example.contains("more providers will follow"),
        "the example config's source list is out of date"
    );
}

/// The README's removal contract (how each source sees removals, what a
/// no-op run costs, the latency) has a row for every source type.
#[test]
fn the_readme_removal_contract_covers_every_source_type() {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("\n### Removals\n")
        .nth(1)
        .and_then(|rest| rest.split("\n### ").next())
        .expect("README.md has a Removals section");
    for kind in super::source::SOURCE_TYPES {
        assert!(
            section.contains(&format!("| `{kind}` |")),
            "README.md's removal contract has no row for `{kind}`"
        );
    }
}

#[test]
fn example_config_validates() {
    let text = include_str!("../../config/penvio-sync.example.yaml");
    let env = env()
        .with_var("IDP_TOKEN", "idp-secret")
        .with_var("PENVIO_TOKEN", "penvio-secret")
        .with_var("PENVIO_SYNC_LISTEN_TOKEN", "listen-secret")
        .with_var(
            "CREDENTIALS_DIRECTORY",
            "/run/credentials/penvio-sync.service",
        )
        .with_file(
            "/run/credentials/penvio-sync.service/penvio-demo-token",
            "demo-secret\n",
        );
    let config = load(text, &env).unwrap();

    assert_eq!(config.path, PathBuf::from(CONFIG_PATH));
    assert_eq!(config.state_dir, PathBuf::from("/var/lib/penvio-sync"));
    assert_eq!(config.log, LogConfig::default());
    assert_eq!(config.listen.to_string(), "127.0.0.1:9464");
    assert_eq!(
        config.listen_token.as_ref().map(Secret::expose),
        Some("listen-secret")
    );
    assert_eq!(config.connections.len(), 2);

    let scim = config.connection("hr-scim").unwrap();
    assert_eq!(scim.schedule, "0 */15 * * * *");
    assert_eq!(scim.source.kind(), "scim");
    match &scim.source {
        SourceConfig::Scim(source) => {
            assert_eq!(source.base_url.as_str(), "https://idp.example.com/scim/v2");
            assert_eq!(source.token.expose(), "idp-secret");
            assert_eq!(source.page_size, 100);
            assert_eq!(source.timeout, Duration::from_secs(30));
            assert_eq!(source.requests_per_second.get(), 20);
        }
        other => panic!("expected a scim source, got {other:?}"),
    }
    assert_eq!(scim.scope.user_groups, ["Engineering", "Design"]);
    let teams: Vec<_> = scim
        .scope
        .team_groups
        .iter()
        .map(GroupPattern::as_str)
        .collect();
    assert_eq!(teams, ["eng-*", "Design"]);
    assert_eq!(
        scim.mapping.user_name.as_ref().map(Template::as_str),
        Some("{email}")
    );
    assert!(scim.mapping.given_name.is_none());
    assert_eq!(scim.target.token.expose(), "penvio-secret");
    assert_eq!(scim.target.member_patch_size.get(), 100);
    assert_eq!(
        scim.policy.delete_deactivated_after,
        Some(Duration::from_secs(90 * 86_400))
    );
    assert_eq!(scim.policy.max_deactivations, Threshold::Share(0.10));
    assert_eq!(scim.policy.max_deletions, Threshold::Count(5));
    assert_eq!(scim.policy.max_member_removals, Threshold::Share(0.50));
    assert_eq!(scim.policy.on_username_reuse, OnUserNameReuse::Refuse);

    let demo = config.connection("demo-file").unwrap();
    assert_eq!(demo.schedule, "0 30 6 * * *");
    assert_eq!(demo.source.kind(), "file");
    match &demo.source {
        SourceConfig::File(file) => {
            assert_eq!(
                file.path,
                PathBuf::from("/etc/penvio-sync/demo-directory.yaml")
            );
        }
        other => panic!("expected a file source, got {other:?}"),
    }
    assert_eq!(demo.target.token.expose(), "demo-secret");
    assert_eq!(demo.scope, ScopeConfig::default());
    assert_eq!(demo.policy, PolicyConfig::default());
    assert!(config.connection("missing").is_none());
}

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

fn target_token(target_secret: &str, env: &MemoryEnvironment) -> Result<String, Vec<Problem>> {
    let text = source_target(
        "{type: file, path: d.yaml}",
        &format!("{{url: https://p.example/s, {target_secret}}}"),
    );
    load(&text, env)
        .map(|config| config.connections[0].target.token.expose().to_owned())
        .map_err(|error| error.problems().to_vec())
}

#[test]
fn secrets_accept_literal_env_and_file_forms() {
    let env = env()
        .with_var("PENVIO_TOKEN", "from-env")
        .with_file("/etc/penvio-sync/tok", "from-config-dir\n")
        .with_file("/abs/tok", "from-abs\r\n");
    assert_eq!(target_token("token: literal", &env).unwrap(), "literal");
    assert_eq!(
        target_token("token: \"${PENVIO_TOKEN}\"", &env).unwrap(),
        "from-env"
    );
    assert_eq!(
        target_token("token_file: tok", &env).unwrap(),
        "from-config-dir"
    );
    assert_eq!(
        target_token("token_file: /abs/tok", &env).unwrap(),
        "from-abs"
    );

    let systemd = env
        .clone()
        .with_var("CREDENTIALS_DIRECTORY", "/run/credentials/x")
        .with_file("/run/credentials/x/tok", "from-credentials\n");
    assert_eq!(
        target_token("token_file: tok", &systemd).unwrap(),
        "from-credentials"
    );
    assert_eq!(
        target_token("token_file: /abs/tok", &systemd).unwrap(),
        "from-abs"
    );
}

#[test]
fn secret_problems_name_the_key_never_the_value() {
    let env = env()
        .with_var("EMPTY", "")
        .with_file("/etc/penvio-sync/blank", "\n");
    let cases = [
        (
            "token: a, token_file: b",
            "connections[0].target.token",
            "set either token or token_file, not both",
        ),
        (
            "timeout: 5s",
            "connections[0].target.token",
            "is required (set token, or token_file to a file holding it)",
        ),
        (
            "token: \"${MISSING_VAR}\"",
            "connections[0].target.token",
            "environment variable MISSING_VAR is not set",
        ),
        (
            "token: \"${EMPTY}\"",
            "connections[0].target.token",
            "environment variable EMPTY is empty",
        ),
        (
            "token: \"${not valid}\"",
            "connections[0].target.token",
            "is not a valid environment reference (write the whole value as ${NAME})",
        ),
        (
            "token: \"\"",
            "connections[0].target.token",
            "must not be empty",
        ),
        (
            "token_file: missing",
            "connections[0].target.token_file",
            "cannot read /etc/penvio-sync/missing: No such file or directory",
        ),
        (
            "token_file: blank",
            "connections[0].target.token_file",
            "/etc/penvio-sync/blank is empty",
        ),
    ];
    for (secret, key_path, message) in cases {
        let found = target_token(secret, &env).unwrap_err();
        assert_eq!(found.len(), 1, "{secret}: {found:?}");
        assert_eq!(found[0].key_path, key_path, "{secret}");
        assert_eq!(found[0].message, message, "{secret}");
    }
    let listen = format!("listen_token: \"${{NOPE}}\"\n{}", connection_with(""));
    let problem = single_problem(&listen, &env);
    assert_eq!(problem.key_path, "listen_token");
    assert_eq!(problem.message, "environment variable NOPE is not set");
}

#[test]
fn debug_output_never_contains_secrets() {
    let text = "\
listen_token: listen-SECRET-1
connections:
  - name: c1
    source: {type: scim, base_url: https://idp.example/scim, token: \"${IDP}\"}
    target: {url: https://p.example/s, token_file: tok}
";
    let env = env()
        .with_var("IDP", "idp-SECRET-2")
        .with_file("/etc/penvio-sync/tok", "target-SECRET-3\n");
    let config = load(text, &env).unwrap();
    let debug = format!("{config:?} {config:#?}");
    assert!(!debug.contains("SECRET"), "{debug}");
    assert!(debug.contains("[redacted]"));

    let raw = raw::parse(text, Path::new(CONFIG_PATH)).unwrap();
    assert!(!format!("{raw:?}").contains("SECRET"));

    // A failing config reports problems without echoing any value either.
    let error = load(
        text,
        &MemoryEnvironment::new().with_var("IDP", "idp-SECRET-2"),
    )
    .unwrap_err();
    assert!(!format!("{error} {error:?}").contains("SECRET"));
}

#[test]
fn http_is_allowed_only_for_loopback() {
    let cases = [
        ("http://127.0.0.1:8080/scim", true),
        ("http://127.1.2.3/scim", true),
        ("http://localhost:8080/scim", true),
        ("http://LOCALHOST/scim", true),
        ("http://[::1]:8080/scim", true),
        ("https://penvio.io/api/scim/v2/org", true),
        ("http://penvio.io/api/scim/v2/org", false),
        ("http://10.0.0.1/scim", false),
        ("http://[::2]/scim", false),
        ("http://localhost.example.com/scim", false),
        ("http://128.0.0.1/scim", false),
    ];
    for (url, allowed) in cases {
        let text = source_target(
            &format!("{{type: scim, base_url: \"{url}\", token: t}}"),
            &format!("{{url: \"{url}\", token: t}}"),
        );
        let result = load(&text, &env());
        if allowed {
            assert!(result.is_ok(), "{url}: {result:?}");
        } else {
            let found = result.unwrap_err().problems().to_vec();
            let paths: Vec<_> = found.iter().map(|p| p.key_path.as_str()).collect();
            assert_eq!(
                paths,
                [
                    "connections[0].source.base_url",
                    "connections[0].target.url"
                ],
                "{url}"
            );
            assert!(found.iter().all(
                |p| p.message == "must be https (http is allowed only for loopback addresses)"
            ));
        }
    }
}

#[test]
fn target_url_loses_its_trailing_slash() {
    let text = source_target(
        "{type: file, base_url: \"file:///srv/dir.yaml\"}",
        "{url: \"https://penvio.io/api/scim/v2/ORG/\", token: t}",
    );
    let config = load(&text, &env()).unwrap();
    let connection = &config.connections[0];
    assert_eq!(
        connection.target.url.as_str(),
        "https://penvio.io/api/scim/v2/ORG"
    );
    match &connection.source {
        SourceConfig::File(file) => assert_eq!(file.path, PathBuf::from("/srv/dir.yaml")),
        other => panic!("expected a file source, got {other:?}"),
    }
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
fn load_reads_a_real_file_and_reports_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, connection_with("")).unwrap();
    let config = super::load(&path).unwrap();
    assert_eq!(config.path, path);
    match &config.connections[0].source {
        SourceConfig::File(file) => assert_eq!(file.path, dir.path().join("dir.yaml")),
        other => panic!("expected a file source, got {other:?}"),
    }
    let missing = super::load(&dir.path().join("nope.yaml")).unwrap_err();
    assert!(matches!(missing, ConfigError::Read { .. }), "{missing:?}");
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
fn secret_files_readable_by_others_are_refused_unless_allowed() {
    let text = "connections:\n  - name: c1\n    source: {type: file, path: dir.yaml}\n    target: {url: https://penvio.example/scim/v2/org, token_file: /run/tok}\n";
    let open = env()
        .with_file("/run/tok", "secret-value\n")
        .with_file_mode("/run/tok", 0o100644);
    let problem = single_problem(text, &open);
    assert_eq!(problem.key_path, "connections[0].target.token_file");
    assert!(problem.message.contains("mode 0644"), "{}", problem.message);
    assert!(problem.message.contains("chmod 600"), "{}", problem.message);
    assert!(!problem.message.contains("secret-value"));

    let private = env()
        .with_file("/run/tok", "secret-value\n")
        .with_file_mode("/run/tok", 0o100600);
    assert!(load(text, &private).is_ok());
    let overridden = open.with_var(ALLOW_INSECURE_SECRET_FILES, "1");
    assert!(load(text, &overridden).is_ok());
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

/// `notifications:` decodes every channel type with its defaults.
#[test]
fn notifications_decode_with_defaults() {
    let env = env().with_var("SLACK_URL", "https://hooks.slack.com/services/T/B/x");
    let text = format!(
        "{}notifications:\n  - {{name: hook, type: webhook, url: \"http://127.0.0.1:9/h\", secret: k}}\n  - {{name: chat, type: slack, url: \"${{SLACK_URL}}\", events: [run_failed, recovered], connections: [c1], stale_after: 2h}}\n  - {{name: ops, type: email, smtp_url: \"smtp://mail.example.com\", from: a@example.com, to: [b@example.com]}}\n",
        connection_with("")
    );
    let config = load(&text, &env).unwrap();
    let [hook, chat, ops] = &config.notifications[..] else {
        panic!("{:?}", config.notifications);
    };
    assert_eq!(hook.events.len(), AlertEvent::ALL.len());
    assert!(matches!(
        &hook.channel,
        Channel::Webhook {
            secret: Some(_),
            ..
        }
    ));
    assert_eq!(chat.events.len(), 2);
    assert_eq!(chat.stale_after, Some(Duration::from_secs(7200)));
    assert!(chat.wants(AlertEvent::RunFailed, "c1") && !chat.wants(AlertEvent::Stale, "c1"));
    let Channel::Email(email) = &ops.channel else {
        panic!("{ops:?}");
    };
    assert_eq!((email.port, email.security), (587, SmtpSecurity::StartTls));
}

/// Bad notification entries name the key and the problem, never the URL.
#[test]
fn bad_notifications_name_key_and_problem() {
    let cases = [
        (
            "{name: a, type: slack, url: \"http://hooks.example.com/T/secret-path\"}",
            "notifications[0].url",
            "must be https",
        ),
        (
            "{name: a, type: pager}",
            "notifications[0].type",
            "not a notification type",
        ),
        (
            "{name: a, type: webhook, url: \"https://h.example\", events: [boom]}",
            "notifications[0].events[0]",
            "not an event",
        ),
        (
            "{name: a, type: webhook, url: \"https://h.example\", connections: [nope]}",
            "notifications[0].connections[0]",
            "not a configured connection",
        ),
        (
            "{name: a, type: email, smtp_url: \"imap://m.example\", from: a@example.com, to: [b@example.com]}",
            "notifications[0].smtp_url",
            "smtp://",
        ),
        (
            "{name: a, type: email, smtp_url: \"smtps://m.example\", from: nobody, to: [b@example.com]}",
            "notifications[0].from",
            "e-mail address",
        ),
        (
            "{name: a, type: teams}",
            "notifications[0].url",
            "is required",
        ),
    ];
    for (entry, key, message) in cases {
        let text = format!("{}notifications:\n  - {entry}\n", connection_with(""));
        let problem = single_problem(&text, &env());
        assert_eq!(problem.key_path, key, "{entry}");
        assert!(
            problem.message.contains(message),
            "{entry}: {}",
            problem.message
        );
        assert!(
            !problem.message.contains("secret-path"),
            "{}",
            problem.message
        );
    }
}

/// The commented `notifications:` example of the example config validates
/// once uncommented, so the documentation cannot drift from the validator.
#[test]
fn the_commented_notifications_example_is_valid() {
    let example = include_str!("../../config/penvio-sync.example.yaml");
    let block: Vec<&str> = example
        .lines()
        .skip_while(|l| *l != "# notifications:")
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.strip_prefix("# ").unwrap_or(""))
        .collect();
    assert!(block.len() > 10, "no notifications example found");
    let text = format!("{}{}\n", connection_with(""), block.join("\n"));
    let env = env()
        .with_var(
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T/B/x",
        )
        .with_var(
            "TEAMS_WEBHOOK_URL",
            "https://x.logic.azure.com/workflows/1?sig=s",
        )
        .with_file(
            "/etc/penvio-sync/alert-webhook-url",
            "https://hooks.example.com/a\n",
        )
        .with_file("/etc/penvio-sync/alert-webhook-secret", "k\n")
        .with_file("/etc/penvio-sync/smtp-password", "p\n");
    let config = load(&text, &env).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let kinds: Vec<&str> = config
        .notifications
        .iter()
        .map(|n| n.channel.kind())
        .collect();
    assert_eq!(kinds, ["slack", "webhook", "teams", "email"]);
}
