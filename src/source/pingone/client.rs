//! Talking to PingOne: the worker app's client-credentials token (Basic or
//! POST client authentication) and HAL paging (`_links.next.href`) over the
//! shared [`VendorHttp`], with PingOne's error bodies summarised.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::KIND;
use super::proto::{P1Error, Page, TokenError, TokenResponse};
use crate::config::{PingOneSourceConfig, Secret, TokenAuthMethod};
use crate::http::redact_url;
use crate::ratelimit::{Backoff, parse_retry_after};
use crate::source::vendor_http::decode_token_body;
use crate::source::vendor_http::{
    Authenticator, BearerTokenCache, IssuedToken, RateLimitHeaders, TokenAnswer, TokenBounds,
    VendorHttp, VendorHttpSettings,
};
use crate::source::{BoxFuture, SourceError};

/// Lifetime assumed when a token response has no `expires_in` (PingOne
/// documents one hour for worker-app tokens).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Attempts at the token endpoint (network errors, 429, 5xx).
const TOKEN_ATTEMPTS: u32 = 3;
/// Attempts at one page while PingOne answers 429.
const THROTTLED_ATTEMPTS: u32 = 6;
/// Longest wait for a 429 we accept; a longer one (a licence quota rather
/// than the per-second limit) fails the run with PingOne's explanation.
const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(120);

/// Requests tokens for the worker application. Holds the secret, so it has
/// no `Debug`.
struct TokenRequester {
    http: reqwest::Client,
    token_url: Url,
    client_id: String,
    client_secret: Secret,
    method: TokenAuthMethod,
    /// Config keys named when PingOne refuses: (secret, client id, method).
    keys: [String; 3],
    /// Caps on the token endpoint's `Retry-After` and body.
    bounds: TokenBounds,
}

impl TokenRequester {
    /// The request for one token. `CLIENT_SECRET_BASIC` form-encodes id and
    /// secret before Base64 as RFC 6749 §2.3.1 asks; for PingOne's ids
    /// (UUIDs) and generated secrets (letters, digits, `-._~`) this is the
    /// plain `id:secret`, so it works whether or not the server decodes
    /// them (`[?]` which it does).
    fn request(&self) -> reqwest::RequestBuilder {
        let mut body = String::from("grant_type=client_credentials");
        let request = self
            .http
            .post(self.token_url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        let request = match self.method {
            TokenAuthMethod::ClientSecretBasic => {
                let pair = format!(
                    "{}:{}",
                    form_encode(&self.client_id),
                    form_encode(self.client_secret.expose())
                );
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                request.header(reqwest::header::AUTHORIZATION, format!("Basic {encoded}"))
            }
            TokenAuthMethod::ClientSecretPost => {
                body.push_str(&format!(
                    "&client_id={}&client_secret={}",
                    form_encode(&self.client_id),
                    form_encode(self.client_secret.expose())
                ));
                request
            }
        };
        request.body(body)
    }

    /// Requests a new token. Refusals become [`SourceError::Unauthorized`]
    /// naming the keys to fix; 429/5xx and network errors are retried.
    async fn issue(&self) -> Result<IssuedToken, SourceError> {
        let shown = format!("POST {}", redact_url(&self.token_url));
        let backoff = Backoff::default();
        let mut last = String::new();
        for attempt in 0..TOKEN_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff.delay(attempt - 1)).await;
            }
            let response = match self.request().send().await {
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
            } = self.bounds.read(KIND, &shown, response).await?;
            if status.is_success() {
                let token: TokenResponse =
                    decode_token_body(&shown, status, &body).map_err(|message| {
                        SourceError::Fetch {
                            source_kind: KIND,
                            message,
                        }
                    })?;
                return Ok(IssuedToken {
                    token: Secret::new(token.access_token),
                    expires_in: token
                        .expires_in
                        .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs),
                });
            }
            let detail = serde_json::from_slice::<TokenError>(&body)
                .map(|e| e.summary())
                .unwrap_or_else(|_| P1Error::summarise(&body));
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                last = format!("{status}: {detail}");
                if let Some(wait) = retry_after {
                    tokio::time::sleep(wait).await;
                }
                continue;
            }
            let [secret, client, method] = &self.keys;
            let hint = if status == StatusCode::NOT_FOUND {
                "the environment id or region does not match the worker app's environment"
            } else {
                "the worker app's client id, secret and Token Endpoint Authentication Method must match these keys"
            };
            return Err(SourceError::Unauthorized {
                source_kind: KIND,
                message: format!(
                    "{shown} answered {status} ({detail}). Check `{secret}`, `{client}` and `{method}`: {hint}"
                ),
            });
        }
        Err(SourceError::Fetch {
            source_kind: KIND,
            message: format!("{shown} failed after {TOKEN_ATTEMPTS} attempts: {last}"),
        })
    }
}

/// Lets the shared token cache sit behind `Box<dyn Authenticator>` while
/// the client keeps a handle for counting tokens.
struct SharedTokens(Arc<BearerTokenCache>);

impl Authenticator for SharedTokens {
    fn authorize<'a>(
        &'a self,
        request: reqwest::RequestBuilder,
        refresh: bool,
    ) -> BoxFuture<'a, Result<reqwest::RequestBuilder, SourceError>> {
        self.0.authorize(request, refresh)
    }

    fn can_refresh(&self) -> bool {
        true
    }
}

/// Form encoding of one value as `golang.org/x/oauth2` does it (Go's
/// `url.QueryEscape`, which PingOne's Go SDK and Terraform provider send):
/// RFC 3986 unreserved characters stay, a space becomes `+`, everything
/// else `%XX`.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A paced, retrying client for one PingOne environment.
pub struct PingOneClient {
    http: VendorHttp,
    tokens: Arc<BearerTokenCache>,
    /// `…/v1/environments/{environmentId}/`, where every path starts.
    environment_url: Url,
    /// The key to name when PingOne refuses the worker app's token.
    credentials_key: String,
}

impl PingOneClient {
    /// Builds the clients; `index` names the connection in messages.
    pub fn new(config: &PingOneSourceConfig, index: usize) -> Result<Self, SourceError> {
        let setup = |message: String| SourceError::Setup {
            source_kind: KIND,
            message,
        };
        let key = |name: &str| format!("connections[{index}].source.{name}");
        let requester = Arc::new(TokenRequester {
            http: crate::http::build_endpoint_client(
                config.timeout,
                config.ca_file.as_ref(),
                config.proxy.as_ref().map(crate::config::Secret::expose),
            )
            .map_err(|e| setup(e.to_string()))?,
            token_url: config.token_url.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            method: config.token_auth_method,
            keys: [
                key("client_secret"),
                key("client_id"),
                key("token_auth_method"),
            ],
            bounds: TokenBounds {
                limits: config.limits,
                source_key: format!("connections[{index}].source"),
            },
        });
        let tokens = Arc::new(BearerTokenCache::new(Box::new(move || {
            let requester = Arc::clone(&requester);
            Box::pin(async move { requester.issue().await })
        })));
        let credentials_key = key("client_secret");
        let http = VendorHttp::new(
            VendorHttpSettings {
                ca: config.ca_file.clone(),
                limits: config.limits,
                proxy: config.proxy.clone(),
                source_key: format!("connections[{index}].source"),
                kind: KIND,
                credentials_key: credentials_key.clone(),
                requests_per_second: config.requests_per_second,
                timeout: config.timeout,
                backoff: Backoff::default(),
                // PingOne sends `Retry-After` on 429 only.
                rate_limit_headers: RateLimitHeaders::None,
                max_rate_limit_share: 1.0,
            },
            Box::new(SharedTokens(Arc::clone(&tokens))),
        )?;
        let base = config.base_url.as_str().trim_end_matches('/');
        let environment_url =
            Url::parse(&format!("{base}/environments/{}/", config.environment_id))
                .map_err(|e| setup(format!("cannot build the environment URL: {e}")))?;
        Ok(PingOneClient {
            http,
            tokens,
            environment_url,
            credentials_key,
        })
    }

    /// Requests sent to the API (token requests not included).
    pub fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    /// Access tokens fetched so far.
    pub fn tokens_issued(&self) -> u64 {
        self.tokens.tokens_issued()
    }

    /// An environment URL (`users`, `groups/{id}/memberOfGroups`) with query
    /// parameters, URL-encoded here.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, SourceError> {
        let mut url = self
            .environment_url
            .join(path)
            .map_err(|e| SourceError::Setup {
                source_kind: KIND,
                message: format!("cannot build the URL for {path}: {e}"),
            })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter());
        }
        Ok(url)
    }

    /// GETs one page. 429 is retried here rather than in [`VendorHttp`] so
    /// the REQUEST_LIMITED body can be read: the wait is `Retry-After`
    /// (seconds or a date), else the body's `details[].innerError.retryAfter`
    /// (FACTS: either may be what PingOne sends), else backoff. 400/404 are
    /// reported with PingOne's details (e.g. `INVALID_FILTER filter`).
    async fn get_page(&self, url: &Url, what: &str) -> Result<Page, SourceError> {
        let shown = format!("GET {}", redact_url(url));
        let backoff = Backoff::default();
        let allowed = [
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::BAD_REQUEST,
            StatusCode::NOT_FOUND,
        ];
        let mut attempt = 0;
        loop {
            let response = self.http.get_allowing(url.as_str(), &allowed).await?;
            match response.status {
                StatusCode::TOO_MANY_REQUESTS => {
                    let detail = P1Error::summarise(&response.body);
                    attempt += 1;
                    if attempt >= THROTTLED_ATTEMPTS {
                        return Err(SourceError::Fetch {
                            source_kind: KIND,
                            message: format!(
                                "{what}: {shown} was still throttled after {THROTTLED_ATTEMPTS} attempts: {detail}"
                            ),
                        });
                    }
                    let wait = throttle_wait(&response.headers, &response.body, SystemTime::now())
                        .unwrap_or_else(|| backoff.delay(attempt - 1));
                    let cap = self.http.limits().max_wait.min(MAX_THROTTLE_WAIT);
                    if wait > cap {
                        return Err(SourceError::Fetch {
                            source_kind: KIND,
                            message: format!(
                                "{what}: {shown} answered 429 and asks to wait {} s, more than the {} s `{}.max_wait` allows ({detail}). The licence quota may be exhausted; the next scheduled run tries again",
                                wait.as_secs(),
                                cap.as_secs(),
                                self.http.source_key()
                            ),
                        });
                    }
                    tracing::debug!(source = KIND, request = %shown, wait_ms = wait.as_millis() as u64, "PingOne throttled the request; waiting.");
                    tokio::time::sleep(wait).await;
                }
                StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => {
                    return Err(SourceError::Fetch {
                        source_kind: KIND,
                        message: format!(
                            "{what}: {shown} answered {}: {}",
                            response.status,
                            P1Error::summarise(&response.body)
                        ),
                    });
                }
                _ => return response.json(KIND, what),
            }
        }
    }

    /// The first page only, for `check`.
    pub async fn first_page(&self, url: &Url, what: &str) -> Result<(), SourceError> {
        self.get_page(url, what).await.map(|_| ())
    }

    /// Every record of a listing, following `_links.next.href` until it is
    /// absent, from the first of `keys` under `_embedded`. A next link to
    /// another origin is refused (the token must not leave PingOne's API
    /// host), and so is a link that repeats a page.
    pub async fn list_all(
        &self,
        first: Url,
        keys: &[&str],
        what: &str,
    ) -> Result<Vec<Value>, SourceError> {
        let mut records = Vec::new();
        let mut next = Some(first);
        let mut guard = self.http.page_guard(what);
        while let Some(url) = next.take() {
            guard.admit(url.as_str())?;
            let mut page = self.get_page(&url, what).await?;
            records.extend(page.records(keys));
            if let Some(link) = page.links.next {
                let parsed = Url::parse(&link.href).map_err(|e| SourceError::Fetch {
                    source_kind: KIND,
                    message: format!("{what}: invalid next link: {e}"),
                })?;
                if parsed.origin() != self.environment_url.origin() {
                    return Err(SourceError::Fetch {
                        source_kind: KIND,
                        message: format!(
                            "{what}: the next link points to another host ({}); refusing to send the token there",
                            redact_url(&parsed)
                        ),
                    });
                }
                next = Some(parsed);
            }
        }
        Ok(records)
    }

    /// The key to fix when PingOne refuses the token.
    pub fn credentials_key(&self) -> &str {
        &self.credentials_key
    }
}

/// How long a 429 asks us to wait: `Retry-After` first, then the earliest
/// `innerError.retryAfter` of the REQUEST_LIMITED body.
fn throttle_wait(
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Option<Duration> {
    if let Some(wait) = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now))
    {
        return Some(wait);
    }
    let at = P1Error::retry_after_unix(body)?;
    let now = i64::try_from(now.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
    Some(Duration::from_secs(u64::try_from(at - now).unwrap_or(0)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    use super::*;

    fn requester(method: TokenAuthMethod) -> TokenRequester {
        TokenRequester {
            http: reqwest::Client::new(),
            token_url: Url::parse("https://auth.pingone.eu/env-1/as/token").unwrap(),
            client_id: "client-1".into(),
            client_secret: Secret::new("s3cret~x".into()),
            method,
            keys: ["a".into(), "b".into(), "c".into()],
            bounds: TokenBounds {
                limits: crate::config::ListingLimits::default(),
                source_key: "connections[0].source".into(),
            },
        }
    }

    #[test]
    fn client_authentication_follows_the_method() {
        let basic = requester(TokenAuthMethod::ClientSecretBasic)
            .request()
            .build()
            .unwrap();
        let expected = base64::engine::general_purpose::STANDARD.encode("client-1:s3cret~x");
        assert_eq!(
            basic.headers()["authorization"],
            format!("Basic {expected}").as_str()
        );
        let body = std::str::from_utf8(basic.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(body, "grant_type=client_credentials");

        let post = requester(TokenAuthMethod::ClientSecretPost)
            .request()
            .build()
            .unwrap();
        assert!(post.headers().get("authorization").is_none());
        let body = std::str::from_utf8(post.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(
            body,
            "grant_type=client_credentials&client_id=client-1&client_secret=s3cret~x"
        );
    }

    #[test]
    fn throttling_waits_for_the_header_then_the_body() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(
            throttle_wait(&headers, b"", now),
            Some(Duration::from_secs(3))
        );
        let body = br#"{"code":"REQUEST_LIMITED","message":"m","details":[{"code":"LIMIT_EXCEEDED","innerError":{"retryAfter":"1970-01-01T00:16:45Z"}}]}"#;
        assert_eq!(
            throttle_wait(&HeaderMap::new(), body, now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(throttle_wait(&HeaderMap::new(), b"{}", now), None);
    }
}
