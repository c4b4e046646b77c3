//! Talking to PingOne: the worker app's client-credentials token (Basic or
//! POST client authentication) and HAL paging (`_links.next.href`) over the
//! shared [`VendorHttp`], with PingOne's error bodies summarised.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::KIND;
use super::proto::{P1Error, Page};
use crate::config::{PingOneSourceConfig, TokenAuthMethod};
use crate::source::SourceError;
use crate::source::kit::http::{SourceConnection, VendorHttp, VendorHttpSettings};
use crate::source::kit::paging::{self, Next, Pager};
use crate::source::kit::token::{
    BasicEncoding, BearerTokenCache, ClientAuth, Grant, Refusal, TokenEndpoint,
};
use crate::source::kit::{connection, encode};

/// Longest wait for a 429 we accept; a longer one (a licence quota rather
/// than the per-second limit) fails the run with PingOne's explanation.
const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(120);

/// The worker app's token cache. `CLIENT_SECRET_BASIC` writes id and secret
/// as Go's `url.QueryEscape` does (PingOne's SDKs), so a secret with `~`
/// stays as it was verified.
fn tokens(
    connection: &SourceConnection,
    config: &PingOneSourceConfig,
) -> Result<BearerTokenCache, SourceError> {
    let key = |name: &str| format!("{}.{name}", connection.source_key);
    let secret = config.client_secret.clone();
    let auth = match config.token_auth_method {
        TokenAuthMethod::ClientSecretBasic => ClientAuth::Basic(secret, BasicEncoding::QueryEscape),
        TokenAuthMethod::ClientSecretPost => ClientAuth::Post(secret),
    };
    let grant = Grant::ClientCredentials {
        client_id: config.client_id.clone(),
        auth,
        scopes: Vec::new(),
    };
    let keys = [
        key("client_secret"),
        key("client_id"),
        key("token_auth_method"),
    ];
    Ok(BearerTokenCache::from_endpoint(TokenEndpoint::new(
        connection,
        config.token_url.clone(),
        grant,
        Box::new(move |refusal| advice(&keys, refusal)),
    )?))
}

/// What PingOne's refusal means, naming the keys to check. Its auth service
/// may answer in RFC 6749 form (`error`, `error_description`) or in the
/// Platform's `{id, code, message}` form (`[?]`): both are summarised.
fn advice(keys: &[String; 3], refusal: &Refusal) -> String {
    let detail = match refusal.error {
        Some(_) => refusal.summary(),
        None => P1Error::summarise(refusal.body),
    };
    let [secret, client, method] = keys;
    let hint = if refusal.status == StatusCode::NOT_FOUND {
        "the environment id or region does not match the worker app's environment"
    } else {
        "the worker app's client id, secret and Token Endpoint Authentication Method must match these keys"
    };
    format!(
        "{} answered {} ({detail}). Check `{secret}`, `{client}` and `{method}`: {hint}",
        refusal.shown, refusal.status
    )
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
        let connection = connection!(KIND, config, index);
        let tokens = Arc::new(tokens(&connection, config)?);
        let credentials_key = format!("{}.client_secret", connection.source_key);
        // PingOne sends `Retry-After` on 429 only, or the wait in the body.
        // A wait over 120 s is a licence quota rather than the per-second
        // limit: the run fails with PingOne's explanation.
        let mut settings = VendorHttpSettings {
            throttle: throttle_wait,
            ..connection.settings(credentials_key.clone())
        };
        let limits = &mut settings.connection.limits;
        limits.max_wait = limits.max_wait.min(MAX_THROTTLE_WAIT);
        let http = VendorHttp::new(settings, Box::new(Arc::clone(&tokens)))?;
        let environment = format!("environments/{}/", config.environment_id);
        let environment_url = encode::endpoint(KIND, &config.base_url, &environment)?;
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
    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, SourceError> {
        encode::with_query(KIND, &self.environment_url, path, query)
    }

    /// GETs one page; 429 is retried by [`VendorHttp`], waiting for
    /// `Retry-After` (seconds or a date), else the body's
    /// `details[].innerError.retryAfter` ([`throttle_wait`]; FACTS: either
    /// may be what PingOne sends), else backoff. 400/404 are reported with
    /// PingOne's details (e.g. `INVALID_FILTER filter`).
    async fn get_page(&self, url: &Url, what: &str) -> Result<Page, SourceError> {
        let allowed = [StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND];
        let response = self.http.get_allowing(url.as_str(), &allowed).await?;
        if response.status.is_success() {
            return response.json(KIND, what);
        }
        Err(SourceError::Fetch {
            source_kind: KIND,
            message: format!(
                "{what}: {} answered {}: {}",
                response.request,
                response.status,
                P1Error::summarise(&response.body)
            ),
        })
    }

    /// Every record of the listing at `path` with `query`, following
    /// `_links.next.href` on PingOne's origin until it is absent, from the
    /// first of `keys` under `_embedded`.
    pub async fn list_all(
        &self,
        path: &str,
        query: &[(&str, &str)],
        keys: &[&str],
        what: &str,
    ) -> Result<Vec<Value>, SourceError> {
        let pager = HalPager {
            client: self,
            first: self.url(path, query)?,
            keys,
            what,
        };
        paging::list_all(&self.http, &pager, what).await
    }

    /// Reads one user, for `check`; a failure names the key to fix.
    pub async fn check(&self) -> Result<(), SourceError> {
        let url = self.url("users", &[("limit", "1")])?;
        let mut result = self.get_page(&url, "reading one user").await;
        if let Err(SourceError::Fetch { message, .. }) = &mut result {
            let key = &self.credentials_key;
            message.push_str(&format!(" (check `{key}` and the worker app's roles)"));
        }
        result.map(|_| ())
    }
}

/// A listing paged by HAL links (`_links.next.href`).
struct HalPager<'a> {
    client: &'a PingOneClient,
    first: Url,
    keys: &'a [&'a str],
    what: &'a str,
}

impl Pager for HalPager<'_> {
    type Record = Value;

    fn url(&self, _cursor: Option<&str>) -> Result<Url, SourceError> {
        Ok(self.first.clone())
    }

    async fn page(&self, url: &Url) -> Result<paging::Page<Value>, SourceError> {
        let mut page = self.client.get_page(url, self.what).await?;
        Ok(paging::Page {
            records: page.records(self.keys),
            next: page
                .links
                .next
                .map_or(Next::Done, |link| Next::Link(link.href)),
        })
    }
}

/// How long a 429 asks us to wait when it has no `Retry-After`: the
/// earliest `innerError.retryAfter` of the REQUEST_LIMITED body.
fn throttle_wait(status: StatusCode, body: &[u8], now: SystemTime) -> Option<Option<Duration>> {
    if status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let wait = P1Error::retry_after_unix(body).and_then(|at| {
        let now = i64::try_from(now.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
        Some(Duration::from_secs(u64::try_from(at - now).unwrap_or(0)))
    });
    Some(wait)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_keys_and_the_likely_cause() {
        let keys = ["a".to_string(), "b".into(), "c".into()];
        // The kit reads `error` and `error_description` from the body.
        let refusal = |status, body: &'static [u8]| {
            let oauth: serde_json::Value = serde_json::from_slice(body).unwrap();
            let text = |key: &str| oauth.get(key)?.as_str().map(str::to_string);
            Refusal {
                shown: "POST https://auth.pingone.eu/env-1/as/token",
                status,
                error: text("error"),
                description: text("error_description"),
                body,
            }
        };
        let denied = advice(
            &keys,
            &refusal(
                StatusCode::UNAUTHORIZED,
                br#"{"error":"invalid_client","error_description":"Request denied"}"#,
            ),
        );
        assert!(
            denied.contains("(invalid_client: Request denied)"),
            "{denied}"
        );
        assert!(denied.contains("Check `a`, `b` and `c`"), "{denied}");
        assert!(
            denied.contains("Token Endpoint Authentication Method"),
            "{denied}"
        );
        let platform = br#"{"code":"UNAUTHORIZED","message":"Bad secret"}"#;
        let platform = advice(&keys, &refusal(StatusCode::UNAUTHORIZED, platform));
        assert!(
            platform.contains("(Bad secret (UNAUTHORIZED))"),
            "{platform}"
        );
        let missing = advice(&keys, &refusal(StatusCode::NOT_FOUND, b"{}"));
        assert!(missing.contains("environment id or region"), "{missing}");
    }

    #[test]
    fn throttling_waits_for_the_body_on_a_429_only() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let body = br#"{"code":"REQUEST_LIMITED","message":"m","details":[{"code":"LIMIT_EXCEEDED","innerError":{"retryAfter":"1970-01-01T00:16:45Z"}}]}"#;
        let throttled = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(
            throttle_wait(throttled, body, now),
            Some(Some(Duration::from_secs(5)))
        );
        assert_eq!(throttle_wait(throttled, b"{}", now), Some(None));
        assert_eq!(throttle_wait(StatusCode::BAD_REQUEST, body, now), None);
    }
}
