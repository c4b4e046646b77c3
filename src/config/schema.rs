//! A JSON Schema of the config, for editors (`penvio-sync config schema`;
//! `# yaml-language-server: $schema=…` at the top of a config file).
//!
//! The validator walks a YAML tree rather than deriving from serde types, so
//! the schema is described here key by key; a test compares every object's
//! keys with the keys the validator accepts, so the two cannot drift.

use serde_json::{Map, Value, json};

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn integer(minimum: u64, description: &str) -> Value {
    json!({"type": "integer", "minimum": minimum, "description": description})
}

fn boolean(description: &str) -> Value {
    json!({"type": "boolean", "description": description})
}

fn duration(description: &str) -> Value {
    json!({"type": "string", "pattern": "^\\s*[0-9]+\\s*[a-zA-Z]+(\\s*[0-9]+\\s*[a-zA-Z]+)*\\s*$", "description": description})
}

fn share(description: &str) -> Value {
    json!({"type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*%\\s*$", "description": description})
}

fn count_or_share(description: &str) -> Value {
    json!({"oneOf": [{"type": "integer", "minimum": 0}, share("")], "description": description})
}

fn one_of(values: &[&str], description: &str) -> Value {
    json!({"type": "string", "enum": values, "description": description})
}

fn strings(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}

/// A closed object: unknown keys are errors, as in the validator.
fn object(properties: &[(&str, Value)], required: &[&str], description: &str) -> Value {
    let mut map = Map::new();
    for (key, value) in properties {
        map.insert((*key).to_string(), value.clone());
    }
    json!({
        "type": "object",
        "description": description,
        "properties": map,
        "required": required,
        "additionalProperties": false,
    })
}

fn source(kind: &str, properties: &[(&str, Value)], required: &[&str]) -> Value {
    let mut all = vec![("type", json!({"const": kind}))];
    all.extend(properties.iter().cloned());
    if kind != "file" {
        all.extend(listing_limits());
    }
    // The scim source lists its own `proxy` among its properties.
    if !matches!(kind, "file" | "scim") {
        all.push((
            "proxy",
            string(
                "Proxy URL for this endpoint (default: HTTPS_PROXY/HTTP_PROXY/NO_PROXY; never for loopback).",
            ),
        ));
    }
    let mut required_all = vec!["type"];
    required_all.extend_from_slice(required);
    object(
        &all,
        &required_all,
        &format!("Read users and groups from {kind}."),
    )
}

/// `max_wait`, `max_pages`, `max_body`: the bounds every HTTP source (and
/// the target) reads.
fn listing_limits() -> Vec<(&'static str, Value)> {
    vec![max_wait(), max_pages(), max_body()]
}

fn max_wait() -> (&'static str, Value) {
    (
        "max_wait",
        duration(
            "Longest Retry-After or rate-limit reset honoured; longer fails at once (default 1h).",
        ),
    )
}

fn max_pages() -> (&'static str, Value) {
    (
        "max_pages",
        integer(1, "Most pages one listing may take (default 100000)."),
    )
}

fn max_body() -> (&'static str, Value) {
    (
        "max_body",
        json!({"type": ["integer", "string"], "description": "Largest response body of one request: bytes or e.g. \"64MiB\" (default 64MiB)."}),
    )
}

fn sources() -> Vec<Value> {
    let secret = |what: &str| {
        string(&format!(
            "{what}: a literal or ${{ENV_VAR}} (or use the _file key)"
        ))
    };
    let secret_file = |what: &str| {
        string(&format!(
            "{what} from a file (relative: $CREDENTIALS_DIRECTORY)"
        ))
    };
    let timeout = || duration("Time allowed for one request (e.g. 30s).");
    let rps = || {
        let mut field = integer(1, "Our own ceiling on requests per second to the IdP.");
        field["maximum"] = json!(1000);
        field
    };
    let full = || duration("Re-read everything at least this often (e.g. 24h).");
    vec![
        source(
            "scim",
            &[
                (
                    "base_url",
                    string("SCIM base URL (before /Users); https unless loopback."),
                ),
                ("token", secret("Bearer token")),
                ("token_file", secret_file("Bearer token")),
                ("page_size", integer(1, "Resources per page, 1..1000.")),
                ("timeout", timeout()),
                ("requests_per_second", rps()),
                (
                    "ca_file",
                    string("PEM certificates of a private CA for this endpoint."),
                ),
                (
                    "proxy",
                    string(
                        "Proxy URL for this endpoint (default: HTTPS_PROXY/HTTP_PROXY/NO_PROXY; never for loopback).",
                    ),
                ),
                (
                    "allow_missing_total",
                    boolean(
                        "UNSAFE: accept listings without totalResults, reading until an empty page.",
                    ),
                ),
            ],
            &["base_url"],
        ),
        source(
            "file",
            &[
                (
                    "path",
                    string("The directory export (YAML or JSON), relative to the config."),
                ),
                (
                    "base_url",
                    string("Alternative to path: file:///absolute/path."),
                ),
            ],
            &[],
        ),
        source(
            "okta",
            &[
                ("domain", string("Your Okta domain, e.g. acme.okta.com.")),
                ("base_url", string("Instead of domain: the org URL.")),
                (
                    "app_id",
                    string("Only users and groups assigned to this app."),
                ),
                ("token", secret("API token (SSWS)")),
                (
                    "ca_file",
                    string("PEM certificates of a private CA (e.g. a TLS-inspecting proxy)."),
                ),
                ("token_file", secret_file("API token")),
                (
                    "oauth",
                    object(
                        &[
                            ("client_id", string("The API Services app's client id.")),
                            ("key_id", string("kid of the registered public key.")),
                            ("private_key", secret("PEM private key")),
                            ("private_key_file", secret_file("PEM private key")),
                            (
                                "scopes",
                                strings("Default: okta.users.read okta.groups.read."),
                            ),
                        ],
                        &["client_id", "key_id"],
                        "OAuth 2.0 service app with private_key_jwt (instead of token).",
                    ),
                ),
                (
                    "include_deprovisioned",
                    boolean("Report DEPROVISIONED users no run knew."),
                ),
                (
                    "provision_staged",
                    boolean("Provision STAGED/PROVISIONED users."),
                ),
                (
                    "max_rate_limit_share",
                    share("Share of Okta's rate limit we may use."),
                ),
                ("full_fetch_interval", full()),
                ("timeout", timeout()),
                ("requests_per_second", rps()),
            ],
            &[],
        ),
        source(
            "entra",
            &[
                (
                    "tenant_id",
                    string("Directory (tenant) ID or a verified domain."),
                ),
                ("client_id", string("Application (client) ID.")),
                ("client_secret", secret("Client secret")),
                ("client_secret_file", secret_file("Client secret")),
                ("certificate", secret("PEM certificate (and key)")),
                ("certificate_file", secret_file("PEM certificate (and key)")),
                ("private_key", secret("PEM private key of the certificate")),
                (
                    "private_key_file",
                    secret_file("PEM private key of the certificate"),
                ),
                ("base_url", string("Graph base URL (sovereign clouds).")),
                ("token_url", string("Token endpoint override.")),
                ("scope", string("Token scope override.")),
                (
                    "nested_groups",
                    one_of(&["flatten", "ignore"], "Nested groups' users as members."),
                ),
                (
                    "email_from",
                    one_of(
                        &["mail", "user_principal_name"],
                        "Where the email comes from.",
                    ),
                ),
                ("include_guests", boolean("Sync guests (userType Guest).")),
                (
                    "app_id",
                    string("Enterprise app object id: assigned users/groups only."),
                ),
                ("full_fetch_interval", full()),
                ("timeout", timeout()),
                ("requests_per_second", rps()),
                (
                    "ca_file",
                    string("PEM certificates of a private CA (e.g. a TLS-inspecting proxy)."),
                ),
            ],
            &["tenant_id", "client_id"],
        ),
        source(
            "onelogin",
            &[
                ("subdomain", string("acme for acme.onelogin.com.")),
                ("base_url", string("Instead of subdomain: the account URL.")),
                ("client_id", string("API credential client id.")),
                ("client_secret", secret("API credential secret")),
                ("client_secret_file", secret_file("API credential secret")),
                (
                    "teams_from",
                    one_of(&["roles", "groups"], "What becomes Penvio teams."),
                ),
                (
                    "provision_unactivated",
                    boolean("Provision Unactivated users."),
                ),
                (
                    "max_rate_limit_share",
                    share("Share of OneLogin's rate limit we may use."),
                ),
                ("full_fetch_interval", full()),
                ("timeout", timeout()),
                ("requests_per_second", rps()),
                (
                    "ca_file",
                    string("PEM certificates of a private CA (e.g. a TLS-inspecting proxy)."),
                ),
            ],
            &["client_id"],
        ),
        source(
            "jumpcloud",
            &[
                ("region", one_of(&["us", "eu", "in"], "JumpCloud region.")),
                ("base_url", string("Instead of region: the console URL.")),
                ("api_key", secret("API key of a read-only administrator")),
                ("api_key_file", secret_file("API key")),
                (
                    "client_id",
                    string("Service account client id (instead of api_key)."),
                ),
                ("client_secret", secret("Service account secret")),
                ("client_secret_file", secret_file("Service account secret")),
                (
                    "token_url",
                    string("Service account token endpoint override."),
                ),
                (
                    "org_id",
                    string("Organization to read (multi-tenant administrators)."),
                ),
                (
                    "provision_staged",
                    boolean("Provision STAGED / not activated users."),
                ),
                ("page_size", integer(1, "Records per page, 1..100.")),
                ("timeout", timeout()),
                ("requests_per_second", rps()),
                (
                    "ca_file",
                    string("PEM certificates of a private CA (e.g. a TLS-inspecting proxy)."),
                ),
            ],
            &[],
        ),
        source(
            "pingone",
            &[
                ("environment_id", string("The PingOne environment.")),
                ("client_id", string("Worker app client id.")),
                ("client_secret", secret("Worker app secret")),
                ("client_secret_file", secret_file("Worker app secret")),
                (
                    "token_auth_method",
                    one_of(
                        &["client_secret_basic", "client_secret_post"],
                        "Token endpoint authentication.",
                    ),
                ),
                ("region", string("com, eu, asia, ca, com.au or sg.")),
                ("base_url", string("API base URL override.")),
                ("token_url", string("Token endpoint override.")),
                ("population_id", string("Only this population's users.")),
                (
                    "nested_groups",
                    one_of(&["flatten", "ignore"], "Nested groups' users as members."),
                ),
                ("page_size", integer(1, "Records per request, 1..1000.")),
                ("requests_per_second", rps()),
                ("timeout", timeout()),
                (
                    "ca_file",
                    string("PEM certificates of a private CA (e.g. a TLS-inspecting proxy)."),
                ),
            ],
            &["environment_id", "client_id"],
        ),
        source(
            "google",
            &[
                (
                    "customer",
                    string("Account id (C03az79cb) or my_customer (default)."),
                ),
                ("domain", string("Instead of customer: one domain's users.")),
                (
                    "admin_email",
                    string("Workspace admin impersonated by domain-wide delegation."),
                ),
                (
                    "credentials",
                    secret(
                        "Service-account key JSON, or with signer: iam an external_account JSON",
                    ),
                ),
                (
                    "credentials_file",
                    secret_file(
                        "Service-account key JSON, or with signer: iam an external_account (workload identity federation) JSON",
                    ),
                ),
                (
                    "signer",
                    one_of(
                        &["key", "iam"],
                        "key (default): credentials_file signs; iam: keyless, IAM Credentials signJwt with a metadata-server or workload-identity-federation token.",
                    ),
                ),
                (
                    "service_account",
                    string(
                        "signer: iam: the service account with domain-wide delegation (default with an external_account file: the one it impersonates).",
                    ),
                ),
                (
                    "metadata_url",
                    string("signer: iam: metadata server override."),
                ),
                (
                    "iam_url",
                    string("signer: iam: IAM Credentials API override."),
                ),
                ("token_url", string("signer: iam: token endpoint override.")),
                ("query", string("Extra users.list search clauses.")),
                (
                    "org_units",
                    strings("Only users in these organisational units (and below)."),
                ),
                ("base_url", string("API root override.")),
                ("requests_per_second", rps()),
                ("timeout", timeout()),
                (
                    "ca_file",
                    string("PEM certificates of a private CA (e.g. a TLS-inspecting proxy)."),
                ),
            ],
            &["admin_email"],
        ),
        ldap_source(),
    ]
}

/// `type: ldap`: no proxy, and of the listing bounds only `max_pages`.
fn ldap_source() -> Value {
    let attributes = object(
        &[
            (
                "id",
                string("Immutable id: objectGUID (AD), entryUUID, ipaUniqueID, nsUniqueId."),
            ),
            ("email", string("Email attribute (default mail).")),
            ("given_name", string("First name (default givenName).")),
            ("family_name", string("Last name (default sn).")),
            (
                "display_name",
                string("Display name (default displayName)."),
            ),
            ("group_name", string("Group name (default cn).")),
            (
                "login",
                string("What posixGroup memberUid holds (default uid; AD sAMAccountName)."),
            ),
        ],
        &[],
        "Attribute names (defaults by flavor).",
    );
    object(
        &[
            ("type", json!({"const": "ldap"})),
            (
                "flavor",
                one_of(
                    super::LDAP_FLAVORS,
                    "Directory kind; sets the default of every other key.",
                ),
            ),
            (
                "url",
                string("ldaps://host[:port], or ldap:// with starttls (plain only for loopback)."),
            ),
            (
                "starttls",
                boolean("Upgrade an ldap:// connection with StartTLS."),
            ),
            (
                "bind_dn",
                string("The service account (DN; AD also user@domain)."),
            ),
            (
                "bind_password",
                string("Its password: a literal or ${ENV_VAR} (or bind_password_file)."),
            ),
            (
                "bind_password_file",
                string("Its password from a file (relative: $CREDENTIALS_DIRECTORY)."),
            ),
            ("ca_file", string("PEM certificates of the directory's CA.")),
            (
                "base_dn",
                string("The naming context, e.g. dc=example,dc=com."),
            ),
            (
                "user_base",
                string("Where users are searched (default base_dn)."),
            ),
            (
                "group_base",
                string("Where groups are searched (default base_dn)."),
            ),
            ("user_filter", string("Which entries are users (RFC 4515).")),
            (
                "group_filter",
                string("Which entries are groups (RFC 4515)."),
            ),
            (
                "disabled_filter",
                string(
                    "Users also matching this are inactive (\"\" turns the flavor's default off).",
                ),
            ),
            ("attributes", attributes),
            (
                "timeout",
                duration("Longest wait for one answer (e.g. 30s)."),
            ),
            (
                "page_size",
                integer(1, "Entries per page, 1..10000 (default 500)."),
            ),
            (
                "follow_referrals",
                boolean("Follow referrals to other servers (default false)."),
            ),
            max_pages(),
        ],
        &["type", "flavor", "url", "bind_dn", "base_dn"],
        "Read users and groups from ldap.",
    )
}

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
