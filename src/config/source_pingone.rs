//! `source.type: pingone`: a PingOne environment read through the PingOne
//! Platform API by a worker application (client credentials).
//!
//! Decoding checks what can be checked without a network: the identifiers
//! that end up in URL paths, the region (or explicit URLs), the secret and
//! the knobs. The adapter in `source::pingone` only builds clients from it.

use std::num::NonZeroU32;
use std::time::Duration;

use reqwest::Url;

use super::nested_groups::{NestedGroups, decode_nested_groups};
use super::reader::{self, Ctx, DEFAULT_TIMEOUT, Field, MapReader, choice};
use super::secret::Secret;

/// Largest `limit` PingOne accepts on `/users` and `/groups` (spec: 1..1000).
pub const PINGONE_MAX_PAGE_SIZE: u64 = 1000;
/// Our own request ceiling by default. PingOne limits per licence and rate
/// group, and one IP gets 35% of the licence rate by default: 10/s stays
/// well inside that for every licence tier while reading 1000-user pages.
const DEFAULT_REQUESTS_PER_SECOND: u32 = 10;

/// The PingOne regions, each with its own top-level domain: the API lives at
/// `https://api.pingone.{tld}/v1`, the token endpoint at
/// `https://auth.pingone.{tld}/{environmentId}/as/token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingOneRegion {
    /// North America (`com`).
    NorthAmerica,
    /// Europe (`eu`).
    Europe,
    /// Asia-Pacific (`asia`).
    AsiaPacific,
    /// Canada (`ca`).
    Canada,
    /// Australia (`com.au`).
    Australia,
    /// Singapore (`sg`).
    Singapore,
}

/// Every region: (what an admin may write, region). The domain is the
/// canonical spelling; the SDKs' region codes are accepted as well.
const REGIONS: &[(&str, PingOneRegion)] = &[
    ("com", PingOneRegion::NorthAmerica),
    ("eu", PingOneRegion::Europe),
    ("asia", PingOneRegion::AsiaPacific),
    ("ca", PingOneRegion::Canada),
    ("com.au", PingOneRegion::Australia),
    ("sg", PingOneRegion::Singapore),
    ("na", PingOneRegion::NorthAmerica),
    ("ap", PingOneRegion::AsiaPacific),
    ("au", PingOneRegion::Australia),
];

impl PingOneRegion {
    /// The top-level domain of the region's hosts.
    pub fn tld(self) -> &'static str {
        match self {
            PingOneRegion::NorthAmerica => "com",
            PingOneRegion::Europe => "eu",
            PingOneRegion::AsiaPacific => "asia",
            PingOneRegion::Canada => "ca",
            PingOneRegion::Australia => "com.au",
            PingOneRegion::Singapore => "sg",
        }
    }

    /// Parses `com`, `eu`, … or a region code (`NA`, `AP`, `AU`), any case.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        REGIONS
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, region)| *region)
    }

    /// The Platform API base of the region, version included.
    pub fn api_base(self) -> String {
        format!("https://api.pingone.{}/v1", self.tld())
    }

    /// The token endpoint of an environment in the region.
    pub fn token_url(self, environment_id: &str) -> String {
        format!(
            "https://auth.pingone.{}/{environment_id}/as/token",
            self.tld()
        )
    }
}

/// How the worker app authenticates at the token endpoint; it must match
/// the app's *Token Endpoint Authentication Method* in PingOne.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuthMethod {
    /// `CLIENT_SECRET_BASIC` (PingOne's default): HTTP Basic with id:secret.
    ClientSecretBasic,
    /// `CLIENT_SECRET_POST`: `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// A PingOne environment as a source (`type: pingone`).
#[derive(Debug, Clone)]
pub struct PingOneSourceConfig {
    /// The environment's id (a UUID, *Environment* → *Settings*).
    pub environment_id: String,
    /// The worker application's client id.
    pub client_id: String,
    /// The worker application's client secret.
    pub client_secret: Secret,
    /// How the secret is presented to the token endpoint.
    pub token_auth_method: TokenAuthMethod,
    /// The region, when one was set (URLs below follow from it).
    pub region: Option<PingOneRegion>,
    /// Platform API base including `/v1` (from `region`, or `base_url`).
    pub base_url: Url,
    /// Token endpoint (from `region` and the environment, or `token_url`).
    pub token_url: Url,
    /// Only users of this population (and environment groups plus groups
    /// of this population) are synced, if set.
    pub population_id: Option<String>,
    /// Nested group handling.
    pub nested_groups: NestedGroups,
    /// Records per page (`limit`), 1..=1000.
    pub page_size: u32,
    /// Our own ceiling on requests per second to PingOne.
    pub requests_per_second: NonZeroU32,
    /// Total time allowed for one request.
    pub timeout: Duration,
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

/// An id that is pasted into URL paths and filters: letters, digits and
/// `-` only (PingOne ids are UUIDs), so it can never change the request.
fn identifier(ctx: &mut Ctx<'_>, field: &Field<'_>, what: &str) -> Option<String> {
    reader::identifier(
        ctx,
        field,
        |c| c.is_ascii_alphanumeric() || c == '-',
        format!("must be the {what} (a UUID: letters, digits and '-')"),
    )
}

/// Decodes `region`, `base_url` and `token_url` (each `None` after a
/// problem): the URLs default to the region's, so `region` is required
/// unless both are set. The region's outer `None` is an unknown region.
fn decode_endpoints(
    ctx: &mut Ctx<'_>,
    map: &mut MapReader<'_>,
    environment_id: Option<&str>,
) -> (Option<Option<PingOneRegion>>, Option<Url>, Option<Url>) {
    // Outer `None`: a region was written but is not one we know.
    let region: Option<Option<PingOneRegion>> = match map.get("region") {
        Some(field) => ctx.string(&field).and_then(|text| {
            let region = PingOneRegion::parse(&text);
            if region.is_none() {
                ctx.problem(
                    &field.path,
                    field.node.location,
                    "must be one of: com, eu, asia, ca, com.au, sg (the domain of your PingOne console, e.g. console.pingone.eu → eu)",
                );
            }
            region.map(Some)
        }),
        None => Some(None),
    };
    let base_field = map.get("base_url");
    let token_field = map.get("token_url");
    if region == Some(None) && (base_field.is_none() || token_field.is_none()) {
        ctx.problem(
            &map.child_path("region"),
            map.location(),
            "is required (com, eu, asia, ca, com.au or sg), unless both base_url and token_url are set",
        );
    }
    let base_url = match &base_field {
        Some(field) => ctx.http_url(field),
        None => region
            .flatten()
            .and_then(|r| Url::parse(&r.api_base()).ok()),
    };
    let token_url = match &token_field {
        Some(field) => ctx.http_url(field),
        None => match (region.flatten(), environment_id) {
            (Some(region), Some(environment)) => Url::parse(&region.token_url(environment)).ok(),
            _ => None,
        },
    };
    (region, base_url, token_url)
}

/// Decodes the keys of a `type: pingone` source mapping.
pub(super) fn decode_pingone(
    ctx: &mut Ctx<'_>,
    map: &mut MapReader<'_>,
) -> Option<PingOneSourceConfig> {
    let environment_id = map
        .require(ctx, "environment_id")
        .and_then(|field| identifier(ctx, &field, "environment's id"));
    let client_id = map
        .require(ctx, "client_id")
        .and_then(|field| identifier(ctx, &field, "worker application's client id"));
    let client_secret = ctx.secret(map, "client_secret", true).flatten();
    let token_auth_method = match map.get("token_auth_method") {
        Some(field) => choice(
            ctx,
            &field,
            &[
                ("client_secret_basic", TokenAuthMethod::ClientSecretBasic),
                ("client_secret_post", TokenAuthMethod::ClientSecretPost),
            ],
        ),
        None => Some(TokenAuthMethod::ClientSecretBasic),
    };
    let (region, base_url, token_url) = decode_endpoints(ctx, map, environment_id.as_deref());
    let population_id = match map.get("population_id") {
        Some(field) => identifier(ctx, &field, "population's id").map(Some),
        None => Some(None),
    };
    let nested_groups = decode_nested_groups(ctx, map);
    let page_size = match map.get("page_size") {
        Some(field) => ctx.integer(&field, 1..=PINGONE_MAX_PAGE_SIZE),
        None => Some(PINGONE_MAX_PAGE_SIZE),
    };
    let requests_per_second = ctx.requests_per_second(map, DEFAULT_REQUESTS_PER_SECOND);
    let timeout = match map.get("timeout") {
        Some(field) => ctx.duration(&field, true),
        None => Some(DEFAULT_TIMEOUT),
    };
    Some(PingOneSourceConfig {
        environment_id: environment_id?,
        client_id: client_id?,
        client_secret: client_secret?,
        token_auth_method: token_auth_method?,
        region: region?,
        base_url: base_url?,
        token_url: token_url?,
        population_id: population_id?,
        nested_groups: nested_groups?,
        page_size: u32::try_from(page_size?).ok()?,
        requests_per_second: requests_per_second?,
        timeout: timeout?,
        ca_file: None,
        limits: super::source_limits::ListingLimits::default(),
        proxy: None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::path::Path;

    use super::super::{MemoryEnvironment, SourceConfig, load_str};
    use super::*;

    const TARGET: &str = "{url: https://p.example/scim/v2/o, token: t}";
    const ENV: &str = "abcdef01-2345-6789-abcd-ef0123456789";

    fn load(source: &str, env: &MemoryEnvironment) -> Result<PingOneSourceConfig, Vec<String>> {
        let text =
            format!("connections:\n  - name: c1\n    source: {source}\n    target: {TARGET}\n");
        match load_str(&text, Path::new("/etc/penvio/p.yaml"), env) {
            Ok(config) => match config.connections.into_iter().next().unwrap().source {
                SourceConfig::PingOne(pingone) => Ok(*pingone),
                other => panic!("not pingone: {other:?}"),
            },
            Err(super::super::ConfigError::Invalid { problems, .. }) => {
                Err(problems.iter().map(|p| p.to_string()).collect())
            }
            Err(other) => panic!("{other}"),
        }
    }

    fn problems(source: &str) -> String {
        load(source, &MemoryEnvironment::new())
            .unwrap_err()
            .join("\n")
    }

    #[test]
    fn the_commented_example_in_the_example_config_validates() {
        let example = include_str!("../../config/penvio-sync.example.yaml");
        let block: Vec<String> = example
            .lines()
            .skip_while(|line| !line.starts_with("  # - name: pingone-prod"))
            .take_while(|line| line.starts_with("  #"))
            .map(|line| line.replacen("# ", "", 1))
            .collect();
        assert!(block.len() > 10, "the example has a PingOne connection");
        let text = format!("state_dir: /tmp/x\nconnections:\n{}\n", block.join("\n"));
        let env = MemoryEnvironment::new()
            .with_file("/etc/penvio-sync/pingone-secret", "p1-secret\n")
            .with_file("/tmp/penvio-token", "penvio-secret\n");
        let config = load_str(&text, Path::new("/tmp/penvio-sync.yaml"), &env)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let SourceConfig::PingOne(p1) = &config.connections[0].source else {
            panic!("not pingone")
        };
        assert_eq!(p1.base_url.as_str(), "https://api.pingone.eu/v1");
        assert_eq!(
            p1.token_url.as_str(),
            "https://auth.pingone.eu/00000000-0000-0000-0000-000000000000/as/token"
        );
        assert_eq!(p1.client_secret.expose(), "p1-secret");
    }

    #[test]
    fn regions_map_to_their_hosts() {
        let cases = [
            ("com", "com"),
            ("eu", "eu"),
            ("asia", "asia"),
            ("ca", "ca"),
            ("com.au", "com.au"),
            ("sg", "sg"),
            ("NA", "com"),
            ("AP", "asia"),
            ("AU", "com.au"),
            ("EU", "eu"),
        ];
        for (written, tld) in cases {
            let region = PingOneRegion::parse(written).unwrap();
            assert_eq!(region.tld(), tld, "{written}");
            assert_eq!(region.api_base(), format!("https://api.pingone.{tld}/v1"));
            assert_eq!(
                region.token_url("env-1"),
                format!("https://auth.pingone.{tld}/env-1/as/token")
            );
        }
        assert_eq!(PingOneRegion::parse("us"), None);
    }

    #[test]
    fn defaults_follow_the_region() {
        let config = load(
            &format!(
                "{{type: pingone, environment_id: {ENV}, client_id: c-1, client_secret: s3cret, region: eu}}"
            ),
            &MemoryEnvironment::new(),
        )
        .unwrap();
        assert_eq!(config.base_url.as_str(), "https://api.pingone.eu/v1");
        assert_eq!(
            config.token_url.as_str(),
            format!("https://auth.pingone.eu/{ENV}/as/token")
        );
        assert_eq!(config.region, Some(PingOneRegion::Europe));
        assert_eq!(config.token_auth_method, TokenAuthMethod::ClientSecretBasic);
        assert_eq!(config.nested_groups, NestedGroups::Flatten);
        assert_eq!(config.page_size, 1000);
        assert_eq!(config.requests_per_second.get(), 10);
        assert_eq!(config.population_id, None);
        assert_eq!(config.timeout, DEFAULT_TIMEOUT);
        assert!(!format!("{config:?}").contains("s3cret"), "redacted");
    }

    #[test]
    fn the_secret_may_come_from_a_file_and_urls_may_be_overridden() {
        let env = MemoryEnvironment::new().with_file("/etc/penvio/p1-secret", "from-file\n");
        let config = load(
            "{type: pingone, environment_id: e1, client_id: c1, client_secret_file: p1-secret, base_url: http://127.0.0.1:9/v1, token_url: http://127.0.0.1:9/e1/as/token, token_auth_method: client_secret_post, population_id: pop-1, nested_groups: ignore, page_size: 2}",
            &env,
        )
        .unwrap();
        assert_eq!(config.client_secret.expose(), "from-file");
        assert_eq!(config.base_url.as_str(), "http://127.0.0.1:9/v1");
        assert_eq!(config.region, None);
        assert_eq!(config.token_auth_method, TokenAuthMethod::ClientSecretPost);
        assert_eq!(config.population_id.as_deref(), Some("pop-1"));
        assert_eq!(config.nested_groups, NestedGroups::Ignore);
        assert_eq!(config.page_size, 2);
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let text = problems("{type: pingone}");
        for expected in [
            "connections[0].source.environment_id: is required",
            "connections[0].source.client_id: is required",
            "connections[0].source.client_secret: is required (set client_secret, or client_secret_file",
            "connections[0].source.region: is required (com, eu, asia, ca, com.au or sg), unless both base_url and token_url are set",
        ] {
            assert!(text.contains(expected), "{expected}\n---\n{text}");
        }
        let text = problems(
            "{type: pingone, environment_id: \"e/../x\", client_id: c, client_secret: s, region: us, token_auth_method: private_key_jwt, nested_groups: deep, page_size: 5000, population_id: \"a b\"}",
        );
        for expected in [
            "connections[0].source.environment_id: must be the environment's id",
            "connections[0].source.region: must be one of: com, eu, asia, ca, com.au, sg",
            "connections[0].source.token_auth_method: must be one of: client_secret_basic, client_secret_post",
            "connections[0].source.nested_groups: must be one of: flatten, ignore",
            "connections[0].source.page_size: must be between 1 and 1000",
            "connections[0].source.population_id: must be the population's id",
        ] {
            assert!(text.contains(expected), "{expected}\n---\n{text}");
        }
        let text = problems(
            "{type: pingone, environment_id: e, client_id: c, client_secret: s, base_url: http://api.example/v1}",
        );
        assert!(
            text.contains("connections[0].source.base_url: must be https"),
            "{text}"
        );
        assert!(
            text.contains("connections[0].source.region: is required"),
            "only base_url set: {text}"
        );
        let text = problems(
            "{type: pingone, environment_id: e, client_id: c, client_secret: s, region: com, tenant_id: t}",
        );
        assert!(
            text.contains("connections[0].source.tenant_id: unknown key"),
            "{text}"
        );
    }
}
