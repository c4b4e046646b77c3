//! `source.type: okta`: an Okta org read through its Management API, with an
//! API token or an OAuth 2.0 service app (`private_key_jwt`).

use std::num::NonZeroU32;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Url;

use super::reader::{Ctx, DEFAULT_TIMEOUT, Field, MapReader, vendor_base_url};
use super::secret::Secret;

/// Scopes a service app asks for when `oauth.scopes` is not set: reading
/// users and groups is all the adapter does.
pub const OKTA_DEFAULT_SCOPES: &[&str] = &["okta.users.read", "okta.groups.read"];
/// The extra scope listing an app's assignments needs (`app_id`).
pub const OKTA_APPS_SCOPE: &str = "okta.apps.read";

/// Our own request ceiling by default: well under any Okta plan's per-minute
/// buckets, fast enough for 200-user pages.
const DEFAULT_REQUESTS_PER_SECOND: u32 = 10;
/// Share of Okta's per-endpoint limit we use by default; the rest is left to
/// the org's other integrations.
const DEFAULT_RATE_LIMIT_SHARE: f64 = 0.5;
/// How often a full read replaces incremental ones (users deleted in Okta
/// only disappear on a full read).
const DEFAULT_FULL_FETCH_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// An Okta org as a source (`type: okta`).
#[derive(Debug, Clone)]
pub struct OktaSourceConfig {
    /// The org URL, e.g. `https://acme.okta.com` (from `domain` or `base_url`).
    pub base_url: Url,
    /// How requests are authorised.
    pub auth: OktaAuth,
    /// Only users and groups assigned to this app are synced, if set.
    pub app_id: Option<String>,
    /// Also report DEPROVISIONED users that no earlier fetch knew (as
    /// inactive), e.g. so `reconcile --adopt` can deactivate Penvio accounts
    /// of people offboarded before penvio-sync was installed.
    pub include_deprovisioned: bool,
    /// Treat STAGED and PROVISIONED users (not yet activated) as active.
    pub provision_staged: bool,
    /// Share (0..=1) of Okta's rate limit we use before pausing to the reset.
    pub max_rate_limit_share: f64,
    /// Longest time between full reads; runs in between read changes only.
    pub full_fetch_interval: Duration,
    /// Total time allowed for one request.
    pub timeout: Duration,
    /// Our own ceiling on requests per second to Okta.
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

/// How the adapter authenticates to Okta.
#[derive(Debug, Clone)]
pub enum OktaAuth {
    /// `Authorization: SSWS <token>`: an API token of a read-only admin.
    ApiToken(Secret),
    /// An API Services app signing a JWT client assertion.
    OAuth(OktaOAuthConfig),
}

/// An OAuth 2.0 service app using `private_key_jwt`.
#[derive(Debug, Clone)]
pub struct OktaOAuthConfig {
    /// The app's client id (`iss` and `sub` of the assertion).
    pub client_id: String,
    /// The PEM private key whose public JWK is registered on the app.
    pub private_key: Secret,
    /// RS256 or ES256, from the key's type.
    pub algorithm: Algorithm,
    /// The `kid` of the registered public key.
    pub key_id: String,
    /// Scopes requested (space-joined in the token request).
    pub scopes: Vec<String>,
}

/// Decodes the keys of a `type: okta` source mapping.
pub(super) fn decode_okta(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<OktaSourceConfig> {
    let base_url = decode_base_url(ctx, map);
    let app_id = match map.get("app_id") {
        Some(field) => ctx.non_empty_string(&field).and_then(|text| {
            let text = text.trim().to_owned();
            if text.chars().all(|c| c.is_ascii_alphanumeric()) {
                Some(Some(text))
            } else {
                ctx.problem(
                    &field.path,
                    field.node.location,
                    "must be the app's id (letters and digits, like 0oa1b2c3d4XYZ), as shown in the app's Admin Console URL",
                );
                None
            }
        }),
        None => Some(None),
    };
    let auth = decode_auth(ctx, map, app_id.as_ref().is_some_and(Option::is_some));
    let include_deprovisioned = map
        .get("include_deprovisioned")
        .map_or(Some(false), |field| ctx.boolean(&field));
    let provision_staged = map
        .get("provision_staged")
        .map_or(Some(false), |field| ctx.boolean(&field));
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
    Some(OktaSourceConfig {
        base_url: base_url?,
        auth: auth?,
        app_id: app_id?,
        include_deprovisioned: include_deprovisioned?,
        provision_staged: provision_staged?,
        max_rate_limit_share: max_rate_limit_share?,
        full_fetch_interval: full_fetch_interval?,
        timeout: timeout?,
        requests_per_second: requests_per_second?,
        ca_file: None,
        limits: super::source_limits::ListingLimits::default(),
        proxy: None,
    })
}

/// `domain` (a host name like acme.okta.com) or `base_url`.
fn decode_base_url(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<Url> {
    vendor_base_url(
        ctx,
        map,
        "domain",
        "is required (your Okta domain, like acme.okta.com; or base_url)",
        |host| {
            if host.contains("://") || host.contains('/') {
                Err("must be a host name like acme.okta.com (use base_url for a full URL)")
            } else {
                Ok(format!("https://{host}"))
            }
        },
    )
}

/// `token`/`token_file` (API token) or `oauth:` (service app), not both.
fn decode_auth(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>, with_app: bool) -> Option<OktaAuth> {
    let token = ctx.secret(map, "token", false);
    let oauth_field = map.get("oauth");
    let oauth = oauth_field
        .as_ref()
        .map(|field| decode_oauth(ctx, field, with_app));
    match (token?, oauth_field, oauth) {
        (Some(token), None, _) => Some(OktaAuth::ApiToken(token)),
        (None, Some(_), Some(oauth)) => oauth.map(OktaAuth::OAuth),
        (Some(_), Some(field), _) => {
            ctx.problem(
                &field.path,
                field.node.location,
                "set either token (or token_file) or oauth, not both",
            );
            None
        }
        (None, _, _) => {
            ctx.problem(
                &map.child_path("token"),
                map.location(),
                "is required: set token (or token_file) to an API token, or oauth: for an API Services app",
            );
            None
        }
    }
}

fn decode_oauth(ctx: &mut Ctx<'_>, field: &Field<'_>, with_app: bool) -> Option<OktaOAuthConfig> {
    let mut map = MapReader::open(ctx, Some(field.node), &field.path)?;
    let client_id = map
        .require(ctx, "client_id")
        .and_then(|f| ctx.non_empty_string(&f));
    let key_id = map
        .require(ctx, "key_id")
        .and_then(|f| ctx.non_empty_string(&f));
    let key_path = if map.get("private_key").is_some() {
        map.child_path("private_key")
    } else {
        map.child_path("private_key_file")
    };
    let private_key = ctx.secret(&mut map, "private_key", true).flatten();
    let algorithm = private_key.as_ref().and_then(|key| {
        key_algorithm(key.expose())
            .map_err(|message| ctx.problem(&key_path, map.location(), message))
            .ok()
    });
    let scopes_field = map.get("scopes");
    let scopes = match &scopes_field {
        Some(f) => ctx.list(f, |ctx, item| {
            ctx.non_empty_string(item).map(|s| s.trim().to_owned())
        }),
        None => {
            let mut scopes: Vec<String> =
                OKTA_DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect();
            if with_app {
                scopes.push(OKTA_APPS_SCOPE.to_owned());
            }
            Some(scopes)
        }
    };
    if let (Some(f), Some(scopes)) = (&scopes_field, &scopes)
        && with_app
        && !scopes.iter().any(|s| s == OKTA_APPS_SCOPE)
    {
        ctx.problem(
            &f.path,
            f.node.location,
            format!("must include {OKTA_APPS_SCOPE} when app_id is set (listing the app's assignments needs it)"),
        );
    }
    map.finish(ctx);
    Some(OktaOAuthConfig {
        client_id: client_id?.trim().to_owned(),
        private_key: private_key?,
        algorithm: algorithm?,
        key_id: key_id?.trim().to_owned(),
        scopes: scopes?,
    })
}

/// The signing algorithm a PEM private key supports (RS256 for RSA, ES256
/// for P-256), proven by signing a probe. Messages never quote the key.
fn key_algorithm(pem: &str) -> Result<Algorithm, String> {
    let probe = serde_json::json!({"probe": true});
    if let Ok(key) = EncodingKey::from_rsa_pem(pem.as_bytes())
        && jsonwebtoken::encode(&Header::new(Algorithm::RS256), &probe, &key).is_ok()
    {
        return Ok(Algorithm::RS256);
    }
    if let Ok(key) = EncodingKey::from_ec_pem(pem.as_bytes())
        && jsonwebtoken::encode(&Header::new(Algorithm::ES256), &probe, &key).is_ok()
    {
        return Ok(Algorithm::ES256);
    }
    if pem.contains("BEGIN EC PRIVATE KEY") {
        return Err("is an EC key in SEC1 form; convert it to PKCS#8 (openssl pkcs8 -topk8 -nocrypt -in key.pem -out key-pkcs8.pem)".to_owned());
    }
    if pem.contains("ENCRYPTED") {
        return Err("is an encrypted key; penvio-sync needs it unencrypted (protect the file with permissions or systemd credentials)".to_owned());
    }
    Err("is not an RSA or P-256 EC private key in PEM form (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)".to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::path::Path;

    use crate::config::{ProcessEnvironment, SourceConfig, load_str};

    use super::*;

    const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/okta/test-keys");

    /// git does not keep file modes: make the test keys private, as the
    /// config requires of secret files.
    fn private_test_keys() {
        use std::os::unix::fs::PermissionsExt;
        for entry in std::fs::read_dir(KEYS).unwrap() {
            let path = entry.unwrap().path();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    fn load(source: &str) -> Result<OktaSourceConfig, String> {
        private_test_keys();
        let text = format!(
            "state_dir: /tmp/x\nconnections:\n  - name: okta\n    source: {source}\n    target: {{url: https://penvio.io/api/scim/v2/org, token: t}}\n"
        );
        match load_str(
            &text,
            Path::new("/tmp/penvio-sync.yaml"),
            &ProcessEnvironment,
        ) {
            Ok(config) => match config.connections.into_iter().next().unwrap().source {
                SourceConfig::Okta(okta) => Ok(okta),
                other => panic!("not okta: {other:?}"),
            },
            Err(error) => Err(error.to_string()),
        }
    }

    #[test]
    fn the_commented_example_in_the_example_config_validates() {
        let example = include_str!("../../config/penvio-sync.example.yaml");
        let block: Vec<String> = example
            .lines()
            .skip_while(|line| !line.starts_with("  # - name: okta-prod"))
            .take_while(|line| line.starts_with("  #"))
            .map(|line| line.replacen("# ", "", 1))
            .collect();
        assert!(block.len() > 10, "the example has an Okta connection");
        let text = format!("state_dir: /tmp/x\nconnections:\n{}\n", block.join("\n"));
        let env = crate::config::MemoryEnvironment::default()
            .with_file("/etc/penvio-sync/okta-token", "okta-secret\n")
            .with_file("/tmp/penvio-token", "penvio-secret\n");
        let config = load_str(&text, Path::new("/tmp/penvio-sync.yaml"), &env)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let SourceConfig::Okta(okta) = &config.connections[0].source else {
            panic!()
        };
        assert_eq!(okta.base_url.as_str(), "https://acme.okta.com/");
        assert!(matches!(okta.auth, OktaAuth::ApiToken(_)));
    }

    #[test]
    fn defaults_and_domain() {
        let config = load("{type: okta, domain: acme.okta.com, token: abc}").unwrap();
        assert_eq!(config.base_url.as_str(), "https://acme.okta.com/");
        assert!(matches!(config.auth, OktaAuth::ApiToken(_)));
        assert!(!config.include_deprovisioned);
        assert!(!config.provision_staged);
        assert_eq!(config.max_rate_limit_share, 0.5);
        assert_eq!(config.full_fetch_interval, Duration::from_secs(86_400));
        assert_eq!(config.requests_per_second.get(), 10);
        assert!(
            !format!("{config:?}").contains("abc"),
            "the token is redacted"
        );
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let cases = [
            (
                "{type: okta, token: t}",
                "connections[0].source.domain: is required",
            ),
            (
                "{type: okta, domain: a.okta.com, base_url: 'https://a.okta.com', token: t}",
                "connections[0].source.domain: set either domain or base_url",
            ),
            (
                "{type: okta, domain: 'https://a.okta.com', token: t}",
                "connections[0].source.domain: must be a host name",
            ),
            (
                "{type: okta, base_url: 'http://a.okta.com', token: t}",
                "connections[0].source.base_url: must be https",
            ),
            (
                "{type: okta, domain: a.okta.com}",
                "connections[0].source.token: is required",
            ),
            (
                "{type: okta, domain: a.okta.com, token: t, oauth: {client_id: c, key_id: k, private_key: x}}",
                "connections[0].source.oauth: set either token",
            ),
            (
                "{type: okta, domain: a.okta.com, token: t, include_deprovisioned: 'yes'}",
                "connections[0].source.include_deprovisioned: must be true or false",
            ),
            (
                "{type: okta, domain: a.okta.com, token: t, max_rate_limit_share: 0.5}",
                "connections[0].source.max_rate_limit_share: must be a percentage",
            ),
            (
                "{type: okta, domain: a.okta.com, token: t, app_id: '0oa/../x'}",
                "connections[0].source.app_id: must be the app's id",
            ),
            (
                "{type: okta, domain: a.okta.com, oauth: {client_id: c, private_key: not-a-key}}",
                "connections[0].source.oauth.key_id: is required",
            ),
            (
                "{type: okta, domain: a.okta.com, oauth: {client_id: c, key_id: k, private_key: not-a-key}}",
                "connections[0].source.oauth.private_key: is not an RSA or P-256 EC private key",
            ),
            (
                "{type: okta, domain: a.okta.com, token: t, page: 3}",
                "connections[0].source.page: unknown key",
            ),
        ];
        for (source, expected) in cases {
            let error = load(source).unwrap_err();
            assert!(
                error.contains(expected),
                "{source}\n  expected {expected:?}\n  got {error}"
            );
        }
    }

    #[test]
    fn oauth_keys_pick_their_algorithm_and_scopes() {
        let rsa = load(&format!(
            "{{type: okta, domain: a.okta.com, oauth: {{client_id: c, key_id: k, private_key_file: {KEYS}/rsa-private.pem}}}}"
        ))
        .unwrap();
        let OktaAuth::OAuth(oauth) = rsa.auth else {
            panic!()
        };
        assert_eq!(oauth.algorithm, Algorithm::RS256);
        assert_eq!(oauth.scopes, ["okta.users.read", "okta.groups.read"]);

        let ec = load(&format!(
            "{{type: okta, domain: a.okta.com, app_id: 0oa1, oauth: {{client_id: c, key_id: k, private_key_file: {KEYS}/ec-private.pem}}}}"
        ))
        .unwrap();
        let OktaAuth::OAuth(oauth) = ec.auth else {
            panic!()
        };
        assert_eq!(oauth.algorithm, Algorithm::ES256);
        assert!(
            oauth.scopes.iter().any(|s| s == "okta.apps.read"),
            "app_id needs okta.apps.read"
        );

        let sec1 = load(&format!(
            "{{type: okta, domain: a.okta.com, oauth: {{client_id: c, key_id: k, private_key_file: {KEYS}/ec-sec1-private.pem}}}}"
        ))
        .unwrap_err();
        assert!(
            sec1.contains("oauth.private_key_file: is an EC key in SEC1 form"),
            "{sec1}"
        );
        assert!(!sec1.contains("BEGIN"), "never quotes the key");

        let scopes = load(&format!(
            "{{type: okta, domain: a.okta.com, app_id: 0oa1, oauth: {{client_id: c, key_id: k, scopes: [okta.users.read], private_key_file: {KEYS}/ec-private.pem}}}}"
        ))
        .unwrap_err();
        assert!(
            scopes.contains("oauth.scopes: must include okta.apps.read"),
            "{scopes}"
        );
    }
}
