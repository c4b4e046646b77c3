//! Keyless signing outside Google Cloud: workload identity federation from an
//! `external_account` credential file. The workload's own identity token
//! (the subject token, from a file or a URL) is exchanged at Google's STS
//! (RFC 8693) for a federated token; when the file names a service account
//! to impersonate, IAM Credentials `generateAccessToken` turns that into the
//! service account's token. That token then has the domain-wide delegation
//! JWT signed through `signJwt`, exactly like the metadata server's token
//! on a VM (see `client.rs`).
//!
//! Every URL was checked when the config loaded (https or loopback; STS and
//! IAM Credentials on Google's hosts); here every body is read within the
//! source's `max_body` and every request within its `timeout`.

use reqwest::Url;
use serde::Deserialize;
use tokio::io::AsyncReadExt;

use super::KIND;
use super::proto::{ErrorBody, TokenResponse};
use crate::config::{ExternalAccount, Secret, SubjectTokenFormat, SubjectTokenSource};
use crate::http::redact_url;
use crate::source::SourceError;
use crate::source::kit::encode::component as encode;
use crate::source::kit::http::SourceConnection;
use crate::source::kit::token::{TokenAnswer, decode_token_body};

/// An OAuth error answer of Google STS (`error`, `error_description`).
#[derive(Debug, Default, Deserialize)]
struct TokenError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// RFC 8693 grant type.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// What STS is asked for.
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Scope of the federated and impersonated tokens: enough for IAM
/// Credentials (`generateAccessToken`, `signJwt`), which accept it.
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The impersonated token only has to last for one `signJwt`.
const IMPERSONATION_LIFETIME: &str = "3600s";
/// Subject tokens are JWTs or SAML assertions of a few KiB; a file larger
/// than this is not one.
const MAX_SUBJECT_FILE_BYTES: u64 = 64 * 1024;

/// Obtains the token that calls `signJwt`, through workload identity
/// federation. Holds no secret itself: the subject token is read afresh
/// each time (it rotates).
pub(super) struct Federation {
    account: Box<ExternalAccount>,
}

/// Who is talking to whom, for messages.
pub(super) struct Call<'a> {
    /// The client (timeouts, same-origin redirects, proxy, CAs).
    pub http: &'a reqwest::Client,
    /// Body and `Retry-After` caps.
    pub bounds: &'a SourceConnection,
    /// `connections[i].source`.
    pub source_key: &'a str,
}

/// `generateAccessToken`'s answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeneratedToken {
    access_token: String,
}

impl Federation {
    /// Federation by this checked credential file.
    pub(super) fn new(account: Box<ExternalAccount>) -> Self {
        Federation { account }
    }

    /// The token that may call `signJwt`: STS's federated token, or the
    /// impersonated service account's.
    pub(super) async fn token(&self, call: &Call<'_>) -> Result<Secret, SourceError> {
        let subject = self.subject_token(call).await?;
        let federated = self.exchange(call, &subject).await?;
        match &self.account.impersonation_url {
            Some(url) => self.impersonate(call, url, &federated).await,
            None => Ok(federated),
        }
    }

    /// The workload's identity token from `credential_source`.
    async fn subject_token(&self, call: &Call<'_>) -> Result<Secret, SourceError> {
        let key = format!("{}.credentials_file", call.source_key);
        let unreadable = |detail: String| SourceError::Unauthorized {
            source_kind: KIND,
            message: format!("cannot read the subject token of `{key}`: {detail}"),
        };
        let (raw, origin) = match &self.account.source {
            SubjectTokenSource::File(path) => {
                let origin = format!("credential_source.file {}", path.display());
                (
                    read_capped(path)
                        .await
                        .map_err(|e| unreadable(format!("{origin}: {e}")))?,
                    origin,
                )
            }
            SubjectTokenSource::Url { url, headers } => {
                let shown = format!("GET {}", redact_url(url));
                let mut request = call.http.get(url.clone());
                for (name, value) in headers {
                    request = request.header(name.as_str(), value.expose());
                }
                let response = request.send().await.map_err(|e| {
                    unreadable(format!("{shown}: {}", crate::http::describe_error(&e)))
                })?;
                let TokenAnswer { status, body, .. } = call.bounds.read(&shown, response).await?;
                if !status.is_success() {
                    return Err(unreadable(format!("{shown} answered {status}")));
                }
                (body, format!("credential_source.url ({shown})"))
            }
        };
        extract(&raw, &self.account.format)
            .map(Secret::new)
            .map_err(|detail| unreadable(format!("{origin}: {detail}")))
    }

    /// STS token exchange: the subject token for a federated access token.
    async fn exchange(&self, call: &Call<'_>, subject: &Secret) -> Result<Secret, SourceError> {
        let url = &self.account.sts_url;
        let shown = format!("POST {}", redact_url(url));
        let mut form = vec![
            ("grant_type", TOKEN_EXCHANGE.to_string()),
            ("audience", self.account.audience.clone()),
            ("scope", CLOUD_PLATFORM.to_string()),
            ("requested_token_type", ACCESS_TOKEN_TYPE.to_string()),
            ("subject_token", subject.expose().to_string()),
            (
                "subject_token_type",
                self.account.subject_token_type.clone(),
            ),
        ];
        if let Some(project) = &self.account.user_project {
            form.push((
                "options",
                serde_json::json!({ "userProject": project }).to_string(),
            ));
        }
        let body: Vec<String> = form
            .iter()
            .map(|(name, value)| format!("{name}={}", encode(value)))
            .collect();
        let request = call
            .http
            .post(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body.join("&"));
        let answer = send(call, request, &shown).await?;
        if !answer.status.is_success() {
            let error: TokenError = serde_json::from_slice(&answer.body).unwrap_or_default();
            let detail = match (&error.error, &error.error_description) {
                (Some(code), Some(text)) => format!("{code}: {text}"),
                (Some(code), None) => code.clone(),
                _ => ErrorBody::summarise(&answer.body),
            };
            return Err(SourceError::Unauthorized {
                source_kind: KIND,
                message: format!(
                    "{shown} answered {} ({detail}): Google STS refused the workload's token. Check that the workload identity pool provider in `{}.credentials_file` (\"audience\") exists, trusts this token's issuer, and that its attribute conditions admit it",
                    answer.status, call.source_key
                ),
            });
        }
        let token: TokenResponse =
            decode_token_body(&shown, answer.status, &answer.body).map_err(|message| {
                SourceError::Fetch {
                    source_kind: KIND,
                    message,
                }
            })?;
        Ok(Secret::new(token.access_token))
    }

    /// `generateAccessToken` for the service account the file names.
    async fn impersonate(
        &self,
        call: &Call<'_>,
        url: &Url,
        federated: &Secret,
    ) -> Result<Secret, SourceError> {
        let shown = format!("POST {}", redact_url(url));
        let request = call
            .http
            .post(url.clone())
            .bearer_auth(federated.expose())
            .json(&serde_json::json!({
                "scope": [CLOUD_PLATFORM],
                "lifetime": IMPERSONATION_LIFETIME,
            }));
        let answer = send(call, request, &shown).await?;
        if !answer.status.is_success() {
            return Err(SourceError::Unauthorized {
                source_kind: KIND,
                message: format!(
                    "{shown} answered {} ({}): the federated identity needs roles/iam.workloadIdentityUser on {} (the service account of \"service_account_impersonation_url\" in `{}.credentials_file`), and the IAM Credentials API must be enabled",
                    answer.status,
                    ErrorBody::summarise(&answer.body),
                    self.account
                        .impersonated_account
                        .as_deref()
                        .unwrap_or("the service account"),
                    call.source_key
                ),
            });
        }
        let token: GeneratedToken = decode_token_body(&shown, answer.status, &answer.body)
            .map_err(|message| SourceError::Fetch {
                source_kind: KIND,
                message,
            })?;
        Ok(Secret::new(token.access_token))
    }
}

/// Sends one request and reads its answer within the bounds.
async fn send(
    call: &Call<'_>,
    request: reqwest::RequestBuilder,
    shown: &str,
) -> Result<TokenAnswer, SourceError> {
    let response = request.send().await.map_err(|e| SourceError::Fetch {
        source_kind: KIND,
        message: format!("{shown}: {}", crate::http::describe_error(&e)),
    })?;
    call.bounds.read(shown, response).await
}

/// A subject-token file, refused when larger than a token can be.
async fn read_capped(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_SUBJECT_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_SUBJECT_FILE_BYTES {
        return Err(format!(
            "larger than {MAX_SUBJECT_FILE_BYTES} bytes, which no identity token is"
        ));
    }
    Ok(bytes)
}

/// The token in a file's or a response's content, per `format`. Errors never
/// quote the content.
fn extract(raw: &[u8], format: &SubjectTokenFormat) -> Result<String, String> {
    let token = match format {
        SubjectTokenFormat::Text => String::from_utf8_lossy(raw).trim().to_string(),
        SubjectTokenFormat::Json(field) => {
            let value: serde_json::Value = serde_json::from_slice(raw)
                .map_err(|_| "is not JSON (format.type is json)".to_string())?;
            value
                .get(field)
                .and_then(serde_json::Value::as_str)
                .map(|token| token.trim().to_string())
                .ok_or_else(|| {
                    format!("has no string field \"{field}\" (subject_token_field_name)")
                })?
        }
    };
    if token.is_empty() {
        return Err("is empty".into());
    }
    Ok(token)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn subject_tokens_are_read_as_text_or_from_a_json_field() {
        assert_eq!(
            extract(b"  eyJ.a.b\n", &SubjectTokenFormat::Text).unwrap(),
            "eyJ.a.b"
        );
        let json = SubjectTokenFormat::Json("access_token".into());
        assert_eq!(
            extract(br#"{"access_token":"eyJ.c.d","expires_in":"3599"}"#, &json).unwrap(),
            "eyJ.c.d"
        );
        let missing = extract(br#"{"token":"secret-value"}"#, &json).unwrap_err();
        assert!(missing.contains("\"access_token\""), "{missing}");
        assert!(!missing.contains("secret-value"), "{missing}");
        assert!(extract(b"not json", &json).is_err());
        assert!(extract(b" \n", &SubjectTokenFormat::Text).is_err());
    }

    #[tokio::test]
    async fn an_oversized_subject_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, vec![b'a'; MAX_SUBJECT_FILE_BYTES as usize + 1]).unwrap();
        let error = read_capped(&path).await.unwrap_err();
        assert!(error.contains("larger than"), "{error}");
        std::fs::write(&path, b"eyJ.a.b").unwrap();
        assert_eq!(read_capped(&path).await.unwrap(), b"eyJ.a.b");
    }
}
