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
use crate::source::kit::http::{VendorHttp, VendorHttpSettings};
use crate::source::kit::paging::{self, Next, Pager};
use crate::source::kit::token::BasicEncoding::QueryEscape;
use crate::source::kit::token::{
    Advice, BearerTokenCache, ClientAuth, Grant, Refusal, TokenEndpoint,
};
use crate::source::kit::{connection, encode};

/// What PingOne's refusal means, naming the keys under `key` to check. Its
/// auth service may answer in RFC 6749 form (`error`, `error_description`)
/// or in the Platform's `{id, code, message}` form (`[?]`): both are summarised.
fn advice(key: &str, refusal: &Refusal) -> String {
    let detail = match refusal.error {
        Some(_) => refusal.summary(),
        None => P1Error::summarise(refusal.body),
    };
    let hint = if refusal.status == StatusCode::NOT_FOUND {
        "the environment id or region does not match the worker app's environment"
    } else {
        "the worker app's client id, secret and Token Endpoint Authentication Method must match these keys"
    };
    format!(
        "{} answered {} ({detail}). Check `{key}.client_secret`, `{key}.client_id` and `{key}.token_auth_method`: {hint}",
        refusal.shown, refusal.status
    )
}

/// A paced, retrying client for one PingOne environment.
pub struct PingOneClient {
    http: VendorHttp,
    /// `…/v1/environments/{environmentId}/`, where every path starts.
    environment_url: Url,
    /// The key to name when PingOne refuses the worker app's token.
    credentials_key: String,
}

impl PingOneClient {
    /// Builds the clients; `index` names the connection in messages.
    pub fn new(config: &PingOneSourceConfig, index: usize) -> Result<Self, SourceError> {
        let connection = connection!(KIND, config, index);
        // The worker app's token. `CLIENT_SECRET_BASIC` writes id and secret
        // as Go's `url.QueryEscape` does (PingOne's SDKs), so a secret with
        // `~` stays as it was verified.
        let secret = config.client_secret.clone();
        let auth = match config.token_auth_method {
            TokenAuthMethod::ClientSecretBasic => ClientAuth::Basic(secret, QueryEscape),
            TokenAuthMethod::ClientSecretPost => ClientAuth::Post(secret),
        };
        let grant = Grant::ClientCredentials {
            client_id: config.client_id.clone(),
            auth,
            scopes: Vec::new(),
        };
        let key = connection.source_key.clone();
        let refused: Advice = Box::new(move |refusal| advice(&key, refusal));
        let endpoint = TokenEndpoint::new(&connection, config.token_url.clone(), grant, refused)?;
        let tokens = BearerTokenCache::from_endpoint(endpoint);
        let credentials_key = format!("{}.client_secret", connection.source_key);
        // PingOne sends `Retry-After` on 429 only, or the wait in the body.
        // A wait over 120 s is a licence quota rather than the per-second
        // limit: the run fails with PingOne's explanation.
        let mut settings = VendorHttpSettings {
            throttle: throttle_wait,
            ..connection.settings(credentials_key.clone())
        };
        let limits = &mut settings.connection.limits;
        limits.max_wait = limits.max_wait.min(Duration::from_secs(120));
        let http = VendorHttp::new(settings, Arc::new(tokens))?;
        let environment = format!("environments/{}/", config.environment_id);
        let environment_url = encode::endpoint(KIND, &config.base_url, &environment)?;
        Ok(PingOneClient {
            http,
            environment_url,
            credentials_key,
        })
    }

    /// Requests sent to the API (token requests not included).
    pub fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
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
        let (request, status) = (&response.request, response.status);
        let detail = P1Error::summarise(&response.body);
        let message = format!("{what}: {request} answered {status}: {detail}");
        Err(SourceError::Fetch {
            source_kind: KIND,
            message,
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
            first: encode::with_query(KIND, &self.environment_url, path, query)?,
            keys,
            what,
        };
        paging::list_all(&self.http, &pager, what).await
    }

    /// Reads one user, for `check`; a failure names the key to fix.
    pub async fn check(&self) -> Result<(), SourceError> {
        let url = encode::with_query(KIND, &self.environment_url, "users", &[("limit", "1")])?;
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
        let records = page.records(self.keys);
        let next = page.links.next.map_or(Next::Done, |l| Next::Link(l.href));
        Ok(paging::Page { records, next })
    }
}

/// How long a 429 asks us to wait when it has no `Retry-After`: the
/// earliest `innerError.retryAfter` of the REQUEST_LIMITED body.
fn throttle_wait(status: StatusCode, body: &[u8], now: SystemTime) -> Option<Option<Duration>> {
    (status == StatusCode::TOO_MANY_REQUESTS).then(|| {
        let at = P1Error::retry_after_unix(body)?;
        let now = i64::try_from(now.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
        Some(Duration::from_secs(u64::try_from(at - now).unwrap_or(0)))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_keys_and_the_likely_cause() {
        let oauth = br#"{"error":"invalid_client","error_description":"Request denied"}"#;
        let platform = br#"{"code":"UNAUTHORIZED","message":"Bad secret"}"#;
        let denied = StatusCode::UNAUTHORIZED;
        let cases: [(StatusCode, &[u8], &[&str]); 3] = [
            (
                denied,
                oauth,
                &[
                    "(invalid_client: Request denied)",
                    "Check `k.client_secret`, `k.client_id` and `k.token_auth_method`",
                    "Token Endpoint Authentication Method",
                ],
            ),
            (denied, platform, &["(Bad secret (UNAUTHORIZED))"]),
            (StatusCode::NOT_FOUND, b"{}", &["environment id or region"]),
        ];
        for (status, body, wanted) in cases {
            // The kit reads `error` and `error_description` from the body.
            let json: serde_json::Value = serde_json::from_slice(body).unwrap();
            let text = |key: &str| json.get(key)?.as_str().map(str::to_string);
            let refusal = Refusal {
                shown: "POST https://auth.pingone.eu/env-1/as/token",
                status,
                error: text("error"),
                description: text("error_description"),
                body,
            };
            let advice = advice("k", &refusal);
            for part in wanted {
                assert!(advice.contains(part), "{advice}");
            }
        }
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
