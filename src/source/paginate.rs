//! Paging helpers shared by the adapters: each vendor pages differently
//! (Link headers, nextLink, cursors, skip/limit), but the parsing of the
//! common forms lives here once.

use reqwest::header::{HeaderMap, LINK};

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
        let end = after.find(",").map_or(after.len(), |comma| {
            // A comma before the next '<' ends this link's parameters.
            match after.find('<') {
                Some(next) if next < comma => next,
                _ => comma,
            }
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

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(LINK, HeaderValue::from_str(value).unwrap());
        }
        map
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
