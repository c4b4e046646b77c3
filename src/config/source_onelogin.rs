//! `source.type: onelogin`: a OneLogin account read through its API (v2 for
//! users and roles, v1 for groups) with an API credential pair (OAuth 2.0
//! client credentials).

use std::num::NonZeroU32;
use std::time::Duration;

use reqwest::Url;

use super::reader::{Ctx, DEFAULT_TIMEOUT, Field, MapReader, vendor_base_url};
use super::secret::Secret;

/// The API host of an account, from its subdomain. The saved vendor spec
/// and facts name only this host (no regional variant for v2), so EU
/// accounts use it too; `base_url` covers anything else.
pub const ONELOGIN_HOST_SUFFIX: &str = "onelogin.com";

/// Our own request ceiling by default. OneLogin's budget is per hour
/// (5,000 by default), so this only smooths bursts; `max_rate_limit_share`
/// protects the hourly budget.
const DEFAULT_REQUESTS_PER_SECOND: u32 = 10;
/// Share of the account's hourly rate limit we use by default; the rest is
/// left to the account's other integrations.
const DEFAULT_RATE_LIMIT_SHARE: f64 = 0.5;
/// How often a full read replaces incremental ones (users deleted in
/// OneLogin only disappear on a full read).
const DEFAULT_FULL_FETCH_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// Where Penvio teams come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamsFrom {
    /// OneLogin roles (many per user, `/api/2/roles/{id}/users`): what most
    /// accounts use to grant app access to teams.
    Roles,
    /// OneLogin groups (exactly one per user, the user's `group_id`).
    Groups,
}

/// A OneLogin account as a source (`type: onelogin`).
#[derive(Debug, Clone)]
pub struct OneLoginSourceConfig {
    /// The account's API root, e.g. `https://acme.onelogin.com` (from
    /// `subdomain` or `base_url`).
    pub base_url: Url,
    /// Client id of the API credential pair.
    pub client_id: String,
    /// Client secret of the API credential pair.
    pub client_secret: Secret,
    /// Whether teams are read from roles or groups.
    pub teams_from: TeamsFrom,
    /// Treat Unactivated users (status 0, never logged in) as active, so
    /// they are provisioned before their first login.
    pub provision_unactivated: bool,
    /// Share (0..=1) of OneLogin's rate limit we use before pausing to the reset.
    pub max_rate_limit_share: f64,
    /// Longest time between full reads; runs in between read changed users only.
    pub full_fetch_interval: Duration,
    /// Total time allowed for one request.
    pub timeout: Duration,
    /// Our own ceiling on requests per second to OneLogin.
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

/// Decodes the keys of a `type: onelogin` source mapping.
pub(super) fn decode_onelogin(
    ctx: &mut Ctx<'_>,
    map: &mut MapReader<'_>,
) -> Option<OneLoginSourceConfig> {
    let base_url = decode_base_url(ctx, map);
    let client_id = match map.get("client_id") {
        Some(field) => ctx.non_empty_string(&field).map(|s| s.trim().to_owned()),
        None => {
            ctx.problem(
                &map.child_path("client_id"),
                map.location(),
                "is required (the Client ID of an API credential pair: Developers → API Credentials)",
            );
            None
        }
    };
    let client_secret = ctx.secret(map, "client_secret", true).flatten();
    let teams_from = match map.get("teams_from") {
        Some(field) => teams_from(ctx, &field),
        None => Some(TeamsFrom::Roles),
    };
    let provision_unactivated = match map.get("provision_unactivated") {
        Some(field) => ctx.boolean(&field),
        None => Some(false),
    };
    let max_rate_limit_share = match map.get("max_rate_limit_share") {
        Some(field) => ctx.percentage(&field),
        None => Some(DEFAULT_RATE_LIMIT_SHARE),
    };
    let full_fetch_interval = match map.get("full_fetch_interval") {
        Some(field) => ctx.duration(&field, true),
        None => Some(DEFAULT_FULL_FETCH_INTERVAL),
    };
    let timeout = match map.get("timeout") {
        Some(field) => ctx.duration(&field, true),
        None => Some(DEFAULT_TIMEOUT),
    };
    let requests_per_second = ctx.requests_per_second(map, DEFAULT_REQUESTS_PER_SECOND);
    Some(OneLoginSourceConfig {
        base_url: base_url?,
        client_id: client_id?,
        client_secret: client_secret?,
        teams_from: teams_from?,
        provision_unactivated: provision_unactivated?,
        max_rate_limit_share: max_rate_limit_share?,
        full_fetch_interval: full_fetch_interval?,
        timeout: timeout?,
        requests_per_second: requests_per_second?,
        ca_file: None,
        limits: super::source_limits::ListingLimits::default(),
        proxy: None,
    })
}

/// `subdomain` (like acme for acme.onelogin.com) or `base_url`.
fn decode_base_url(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<Url> {
    vendor_base_url(
        ctx,
        map,
        "subdomain",
        "is required (your OneLogin subdomain, like acme for acme.onelogin.com; or base_url)",
        |text| {
            let label = text.to_ascii_lowercase();
            let valid = label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if valid {
                Ok(format!("https://{label}.{ONELOGIN_HOST_SUFFIX}"))
            } else {
                Err(
                    "must be the subdomain only, like acme for acme.onelogin.com (use base_url for a full URL)",
                )
            }
        },
    )
}

fn teams_from(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<TeamsFrom> {
    let text = ctx.string(field)?;
    match text.trim() {
        "roles" => Some(TeamsFrom::Roles),
        "groups" => Some(TeamsFrom::Groups),
        _ => {
            ctx.problem(
                &field.path,
                field.node.location,
                "must be one of: roles, groups",
            );
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::path::Path;

    use crate::config::{ProcessEnvironment, SourceConfig, load_str};

    use super::*;

    fn load(source: &str) -> Result<OneLoginSourceConfig, String> {
        let text = format!(
            "state_dir: /tmp/x\nconnections:\n  - name: onelogin\n    source: {source}\n    target: {{url: https://penvio.io/api/scim/v2/org, token: t}}\n"
        );
        match load_str(
            &text,
            Path::new("/tmp/penvio-sync.yaml"),
            &ProcessEnvironment,
        ) {
            Ok(config) => match config.connections.into_iter().next().unwrap().source {
                SourceConfig::OneLogin(onelogin) => Ok(*onelogin),
                other => panic!("not onelogin: {other:?}"),
            },
            Err(error) => Err(error.to_string()),
        }
    }

    #[test]
    fn the_commented_example_in_the_example_config_validates() {
        let example = include_str!("../../config/penvio-sync.example.yaml");
        let block: Vec<String> = example
            .lines()
            .skip_while(|line| !line.starts_with("  # - name: onelogin-prod"))
            .take_while(|line| line.starts_with("  #"))
            .map(|line| line.replacen("# ", "", 1))
            .collect();
        assert!(block.len() > 10, "the example has a OneLogin connection");
        let text = format!("state_dir: /tmp/x\nconnections:\n{}\n", block.join("\n"));
        let env = crate::config::MemoryEnvironment::default()
            .with_file("/etc/penvio-sync/onelogin-client-secret", "ol-secret\n")
            .with_file("/tmp/penvio-token", "penvio-secret\n");
        let config = load_str(&text, Path::new("/tmp/penvio-sync.yaml"), &env)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let SourceConfig::OneLogin(onelogin) = &config.connections[0].source else {
            panic!()
        };
        assert_eq!(onelogin.base_url.as_str(), "https://acme.onelogin.com/");
        assert_eq!(onelogin.client_secret.expose(), "ol-secret");
        assert_eq!(onelogin.teams_from, TeamsFrom::Roles);
    }

    #[test]
    fn defaults_and_subdomain() {
        let config =
            load("{type: onelogin, subdomain: Acme, client_id: cid, client_secret: s3cr3t}")
                .unwrap();
        assert_eq!(config.base_url.as_str(), "https://acme.onelogin.com/");
        assert_eq!(config.client_id, "cid");
        assert_eq!(config.teams_from, TeamsFrom::Roles);
        assert!(!config.provision_unactivated);
        assert_eq!(config.max_rate_limit_share, 0.5);
        assert_eq!(config.full_fetch_interval, Duration::from_secs(86_400));
        assert_eq!(config.requests_per_second.get(), 10);
        assert!(
            !format!("{config:?}").contains("s3cr3t"),
            "the secret is redacted"
        );
        let groups = load(
            "{type: onelogin, base_url: 'http://127.0.0.1:9/ol', client_id: c, client_secret: s, teams_from: groups, provision_unactivated: true, full_fetch_interval: 6h}",
        )
        .unwrap();
        assert_eq!(groups.teams_from, TeamsFrom::Groups);
        assert!(groups.provision_unactivated);
        assert_eq!(groups.full_fetch_interval, Duration::from_secs(6 * 3600));
        assert_eq!(groups.base_url.as_str(), "http://127.0.0.1:9/ol");
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let cases = [
            (
                "{type: onelogin, client_id: c, client_secret: s}",
                "connections[0].source.subdomain: is required",
            ),
            (
                "{type: onelogin, subdomain: acme, base_url: 'https://acme.onelogin.com', client_id: c, client_secret: s}",
                "connections[0].source.subdomain: set either subdomain or base_url",
            ),
            (
                "{type: onelogin, subdomain: acme.onelogin.com, client_id: c, client_secret: s}",
                "connections[0].source.subdomain: must be the subdomain only",
            ),
            (
                "{type: onelogin, base_url: 'http://acme.onelogin.com', client_id: c, client_secret: s}",
                "connections[0].source.base_url: must be https",
            ),
            (
                "{type: onelogin, subdomain: acme, client_secret: s}",
                "connections[0].source.client_id: is required",
            ),
            (
                "{type: onelogin, subdomain: acme, client_id: c}",
                "connections[0].source.client_secret: is required",
            ),
            (
                "{type: onelogin, subdomain: acme, client_id: c, client_secret: s, client_secret_file: /x}",
                "connections[0].source.client_secret: set either client_secret or client_secret_file",
            ),
            (
                "{type: onelogin, subdomain: acme, client_id: c, client_secret: s, teams_from: apps}",
                "connections[0].source.teams_from: must be one of: roles, groups",
            ),
            (
                "{type: onelogin, subdomain: acme, client_id: c, client_secret: s, provision_unactivated: 'yes'}",
                "connections[0].source.provision_unactivated: must be true or false",
            ),
            (
                "{type: onelogin, subdomain: acme, client_id: c, client_secret: s, max_rate_limit_share: 0.5}",
                "connections[0].source.max_rate_limit_share: must be a percentage",
            ),
            (
                "{type: onelogin, subdomain: acme, client_id: c, client_secret: s, full_fetch_interval: 0s}",
                "connections[0].source.full_fetch_interval: must be longer than zero",
            ),
            (
                "{type: onelogin, subdomain: acme, client_id: c, client_secret: s, region: eu}",
                "connections[0].source.region: unknown key",
            ),
        ];
        for (source, expected) in cases {
            let error = load(source).unwrap_err();
            assert!(
                error.contains(expected),
                "{source}\n  expected {expected:?}\n  got {error}"
            );
            assert!(!error.contains("s3cr3t"));
        }
    }
}
