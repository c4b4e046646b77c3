//! `external_account` credential files (workload identity federation), read
//! for keyless signing: `signer: iam` with `credentials_file` pointing at one.
//!
//! The file is outside input (it is often generated elsewhere and copied
//! in), so every URL in it is checked here, before any request: https only
//! (loopback excepted), the STS and IAM Credentials URLs on Google's own
//! hosts, so a doctored file cannot send the subject token, or a token
//! minted from it, anywhere else. Errors name the file's key, never a value
//! that might be secret.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use reqwest::Url;
use serde::Deserialize;

use super::super::reader::check_http_url;
use super::super::secret::Secret;

/// Google's STS token endpoint, when the file names none.
pub const GOOGLE_STS_URL: &str = "https://sts.googleapis.com/v1/token";

/// Where the subject token (the workload's own identity token) comes from.
#[derive(Debug, Clone)]
pub enum SubjectTokenSource {
    /// `credential_source.file`: read at every exchange (it rotates, like a
    /// Kubernetes projected token).
    File(PathBuf),
    /// `credential_source.url` with its `headers` (which may carry secrets).
    Url {
        /// The URL, query included (Azure's IMDS needs one).
        url: Url,
        /// Header name and value, as in the file.
        headers: Vec<(String, Secret)>,
    },
}

/// How the subject token is read from the file or the URL's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectTokenFormat {
    /// The whole content, trimmed (`format.type: text`, the default).
    Text,
    /// A JSON object's string field (`format.type: json`,
    /// `subject_token_field_name`).
    Json(String),
}

/// A workload identity federation credential file, checked.
#[derive(Debug, Clone)]
pub struct ExternalAccount {
    /// The workload identity pool provider (`//iam.googleapis.com/…`).
    pub audience: String,
    /// `urn:ietf:params:oauth:token-type:jwt`, `…:id_token`, `…:saml2`.
    pub subject_token_type: String,
    /// The STS token endpoint (`token_url`).
    pub sts_url: Url,
    /// `service_account_impersonation_url` (`…:generateAccessToken`), when
    /// the federated identity acts through a service account.
    pub impersonation_url: Option<Url>,
    /// The service account that URL names.
    pub impersonated_account: Option<String>,
    /// Where the subject token comes from.
    pub source: SubjectTokenSource,
    /// How to read it.
    pub format: SubjectTokenFormat,
    /// `workforce_pool_user_project`, sent as STS `options.userProject`.
    pub user_project: Option<String>,
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    audience: Option<String>,
    subject_token_type: Option<String>,
    token_url: Option<String>,
    service_account_impersonation_url: Option<String>,
    credential_source: Option<RawSource>,
    workforce_pool_user_project: Option<String>,
}

#[derive(Deserialize)]
struct RawSource {
    file: Option<String>,
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    format: Option<RawFormat>,
    environment_id: Option<String>,
    executable: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawFormat {
    #[serde(rename = "type")]
    kind: Option<String>,
    subject_token_field_name: Option<String>,
}

/// Whether `text` is an `external_account` file (so the caller can say
/// which kind of file it expected).
pub fn is_external_account(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Kind {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    serde_json::from_str::<Kind>(text).is_ok_and(|k| k.kind.as_deref() == Some("external_account"))
}

/// Parses and checks an `external_account` file. The error completes a
/// sentence starting with the config key (`credentials_file: …`).
pub fn parse_external_account(text: &str) -> Result<ExternalAccount, String> {
    let file: RawFile = serde_json::from_str(text).map_err(|e| {
        format!(
            "is not an external_account credential file (JSON, line {} column {}); create one with `gcloud iam workload-identity-pools create-cred-config`",
            e.line(),
            e.column()
        )
    })?;
    if file.kind.as_deref() != Some("external_account") {
        return Err("must be a credential file with \"type\": \"external_account\"".into());
    }
    let required = |value: Option<String>, name: &str| {
        value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("has no \"{name}\" (an external_account file needs it)"))
    };
    let audience = required(file.audience, "audience")?;
    let subject_token_type = required(file.subject_token_type, "subject_token_type")?;
    let sts_url = file
        .token_url
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| GOOGLE_STS_URL.to_string());
    let sts_url = google_url(sts_url.trim(), "token_url", "sts")?;
    let (impersonation_url, impersonated_account) = match file
        .service_account_impersonation_url
        .filter(|u| !u.trim().is_empty())
    {
        Some(text) => {
            let url = google_url(
                text.trim(),
                "service_account_impersonation_url",
                "iamcredentials",
            )?;
            let account = impersonated_account(&url)?;
            (Some(url), Some(account))
        }
        None => (None, None),
    };
    let raw = file
        .credential_source
        .ok_or("has no \"credential_source\" (an external_account file needs it)")?;
    let (source, format) = subject_source(raw)?;
    Ok(ExternalAccount {
        audience,
        subject_token_type,
        sts_url,
        impersonation_url,
        impersonated_account,
        source,
        format,
        user_project: file
            .workforce_pool_user_project
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty()),
    })
}

/// A URL of the file that must be a Google API of `service` (`sts`,
/// `iamcredentials`): https on a `googleapis.com` host of that service
/// (regional and mTLS names included), or a loopback address (tests).
fn google_url(text: &str, key: &str, service: &str) -> Result<Url, String> {
    let url = check_http_url(text).map_err(|problem| format!("has a \"{key}\" that {problem}"))?;
    let host = url.host_str().unwrap_or_default();
    if is_loopback(host) || is_google_service_host(host, service) {
        return Ok(url);
    }
    Err(format!(
        "has a \"{key}\" on a host that is not Google's {service} API (like {service}.googleapis.com); refusing to send credentials there"
    ))
}

/// `sts.googleapis.com`, `sts.mtls.googleapis.com`, `us-east1-sts.…`,
/// `sts-xyz.p.googleapis.com`, `sts.europe-west3.rep.googleapis.com` and the
/// like: a `googleapis.com` host one of whose labels names the service.
fn is_google_service_host(host: &str, service: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let Some(prefix) = host.strip_suffix(".googleapis.com") else {
        return false;
    };
    let labels: Vec<&str> = prefix.split('.').collect();
    if labels
        .iter()
        .any(|l| l.is_empty() || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return false;
    }
    labels.iter().any(|label| {
        *label == service
            || label.starts_with(&format!("{service}-"))
            || label.ends_with(&format!("-{service}"))
    })
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The service account of `…/v1/projects/-/serviceAccounts/{EMAIL}:generateAccessToken`.
fn impersonated_account(url: &Url) -> Result<String, String> {
    let path = url.path();
    let account = path
        .rsplit_once("/serviceAccounts/")
        .and_then(|(_, rest)| rest.strip_suffix(":generateAccessToken"))
        .map(|email| email.replace("%40", "@"))
        .filter(|email| email.contains('@') && !email.contains('/'));
    account.ok_or_else(|| {
        "has a \"service_account_impersonation_url\" that is not …/serviceAccounts/EMAIL:generateAccessToken".to_string()
    })
}

/// `credential_source`: a file or a URL, and the format.
fn subject_source(raw: RawSource) -> Result<(SubjectTokenSource, SubjectTokenFormat), String> {
    if raw.environment_id.is_some() {
        return Err("has a \"credential_source.environment_id\" (AWS); only file and url sources are supported".into());
    }
    if raw.executable.is_some() {
        return Err(
            "has a \"credential_source.executable\"; only file and url sources are supported"
                .into(),
        );
    }
    let format = match raw.format {
        None => SubjectTokenFormat::Text,
        Some(format) => match format.kind.as_deref().map(str::trim) {
            None | Some("text") => SubjectTokenFormat::Text,
            Some("json") => SubjectTokenFormat::Json(
                format
                    .subject_token_field_name
                    .map(|f| f.trim().to_string())
                    .filter(|f| !f.is_empty())
                    .ok_or("has \"credential_source.format.type\": \"json\" but no \"subject_token_field_name\"")?,
            ),
            Some(_) => {
                return Err(
                    "has a \"credential_source.format.type\" that is neither text nor json".into(),
                );
            }
        },
    };
    let source = match (raw.file, raw.url) {
        (Some(_), Some(_)) => {
            return Err(
                "has both \"credential_source.file\" and \"credential_source.url\"; keep one"
                    .into(),
            );
        }
        (Some(file), None) => {
            let path = PathBuf::from(file.trim());
            if !path.is_absolute() {
                return Err("has a \"credential_source.file\" that is not an absolute path".into());
            }
            SubjectTokenSource::File(path)
        }
        (None, Some(url)) => SubjectTokenSource::Url {
            url: subject_url(url.trim())?,
            headers: headers(raw.headers)?,
        },
        (None, None) => {
            return Err("has a \"credential_source\" with neither \"file\" nor \"url\"".into());
        }
    };
    Ok((source, format))
}

/// The subject token's URL: https, or http on a loopback or link-local
/// address (a cloud's instance metadata service, like Azure's
/// `169.254.169.254`, never leaves the host). A query is allowed.
fn subject_url(text: &str) -> Result<Url, String> {
    let problem = |what: &str| format!("has a \"credential_source.url\" that {what}");
    let url = Url::parse(text).map_err(|e| problem(&format!("is not a valid URL ({e})")))?;
    let host = url.host_str().unwrap_or_default();
    let local = is_loopback(host)
        || host.parse::<IpAddr>().is_ok_and(|ip| match ip {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(_) => false,
        });
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        "http" => {
            return Err(problem(
                "must be https (http only for loopback and link-local metadata addresses)",
            ));
        }
        other => return Err(problem(&format!("must be an https:// URL, not {other}:"))),
    }
    if host.is_empty() {
        return Err(problem("must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(problem("must not carry a user name, password or fragment"));
    }
    Ok(url)
}

/// `credential_source.headers`: valid HTTP names and values, kept secret.
fn headers(raw: BTreeMap<String, String>) -> Result<Vec<(String, Secret)>, String> {
    raw.into_iter()
        .map(|(name, value)| -> Result<(String, Secret), String> {
            let valid = reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
                && reqwest::header::HeaderValue::from_str(&value).is_ok();
            if valid {
                Ok((name, Secret::new(value)))
            } else {
                Err(
                    "has a \"credential_source.headers\" entry that is not a valid HTTP header"
                        .into(),
                )
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const SAMPLE: &str =
        include_str!("../../../tests/fixtures/google/external_account.credential.json");

    #[test]
    fn the_google_sample_parses() {
        let account = parse_external_account(SAMPLE).unwrap();
        assert!(
            account
                .audience
                .starts_with("//iam.googleapis.com/projects/")
        );
        assert_eq!(account.sts_url.as_str(), GOOGLE_STS_URL);
        assert_eq!(
            account.subject_token_type,
            "urn:ietf:params:oauth:token-type:jwt"
        );
        assert!(account.impersonated_account.is_some());
    }

    #[test]
    fn google_hosts_are_recognised() {
        for host in [
            "sts.googleapis.com",
            "sts.mtls.googleapis.com",
            "us-east1-sts.googleapis.com",
            "sts.europe-west3.rep.googleapis.com",
        ] {
            assert!(is_google_service_host(host, "sts"), "{host}");
        }
        for host in [
            "sts.googleapis.com.evil.example",
            "evil.example",
            "stsx.googleapis.com",
            "iamcredentials.googleapis.com",
            "sts..googleapis.com",
        ] {
            assert!(!is_google_service_host(host, "sts"), "{host}");
        }
        assert!(is_google_service_host(
            "iamcredentials.googleapis.com",
            "iamcredentials"
        ));
    }

    fn with(field: &str, value: serde_json::Value) -> String {
        let mut file: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        file[field] = value;
        file.to_string()
    }

    #[test]
    fn urls_off_google_or_plain_http_are_refused_naming_the_key() {
        let cases = [
            (
                "token_url",
                "http://sts.googleapis.com/v1/token",
                "\"token_url\" that must be https",
            ),
            (
                "token_url",
                "https://sts.attacker.example/v1/token",
                "\"token_url\" on a host that is not Google's sts API",
            ),
            (
                "service_account_impersonation_url",
                "https://attacker.example/v1/projects/-/serviceAccounts/a@b.iam.gserviceaccount.com:generateAccessToken",
                "\"service_account_impersonation_url\" on a host that is not Google's iamcredentials API",
            ),
            (
                "service_account_impersonation_url",
                "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/x:signBlob",
                "\"service_account_impersonation_url\" that is not",
            ),
        ];
        for (field, value, expected) in cases {
            let problem = parse_external_account(&with(field, value.into())).unwrap_err();
            assert!(problem.contains(expected), "{problem}");
        }
        let url_source = serde_json::json!({"url": "http://tokens.example/token"});
        let problem = parse_external_account(&with("credential_source", url_source)).unwrap_err();
        assert!(
            problem.contains("\"credential_source.url\" that must be https"),
            "{problem}"
        );
        let azure = serde_json::json!({"url": "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01", "headers": {"Metadata": "True"}, "format": {"type": "json", "subject_token_field_name": "access_token"}});
        let account = parse_external_account(&with("credential_source", azure)).unwrap();
        assert_eq!(
            account.format,
            SubjectTokenFormat::Json("access_token".into())
        );
        let aws = serde_json::json!({"environment_id": "aws1"});
        let problem = parse_external_account(&with("credential_source", aws)).unwrap_err();
        assert!(problem.contains("environment_id"), "{problem}");
        let relative = serde_json::json!({"file": "token.jwt"});
        let problem = parse_external_account(&with("credential_source", relative)).unwrap_err();
        assert!(problem.contains("not an absolute path"), "{problem}");
    }
}
