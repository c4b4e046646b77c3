//! `source.type: entra`: Microsoft Entra ID read through Microsoft Graph.
//!
//! Decoding checks everything that can be checked without a network: the
//! credential (client secret XOR certificate, and that the certificate PEM
//! holds a certificate and an RSA key), the URLs and the knobs. The adapter
//! in `source::msgraph` only builds clients from the result.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use base64::Engine;
use reqwest::Url;

use super::nested_groups::{NestedGroups, decode_nested_groups};
use super::reader::{self, Ctx, DEFAULT_TIMEOUT, Field, MapReader, choice};
use super::secret::Secret;

/// Graph v1.0 in the global Azure cloud.
pub const DEFAULT_GRAPH_BASE: &str = "https://graph.microsoft.com/v1.0";
/// How often a fresh delta round (a full listing) replaces the incremental
/// one when `full_fetch_interval` is not set: once a day bounds any drift.
pub const DEFAULT_FULL_FETCH_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Our own request ceiling by default. Graph's identity limits are per app
/// and tenant: 3,500 to 8,000 resource units per 10 s by tenant size (a read
/// costs about one), with `429` and `Retry-After` beyond them. 25 a second
/// is 250 per 10 s, well inside the smallest tenant's budget, so the
/// tenant's other apps keep their share.
const DEFAULT_REQUESTS_PER_SECOND: u32 = 25;

/// PEM armour of an X.509 certificate.
const PEM_CERTIFICATE: &str = "CERTIFICATE";
/// PEM armour of private keys Entra certificates can use (PKCS#8, PKCS#1).
const PEM_KEYS: &[&str] = &["PRIVATE KEY", "RSA PRIVATE KEY"];

/// Which Graph property becomes the Penvio email (`userName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailFrom {
    /// `mail`, falling back to `userPrincipalName` when `mail` is empty
    /// (cloud-only accounts without a mailbox). A guest's UPN
    /// (`…#EXT#@…`) is never used: such a guest without `mail` is skipped.
    Mail,
    /// Always `userPrincipalName` (tenants whose UPN is the sign-in email).
    UserPrincipalName,
}

/// How the app proves its identity at the token endpoint.
#[derive(Clone)]
pub enum EntraCredential {
    /// `client_secret` from the app registration.
    Secret(Secret),
    /// A certificate uploaded to the app registration and its private key.
    Certificate {
        /// DER bytes of the certificate (hashed into the `x5t#S256` header).
        certificate_der: Vec<u8>,
        /// PEM text of the RSA private key that signs the assertion.
        private_key_pem: Secret,
    },
}

impl fmt::Debug for EntraCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntraCredential::Secret(_) => f.write_str("ClientSecret([redacted])"),
            EntraCredential::Certificate {
                certificate_der, ..
            } => write!(
                f,
                "Certificate({} DER bytes, key [redacted])",
                certificate_der.len()
            ),
        }
    }
}

/// Microsoft Entra ID through Microsoft Graph (`type: entra`).
#[derive(Debug, Clone)]
pub struct EntraSourceConfig {
    /// Directory (tenant) id, or a verified domain of the tenant.
    pub tenant_id: String,
    /// Application (client) id of the app registration.
    pub client_id: String,
    /// Client secret or certificate.
    pub credential: EntraCredential,
    /// Graph base URL including the version (sovereign clouds differ).
    pub base_url: Url,
    /// OAuth token endpoint (default: the cloud's login host + tenant).
    pub token_url: Url,
    /// OAuth scope (default: the origin of `base_url` + `/.default`).
    pub scope: String,
    /// Nested group handling.
    pub nested_groups: NestedGroups,
    /// Which property is the email.
    pub email_from: EmailFrom,
    /// Whether guests (`userType: Guest`) are synced.
    pub include_guests: bool,
    /// Object id of the enterprise application (service principal): only
    /// users and groups assigned to it are synced.
    pub app_id: Option<String>,
    /// Start a fresh delta round (a full listing) when the last one is this
    /// old; `None` never does.
    pub full_fetch_interval: Option<Duration>,
    /// Total time allowed for one request.
    pub timeout: Duration,
    /// Our own ceiling on requests per second to Graph.
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

/// The login host of the cloud a Graph host belongs to.
fn login_host(graph_host: &str) -> &'static str {
    match graph_host {
        "graph.microsoft.us" | "dod-graph.microsoft.us" => "https://login.microsoftonline.us",
        "microsoftgraph.chinacloudapi.cn" => "https://login.chinacloudapi.cn",
        _ => "https://login.microsoftonline.com",
    }
}

/// The token URL for a tenant, on the login host of the Graph cloud.
pub fn default_token_url(base_url: &Url, tenant_id: &str) -> Option<Url> {
    let host = base_url.host_str().unwrap_or_default();
    Url::parse(&format!(
        "{}/{tenant_id}/oauth2/v2.0/token",
        login_host(host)
    ))
    .ok()
}

/// The `.default` scope of the Graph origin (`https://graph.microsoft.com/.default`).
pub fn default_scope(base_url: &Url) -> String {
    format!("{}/.default", base_url.origin().ascii_serialization())
}

/// The base64 bodies of every PEM block labelled `label`, decoded.
pub(crate) fn pem_blocks(text: &str, label: &str) -> Vec<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let Some(stop) = after.find(&end) else {
            break;
        };
        let body: String = after[..stop]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(body) {
            blocks.push(bytes);
        }
        rest = &after[stop + end.len()..];
    }
    blocks
}

/// The first private-key PEM block of `text`, armour included, so a file
/// holding both certificate and key yields only the key.
fn private_key_block(text: &str) -> Option<String> {
    PEM_KEYS.iter().find_map(|label| {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let start = text.find(&begin)?;
        let stop = text[start..].find(&end)? + start + end.len();
        Some(format!("{}\n", &text[start..stop]))
    })
}

/// A tenant id, client id or object id: a GUID or domain, nothing that
/// could change the token URL's path.
fn identifier(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Option<String> {
    reader::identifier(
        ctx,
        field,
        |c| c.is_ascii_alphanumeric() || c == '-' || c == '.',
        "must be a GUID or domain name (letters, digits, '-' and '.')",
    )
}

/// Decodes the certificate credential: the PEM at `certificate(_file)`
/// and the key at `private_key(_file)` or in the same PEM.
fn decode_certificate(
    ctx: &mut Ctx<'_>,
    map: &mut MapReader<'_>,
    certificate: Secret,
    explicit_key: Option<Secret>,
) -> Option<EntraCredential> {
    let cert_path = if map.get("certificate_file").is_some() {
        map.child_path("certificate_file")
    } else {
        map.child_path("certificate")
    };
    let Some(certificate_der) = pem_blocks(certificate.expose(), PEM_CERTIFICATE)
        .into_iter()
        .next()
    else {
        ctx.problem(
            &cert_path,
            map.location(),
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----); export the certificate you uploaded to the app registration as PEM",
        );
        return None;
    };
    let (key_text, key_path) = match &explicit_key {
        Some(key) => (
            private_key_block(key.expose()),
            if map.get("private_key_file").is_some() {
                map.child_path("private_key_file")
            } else {
                map.child_path("private_key")
            },
        ),
        None => (private_key_block(certificate.expose()), cert_path.clone()),
    };
    let Some(key_text) = key_text else {
        let message = if explicit_key.is_some() {
            "holds no PEM private key (-----BEGIN PRIVATE KEY----- or RSA PRIVATE KEY)"
        } else {
            "holds no private key: add it to the same PEM or set private_key_file"
        };
        ctx.problem(&key_path, map.location(), message);
        return None;
    };
    if jsonwebtoken::EncodingKey::from_rsa_pem(key_text.as_bytes()).is_err() {
        ctx.problem(
            &key_path,
            map.location(),
            "is not an RSA private key Entra accepts (PKCS#8 or PKCS#1 PEM, unencrypted)",
        );
        return None;
    }
    Some(EntraCredential::Certificate {
        certificate_der,
        private_key_pem: Secret::new(key_text),
    })
}

/// Decodes the credential: `client_secret(_file)`, or `certificate(_file)`
/// with `private_key(_file)` (or the key in the same PEM).
fn decode_credential(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<EntraCredential> {
    let secret = ctx.secret(map, "client_secret", false);
    let certificate = ctx.secret(map, "certificate", false);
    let private_key = ctx.secret(map, "private_key", false);
    match (secret, certificate) {
        (Some(Some(secret)), Some(None)) => {
            if matches!(private_key, Some(Some(_))) {
                ctx.problem(
                    &map.child_path("private_key"),
                    map.location(),
                    "is only used with certificate_file, not with client_secret",
                );
            }
            Some(EntraCredential::Secret(secret))
        }
        (Some(None), Some(Some(certificate))) => match private_key {
            Some(key) => decode_certificate(ctx, map, certificate, key),
            None => None,
        },
        (Some(Some(_)), Some(Some(_))) => {
            ctx.problem(
                &map.child_path("client_secret"),
                map.location(),
                "set either client_secret or certificate_file, not both",
            );
            None
        }
        (Some(None), Some(None)) => {
            ctx.problem(
                &map.child_path("client_secret"),
                map.location(),
                "is required (or certificate_file): the app registration's client secret or certificate",
            );
            None
        }
        // A problem was recorded already.
        _ => None,
    }
}

/// Decodes the keys of an `entra` source mapping.
pub(super) fn decode_entra(
    ctx: &mut Ctx<'_>,
    map: &mut MapReader<'_>,
) -> Option<EntraSourceConfig> {
    let tenant_id = map
        .require(ctx, "tenant_id")
        .and_then(|field| identifier(ctx, &field));
    let client_id = map
        .require(ctx, "client_id")
        .and_then(|field| identifier(ctx, &field));
    let credential = decode_credential(ctx, map);
    let base_url = match map.get("base_url") {
        Some(field) => ctx.http_url(&field),
        None => Url::parse(DEFAULT_GRAPH_BASE).ok(),
    };
    let token_url = match map.get("token_url") {
        Some(field) => ctx.http_url(&field),
        None => match (&base_url, &tenant_id) {
            (Some(base), Some(tenant)) => default_token_url(base, tenant),
            _ => None,
        },
    };
    let scope = match map.get("scope") {
        Some(field) => ctx.non_empty_string(&field).map(|s| s.trim().to_string()),
        None => base_url.as_ref().map(default_scope),
    };
    let nested_groups = decode_nested_groups(ctx, map);
    let email_from = match map.get("email_from") {
        Some(field) => choice(
            ctx,
            &field,
            &[
                ("mail", EmailFrom::Mail),
                ("user_principal_name", EmailFrom::UserPrincipalName),
            ],
        ),
        None => Some(EmailFrom::Mail),
    };
    let include_guests = match map.get("include_guests") {
        Some(field) => ctx.boolean(&field),
        None => Some(true),
    };
    let app_id = match map.get("app_id") {
        Some(field) => identifier(ctx, &field).map(Some),
        None => Some(None),
    };
    let full_fetch_interval = match map.get("full_fetch_interval") {
        Some(field) => ctx
            .duration(&field, false)
            .map(|d| (!d.is_zero()).then_some(d)),
        None => Some(Some(DEFAULT_FULL_FETCH_INTERVAL)),
    };
    let timeout = match map.get("timeout") {
        Some(field) => ctx.duration(&field, true),
        None => Some(DEFAULT_TIMEOUT),
    };
    let requests_per_second = ctx.requests_per_second(map, DEFAULT_REQUESTS_PER_SECOND);
    Some(EntraSourceConfig {
        tenant_id: tenant_id?,
        client_id: client_id?,
        credential: credential?,
        base_url: base_url?,
        token_url: token_url?,
        scope: scope?,
        nested_groups: nested_groups?,
        email_from: email_from?,
        include_guests: include_guests?,
        app_id: app_id?,
        full_fetch_interval: full_fetch_interval?,
        timeout: timeout?,
        requests_per_second: requests_per_second?,
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

    #[test]
    fn the_commented_example_in_the_example_config_validates() {
        let example = include_str!("../../config/penvio-sync.example.yaml");
        let block: Vec<String> = example
            .lines()
            .skip_while(|line| !line.starts_with("  # - name: entra-prod"))
            .take_while(|line| line.starts_with("  #"))
            .map(|line| line.replacen("# ", "", 1))
            .collect();
        assert!(block.len() > 10, "the example has an Entra connection");
        let text = format!("state_dir: /tmp/x\nconnections:\n{}\n", block.join("\n"));
        let env = MemoryEnvironment::default()
            .with_file("/tmp/entra-client-secret", "entra-secret\n")
            .with_file("/tmp/penvio-token", "penvio-secret\n");
        let config = load_str(&text, Path::new("/tmp/penvio-sync.yaml"), &env)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let SourceConfig::Entra(entra) = &config.connections[0].source else {
            panic!("not an Entra source")
        };
        assert!(matches!(entra.credential, EntraCredential::Secret(_)));
        assert_eq!(entra.requests_per_second.get(), 25);
        assert_eq!(entra.timeout, std::time::Duration::from_secs(30));
    }

    fn load(source: &str, env: &MemoryEnvironment) -> Result<EntraSourceConfig, Vec<String>> {
        let text =
            format!("connections:\n  - name: c1\n    source: {source}\n    target: {TARGET}\n");
        match load_str(&text, Path::new("/etc/penvio/p.yaml"), env) {
            Ok(config) => match config.connections.into_iter().next().unwrap().source {
                SourceConfig::Entra(entra) => Ok(*entra),
                other => panic!("not entra: {other:?}"),
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
    fn defaults_follow_the_global_cloud() {
        let config = load(
            "{type: entra, tenant_id: contoso.onmicrosoft.com, client_id: abc-123, client_secret: s3cret}",
            &MemoryEnvironment::new(),
        )
        .unwrap();
        assert_eq!(config.base_url.as_str(), "https://graph.microsoft.com/v1.0");
        assert_eq!(
            config.token_url.as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(config.scope, "https://graph.microsoft.com/.default");
        assert_eq!(config.nested_groups, NestedGroups::Flatten);
        assert_eq!(config.email_from, EmailFrom::Mail);
        assert!(config.include_guests);
        assert_eq!(
            config.full_fetch_interval,
            Some(DEFAULT_FULL_FETCH_INTERVAL)
        );
        assert_eq!(config.requests_per_second.get(), 25);
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn requests_per_second_is_a_positive_whole_number() {
        let config = load(
            "{type: entra, tenant_id: t, client_id: c, client_secret: s, requests_per_second: 200}",
            &MemoryEnvironment::new(),
        )
        .unwrap();
        assert_eq!(config.requests_per_second.get(), 200);
        for (value, problem) in [
            ("0", "must be between 1 and 1000"),
            ("-5", "must be between 1 and 1000"),
            ("1001", "must be between 1 and 1000"),
            ("2.5", "must be a whole number"),
            ("fast", "must be a whole number"),
        ] {
            let text = format!(
                "connections:\n  - name: c1\n    source: {{type: entra, tenant_id: t, client_id: c, client_secret: s, requests_per_second: {value}}}\n    target: {TARGET}\n"
            );
            let error = load_str(
                &text,
                Path::new("/etc/penvio/p.yaml"),
                &MemoryEnvironment::new(),
            )
            .unwrap_err()
            .to_string();
            assert!(
                error.starts_with(&format!(
                    "/etc/penvio/p.yaml: connections[0].source.requests_per_second: {problem}"
                )),
                "{value}: {error}"
            );
        }
    }

    #[test]
    fn sovereign_clouds_get_their_login_host_and_scope() {
        let config = load(
            "{type: entra, tenant_id: t1, client_id: c1, client_secret: s, base_url: https://graph.microsoft.us/v1.0, full_fetch_interval: 0s}",
            &MemoryEnvironment::new(),
        )
        .unwrap();
        assert_eq!(
            config.token_url.as_str(),
            "https://login.microsoftonline.us/t1/oauth2/v2.0/token"
        );
        assert_eq!(config.scope, "https://graph.microsoft.us/.default");
        assert_eq!(config.full_fetch_interval, None);
        let china = Url::parse("https://microsoftgraph.chinacloudapi.cn/v1.0").unwrap();
        assert_eq!(
            default_token_url(&china, "t").unwrap().as_str(),
            "https://login.chinacloudapi.cn/t/oauth2/v2.0/token"
        );
    }

    #[test]
    fn credential_problems_name_their_keys() {
        let text = problems("{type: entra, tenant_id: t, client_id: c}");
        assert!(
            text.contains("connections[0].source.client_secret: is required (or certificate_file)"),
            "{text}"
        );
        let text =
            problems("{type: entra, tenant_id: t, client_id: c, client_secret: s, certificate: x}");
        assert!(
            text.contains("set either client_secret or certificate_file, not both"),
            "{text}"
        );
        let text =
            problems("{type: entra, tenant_id: t, client_id: c, certificate_file: /nope.pem}");
        assert!(
            text.contains("connections[0].source.certificate_file: cannot read /nope.pem"),
            "{text}"
        );
        let env = MemoryEnvironment::new().with_file("/etc/penvio/cert.pem", "not a pem");
        let text = load(
            "{type: entra, tenant_id: t, client_id: c, certificate_file: cert.pem}",
            &env,
        )
        .unwrap_err()
        .join("\n");
        assert!(
            text.contains("connections[0].source.certificate_file: holds no PEM certificate"),
            "{text}"
        );
        let env = MemoryEnvironment::new().with_file(
            "/etc/penvio/cert.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let text = load(
            "{type: entra, tenant_id: t, client_id: c, certificate_file: cert.pem}",
            &env,
        )
        .unwrap_err()
        .join("\n");
        assert!(text.contains("holds no private key"), "{text}");
    }

    #[test]
    fn knobs_are_checked() {
        let text = problems(
            "{type: entra, tenant_id: \"a/b\", client_id: c, client_secret: s, nested_groups: deep, email_from: upn, include_guests: maybe, base_url: http://graph.example/v1.0}",
        );
        assert!(
            text.contains("connections[0].source.tenant_id: must be a GUID"),
            "{text}"
        );
        assert!(
            text.contains("connections[0].source.nested_groups: must be one of: flatten, ignore"),
            "{text}"
        );
        assert!(
            text.contains(
                "connections[0].source.email_from: must be one of: mail, user_principal_name"
            ),
            "{text}"
        );
        assert!(
            text.contains("connections[0].source.include_guests: must be true or false"),
            "{text}"
        );
        assert!(
            text.contains("connections[0].source.base_url: must be https"),
            "{text}"
        );
    }

    #[test]
    fn pem_blocks_are_found_among_others() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nBAU=\n-----END PRIVATE KEY-----\n";
        assert_eq!(pem_blocks(text, "CERTIFICATE"), vec![vec![1, 2, 3]]);
        assert_eq!(
            private_key_block(text).unwrap(),
            "-----BEGIN PRIVATE KEY-----\nBAU=\n-----END PRIVATE KEY-----\n"
        );
    }
}
