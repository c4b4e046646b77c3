//! The `source` part of the schema: one function per source type.

use serde_json::{Value, json};

use super::build::{
    boolean, duration, full, integer, max_pages, object, one_of, rps, secret, secret_file, share,
    source, string, strings, timeout,
};

/// Every source type, for the `oneOf` of `connections[].source`.
pub(super) fn sources() -> Vec<Value> {
    vec![
        scim(),
        file(),
        okta(),
        entra(),
        onelogin(),
        jumpcloud(),
        pingone(),
        google(),
        ldap_source(),
    ]
}

/// `type: scim`.
fn scim() -> Value {
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
    )
}

/// `type: file`.
fn file() -> Value {
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
    )
}

/// `type: okta`.
fn okta() -> Value {
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
    )
}

/// `type: entra`.
fn entra() -> Value {
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
    )
}

/// `type: onelogin`.
fn onelogin() -> Value {
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
    )
}

/// `type: jumpcloud`.
fn jumpcloud() -> Value {
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
    )
}

/// `type: pingone`.
fn pingone() -> Value {
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
    )
}

/// `type: google`.
fn google() -> Value {
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
                secret("Service-account key JSON, or with signer: iam an external_account JSON"),
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
    )
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
                    crate::config::LDAP_FLAVORS,
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
