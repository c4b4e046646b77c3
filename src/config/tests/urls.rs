//! URLs: https unless loopback, normalized.

use super::*;

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
