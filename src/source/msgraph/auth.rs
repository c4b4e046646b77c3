//! Client-credentials tokens from the Microsoft identity platform, with a
//! client secret or a certificate-signed JWT assertion.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{StatusCode, Url};
use serde::Serialize;

use super::KIND;
use super::proto::{TokenError, TokenResponse};
use crate::config::{EntraCredential, EntraSourceConfig, Secret};
use crate::ratelimit::Backoff;
use crate::source::SourceError;
use crate::source::vendor_http::decode_token_body;
use crate::source::vendor_http::{IssuedToken, TokenAnswer, TokenBounds};

/// `client_assertion_type` of a JWT client assertion (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Lifetime of a client assertion; Entra accepts up to 10 minutes.
const ASSERTION_LIFETIME_SECS: u64 = 300;
/// Attempts at the token endpoint when it answers 429/5xx or is unreachable.
const TOKEN_ATTEMPTS: u32 = 3;

/// `x5t#S256`: base64url (no padding) of the SHA-256 of the certificate DER,
/// which is how Entra finds the certificate the assertion was signed with.
pub fn x5t_s256(certificate_der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, certificate_der);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Claims of a client assertion.
#[derive(Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: u64,
    iat: u64,
    exp: u64,
}

/// How the token request proves the app's identity.
enum Proof {
    Secret(Secret),
    Certificate {
        key: EncodingKey,
        thumbprint: String,
    },
}

/// Requests tokens for one app registration. Holds credentials, so it has
/// no `Debug`.
pub struct TokenRequester {
    http: reqwest::Client,
    token_url: Url,
    client_id: String,
    scope: String,
    proof: Proof,
    /// Config keys to name when Entra refuses: (credential, client id, tenant).
    keys: [String; 3],
    /// Caps on the token endpoint's `Retry-After` and body.
    bounds: TokenBounds,
}

impl TokenRequester {
    /// Builds the requester; `index` names the connection in messages.
    pub fn new(config: &EntraSourceConfig, index: usize) -> Result<Self, SourceError> {
        let setup = |message: String| SourceError::Setup {
            source_kind: KIND,
            message,
        };
        let http = crate::http::build_endpoint_client(
            config.timeout,
            config.ca_file.as_ref(),
            config.proxy.as_ref().map(crate::config::Secret::expose),
        )
        .map_err(|e| setup(e.to_string()))?;
        let proof = match &config.credential {
            EntraCredential::Secret(secret) => Proof::Secret(secret.clone()),
            EntraCredential::Certificate {
                certificate_der,
                private_key_pem,
            } => Proof::Certificate {
                key: EncodingKey::from_rsa_pem(private_key_pem.expose().as_bytes()).map_err(
                    |_| {
                        setup(format!(
                            "`connections[{index}].source.private_key_file` is not an RSA private key"
                        ))
                    },
                )?,
                thumbprint: x5t_s256(certificate_der),
            },
        };
        Ok(TokenRequester {
            http,
            token_url: config.token_url.clone(),
            client_id: config.client_id.clone(),
            scope: config.scope.clone(),
            keys: [
                credential_key(config, index),
                format!("connections[{index}].source.client_id"),
                format!("connections[{index}].source.tenant_id"),
            ],
            proof,
            bounds: TokenBounds {
                limits: config.limits,
                source_key: format!("connections[{index}].source"),
            },
        })
    }

    /// A signed client assertion for one token request.
    fn assertion(&self, key: &EncodingKey, thumbprint: &str) -> Result<String, SourceError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.x5t_s256 = Some(thumbprint.to_string());
        let claims = AssertionClaims {
            aud: self.token_url.as_str(),
            iss: &self.client_id,
            sub: &self.client_id,
            jti: format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&header, &claims, key).map_err(|e| SourceError::Setup {
            source_kind: KIND,
            message: format!("cannot sign the client assertion: {e}"),
        })
    }

    /// The form body of a token request (it holds the secret: never log it).
    fn form(&self) -> Result<String, SourceError> {
        let mut scratch = Url::parse("http://form.invalid/").map_err(|e| SourceError::Setup {
            source_kind: KIND,
            message: e.to_string(),
        })?;
        {
            let mut pairs = scratch.query_pairs_mut();
            pairs
                .append_pair("client_id", &self.client_id)
                .append_pair("scope", &self.scope)
                .append_pair("grant_type", "client_credentials");
            match &self.proof {
                Proof::Secret(secret) => {
                    pairs.append_pair("client_secret", secret.expose());
                }
                Proof::Certificate { key, thumbprint } => {
                    pairs
                        .append_pair("client_assertion_type", JWT_BEARER)
                        .append_pair("client_assertion", &self.assertion(key, thumbprint)?);
                }
            }
        }
        Ok(scratch.query().unwrap_or_default().to_string())
    }

    /// Requests a new token. Refusals become [`SourceError::Unauthorized`]
    /// naming the key to fix; 429/5xx and network errors are retried.
    pub async fn issue(&self) -> Result<IssuedToken, SourceError> {
        let backoff = Backoff::default();
        let shown = crate::http::redact_url(&self.token_url);
        let mut last = String::new();
        for attempt in 0..TOKEN_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff.delay(attempt - 1)).await;
            }
            let response = match self
                .http
                .post(self.token_url.clone())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .header(reqwest::header::ACCEPT, "application/json")
                .body(self.form()?)
                .send()
                .await
            {
                Ok(response) => response,
                Err(error) => {
                    last = error.to_string();
                    continue;
                }
            };
            let TokenAnswer {
                status,
                retry_after,
                body,
            } = self
                .bounds
                .read(KIND, &format!("POST {shown}"), response)
                .await?;
            if status.is_success() {
                let token: TokenResponse =
                    decode_token_body(&format!("POST {shown}"), status, &body).map_err(
                        |message| SourceError::Fetch {
                            source_kind: KIND,
                            message,
                        },
                    )?;
                return Ok(IssuedToken {
                    token: Secret::new(token.access_token),
                    expires_in: Duration::from_secs(token.expires_in),
                });
            }
            let error: TokenError = serde_json::from_slice(&body).unwrap_or_default();
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                last = format!("{status}: {}", first_line(&error.error_description));
                if let Some(wait) = retry_after {
                    tokio::time::sleep(wait).await;
                }
                continue;
            }
            return Err(SourceError::Unauthorized {
                source_kind: KIND,
                message: format!(
                    "POST {shown} answered {status} ({}: {}). Check `{}`",
                    if error.error.is_empty() {
                        "no error code"
                    } else {
                        &error.error
                    },
                    first_line(&error.error_description),
                    self.key_for(&error.error_description),
                ),
            });
        }
        Err(SourceError::Fetch {
            source_kind: KIND,
            message: format!("POST {shown} failed after {TOKEN_ATTEMPTS} attempts: {last}"),
        })
    }

    /// The config key an AADSTS code points at.
    fn key_for(&self, description: &str) -> &str {
        let [credential, client, tenant] = &self.keys;
        let code = description.split(':').next().unwrap_or_default().trim();
        match code {
            // Tenant not found / invalid tenant identifier.
            "AADSTS90002" | "AADSTS900023" | "AADSTS90023" => tenant,
            // Application not found in the directory.
            "AADSTS700016" => client,
            _ => credential,
        }
    }
}

/// The key holding the credential, for messages.
pub fn credential_key(config: &EntraSourceConfig, index: usize) -> String {
    match config.credential {
        EntraCredential::Secret(_) => format!("connections[{index}].source.client_secret"),
        EntraCredential::Certificate { .. } => {
            format!("connections[{index}].source.certificate_file")
        }
    }
}

/// AADSTS descriptions carry trace and correlation ids on later lines.
fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or_default().trim();
    if line.is_empty() {
        "no description"
    } else {
        line
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn x5t_s256_is_the_base64url_sha256_of_the_der() {
        // SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad
        assert_eq!(
            x5t_s256(b"abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        assert!(!x5t_s256(b"").contains(['=', '+', '/']));
    }

    #[test]
    fn aadsts_codes_point_at_their_keys() {
        let requester = TokenRequester {
            http: reqwest::Client::new(),
            token_url: Url::parse("https://login.microsoftonline.com/t/oauth2/v2.0/token").unwrap(),
            client_id: "c".into(),
            scope: "s".into(),
            proof: Proof::Secret(Secret::new("x".into())),
            keys: ["cred".into(), "client".into(), "tenant".into()],
            bounds: TokenBounds {
                limits: crate::config::ListingLimits::default(),
                source_key: "connections[0].source".into(),
            },
        };
        assert_eq!(
            requester.key_for("AADSTS7000215: Invalid client secret provided."),
            "cred"
        );
        assert_eq!(
            requester.key_for("AADSTS700016: Application with identifier 'c' was not found"),
            "client"
        );
        assert_eq!(
            requester.key_for("AADSTS90002: Tenant 't' not found."),
            "tenant"
        );
        assert_eq!(requester.key_for(""), "cred");
        let form = requester.form().unwrap();
        assert_eq!(
            form,
            "client_id=c&scope=s&grant_type=client_credentials&client_secret=x"
        );
    }
}
