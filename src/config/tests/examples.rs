//! The shipped examples (config and README) validate and name every source type.

use super::*;

/// Every `source.type` the validator accepts is shown in the example config
/// and documented in the README, so neither falls behind a new source.
#[test]
fn the_example_and_the_readme_name_every_source_type() {
    let example = include_str!("../../../config/penvio-sync.example.yaml");
    let readme = include_str!("../../../README.md");
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
    let readme = include_str!("../../../README.md");
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
    let text = include_str!("../../../config/penvio-sync.example.yaml");
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
