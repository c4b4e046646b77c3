//! A JSON Schema of the config, for editors (`penvio-sync config schema`;
//! `# yaml-language-server: $schema=…` at the top of a config file).
//!
//! The validator walks a YAML tree rather than deriving from serde types, so
//! the schema is described here key by key; a test compares every object's
//! keys with the keys the validator accepts, so the two cannot drift.

use serde_json::{Value, json};

mod build;
mod sources;

use build::{
    boolean, count_or_share, duration, integer, max_body, max_pages, max_wait, object, one_of,
    share, string, strings,
};
use sources::sources;

fn connection() -> Value {
    let secret = |what: &str| {
        string(&format!(
            "{what}: a literal or ${{ENV_VAR}} (or use the _file key)"
        ))
    };
    object(
        &[
            (
                "name",
                json!({"type": "string", "pattern": "^[a-z0-9-]+$", "description": "Unique; keys the snapshot."}),
            ),
            (
                "schedule",
                string("Cron in UTC: 5 fields, or 6 with seconds first."),
            ),
            (
                "run_on_start",
                boolean("The daemon runs the connection at start."),
            ),
            (
                "reconcile_schedule",
                string("Cron of full reconciliations, or \"never\"."),
            ),
            (
                "run_timeout",
                duration("Longest one run may take; past it the run fails safely (default 2h)."),
            ),
            (
                "source",
                json!({"oneOf": sources(), "description": "Where users and groups are read from."}),
            ),
            (
                "scope",
                object(
                    &[
                        (
                            "user_groups",
                            strings(
                                "Only members of these groups, by name, id or email ([] = everyone).",
                            ),
                        ),
                        (
                            "team_groups",
                            strings(
                                "Groups that become teams: names or globs, matched against the name or email.",
                            ),
                        ),
                    ],
                    &[],
                    "Which part of the directory is synced.",
                ),
            ),
            (
                "mapping",
                object(
                    &[
                        ("userName", string("Template, e.g. \"{email}\".")),
                        ("givenName", string("Template.")),
                        ("familyName", string("Template.")),
                        ("displayName", string("Template.")),
                        ("email", string("Template.")),
                        ("externalId", string("Template.")),
                    ],
                    &[],
                    "Overrides of the default mapping.",
                ),
            ),
            (
                "target",
                object(
                    &[
                        ("url", string("https://penvio.io/api/scim/v2/<org-id>")),
                        ("token", secret("Penvio SCIM token")),
                        ("token_file", string("Penvio SCIM token from a file.")),
                        (
                            "requests_per_second",
                            integer(1, "Rate limit towards Penvio."),
                        ),
                        ("burst", integer(1, "Burst above the rate.")),
                        ("concurrency", integer(1, "Requests in flight.")),
                        (
                            "member_patch_size",
                            integer(1, "Members per PATCH, 1..1000."),
                        ),
                        ("timeout", duration("Time allowed for one request.")),
                        ("ca_file", string("PEM certificates of a private CA.")),
                        (
                            "proxy",
                            string(
                                "Proxy URL for this endpoint (default: HTTPS_PROXY/HTTP_PROXY/NO_PROXY; never for loopback).",
                            ),
                        ),
                        max_wait(),
                        max_pages(),
                        max_body(),
                    ],
                    &["url"],
                    "The Penvio org changes are applied to.",
                ),
            ),
            (
                "policy",
                object(
                    &[
                        (
                            "on_user_removed",
                            one_of(&["deactivate", "delete"], "What happens to removed users."),
                        ),
                        (
                            "delete_deactivated_after",
                            duration("Hard-delete this long after deactivation."),
                        ),
                        (
                            "max_deactivations",
                            count_or_share("Guard: most deactivations per run."),
                        ),
                        (
                            "max_deletions",
                            count_or_share("Guard: most deletions per run."),
                        ),
                        (
                            "max_shrinkage",
                            share("Guard: largest drop of the directory (\"100%\" = off)."),
                        ),
                        (
                            "max_member_removals",
                            count_or_share(
                                "Guard: most members one team may lose per run (a share applies to teams of 10 or more; emptying a team is always held).",
                            ),
                        ),
                        (
                            "on_username_reuse",
                            one_of(
                                &["refuse", "relink"],
                                "A new user's userName belongs to another user's Penvio account: skip it, or relink the account.",
                            ),
                        ),
                    ],
                    &[],
                    "Lifecycle and safety policy.",
                ),
            ),
        ],
        &["name", "source", "target"],
        "One sync job: an identity provider to one Penvio org.",
    )
}

/// One `notifications:` entry per channel type, each closed like the validator.
fn notifications() -> Value {
    let events: Vec<&str> = crate::config::AlertEvent::ALL
        .iter()
        .map(|event| event.as_str())
        .collect();
    let common = || {
        vec![
            (
                "name",
                string("Unique name of this channel (notify test --name)."),
            ),
            (
                "events",
                json!({"type": "array", "minItems": 1, "items": {"type": "string", "enum": events}, "description": "Events sent to this channel (default: all)."}),
            ),
            (
                "stale_after",
                duration(
                    "A connection is stale after this long without a successful run (default 3 x its schedule interval).",
                ),
            ),
            (
                "connections",
                strings("Only these connections (default: all)."),
            ),
        ]
    };
    let url = [
        (
            "url",
            string("Incoming-webhook URL (https unless loopback; a secret: ${ENV} works)."),
        ),
        ("url_file", string("url from a file.")),
    ];
    let channel = |kind: &str, extra: &[(&str, Value)], description: &str| {
        let mut all = vec![("type", json!({"const": kind}))];
        all.extend(common());
        all.extend(extra.iter().cloned());
        let required: &[&str] = if kind == "email" {
            &["name", "type", "smtp_url", "from", "to"]
        } else {
            &["name", "type"]
        };
        object(&all, required, description)
    };
    let mut webhook = url.to_vec();
    webhook.extend([
        (
            "secret",
            string("Key of the X-Penvio-Sync-Signature HMAC-SHA256 header."),
        ),
        ("secret_file", string("secret from a file.")),
    ]);
    let email = [
        (
            "smtp_url",
            string("smtp://host:port (STARTTLS) or smtps://host:port (implicit TLS)."),
        ),
        ("from", string("Sender address.")),
        ("to", strings("Recipient addresses.")),
        ("username", string("SMTP AUTH user name.")),
        ("password", string("SMTP AUTH password.")),
        ("password_file", string("password from a file.")),
    ];
    json!({"type": "array", "items": {"oneOf": [
        channel("webhook", &webhook, "JSON POST, signed when secret is set."),
        channel("slack", &url, "A Slack incoming webhook."),
        channel("teams", &url, "A Microsoft Teams incoming webhook."),
        channel("email", &email, "Plain-text e-mail over SMTP."),
    ]}, "description": "Where alerts go when a sync fails, is held back or goes stale."})
}

/// The JSON Schema (draft 2020-12) of a penvio-sync config file.
pub fn config_schema() -> Value {
    let mut schema = object(
        &[
            (
                "state_dir",
                string(
                    "Where the snapshot lives (default $STATE_DIRECTORY, else /var/lib/penvio-sync if it exists, else ./state).",
                ),
            ),
            (
                "log",
                object(
                    &[
                        ("format", one_of(&["text", "json"], "Log format.")),
                        (
                            "level",
                            string("tracing filter, e.g. info or penvio_sync=debug."),
                        ),
                    ],
                    &[],
                    "Logging.",
                ),
            ),
            (
                "listen",
                string("Daemon endpoint address (default 127.0.0.1:9464)."),
            ),
            (
                "listen_token",
                string(
                    "Bearer token for the daemon's /v1 API (default: generated in state_dir/listen_token).",
                ),
            ),
            ("listen_token_file", string("listen_token from a file.")),
            (
                "explain_max_age",
                duration(
                    "How long the daemon reuses the directory fetched for explain (default 5m).",
                ),
            ),
            (
                "connections",
                json!({"type": "array", "minItems": 1, "items": connection()}),
            ),
            ("notifications", notifications()),
        ],
        &["connections"],
        "penvio-sync configuration",
    );
    if let Value::Object(map) = &mut schema {
        map.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        map.insert("title".into(), json!("penvio-sync configuration"));
    }
    schema
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;
    use crate::config::{MemoryEnvironment, load_str};

    /// The keys the validator accepts at `path`, read from its own "unknown
    /// key (expected one of: …)" message.
    fn validator_keys(config: &str) -> BTreeSet<String> {
        let error = load_str(config, Path::new("/c.yaml"), &MemoryEnvironment::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let line = error
            .lines()
            .find(|l| l.contains("zzz: unknown key"))
            .unwrap_or_else(|| panic!("no unknown-key problem in {error}"));
        let list = line
            .split("expected one of: ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .unwrap_or_default();
        list.split(", ").map(str::to_string).collect()
    }

    fn schema_keys(object: &Value) -> BTreeSet<String> {
        object["properties"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn every_schema_object_has_exactly_the_validators_keys() {
        let schema = config_schema();
        let connection = &schema["properties"]["connections"]["items"];
        let base = |extra: &str| {
            format!(
                "connections:\n  - name: c\n    source: {{type: file, path: d.yaml}}\n    target: {{url: https://p.example/x, token: t}}\n{extra}"
            )
        };
        assert_eq!(
            schema_keys(&schema),
            validator_keys(&format!("zzz: 1\n{}", base("")))
        );
        assert_eq!(
            schema_keys(&schema["properties"]["log"]),
            validator_keys(&format!("log: {{zzz: 1}}\n{}", base("")))
        );
        assert_eq!(
            schema_keys(connection),
            validator_keys(&base("    zzz: 1\n"))
        );
        for section in ["scope", "mapping", "policy"] {
            assert_eq!(
                schema_keys(&connection["properties"][section]),
                validator_keys(&base(&format!("    {section}: {{zzz: 1}}\n"))),
                "{section}"
            );
        }
        assert_eq!(
            schema_keys(&connection["properties"]["target"]),
            validator_keys(
                "connections:\n  - name: c\n    source: {type: file, path: d.yaml}\n    target: {url: https://p.example/x, token: t, zzz: 1}\n"
            )
        );
        for source in connection["properties"]["source"]["oneOf"]
            .as_array()
            .unwrap()
        {
            let kind = source["properties"]["type"]["const"].as_str().unwrap();
            let keys = validator_keys(&format!(
                "connections:\n  - name: c\n    source: {{type: {kind}, zzz: 1}}\n    target: {{url: https://p.example/x, token: t}}\n"
            ));
            assert_eq!(schema_keys(source), keys, "source {kind}");
        }
        for channel in schema["properties"]["notifications"]["items"]["oneOf"]
            .as_array()
            .unwrap()
        {
            let kind = channel["properties"]["type"]["const"].as_str().unwrap();
            let keys = validator_keys(&format!(
                "{}notifications:\n  - {{name: n, type: {kind}, zzz: 1}}\n",
                base("")
            ));
            assert_eq!(schema_keys(channel), keys, "notification {kind}");
        }
        let oauth = &connection["properties"]["source"]["oneOf"][2]["properties"]["oauth"];
        assert_eq!(
            schema_keys(oauth),
            validator_keys(
                "connections:\n  - name: c\n    source: {type: okta, domain: a.okta.com, oauth: {zzz: 1}}\n    target: {url: https://p.example/x, token: t}\n"
            )
        );
    }
}
