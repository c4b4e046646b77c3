//! One HTTP client per endpoint, built once and cloned into tasks.
//!
//! Every client has connect and total timeouts and a redirect policy that
//! never carries credentials to another origin. Proxies: an endpoint's
//! `proxy:` key, else the usual `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/
//! `NO_PROXY` variables; loopback is never proxied (its tokens stay local).

use std::time::Duration;

use reqwest::redirect::{Attempt, Policy};
use reqwest::{NoProxy, Proxy};

/// `User-Agent` sent to every API, so vendors and Penvio can identify us.
pub const USER_AGENT: &str = concat!("penvio-sync/", env!("CARGO_PKG_VERSION"));

/// Connect timeout; the total request timeout comes from the config.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Redirects followed at most (same origin only).
const MAX_REDIRECTS: usize = 5;

/// Hosts never sent through a proxy, whatever the environment says: a
/// bearer token for a loopback service (the daemon, a local Penvio emulator,
/// a tunnel) must not leave the machine. Go's standard library does the same.
const LOOPBACK_HOSTS: &str = "localhost,127.0.0.0/8,::1";

/// Builds a client for one endpoint with the given total request timeout.
pub fn build_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    build_client_trusting(timeout, None)
}

/// Builds a client that also trusts the CAs of a `ca_file` (added to the
/// system roots; certificate checks are never turned off).
pub fn build_client_trusting(
    timeout: Duration,
    ca: Option<&crate::config::CaBundle>,
) -> Result<reqwest::Client, reqwest::Error> {
    build_endpoint_client(timeout, ca, None)
}

/// Builds the client of one endpoint: its CAs, and its explicit `proxy:` if
/// configured, else the `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY`
/// environment. Loopback hosts are never proxied either way.
pub fn build_endpoint_client(
    timeout: Duration,
    ca: Option<&crate::config::CaBundle>,
    proxy: Option<&str>,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = base_builder(timeout).no_proxy();
    for proxy in proxies(proxy, &|name| std::env::var(name).ok())? {
        builder = builder.proxy(proxy);
    }
    if let Some(ca) = ca {
        builder = builder.tls_certs_merge(ca.certificates());
    }
    builder.build()
}

/// Builds a client that never uses a proxy: for the daemon's local endpoint,
/// whose token must never reach a proxy.
pub fn build_direct_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    base_builder(timeout).no_proxy().build()
}

fn base_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(timeout)
        .redirect(Policy::custom(same_origin_only))
}

/// The proxies of one client, in the order reqwest tries them (the first
/// that matches a URL wins), each bypassing loopback and, from the
/// environment, the `NO_PROXY` hosts. `var` reads the environment.
fn proxies(
    explicit: Option<&str>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Proxy>, reqwest::Error> {
    if let Some(url) = explicit {
        return Ok(vec![
            Proxy::all(url)?.no_proxy(NoProxy::from_string(LOOPBACK_HOSTS)),
        ]);
    }
    let first = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|name| var(name).filter(|value| !value.trim().is_empty()))
    };
    let bypass = match first(["NO_PROXY", "no_proxy"]) {
        Some(list) => format!("{LOOPBACK_HOSTS},{list}"),
        None => LOOPBACK_HOSTS.to_owned(),
    };
    let mut proxies = Vec::new();
    if let Some(url) = first(["HTTPS_PROXY", "https_proxy"]) {
        proxies.push(Proxy::https(url.trim())?);
    }
    if let Some(url) = first(["HTTP_PROXY", "http_proxy"]) {
        proxies.push(Proxy::http(url.trim())?);
    }
    if let Some(url) = first(["ALL_PROXY", "all_proxy"]) {
        proxies.push(Proxy::all(url.trim())?);
    }
    Ok(proxies
        .into_iter()
        .map(|proxy| proxy.no_proxy(NoProxy::from_string(&bypass)))
        .collect())
}

/// Follows a redirect only within the origin of the original request: a
/// bearer token must never be replayed to a host the admin did not configure.
fn same_origin_only(attempt: Attempt<'_>) -> reqwest::redirect::Action {
    let same_origin = attempt
        .previous()
        .first()
        .is_some_and(|first| first.origin() == attempt.url().origin());
    if attempt.previous().len() > MAX_REDIRECTS || !same_origin {
        attempt.stop()
    } else {
        attempt.follow()
    }
}

/// The URL without query string, for error messages: queries can carry
/// filters with user data and, for some vendors, credentials.
pub fn redact_url(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    shown.to_string()
}

/// A reqwest error and its causes as text, with the request's URL shown
/// without its query string: a network error names the URL, whose query can
/// carry filters with user data and, for some vendors, credentials.
pub fn describe_error(error: &reqwest::Error) -> String {
    let mut text = match error.url() {
        Some(url) => error.to_string().replace(url.as_str(), &redact_url(url)),
        None => error.to_string(),
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn no_environment_means_no_proxy() {
        assert!(proxies(None, &env(&[])).unwrap().is_empty());
        assert!(
            proxies(None, &env(&[("HTTPS_PROXY", " ")]))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn each_variable_gives_one_proxy_and_an_explicit_one_replaces_them() {
        let vars = env(&[
            ("https_proxy", "http://p.example:3128"),
            ("HTTP_PROXY", "http://p.example:3128"),
            ("ALL_PROXY", "http://p.example:3128"),
        ]);
        assert_eq!(proxies(None, &vars).unwrap().len(), 3);
        assert_eq!(
            proxies(Some("http://q.example:8080"), &vars).unwrap().len(),
            1
        );
    }

    #[tokio::test]
    async fn errors_show_urls_without_their_query() {
        let client = build_direct_client(Duration::from_secs(5)).unwrap();
        // Port 1 on loopback refuses connections.
        let error = client
            .get("http://127.0.0.1:1/users?filter=secret-value&token=abc")
            .send()
            .await
            .unwrap_err();
        let text = describe_error(&error);
        assert!(text.contains("http://127.0.0.1:1/users"), "{text}");
        assert!(!text.contains("secret-value"), "{text}");
        assert!(!text.contains("token=abc"), "{text}");
    }
}
