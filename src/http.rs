//! One HTTP client per endpoint, built once and cloned into tasks.
//!
//! Every client has connect and total timeouts and a redirect policy that
//! never carries credentials to another origin.

use std::time::Duration;

use reqwest::redirect::{Attempt, Policy};

/// `User-Agent` sent to every API, so vendors and Penvio can identify us.
pub const USER_AGENT: &str = concat!("penvio-sync/", env!("CARGO_PKG_VERSION"));

/// Connect timeout; the total request timeout comes from the config.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Redirects followed at most (same origin only).
const MAX_REDIRECTS: usize = 5;

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
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(timeout)
        .redirect(Policy::custom(same_origin_only));
    if let Some(ca) = ca {
        builder = builder.tls_certs_merge(ca.certificates());
    }
    builder.build()
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
