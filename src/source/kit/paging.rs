//! Paging shared by the adapters: each vendor pages differently (Link
//! headers, nextLink, HAL links, cursors, page tokens), but following the
//! pages lives here once: [`list_all`] over a vendor's [`Pager`] refuses a
//! repeated page, a listing beyond `max_pages` and a next link to another
//! origin, and reads every page through [`VendorHttp`] (pacing, retries,
//! bounded waits and body caps).

use std::collections::HashSet;
use std::future::Future;

use reqwest::Url;
use reqwest::header::{HeaderMap, LINK};

use super::http::VendorHttp;
use crate::http::redact_url;
use crate::source::SourceError;

impl VendorHttp {
    /// A [`PageGuard`] for one listing under this client's `max_pages`.
    pub fn page_guard(&self, what: &str) -> PageGuard {
        let connection = self.connection();
        let max_pages = connection.limits.max_pages;
        PageGuard::new(connection.kind, what, max_pages, &connection.source_key)
    }
}

/// What follows a page.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// The listing is complete.
    Done,
    /// An absolute link to the next page, followed only on the listing's
    /// own origin: the credentials must never leave the vendor's API.
    Link(String),
    /// An opaque cursor or page token, which [`Pager::url`] turns into the
    /// next request.
    Cursor(String),
}

/// One page of a listing.
pub struct Page<T> {
    /// The records of this page.
    pub records: Vec<T>,
    /// What follows.
    pub next: Next,
}

/// How one vendor listing is paged; [`list_all`] does the rest.
pub trait Pager {
    /// One record of the listing.
    type Record;

    /// The first page's URL (`None`), or the one for a [`Next::Cursor`].
    fn url(&self, cursor: Option<&str>) -> Result<Url, SourceError>;

    /// Reads and decodes one page.
    fn page(
        &self,
        url: &Url,
    ) -> impl Future<Output = Result<Page<Self::Record>, SourceError>> + Send;
}

/// Every record of a listing, page after page until [`Next::Done`], within
/// the client's `max_pages`, refusing a repeated page (a server cycling
/// A→B→A would page forever) and a next link to another origin.
pub async fn list_all<P: Pager>(
    http: &VendorHttp,
    pager: &P,
    what: &str,
) -> Result<Vec<P::Record>, SourceError> {
    let first = pager.url(None)?;
    let mut guard = http.page_guard(what);
    let mut records = Vec::new();
    let mut url = first.clone();
    loop {
        guard.admit(url.as_str())?;
        let page = pager.page(&url).await?;
        records.extend(page.records);
        url = match page.next {
            Next::Done => return Ok(records),
            Next::Link(link) => same_origin(guard.kind, &first, &link, what)?,
            Next::Cursor(cursor) => pager.url(Some(&cursor))?,
        };
    }
}

/// `link` parsed, if it is on `base`'s origin: a link from a response may
/// only lead back to the configured API, never carry the credentials
/// elsewhere.
pub fn same_origin(
    kind: &'static str,
    base: &Url,
    link: &str,
    what: &str,
) -> Result<Url, SourceError> {
    let fail = |message: String| SourceError::Fetch {
        source_kind: kind,
        message,
    };
    let parsed = Url::parse(link).map_err(|e| fail(format!("{what}: invalid next link: {e}")))?;
    if parsed.origin() != base.origin() {
        return Err(fail(format!(
            "{what}: the next link points to another host ({}); refusing to send credentials there",
            redact_url(&parsed)
        )));
    }
    Ok(parsed)
}

/// Bounds one listing (invariant 11): refuses a next link, cursor or page
/// token already followed (a server cycling A→B→A would page forever) and
/// more pages than `max_pages`.
pub struct PageGuard {
    kind: &'static str,
    what: String,
    max_pages: u64,
    key: String,
    seen: HashSet<String>,
}

impl PageGuard {
    /// A guard for one listing; `what` names it in errors ("listing users"),
    /// `source_key` is the source's config path (`connections[0].source`).
    pub fn new(kind: &'static str, what: &str, max_pages: u64, source_key: &str) -> Self {
        PageGuard {
            kind,
            what: what.to_string(),
            max_pages,
            key: source_key.to_string(),
            seen: HashSet::new(),
        }
    }

    /// Admits the next request of the listing, identified by its position
    /// (the URL, cursor, page token or offset it asks for).
    pub fn admit(&mut self, position: &str) -> Result<(), SourceError> {
        let pages = u64::try_from(self.seen.len()).unwrap_or(u64::MAX);
        let fail = |problem: String| SourceError::Fetch {
            source_kind: self.kind,
            message: format!("{}: {problem}", self.what),
        };
        if !self.seen.insert(position.to_string()) {
            return Err(fail(format!(
                "the server sent a paging link or cursor it had already sent, after {pages} pages; it is cycling, so the listing cannot be completed"
            )));
        }
        if pages >= self.max_pages {
            return Err(fail(format!(
                "the listing needs more than {} pages, the most `{}.max_pages` allows; raise it if the directory is really this large",
                self.max_pages, self.key
            )));
        }
        Ok(())
    }
}

/// The `rel="next"` target of the response's `Link` headers (RFC 8288).
///
/// Okta sends `self` and `next` as separate `Link` headers; others join
/// several links in one header with commas. Both are handled. The URL is
/// returned exactly as given: cursors are opaque.
pub fn link_next(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(split_links)
        .find_map(|(target, params)| {
            params
                .split(';')
                .map(str::trim)
                .filter_map(|p| p.split_once('='))
                .any(|(name, value)| {
                    name.trim().eq_ignore_ascii_case("rel")
                        && value
                            .trim()
                            .trim_matches('"')
                            .split_ascii_whitespace()
                            .any(|rel| rel.eq_ignore_ascii_case("next"))
                })
                .then(|| target.to_string())
        })
}

/// Splits one `Link` header into (target, parameters) pairs. Commas inside
/// `<…>` belong to the URL, so the split follows the angle brackets.
fn split_links(value: &str) -> Vec<(&str, &str)> {
    let mut links = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>').map(|i| open + i) else {
            break;
        };
        let target = &rest[open + 1..close];
        let after = &rest[close + 1..];
        // A comma ends this link's parameters, or the next '<' if before it.
        let end = after.find(',').map_or(after.len(), |comma| {
            let next = after.find('<').filter(|&next| next < comma);
            next.unwrap_or(comma)
        });
        links.push((target, &after[..end]));
        rest = &after[end..];
    }
    links
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    /// One `Link` header per value, appended as a server sends them.
    fn headers(values: &[&str]) -> HeaderMap {
        let link = |value: &&str| (LINK, HeaderValue::from_str(value).unwrap());
        values.iter().map(link).collect()
    }

    #[test]
    fn the_guard_refuses_repeats_and_pages_past_the_cap() {
        let mut guard = PageGuard::new("entra", "reading users", 3, "connections[0].source");
        guard.admit("A").unwrap();
        guard.admit("B").unwrap();
        let cycle = guard.admit("A").unwrap_err().to_string();
        assert!(cycle.contains("reading users"), "{cycle}");
        assert!(cycle.contains("already sent, after 2 pages"), "{cycle}");
        guard.admit("C").unwrap();
        let cap = guard.admit("D").unwrap_err().to_string();
        assert!(
            cap.contains("more than 3 pages, the most `connections[0].source.max_pages` allows"),
            "{cap}"
        );
    }

    #[test]
    fn finds_next_in_separate_or_joined_link_headers() {
        let okta = headers(&[
            "<https://x.okta.com/api/v1/users?limit=200>; rel=\"self\"",
            "<https://x.okta.com/api/v1/users?after=00u1%2C2&limit=200>; rel=\"next\"",
        ]);
        assert_eq!(
            link_next(&okta).as_deref(),
            Some("https://x.okta.com/api/v1/users?after=00u1%2C2&limit=200")
        );
        let joined =
            headers(&["<https://a/first>; rel=\"first\", <https://a/p?x=1,2>; rel=\"next\""]);
        assert_eq!(link_next(&joined).as_deref(), Some("https://a/p?x=1,2"));
        let multi_rel = headers(&["<https://a/n>; rel=\"last next\""]);
        assert_eq!(link_next(&multi_rel).as_deref(), Some("https://a/n"));
        assert_eq!(link_next(&headers(&["<https://a/self>; rel=self"])), None);
        assert_eq!(link_next(&HeaderMap::new()), None);
    }
}
