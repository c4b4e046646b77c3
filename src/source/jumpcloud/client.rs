//! Talking to JumpCloud: authentication (`x-api-key` or a service-account
//! bearer token, both with an optional `x-org-id`) and `skip`/`limit`
//! paging over the shared [`VendorHttp`].

use std::collections::HashSet;

use std::sync::Arc;

use reqwest::Url;
use serde_json::Value;

use super::KIND;
use super::proto::V1Page;
use crate::config::{JumpCloudAuth, JumpCloudSourceConfig, Secret};
use crate::source::SourceError;
use crate::source::kit::connection;
use crate::source::kit::encode;
use crate::source::kit::http::{Authenticator, SourceConnection, StaticHeader, VendorHttp};
use crate::source::kit::token::{
    BasicEncoding, BearerTokenCache, ClientAuth, Grant, TokenEndpoint,
};

/// Header carrying an administrator's API key.
const API_KEY_HEADER: &str = "x-api-key";
/// Header naming the organization, required for multi-tenant administrators.
const ORG_ID_HEADER: &str = "x-org-id";
/// Total-count header some v2 list operations model in the spec. Whether
/// the list endpoints we use send it is not confirmed, so it is only
/// cross-checked when present.
const TOTAL_COUNT_HEADER: &str = "x-total-count";
/// Scope of a service-account token: the whole API the account's role allows.
const TOKEN_SCOPE: &str = "api";

/// Whether an offset listing goes on after a page (`read` counts every
/// record so far, this page included), or the error of one that ended short
/// of its total. With a total (`totalCount`, or `x-total-count` if sent) it
/// goes on until that many were read, even across pages shorter than
/// `limit`, so a server capping `limit` still yields everything; without
/// one, a page shorter than `limit` (at most the documented 100) is the last.
pub fn more_pages(
    read: u64,
    page_len: u64,
    limit: u64,
    total: Option<u64>,
    what: &str,
) -> Result<bool, SourceError> {
    match total {
        Some(total) if read >= total => Ok(false),
        Some(total) if page_len == 0 => Err(fetch_error(format!(
            "{what}: the listing ended after {read} of the {total} records the API counts (totalCount or x-total-count); the directory may have changed while it was read, and the next run reads it again"
        ))),
        Some(_) => Ok(true),
        None => Ok(page_len >= limit),
    }
}

/// The service account's token cache: `client_credentials` with HTTP Basic
/// client authentication and the `api` scope.
fn service_account_tokens(
    connection: &SourceConnection,
    (client_id, client_secret, token_url): (&str, &Secret, &Url),
) -> Result<BearerTokenCache, SourceError> {
    let keys = connection.source_key.clone();
    let grant = Grant::ClientCredentials {
        client_id: client_id.to_string(),
        auth: ClientAuth::Basic(client_secret.clone(), BasicEncoding::Raw),
        scopes: vec![TOKEN_SCOPE.to_string()],
    };
    let hint = format!(" (check `{keys}.token_url`)");
    let endpoint = TokenEndpoint::new(
        connection,
        token_url.clone(),
        grant,
        Box::new(move |refusal| {
            format!(
                "{} answered {}: {}. Check `{keys}.client_id` and `{keys}.client_secret` (the service account's credentials, shown once when it was created) and `{keys}.token_url`",
                refusal.shown,
                refusal.status,
                refusal.summary()
            )
        }),
    )?
    .with_exhausted_hint(hint);
    Ok(BearerTokenCache::from_endpoint(endpoint))
}

/// The JumpCloud API client of one connection.
pub struct JumpCloudClient {
    /// Counts the API requests sent (retries included, token requests not).
    pub(super) http: VendorHttp,
    base_url: Url,
    page_size: u32,
}

impl JumpCloudClient {
    /// Builds the client; `index` names the connection in messages.
    pub fn new(config: &JumpCloudSourceConfig, index: usize) -> Result<Self, SourceError> {
        let connection = connection!(KIND, config, index);
        let keys = &connection.source_key;
        let (auth, credentials): (Arc<dyn Authenticator>, String) = match &config.auth {
            JumpCloudAuth::ApiKey(api_key) => {
                let header = StaticHeader::new(API_KEY_HEADER, "", api_key.clone());
                let what = format!(
                    "{keys}.api_key` (or `api_key_file`), and for a multi-tenant administrator `{keys}.org_id"
                );
                (Arc::new(header), what)
            }
            JumpCloudAuth::ServiceAccount {
                client_id,
                client_secret,
                token_url,
            } => {
                let account = (client_id.as_str(), client_secret, token_url);
                let cache = service_account_tokens(&connection, account)?;
                let what = format!("{keys}.client_id` and `{keys}.client_secret");
                (Arc::new(cache), what)
            }
        };
        // No rate-limit headers are documented: 429 (+ Retry-After when
        // present) and backoff only, the default settings. A multi-tenant
        // administrator names the organisation on every API request.
        let mut settings = connection.settings(credentials);
        settings
            .headers
            .extend(config.org_id.iter().map(|org| (ORG_ID_HEADER, org.clone())));
        Ok(JumpCloudClient {
            http: VendorHttp::new(settings, auth)?,
            base_url: config.base_url.clone(),
            page_size: config.page_size,
        })
    }

    /// Reads one page of system users (for `check`).
    pub async fn first_user_page(&self) -> Result<(), SourceError> {
        let url = endpoint(&self.base_url, "api/systemusers", 1, 0)?;
        let response = self.http.get(url.as_str()).await?;
        response.json::<V1Page>(KIND, "reading one user")?;
        Ok(())
    }

    /// Every record of a listing, paged `skip`/`limit` until [`more_pages`]
    /// says done: v1 pages are `{totalCount, results}`, v2 (`api/v2/…`) a
    /// bare array. Records are de-duplicated by the id at the JSON pointer
    /// `id`; when a total was announced, the distinct count must match it.
    /// Offset paging over a directory that changes while it is read can skip
    /// a record (a deletion shifts the rest forward), and a skipped user
    /// would look removed, so a mismatch fails the fetch rather than
    /// deactivate anyone.
    pub async fn list(&self, path: &str, id: &str, what: &str) -> Result<Vec<Value>, SourceError> {
        let mut records = Vec::new();
        let mut seen = HashSet::new();
        let mut read = 0u64;
        let mut guard = self.http.page_guard(what);
        let total = loop {
            guard.admit(&read.to_string())?;
            let url = endpoint(&self.base_url, path, self.page_size, read)?;
            let response = self.http.get(url.as_str()).await?;
            let (page, total): (Vec<Value>, _) = if path.starts_with("api/v2/") {
                let header = response.headers.get(TOTAL_COUNT_HEADER);
                let total = header.and_then(|v| v.to_str().ok()?.trim().parse().ok());
                (response.json(KIND, what)?, total)
            } else {
                let page: V1Page = response.json(KIND, what)?;
                (page.results, page.total_count)
            };
            let page_len = page.len() as u64;
            read = read
                .checked_add(page_len)
                .ok_or_else(|| fetch_error(format!("{what}: the record count overflows")))?;
            let before = records.len();
            records.extend(page.into_iter().filter(|record| {
                let key = record.pointer(id).and_then(Value::as_str);
                key.is_none_or(|key| seen.insert(key.to_owned()))
            }));
            if page_len > 0 && records.len() == before {
                return Err(fetch_error(format!(
                    "{what}: the page at skip={} repeats records already read; the listing cannot be completed",
                    read - page_len
                )));
            }
            if !more_pages(read, page_len, self.page_size.into(), total, what)? {
                break total;
            }
        };
        if let Some(total) = total
            && records.len() as u64 != total
        {
            return Err(fetch_error(format!(
                "{what}: read {} distinct records but the API counts {total}; the directory changed while it was read, and the next run reads it again",
                records.len()
            )));
        }
        Ok(records)
    }
}

fn fetch_error(message: String) -> SourceError {
    SourceError::Fetch {
        source_kind: KIND,
        message,
    }
}

/// `base` joined with an API path and the paging parameters.
pub fn endpoint(base: &Url, path: &str, limit: u32, skip: u64) -> Result<Url, SourceError> {
    let (limit, skip) = (limit.to_string(), skip.to_string());
    encode::with_query(KIND, base, path, &[("limit", &limit), ("skip", &skip)])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::super::{EDGE_ID, GROUP_ID, USER_ID};
    use super::*;

    #[test]
    fn paging_follows_the_total_when_there_is_one_and_short_pages_otherwise() {
        let cases = [
            // (read, page_len, limit, total) → more pages (None: incomplete)
            (100, 100, 100, Some(250), Some(true)),
            (200, 100, 100, Some(250), Some(true)),
            (250, 50, 100, Some(250), Some(false)),
            (10, 10, 100, Some(25), Some(true)), // capped below limit: go on
            (0, 0, 100, Some(0), Some(false)),
            (20, 0, 100, Some(25), None),
            (100, 100, 100, None, Some(true)),
            (130, 30, 100, None, Some(false)),
            (100, 0, 100, None, Some(false)),
            (30, 30, 100, Some(20), Some(false)), // grew shorter meanwhile: cross-checked later
        ];
        for (read, page_len, limit, total, expected) in cases {
            let more = more_pages(read, page_len, limit, total, "listing users").ok();
            let case = format!("read={read} page={page_len} limit={limit} total={total:?}");
            assert_eq!(more, expected, "{case}");
        }
        let short = more_pages(20, 0, 100, Some(25), "listing users").unwrap_err();
        let ended = "listing users: the listing ended after 20 of the 25 records";
        assert!(short.to_string().contains(ended), "{short}");
    }

    #[test]
    fn ids_are_read_from_records_and_edges() {
        assert_eq!(json!({"_id": "u1"}).pointer(USER_ID), Some(&json!("u1")));
        assert_eq!(json!({"id": "g1"}).pointer(GROUP_ID), Some(&json!("g1")));
        let edge = json!({"to": {"id": "u1", "type": "user"}});
        assert_eq!(edge.pointer(EDGE_ID), Some(&json!("u1")));
        assert_eq!(json!({"to": null}).pointer(EDGE_ID), None);
    }

    #[test]
    fn urls_join_under_the_console_root_for_every_region() {
        for base in [
            "https://console.jumpcloud.com",
            "https://console.eu.jumpcloud.com/",
            "https://console.in.jumpcloud.com",
            "http://127.0.0.1:8080/jc",
        ] {
            let url = endpoint(&Url::parse(base).unwrap(), "api/systemusers", 100, 0).unwrap();
            let root = base.trim_end_matches('/');
            let expected = format!("{root}/api/systemusers?limit=100&skip=0");
            assert_eq!(url.as_str(), expected);
        }
        let base = Url::parse("https://console.jumpcloud.com").unwrap();
        let url = endpoint(&base, "api/v2/usergroups/6a1b/members", 2, 4).unwrap();
        assert_eq!(
            url.as_str(),
            "https://console.jumpcloud.com/api/v2/usergroups/6a1b/members?limit=2&skip=4"
        );
    }
}
