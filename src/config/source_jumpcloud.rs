//! `source.type: jumpcloud`: a JumpCloud organization read through its v1
//! (`/api/systemusers`) and v2 (`/api/v2/usergroups`) APIs, with an admin
//! API key (`x-api-key`, plus `x-org-id` for multi-tenant admins) or a
//! service account (OAuth 2.0 client credentials).
//!
//! Decoding checks everything that needs no network: exactly one
//! credential, the region or base URL, the token URL and the knobs.

use std::num::NonZeroU32;
use std::time::Duration;

use reqwest::Url;

use super::reader::{self, Ctx, DEFAULT_TIMEOUT, Field, MapReader};
use super::secret::Secret;

/// Records per page: the documented maximum of the v2 lists ("Limited to
/// 100"); the v1 spec states no maximum, 100 is what clients use.
pub const JUMPCLOUD_MAX_PAGE_SIZE: u64 = 100;
/// Token endpoint of JumpCloud service accounts (US). Taken from JumpCloud's
/// service-account documentation and its client libraries; not in the saved
/// OpenAPI specs, hence overridable with `token_url`.
pub const JUMPCLOUD_TOKEN_URL: &str = "https://admin-oauth.id.jumpcloud.com/oauth2/token";
/// Our own request ceiling by default: JumpCloud publishes no rate-limit
/// figures, so stay modest.
const DEFAULT_REQUESTS_PER_SECOND: u32 = 10;

/// The JumpCloud regions: each is a separate console host (per the `servers`
/// of JumpCloud's OpenAPI documents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JumpCloudRegion {
    /// `console.jumpcloud.com` (the default).
    Us,
    /// `console.eu.jumpcloud.com`.
    Eu,
    /// `console.in.jumpcloud.com`.
    In,
}

impl JumpCloudRegion {
    /// The console root of the region (the APIs live under `/api`).
    pub fn base_url(self) -> &'static str {
        match self {
            JumpCloudRegion::Us => "https://console.jumpcloud.com",
            JumpCloudRegion::Eu => "https://console.eu.jumpcloud.com",
            JumpCloudRegion::In => "https://console.in.jumpcloud.com",
        }
    }

    /// The service-account token URL of the region. Only the US host is
    /// documented in our vendor notes; the EU/IN hosts follow the console's
    /// naming pattern and can be overridden with `token_url`.
    pub fn token_url(self) -> &'static str {
        match self {
            JumpCloudRegion::Us => JUMPCLOUD_TOKEN_URL,
            JumpCloudRegion::Eu => "https://admin-oauth.id.eu.jumpcloud.com/oauth2/token",
            JumpCloudRegion::In => "https://admin-oauth.id.in.jumpcloud.com/oauth2/token",
        }
    }
}

/// How the adapter authenticates to JumpCloud.
#[derive(Debug, Clone)]
pub enum JumpCloudAuth {
    /// `x-api-key: <key>`: the key of a (read-only) administrator; it carries
    /// exactly that administrator's permissions.
    ApiKey(Secret),
    /// A service account: client credentials exchanged for a 1 h bearer token.
    ServiceAccount {
        /// The service account's client id.
        client_id: String,
        /// Its client secret.
        client_secret: Secret,
        /// Where tokens are requested.
        token_url: Url,
    },
}

/// A JumpCloud organization as a source (`type: jumpcloud`).
#[derive(Debug, Clone)]
pub struct JumpCloudSourceConfig {
    /// The console root, e.g. `https://console.eu.jumpcloud.com` (from
    /// `region` or `base_url`); requests go to `<base>/api/...`.
    pub base_url: Url,
    /// API key or service account.
    pub auth: JumpCloudAuth,
    /// Organization id sent as `x-org-id` (required by JumpCloud for
    /// multi-tenant administrators, unused otherwise).
    pub org_id: Option<String>,
    /// Provision users who are STAGED or have not activated their account
    /// yet (default: they are left out until they activate).
    pub provision_staged: bool,
    /// Records requested per page (`limit`), 1..=100.
    pub page_size: u32,
    /// Total time allowed for one request.
    pub timeout: Duration,
    /// Our own ceiling on requests per second to JumpCloud.
    pub requests_per_second: NonZeroU32,
    /// Extra trusted CAs (a TLS-inspecting proxy or private CA); added to
    /// the system roots, never replacing them.
    pub ca_file: Option<super::ca::CaBundle>,
    /// Bounds on waits, pages and body sizes (`max_wait`, `max_pages`,
    /// `max_body`).
    pub limits: super::source_limits::ListingLimits,
    /// This endpoint's proxy URL (`proxy`; `None`: the environment's); may
    /// carry credentials.
    pub proxy: Option<super::secret::Secret>,
}

/// Decodes the keys of a `type: jumpcloud` source mapping.
pub(super) fn decode_jumpcloud(
    ctx: &mut Ctx<'_>,
    map: &mut MapReader<'_>,
) -> Option<JumpCloudSourceConfig> {
    let (base_url, region) = decode_base_url(ctx, map).unzip();
    let auth = decode_auth(ctx, map, region.flatten());
    let org_id = match map.get("org_id") {
        Some(field) => identifier(ctx, &field).map(Some),
        None => Some(None),
    };
    let provision_staged = match map.get("provision_staged") {
        Some(field) => ctx.boolean(&field),
        None => Some(false),
    };
    let page_size = match map.get("page_size") {
        Some(field) => ctx.integer(&field, 1..=JUMPCLOUD_MAX_PAGE_SIZE),
        None => Some(JUMPCLOUD_MAX_PAGE_SIZE),
    };
    let timeout = match map.get("timeout") {
        Some(field) => ctx.duration(&field, true),
        None => Some(DEFAULT_TIMEOUT),
    };
    let requests_per_second = ctx.requests_per_second(map, DEFAULT_REQUESTS_PER_SECOND);
    Some(JumpCloudSourceConfig {
        base_url: base_url?,
        auth: auth?,
        org_id: org_id?,
        provision_staged: provision_staged?,
        page_size: u32::try_from(page_size?).ok()?,
        timeout: timeout?,
        requests_per_second: requests_per_second?,
        ca_file: None,
        limits: super::source_limits::ListingLimits::default(),
        proxy: None,
    })
}

/// `region: us|eu|in` (default us) or `base_url` (loopback may be http, for
/// tests and local fakes), not both. Returns the URL and the region, if one
/// was chosen (it also picks the default token URL).
fn decode_base_url(
    ctx: &mut Ctx<'_>,
    map: &mut MapReader<'_>,
) -> Option<(Url, Option<JumpCloudRegion>)> {
    let region_field = map.get("region");
    let url_field = map.get("base_url");
    let region = match &region_field {
        Some(field) => {
            let text = ctx.string(field)?;
            let region = match text.trim() {
                "us" => JumpCloudRegion::Us,
                "eu" => JumpCloudRegion::Eu,
                "in" => JumpCloudRegion::In,
                _ => {
                    ctx.problem(
                        &field.path,
                        field.node.location,
                        "must be one of: us, eu, in",
                    );
                    return None;
                }
            };
            Some(region)
        }
        None => None,
    };
    match (region, url_field) {
        (Some(_), Some(field)) => {
            ctx.problem(
                &field.path,
                field.node.location,
                "set either region or base_url, not both",
            );
            None
        }
        (None, Some(field)) => {
            let mut url = ctx.http_url(&field)?;
            // The spec's server URLs end in /api; accept them as written.
            if let Some(root) = url.path().strip_suffix("/api").map(str::to_owned) {
                url.set_path(&root);
            }
            Some((url, None))
        }
        (region, None) => {
            let region = region.unwrap_or(JumpCloudRegion::Us);
            Url::parse(region.base_url())
                .ok()
                .map(|url| (url, Some(region)))
        }
    }
}

/// `api_key`/`api_key_file`, or `client_id` + `client_secret`(`_file`)
/// (+ optional `token_url`): exactly one credential.
fn decode_auth(
    ctx: &mut Ctx<'_>,
    map: &mut MapReader<'_>,
    region: Option<JumpCloudRegion>,
) -> Option<JumpCloudAuth> {
    let api_key = ctx.secret(map, "api_key", false);
    let client_id = map.get("client_id");
    let client_secret = ctx.secret(map, "client_secret", false);
    let token_url_field = map.get("token_url");
    let token_url = match &token_url_field {
        Some(field) => ctx.http_url(field).map(Some),
        None => Some(None),
    };
    let (api_key, client_secret, token_url) = (api_key?, client_secret?, token_url?);
    let service_account = client_id.is_some() || client_secret.is_some();
    match (api_key, service_account) {
        (Some(_), true) => {
            ctx.problem(
                &map.child_path("api_key"),
                map.location(),
                "set either api_key (or api_key_file) or client_id and client_secret, not both",
            );
            None
        }
        (Some(key), false) => {
            if let Some(field) = token_url_field {
                ctx.problem(
                    &field.path,
                    field.node.location,
                    "is only used with a service account (client_id and client_secret)",
                );
                return None;
            }
            Some(JumpCloudAuth::ApiKey(key))
        }
        (None, true) => {
            let Some(client_id) = client_id else {
                ctx.problem(
                    &map.child_path("client_id"),
                    map.location(),
                    "is required with client_secret (the service account's client id)",
                );
                return None;
            };
            let client_id = identifier(ctx, &client_id);
            let Some(client_secret) = client_secret else {
                ctx.problem(
                    &map.child_path("client_secret"),
                    map.location(),
                    "is required with client_id (set client_secret, or client_secret_file to a file holding it)",
                );
                return None;
            };
            let token_url = match token_url {
                Some(url) => url,
                None => Url::parse(region.unwrap_or(JumpCloudRegion::Us).token_url()).ok()?,
            };
            Some(JumpCloudAuth::ServiceAccount {
                client_id: client_id?,
                client_secret,
                token_url,
            })
        }
        (None, false) => {
            ctx.problem(
                &map.child_path("api_key"),
                map.location(),
                "is required: set api_key (or api_key_file) to an administrator's API key, or client_id and client_secret for a service account",
            );
            None
        }
    }
}

/// An org id or client id: letters, digits, '-' and '_' only, so it can
/// travel in a header or a Basic credential unchanged.
fn identifier(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<String> {
    reader::identifier(
        ctx,
        field,
        |c| c.is_ascii_alphanumeric() || c == '-' || c == '_',
        "must be an id (letters, digits, '-' and '_'), as shown in the JumpCloud console",
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::path::Path;

    use crate::config::{ProcessEnvironment, SourceConfig, load_str};

    use super::*;

    fn load(source: &str) -> Result<JumpCloudSourceConfig, String> {
        let text = format!(
            "state_dir: /tmp/x\nconnections:\n  - name: jc\n    source: {source}\n    target: {{url: https://penvio.io/api/scim/v2/org, token: t}}\n"
        );
        match load_str(
            &text,
            Path::new("/tmp/penvio-sync.yaml"),
            &ProcessEnvironment,
        ) {
            Ok(config) => match config.connections.into_iter().next().unwrap().source {
                SourceConfig::JumpCloud(jc) => Ok(*jc),
                other => panic!("not jumpcloud: {other:?}"),
            },
            Err(error) => Err(error.to_string()),
        }
    }

    #[test]
    fn defaults_are_us_and_an_api_key() {
        let config = load("{type: jumpcloud, api_key: jc-secret-key}").unwrap();
        assert_eq!(config.base_url.as_str(), "https://console.jumpcloud.com/");
        assert!(matches!(config.auth, JumpCloudAuth::ApiKey(_)));
        assert_eq!(config.org_id, None);
        assert!(!config.provision_staged);
        assert_eq!(config.page_size, 100);
        assert_eq!(config.requests_per_second.get(), 10);
        assert!(
            !format!("{config:?}").contains("jc-secret-key"),
            "the key is redacted"
        );
    }

    #[test]
    fn regions_and_base_url_pick_the_host() {
        for (region, host, token) in [
            (
                "us",
                "https://console.jumpcloud.com/",
                "https://admin-oauth.id.jumpcloud.com/oauth2/token",
            ),
            (
                "eu",
                "https://console.eu.jumpcloud.com/",
                "https://admin-oauth.id.eu.jumpcloud.com/oauth2/token",
            ),
            (
                "in",
                "https://console.in.jumpcloud.com/",
                "https://admin-oauth.id.in.jumpcloud.com/oauth2/token",
            ),
        ] {
            let config = load(&format!(
                "{{type: jumpcloud, region: {region}, client_id: sa-1, client_secret: s}}"
            ))
            .unwrap();
            assert_eq!(config.base_url.as_str(), host, "{region}");
            let JumpCloudAuth::ServiceAccount { token_url, .. } = &config.auth else {
                panic!()
            };
            assert_eq!(token_url.as_str(), token, "{region}");
        }
        let custom = load("{type: jumpcloud, base_url: 'https://jc.proxy.example/api/', api_key: k, org_id: 5f1e2d3c4b5a}").unwrap();
        assert_eq!(custom.base_url.as_str(), "https://jc.proxy.example/");
        assert_eq!(custom.org_id.as_deref(), Some("5f1e2d3c4b5a"));
        let local = load("{type: jumpcloud, base_url: 'http://127.0.0.1:9/', client_id: c, client_secret: s, token_url: 'http://127.0.0.1:9/oauth2/token'}").unwrap();
        assert_eq!(local.base_url.as_str(), "http://127.0.0.1:9/");
        let JumpCloudAuth::ServiceAccount { token_url, .. } = &local.auth else {
            panic!()
        };
        assert_eq!(token_url.as_str(), "http://127.0.0.1:9/oauth2/token");
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let cases = [
            (
                "{type: jumpcloud}",
                "connections[0].source.api_key: is required: set api_key",
            ),
            (
                "{type: jumpcloud, api_key: k, client_id: c, client_secret: s}",
                "connections[0].source.api_key: set either api_key (or api_key_file) or client_id",
            ),
            (
                "{type: jumpcloud, client_id: c}",
                "connections[0].source.client_secret: is required with client_id",
            ),
            (
                "{type: jumpcloud, client_secret: s}",
                "connections[0].source.client_id: is required with client_secret",
            ),
            (
                "{type: jumpcloud, api_key: k, token_url: 'https://a.example/t'}",
                "connections[0].source.token_url: is only used with a service account",
            ),
            (
                "{type: jumpcloud, api_key: k, region: ap}",
                "connections[0].source.region: must be one of: us, eu, in",
            ),
            (
                "{type: jumpcloud, api_key: k, region: eu, base_url: 'https://console.eu.jumpcloud.com'}",
                "connections[0].source.base_url: set either region or base_url",
            ),
            (
                "{type: jumpcloud, api_key: k, base_url: 'http://console.jumpcloud.com'}",
                "connections[0].source.base_url: must be https",
            ),
            (
                "{type: jumpcloud, api_key: k, org_id: 'a b'}",
                "connections[0].source.org_id: must be an id",
            ),
            (
                "{type: jumpcloud, api_key: k, page_size: 500}",
                "connections[0].source.page_size: must be between 1 and 100",
            ),
            (
                "{type: jumpcloud, api_key: k, provision_staged: maybe}",
                "connections[0].source.provision_staged: must be true or false",
            ),
            (
                "{type: jumpcloud, api_key: k, api_key_file: /x}",
                "connections[0].source.api_key: set either api_key or api_key_file",
            ),
            (
                "{type: jumpcloud, api_key: k, limit: 3}",
                "connections[0].source.limit: unknown key",
            ),
        ];
        for (source, expected) in cases {
            let error = load(source).unwrap_err();
            assert!(
                error.contains(expected),
                "{source}\n  expected {expected:?}\n  got {error}"
            );
            assert!(!error.contains("jc-secret"), "never quotes a secret");
        }
    }

    #[test]
    fn the_commented_example_in_the_example_config_validates() {
        let example = include_str!("../../config/penvio-sync.example.yaml");
        let block: Vec<String> = example
            .lines()
            .skip_while(|line| !line.starts_with("  # - name: jumpcloud-prod"))
            .take_while(|line| line.starts_with("  #"))
            .map(|line| line.replacen("# ", "", 1))
            .collect();
        assert!(block.len() > 10, "the example has a JumpCloud connection");
        let text = format!("state_dir: /tmp/x\nconnections:\n{}\n", block.join("\n"));
        let env = crate::config::MemoryEnvironment::default()
            .with_file("/etc/penvio-sync/jumpcloud-api-key", "jc-key\n")
            .with_file("/tmp/penvio-token", "penvio-secret\n");
        let config = load_str(&text, Path::new("/tmp/penvio-sync.yaml"), &env)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let SourceConfig::JumpCloud(jc) = &config.connections[0].source else {
            panic!()
        };
        assert_eq!(jc.base_url.as_str(), "https://console.jumpcloud.com/");
        assert!(matches!(jc.auth, JumpCloudAuth::ApiKey(_)));
    }
}
