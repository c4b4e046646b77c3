//! The OneLogin HTTP client: client-credentials tokens (Basic auth and a
//! JSON body to `/auth/oauth2/v2/token`) and v1/v2 cursor paging (`CursorPager`).

use std::sync::Arc;

use reqwest::Url;
use serde_json::Value;

use super::KIND;
use super::proto::{V1Envelope, V1Pagination, live_cursor};
use crate::config::OneLoginSourceConfig;
use crate::source::SourceError;
use crate::source::kit::connection;
use crate::source::kit::encode::{endpoint, with_query};
use crate::source::kit::http::{
    RateLimitHeaders, SourceConnection, VendorHttp, VendorHttpSettings, body_start,
};
use crate::source::kit::paging::{Next, Page, Pager, list_all};
use crate::source::kit::token::{BearerTokenCache, Grant, TokenEndpoint};

/// Path of the token endpoint, relative to the account root.
const TOKEN_PATH: &str = "auth/oauth2/v2/token";
/// Records per v2 page: the spec's maximum (v1 pages have a fixed size).
const PAGE_SIZE: &str = "100";
/// Response header carrying the cursor of the next v2 page.
const AFTER_CURSOR: &str = "after-cursor";

/// The token cache of one API credential pair.
fn tokens(
    connection: &SourceConnection,
    config: &OneLoginSourceConfig,
) -> Result<BearerTokenCache, SourceError> {
    let keys = connection.source_key.clone();
    let grant = Grant::JsonClientCredentials {
        client_id: config.client_id.clone(),
        secret: config.client_secret.clone(),
    };
    Ok(BearerTokenCache::from_endpoint(TokenEndpoint::new(
        connection,
        endpoint(KIND, &config.base_url, TOKEN_PATH)?,
        grant,
        Box::new(move |refusal| {
            // `{"error":true,"code":401,"type":"Unauthorized","message":"…"}`.
            let body = serde_json::from_slice::<Value>(refusal.body).ok();
            let message = body.as_ref().and_then(|v| v.get("message")?.as_str());
            let detail = message.map_or_else(|| body_start(refusal.body), str::to_owned);
            format!(
                "{} answered {}: {detail}. Check `{keys}.client_secret` and `{keys}.client_id` (an API credential pair from Developers → API Credentials, with the \"Read users\" or \"Read All\" scope)",
                refusal.shown, refusal.status
            )
        }),
    )?))
}

/// The OneLogin API client of one connection.
pub struct OneLoginClient {
    /// Counts the API requests sent (retries included, token requests not).
    pub(super) http: VendorHttp,
    base_url: Url,
    tokens: Arc<BearerTokenCache>,
}

impl OneLoginClient {
    /// Builds the client; `index` names the connection in messages.
    pub fn new(config: &OneLoginSourceConfig, index: usize) -> Result<Self, SourceError> {
        let connection = connection!(KIND, config, index);
        let keys = &connection.source_key;
        let tokens = Arc::new(tokens(&connection, config)?);
        let settings = VendorHttpSettings {
            rate_limit_headers: RateLimitHeaders::SecondsRemaining,
            max_rate_limit_share: config.max_rate_limit_share,
            ..connection.settings(format!("{keys}.client_secret` and `{keys}.client_id"))
        };
        Ok(OneLoginClient {
            http: VendorHttp::new(settings, tokens.clone())?,
            base_url: config.base_url.clone(),
            tokens,
        })
    }

    /// Gets a token, then reads one user (for `check()`): a refused
    /// credential pair is reported as such before any API call.
    pub async fn check(&self) -> Result<(), SourceError> {
        self.tokens.token(false).await?;
        let url = with_query(KIND, &self.base_url, "api/2/users", &[("limit", "1")])?;
        let response = self.http.get(url.as_str()).await?;
        response.json::<Vec<Value>>(KIND, "reading one user")?;
        Ok(())
    }

    /// Every record of a listing with the `filter` parameters, paged as v1
    /// when the path is `api/1/…`, else as v2 (see [`CursorPager`]).
    pub async fn list(
        &self,
        path: &str,
        filter: &[(&str, &str)],
        what: &str,
    ) -> Result<Vec<Value>, SourceError> {
        let pager = CursorPager {
            client: self,
            path,
            filter,
            what,
            v1: path.starts_with("api/1/"),
        };
        list_all(&self.http, &pager, what).await
    }
}

/// A listing paged by cursors: v2 (`limit=100`, a bare JSON array per page,
/// the `After-Cursor` header sent back as `cursor=`) or v1 (`{"status",
/// "pagination", "data"}`, `pagination.after_cursor` as `after_cursor=`).
struct CursorPager<'a> {
    client: &'a OneLoginClient,
    path: &'a str,
    filter: &'a [(&'a str, &'a str)],
    what: &'a str,
    v1: bool,
}

impl Pager for CursorPager<'_> {
    type Record = Value;

    fn url(&self, cursor: Option<&str>) -> Result<Url, SourceError> {
        let (mut pairs, next) = match self.v1 {
            false => (vec![("limit", PAGE_SIZE)], "cursor"),
            true => (Vec::new(), "after_cursor"),
        };
        pairs.extend(self.filter.iter().chain(&cursor.map(|c| (next, c))));
        with_query(KIND, &self.client.base_url, self.path, &pairs)
    }

    async fn page(&self, url: &Url) -> Result<Page<Value>, SourceError> {
        let response = self.client.http.get(url.as_str()).await?;
        let (records, next) = if self.v1 {
            let page: V1Envelope = response.json(KIND, self.what)?;
            if let Some(status) = page.status.filter(|s| s.error) {
                let message = status.message.unwrap_or_else(|| "(no message)".into());
                return Err(SourceError::Fetch {
                    source_kind: KIND,
                    message: format!("{}: OneLogin reported an error: {message}", self.what),
                });
            }
            let next = page.pagination.as_ref().and_then(V1Pagination::next);
            (page.data, next.map(str::to_owned))
        } else {
            let cursor = response.headers.get(AFTER_CURSOR);
            let next = live_cursor(cursor.and_then(|v| v.to_str().ok()));
            (response.json(KIND, self.what)?, next.map(str::to_owned))
        };
        Ok(Page {
            records,
            next: next.map_or(Next::Done, Next::Cursor),
        })
    }
}
