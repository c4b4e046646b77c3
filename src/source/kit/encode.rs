//! Building vendor URLs and forms: paths joined under a configured root,
//! and percent-encoding on the `percent-encoding` crate (RFC 3986
//! unreserved characters stay, everything else is `%XX`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Url;

use crate::source::SourceError;

/// `base` joined with a path relative to it, whether or not the configured
/// base ends with `/` (`https://host/prefix` + `api/v1/users`).
pub fn endpoint(kind: &'static str, base: &Url, path: &str) -> Result<Url, SourceError> {
    let mut root = base.clone();
    if !root.path().ends_with('/') {
        root.set_path(&format!("{}/", root.path()));
    }
    root.join(path).map_err(|e| SourceError::Setup {
        source_kind: kind,
        message: format!("cannot build the URL for {path}: {e}"),
    })
}

/// [`endpoint`] with query parameters, form-encoded (`a=b+c`).
pub fn with_query(
    kind: &'static str,
    base: &Url,
    path: &str,
    query: &[(&str, &str)],
) -> Result<Url, SourceError> {
    let mut url = endpoint(kind, base, path)?;
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url)
}

/// Everything but the RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a query or path component, so a filter reads
/// `lastUpdated%20gt%20%22…%22` as Okta documents it.
pub fn component(text: &str) -> String {
    utf8_percent_encode(text, RESERVED).to_string()
}

/// Go's `url.QueryEscape`: like [`component`], but a space becomes `+`.
pub fn query_escape(text: &str) -> String {
    text.split(' ').map(component).collect::<Vec<_>>().join("+")
}

/// An `application/x-www-form-urlencoded` body of `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let pair = |(key, value): &(&str, &str)| format!("{}={}", component(key), component(value));
    pairs.iter().map(pair).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_characters_stay_and_the_rest_is_escaped() {
        assert_eq!(
            component(r#"lastUpdated gt "2024-01-02T03:04:05.000Z""#),
            "lastUpdated%20gt%20%222024-01-02T03%3A04%3A05.000Z%22"
        );
        assert_eq!(component("a~b-c.d_e"), "a~b-c.d_e");
        assert_eq!(component("é/+"), "%C3%A9%2F%2B");
        assert_eq!(query_escape("a b~c+d"), "a+b~c%2Bd");
        assert_eq!(form(&[("a b", "c&d")]), "a%20b=c%26d");
    }

    #[test]
    fn paths_join_under_the_base_with_or_without_its_slash() {
        for base in ["https://h.example/prefix", "https://h.example/prefix/"] {
            let base = Url::parse(base).unwrap();
            let url = endpoint("okta", &base, "api/v1/users").unwrap();
            assert_eq!(url.as_str(), "https://h.example/prefix/api/v1/users");
            let url = with_query("okta", &base, "api/v1/users", &[("q", "a b")]).unwrap();
            assert_eq!(url.as_str(), "https://h.example/prefix/api/v1/users?q=a+b");
            // No query: no dangling `?`.
            let url = with_query("okta", &base, "x", &[]).unwrap();
            assert_eq!(url.as_str(), "https://h.example/prefix/x");
            let error = endpoint("okta", &base, "//[::1").unwrap_err().to_string();
            assert!(error.contains("cannot build the URL for //[::1"), "{error}");
        }
        let root = Url::parse("https://acme.okta.com").unwrap();
        let url = endpoint("okta", &root, "oauth2/v1/token").unwrap();
        assert_eq!(url.as_str(), "https://acme.okta.com/oauth2/v1/token");
    }
}
