//! Source settings: where a connection reads its directory from. Each source
//! type is one enum arm, one config struct and one decode function here; add
//! the type name to [`SOURCE_TYPES`] and a match arm in [`decode_source`].

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use super::reader::{Ctx, DEFAULT_TIMEOUT, Field, MapReader};
use super::secret::Secret;
use super::source_limits::{ListingLimits, decode_limits};
use super::source_okta::{OktaSourceConfig, decode_okta};

/// The `source.type` values this build understands, for error messages.
pub const SOURCE_TYPES: &[&str] = &[
    "scim",
    "file",
    "okta",
    "entra",
    "onelogin",
    "jumpcloud",
    "pingone",
    "google",
    "ldap",
];

/// Default SCIM page size (`count`) when listing a source.
const DEFAULT_PAGE_SIZE: u64 = 100;
/// Largest page size accepted; most SCIM servers cap `count` well below this.
const MAX_PAGE_SIZE: u64 = 1000;
/// Our own request ceiling by default: polite to a server we do not own,
/// fast enough to read 100k users in well under a minute at 1,000 per page.
const DEFAULT_REQUESTS_PER_SECOND: u32 = 20;

/// A connection's directory source, tagged by `type` in YAML.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// Any SCIM 2.0 server we can read users and groups from.
    Scim(ScimSourceConfig),
    /// A YAML/JSON directory file, for demos, tests and offline exports.
    File(FileSourceConfig),
    /// An Okta org (Management API).
    Okta(OktaSourceConfig),
    /// Microsoft Entra ID through Microsoft Graph.
    Entra(Box<super::source_entra::EntraSourceConfig>),
    /// A OneLogin account (API v2, groups from v1).
    OneLogin(Box<super::source_onelogin::OneLoginSourceConfig>),
    /// A JumpCloud organization (v1 system users, v2 user groups).
    JumpCloud(Box<super::source_jumpcloud::JumpCloudSourceConfig>),
    /// A PingOne environment through the PingOne Platform API.
    PingOne(Box<super::source_pingone::PingOneSourceConfig>),
    /// A Google Workspace account through the Admin SDK Directory API.
    Google(Box<super::source_google::GoogleSourceConfig>),
    /// An LDAP directory: Active Directory, OpenLDAP, FreeIPA or another.
    Ldap(Box<super::source_ldap::LdapSourceConfig>),
}

impl SourceConfig {
    /// How old the source data a run relied on may get before `state show`
    /// warns: the source's `full_fetch_interval` (the longest any change may
    /// wait by design), or a day for sources that have none.
    pub fn staleness_limit(&self) -> std::time::Duration {
        let day = std::time::Duration::from_secs(24 * 3600);
        match self {
            SourceConfig::Okta(config) => config.full_fetch_interval,
            SourceConfig::OneLogin(config) => config.full_fetch_interval,
            SourceConfig::Entra(config) => config.full_fetch_interval.unwrap_or(day),
            _ => day,
        }
    }

    /// The `type` as written in YAML, for logs, metrics and the plan header.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Scim(_) => "scim",
            SourceConfig::File(_) => "file",
            SourceConfig::Okta(_) => "okta",
            SourceConfig::Entra(_) => "entra",
            SourceConfig::OneLogin(_) => "onelogin",
            SourceConfig::JumpCloud(_) => "jumpcloud",
            SourceConfig::PingOne(_) => "pingone",
            SourceConfig::Google(_) => "google",
            SourceConfig::Ldap(_) => "ldap",
        }
    }

    /// The credentials this source uses, each with the config key it came
    /// from, so `check` can show their fingerprints (never their values).
    pub fn secrets(&self) -> Vec<(&'static str, &Secret)> {
        match self {
            SourceConfig::Scim(scim) => vec![("source.token", &scim.token)],
            SourceConfig::File(_) => Vec::new(),
            SourceConfig::Okta(okta) => match &okta.auth {
                super::source_okta::OktaAuth::ApiToken(token) => vec![("source.token", token)],
                super::source_okta::OktaAuth::OAuth(oauth) => {
                    vec![("source.oauth.private_key", &oauth.private_key)]
                }
            },
            SourceConfig::Entra(entra) => match &entra.credential {
                super::source_entra::EntraCredential::Secret(secret) => {
                    vec![("source.client_secret", secret)]
                }
                super::source_entra::EntraCredential::Certificate {
                    private_key_pem, ..
                } => {
                    vec![("source.private_key", private_key_pem)]
                }
            },
            SourceConfig::OneLogin(onelogin) => {
                vec![("source.client_secret", &onelogin.client_secret)]
            }
            SourceConfig::JumpCloud(jumpcloud) => match &jumpcloud.auth {
                super::source_jumpcloud::JumpCloudAuth::ApiKey(key) => {
                    vec![("source.api_key", key)]
                }
                super::source_jumpcloud::JumpCloudAuth::ServiceAccount {
                    client_secret, ..
                } => {
                    vec![("source.client_secret", client_secret)]
                }
            },
            SourceConfig::PingOne(pingone) => {
                vec![("source.client_secret", &pingone.client_secret)]
            }
            SourceConfig::Google(google) => match &google.signer {
                super::source_google::GoogleSigner::Key(key) => {
                    vec![("source.credentials_file", &key.private_key)]
                }
                super::source_google::GoogleSigner::Iam(_) => Vec::new(),
            },
            SourceConfig::Ldap(ldap) => vec![("source.bind_password", &ldap.bind_password)],
        }
    }
}

/// A SCIM 2.0 server as a source (`type: scim`).
#[derive(Debug, Clone)]
pub struct ScimSourceConfig {
    /// SCIM base URL (the part before `/Users`), without trailing slash.
    pub base_url: Url,
    /// Bearer token for the source.
    pub token: Secret,
    /// Resources requested per page (`count`), 1..=1000.
    pub page_size: u32,
    /// Total time allowed for one request.
    pub timeout: Duration,
    /// Our own ceiling on requests per second to the SCIM server.
    pub requests_per_second: NonZeroU32,
    /// Extra trusted CAs (a self-hosted server behind a private CA).
    pub ca_file: Option<super::ca::CaBundle>,
    /// This endpoint's proxy URL (`None`: the environment's); may carry credentials.
    pub proxy: Option<Secret>,
    /// Bounds on waits, pages and body sizes (`max_wait`, `max_pages`,
    /// `max_body`).
    pub limits: ListingLimits,
    /// Accept a server whose listings omit `totalResults`, reading until an
    /// empty page (`allow_missing_total`). Unsafe: a listing cut short then
    /// looks complete, and its missing users look removed.
    pub allow_missing_total: bool,
}

/// A directory file as a source (`type: file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSourceConfig {
    /// The file, resolved against the config file's directory.
    pub path: PathBuf,
}

/// Decodes a `source:` mapping, dispatching on its `type`.
pub(super) fn decode_source(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<SourceConfig> {
    let mut map = MapReader::open(ctx, Some(field.node), &field.path)?;
    let kind_field = map.require(ctx, "type")?;
    let kind = ctx.string(&kind_field)?;
    let source = match kind.trim() {
        "scim" => decode_scim(ctx, &mut map).map(SourceConfig::Scim),
        "file" => decode_file(ctx, &mut map).map(SourceConfig::File),
        "okta" => decode_okta(ctx, &mut map).map(SourceConfig::Okta),
        "entra" => super::source_entra::decode_entra(ctx, &mut map)
            .map(|c| SourceConfig::Entra(Box::new(c))),
        "onelogin" => super::source_onelogin::decode_onelogin(ctx, &mut map)
            .map(|c| SourceConfig::OneLogin(Box::new(c))),
        "jumpcloud" => super::source_jumpcloud::decode_jumpcloud(ctx, &mut map)
            .map(|c| SourceConfig::JumpCloud(Box::new(c))),
        "pingone" => super::source_pingone::decode_pingone(ctx, &mut map)
            .map(|c| SourceConfig::PingOne(Box::new(c))),
        "google" => super::source_google::decode_google(ctx, &mut map)
            .map(|c| SourceConfig::Google(Box::new(c))),
        "ldap" => {
            super::source_ldap::decode_ldap(ctx, &mut map).map(|c| SourceConfig::Ldap(Box::new(c)))
        }
        other => {
            ctx.problem(
                &kind_field.path,
                kind_field.node.location,
                format!(
                    "unknown source type {other:?} (expected one of: {})",
                    SOURCE_TYPES.join(", ")
                ),
            );
            // The other keys cannot be checked without knowing the type.
            return None;
        }
    };
    // Every vendor source may name a private CA and its own proxy; the scim
    // decoder reads its own.
    let source = if matches!(
        kind.trim(),
        "okta" | "entra" | "onelogin" | "jumpcloud" | "pingone" | "google"
    ) {
        let ca = ctx.ca_file(&mut map);
        let proxy = ctx.proxy(&mut map);
        match (source, ca, proxy) {
            (Some(mut vendor), Some(ca), Some(proxy)) => {
                match &mut vendor {
                    SourceConfig::Okta(c) => (c.ca_file, c.proxy) = (ca, proxy),
                    SourceConfig::Entra(c) => (c.ca_file, c.proxy) = (ca, proxy),
                    SourceConfig::OneLogin(c) => (c.ca_file, c.proxy) = (ca, proxy),
                    SourceConfig::JumpCloud(c) => (c.ca_file, c.proxy) = (ca, proxy),
                    SourceConfig::PingOne(c) => (c.ca_file, c.proxy) = (ca, proxy),
                    SourceConfig::Google(c) => (c.ca_file, c.proxy) = (ca, proxy),
                    SourceConfig::Scim(_) | SourceConfig::File(_) | SourceConfig::Ldap(_) => {}
                }
                Some(vendor)
            }
            _ => None,
        }
    } else {
        source
    };
    // LDAP reads only `max_pages` (its own decoder): no HTTP bodies or waits.
    let source = if matches!(kind.trim(), "file" | "ldap") {
        source
    } else {
        with_limits(ctx, &mut map, source)
    };
    map.finish(ctx);
    source
}

/// Reads the listing bounds every HTTP source accepts into its config.
fn with_limits(
    ctx: &mut Ctx<'_>,
    map: &mut MapReader<'_>,
    source: Option<SourceConfig>,
) -> Option<SourceConfig> {
    let limits = decode_limits(ctx, map);
    let mut source = source?;
    let limits = limits?;
    match &mut source {
        SourceConfig::Scim(c) => c.limits = limits,
        SourceConfig::Okta(c) => c.limits = limits,
        SourceConfig::Entra(c) => c.limits = limits,
        SourceConfig::OneLogin(c) => c.limits = limits,
        SourceConfig::JumpCloud(c) => c.limits = limits,
        SourceConfig::PingOne(c) => c.limits = limits,
        SourceConfig::Google(c) => c.limits = limits,
        SourceConfig::File(_) | SourceConfig::Ldap(_) => {}
    }
    Some(source)
}

fn decode_scim(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<ScimSourceConfig> {
    let base_url = map
        .require(ctx, "base_url")
        .and_then(|field| ctx.http_url(&field));
    let token = ctx.secret(map, "token", true).flatten();
    let page_size = match map.get("page_size") {
        Some(field) => ctx.integer(&field, 1..=MAX_PAGE_SIZE),
        None => Some(DEFAULT_PAGE_SIZE),
    };
    let timeout = match map.get("timeout") {
        Some(field) => ctx.duration(&field, true),
        None => Some(DEFAULT_TIMEOUT),
    };
    let requests_per_second = ctx.requests_per_second(map, DEFAULT_REQUESTS_PER_SECOND);
    let ca_file = ctx.ca_file(map);
    let proxy = ctx.proxy(map);
    let allow_missing_total = map
        .get("allow_missing_total")
        .map_or(Some(false), |field| ctx.boolean(&field));
    Some(ScimSourceConfig {
        base_url: base_url?,
        token: token?,
        page_size: u32::try_from(page_size?).ok()?,
        timeout: timeout?,
        requests_per_second: requests_per_second?,
        ca_file: ca_file?,
        proxy: proxy?,
        limits: ListingLimits::default(),
        allow_missing_total: allow_missing_total?,
    })
}

fn decode_file(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<FileSourceConfig> {
    let path_field = map.get("path");
    let url_field = map.get("base_url");
    let path = match (path_field, url_field) {
        (Some(field), None) => ctx
            .non_empty_string(&field)
            .map(|text| ctx.resolve_path(&PathBuf::from(text.trim()))),
        (None, Some(field)) => {
            let text = ctx.non_empty_string(&field)?;
            let path = Url::parse(text.trim())
                .ok()
                .filter(|url| url.scheme() == "file")
                .and_then(|url| url.to_file_path().ok());
            if path.is_none() {
                ctx.problem(
                    &field.path,
                    field.node.location,
                    "must be a file:///absolute/path URL (or use path: instead)",
                );
            }
            path
        }
        (Some(field), Some(_)) => {
            ctx.problem(
                &field.path,
                field.node.location,
                "set either path or base_url, not both",
            );
            None
        }
        (None, None) => {
            ctx.problem(
                &map.child_path("path"),
                map.location(),
                "is required (the directory file, relative to the config file)",
            );
            None
        }
    };
    Some(FileSourceConfig { path: path? })
}
