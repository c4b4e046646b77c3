//! Paged searches (RFC 2696, control 1.2.840.113556.1.4.319, marked
//! critical so a server that cannot page says so instead of stopping at its
//! size limit): every page is read or the search is an error, so a listing
//! is never mistaken for complete. Referrals (continuation references
//! such as AD's `DomainDnsZones` below a domain root, or a `referral`
//! answer for the whole base) are collected for the caller, which follows
//! them only with `follow_referrals`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ldap3::controls::{Control, ControlType, MakeCritical, PagedResults};
use ldap3::{Ldap, LdapError, Scope, SearchEntry};

use super::KIND;
use super::decode::Entry;
use super::errors::{Keys, search_failed};
use crate::source::SourceError;

/// One search's parameters.
#[derive(Clone, Copy)]
pub(super) struct SearchSpec<'a> {
    /// Where the search starts (subtree or base scope).
    pub base: &'a str,
    /// Whole subtree (`true`) or the base entry only.
    pub subtree: bool,
    /// RFC 4515 filter.
    pub filter: &'a str,
    /// Attributes asked for.
    pub attributes: &'a [String],
}

/// The paging settings of one source.
#[derive(Clone, Copy)]
pub(super) struct Pager<'a> {
    /// Entries per page.
    pub page_size: u32,
    /// Most pages one search may take.
    pub max_pages: u64,
    /// Longest wait for one answer.
    pub timeout: Duration,
    /// Counts requests (pages) sent.
    pub requests: &'a AtomicU64,
    /// Whether a `referral` answer (rc 10) is handed to the caller to
    /// follow instead of failing the search.
    pub follow_referrals: bool,
}

/// What one search returned.
#[derive(Debug, Default)]
pub(super) struct Listing {
    /// The entries, from every page.
    pub entries: Vec<Entry>,
    /// LDAP URLs the server referred to (continuation references, or the
    /// referral that answered for the whole base).
    pub referrals: Vec<String>,
}

/// How a search went wrong: the server's or the transport's error, or our
/// own page bound.
#[derive(Debug)]
pub(super) enum SearchError {
    /// From the server or the connection.
    Ldap(LdapError),
    /// More than `max_pages` pages.
    TooManyPages(u64),
}

impl From<LdapError> for SearchError {
    fn from(error: LdapError) -> Self {
        SearchError::Ldap(error)
    }
}

/// Reads every entry a search matches, page by page.
pub(super) async fn search_all(
    ldap: &mut Ldap,
    spec: &SearchSpec<'_>,
    pager: &Pager<'_>,
) -> Result<Listing, SearchError> {
    let scope = if spec.subtree {
        Scope::Subtree
    } else {
        Scope::Base
    };
    let page_size = i32::try_from(pager.page_size).unwrap_or(i32::MAX);
    let mut listing = Listing::default();
    let mut cookie = Vec::new();
    let mut pages = 0u64;
    loop {
        if pages >= pager.max_pages {
            return Err(SearchError::TooManyPages(pager.max_pages));
        }
        pages += 1;
        pager.requests.fetch_add(1, Ordering::Relaxed);
        let control = PagedResults {
            size: page_size,
            cookie: std::mem::take(&mut cookie),
        }
        .critical();
        let result = ldap
            .with_controls(control)
            .with_timeout(pager.timeout)
            .search(spec.base, scope, spec.filter, spec.attributes)
            .await?;
        let (found, done) = if pager.follow_referrals {
            result.non_error()?
        } else {
            result.success()?
        };
        listing.entries.extend(
            found
                .into_iter()
                .map(|e| to_entry(SearchEntry::construct(e))),
        );
        listing.referrals.extend(done.refs.iter().cloned());
        if done.rc == super::errors::RC_REFERRAL {
            // The whole base is on another server: nothing more here.
            return Ok(listing);
        }
        cookie = done
            .ctrls
            .iter()
            .find_map(|Control(kind, raw)| {
                // `parse` needs a value; a control without one ends paging.
                (matches!(kind, Some(ControlType::PagedResults)) && raw.val.is_some())
                    .then(|| raw.parse::<PagedResults>().cookie)
            })
            .unwrap_or_default();
        if cookie.is_empty() {
            return Ok(listing);
        }
    }
}

/// Merges text and binary attributes under lower-cased names.
fn to_entry(entry: SearchEntry) -> Entry {
    let mut attrs: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for (name, values) in entry.attrs {
        attrs
            .entry(name.to_ascii_lowercase())
            .or_default()
            .extend(values.into_iter().map(String::into_bytes));
    }
    for (name, values) in entry.bin_attrs {
        attrs
            .entry(name.to_ascii_lowercase())
            .or_default()
            .extend(values);
    }
    Entry {
        dn: entry.dn,
        attrs,
    }
}

/// Turns a search failure into the run's error.
pub(super) fn failed(
    error: SearchError,
    what: &str,
    base_key: &str,
    filter_key: &str,
    keys: &Keys,
) -> SourceError {
    match error {
        SearchError::Ldap(error) => search_failed(
            &error,
            what,
            &keys.key(base_key),
            &keys.key(filter_key),
            keys,
        ),
        SearchError::TooManyPages(max) => SourceError::Fetch {
            source_kind: KIND,
            message: format!(
                "{what}: more than {max} pages (`{}`); raise it if the directory is really that large",
                keys.key("max_pages")
            ),
        },
    }
}
