//! Secrets: literal, environment and file forms; never printed.

use super::*;

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
