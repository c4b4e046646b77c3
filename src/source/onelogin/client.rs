//! The OneLogin HTTP client: client-credentials tokens (Basic auth to
//! `/auth/oauth2/v2/token`), v2 cursor paging (`After-Cursor` header) and
//! v1 envelope paging (`pagination.after_cursor`).

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::KIND;
use super::proto::{TokenResponse, V1Envelope};
use crate::config::{OneLoginSourceConfig, Secret};
use crate::http::redact_url;
use crate::ratelimit::Backoff;
use crate::source::vendor_http::decode_token_body;
use crate::source::vendor_http::{
    Authenticator, BearerTokenCache, IssuedToken, RateLimitHeaders, TokenAnswer, TokenBounds,
    VendorHttp, VendorHttpSettings,
};
use crate::source::{BoxFuture, SourceError};

/// Path of the token endpoint, relative to the account root.
const TOKEN_PATH: &str = "auth/oauth2/v2/token";
/// Response header carrying the cursor of the next v2 page.
const AFTER_CURSOR: &str = "after-cursor";
/// Attempts at the token endpoint when it answers 429/5xx or is unreachable.
const TOKEN_ATTEMPTS: u32 = 3;
/// Token lifetime assumed when the response omits `expires_in` (the vendor
/// sample says 10 h; assume far less so a missing field costs little).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Requests tokens for one API credential pair. Holds the secret, so it has
/// no `Debug`.
struct TokenRequester {
    http: reqwest::Client,
    token_url: Url,
    client_id: String,
    client_secret: Secret,
    /// Config key prefix to name when OneLogin refuses, `connections[i].source`.
    keys: String,
    /// Caps on the token endpoint's `Retry-After` and body.
    bounds: TokenBounds,
}

impl TokenRequester {
    async fn issue(&self) -> Result<IssuedToken, SourceError> {
        let shown = format!("POST {}", redact_url(&self.token_url));
        let backoff = Backoff::default();
        let mut last = String::new();
        for attempt in 0..TOKEN_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff.delay(attempt - 1)).await;
            }
            let response = match self
                .http
                .post(self.token_url.clone())
                .basic_auth(&self.client_id, Some(self.client_secret.expose()))
                .header(reqwest::header::ACCEPT, "application/json")
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(r#"{"grant_type":"client_credentials"}"#)
                .send()
                .await
            {
                Ok(response) => response,
                Err(error) => {
                    last = error.to_string();
                    continue;
                }
            };
            let TokenAnswer { status, body, .. } = self.bounds.read(KIND, &shown, response).await?;
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
            // `{"error":true,"code":401,"type":"Unauthorized","message":"…"}`.
            let detail = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| {
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                        .trim()
                        .to_string()
                });
            if status.as_u16() == 429 || status.is_server_error() {
                last = format!("{status}: {detail}");
                continue;
            }
            return Err(SourceError::Unauthorized {
                source_kind: KIND,
                message: format!(
                    "{shown} answered {status}: {detail}. Check `{keys}.client_secret` and `{keys}.client_id` (an API credential pair from Developers → API Credentials, with the \"Read users\" or \"Read All\" scope)",
                    keys = self.keys
                ),
            });
        }
        Err(SourceError::Fetch {
            source_kind: KIND,
            message: format!("{shown} failed after {TOKEN_ATTEMPTS} attempts: {last}"),
        })
    }
}

/// Shares one token cache between the HTTP client and `check()`.
struct SharedCache(Arc<BearerTokenCache>);

impl Authenticator for SharedCache {
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

/// `base` joined with a path relative to the account root.
pub fn endpoint(base: &Url, path: &str) -> Result<Url, SourceError> {
    let mut root = base.clone();
    if !root.path().ends_with('/') {
        let with_slash = format!("{}/", root.path());
        root.set_path(&with_slash);
    }
    root.join(path).map_err(|e| SourceError::Setup {
        source_kind: KIND,
        message: format!("cannot build the URL for {path}: {e}"),
    })
}

/// The OneLogin API client of one connection.
pub struct OneLoginClient {
    http: VendorHttp,
    base_url: Url,
    tokens: Arc<BearerTokenCache>,
}

impl OneLoginClient {
    /// Builds the client; `index` names the connection in messages.
    pub fn new(config: &OneLoginSourceConfig, index: usize) -> Result<Self, SourceError> {
        let keys = format!("connections[{index}].source");
        let http = crate::http::build_endpoint_client(
            config.timeout,
            config.ca_file.as_ref(),
            config.proxy.as_ref().map(crate::config::Secret::expose),
        )
        .map_err(|e| SourceError::Setup {
            source_kind: KIND,
            message: e.to_string(),
        })?;
        let requester = Arc::new(TokenRequester {
            http,
            token_url: endpoint(&config.base_url, TOKEN_PATH)?,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            keys: keys.clone(),
            bounds: TokenBounds {
                limits: config.limits,
                source_key: keys.clone(),
            },
        });
        let tokens = Arc::new(BearerTokenCache::new(Box::new(move || {
            let requester = Arc::clone(&requester);
            Box::pin(async move { requester.issue().await })
        })));
        let http = VendorHttp::new(
            VendorHttpSettings {
                ca: config.ca_file.clone(),
                limits: config.limits,
                proxy: config.proxy.clone(),
                source_key: format!("connections[{index}].source"),
                kind: KIND,
                credentials_key: format!("{keys}.client_secret` and `{keys}.client_id"),
                requests_per_second: config.requests_per_second,
                timeout: config.timeout,
                backoff: Backoff::default(),
                rate_limit_headers: RateLimitHeaders::SecondsRemaining,
                max_rate_limit_share: config.max_rate_limit_share,
            },
            Box::new(SharedCache(Arc::clone(&tokens))),
        )?;
        Ok(OneLoginClient {
            http,
            base_url: config.base_url.clone(),
            tokens,
        })
    }

    /// API requests sent so far (token requests not included).
    pub fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    /// Gets a token now (for `check()`), so a refused credential pair is
    /// reported as such before any API call.
    pub async fn authenticate(&self) -> Result<(), SourceError> {
        self.tokens.token(false).await.map(|_| ())
    }

    /// An API URL with query parameters (values form-encoded here).
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, SourceError> {
        let mut url = endpoint(&self.base_url, path)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// One page of a v2 listing, without following the cursor (`check()`).
    pub async fn list_one_page(&self, url: &Url, what: &str) -> Result<Vec<Value>, SourceError> {
        self.http.get(url.as_str()).await?.json(KIND, what)
    }

    /// Every record of a v2 listing (a bare JSON array per page). The next
    /// page is the same query plus `cursor=<After-Cursor>`.
    pub async fn list_v2(
        &self,
        path: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<Vec<Value>, SourceError> {
        let mut records = Vec::new();
        let mut cursor: Option<String> = None;
        let mut guard = self.http.page_guard(what);
        loop {
            guard.admit(cursor.as_deref().unwrap_or_default())?;
            let mut pairs = query.to_vec();
            if let Some(cursor) = &cursor {
                pairs.push(("cursor", cursor.as_str()));
            }
            let url = self.url(path, &pairs)?;
            let response = self.http.get(url.as_str()).await?;
            let page: Vec<Value> = response.json(KIND, what)?;
            records.extend(page);
            // The spec documents `After-Cursor` but not how the last page
            // ends it [?]: the official Go SDK stops on an empty value, and
            // an absent header can only mean the same. Stop on either.
            let next = response
                .headers
                .get(AFTER_CURSOR)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|c| !c.is_empty() && *c != "null")
                .map(str::to_owned);
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(records),
            }
        }
    }

    /// Every record of a v1 listing (`{"status", "pagination", "data"}`),
    /// following `pagination.after_cursor` as the `after_cursor` parameter.
    pub async fn list_v1(&self, path: &str, what: &str) -> Result<Vec<Value>, SourceError> {
        let mut records = Vec::new();
        let mut cursor: Option<String> = None;
        let mut guard = self.http.page_guard(what);
        loop {
            guard.admit(cursor.as_deref().unwrap_or_default())?;
            let pairs: Vec<(&str, &str)> = cursor
                .as_deref()
                .map(|c| vec![("after_cursor", c)])
                .unwrap_or_default();
            let url = self.url(path, &pairs)?;
            let response = self.http.get(url.as_str()).await?;
            let page: V1Envelope = response.json(KIND, what)?;
            if let Some(status) = page.status.as_ref().filter(|s| s.error) {
                return Err(SourceError::Fetch {
                    source_kind: KIND,
                    message: format!(
                        "{what}: OneLogin reported an error: {}",
                        status.message.as_deref().unwrap_or("(no message)")
                    ),
                });
            }
            records.extend(page.data);
            let next = page
                .pagination
                .as_ref()
                .and_then(|p| p.next())
                .map(str::to_owned);
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(records),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_join_under_the_account_root() {
        let base = Url::parse("http://127.0.0.1:8080/onelogin").unwrap();
        assert_eq!(
            endpoint(&base, "api/2/users").unwrap().as_str(),
            "http://127.0.0.1:8080/onelogin/api/2/users"
        );
        let root = Url::parse("https://acme.onelogin.com").unwrap();
        assert_eq!(
            endpoint(&root, TOKEN_PATH).unwrap().as_str(),
            "https://acme.onelogin.com/auth/oauth2/v2/token"
        );
    }
}
