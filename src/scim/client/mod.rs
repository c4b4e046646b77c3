//! The SCIM 2.0 HTTP client: typed requests for the operations penvio-sync
//! performs, behind one rate limiter and one retry policy. The Penvio
//! target (`crate::target::scim`) provisions through it and the SCIM source
//! lists through it, so the completeness rules of a listing are one.
//!
//! Layers, outermost first: pacing (rate limit and `Retry-After` pause) →
//! retry with capped, jittered backoff → per-request timeout.

mod error;
pub mod listing;
pub mod retry;
mod send;

pub use error::ScimError;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Secret;
use crate::model::UserAttributes;
use crate::ratelimit::{Backoff, RequestPacer};
use crate::scim::{
    Created, Identified, ListResponse, PatchOperation, ScimGroup, ScimUser, escape_filter_value,
    group_resource, patch_body, user_resource,
};
use listing::{ListingRules, Step, Tally};
use send::preview;

/// Page size used when listing (reconcile, SCIM source).
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// How a client reaches one SCIM endpoint.
#[derive(Clone, Debug)]
pub struct ScimClientSettings {
    /// Base URL, e.g. `https://penvio.io/api/scim/v2/ORG_ID`.
    pub base_url: Url,
    /// Bearer token.
    pub token: Secret,
    /// The config key holding the token, named in the 401 message so the
    /// admin knows exactly what to fix.
    pub token_key: String,
    /// Who is on the other side, for messages ("Penvio", "the SCIM source").
    pub service: String,
    /// Average request rate.
    pub requests_per_second: std::num::NonZeroU32,
    /// Burst size.
    pub burst: std::num::NonZeroU32,
    /// Total timeout of one request.
    pub timeout: Duration,
    /// Retry policy.
    pub backoff: Backoff,
    /// Extra trusted CAs for this endpoint.
    pub ca: Option<crate::config::CaBundle>,
    /// The endpoint's explicit proxy URL (`None`: the environment's).
    pub proxy: Option<Secret>,
}

/// Request counts of one client, for reports, tests and metrics.
#[derive(Debug, Default)]
pub struct RequestCounters {
    reads: AtomicU64,
    writes: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
}

use crate::report::RequestCounts;

impl RequestCounters {
    /// Current counts.
    pub fn snapshot(&self) -> RequestCounts {
        RequestCounts {
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
        }
    }
}

struct Inner {
    http: reqwest::Client,
    settings: ScimClientSettings,
    base: String,
    pacer: RequestPacer,
    counters: RequestCounters,
    rules: ListingRules,
}

/// A cheaply clonable SCIM client for one endpoint.
#[derive(Clone)]
pub struct ScimClient {
    inner: Arc<Inner>,
}

/// A successful response: status and body (empty for 204).
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

/// Whether a request may simply be sent again when its outcome is unknown
/// (a timeout, a reset connection, a 5xx, a 2xx with a garbled body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// Sending it twice does no harm: reads, PATCHes (replace, add and
    /// filtered remove are idempotent), DELETEs (a second one finds 404),
    /// and user creates (a second one meets the unique `userName`: 409,
    /// which the executor resolves by linking).
    Safe,
    /// Sending it twice may leave a duplicate (Penvio accepts two teams
    /// with one name): the caller must look before trying again.
    Unsafe,
}

impl ScimClient {
    /// Builds the client with the built-in listing rules (the Penvio
    /// target); nothing is sent until the first request.
    pub fn new(settings: ScimClientSettings) -> Result<Self, reqwest::Error> {
        Self::with_rules(settings, ListingRules::default())
    }

    /// Builds the client with a source's own caps and listing rules.
    pub fn with_rules(
        settings: ScimClientSettings,
        rules: ListingRules,
    ) -> Result<Self, reqwest::Error> {
        let http = crate::http::build_endpoint_client(
            settings.timeout,
            settings.ca.as_ref(),
            settings.proxy.as_ref().map(Secret::expose),
        )?;
        let base = settings.base_url.as_str().trim_end_matches('/').to_string();
        let pacer = RequestPacer::new(settings.requests_per_second, settings.burst);
        Ok(ScimClient {
            inner: Arc::new(Inner {
                http,
                base,
                pacer,
                settings,
                counters: RequestCounters::default(),
                rules,
            }),
        })
    }

    /// Request counts so far.
    pub fn counts(&self) -> RequestCounts {
        self.inner.counters.snapshot()
    }

    /// Creates a user; `Err(Conflict)` means the userName is taken.
    pub async fn create_user(&self, attributes: &UserAttributes) -> Result<String, ScimError> {
        let answer = self
            .send(Method::POST, "/Users", Some(user_resource(attributes)))
            .await?;
        self.created_id(Method::POST, "/Users", &answer)
    }

    /// Finds a user by userName (case-insensitive on the server).
    pub async fn find_user_by_user_name(
        &self,
        user_name: &str,
    ) -> Result<Option<ScimUser>, ScimError> {
        let filter = format!("userName eq \"{}\"", escape_filter_value(user_name));
        let page: ListResponse<ScimUser> = self
            .get_json("/Users", &[("filter", filter.as_str())])
            .await?;
        Ok(page.resources.into_iter().next())
    }

    /// Finds groups by externalId (used after an unacknowledged create).
    pub async fn find_groups_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Vec<ScimGroup>, ScimError> {
        let filter = format!("externalId eq \"{}\"", escape_filter_value(external_id));
        let page: ListResponse<ScimGroup> = self
            .get_json("/Groups", &[("filter", filter.as_str())])
            .await?;
        Ok(page.resources)
    }

    /// Sends PATCH operations to a user; 200 and 204 are both success.
    pub async fn patch_user(
        &self,
        id: &str,
        operations: &[PatchOperation],
    ) -> Result<(), ScimError> {
        let path = format!("/Users/{}", path_segment(id));
        self.send(Method::PATCH, &path, Some(patch_body(operations)))
            .await
            .map(drop)
    }

    /// Deletes a user; `Ok(false)` if it was already gone.
    pub async fn delete_user(&self, id: &str) -> Result<bool, ScimError> {
        self.delete(&format!("/Users/{}", path_segment(id))).await
    }

    /// Creates a group with its first members, at most once: when a create
    /// gets no clear answer (timeout, reset, 5xx, garbled 2xx) the group is
    /// looked up by `externalId` before the create is sent again, since
    /// Penvio accepts two teams with the same name.
    pub async fn create_group(
        &self,
        name: &str,
        external_id: &str,
        member_ids: &[String],
    ) -> Result<String, ScimError> {
        let body = group_resource(name, external_id, member_ids);
        let backoff = self.inner.settings.backoff;
        let attempts = backoff.max_attempts.max(1);
        let mut last = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
            }
            match self
                .send_with(Method::POST, "/Groups", Some(body.clone()), Replay::Unsafe)
                .await
            {
                Ok(answer) => return self.created_id(Method::POST, "/Groups", &answer),
                Err(ScimError::OutcomeUnknown { last: why, .. }) => {
                    if let Some(found) = self
                        .find_groups_by_external_id(external_id)
                        .await?
                        .into_iter()
                        .next()
                    {
                        tracing::debug!(
                            external_id,
                            "A team create without a clear answer had reached the server."
                        );
                        return Ok(found.id);
                    }
                    last = why;
                    tokio::time::sleep(backoff.delay(attempt)).await;
                }
                Err(error) => return Err(error),
            }
        }
        Err(ScimError::RetriesExhausted {
            method: Method::POST,
            path: "/Groups".into(),
            attempts,
            last,
        })
    }

    /// Sends PATCH operations to a group; 200 and 204 are both success.
    pub async fn patch_group(
        &self,
        id: &str,
        operations: &[PatchOperation],
    ) -> Result<(), ScimError> {
        let path = format!("/Groups/{}", path_segment(id));
        self.send(Method::PATCH, &path, Some(patch_body(operations)))
            .await
            .map(drop)
    }

    /// Deletes a group; `Ok(false)` if it was already gone.
    pub async fn delete_group(&self, id: &str) -> Result<bool, ScimError> {
        self.delete(&format!("/Groups/{}", path_segment(id))).await
    }

    /// Every user the server holds, page by page.
    pub async fn list_users(&self, page_size: u32) -> Result<Vec<ScimUser>, ScimError> {
        self.list_all("/Users", page_size, &[]).await
    }

    /// Every group the server holds, with members.
    pub async fn list_groups(&self, page_size: u32) -> Result<Vec<ScimGroup>, ScimError> {
        self.list_all("/Groups", page_size, &[]).await
    }

    /// `GET /ServiceProviderConfig` with the token, proving both reachability
    /// and that the token is accepted (a list call, since discovery is open).
    pub async fn check_access(&self) -> Result<(), ScimError> {
        let _: ListResponse<Value> = self
            .get_json("/Users", &[("count", "1"), ("startIndex", "1")])
            .await?;
        Ok(())
    }

    /// Pages through a list with `startIndex`/`count` until the distinct
    /// resources read equal `totalResults`; anything that leaves the
    /// listing unproven (an early empty page, no total, too many pages) is
    /// [`ScimError::IncompleteListing`], never a short list.
    pub async fn list_all<T: DeserializeOwned + Identified>(
        &self,
        path: &str,
        page_size: u32,
        extra: &[(&str, &str)],
    ) -> Result<Vec<T>, ScimError> {
        let rules = &self.inner.rules;
        let incomplete = |message: String| ScimError::IncompleteListing {
            path: path.to_string(),
            message,
        };
        let mut items = Vec::new();
        let mut tally = Tally::default();
        let mut start: u64 = 1;
        let mut pages: u64 = 0;
        let count = page_size.max(1).to_string();
        loop {
            if pages >= rules.limits.max_pages {
                return Err(incomplete(format!(
                    "more than {} pages, the most {} allows",
                    rules.limits.max_pages,
                    rules.key("max_pages")
                )));
            }
            pages += 1;
            let start_text = start.to_string();
            let mut query: Vec<(&str, &str)> = vec![
                ("startIndex", start_text.as_str()),
                ("count", count.as_str()),
            ];
            query.extend_from_slice(extra);
            let page: ListResponse<T> = self.get_json(path, &query).await?;
            let received = u64::try_from(page.resources.len()).unwrap_or(u64::MAX);
            for item in page.resources {
                if tally.insert(item.resource_id()) {
                    items.push(item);
                }
            }
            match tally.after_page(received, page.total_results, rules) {
                Ok(Step::Done) => return Ok(items),
                Ok(Step::Next) => {}
                Err(message) => {
                    return Err(incomplete(format!("at startIndex={start}: {message}")));
                }
            }
            start = start
                .checked_add(received)
                .ok_or_else(|| incomplete("startIndex overflows".into()))?;
        }
    }

    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ScimError> {
        let mut target = path.to_string();
        if !query.is_empty() {
            let encoded: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
                .collect();
            target = format!("{path}?{}", encoded.join("&"));
        }
        let answer = self.send(Method::GET, &target, None).await?;
        serde_json::from_slice(&answer.body).map_err(|e| ScimError::InvalidResponse {
            method: Method::GET,
            path: path.to_string(),
            message: format!("{e} (body starts {:?})", preview(&answer.body)),
        })
    }

    async fn delete(&self, path: &str) -> Result<bool, ScimError> {
        match self.send(Method::DELETE, path, None).await {
            Ok(_) => Ok(true),
            Err(ScimError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn created_id(&self, method: Method, path: &str, answer: &Answer) -> Result<String, ScimError> {
        let created: Created =
            serde_json::from_slice(&answer.body).map_err(|e| ScimError::InvalidResponse {
                method: method.clone(),
                path: path.to_string(),
                message: format!("{} without a resource id: {e}", answer.status),
            })?;
        if created.id.is_empty() {
            return Err(ScimError::InvalidResponse {
                method,
                path: path.to_string(),
                message: "empty resource id".into(),
            });
        }
        Ok(created.id)
    }

    /// Sends one request with pacing and retries. `target` is the path
    /// relative to the base, with an optional query.
    async fn send(
        &self,
        method: Method,
        target: &str,
        body: Option<Value>,
    ) -> Result<Answer, ScimError> {
        self.send_with(method, target, body, Replay::Safe).await
    }
}

/// Percent-encodes an id for use as one path segment.
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Percent-encodes a query value (filters contain spaces and quotes).
pub fn encode_query_value(value: &str) -> String {
    path_segment(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn transport_errors_name_the_path_but_not_the_query() {
        // Nothing listens on a port just released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        let Ok(base_url) = Url::parse(&format!("http://127.0.0.1:{port}/scim/v2/org")) else {
            return;
        };
        let one = std::num::NonZeroU32::MIN;
        let Ok(client) = ScimClient::new(ScimClientSettings {
            base_url,
            token: Secret::new("t".into()),
            token_key: "target.token".into(),
            service: "Penvio".into(),
            requests_per_second: one,
            burst: one,
            timeout: Duration::from_secs(2),
            backoff: Backoff {
                base: Duration::from_millis(1),
                cap: Duration::from_millis(2),
                max_attempts: 2,
            },
            ca: None,
            proxy: None,
        }) else {
            return;
        };
        let error = client
            .find_user_by_user_name("ada@example.com")
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.starts_with("GET /Users: gave up after 2 attempts"),
            "{error}"
        );
        assert!(
            !error.contains("ada") && !error.contains("filter"),
            "{error}"
        );
    }

    #[test]
    fn ids_and_filters_are_percent_encoded() {
        assert_eq!(path_segment("abc-123"), "abc-123");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(
            encode_query_value("userName eq \"a+b@x\""),
            "userName%20eq%20%22a%2Bb%40x%22"
        );
    }
}
