//! `source.type: google`: a Google Workspace account read through the Admin
//! SDK Directory API by a service account with domain-wide delegation.
//!
//! Decoding reads and checks the service-account key file here (its fields
//! and that the RSA key loads), so `penvio-sync check` catches a wrong file
//! before any network call; the adapter in `source::google` only signs.
//! With `signer: iam` there is no key file: the JWT is signed by the IAM
//! Credentials API with a token from the GCE metadata server, or, when
//! `credentials_file` is an `external_account` file, with a token from
//! workload identity federation ([`external_account`]).

mod external_account;

pub use external_account::{
    ExternalAccount, GOOGLE_STS_URL, SubjectTokenFormat, SubjectTokenSource, parse_external_account,
};

use std::num::NonZeroU32;
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use super::reader::{Ctx, DEFAULT_TIMEOUT, Field, MapReader, check_http_url};
use super::secret::Secret;

/// The Directory API's root (discovery `rootUrl`).
pub const GOOGLE_API_BASE: &str = "https://admin.googleapis.com";
/// Google's token endpoint, used when a key file names none.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Our own request ceiling by default: 20/s is 1,200 a minute, half of the
/// Directory API's default 2,400 queries per minute per user per project,
/// which other tools of the same project and admin may share.
const DEFAULT_REQUESTS_PER_SECOND: u32 = 20;
/// The GCE/GKE metadata server. Plain http by Google's design: it is
/// link-local to the VM and never leaves the host.
pub const GOOGLE_METADATA_URL: &str = "http://metadata.google.internal";
/// The IAM Credentials API (`signJwt`).
pub const GOOGLE_IAM_URL: &str = "https://iamcredentials.googleapis.com";
/// The alias of "the account of the impersonated admin" (`customer`).
pub const MY_CUSTOMER: &str = "my_customer";

/// Which users and groups the listings ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoogleAccount {
    /// `customer=` an account id (`C03az79cb`) or `my_customer`.
    Customer(String),
    /// `domain=` one domain of the account.
    Domain(String),
}

/// The fields of a service-account key file that the JWT bearer grant needs.
#[derive(Debug, Clone)]
pub struct ServiceAccountKey {
    /// `client_email`: the JWT's `iss`.
    pub client_email: String,
    /// `client_id`: the number an admin authorises for domain-wide delegation
    /// (named in error advice).
    pub client_id: String,
    /// `private_key_id`: the JWT header's `kid`.
    pub private_key_id: String,
    /// `private_key`: PEM, PKCS#8 RSA.
    pub private_key: Secret,
    /// `token_uri`: where the signed JWT is exchanged.
    pub token_uri: Url,
}

/// Keyless signing (`signer: iam`): the service account attached to the
/// VM signs the JWT through IAM Credentials `signJwt`.
#[derive(Debug, Clone)]
pub struct IamSigner {
    /// The service account whose identity signs (JWT `iss`); the one whose
    /// client id has domain-wide delegation.
    pub service_account: String,
    /// Metadata server root (the VM's own token comes from there).
    pub metadata_url: Url,
    /// IAM Credentials API root.
    pub iam_url: Url,
    /// Token endpoint the signed JWT is exchanged at.
    pub token_uri: Url,
    /// Workload identity federation (`credentials_file` holding an
    /// `external_account` file): the token that calls `signJwt` comes from
    /// Google's STS instead of the metadata server.
    pub external_account: Option<Box<ExternalAccount>>,
}

/// How the JWT bearer grant's assertion is signed.
#[derive(Debug, Clone)]
pub enum GoogleSigner {
    /// With the service account's key file (`credentials_file`).
    Key(ServiceAccountKey),
    /// Keyless, through IAM Credentials (`signer: iam`).
    Iam(IamSigner),
}

/// A Google Workspace account as a source (`type: google`).
#[derive(Debug, Clone)]
pub struct GoogleSourceConfig {
    /// The account (`customer`, default `my_customer`) or one `domain`.
    pub account: GoogleAccount,
    /// The admin impersonated through domain-wide delegation (JWT `sub`).
    pub admin_email: String,
    /// How the token request is signed.
    pub signer: GoogleSigner,
    /// Extra `users.list` search clauses (`isSuspended=false …`).
    pub query: Option<String>,
    /// Only users in these organisational units (and below them).
    pub org_units: Vec<String>,
    /// API root (default `https://admin.googleapis.com`; tests override it).
    pub base_url: Url,
    /// Our own ceiling on requests per second to Google.
    pub requests_per_second: NonZeroU32,
    /// Total time allowed for one request.
    pub timeout: Duration,
    /// Extra trusted CAs (a TLS-inspecting proxy); added to the system roots.
    pub ca_file: Option<super::ca::CaBundle>,
    /// Bounds on waits, pages and body sizes (`max_wait`, `max_pages`,
    /// `max_body`).
    pub limits: super::source_limits::ListingLimits,
    /// This endpoint's proxy URL (`None`: the environment's); may carry
    /// credentials.
    pub proxy: Option<Secret>,
}

/// The key file as Google writes it; only the fields we use.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    client_id: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<String>,
    token_uri: Option<String>,
}

/// Parses a service-account key file. Errors never quote the file's values.
pub fn parse_service_account_key(text: &str) -> Result<ServiceAccountKey, String> {
    let file: KeyFile = serde_json::from_str(text).map_err(|e| {
        format!(
            "is not a service-account key file (JSON, line {} column {}); download one from IAM & Admin → Service accounts → Keys",
            e.line(),
            e.column()
        )
    })?;
    match file.kind.as_deref() {
        Some("service_account") => {}
        Some("external_account") => {
            return Err(
                "is an external_account (workload identity federation) file: set signer: iam to sign keylessly with it".into(),
            );
        }
        _ => return Err("must be a key file with \"type\": \"service_account\"".into()),
    }
    let field = |value: Option<String>, name: &str| {
        value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                format!("has no \"{name}\" (a complete service-account key file has it)")
            })
    };
    let client_email = field(file.client_email, "client_email")?;
    let client_id = field(file.client_id, "client_id")?;
    let private_key_id = field(file.private_key_id, "private_key_id")?;
    let private_key = field(file.private_key, "private_key")?;
    jsonwebtoken::EncodingKey::from_rsa_pem(private_key.as_bytes())
        .map_err(|_| "has a \"private_key\" that is not a PEM RSA key".to_string())?;
    let token_uri = file
        .token_uri
        .filter(|uri| !uri.trim().is_empty())
        .unwrap_or_else(|| GOOGLE_TOKEN_URI.to_string());
    let token_uri = check_http_url(token_uri.trim())
        .map_err(|problem| format!("has a \"token_uri\" that {problem}"))?;
    Ok(ServiceAccountKey {
        client_email,
        client_id,
        private_key_id,
        private_key: Secret::new(private_key),
        token_uri,
    })
}

/// An email address, roughly: something before and after one `@`.
fn email(ctx: &mut Ctx<'_>, field: &Field<'_>, what: &str) -> Option<String> {
    let text = ctx.non_empty_string(field)?.trim().to_string();
    match text.split_once('@') {
        Some((user, domain)) if !user.is_empty() && domain.contains('.') && !text.contains(' ') => {
            Some(text)
        }
        _ => {
            ctx.problem(
                &field.path,
                field.node.location,
                format!("must be the email address of {what}"),
            );
            None
        }
    }
}

/// `customer` or `domain`, never both; `my_customer` by default.
fn account(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<GoogleAccount> {
    let customer = map.get("customer");
    let domain = map.get("domain");
    let plain = |ctx: &mut Ctx<'_>, field: &Field<'_>, what: &str| {
        let text = ctx.non_empty_string(field)?.trim().to_string();
        if text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            Some(text)
        } else {
            ctx.problem(&field.path, field.node.location, format!("must be {what}"));
            None
        }
    };
    match (customer, domain) {
        (Some(field), Some(_)) => {
            ctx.problem(
                &field.path,
                field.node.location,
                "set either customer or domain, not both",
            );
            None
        }
        (Some(field), None) => plain(
            ctx,
            &field,
            "the account id (like C03az79cb, Admin console → Account settings) or my_customer",
        )
        .map(GoogleAccount::Customer),
        (None, Some(field)) => {
            plain(ctx, &field, "a domain name like example.com").map(GoogleAccount::Domain)
        }
        (None, None) => Some(GoogleAccount::Customer(MY_CUSTOMER.to_string())),
    }
}

/// A URL key with a default.
fn url_or(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>, key: &str, default: &str) -> Option<Url> {
    match map.get(key) {
        Some(field) => ctx.http_url(&field),
        None => Url::parse(default).ok(),
    }
}

/// `signer` and what it needs: the key file (`key`, the default) or the
/// service account and endpoints of `iam`. Every key is read either way,
/// so a key that does not belong to the signer is reported.
fn signer(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<GoogleSigner> {
    // `None`: a signer we do not know (the key path is still read, so its
    // keys are checked and not reported as unknown).
    let iam = match map.get("signer") {
        Some(field) => match ctx.string(&field).as_deref().map(str::trim) {
            Some("key") => Some(false),
            Some("iam") => Some(true),
            Some(_) => {
                ctx.problem(&field.path, field.node.location, "must be one of: key, iam");
                None
            }
            None => None,
        },
        None => Some(false),
    };
    let known = iam.is_some();
    let iam = iam.unwrap_or(false);
    let iam_keys = ["service_account", "metadata_url", "iam_url", "token_url"];
    if !iam {
        for key in iam_keys {
            if let Some(field) = map.get(key) {
                ctx.problem(
                    &field.path,
                    field.node.location,
                    "is used only with signer: iam",
                );
            }
        }
        let key = key(ctx, map, true).map(GoogleSigner::Key);
        return key.filter(|_| known);
    }
    let external_account = federation(ctx, map);
    let federated = matches!(external_account, Some(Some(_)));
    let impersonated = match &external_account {
        Some(Some(account)) => account.impersonated_account.clone(),
        _ => None,
    };
    let service_account = match (map.get("service_account"), impersonated) {
        (Some(field), _) => email(
            ctx,
            &field,
            "the service account with domain-wide delegation",
        ),
        (None, Some(account)) => Some(account),
        (None, None) => map.require(ctx, "service_account").and(None),
    };
    let metadata_url = match map.get("metadata_url") {
        Some(field) if federated => {
            ctx.problem(
                &field.path,
                field.node.location,
                "is not used with an external_account credentials_file (the token comes from workload identity federation)",
            );
            None
        }
        Some(field) => ctx.http_url(&field),
        None => Url::parse(GOOGLE_METADATA_URL).ok(),
    };
    let iam_url = url_or(ctx, map, "iam_url", GOOGLE_IAM_URL);
    let token_uri = url_or(ctx, map, "token_url", GOOGLE_TOKEN_URI);
    Some(GoogleSigner::Iam(IamSigner {
        service_account: service_account?,
        metadata_url: metadata_url?,
        iam_url: iam_url?,
        token_uri: token_uri?,
        external_account: external_account?,
    }))
}

/// With `signer: iam`, `credentials_file` (or `credentials`) may hold an
/// `external_account` file; a service-account key is refused, since keyless
/// signing is the point. `Some(None)`: no file (the metadata server).
fn federation(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<Option<Box<ExternalAccount>>> {
    let inline = map.get("credentials").is_some();
    let secret = ctx.secret(map, "credentials", false)?;
    let Some(secret) = secret else {
        return Some(None);
    };
    let name = if inline {
        "credentials"
    } else {
        "credentials_file"
    };
    let parsed = if external_account::is_external_account(secret.expose()) {
        parse_external_account(secret.expose())
    } else {
        Err("is not an external_account (workload identity federation) file: with signer: iam no key file is used; remove it to sign with the VM's service account, or point it at an external_account file".into())
    };
    match parsed {
        Ok(account) => Some(Some(Box::new(account))),
        Err(problem) => {
            ctx.problem(&map.child_path(name), map.location(), problem);
            None
        }
    }
}

/// The key file from `credentials_file` (or `credentials: ${ENV}`).
fn key(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>, required: bool) -> Option<ServiceAccountKey> {
    let inline = map.get("credentials").is_some();
    let secret = ctx.secret(map, "credentials", required).flatten()?;
    match parse_service_account_key(secret.expose()) {
        Ok(key) => Some(key),
        Err(problem) => {
            let name = if inline {
                "credentials"
            } else {
                "credentials_file"
            };
            ctx.problem(&map.child_path(name), map.location(), problem);
            None
        }
    }
}

/// Organisational-unit paths, each starting with `/`.
fn org_units(ctx: &mut Ctx<'_>, map: &mut MapReader<'_>) -> Option<Vec<String>> {
    let Some(field) = map.get("org_units") else {
        return Some(Vec::new());
    };
    ctx.list(&field, |ctx, item| {
        let text = ctx.non_empty_string(item)?.trim().to_string();
        if text.starts_with('/') {
            Some(text)
        } else {
            ctx.problem(
                &item.path,
                item.node.location,
                "must be an organisational-unit path starting with / (like /Staff)",
            );
            None
        }
    })
}

/// Decodes the keys of a `type: google` source mapping.
pub(super) fn decode_google(
    ctx: &mut Ctx<'_>,
    map: &mut MapReader<'_>,
) -> Option<GoogleSourceConfig> {
    let account = account(ctx, map);
    let admin_email = map
        .require(ctx, "admin_email")
        .and_then(|field| email(ctx, &field, "a Workspace admin to impersonate"));
    let signer = signer(ctx, map);
    let query = match map.get("query") {
        Some(field) => ctx
            .non_empty_string(&field)
            .map(|q| Some(q.trim().to_string())),
        None => Some(None),
    };
    let org_units = org_units(ctx, map);
    let base_url = match map.get("base_url") {
        Some(field) => ctx.http_url(&field),
        None => Url::parse(GOOGLE_API_BASE).ok(),
    };
    let requests_per_second = ctx.requests_per_second(map, DEFAULT_REQUESTS_PER_SECOND);
    let timeout = match map.get("timeout") {
        Some(field) => ctx.duration(&field, true),
        None => Some(DEFAULT_TIMEOUT),
    };
    Some(GoogleSourceConfig {
        account: account?,
        admin_email: admin_email?,
        signer: signer?,
        query: query?,
        org_units: org_units?,
        base_url: base_url?,
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
    const KEY_FILE: &str = include_str!("../../tests/fixtures/google/test-service-account.json");

    fn env() -> MemoryEnvironment {
        MemoryEnvironment::new().with_file("/etc/penvio/google-key.json", KEY_FILE)
    }

    fn load(source: &str, env: &MemoryEnvironment) -> Result<GoogleSourceConfig, Vec<String>> {
        let text =
            format!("connections:\n  - name: c1\n    source: {source}\n    target: {TARGET}\n");
        match load_str(&text, Path::new("/etc/penvio/p.yaml"), env) {
            Ok(config) => match config.connections.into_iter().next().unwrap().source {
                SourceConfig::Google(google) => Ok(*google),
                other => panic!("not google: {other:?}"),
            },
            Err(super::super::ConfigError::Invalid { problems, .. }) => {
                Err(problems.iter().map(|p| p.to_string()).collect())
            }
            Err(other) => panic!("{other}"),
        }
    }

    fn problems(source: &str, env: &MemoryEnvironment) -> String {
        load(source, env).unwrap_err().join("\n")
    }

    #[test]
    fn the_commented_example_in_the_example_config_validates() {
        let example = include_str!("../../config/penvio-sync.example.yaml");
        let block: Vec<String> = example
            .lines()
            .skip_while(|line| !line.starts_with("  # - name: google-prod"))
            .take_while(|line| line.starts_with("  #"))
            .map(|line| line.replacen("# ", "", 1))
            .collect();
        assert!(block.len() > 10, "the example has a Google connection");
        let text = format!("state_dir: /tmp/x\nconnections:\n{}\n", block.join("\n"));
        let env = MemoryEnvironment::new()
            .with_file("/etc/penvio-sync/google-key.json", KEY_FILE)
            .with_file("/tmp/penvio-token", "penvio-secret\n");
        let config = load_str(&text, Path::new("/tmp/penvio-sync.yaml"), &env)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let SourceConfig::Google(google) = &config.connections[0].source else {
            panic!("not google")
        };
        assert_eq!(google.admin_email, "directory-reader@example.com");
        assert_eq!(google.account, GoogleAccount::Customer(MY_CUSTOMER.into()));
    }

    #[test]
    fn defaults_and_the_key_file() {
        let config = load(
            "{type: google, admin_email: admin@example.com, credentials_file: /etc/penvio/google-key.json}",
            &env(),
        )
        .unwrap();
        assert_eq!(
            config.account,
            GoogleAccount::Customer("my_customer".into())
        );
        assert_eq!(config.admin_email, "admin@example.com");
        let GoogleSigner::Key(key) = &config.signer else {
            panic!("key signer")
        };
        assert_eq!(
            key.client_email,
            "dir-sync@penvio-sync-tests.iam.gserviceaccount.com"
        );
        assert_eq!(key.client_id, "123456789012345678901");
        assert_eq!(
            key.private_key_id,
            "0123456789abcdef0123456789abcdef01234567"
        );
        assert_eq!(key.token_uri.as_str(), GOOGLE_TOKEN_URI);
        assert_eq!(config.base_url.as_str(), "https://admin.googleapis.com/");
        assert_eq!(config.requests_per_second.get(), 20);
        assert!(
            config.requests_per_second.get() * 60 < 2400,
            "under Google's quota"
        );
        assert_eq!(config.timeout, DEFAULT_TIMEOUT);
        assert!(config.org_units.is_empty());
        assert_eq!(config.query, None);
        assert!(
            !format!("{config:?}").contains("BEGIN PRIVATE KEY"),
            "the key is redacted"
        );
    }

    #[test]
    fn domain_query_and_org_units() {
        let config = load(
            "{type: google, domain: example.com, admin_email: a@example.com, credentials_file: /etc/penvio/google-key.json, query: \"isArchived=false\", org_units: [/Staff, /Eng/Platform], requests_per_second: 5, base_url: \"http://127.0.0.1:9\"}",
            &env(),
        )
        .unwrap();
        assert_eq!(config.account, GoogleAccount::Domain("example.com".into()));
        assert_eq!(config.query.as_deref(), Some("isArchived=false"));
        assert_eq!(config.org_units, ["/Staff", "/Eng/Platform"]);
        assert_eq!(config.requests_per_second.get(), 5);
        assert_eq!(config.base_url.as_str(), "http://127.0.0.1:9/");
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let text = problems("{type: google}", &env());
        for expected in [
            "connections[0].source.admin_email: is required",
            "connections[0].source.credentials: is required (set credentials, or credentials_file",
        ] {
            assert!(text.contains(expected), "{expected}\n---\n{text}");
        }
        let text = problems(
            "{type: google, customer: \"C0 1\", domain: x.com, admin_email: admin, credentials_file: /etc/penvio/google-key.json, org_units: [Staff], base_url: \"http://admin.example\"}",
            &env(),
        );
        for expected in [
            "connections[0].source.customer: set either customer or domain, not both",
            "connections[0].source.admin_email: must be the email address of a Workspace admin",
            "connections[0].source.org_units[0]: must be an organisational-unit path starting with /",
            "connections[0].source.base_url: must be https",
        ] {
            assert!(text.contains(expected), "{expected}\n---\n{text}");
        }
    }

    #[test]
    fn keyless_signing_needs_no_key_file() {
        let config = load(
            "{type: google, signer: iam, admin_email: a@example.com, service_account: sync@p.iam.gserviceaccount.com}",
            &MemoryEnvironment::new(),
        )
        .unwrap();
        let GoogleSigner::Iam(iam) = &config.signer else {
            panic!("iam signer")
        };
        assert_eq!(iam.service_account, "sync@p.iam.gserviceaccount.com");
        assert_eq!(
            iam.metadata_url.as_str(),
            "http://metadata.google.internal/"
        );
        assert_eq!(
            iam.iam_url.as_str(),
            "https://iamcredentials.googleapis.com/"
        );
        assert_eq!(iam.token_uri.as_str(), GOOGLE_TOKEN_URI);
        let text = problems(
            "{type: google, signer: iam, admin_email: a@example.com, credentials_file: /etc/penvio/google-key.json}",
            &env(),
        );
        for expected in [
            "connections[0].source.service_account: is required",
            "connections[0].source.credentials_file: is not an external_account",
        ] {
            assert!(text.contains(expected), "{expected}\n---\n{text}");
        }
        let text = problems(
            "{type: google, signer: hsm, admin_email: a@example.com}",
            &env(),
        );
        assert!(
            text.contains("connections[0].source.signer: must be one of: key, iam"),
            "{text}"
        );
        let text = problems(
            "{type: google, admin_email: a@example.com, credentials_file: /etc/penvio/google-key.json, service_account: s@x.com}",
            &env(),
        );
        assert!(
            text.contains("connections[0].source.service_account: is used only with signer: iam"),
            "{text}"
        );
    }

    #[test]
    fn an_external_account_file_signs_keylessly_through_federation() {
        const FEDERATION: &str =
            include_str!("../../tests/fixtures/google/external_account.credential.json");
        let wif = MemoryEnvironment::new().with_file("/etc/penvio/wif.json", FEDERATION);
        let config = load(
            "{type: google, signer: iam, admin_email: a@example.com, credentials_file: /etc/penvio/wif.json}",
            &wif,
        )
        .unwrap();
        let GoogleSigner::Iam(iam) = &config.signer else {
            panic!("iam signer")
        };
        let account = iam.external_account.as_ref().expect("federation");
        assert_eq!(account.sts_url.as_str(), GOOGLE_STS_URL);
        assert_eq!(
            iam.service_account, "service-1234@service-name.iam.gserviceaccount.com",
            "the impersonated account signs by default"
        );
        assert!(matches!(account.source, SubjectTokenSource::File(_)));

        // A key file is not keyless; the metadata server is not used.
        let text = problems(
            "{type: google, signer: iam, admin_email: a@example.com, credentials_file: /etc/penvio/google-key.json}",
            &env(),
        );
        assert!(
            text.contains("connections[0].source.credentials_file: is not an external_account"),
            "{text}"
        );
        let text = problems(
            "{type: google, signer: iam, admin_email: a@example.com, credentials_file: /etc/penvio/wif.json, metadata_url: \"http://127.0.0.1:1\"}",
            &wif,
        );
        assert!(
            text.contains(
                "connections[0].source.metadata_url: is not used with an external_account"
            ),
            "{text}"
        );
        // Without an impersonation URL, `service_account` must say who signs.
        let plain = FEDERATION.replace("service_account_impersonation_url", "unused");
        let wif = MemoryEnvironment::new().with_file("/etc/penvio/wif.json", plain);
        let text = problems(
            "{type: google, signer: iam, admin_email: a@example.com, credentials_file: /etc/penvio/wif.json}",
            &wif,
        );
        assert!(
            text.contains("connections[0].source.service_account: is required"),
            "{text}"
        );
    }

    #[test]
    fn a_wrong_key_file_is_named_without_its_values() {
        let cases = [
            (
                "{\"type\": \"authorized_user\"}",
                "\"type\": \"service_account\"",
            ),
            ("not json", "is not a service-account key file"),
            (
                "{\"type\":\"external_account\"}",
                "set signer: iam to sign keylessly with it",
            ),
            (
                "{\"type\":\"service_account\",\"client_email\":\"e@x\",\"client_id\":\"1\",\"private_key_id\":\"k\",\"private_key\":\"SECRET-NOT-PEM\"}",
                "\"private_key\" that is not a PEM RSA key",
            ),
            (
                "{\"type\":\"service_account\",\"client_email\":\"e@x\",\"private_key_id\":\"k\",\"private_key\":\"x\"}",
                "has no \"client_id\"",
            ),
        ];
        for (file, expected) in cases {
            let env = MemoryEnvironment::new().with_file("/etc/penvio/k.json", file);
            let text = problems(
                "{type: google, admin_email: a@example.com, credentials_file: /etc/penvio/k.json}",
                &env,
            );
            assert!(
                text.contains(&format!("connections[0].source.credentials_file: {}", "")),
                "{text}"
            );
            assert!(text.contains(expected), "{expected}\n---\n{text}");
            assert!(!text.contains("SECRET-NOT-PEM"), "{text}");
        }
        let plain_http = KEY_FILE.replace(GOOGLE_TOKEN_URI, "http://oauth2.example/token");
        let env = MemoryEnvironment::new().with_file("/etc/penvio/k.json", plain_http);
        let text = problems(
            "{type: google, admin_email: a@example.com, credentials_file: /etc/penvio/k.json}",
            &env,
        );
        assert!(text.contains("\"token_uri\" that must be https"), "{text}");
    }
}
