//! The HTTP client every vendor adapter reads through: pacing, retries,
//! vendor rate-limit headers, authentication with token refresh, and errors
//! that name the request and the config key to fix.
//!
//! Vendors differ only in the parts an adapter passes in: how a request is
//! authorised ([`Authenticator`]) and which rate-limit headers they send
//! ([`RateLimitHeaders`]).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::config::{ListingLimits, Secret};
use crate::http::redact_url;
use crate::ratelimit::{
    Backoff, BodyError, RequestPacer, ThrottleBudget, check_wait, parse_retry_after,
    read_body_capped,
};
use crate::source::{BoxFuture, SourceError};

/// How a vendor reports its rate limit on every response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateLimitHeaders {
    /// No rate-limit headers (`Retry-After` on 429 only).
    None,
    /// Okta: `X-Rate-Limit-Limit/Remaining/Reset`, reset = UTC epoch seconds.
    OktaEpoch,
    /// OneLogin: `X-RateLimit-Limit/Remaining/Reset`, reset = seconds remaining.
    SecondsRemaining,
}

/// A vendor's own "slow down" beyond a 429 with `Retry-After` and the
/// rate-limit headers: `Some` when the refused answer `(status, body, now)`
/// asks to retry, with the wait it names (`None`: the backoff decides).
/// PingOne names the wait in its REQUEST_LIMITED body; Google answers 403
/// with a rate-limit reason. By default statuses and headers say it all.
pub type ThrottleHook = fn(StatusCode, &[u8], SystemTime) -> Option<Option<Duration>>;

/// Authorises requests; an adapter implements it for its vendor's scheme.
pub trait Authenticator: Send + Sync {
    /// Adds credentials to a request. `refresh` asks for a new token (after
    /// a 401 on a cached one).
    fn authorize<'a>(
        &'a self,
        request: reqwest::RequestBuilder,
        refresh: bool,
    ) -> BoxFuture<'a, Result<reqwest::RequestBuilder, SourceError>>;

    /// True if a 401 may be cured by fetching a new token (OAuth); false for
    /// static keys, where a 401 means the key itself is wrong.
    fn can_refresh(&self) -> bool;
}

/// A fixed header carrying a key (`Authorization: SSWS …`, `x-api-key: …`).
pub struct StaticHeader {
    name: &'static str,
    prefix: &'static str,
    value: Secret,
}

impl StaticHeader {
    /// `name: prefix value`, e.g. ("Authorization", "SSWS ", token).
    pub fn new(name: &'static str, prefix: &'static str, value: Secret) -> Self {
        StaticHeader {
            name,
            prefix,
            value,
        }
    }
}

impl Authenticator for StaticHeader {
    fn authorize<'a>(
        &'a self,
        request: reqwest::RequestBuilder,
        _refresh: bool,
    ) -> BoxFuture<'a, Result<reqwest::RequestBuilder, SourceError>> {
        let request = request.header(self.name, format!("{}{}", self.prefix, self.value.expose()));
        Box::pin(std::future::ready(Ok(request)))
    }

    fn can_refresh(&self) -> bool {
        false
    }
}

/// The connection settings every HTTP source config carries under the same
/// names (`timeout`, `ca_file`, `proxy`, `limits`, `requests_per_second`),
/// gathered once by [`connection!`](super::connection) so an adapter builds
/// its API and token clients without repeating them.
#[derive(Clone)]
pub struct SourceConnection {
    /// Adapter name, as in `source.type`.
    pub kind: &'static str,
    /// `connections[i].source`, to name keys in messages.
    pub source_key: String,
    /// Total timeout of one request.
    pub timeout: Duration,
    /// Extra trusted CAs (`source.ca_file`).
    pub ca: Option<crate::config::CaBundle>,
    /// The source's own proxy (`source.proxy`), else the environment's.
    pub proxy: Option<Secret>,
    /// Caps on server-directed waits, pages and body sizes.
    pub limits: ListingLimits,
    /// Request ceiling we impose on ourselves.
    pub requests_per_second: NonZeroU32,
}

impl SourceConnection {
    /// A client for another endpoint of the source (its token endpoint),
    /// with the same proxy, CA file and timeout.
    pub fn client(&self) -> Result<reqwest::Client, SourceError> {
        let proxy = self.proxy.as_ref().map(Secret::expose);
        crate::http::build_endpoint_client(self.timeout, self.ca.as_ref(), proxy).map_err(|e| {
            SourceError::Setup {
                source_kind: self.kind,
                message: e.to_string(),
            }
        })
    }

    /// Settings of the API client: the default backoff and no rate-limit
    /// headers, which a vendor overrides with struct update syntax.
    pub fn settings(&self, credentials_key: String) -> VendorHttpSettings {
        VendorHttpSettings {
            connection: self.clone(),
            credentials_key,
            backoff: Backoff::default(),
            rate_limit_headers: RateLimitHeaders::None,
            throttle: |_, _, _| None,
            max_rate_limit_share: 1.0,
            headers: Vec::new(),
        }
    }
}

/// Settings of a [`VendorHttp`]: the source's connection and what the
/// vendor adds to it.
pub struct VendorHttpSettings {
    /// The source's timeout, CA file, proxy, caps, pace and config path.
    pub connection: SourceConnection,
    /// The config key(s) to fix when credentials are refused, e.g.
    /// `connections[0].source.token`.
    pub credentials_key: String,
    /// Retry policy.
    pub backoff: Backoff,
    /// Which rate-limit headers the vendor sends.
    pub rate_limit_headers: RateLimitHeaders,
    /// How the vendor says "slow down" in a body.
    pub throttle: ThrottleHook,
    /// Share of the vendor's limit we may use before pausing until the reset
    /// (the limit is often shared with the customer's other integrations).
    pub max_rate_limit_share: f64,
    /// Non-secret headers sent with every API request (JumpCloud's
    /// `x-org-id`), whatever the authentication.
    pub headers: Vec<(&'static str, String)>,
}

/// A response body with its status and headers.
#[derive(Debug)]
pub struct VendorResponse {
    /// HTTP status (2xx, or one the caller allowed).
    pub status: StatusCode,
    /// Response headers (paging cursors, links).
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
    /// The request that got this answer (`GET https://…`, query redacted),
    /// for error messages.
    pub request: String,
}

impl VendorResponse {
    /// Parses the body as JSON, naming the request on failure.
    pub fn json<T: DeserializeOwned>(
        &self,
        kind: &'static str,
        what: &str,
    ) -> Result<T, SourceError> {
        serde_json::from_slice(&self.body).map_err(|e| SourceError::Fetch {
            source_kind: kind,
            message: format!(
                "{what}: {} answered {}: unexpected response body: {e} (starts {:?})",
                self.request,
                self.status,
                String::from_utf8_lossy(&self.body[..self.body.len().min(120)])
            ),
        })
    }
}

/// A paced, retrying HTTP client for one vendor API.
#[derive(Clone)]
pub struct VendorHttp {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    settings: VendorHttpSettings,
    auth: Arc<dyn Authenticator>,
    pacer: RequestPacer,
    /// Requests sent, for reports and tests.
    requests: AtomicU64,
}

impl VendorHttp {
    /// Builds the client. `auth` is shared, so an adapter can keep a
    /// handle on it (to authenticate in `check`) while the client holds one.
    pub fn new(
        settings: VendorHttpSettings,
        auth: Arc<dyn Authenticator>,
    ) -> Result<Self, SourceError> {
        let http = settings.connection.client()?;
        let pace = settings.connection.requests_per_second;
        let pacer = RequestPacer::new(pace, pace);
        Ok(VendorHttp {
            inner: Arc::new(Inner {
                http,
                settings,
                auth,
                pacer,
                requests: AtomicU64::new(0),
            }),
        })
    }

    /// Requests sent so far (retries included).
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// The source's connection (its kind, caps and config path).
    pub fn connection(&self) -> &SourceConnection {
        &self.inner.settings.connection
    }

    /// GET with pacing, retries and authentication. Retries 429, 408 and
    /// 5xx (honouring `Retry-After` and the vendor's reset header),
    /// refreshes an OAuth token once on 401, and fails with a message naming
    /// the config key on 401/403.
    pub async fn get(&self, url: &str) -> Result<VendorResponse, SourceError> {
        self.get_allowing(url, &[]).await
    }

    /// GET like [`Self::get`], but answers with a status in `allowed` are
    /// returned as they are instead of failing, for statuses an adapter
    /// handles itself (Graph's `410 Gone` on an expired delta link).
    pub async fn get_allowing(
        &self,
        url: &str,
        allowed: &[StatusCode],
    ) -> Result<VendorResponse, SourceError> {
        let inner = &self.inner;
        let connection = &inner.settings.connection;
        let kind = connection.kind;
        let fetch = |message: String| SourceError::Fetch {
            source_kind: kind,
            message,
        };
        let parsed =
            Url::parse(url).map_err(|e| fetch(format!("invalid URL from the API: {e}")))?;
        let shown = format!("GET {}", redact_url(&parsed));
        let backoff = inner.settings.backoff;
        let mut refreshed = false;
        let mut last = String::new();
        // Failures count against `max_attempts`; throttling (a 429: busy,
        // not broken) against the throttle budget instead.
        let mut attempt = 0;
        let mut throttle = ThrottleBudget::default();
        let mut sent: u32 = 0;
        while attempt < backoff.max_attempts.max(1) {
            sent = sent.saturating_add(1);
            inner.pacer.wait().await;
            inner.requests.fetch_add(1, Ordering::Relaxed);
            let request = inner
                .http
                .get(parsed.clone())
                .header(reqwest::header::ACCEPT, "application/json");
            let headers = inner.settings.headers.iter();
            let request = headers.fold(request, |r, (name, value)| r.header(*name, value));
            let request = inner
                .auth
                .authorize(request, refreshed && attempt == 0)
                .await?;
            // A network error, also while reading the body, is retried.
            let answer = match request.send().await {
                Err(error) => Err(error),
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let wait = self
                        .observe_rate_limit(&headers, status)
                        .map_err(|reason| fetch(format!("{shown} answered {status}: {reason}")))?;
                    let key = format!("`{}.max_body`", connection.source_key);
                    match read_body_capped(response, connection.limits.max_body, &key).await {
                        Ok(body) => Ok((status, headers, wait, body)),
                        Err(BodyError::Transport(error)) => Err(error),
                        Err(too_large) => {
                            return Err(fetch(format!("{shown} answered {status}: {too_large}")));
                        }
                    }
                }
            };
            let (status, headers, wait, body) = match answer {
                Ok(answer) => answer,
                Err(error) => {
                    last = crate::http::describe_error(&error);
                    tokio::time::sleep(backoff.delay(attempt)).await;
                    attempt += 1;
                    continue;
                }
            };
            let vendor = (inner.settings.throttle)(status, &body, SystemTime::now());
            if vendor.is_none() && (status.is_success() || allowed.contains(&status)) {
                return Ok(VendorResponse {
                    status,
                    headers,
                    body,
                    request: shown,
                });
            }
            let detail = error_detail(&body);
            let vendor_wait = vendor
                .flatten()
                .map(|wait| self.capped("retryAfter", &format!("{} s", wait.as_secs()), wait))
                .transpose()
                .map_err(|reason| {
                    fetch(format!("{shown} answered {status}: {reason} ({detail})"))
                })?;
            match status.as_u16() {
                _ if vendor.is_some() => {}
                401 if inner.auth.can_refresh() && !refreshed => {
                    // The cached token may have expired early or been
                    // revoked: get a new one and try once more.
                    refreshed = true;
                    attempt = 0;
                    continue;
                }
                401 | 403 => {
                    return Err(SourceError::Unauthorized {
                        source_kind: kind,
                        message: format!(
                            "{shown} answered {status}: {detail}. Check `{}` and the permissions the README lists for this provider",
                            inner.settings.credentials_key
                        ),
                    });
                }
                408 | 429 | 500..=599 => {}
                _ => return Err(fetch(format!("{shown} answered {status}: {detail}"))),
            }
            // Retried: a vendor's "slow down" and a 429 count against the
            // throttle budget (busy, not broken), failures against
            // `max_attempts`.
            let throttled = vendor.is_some() || status == StatusCode::TOO_MANY_REQUESTS;
            last = format!("{status}: {detail}");
            let delay = match wait.or(vendor_wait) {
                Some(wait) => wait,
                None if throttled => backoff.delay(throttle.answers()),
                None => backoff.delay(attempt),
            };
            if (throttled || wait.is_some())
                && let Err(reason) = throttle.admit(delay)
            {
                let message = format!("{shown} gave up after {sent} requests: {last}; {reason}");
                return Err(fetch(message));
            }
            inner.pacer.pause_for(delay);
            tracing::debug!(source = kind, request = %shown, %status, delay_ms = delay.as_millis() as u64, "Retrying source request.");
            if !throttled {
                attempt += 1;
            }
        }
        Err(fetch(format!(
            "{shown} failed after {sent} requests: {last}"
        )))
    }

    /// A wait the server named (`name: value`, a header or a vendor's
    /// body), within `max_wait`.
    fn capped(&self, name: &str, value: &str, wait: Duration) -> Result<Duration, String> {
        let connection = &self.inner.settings.connection;
        let key = format!("`{}.max_wait`", connection.source_key);
        check_wait(name, value, wait, connection.limits.max_wait, &key)
    }

    /// Reads `Retry-After` and the vendor's rate-limit headers. Returns how
    /// long to wait before retrying (for a 429/503); when we are about to
    /// use more than our share of the vendor's limit, pauses all requests
    /// until the window resets, before the vendor has to refuse us. A wait
    /// longer than `max_wait` (on any status) is an error, never a pause.
    fn observe_rate_limit(
        &self,
        headers: &HeaderMap,
        status: StatusCode,
    ) -> Result<Option<Duration>, String> {
        let settings = &self.inner.settings;
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let number = |name: &str| text(name).and_then(|v| v.trim().parse::<u64>().ok());
        let capped = |name: &str, wait| self.capped(name, text(name).unwrap_or_default(), wait);
        let retry_after =
            text(RETRY_AFTER.as_str()).and_then(|v| parse_retry_after(v, SystemTime::now()));
        // (limit, remaining, (reset header, seconds until the reset)).
        let (limit, remaining, reset) = match settings.rate_limit_headers {
            RateLimitHeaders::None => (None, None, None),
            RateLimitHeaders::OktaEpoch => {
                let now = u64::try_from(crate::timestamp::unix_now()).unwrap_or(0);
                let reset = "x-rate-limit-reset";
                (
                    number("x-rate-limit-limit"),
                    number("x-rate-limit-remaining"),
                    number(reset).map(|epoch| (reset, epoch.saturating_sub(now).saturating_add(1))),
                )
            }
            RateLimitHeaders::SecondsRemaining => (
                number("x-ratelimit-limit"),
                number("x-ratelimit-remaining"),
                number("x-ratelimit-reset").map(|secs| ("x-ratelimit-reset", secs)),
            ),
        };
        let reset = reset.map(|(name, secs)| (name, Duration::from_secs(secs)));
        if let (Some(limit), Some(remaining)) = (limit, remaining) {
            let reserve = (limit as f64 * (1.0 - settings.max_rate_limit_share)).ceil() as u64;
            if remaining <= reserve
                && let Some((name, reset)) = reset
            {
                let reset = capped(name, reset)?;
                tracing::info!(
                    source = settings.connection.kind,
                    limit,
                    remaining,
                    wait_secs = reset.as_secs(),
                    "Pausing source requests until the rate-limit window resets."
                );
                self.inner.pacer.pause_for(reset);
            }
        }
        if !matches!(status.as_u16(), 429 | 503 | 504) {
            return Ok(None);
        }
        // `Retry-After` first, else the vendor's reset.
        let wait = retry_after
            .map(|wait| (RETRY_AFTER.as_str(), wait))
            .or(reset);
        wait.map(|(name, wait)| capped(name, wait)).transpose()
    }
}

/// A short description of a vendor error body: the known message fields of
/// each vendor, else the start of the body.
fn error_detail(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let candidates = [
            value.get("errorSummary"),                         // Okta
            value.get("error").and_then(|e| e.get("message")), // Graph
            value.get("error_description"),                    // OAuth
            value.get("message"),                              // OneLogin, JumpCloud, PingOne
            value.get("detail"),                               // SCIM
        ];
        let code = value
            .get("errorCode")
            .or_else(|| value.get("error").and_then(|e| e.get("code")))
            .or_else(|| value.get("code"))
            .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_string));
        if let Some(message) = candidates.into_iter().flatten().find_map(|m| m.as_str()) {
            return code.map_or(message.to_string(), |code| format!("{message} ({code})"));
        }
    }
    body_text(body)
}

/// The start of a body, trimmed, for messages.
pub fn body_start(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)])
        .trim()
        .to_string()
}

/// The start of an error body, trimmed, or "(no body)": what a message
/// shows of a body no vendor summary reads.
pub fn body_text(body: &[u8]) -> String {
    let text = Some(body_start(body)).filter(|text| !text.is_empty());
    text.unwrap_or_else(|| "(no body)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_error_bodies_are_summarised() {
        let okta = br#"{"errorCode":"E0000011","errorSummary":"Invalid token provided","errorLink":"E0000011","errorId":"x","errorCauses":[]}"#;
        assert_eq!(error_detail(okta), "Invalid token provided (E0000011)");
        let graph = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}"#;
        assert_eq!(
            error_detail(graph),
            "Insufficient privileges to complete the operation. (Authorization_RequestDenied)"
        );
        assert_eq!(error_detail(b"<html>oops</html>"), "<html>oops</html>");
        assert_eq!(error_detail(b""), "(no body)");
    }
}
