//! The one token-endpoint path of the OAuth adapters: the request (built by
//! the `oauth2` crate for client credentials), the bounded read of the
//! answer, retries of 429/5xx and network errors, the decoding of the token,
//! and refusals turned into advice naming the config keys to fix.
//!
//! Vendors differ only in what they pass in: the [`Grant`], and how a
//! refusal reads to an admin ([`Advice`]).

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenUrl};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Request, RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;

use super::encode::{form, query_escape};
use super::http::{SourceConnection, body_start};
use super::values::scalar;
use crate::config::Secret;
use crate::http::{describe_error, redact_url};
use crate::ratelimit::{Backoff, BodyError, check_wait, parse_retry_after, read_body_capped};
use crate::source::{BoxFuture, SourceError};

/// Attempts at the token endpoint (network errors, 408, 429, 5xx).
const TOKEN_ATTEMPTS: u32 = 3;
/// Lifetime assumed when a token response has no (readable) `expires_in`;
/// every vendor documents an hour or more.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// `grant_type` of the JWT bearer grant (RFC 7523 §2.1).
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Turns a refusal into the message an admin reads: what was refused and
/// which config keys to check.
pub type Advice = Box<dyn Fn(&Refusal) -> String + Send + Sync>;

/// How the client proves its identity in a client-credentials request.
pub enum ClientAuth {
    /// `client_secret_basic`. The header keeps each vendor's verified
    /// encoding of the pair (see [`BasicEncoding`]).
    Basic(Secret, BasicEncoding),
    /// `client_secret_post`: id and secret in the form body.
    Post(Secret),
    /// `private_key_jwt`: a `client_assertion` in the form body, signed
    /// afresh for each token request.
    PrivateKeyJwt(Box<dyn Fn() -> Result<String, SourceError> + Send + Sync>),
}

/// How id and secret are written into a Basic header. oauth2 form-encodes
/// both (RFC 6749 §2.3.1, `~` becomes `%7E`); the vendors here were
/// verified with other encodings, kept so a secret that worked still does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BasicEncoding {
    /// As given (JumpCloud, OneLogin: `base64(id:secret)`).
    Raw,
    /// Go's `url.QueryEscape`, as PingOne's SDKs send them.
    QueryEscape,
}

/// What is exchanged for an access token.
pub enum Grant {
    /// RFC 6749 §4.4 client credentials, built and sent through `oauth2`.
    ClientCredentials {
        /// The client id.
        client_id: String,
        /// The client authentication method.
        auth: ClientAuth,
        /// Scopes to ask for (none: the client's default).
        scopes: Vec<String>,
    },
    /// RFC 7523 §2.1 JWT bearer grant (Google), its form built here: `oauth2`
    /// 5 has no such grant. The assertion is signed afresh, possibly by
    /// another service (Google's keyless IAM signing).
    JwtBearer(Box<dyn Fn() -> BoxFuture<'static, Result<String, SourceError>> + Send + Sync>),
    /// OneLogin's client credentials: a JSON body
    /// (`{"grant_type":"client_credentials"}`) with Basic authentication,
    /// which `oauth2` cannot send (it always form-encodes the body).
    JsonClientCredentials {
        /// The client id.
        client_id: String,
        /// The client secret.
        secret: Secret,
    },
}

/// A refused token request, as the vendor's advice reads it.
pub struct Refusal<'a> {
    /// `POST <token URL>` (query redacted).
    pub shown: &'a str,
    /// HTTP status.
    pub status: StatusCode,
    /// RFC 6749 `error` code, when the body is an OAuth error.
    pub error: Option<String>,
    /// RFC 6749 `error_description`.
    pub description: Option<String>,
    /// The body, for vendors whose errors are not OAuth errors.
    pub body: &'a [u8],
}

impl Refusal<'_> {
    /// `error: description`, `error`, or the start of the body.
    pub fn summary(&self) -> String {
        match (&self.error, &self.description) {
            (Some(code), Some(text)) => format!("{code}: {text}"),
            (Some(code), None) => code.clone(),
            _ => body_start(self.body),
        }
    }
}

/// A token endpoint's answer, read within the source's caps.
pub struct TokenAnswer {
    /// HTTP status.
    pub status: StatusCode,
    /// The `Retry-After` of a 429/5xx, already checked against `max_wait`.
    pub retry_after: Option<Duration>,
    /// Body bytes (empty when the body stream failed).
    pub body: Vec<u8>,
}

impl SourceConnection {
    /// Reads a token endpoint's response within the source's caps: a
    /// `Retry-After` on a 429/5xx above `max_wait`, or a body above
    /// `max_body`, fails at once instead of stalling the run or filling
    /// memory.
    pub async fn read(
        &self,
        shown: &str,
        response: reqwest::Response,
    ) -> Result<TokenAnswer, SourceError> {
        let status = response.status();
        let fail = |reason: String| SourceError::Fetch {
            source_kind: self.kind,
            message: format!("{shown} answered {status}: {reason}"),
        };
        let throttled = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
        let header = response.headers().get(RETRY_AFTER).filter(|_| throttled);
        let value = header.and_then(|v| v.to_str().ok()).unwrap_or_default();
        let cap = format!("`{}.max_wait`", self.source_key);
        let max = self.limits.max_wait;
        let check = |wait| check_wait(RETRY_AFTER.as_str(), value, wait, max, &cap);
        let wait = parse_retry_after(value, SystemTime::now()).map(check);
        let retry_after = wait.transpose().map_err(fail)?;
        let key = format!("`{}.max_body`", self.source_key);
        let body = match read_body_capped(response, self.limits.max_body, &key).await {
            Ok(body) => body,
            Err(BodyError::Transport(_)) => Vec::new(),
            Err(too_large) => return Err(fail(too_large.to_string())),
        };
        Ok(TokenAnswer {
            status,
            retry_after,
            body,
        })
    }
}

/// One OAuth token endpoint of a source, with its grant and advice.
pub struct TokenEndpoint {
    connection: SourceConnection,
    http: reqwest::Client,
    url: Url,
    shown: String,
    backoff: Backoff,
    grant: Grant,
    advice: Advice,
    /// Appended to the message when every attempt failed.
    exhausted_hint: String,
}

impl TokenEndpoint {
    /// The token endpoint at `url` of a source, read with the source's
    /// proxy, CA file and timeout, within its `max_wait` and `max_body`.
    pub fn new(
        connection: &SourceConnection,
        url: Url,
        grant: Grant,
        advice: Advice,
    ) -> Result<Self, SourceError> {
        Ok(TokenEndpoint {
            connection: connection.clone(),
            shown: format!("POST {}", redact_url(&url)),
            http: connection.client()?,
            url,
            backoff: Backoff::default(),
            grant,
            advice,
            exhausted_hint: String::new(),
        })
    }

    /// Waits between attempts by `backoff` instead of the default.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Adds `hint` to the message when every attempt failed (e.g. the key
    /// setting the token URL).
    pub fn with_exhausted_hint(mut self, hint: String) -> Self {
        self.exhausted_hint = hint;
        self
    }

    /// Requests a new token and its lifetime from now (`expires_in`).
    /// Refusals become [`SourceError::Unauthorized`]
    /// with the vendor's advice; 408/429/5xx, transient OAuth errors and
    /// network errors are retried (honouring `Retry-After`).
    pub async fn issue(&self) -> Result<(Secret, Duration), SourceError> {
        let fail = |message| SourceError::Fetch {
            source_kind: self.connection.kind,
            message,
        };
        let mut last = String::new();
        for attempt in 0..TOKEN_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(self.backoff.delay(attempt - 1)).await;
            }
            let answer = match self.exchange().await? {
                Ok(answer) => answer,
                Err(network) => {
                    last = network;
                    continue;
                }
            };
            if answer.status.is_success() {
                let token: TokenBody =
                    decode_token_body(&self.shown, answer.status, &answer.body).map_err(fail)?;
                let lifetime = token.lifetime().unwrap_or(DEFAULT_TOKEN_LIFETIME);
                return Ok((Secret::new(token.access_token), lifetime));
            }
            let error = serde_json::from_slice::<BasicErrorResponse>(&answer.body).ok();
            let refusal = Refusal {
                shown: &self.shown,
                status: answer.status,
                error: error.as_ref().map(|e| e.error().as_ref().to_string()),
                description: error.and_then(|e| e.error_description().cloned()),
                body: &answer.body,
            };
            // RFC 6749 error codes that mean "try again" whatever the status.
            let code = refusal.error.as_deref().unwrap_or_default();
            if matches!(answer.status.as_u16(), 408 | 429 | 500..=599)
                || matches!(
                    code,
                    "internal_failure" | "server_error" | "temporarily_unavailable"
                )
            {
                last = format!("{}: {}", answer.status, refusal.summary());
                if let Some(wait) = answer.retry_after {
                    tokio::time::sleep(wait).await;
                }
                continue;
            }
            return Err(SourceError::Unauthorized {
                source_kind: self.connection.kind,
                message: (self.advice)(&refusal),
            });
        }
        Err(fail(format!(
            "{} failed after {TOKEN_ATTEMPTS} attempts: {last}{}",
            self.shown, self.exhausted_hint
        )))
    }

    /// One request of the grant, sent and read within the bounds: an
    /// answer, or (`Ok(Err)`) the network error worth another attempt.
    async fn exchange(&self) -> Result<Result<TokenAnswer, String>, SourceError> {
        let post = || {
            self.http
                .post(self.url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
        };
        let request = match &self.grant {
            Grant::ClientCredentials {
                client_id,
                auth,
                scopes,
            } => self.client_credentials(client_id, auth, scopes)?,
            Grant::JwtBearer(sign) => {
                let assertion = sign().await?;
                let body = form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", &assertion)]);
                post()
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
            }
            Grant::JsonClientCredentials { client_id, secret } => post()
                .basic_auth(client_id, Some(secret.expose()))
                .header(CONTENT_TYPE, "application/json")
                .body(r#"{"grant_type":"client_credentials"}"#),
        };
        let request = request.build().map_err(|e| self.setup(&e.to_string()))?;
        match self.http.execute(request).await {
            Ok(response) => Ok(Ok(self.connection.read(&self.shown, response).await?)),
            Err(e) => Ok(Err(describe_error(&e))),
        }
    }

    /// A client-credentials request built by `oauth2`, to be sent through
    /// our HTTP client so the source's proxy, CA file, timeout and body cap
    /// apply. `oauth2` hands the request to a client that only keeps it;
    /// the answer is decoded like every grant's: vendors' tokens are not
    /// always standard (see [`TokenBody`]).
    fn client_credentials(
        &self,
        client_id: &str,
        auth: &ClientAuth,
        scopes: &[String],
    ) -> Result<RequestBuilder, SourceError> {
        let auth_type = match auth {
            ClientAuth::Basic(..) => AuthType::BasicAuth,
            _ => AuthType::RequestBody,
        };
        let mut client = BasicClient::new(ClientId::new(client_id.to_string()))
            .set_token_uri(TokenUrl::from_url(self.url.clone()))
            .set_auth_type(auth_type);
        if let ClientAuth::Basic(secret, _) | ClientAuth::Post(secret) = auth {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
        }
        let mut request = client
            .exchange_client_credentials()
            .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())));
        if let ClientAuth::PrivateKeyJwt(sign) = auth {
            request = request
                .add_extra_param("client_assertion_type", CLIENT_ASSERTION_TYPE)
                .add_extra_param("client_assertion", sign()?);
        }
        let built = RefCell::new(None);
        let result = request.request(&|http: oauth2::HttpRequest| {
            *built.borrow_mut() = Some(http);
            Err(std::io::Error::other("kept to be sent by the kit"))
        });
        let Some(http) = built.into_inner() else {
            return Err(self.setup(&result.err().map(|e| e.to_string()).unwrap_or_default()));
        };
        let mut request = Request::try_from(http).map_err(|e| self.setup(&e.to_string()))?;
        // A vendor-encoded Basic header replaces oauth2's.
        if let ClientAuth::Basic(secret, encoding) = auth {
            let basic = basic_header(client_id, secret, *encoding);
            request.headers_mut().insert(AUTHORIZATION, basic);
        }
        Ok(RequestBuilder::from_parts(self.http.clone(), request))
    }

    fn setup(&self, message: &str) -> SourceError {
        SourceError::Setup {
            source_kind: self.connection.kind,
            message: format!("{}: {message}", self.shown),
        }
    }
}

/// `Basic base64(id:secret)` in the vendor's encoding.
fn basic_header(client_id: &str, secret: &Secret, encoding: BasicEncoding) -> HeaderValue {
    use base64::Engine;
    let pair = match encoding {
        BasicEncoding::Raw => format!("{client_id}:{}", secret.expose()),
        BasicEncoding::QueryEscape => [client_id, secret.expose()].map(query_escape).join(":"),
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

/// A token response as vendors really send it: `token_type` may be absent
/// and `expires_in` a string (Google).
#[derive(serde::Deserialize)]
struct TokenBody {
    access_token: String,
    #[serde(default)]
    expires_in: serde_json::Value,
}

impl TokenBody {
    fn lifetime(&self) -> Option<Duration> {
        let secs = scalar(&self.expires_in)?.trim().parse().ok();
        secs.map(Duration::from_secs)
    }
}

/// Decodes a token endpoint's 2xx answer. When it is not a token, says what
/// it is instead — a sign-in or proxy page is the usual culprit — without
/// ever echoing a JSON body or a decoder message quoting its values: a token
/// response carries a secret.
pub fn decode_token_body<T: DeserializeOwned>(
    shown: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<T, String> {
    let message = match serde_json::from_slice::<T>(body) {
        Ok(token) => return Ok(token),
        Err(error) => error.to_string(),
    };
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
        let text = body_start(body);
        let words: Vec<&str> = text.split_whitespace().collect();
        let start: String = words.join(" ").chars().take(80).collect();
        return Err(if start.is_empty() {
            format!("{shown} answered {status} with an empty body instead of a token")
        } else {
            format!(
                "{shown} answered {status} with a body that is not JSON (starts {start:?}) instead of a token: a sign-in page or a proxy in front of the token endpoint? Check the token URL and the proxy settings"
            )
        });
    }
    let missing = message.strip_prefix("missing field ");
    let what = match missing.and_then(|field| field.split(' ').next()) {
        Some(field) => format!("it has no field {field}"),
        None => "a field has an unexpected type".to_string(),
    };
    Err(format!(
        "{shown} answered {status} with JSON that is not a token response ({what})"
    ))
}

/// Fetches a new access token and its lifetime (client credentials, JWT
/// assertion, …).
pub type TokenIssuer =
    Box<dyn Fn() -> BoxFuture<'static, Result<(Secret, Duration), SourceError>> + Send + Sync>;

/// Refresh a token this long before it expires, so a request never leaves
/// with a token that dies in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// A bearer token cached until shortly before expiry and refreshed on
/// demand or after a 401.
pub struct BearerTokenCache {
    issue: TokenIssuer,
    cached: tokio::sync::Mutex<Option<(Secret, Instant)>>,
}

impl BearerTokenCache {
    /// A cache over `issue`.
    pub fn new(issue: TokenIssuer) -> Self {
        BearerTokenCache {
            issue,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// A cache over a vendor's token endpoint.
    pub fn from_endpoint(endpoint: TokenEndpoint) -> Self {
        let endpoint = Arc::new(endpoint);
        Self::new(Box::new(move || {
            let endpoint = Arc::clone(&endpoint);
            Box::pin(async move { endpoint.issue().await })
        }))
    }

    /// A valid token, fetching a new one when none is cached, it is about to
    /// expire, or `refresh` is set.
    pub async fn token(&self, refresh: bool) -> Result<Secret, SourceError> {
        let mut cached = self.cached.lock().await;
        if !refresh
            && let Some((token, valid_until)) = cached.as_ref()
            && Instant::now() < *valid_until
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = (self.issue)().await?;
        let valid_until = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN);
        *cached = Some((token.clone(), valid_until));
        Ok(token)
    }
}

impl super::http::Authenticator for BearerTokenCache {
    fn authorize<'a>(
        &'a self,
        request: RequestBuilder,
        refresh: bool,
    ) -> BoxFuture<'a, Result<RequestBuilder, SourceError>> {
        Box::pin(async move { Ok(request.bearer_auth(self.token(refresh).await?.expose())) })
    }

    fn can_refresh(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
